"""The `apdraw` command line: a thin dispatcher over `apdraw.commands.*`.

:data:`COMMANDS` is a :class:`~apdraw.registry.Registry` of command entries; each
command module defines ``register(subparsers)``, which adds its parser and sets
``func`` to a callable ``(args) -> int`` exit status. Command modules import
heavy dependencies (torch, the face models) inside ``func`` so that
``apdraw --help`` stays instant.

Exit status: 0 success, 1 some inputs failed, 2 usage error (argparse's own).
"""

from __future__ import annotations

import argparse
import sys

from apdraw import __version__
from apdraw.registry import Entry, Registry

COMMANDS: Registry[Entry] = Registry("command")
for _name, _help in (
    ("draw", "draw portraits from photos"),
    ("video", "draw every frame of a video"),
    ("styles", "list the drawing styles"),
    ("align", "align faces and write landmarks and masks"),
    ("parse", "segment faces into 19 classes"),
    ("generate", "random SAGE identities drawn from any viewpoint"),
    ("views", "your own face drawn from several angles (SAGE)"),
    ("eval", "score drawings against reference drawings"),
    ("train", "train a model"),
    ("export", "turn a training checkpoint into shipped weights"),
    ("serve", "web UI and HTTP API for drawing photos"),
):
    COMMANDS.register(Entry(_name, _help, f"apdraw.commands.{_name}"))


def build_parser() -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(prog="apdraw", description="Artistic portrait drawings from face photos.")
    parser.add_argument("--version", action="version", version=f"apdraw {__version__}")
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    for spec in COMMANDS:
        spec.load().register(sub)
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
