"""Speed of the NPR drawing engine on 512x512 aligned faces.

Faces (aligned photo, fg mask, jaw, landmarks) come from `apdraw.face.FacePipeline` on
../shared/data/apdrawing_refs/photo (or $APDRAW_SHARED_DATA); only `draw_portrait` /
`draw_batch` are timed. Each face is drawn `--repeat` times and its fastest run kept,
which filters out other processes on a shared machine. The process CPU time is also
reported: with `--threads 1` it approximates the wall time on one idle core even when
the machine is busy.

    python bench/npr_speed.py [--limit 20] [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--limit", type=int, default=20)
    ap.add_argument("--repeat", type=int, default=3)
    ap.add_argument("--threads", type=int, default=0, help="OpenCV threads (0 = OpenCV default)")
    args = ap.parse_args()

    import cv2

    from apdraw.face import FacePipeline
    from apdraw.io import load_image
    from apdraw.npr import NPRInput, draw_batch, draw_portrait

    from apdraw.data import shared_data_dir

    root = shared_data_dir()
    photos = sorted((root / "apdrawing_refs" / "photo").glob("*.png"))[: args.limit]
    if not photos:
        print(f"no photos under {root}/apdrawing_refs/photo", file=sys.stderr)
        return 1
    pipe = FacePipeline()
    items = []
    for p in photos:
        faces = pipe(load_image(p), max_faces=1)
        if faces:
            items.append(NPRInput.from_face(faces[0]))
    if args.threads > 0:
        cv2.setNumThreads(args.threads)
    draw_portrait(items[0].aligned)  # warm-up (imports, OpenCV thread pool)

    best, cpu = [], []
    for it in items:
        runs, cpus = [], []
        for _ in range(args.repeat):
            t, c = time.perf_counter(), time.process_time()
            draw_batch([it])
            runs.append(time.perf_counter() - t)
            cpus.append(time.process_time() - c)
        best.append(min(runs))
        cpu.append(min(cpus))
    best_ms = np.array(best) * 1000
    cpu_ms = np.array(cpu) * 1000
    t = time.perf_counter()
    draw_batch(items, workers=2)
    batch_ms = (time.perf_counter() - t) * 1000 / len(items)
    print(f"faces: {len(items)} (512x512), OpenCV threads: {cv2.getNumThreads()}, CPUs: {os.cpu_count()}")
    print(f"draw_portrait, best of {args.repeat}: mean {best_ms.mean():.0f} ms, median {np.median(best_ms):.0f} ms, max {best_ms.max():.0f} ms")
    print(f"process CPU time per face: mean {cpu_ms.mean():.0f} ms, median {np.median(cpu_ms):.0f} ms")
    print(f"draw_batch(workers=2), one pass: {batch_ms:.0f} ms per face")
    return 0


if __name__ == "__main__":
    sys.exit(main())
