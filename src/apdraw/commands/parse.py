"""`apdraw parse INPUT... -o OUTDIR`: 19-class face parsing (CelebAMask-HQ classes).

For each input image it writes::

    OUTDIR/<name>.png          label map, same size as the input, pixel = class id 0..18
    OUTDIR/<name>_color.png    the same, colour-coded with the CelebAMask-HQ palette

Classes: 0 background, 1 skin, 2 nose, 3 eyeglasses, 4 left eye, 5 right eye,
6 left brow, 7 right brow, 8 left ear, 9 right ear, 10 mouth, 11 upper lip,
12 lower lip, 13 hair, 14 hat, 15 earring, 16 necklace, 17 neck, 18 cloth
("left" is the person's left). The photo is parsed as a whole (no face
detection), so it works best when the face fills a good part of the frame.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from apdraw.io import DEFAULT_MAX_PIXELS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "parse", help="segment faces into 19 classes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (recursive)")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="OUTDIR", help="output folder")
    p.add_argument("--weights", type=Path, default=None, help="parser safetensors (default: the shipped weights)")
    p.add_argument("--no-color", action="store_true", help="skip the colour-coded <name>_color.png")
    p.add_argument("--threads", type=int, default=1, help="CPU threads for the network (default 1; see docs/PARSER.md)")
    p.add_argument("--max-pixels", type=int, default=DEFAULT_MAX_PIXELS)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from apdraw.batch import run_batch
    from apdraw.io import load_image, save_image
    from apdraw.models.parser import FaceParser, colorize

    try:
        parser = FaceParser.from_pretrained(args.weights, num_threads=max(1, args.threads))
    except (FileNotFoundError, ValueError) as exc:  # incl. apdraw.persistence.WeightsError
        print(f"apdraw parse: {exc}", file=sys.stderr)
        return 2
    out: Path = args.out

    def process(path: Path, stem: Path) -> int:
        image = load_image(path, max_pixels=args.max_pixels)
        labels = parser.parse(image)
        target = out / stem
        save_image(target.with_name(f"{target.name}.png"), labels)
        if args.no_color:
            return 1
        save_image(target.with_name(f"{target.name}_color.png"), colorize(labels))
        return 2

    report = run_batch(args.inputs, process, desc="parsing", verb="parsed")
    if not report.done and not report.failed:
        print("apdraw parse: no images found in the inputs", file=sys.stderr)
        return 2
    return report.exit_code
