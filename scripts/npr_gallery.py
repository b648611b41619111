"""Write docs/img/npr_gallery.png: photo | NPR drawing pairs.

Faces come from the full pipeline (`apdraw.face.FacePipeline`: MTCNN, alignment to the
APDrawing template, MediaPipe fg mask and jaw), then `apdraw.npr.draw_portrait`.
Inputs: the two bundled examples, plus a few aligned photos from
../shared/data/apdrawing_refs/photo when that folder exists (they are only drawn into
the gallery image, downscaled; no data file is copied).

    python scripts/npr_gallery.py [--out docs/img/npr_gallery.png] [--tile 256]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
REFS = ["WechatIMG253_2", "model-2911329_1920", "girl-2720476_1920", "timg"]


def shared_data() -> Path:
    env = os.environ.get("APDRAW_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "npr_gallery.png")
    ap.add_argument("--tile", type=int, default=256, help="side of each photo / drawing tile")
    ap.add_argument("--cols", type=int, default=2, help="photo|drawing pairs per row")
    args = ap.parse_args()

    from apdraw.face import FacePipeline
    from apdraw.io import load_image, save_image
    from apdraw.npr import NPRInput, draw_batch

    paths = [REPO / "examples" / "grace_hopper.jpg", REPO / "examples" / "astronaut.png"]
    refs = shared_data() / "apdrawing_refs" / "photo"
    if refs.is_dir():
        paths += [refs / f"{n}.png" for n in REFS if (refs / f"{n}.png").is_file()]
    else:
        print(f"note: {refs} is absent; the gallery shows the bundled examples only", file=sys.stderr)

    pipe = FacePipeline()
    items, photos = [], []
    for p in paths:
        faces = pipe(load_image(p), max_faces=1)
        if not faces:
            print(f"no face found in {p}", file=sys.stderr)
            continue
        items.append(NPRInput.from_face(faces[0]))
        photos.append(faces[0].aligned)
    t0 = time.perf_counter()
    drawings = draw_batch(items)
    dt = (time.perf_counter() - t0) / max(1, len(items))
    print(f"drew {len(items)} faces, {dt * 1000:.0f} ms per face (draw_portrait only)")

    t = args.tile
    tiles = []
    for photo, drawing in zip(photos, drawings):
        a = cv2.resize(photo, (t, t), interpolation=cv2.INTER_AREA)
        b = cv2.resize(np.repeat(drawing[..., None], 3, 2), (t, t), interpolation=cv2.INTER_AREA)
        tiles.append(np.concatenate([a, b], 1))
    rows = []
    for i in range(0, len(tiles), args.cols):
        row = tiles[i : i + args.cols]
        row += [np.full_like(tiles[0], 255)] * (args.cols - len(row))
        rows.append(np.concatenate(row, 1))
    save_image(args.out, np.concatenate(rows, 0))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
