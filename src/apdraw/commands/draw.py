"""`apdraw draw INPUT... -o OUTDIR`: turn face photos into portrait drawings.

Inputs are image files and folders (searched recursively). Each face is found,
aligned to the APDrawing 512² template, drawn in the chosen style, and written
either as the aligned crop (``--frame aligned``) or pasted back into the
photo's own frame on white (``--frame photo``). Exit status: 0 when every
input produced a drawing, 1 when some failed (listed at the end), 2 for usage
errors.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from apdraw.io import DEFAULT_MAX_PIXELS

# Kept in step with apdraw.face.pipeline.MASK_BACKENDS (not imported: --help stays fast).
MASK_CHOICES = ("mediapipe", "parser", "mediapipe+parser")


def register(sub: argparse._SubParsersAction) -> None:
    from apdraw.styles import DEFAULT_STYLE, STYLES

    p = sub.add_parser(
        "draw", help="draw portraits from photos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (recursive)")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="OUTDIR", help="output folder")
    styles = ", ".join(f"{k} ({v[1]})" for k, v in STYLES.items())
    p.add_argument("--style", "--model", dest="style", default=DEFAULT_STYLE, choices=list(STYLES), help=f"drawing style: {styles}; default {DEFAULT_STYLE}")
    p.add_argument("--weights", type=Path, help="weights file for a learned style (default: the shipped ones)")
    p.add_argument("--faces", choices=("largest", "all"), default="largest", help="draw the largest face only, or every face")
    p.add_argument("--frame", choices=("aligned", "photo"), default="aligned", help="aligned 512² crop, or pasted back into the photo frame on white")
    p.add_argument("--size", type=_positive_int, help="output size in pixels: side of the aligned crop (default 512), or long side in the photo frame (default: the photo's)")
    p.add_argument("--detector", choices=("mtcnn", "mediapipe"), default="mtcnn", help="face detector and 5-point landmarks")
    p.add_argument("--masks", choices=MASK_CHOICES, default="mediapipe", help="mask backend; 'mediapipe+parser' adds the face parser's hair/skin regions (about 0.1 s more per face)")
    p.add_argument("--max-pixels", type=_positive_int, default=DEFAULT_MAX_PIXELS, help="refuse larger images (decompression bombs); default %(default)d")
    p.set_defaults(func=run)


def _positive_int(text: str) -> int:
    value = int(text)
    if value <= 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def _resize(img, size: int):
    import cv2

    h, w = img.shape[:2]
    scale = size / max(h, w)
    if scale == 1:
        return img
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interp)


def run(args: argparse.Namespace) -> int:
    import numpy as np

    from apdraw.batch import NoFaceError, run_batch
    from apdraw.face import FacePipeline, paste_back
    from apdraw.io import load_image, save_image
    from apdraw.styles import get_drawer

    try:
        drawer = get_drawer(args.style, args.weights)
    except (ValueError, FileNotFoundError) as exc:
        print(f"apdraw draw: {exc}", file=sys.stderr)
        return 2
    pipeline = FacePipeline(detector=args.detector, mask_backend=args.masks)

    def process(path: Path, stem: Path) -> int:
        image = load_image(path, max_pixels=args.max_pixels)
        faces = pipeline(image, max_faces=1 if args.faces == "largest" else None)
        if not faces:
            raise NoFaceError("no face found")
        drawings = drawer(faces)
        if args.frame == "photo":
            canvas = np.full(image.shape[:2], 255, np.uint8)
            for face, drawing in zip(faces, drawings):
                canvas = np.minimum(canvas, paste_back(drawing, face, image.shape[:2]))
            if args.size:
                canvas = _resize(canvas, args.size)
            save_image(args.out / stem.with_suffix(".png"), canvas)
            return 1
        for i, drawing in enumerate(drawings):
            name = stem if len(drawings) == 1 else stem.with_name(f"{stem.name}_face{i}")
            save_image(args.out / name.with_suffix(".png"), _resize(drawing, args.size) if args.size else drawing)
        return len(drawings)

    report = run_batch(args.inputs, process, desc="drawing", verb="drew")
    if not report.done and not report.failed:
        print("apdraw draw: no images found in the inputs", file=sys.stderr)
        return 2
    return report.exit_code
