"""CPU speed of an APDrawingGAN drawing of one 512² photo: face pipeline + model, model load excluded.

    python bench/bench_apdrawinggan.py [--weights FILE] [--runs 9] [--threads 2]

The photo is examples/grace_hopper.jpg, centre-cropped and resized to 512x512.
Reports the median wall time over ``--runs`` runs after one warm-up, for the
face pipeline (detect, landmarks, align, masks), the model (``draw_aligned``),
and both together (what ``apdraw draw`` spends per photo before saving).
"""

from __future__ import annotations

import argparse
import statistics
import time
from pathlib import Path

import cv2
import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]


def photo_512() -> np.ndarray:
    from apdraw.io import load_image

    img = load_image(REPO / "examples" / "grace_hopper.jpg")
    h, w = img.shape[:2]
    s = min(h, w)
    img = img[(h - s) // 2 : (h - s) // 2 + s, (w - s) // 2 : (w - s) // 2 + s]
    return cv2.resize(img, (512, 512), interpolation=cv2.INTER_AREA)


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", help="generator .safetensors (default: the shipped one)")
    ap.add_argument("--runs", type=int, default=9)
    ap.add_argument("--threads", type=int, default=2)
    args = ap.parse_args()
    torch.set_num_threads(args.threads)

    from apdraw.face import FacePipeline
    from apdraw.models.apdrawinggan import APDrawingGAN, draw_aligned

    model = APDrawingGAN.from_pretrained(args.weights)
    pipe = FacePipeline()
    image = photo_512()
    t_pipe, t_model, t_all = [], [], []
    for i in range(args.runs + 1):
        t0 = time.perf_counter()
        faces = pipe(image, max_faces=1)
        t1 = time.perf_counter()
        draw_aligned(model, faces)
        t2 = time.perf_counter()
        if i:  # the first run warms up
            t_pipe.append(t1 - t0)
            t_model.append(t2 - t1)
            t_all.append(t2 - t0)
    med = statistics.median
    print(f"threads {args.threads}, {args.runs} runs, resolution {model.cfg.resolution}")
    print(f"face pipeline  {med(t_pipe):.3f} s")
    print(f"model          {med(t_model):.3f} s")
    print(f"total          {med(t_all):.3f} s  (min {min(t_all):.3f}, max {max(t_all):.3f})")


if __name__ == "__main__":
    main()
