"""Time the face pipeline per photo: detect, landmarks, align, masks.

    python bench/bench_face.py [--runs 15] [--write-doc]

Stages, as the pipeline runs them:

* detect: MTCNN P-Net pyramid + R-Net (``MTCNN.propose``) on the photo,
  downscaled to at most 1024 px on its longer side;
* landmarks: O-Net on full-resolution crops (``MTCNN.landmarks``): final box + 5 points;
* align: similarity fit + bilinear warp to 512x512 (``align_face``);
* masks: the MediaPipe backend (selfie + pose segmentation, face mesh, part masks,
  jaw, boxes), also shown without the pose model.

Each stage reports the median wall time and the median CPU time of the process
(all threads): on a shared machine the wall time measures other people's load too.

Photos: examples/grace_hopper.jpg centre-cropped to 512x512, and the 2871x2048
``align_example/img_1701.jpg`` of ../shared/data when present. Each figure is the
median over ``--runs`` runs after one warm-up. With ``--write-doc`` the table
replaces the benchmark section of docs/FACE_PIPELINE.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import sys
import time
from pathlib import Path

import numpy as np
import torch

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "FACE_PIPELINE.md"


def shared_data() -> Path:
    from apdraw.data import shared_data_dir

    return shared_data_dir()


def photos() -> list[tuple[str, np.ndarray]]:
    from apdraw.io import load_image

    grace = load_image(REPO / "examples" / "grace_hopper.jpg")
    h, w = grace.shape[:2]
    side = min(h, w, 512)
    y0, x0 = (h - side) // 2, (w - side) // 2
    out = [("grace_hopper 512x512", np.ascontiguousarray(grace[y0 : y0 + side, x0 : x0 + side]))]
    big = shared_data() / "apdrawing_refs" / "align_example" / "img_1701.jpg"
    if big.is_file():
        img = load_image(big)
        out.append((f"img_1701 {img.shape[1]}x{img.shape[0]}", img))
    return out


def median_time(fn, runs: int) -> tuple[float, float]:
    """-> (median wall seconds, median CPU seconds of this process, all its threads).

    On a shared machine the wall time grows with other people's load; the CPU time
    is close to what the stage takes on an idle core.
    """
    fn()  # warm-up
    wall, cpu = [], []
    for _ in range(runs):
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
    return float(np.median(wall)), float(np.median(cpu))


def bench(runs: int) -> str:
    from apdraw.face import FacePipeline, align_face, transform_points
    from apdraw.face.mediapipe_backend import MediaPipeMasks

    load0 = os.getloadavg()[0]
    pipe = FacePipeline()
    no_pose = MediaPipeMasks(use_pose=False)
    mtcnn = pipe.detector
    rows = []
    for name, img in photos():
        proposals = mtcnn.propose(img)
        det = mtcnn.landmarks(img, proposals)[0]
        aligned, matrix = align_face(img, det.landmarks5)
        lm_al = transform_points(det.landmarks5, matrix)
        t = {
            "detect": median_time(lambda: mtcnn.propose(img), runs),
            "landmarks": median_time(lambda: mtcnn.landmarks(img, proposals), runs),
            "align": median_time(lambda: align_face(img, det.landmarks5), runs),
            "masks": median_time(lambda: pipe.mask_backend.masks(aligned, lm_al), runs),
            "masks (no pose)": median_time(lambda: no_pose.masks(aligned, lm_al), runs),
            "whole `FacePipeline()(photo)`": median_time(lambda: pipe(img), runs),
        }
        rows.append((name, t))
    keys = list(rows[0][1])
    lines = [
        "| stage | " + " | ".join(f"{name}: wall | CPU" for name, _ in rows) + " |",
        "|---|" + "---:|---:|" * len(rows),
    ]
    for k in keys:
        cells = " | ".join(f"{t[k][0] * 1000:.0f} ms | {t[k][1] * 1000:.0f} ms" for _, t in rows)
        lines.append(f"| {k} | {cells} |")
    env = (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, "
        f"torch {torch.__version__} (MTCNN runs with 1 thread), median of {runs} runs; CPU = process time of all threads, "
        f"1-min load average before / after {load0:.1f} / {os.getloadavg()[0]:.1f}"
    )
    return "\n".join(lines) + f"\n\nMachine: {env}.\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--write-doc", action="store_true", help=f"update the benchmark section of {DOC}")
    args = parser.parse_args(argv)
    table = bench(args.runs)
    print(table)
    if args.write_doc:
        from apdraw.io import write_doc_block

        write_doc_block(DOC, "bench", f"Command: `python bench/bench_face.py --runs 15 --write-doc`\n\n{table}", heading="Speed")
        print(f"wrote {DOC}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
