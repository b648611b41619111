"""`apdraw views PHOTO --yaws -30,-15,0,15,30 -o OUTDIR`: your own face drawn from several angles (SAGE).

The largest face of PHOTO is framed as SAGE's training photos (CelebAMask-HQ, centre
8/9), its head pose is estimated (MediaPipe face mesh) and it is parsed into 19 classes;
a code of the generator is then fitted to it (--steps Adam steps, everything else
frozen, the camera at the estimated pose), starting from the code encoder's guess
for the shipped styles (ours: a linear map from the photo's MobileNetV2 features to
the codes the generator learned for its training photos) and from the average face
for a generator of your own, and drawn from each yaw. With NAME = the
photo's file name without its suffix, it writes::

    OUTDIR/NAME_Y_drawing.png     the drawing at yaw Y, gray, 255 = paper (e.g. me_-15_drawing.png)
    OUTDIR/NAME_input_crop.png    the photo in SAGE's frame, as fitted (the generator's size)
    OUTDIR/NAME_fit.png           side by side: the crop, the fitted reconstruction at the estimated
                                  pose, the crop's parse and the reconstruction's (CelebAMask-HQ colours)

and with --sweep OUTDIR/NAME_sweep.gif, the drawing turning from the smallest to the
largest yaw and back (-30..30 with one yaw). Yaws: signed integer degrees from frontal
(positive: the face turns to the image's right), at most 90 either side; every view
keeps the photo's estimated pitch unless --pitch is given. Existing files of those
names are replaced.

--style picks the drawing style, a shipped generator: apdrawinggan (the default,
APDrawingGAN's look) or npr (the look of apdraw's classical pen-drawing engine). The
styles share everything but the drawing: the fit, the crop and the reconstruction are
the same in every style; only the drawings differ. --weights takes a generator of your
own instead (`apdraw train sage` / `apdraw export sage`, docs/SAGE.md); give --style
or --weights, not both.

Exit status: 0 done; 1 the photo could not be used (no face found, missing or not an
image) or a file could not be written; 2 usage error (bad yaws, steps or angles,
--style with --weights, missing or unreadable weights, an output folder that is a file),
with a message and no traceback. The API is :meth:`apdraw.multiview.MultiViewGenerator.invert` and
:meth:`~apdraw.multiview.MultiViewGenerator.render_code`.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from apdraw.commands.args import allow_negative_number_lists, non_negative_int, positive_int
from apdraw.commands.generate import add_weights_arguments, frame_count, gif_bytes, pitch_degrees, sweep_yaws, yaw_list
from apdraw.io import DEFAULT_MAX_PIXELS

MAX_STEPS = 100_000
DEFAULT_YAWS = "-30,-15,0,15,30"


def fit_steps(text: str) -> int:
    """An integer number of Adam steps, 0..MAX_STEPS."""
    value = non_negative_int(text)
    if value > MAX_STEPS:
        raise argparse.ArgumentTypeError(f"at most {MAX_STEPS} steps, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    p = sub.add_parser("views", help="your own face drawn from several angles (SAGE)", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)  # fmt: skip
    allow_negative_number_lists(p)
    p.add_argument("photo", type=Path, metavar="PHOTO", help="a photo with a face (the largest is drawn)")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="OUTDIR", help="output folder")
    p.add_argument("--yaws", type=yaw_list, default=yaw_list(DEFAULT_YAWS), metavar="YAWS", help=f"viewpoints, signed integer degrees from frontal within ±90; positive: the face turns to the image's right; default {DEFAULT_YAWS}")
    add_weights_arguments(p)
    p.add_argument("--steps", type=fit_steps, default=200, metavar="N", help="Adam steps fitting the code to the photo; default %(default)d")
    p.add_argument("--pitch", type=pitch_degrees, default=None, metavar="DEG", help="pitch of every view, degrees from frontal (positive: the face turns up); default: the photo's estimated pitch")
    p.add_argument("--sweep", action="store_true", help="also write OUTDIR/NAME_sweep.gif: the drawing turning over the yaws' range and back")
    p.add_argument("--sweep-frames", type=frame_count, default=16, metavar="N", help="views of the sweep each way; default %(default)d")
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, help="refuse larger images (decompression bombs); default %(default)d")
    p.add_argument("--threads", type=positive_int, default=1, help="CPU threads for the networks (default 1)")
    p.add_argument("--device", default="cpu", help="cpu, cuda, cuda:N, mps or auto; default cpu")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from apdraw.batch import UsageError, check_out_dir
    from apdraw.runtime import DeviceError, resolve_device

    def fail(message: str, status: int) -> int:
        print(f"apdraw views: {message}", file=sys.stderr)
        return status

    try:
        check_out_dir(args.out)
        device = resolve_device(args.device)
    except (UsageError, DeviceError) as exc:
        return fail(str(exc), 2)
    from apdraw.io import ImageLoadError, load_image
    from apdraw.multiview import MultiViewGenerator

    try:
        mv = MultiViewGenerator.from_pretrained(args.weights, device=device, num_threads=args.threads, style=args.style)
    except (FileNotFoundError, ValueError) as exc:  # ValueError: --style with --weights; WeightsError is one
        return fail(str(exc), 2)
    try:
        photo = load_image(args.photo, max_pixels=args.max_pixels)
    except (FileNotFoundError, ImageLoadError) as exc:
        return fail(str(exc), 1)
    try:
        args.out.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        return fail(f"cannot create the output folder {args.out}: {exc.strerror or exc}", 2)
    return _views(mv, photo, args)


def _views(mv, photo, args: argparse.Namespace) -> int:
    import numpy as np
    from tqdm import tqdm

    from apdraw.io import save_bytes, save_image
    from apdraw.models.parser import colorize
    from apdraw.multiview import NoFaceError

    name, out = args.photo.stem, args.out
    bar = tqdm(total=args.steps, desc="fitting", unit="step", dynamic_ncols=True, disable=None)

    def progress(step: int, loss: float) -> None:
        bar.set_postfix(loss=f"{loss:.4f}", refresh=False)
        bar.update()

    try:
        fit = mv.invert(photo, steps=args.steps, callback=progress)
    except NoFaceError:
        bar.close()
        print(f"apdraw views: {args.photo}: no face found (nothing written)", file=sys.stderr)
        return 1
    except ImportError as exc:  # the head-pose estimator needs MediaPipe
        bar.close()
        print(f"apdraw views: {exc}", file=sys.stderr)
        return 2
    bar.close()
    pitch = fit.pitch_deg if args.pitch is None else args.pitch
    sweep = sweep_yaws(args.yaws, args.sweep_frames) if args.sweep else []
    written = 0
    bar = tqdm(total=len(args.yaws) + len(sweep), desc="drawing", unit="view", dynamic_ncols=True, disable=None)
    try:
        recon = mv.render_code(fit.code, fit.yaw_deg, fit.pitch_deg)
        save_image(out / f"{name}_input_crop.png", fit.crop)
        written += 1
        save_image(out / f"{name}_fit.png", np.concatenate([fit.crop, recon.photo, colorize(fit.labels), recon.semantic_color()], 1))
        written += 1
        for yaw in args.yaws:
            save_image(out / f"{name}_{yaw}_drawing.png", mv.render_code(fit.code, yaw, pitch).drawing)
            written += 1
            bar.update()
        if sweep:
            frames = []
            for yaw in sweep:
                frames.append(mv.render_code(fit.code, yaw, pitch).drawing)
                bar.update()
            save_bytes(out / f"{name}_sweep.gif", gif_bytes(frames + frames[-2:0:-1]))
            written += 1
    except OSError as exc:
        bar.close()
        print(f"apdraw views: cannot write to {out}: {exc.strerror or exc} ({written} files written)", file=sys.stderr)
        return 1
    bar.close()
    how = {"estimated": "estimated", "frontal": "the face mesh found no face: frontal assumed"}.get(fit.pose_source, fit.pose_source)
    start = {"encoder": "the code encoder's guess", "mean": "the average face"}[fit.init]
    print(f"{args.photo}: head yaw {fit.yaw_deg:+.1f}°, pitch {fit.pitch_deg:+.1f}° ({how}); fit loss "
          f"{fit.losses[0]:.4f} -> {fit.losses[-1]:.4f} in {args.steps} steps from {start}; {written} files written in {out}",
          file=sys.stderr)  # fmt: skip
    return 0
