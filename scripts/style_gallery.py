"""Write docs/img/styles_gallery.png: photo | each drawing style of `apdraw draw`, one face per row.

The faces are those of scripts/npr_gallery.py (the bundled examples, plus a few
aligned photos from ../shared/data/apdrawing_refs/photo when that folder exists;
drawn into the figure only, downscaled). Every registered style runs with its
shipped weights, through the same path as `apdraw draw` (`apdraw.styles.build_drawer`).

    python scripts/style_gallery.py [--out docs/img/styles_gallery.png] [--tile 256]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np
from npr_gallery import REPO, gallery_faces, save_png, tile  # same folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "styles_gallery.png")
    ap.add_argument("--tile", type=int, default=256, help="side of each tile")
    args = ap.parse_args()

    from apdraw.styles import STYLES, build_drawer

    faces = gallery_faces()
    columns = [[f.aligned for f in faces]]
    for style in STYLES.names():
        draw = build_drawer(style)
        t0 = time.perf_counter()
        columns.append(draw(faces))
        print(f"{style}: {(time.perf_counter() - t0) * 1000 / len(faces):.0f} ms per face")

    t = args.tile
    header = np.full((28, t * len(columns), 3), 255, np.uint8)
    for j, name in enumerate(["photo", *STYLES.names()]):
        cv2.putText(header, name, (j * t + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    rows = [np.concatenate([tile(col[i], t) for col in columns], 1) for i in range(len(faces))]
    save_png(args.out, np.concatenate([header, *rows], 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
