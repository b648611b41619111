"""`apdraw generate --seeds 0-15 --yaws -30,-15,0,15,30 -o OUTDIR`: random SAGE identities from any viewpoint.

Each seed is one random identity (the same at every yaw); each yaw a viewpoint,
in signed integer degrees from frontal (positive: the face turns to the image's
right), at most 90 either side. For every seed S and yaw Y it writes::

    OUTDIR/S_Y_drawing.png          the portrait drawing, gray, 255 = paper
    OUTDIR/S_Y_photo.png            the generator's photo, RGB
    OUTDIR/S_Y_semantic.png         the 19-class label map, pixel = class id 0..18 (as `apdraw parse`)
    OUTDIR/S_Y_semantic_color.png   the same in the CelebAMask-HQ palette

e.g. 3_-15_drawing.png, and with

    --grid    OUTDIR/grid.png       the drawings: a row per seed, a column per yaw, in the order given
    --sweep   OUTDIR/S_sweep.gif    the drawing turning from the smallest to the largest yaw and
                                    back (-30..30 with one yaw), --sweep-frames views each way

Existing files of those names are replaced (a seed and yaw always give the same
images with the same weights). Seeds: "0-15", "3", "1,4,9", or mixes ("0-3,9").
Yaws: "-30,-15,0,15,30" (also --yaws=-30,...).

Drawing styles (--style), each a shipped generator: apdrawinggan (the default,
APDrawingGAN's look) and npr (the look of apdraw's classical pen-drawing engine).
The styles share the identities: the same seed and yaw give the same face (photo
and semantic map) in every style; only the drawing differs. --weights takes a
generator of your own instead (`apdraw train sage` / `apdraw export sage`,
docs/SAGE.md); give --style or --weights, not both.

Exit status: 0 done, 1 a file could not be written, 2 usage error (bad seeds,
yaws or angles, --style with --weights, missing or unreadable weights, output
folder). The API is :class:`apdraw.multiview.MultiViewGenerator`
(``from_pretrained(style=...)`` or ``from_pretrained(path)``).
"""

from __future__ import annotations

import argparse
import re
import sys
from pathlib import Path

from apdraw.commands.args import allow_negative_number_lists, finite_float, positive_int

MAX_SEEDS = 1000  # per run: the grid and the progress stay manageable
MAX_YAW = 90  # degrees either side of frontal (= apdraw.multiview.MAX_YAW, without importing torch here)
MAX_PITCH = 90  # exclusive
SWEEP_YAWS = (-30, 30)  # the sweep's range when --yaws has a single yaw
SWEEP_FRAME_MS = 80
FILES = ("drawing", "photo", "semantic", "semantic_color")
# The shipped generators' drawing styles, the default first: apdraw.models.sage.STYLE_WEIGHTS's keys and
# DEFAULT_STYLE, repeated so that the parser is built without importing torch (a test checks they agree).
SAGE_STYLES = ("apdrawinggan", "npr")
DEFAULT_STYLE = SAGE_STYLES[0]

_INT = re.compile(r"[+-]?\d+")


def seed_list(text: str) -> list[int]:
    """Comma-separated seeds and inclusive ranges ("0-15", "3", "1,4,9", "0-3,9"): non-negative integers, in order,
    without repeats, at most MAX_SEEDS."""
    seeds: dict[int, None] = {}
    for item in text.split(","):
        item = item.strip()
        m = re.fullmatch(r"(\d+)(?:\s*-\s*(\d+))?", item)
        if not m:
            raise argparse.ArgumentTypeError(f"bad seed {item!r} in {text!r}: use non-negative integers and ranges, e.g. 0-15 or 1,4,9")
        lo = int(m.group(1))
        hi = int(m.group(2)) if m.group(2) is not None else lo
        if hi < lo:
            raise argparse.ArgumentTypeError(f"bad seed range {item!r}: the end is below the start")
        if hi >= 2**63:
            raise argparse.ArgumentTypeError(f"seeds must be below 2**63, got {hi}")
        if hi - lo + 1 > MAX_SEEDS:  # before building the range
            raise argparse.ArgumentTypeError(f"at most {MAX_SEEDS} seeds per run")
        seeds.update(dict.fromkeys(range(lo, hi + 1)))
        if len(seeds) > MAX_SEEDS:
            raise argparse.ArgumentTypeError(f"at most {MAX_SEEDS} seeds per run")
    return list(seeds)


