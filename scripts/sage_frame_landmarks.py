"""Measure SAGE's framing: the mean 5-point landmarks of the CelebAMask-HQ-mini photos in the training crop.

For each photo of ``celebamask_mini/images`` (or ``--root``):

1. the photo is cropped as :mod:`apdraw.data.sage` crops it for training
   (:func:`apdraw.data.sage.centre_crop_resize`, the centre ``crop_fraction`` = 8/9, here
   resized to ``--size``², 512 by default);
2. the face pipeline's detector (:class:`apdraw.face.FacePipeline`, MTCNN, largest face)
   finds the 5 landmarks (APDrawing order: image-left eye, image-right eye, nose tip,
   image-left and image-right mouth corners);
3. each point is written as a fraction of the crop's side in continuous coordinates
   ((x + 0.5) / size, (y + 0.5) / size), so it holds for any crop size.

It prints the mean (and the spread) over the photos with a face: the numbers of
:data:`apdraw.multiview.FRAME_LANDMARKS`.

Usage::

    OMP_NUM_THREADS=1 python scripts/sage_frame_landmarks.py [--root DIR] [--size 512] [--limit N]
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np


def main() -> None:
    from tqdm import tqdm

    from apdraw.data import shared_data_dir
    from apdraw.data.sage import SageDataConfig, centre_crop_resize
    from apdraw.face import FacePipeline
    from apdraw.io import load_image

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--root", type=Path, default=shared_data_dir() / "celebamask_mini")
    ap.add_argument("--size", type=int, default=512)
    ap.add_argument("--limit", type=int, default=0)
    args = ap.parse_args()

    frac = SageDataConfig.crop_fraction
    paths = sorted((args.root / "images").glob("*.jpg"))[: args.limit or None]
    pipe = FacePipeline(detector="mtcnn", mask_backend=None)
    points, missed = [], []
    start = time.perf_counter()
    for path in tqdm(paths, desc="landmarks"):
        crop = centre_crop_resize(load_image(path), args.size, frac)
        found = pipe.detect(crop)
        if not found:
            missed.append(path.stem)
            continue
        points.append((np.asarray(found[0].landmarks5, np.float64) + 0.5) / args.size)
    pts = np.stack(points)
    names = ("image-left eye", "image-right eye", "nose tip", "image-left mouth", "image-right mouth")
    print(f"{len(pts)} photos with a face, {len(missed)} without ({', '.join(missed)}); {time.perf_counter() - start:.0f} s")
    print("mean (x, y) as fractions of the crop side, then std and median:")
    for name, m, s, med in zip(names, pts.mean(0), pts.std(0), np.median(pts, 0)):
        print(f"    ({m[0]:.4f}, {m[1]:.4f}),  # {name}; std ({s[0]:.4f}, {s[1]:.4f}), median ({med[0]:.4f}, {med[1]:.4f})")


if __name__ == "__main__":
    main()
