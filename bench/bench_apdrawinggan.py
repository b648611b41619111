"""APDrawingGAN generator speed on the CPU: the shipped compact model against the paper-size one.

    python bench/bench_apdrawinggan.py [--runs 7] [--threads 1 2] [--write-doc]

Times ``APDrawingGAN.draw`` on one aligned 512² face (template boxes, full
foreground) in eval mode: the shipped compact generator (its real weights, 256²
inside the 512² frame) and the paper-size generator (``full_config()``, 512²,
random weights: speed does not depend on them), at each thread count. Median
wall time after one warm-up; the ratio paper / compact is taken within the
same run. With ``--write-doc`` the table replaces its block in docs/BENCHMARKS.md.
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
DOC = REPO / "docs" / "BENCHMARKS.md"


def median_seconds(fn, runs: int) -> float:
    fn()
    times = []
    for _ in range(runs):
        t = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t)
    return float(np.median(times))


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--threads", type=int, nargs="+", default=[1, 2])
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args(argv)

    from apdraw.face import TEMPLATE_512, local_boxes, txt_landmarks
    from apdraw.models.apdrawinggan import APDrawingGAN, full_config
    from apdraw.parts import boxes_array
    from apdraw.models.layers import count_parameters

    torch.manual_seed(0)
    photo = torch.randint(0, 256, (1, 3, 512, 512), dtype=torch.uint8)
    boxes = torch.from_numpy(boxes_array(local_boxes(txt_landmarks(TEMPLATE_512))))[None]
    fg = torch.ones(1, 1, 512, 512)
    models = {"shipped compact (256² in the 512² frame)": APDrawingGAN.from_pretrained(), "paper size (512²)": APDrawingGAN(full_config()[0])}
    load0 = os.getloadavg()[0]
    rows, secs = [], {}
    for name, model in models.items():
        for n in args.threads:
            model.num_threads = n
            secs[name, n] = median_seconds(lambda: model.draw(photo, boxes, fg), args.runs)
            print(f"{name}, {n} thread(s): {secs[name, n]:.3f} s", file=sys.stderr)
        params = count_parameters(model.generator) / 1e6
        rows.append(f"| {name} | {params:.1f} M | " + " | ".join(f"{secs[name, n]:.3f} s" for n in args.threads) + " |")
    compact, paper = models
    ratios = ", ".join(f"{secs[paper, n] / secs[compact, n]:.1f}x with {n} thread(s)" for n in args.threads)
    lines = [
        f"Command: `python bench/bench_apdrawinggan.py --runs {args.runs} --threads {' '.join(map(str, args.threads))} --write-doc`",
        "",
        "| generator | parameters | " + " | ".join(f"{n} thread(s)" for n in args.threads) + " |",
        "|---|---:|" + "---:|" * len(args.threads),
        *rows,
        "",
        f"The paper-size generator takes {ratios} the time of the shipped one (same run).",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores visible, torch {torch.__version__}; "
        f"1-min load average before / after: {load0:.1f} / {os.getloadavg()[0]:.1f}.",
    ]
    block = "\n".join(lines)
    print(block)
    if args.write_doc:
        from apdraw.io import write_doc_block

        write_doc_block(DOC, "bench_apdrawinggan", block, heading="APDrawingGAN generator: shipped vs paper size")
        print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