def yaw_list(text: str) -> list[int]:
    """Comma-separated signed integer degrees from frontal, each within ±MAX_YAW; in order, without repeats."""
    yaws: dict[int, None] = {}
    for item in text.split(","):
        item = item.strip()
        if not _INT.fullmatch(item):
            raise argparse.ArgumentTypeError(f"bad yaw {item!r} in {text!r}: use signed integer degrees, e.g. -30,-15,0,15,30")
        value = int(item)
        if abs(value) > MAX_YAW:
            raise argparse.ArgumentTypeError(f"yaw {value} is more than {MAX_YAW} degrees from frontal")
        yaws[value] = None
    return list(yaws)


def pitch_degrees(text: str) -> float:
    """A finite number of degrees strictly within ±MAX_PITCH."""
    value = finite_float(text)
    if not abs(value) < MAX_PITCH:
        raise argparse.ArgumentTypeError(f"pitch must be a finite number of degrees strictly within ±{MAX_PITCH}, got {text}")
    return value


def truncation_psi(text: str) -> float:
    """A finite number >= 0."""
    value = finite_float(text)
    if value < 0:
        raise argparse.ArgumentTypeError(f"truncation must be a finite number >= 0 (1: none, 0: the average face), got {text}")
    return value


def frame_count(text: str) -> int:
    value = positive_int(text)
    if value < 2:
        raise argparse.ArgumentTypeError(f"a sweep needs at least 2 frames, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("generate", help="random SAGE identities drawn from any viewpoint", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    allow_negative_number_lists(p)
    p.add_argument("--seeds", required=True, type=seed_list, metavar="SEEDS", help=f"identities: e.g. 0-15, 3, 1,4,9 (at most {MAX_SEEDS})")
    p.add_argument("--yaws", type=yaw_list, default=[0], metavar="YAWS", help=f"viewpoints, signed integer degrees from frontal within ±{MAX_YAW}; positive: the face turns to the image's right; default 0")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="OUTDIR", help="output folder")
    p.add_argument("--pitch", type=pitch_degrees, default=0.0, metavar="DEG", help="pitch of every view, degrees from frontal (positive: the face turns up); default 0")
    add_weights_arguments(p)
    p.add_argument("--truncation", type=truncation_psi, default=0.7, metavar="PSI", help="truncation ψ: 1 none, 0 the average identity; default %(default)g")
    p.add_argument("--grid", action="store_true", help="also write OUTDIR/grid.png: the drawings, a row per seed, a column per yaw")
    p.add_argument("--sweep", action="store_true", help="also write OUTDIR/<seed>_sweep.gif: the drawing turning over the yaws' range and back")
    p.add_argument("--sweep-frames", type=frame_count, default=16, metavar="N", help="views of the sweep each way; default %(default)d")
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads for the network (default 1)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto; default cpu")
    p.set_defaults(func=run)


def add_weights_arguments(p: argparse.ArgumentParser) -> None:
    """--style and --weights (`apdraw generate` and `apdraw views`): which generator; run() passes both to
    ``MultiViewGenerator.from_pretrained``, which refuses them together."""
    p.add_argument("--style", choices=SAGE_STYLES, default=None, metavar="STYLE",
                   help=f"drawing style, a shipped generator: {' or '.join(SAGE_STYLES)}; default {DEFAULT_STYLE}. The styles "
                        "share the identities (the same seed and yaw give the same face in every style); only the drawing "
                        "differs. Not with --weights")  # fmt: skip
    p.add_argument("--weights", type=Path, default=None,
                   help="a SAGE generator of your own (.safetensors, from `apdraw train sage` / `apdraw export sage`) "
                        "instead of a shipped style. Not with --style")  # fmt: skip


