"""`apdraw video IN -o OUT`: draw every frame of a video, the face tracked and its landmarks smoothed.

Input: any video OpenCV reads (mp4, webm, avi, mov, ...) or an animated GIF.
Output by suffix: .webm (VP8), .mp4, .avi (MJPEG) or .gif, written atomically.
``--frame aligned`` (default) gives 512² drawings that follow the face;
``--frame photo`` pastes each drawing back into its frame. Landmarks are smoothed
with a One Euro filter (``--no-smooth`` to compare); a face lost for a few frames
keeps its last position, frames without a face are white paper.
Exit status: 0 done, 1 no frame had a face, 2 usage error (unreadable input, bad options).
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from apdraw.commands.args import positive_int


def _positive_float(text: str) -> float:
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a number, got {text!r}") from None
    if not value > 0:
        raise argparse.ArgumentTypeError(f"must be positive, got {value}")
    return value


def register(sub: argparse._SubParsersAction) -> None:
    from apdraw.face.backends import DETECTORS, MASK_BACKENDS
    from apdraw.styles import DEFAULT_STYLE, STYLES

    p = sub.add_parser("video", help="draw every frame of a video", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("input", type=Path, metavar="IN", help="video file or animated GIF")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="OUT", help="output video: .webm, .mp4, .avi or .gif")
    p.add_argument("--style", default=DEFAULT_STYLE, choices=STYLES.names(), help=f"drawing style (default {DEFAULT_STYLE})")
    p.add_argument("--weights", type=Path, help="weights file for a learned style")
    p.add_argument("--frame", choices=("aligned", "photo"), default="aligned")
    p.add_argument("--no-smooth", dest="smooth", action="store_false", help="no landmark smoothing (jittery; for comparison)")
    p.add_argument("--min-cutoff", type=_positive_float, default=1.0, help="One Euro filter cut-off at rest, Hz (lower = steadier)")
    p.add_argument("--beta", type=float, default=0.05, help="One Euro filter speed coefficient (higher = less lag)")
    p.add_argument("--max-frames", type=positive_int, help="stop after this many frames")
    p.add_argument("--detector", choices=DETECTORS.names(), default=DETECTORS.default)
    p.add_argument("--masks", choices=MASK_BACKENDS.names(), default=MASK_BACKENDS.default)
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from apdraw.video import WRITERS, VideoError, draw_video

    if args.out.suffix.lower() not in WRITERS:
        print(f"apdraw video: {args.out}: the output must end in one of {', '.join(WRITERS)}", file=sys.stderr)
        return 2
    if args.out.exists() and args.out.is_dir():
        print(f"apdraw video: {args.out} is a folder; give a file name", file=sys.stderr)
        return 2
    if args.beta < 0:
        print("apdraw video: --beta must be >= 0", file=sys.stderr)
        return 2
    try:
        stats = draw_video(args.input, args.out, style=args.style, weights=args.weights, frame=args.frame,
                           smooth=args.smooth, min_cutoff=args.min_cutoff, beta=args.beta, max_frames=args.max_frames,
                           detector=args.detector, masks=args.masks)
    except (VideoError, ValueError, FileNotFoundError) as exc:
        print(f"apdraw video: {exc}", file=sys.stderr)
        return 2
    print(f"drew {stats.drawn} of {stats.frames} frames ({stats.held} with the face held from an earlier frame, "
          f"{stats.blank} without a face) -> {args.out}", file=sys.stderr)
    return 0 if stats.drawn else 1
