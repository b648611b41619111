"""The `apdraw` command line: a thin dispatcher over `apdraw.commands.*`.

Each command module defines ``register(subparsers)``, which adds its parser and
sets ``func`` to a callable ``(args) -> int`` exit status. Command modules import
heavy dependencies (torch, the face models) inside ``func`` so that
``apdraw --help`` stays instant.

Exit status: 0 success, 1 some inputs failed, 2 usage error (argparse's own).
"""

from __future__ import annotations

import argparse
import importlib
import sys

from apdraw import __version__

COMMANDS = ("draw", "align", "parse", "eval", "train")


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="apdraw", description="Artistic portrait drawings from face photos.")
    parser.add_argument("--version", action="version", version=f"apdraw {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for name in COMMANDS:
        try:
            module = importlib.import_module(f"apdraw.commands.{name}")
        except ModuleNotFoundError as exc:
            if exc.name == f"apdraw.commands.{name}":
                continue  # command not built yet
            raise
        module.register(sub)
    return parser


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    # argparse stops filling a trailing `nargs="*"` positional at the first option, so
    # `train MODEL -c FILE key=value` would leave key=value unrecognised: such extras
    # go to commands that collect `key=value` overrides.
    args, extra = parser.parse_known_args(argv)
    if extra:
        if hasattr(args, "overrides") and all("=" in e and not e.startswith("-") for e in extra):
            args.overrides = list(args.overrides) + extra
        else:
            parser.error(f"unrecognized arguments: {' '.join(extra)}")
    try:
        return int(args.func(args) or 0)
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130


if __name__ == "__main__":
    sys.exit(main())
