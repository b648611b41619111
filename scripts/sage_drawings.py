"""Make SAGE's synthetic Stage II drawings (ours): one drawing per CelebAMask-HQ-mini photo.

The paper fine-tunes on drawings of the CelebA-HQ photos (SPEC C.1 "Fine-tuning data"),
not all released; here they are drawn by this project's 2D models. For each photo of
``celebamask_mini/images`` (or of ``--root``):

1. :class:`apdraw.pipeline.PortraitPipeline` draws the largest face in ``--style``
   ("apdrawinggan", "npr", "qmupd:0", ...) and pastes it back into the photo's own frame
   on white, exactly as ``apdraw draw --frame photo`` does (:func:`apdraw.pipeline.compose_in_photo`);
2. the drawing is cropped and resized as :mod:`apdraw.data.sage` crops the photo
   (:func:`apdraw.data.sage.centre_crop_resize`, the centre ``crop_fraction`` = 8/9 of the
   frame) to ``--size``²;
3. it is written atomically to ``OUT/NAME.png`` (grayscale, 255 = paper).

Existing files are kept (a killed run goes on where it stopped); photos without a
detected face get no drawing (``apdraw.data.sage`` then leaves them out) and are listed
in ``OUT/no_face.txt``. Then::

    apdraw train sage -c src/apdraw/configs/sage_translate.yaml drawings_dir=OUT

Usage::

    python scripts/sage_drawings.py --out cache/sage/drawings_apdrawinggan [--style apdrawinggan] [--size 256] [--limit N]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np


def draw_in_crop(pipe, photo: np.ndarray, size: int, crop_fraction: float) -> np.ndarray | None:
    """(H, W, 3) uint8 photo -> (size, size) uint8 drawing in SAGE's cropped photo frame, or None (no face).

    ``pipe``: a :class:`apdraw.pipeline.PortraitPipeline` (any callable photo -> drawings with ``in_photo``).
    """
    from apdraw.data.sage import centre_crop_resize
    from apdraw.pipeline import compose_in_photo

    drawings = pipe(photo)
    if not drawings:
        return None
    canvas = compose_in_photo(drawings, (int(photo.shape[0]), int(photo.shape[1])))
    return centre_crop_resize(canvas, size, crop_fraction)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--out", required=True, type=Path, help="folder of NAME.png drawings")
    p.add_argument("--style", default="apdrawinggan", help="a registered style, e.g. apdrawinggan, npr, qmupd:0")
    p.add_argument("--root", default=None, help="CelebAMask-HQ-mini folder (default: the shared data's celebamask_mini)")
    p.add_argument("--size", type=int, default=256, help="side of the saved drawings (the data set resizes them to its S)")
    p.add_argument("--limit", type=int, default=0, help="only the first N photos (sorted); 0 = all")
    args = p.parse_args(argv)

    from apdraw.data.celebamask import list_ids
    from apdraw.data.sage import SageDataConfig
    from apdraw.io import load_image, save_image, save_text
    from apdraw.pipeline import PortraitPipeline

    cfg = SageDataConfig() if args.root is None else SageDataConfig(root=args.root)
    names = list_ids(cfg.root)[: args.limit or None]
    args.out.mkdir(parents=True, exist_ok=True)
    todo = [n for n in names if not (args.out / f"{n}.png").is_file()]
    print(f"{len(names)} photos, {len(names) - len(todo)} already drawn; style {args.style}, {args.size}² -> {args.out}")
    pipe = PortraitPipeline.from_style(args.style, max_faces=1)
    no_face: list[str] = []
    start = time.perf_counter()
    for k, name in enumerate(todo, 1):
        drawing = draw_in_crop(pipe, load_image(Path(cfg.root) / "images" / f"{name}.jpg"), args.size, cfg.crop_fraction)
        if drawing is None:
            no_face.append(name)
        else:
            save_image(args.out / f"{name}.png", drawing)
        if k % 50 == 0 or k == len(todo):
            print(f"  {k}/{len(todo)}  {(time.perf_counter() - start) / k:.2f} s/photo", flush=True)
    if no_face:
        old = (args.out / "no_face.txt").read_text().split() if (args.out / "no_face.txt").is_file() else []
        save_text(args.out / "no_face.txt", "\n".join(sorted(set(old) | set(no_face))) + "\n")
    print(f"done: {len(todo) - len(no_face)} drawn, {len(no_face)} without a face")
    return 0


if __name__ == "__main__":
    sys.exit(main())
