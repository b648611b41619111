"""Speed of the face parser on 512² photos (the issue's budget: <= 0.15 s per image on this CPU).

Usage::

    python bench/bench_parser.py [--weights W.safetensors] [--n 30] [--threads 2] [--size 512]

Times ``FaceParser.parse`` end to end (letterbox + resize, network, logits
upsampled to 512², argmax) on held-out CelebAMask-HQ-mini photos when
``../shared/data`` is present, else on random images. Prints median / mean /
p90 seconds per image.
"""

from __future__ import annotations

import argparse
import os
import statistics
import time
from pathlib import Path

import numpy as np

def photos(size: int, n: int) -> list[np.ndarray]:
    import cv2

    from apdraw.data import shared_data_dir

    root = shared_data_dir() / "celebamask_mini"
    if (root / "images").is_dir():
        from apdraw.data.celebamask import list_ids, split_ids
        from apdraw.io import load_image

        _, val = split_ids(list_ids(root), 100)
        imgs = [load_image(root / "images" / f"{i}.jpg") for i in val[:n]]
        return [cv2.resize(im, (size, size), interpolation=cv2.INTER_AREA) if im.shape[0] != size else im for im in imgs]
    rng = np.random.default_rng(0)
    return [rng.integers(0, 256, (size, size, 3), dtype=np.uint8) for _ in range(n)]


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", type=Path, default=None)
    ap.add_argument("--n", type=int, default=30)
    ap.add_argument("--threads", type=int, default=1)
    ap.add_argument("--size", type=int, default=512)
    args = ap.parse_args()

    from apdraw.models.parser import FaceParser

    parser = FaceParser.from_pretrained(args.weights, num_threads=args.threads)
    images = photos(args.size, args.n)
    for im in images[:3]:  # warm-up: first calls allocate and pick kernels
        parser.parse(im)
    times = []
    for im in images:
        t = time.perf_counter()
        parser.parse(im)
        times.append(time.perf_counter() - t)
    times.sort()
    p90 = times[min(len(times) - 1, int(0.9 * len(times)))]
    print(
        f"parse {args.size}x{args.size} (net input {parser.input_size}², threads {args.threads}, n {len(times)}): "
        f"median {statistics.median(times):.4f} s, mean {statistics.mean(times):.4f} s, p90 {p90:.4f} s"
    )


if __name__ == "__main__":
    main()
