"""`apdraw align INPUT... -o OUTDIR`: build an APDrawingGAN-style data set, no MATLAB needed.

For each face it writes::

    OUTDIR/<name>.png                         aligned 512² photo (APDrawing template)
    OUTDIR/landmark/<name>.txt                5 lines "x y" (integers): left eye, right eye,
                                              nose tip, left mouth corner, right mouth corner
    OUTDIR/mask/<name>.png                    background mask (white = person)
    OUTDIR/parts/<name>_{eyel,eyer,nose,mouth}.png   part masks

Names are flat (files found in sub-folders get ``sub_name``) because the
APDrawingGAN layout matches files across folders by base name. When a photo
holds several faces (``--faces all``) each gets a ``_face<i>`` suffix.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from apdraw.io import DEFAULT_MAX_PIXELS

from apdraw.parts import PART_NAMES


def register(sub: argparse._SubParsersAction) -> None:
    from apdraw.face.backends import DETECTORS, MASK_BACKENDS

    p = sub.add_parser(
        "align", help="align faces and write landmarks and masks", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (recursive)")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="OUTDIR", help="output folder")
    p.add_argument("--faces", choices=("largest", "all"), default="largest")
    p.add_argument("--detector", choices=DETECTORS.names(), default=DETECTORS.default)
    p.add_argument("--masks", choices=MASK_BACKENDS.names(), default=MASK_BACKENDS.default, help="mask backend (default %(default)s)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    p.set_defaults(func=run)


def landmark_text(points) -> str:
    """(5, 2) float -> the APDrawingGAN .txt format: 5 lines of 'x y' rounded integers."""
    return "".join(f"{int(round(float(x)))} {int(round(float(y)))}\n" for x, y in points)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from apdraw.batch import NoFaceError, run_batch
    from apdraw.face import FacePipeline
    from apdraw.io import load_image, save_image, save_text

    pipeline = FacePipeline(detector=args.detector, mask_backend=args.masks)
    out: Path = args.out

    def process(path: Path, stem: Path) -> int:
        image = load_image(path, max_pixels=args.max_pixels)
        faces = pipeline(image, max_faces=1 if args.faces == "largest" else None)
        if not faces:
            raise NoFaceError("no face found")
        flat = "_".join(stem.parts)
        for i, face in enumerate(faces):
            name = flat if len(faces) == 1 else f"{flat}_face{i}"
            save_image(out / f"{name}.png", face.aligned)
            save_text(out / "landmark" / f"{name}.txt", landmark_text(face.landmarks5_aligned))
            save_image(out / "mask" / f"{name}.png", face.masks.fg)
            for part in PART_NAMES:
                save_image(out / "parts" / f"{name}_{part}.png", face.masks.parts[part].astype(np.uint8) * 255)
        return len(faces) * (3 + len(PART_NAMES))

    report = run_batch(args.inputs, process, desc="aligning", verb="aligned")
    if not report.done and not report.failed:
        print("apdraw align: no images found in the inputs", file=sys.stderr)
        return 2
    return report.exit_code
