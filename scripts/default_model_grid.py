"""Write docs/img/default_model_grid.png: the same 8 photos under the old default, the new default and the NPR engine.

    python scripts/default_model_grid.py --old OLD.safetensors [--new NEW.safetensors] [--out PNG] [--tile 256]

Rows: 4 held-out FS2K validation photos (sketch type 0, never trained on; the
artist's drawing is shown too), the two README examples, and two studio
portraits from ../shared/data/apdrawing_refs/photo (photos unlike FS2K). Each
style runs through `apdraw.styles.build_drawer` on the face pipeline's aligned
crop, as `apdraw draw` does. The old default is in git history::

    git show 9556cbd:src/apdraw/weights/apdrawinggan_fs2k.safetensors > /tmp/old_default.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import cv2
import numpy as np
from npr_gallery import REPO, save_png, shared_data, tile  # same folder

FS2K_VAL = 4
STUDIO = ["WechatIMG253_2", "girl-2720476_1920"]


def inputs() -> list[tuple[Path, Path | None]]:
    """(photo, artist drawing or None), 8 rows."""
    from dataclasses import replace

    from apdraw.data.paired import DataConfig, build_records

    recs, _ = build_records(replace(DataConfig(), split="val"))
    rows: list[tuple[Path, Path | None]] = [(Path(r.photo), Path(r.drawing)) for r in recs[:FS2K_VAL]]
    rows += [(REPO / "examples" / "grace_hopper.jpg", None), (REPO / "examples" / "astronaut.png", None)]
    refs = shared_data() / "apdrawing_refs" / "photo"
    rows += [(refs / f"{n}.png", None) for n in STUDIO]
    return rows


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--old", required=True, help="weights of the old default")
    ap.add_argument("--new", default=None, help="weights of the new default (default: the shipped file)")
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "default_model_grid.png")
    ap.add_argument("--tile", type=int, default=256)
    args = ap.parse_args()

    from apdraw.face import FacePipeline
    from apdraw.io import load_image, to_gray
    from apdraw.styles import build_drawer

    pipe = FacePipeline()
    faces, artist = [], []
    for photo, drawing in inputs():
        found = pipe(load_image(photo), max_faces=1)
        if not found:
            print(f"no face found in {photo}", file=sys.stderr)
            continue
        faces.append(found[0])
        if drawing is None:
            artist.append(np.full((512, 512), 255, np.uint8))
        else:  # the sketch was drawn over the photo's framing: align it like the photo
            sketch = to_gray(load_image(drawing))
            h, w = load_image(photo).shape[:2]
            sketch = cv2.resize(sketch, (w, h), interpolation=cv2.INTER_AREA)
            artist.append(cv2.warpAffine(sketch, found[0].matrix, (512, 512), borderValue=255))
    columns = {
        "photo": [f.aligned for f in faces],
        "artist (FS2K)": artist,
        "old default": build_drawer("apdrawinggan", args.old)(faces),
        "new default": build_drawer("apdrawinggan", args.new)(faces),
        "NPR engine": build_drawer("npr")(faces),
    }
    t = args.tile
    header = np.full((28, t * len(columns), 3), 255, np.uint8)
    for j, name in enumerate(columns):
        cv2.putText(header, name, (j * t + 6, 20), cv2.FONT_HERSHEY_SIMPLEX, 0.6, (0, 0, 0), 1, cv2.LINE_AA)
    rows = [np.concatenate([tile(col[i], t) for col in columns.values()], 1) for i in range(len(faces))]
    save_png(args.out, np.concatenate([header, *rows], 0))
    print(f"wrote {args.out}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
