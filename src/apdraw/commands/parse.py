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

from apdraw.commands.args import positive_int
from apdraw.io import DEFAULT_MAX_PIXELS


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser(
        "parse", help="segment faces into 19 classes", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (recursive)")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="OUTDIR", help="output folder")
    p.add_argument("--weights", type=Path, default=None, help="parser safetensors (default: the shipped weights)")
    p.add_argument("--no-color", action="store_true", help="skip the colour-coded <name>_color.png")
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads for the network (default 1; see docs/PARSER.md)")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, help="refuse larger images (decompression bombs); default %(default)d")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from apdraw.batch import OutputNames, check_out_dir, run_command
    from apdraw.io import load_image, save_image
    from apdraw.models.parser import FaceParser, colorize

    try:
        check_out_dir(args.out)
        parser = FaceParser.from_pretrained(args.weights, num_threads=args.threads)
    except (FileNotFoundError, ValueError) as exc:  # incl. UsageError and apdraw.persistence.WeightsError
        print(f"apdraw parse: {exc}", file=sys.stderr)
        return 2
    patterns = ["{}.png"] if args.no_color else ["{}.png", "{}_color.png"]

    def process(path: Path, stem: Path, names: OutputNames) -> None:
        image = load_image(path, max_pixels=args.max_pixels)
        labels = parser.parse(image)
        targets = names.claim(stem, patterns, path)
        save_image(targets[0], labels)
        if not args.no_color:
            save_image(targets[1], colorize(labels))

    return run_command("parse", args.inputs, args.out, process, desc="parsing", verb="parsed")
