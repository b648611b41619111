"""`apdraw align INPUT... -o OUTDIR`: build an APDrawingGAN-style data set, no MATLAB needed.

For each face it writes::

    OUTDIR/<name>.png                         aligned 512² photo (APDrawing template)
    OUTDIR/landmark/<name>.txt                5 lines "x y" (integers): left eye, right eye,
                                              nose tip, left mouth corner, right mouth corner
    OUTDIR/mask/<name>.png                    background mask (white = person)
    OUTDIR/parts/<name>_{eyel,eyer,nose,mouth}.png   part masks

Names are flat (files found in sub-folders get ``sub_name``) because the
APDrawingGAN layout matches files across folders by base name. When a photo
holds several faces (``--faces all``) each gets a ``_face<i>`` suffix. Names
that would collide (``sub/a.jpg`` and ``sub_a.jpg``) are made unique as in
:mod:`apdraw.batch` (``sub_a_jpg``, ``sub_a~2``).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from apdraw.io import DEFAULT_MAX_PIXELS

from apdraw.commands.args import positive_int
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
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, help="refuse larger images (decompression bombs); default %(default)d")
    p.set_defaults(func=run)


def landmark_text(points) -> str:
    """(5, 2) float -> the APDrawingGAN .txt format: 5 lines of 'x y' rounded integers."""
    return "".join(f"{int(round(float(x)))} {int(round(float(y)))}\n" for x, y in points)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from apdraw.batch import NoFaceError, OutputNames, UsageError, check_out_dir, run_command
    from apdraw.face import FacePipeline
    from apdraw.io import load_image, save_image, save_text

    try:
        check_out_dir(args.out)
    except UsageError as exc:
        print(f"apdraw align: {exc}", file=sys.stderr)
        return 2
    pipeline = FacePipeline(detector=args.detector, mask_backend=args.masks)
    patterns = ["{}.png", "landmark/{}.txt", "mask/{}.png"] + [f"parts/{{}}_{part}.png" for part in PART_NAMES]

    def process(path: Path, stem: Path, names: OutputNames) -> None:
        image = load_image(path, max_pixels=args.max_pixels)
        faces = pipeline(image, max_faces=1 if args.faces == "largest" else None)
        if not faces:
            raise NoFaceError("no face found")
        flat = "_".join(stem.parts)
        for i, face in enumerate(faces):
            name = flat if len(faces) == 1 else f"{flat}_face{i}"
            photo, landmarks, mask, *parts = names.claim(Path(name), patterns, path)
            save_image(photo, face.aligned)
            save_text(landmarks, landmark_text(face.landmarks5_aligned))
            save_image(mask, face.masks.fg)
            for part, target in zip(PART_NAMES, parts):
                save_image(target, face.masks.parts[part].astype(np.uint8) * 255)

    return run_command("align", args.inputs, args.out, process, desc="aligning", verb="aligned")
