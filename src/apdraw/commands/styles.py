"""`apdraw styles [NAME]`: the drawing styles, one line each, or one style's model card."""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("styles", help="list the drawing styles (and show a model card)", description=__doc__)
    p.add_argument("name", nargs="?", help="show this style's details and model card")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from apdraw.registry import UnknownNameError
    from apdraw.styles import DEFAULT_STYLE, STYLES

    if args.name is None:
        width = max(len(s.name) for s in STYLES)
        for s in STYLES:
            card = f"  [card: apdraw styles {s.name}]" if s.model_card else ""
            default = " (default)" if s.name == DEFAULT_STYLE else ""
            print(f"{s.name:<{width}}  {s.help}{default}{card}")
        return 0
    try:
        spec = STYLES.get(args.name)
    except UnknownNameError as exc:
        print(f"apdraw styles: {exc}", file=sys.stderr)
        return 2
    print(f"style:   {spec.name}{' (default)' if spec.name == DEFAULT_STYLE else ''}")
    print(f"what:    {spec.help}")
    print(f"weights: {spec.weights_path if spec.learned else 'none (not learned)'}")
    print(f"masks:   {'needed' if spec.needs_masks else 'not needed'}")
    if spec.options:
        print(f"options: {', '.join(spec.options)}")
    if spec.card_path is not None:
        print()
        print(spec.card_path.read_text().rstrip())
    return 0
