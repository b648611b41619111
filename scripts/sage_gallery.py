"""SAGE's gallery for docs/SAGE.md ("Use"): random identities turning, photo and drawings per view.

    python scripts/sage_gallery.py [--weights sage.safetensors] [--style NAME=WEIGHTS ...] [--seeds 0,1,2,3]
        [--yaws=-30,-15,0,15,30] [--tile 96] [--out docs/img/sage_gallery.png]

For every seed, one block of rows: the decoded photo, then the drawing of ``--weights`` (default: the shipped
default style) and of every ``--style`` generator, at each yaw (``MultiViewGenerator.sweep``, exactly what
``apdraw generate`` writes). The generators of the shipped styles share everything but G_p, so a seed is the
same face in every row; with other generators only the first one's photo is shown.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from npr_gallery import REPO, save_png, tile  # noqa: E402 - same folder
from sage_editing import label, labelled_row, stack  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None, help="an exported SAGE generator (default: the shipped default style)")
    ap.add_argument("--style", action="append", default=[], metavar="NAME=WEIGHTS", help="another generator's drawings (repeatable)")
    ap.add_argument("--seeds", default="0,1,2,3", help="comma-separated identities")
    ap.add_argument("--yaws", default="-30,-15,0,15,30", help="comma-separated yaws in degrees")
    ap.add_argument("--truncation", type=float, default=0.7)
    ap.add_argument("--tile", type=int, default=96, help="tile side in pixels")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "sage_gallery.png")
    args = ap.parse_args(argv)
    from apdraw.models.sage.generator import DEFAULT_STYLE
    from apdraw.multiview import MultiViewGenerator

    t0 = time.perf_counter()
    seeds = [int(s) for s in args.seeds.split(",")]
    yaws = [float(y) for y in args.yaws.split(",")]
    named = [(DEFAULT_STYLE if args.weights is None else Path(args.weights).stem, args.weights)]
    named += [tuple(s.split("=", 1)) for s in args.style]
    gens = [(name, MultiViewGenerator.from_pretrained(path)) for name, path in named]
    t = args.tile
    blocks = []
    for seed in seeds:
        views = {name: mv.sweep(seed, yaws, truncation=args.truncation) for name, mv in gens}
        width = t * len(yaws)
        parts = [label(f"seed {seed}: the decoded photo", width),
                 labelled_row([v.photo for v in views[gens[0][0]]], [f"yaw {y:+.0f}" for y in yaws], t)]  # fmt: skip
        for name, _ in gens:
            parts += [label(f"drawing: {name}", width), np.concatenate([tile(v.drawing, t) for v in views[name]], 1)]
        blocks.append(np.concatenate(parts, 0))
    save_png(args.out, stack(blocks))
    print(f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
