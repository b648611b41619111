"""Write docs/img/qmupd_gallery.png: 6 photos x QMUPD's 3 artist styles, plus a row interpolating two styles.

The photos: the bundled examples and aligned photos from ../shared/data/apdrawing_refs/photo
(as scripts/style_gallery.py), drawn into the figure only, downscaled. The last row draws
the first photo with style vectors (1 - t)·e0 + t·e2 for t = 0, 0.25, 0.5, 0.75, 1: a path
through styles the network never saw as such.

    python scripts/qmupd_gallery.py [--weights W] [--out docs/img/qmupd_gallery.png] [--tile 224]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from npr_gallery import REPO, gallery_faces, save_png, tile  # same folder


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None, help="QMUPD G_A (default: the shipped one)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "qmupd_gallery.png")
    ap.add_argument("--tile", type=int, default=224)
    args = ap.parse_args()

    from apdraw.styles import build_drawer

    faces = gallery_faces()
    faces = faces[:6]
    t = args.tile

    def label(text: str, width: int) -> np.ndarray:
        bar = np.full((26, width, 3), 255, np.uint8)
        cv2.putText(bar, text, (6, 19), cv2.FONT_HERSHEY_SIMPLEX, 0.55, (0, 0, 0), 1, cv2.LINE_AA)
        return bar

    columns = [[f.aligned for f in faces]] + [build_drawer(f"qmupd:{k}", args.weights)(faces) for k in range(3)]
    header = np.concatenate([label(n, t) for n in ("photo", "style 0", "style 1", "style 2")], 1)
    rows = [np.concatenate([tile(col[i], t) for col in columns], 1) for i in range(len(faces))]
    grid = np.concatenate([header, *rows], 0)
    steps = [0.0, 0.25, 0.5, 0.75, 1.0]
    mix = [build_drawer("qmupd", args.weights, artist_style=[1 - s, 0.0, s])(faces[:1])[0] for s in steps]
    strip = np.concatenate([tile(faces[0].aligned, t)] + [tile(m, t) for m in mix], 1)
    strip_label = np.concatenate([label("photo", t)] + [label(f"{1 - s:g}*s0 + {s:g}*s2", t) for s in steps], 1)
    width = max(grid.shape[1], strip.shape[1])

    def pad(x: np.ndarray) -> np.ndarray:
        return np.pad(x, ((0, 0), (0, width - x.shape[1]), (0, 0)), constant_values=255)

    save_png(args.out, np.concatenate([pad(grid), pad(label("interpolating style 0 -> style 2", width)),
                                       pad(strip_label), pad(strip)], 0))  # fmt: skip
    print("wrote", args.out)
    return 0


if __name__ == "__main__":
    sys.exit(main())
