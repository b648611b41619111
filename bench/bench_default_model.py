"""Per-photo time of `apdraw draw --frame photo` with two APDrawingGAN weight files, in the same run.

    python bench/bench_default_model.py --baseline OLD.safetensors [--candidate NEW.safetensors] [--runs 15] [--write-doc]

The old default is in git history, e.g.::

    git show 9556cbd:src/apdraw/weights/apdrawinggan_fs2k.safetensors > /tmp/old_default.safetensors

Both drawers are built once; then, per photo, the whole end-to-end path
(decode, detect, landmarks, align, masks, model, paste back, PNG save) runs
for the baseline and the candidate alternately (so load changes hit both
alike), one torch thread, and the medians and their ratio are reported, with
the model call alone timed the same way. ``--candidate`` defaults to the
shipped weights. ``--write-doc`` rewrites the ``default-model`` block of
docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "bench"))

from bench_draw import photo_paths  # noqa: E402


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("--baseline", required=True, help="weights of the old default")
    p.add_argument("--candidate", default=None, help="weights to compare (default: the shipped file)")
    p.add_argument("--runs", type=int, default=15)
    p.add_argument("--write-doc", action="store_true")
    args = p.parse_args(argv)

    import torch

    from apdraw.face import FacePipeline, paste_back
    from apdraw.io import load_image, save_image, write_doc_block
    from apdraw.models.apdrawinggan import DEFAULT_WEIGHTS
    from apdraw.styles import build_drawer

    torch.set_num_threads(1)
    candidate = args.candidate or str(DEFAULT_WEIGHTS)
    pipe = FacePipeline()
    drawers = {"baseline": build_drawer("apdrawinggan", args.baseline), "candidate": build_drawer("apdrawinggan", candidate)}
    tmp = Path(tempfile.mkdtemp(prefix="apdraw_bench_"))
    rows = []
    for path in photo_paths():
        image0 = load_image(path)
        faces0 = pipe(image0, max_faces=1)
        times: dict[str, dict[str, list[float]]] = {k: {"e2e": [], "model": []} for k in drawers}

        def end_to_end(drawer) -> None:
            image = load_image(path)
            faces = pipe(image, max_faces=1)
            save_image(tmp / "e2e.png", paste_back(drawer(faces)[0], faces[0], image.shape[:2]))

        for name, drawer in drawers.items():  # warm-up
            end_to_end(drawer)
        for _ in range(args.runs):
            for name, drawer in drawers.items():
                t = time.perf_counter()
                end_to_end(drawer)
                times[name]["e2e"].append(time.perf_counter() - t)
                t = time.perf_counter()
                drawer(faces0)
                times[name]["model"].append(time.perf_counter() - t)
        med = {n: {k: float(np.median(v)) for k, v in t.items()} for n, t in times.items()}
        rows.append(
            f"| {path.name} {image0.shape[1]}x{image0.shape[0]} | {med['baseline']['e2e']:.3f} s | {med['candidate']['e2e']:.3f} s | "
            f"**{med['candidate']['e2e'] / med['baseline']['e2e']:.2f}×** | {med['baseline']['model']:.3f} s | "
            f"{med['candidate']['model']:.3f} s | {med['candidate']['model'] / med['baseline']['model']:.2f}× |"
        )
        print(rows[-1], file=sys.stderr)
    load = os.getloadavg()[0]
    table = "\n".join([
        "| photo | end to end, old default | end to end, new default | ratio | model, old | model, new | ratio |",
        "|---|---:|---:|---:|---:|---:|---:|",
        *rows,
        "",
        f"Medians of {args.runs} alternating runs, one torch thread, models built; load average {load:.1f} on "
        f"{os.cpu_count()} cores. Baseline `{Path(args.baseline).name}`, candidate `{Path(candidate).name}`.",
    ])  # fmt: skip
    print(table)
    if args.write_doc:
        write_doc_block(REPO / "docs" / "BENCHMARKS.md", "default-model", table, heading="New default vs old default: per-photo time")
    return 0


if __name__ == "__main__":
    sys.exit(main())
