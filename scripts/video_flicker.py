"""Temporal flicker of `apdraw video` on a still head, with and without landmark smoothing.

    python scripts/video_flicker.py [--frames 40] [--style apdrawinggan] [--write-doc]

The clip: an example photo filmed by a camera on a tripod: the same frame again
and again with sensor noise (Gaussian, sigma 3 gray levels), so the head does not
move and every change in the drawing is flicker. The flicker is the mean absolute
change between consecutive drawn frames, in gray levels (0-255), measured before
encoding. Also reports the frames per second.
"""

from __future__ import annotations

import argparse
import sys
import tempfile
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]


def clip(n: int, photo: Path) -> list[np.ndarray]:
    from apdraw.io import load_image

    img = load_image(photo)
    img = cv2.resize(img, (480, round(480 * img.shape[0] / img.shape[1])))
    rng = np.random.default_rng(0)
    return [np.clip(img + rng.normal(0, 3, img.shape), 0, 255).astype(np.uint8) for _ in range(n)]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--frames", type=int, default=40)
    ap.add_argument("--styles", nargs="+", default=["apdrawinggan", "npr"])
    ap.add_argument("--photo", type=Path, default=REPO / "examples" / "grace_hopper.jpg")
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args()
    from apdraw.face import FacePipeline
    from apdraw.styles import build_drawer
    from apdraw.video import VideoWriter, draw_video, flicker

    rows = []
    with tempfile.TemporaryDirectory() as tmp:
        src = Path(tmp) / "still_head.avi"
        writer = VideoWriter(src, fps=25)
        frames = clip(args.frames, args.photo)
        for f in frames:
            writer.write(f)
        writer.close()
        photo_flicker = flicker([cv2.cvtColor(f, cv2.COLOR_RGB2GRAY) for f in frames])
        pipe = FacePipeline()
        for style in args.styles:
            drawer = build_drawer(style)
            result = {}
            for smooth in (False, True):
                kept: list[np.ndarray] = []
                t0 = time.perf_counter()
                draw_video(src, Path(tmp) / f"{style}_{smooth}.webm", drawer=drawer, face_pipeline=pipe,
                           smooth=smooth, keep=kept, progress=False)
                result[smooth] = (flicker(kept), len(kept) / (time.perf_counter() - t0))
            (raw, fps_raw), (smoothed, fps_s) = result[False], result[True]
            rows.append(f"| `{style}` | {raw:.2f} | {smoothed:.2f} | {smoothed / raw:.2f}x | {fps_s:.1f} |")
            print(rows[-1], file=sys.stderr)
    table = "\n".join([
        f"Command: `python scripts/video_flicker.py --frames {args.frames}` (2-core CPU, one thread). Clip: "
        f"{args.frames} frames of `{args.photo.name}`, still, with sensor noise (sigma 3) "
        f"(the photo frames themselves change by {photo_flicker:.2f} gray levels on average).",
        "",
        "| style | flicker, raw landmarks | flicker, One Euro smoothing | ratio | frames/s |",
        "|---|---|---|---|---|",
        *rows,
    ])
    print(table)
    if args.write_doc:
        from apdraw.io import write_doc_block

        write_doc_block(REPO / "docs" / "VIDEO.md", "flicker", table, heading="Flicker on a still head")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