def sweep_yaws(yaws: list[int], frames: int) -> list[float]:
    """The yaws of a sweep one way: ``frames`` from the smallest of ``yaws`` to the largest (SWEEP_YAWS for one yaw).

    The GIF plays them, then the same views back without repeating the ends.
    """
    import numpy as np

    lo, hi = (min(yaws), max(yaws)) if min(yaws) < max(yaws) else SWEEP_YAWS
    return [float(y) for y in np.linspace(lo, hi, frames)]


def gif_bytes(frames: list, duration_ms: int = SWEEP_FRAME_MS) -> bytes:
    """Gray (H, W) uint8 frames -> an endlessly looping animated GIF."""
    import io

    from PIL import Image

    images = [Image.fromarray(f, "L") for f in frames]
    buf = io.BytesIO()
    images[0].save(buf, format="GIF", save_all=True, append_images=images[1:], duration=duration_ms, loop=0)
    return buf.getvalue()


def run(args: argparse.Namespace) -> int:
    from apdraw.batch import UsageError, check_out_dir
    from apdraw.runtime import DeviceError, resolve_device

    def usage(message: str) -> int:
        print(f"apdraw generate: {message}", file=sys.stderr)
        return 2

    try:
        check_out_dir(args.out)
        device = resolve_device(args.device)
    except (UsageError, DeviceError) as exc:
        return usage(str(exc))
    from apdraw.multiview import MultiViewGenerator

    try:
        mv = MultiViewGenerator.from_pretrained(args.weights, device=device, num_threads=args.threads, style=args.style)
    except (FileNotFoundError, ValueError) as exc:  # ValueError: --style with --weights; WeightsError is one
        return usage(str(exc))
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return usage(f"cannot create the output folder {args.out}: {exc.strerror or exc}")
    return _generate(mv, args)


def _generate(mv, args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from apdraw.io import save_bytes, save_image

    seeds, yaws, out = args.seeds, args.yaws, args.out
    sweep = sweep_yaws(yaws, args.sweep_frames) if args.sweep else []
    written = 0
    rows = []
    bar = tqdm(total=len(seeds) * (len(yaws) + len(sweep)), desc="generating", unit="view", dynamic_ncols=True, disable=None)
    try:
        for seed in seeds:
            row = []
            for yaw in yaws:
                view = mv.render(seed, yaw, args.pitch, args.truncation)
                images = dict(drawing=view.drawing, photo=view.photo, semantic=view.semantic, semantic_color=view.semantic_color())
                for kind in FILES:
                    save_image(out / f"{seed}_{yaw}_{kind}.png", images[kind])
                    written += 1
                if args.grid:
                    row.append(view.drawing)
                bar.update()
            if args.grid:
                rows.append(np.concatenate(row, axis=1))
            if sweep:
                frames = []
                for yaw in sweep:
                    frames.append(mv.render(seed, yaw, args.pitch, args.truncation).drawing)
                    bar.update()
                save_bytes(out / f"{seed}_sweep.gif", gif_bytes(frames + frames[-2:0:-1]))
                written += 1
        if args.grid:
            save_image(out / "grid.png", np.concatenate(rows, axis=0))
            written += 1
    except OSError as exc:
        bar.close()
        print(f"apdraw generate: cannot write to {out}: {exc.strerror or exc} ({written} files written)", file=sys.stderr)
        return 1
    bar.close()
    print(f"generated {len(seeds)} identities x {len(yaws)} views ({written} files written) in {out}", file=sys.stderr)
    return 0
