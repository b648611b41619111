"""APDrawingGAN on onnxruntime against torch eager, in the same run.

    python bench/bench_onnx.py [--runs 7] [--photo-runs 5] [--write-doc]

(1) Generator only: ``APDrawingGAN.draw`` (torch eager, 1 thread) against the
exported graph on onnxruntime (1 intra-op thread) on one aligned 512² face
(template boxes, full foreground); median after one warm-up, interleaved.
(2) End to end: fresh ``apdraw draw examples/grace_hopper.jpg`` processes with
``--runtime torch`` and ``--runtime onnx --weights G.onnx`` (the generator's and
MTCNN's graphs exported beforehand into a fresh ``APDRAW_CACHE``, so no export is
timed), interleaved; with ``--runtime onnx`` MTCNN runs on onnxruntime too
(``mtcnn-onnx``) and the process imports no torch (checked). With ``--write-doc``
the table replaces its block in docs/BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "BENCHMARKS.md"
PHOTO = REPO / "examples" / "grace_hopper.jpg"


def median_seconds(fns: dict, runs: int) -> dict[str, float]:
    """Median wall time of each function, one warm-up each, the runs interleaved."""
    for fn in fns.values():
        fn()
    times: dict[str, list[float]] = {k: [] for k in fns}
    for _ in range(runs):
        for k, fn in fns.items():
            t = time.perf_counter()
            fn()
            times[k].append(time.perf_counter() - t)
    return {k: float(np.median(v)) for k, v in times.items()}


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--runs", type=int, default=7)
    ap.add_argument("--photo-runs", type=int, default=5)
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args(argv)

    import onnxruntime
    import torch

    from apdraw.face import TEMPLATE_512, local_boxes, txt_landmarks
    from apdraw.models.apdrawinggan import APDrawingGAN, export_onnx
    from apdraw.parts import PART_NAMES
    from apdraw.models.onnx_runtime import OnnxAPDrawingGAN

    load0 = os.getloadavg()[0]
    tmp = Path(tempfile.mkdtemp(prefix="bench_onnx_"))
    graph = tmp / "apdrawinggan.onnx"
    model = APDrawingGAN.from_pretrained()
    t = time.perf_counter()
    export_onnx(model, graph)
    export_s = time.perf_counter() - t
    ort_model = OnnxAPDrawingGAN(graph)
    cache = tmp / "cache"
    os.environ["APDRAW_CACHE"] = str(cache)  # this process and the timed ones
    from apdraw.face.mtcnn_onnx import cached_graphs

    cached_graphs()  # MTCNN's graphs, exported once

    rng = np.random.default_rng(0)
    photo = rng.integers(0, 256, (1, 3, 512, 512), dtype=np.uint8)
    template = local_boxes(txt_landmarks(TEMPLATE_512))
    boxes = np.array([[list(template[p]) for p in PART_NAMES]], np.int64)
    fg = np.ones((1, 1, 512, 512), np.float32)
    tp, tb, tf = torch.from_numpy(photo), torch.from_numpy(boxes), torch.from_numpy(fg)
    diff = int(np.abs(model.draw(tp, tb, tf).numpy().astype(int) - ort_model.draw(photo, boxes, fg).astype(int)).max())
    gen = median_seconds({"torch": lambda: model.draw(tp, tb, tf), "onnx": lambda: ort_model.draw(photo, boxes, fg)}, args.runs)
    print(f"generator: {gen}", file=sys.stderr)

    apdraw = str(Path(sys.executable).with_name("apdraw"))
    commands = {
        "torch": [apdraw, "draw", str(PHOTO), "-o", str(tmp / "t")],
        "onnx": [apdraw, "draw", str(PHOTO), "-o", str(tmp / "o"), "--runtime", "onnx", "--weights", str(graph)],
    }

    def fresh(cmd):
        def go():
            subprocess.run(cmd, check=True, capture_output=True)
            for f in Path(cmd[4]).glob("*"):
                f.unlink()

        return go

    e2e = median_seconds({k: fresh(c) for k, c in commands.items()}, args.photo_runs)
    check = ("import sys; from apdraw.cli import main; "
             f"main(['draw', {str(PHOTO)!r}, '-o', {str(tmp / 'c')!r}, '--runtime', 'onnx', '--weights', {str(graph)!r}]); "
             "print('torch' in sys.modules)")  # fmt: skip
    torch_loaded = subprocess.run([sys.executable, "-c", check], check=True, capture_output=True, text=True).stdout.split()[-1]
    print(f"end to end: {e2e}", file=sys.stderr)

    lines = [
        f"Command: `python bench/bench_onnx.py --runs {args.runs} --photo-runs {args.photo_runs} --write-doc`",
        "",
        "| what | torch eager | onnxruntime | onnx / torch |",
        "|---|---:|---:|---:|",
        f"| generator, one aligned 512² face, 1 thread (median of {args.runs}) | {gen['torch']:.3f} s | {gen['onnx']:.3f} s | {gen['onnx'] / gen['torch']:.2f} |",
        f"| `apdraw draw` one photo, fresh process (median of {args.photo_runs}) | {e2e['torch']:.2f} s | {e2e['onnx']:.2f} s | {e2e['onnx'] / e2e['torch']:.2f} |",
        "",
        f"Largest difference of the two drawings of the benchmark face: {diff} gray level(s). "
        f"Exporting the shipped generator took {export_s:.1f} s (once; `--runtime onnx` caches it). "
        "End to end with `--runtime onnx`, MTCNN runs on onnxruntime too and MediaPipe on its own runtime: "
        f"torch imported by that process: {torch_loaded}.",
        f"Machine: {platform.machine()}, {os.cpu_count()} cores visible, torch {torch.__version__}, "
        f"onnxruntime {onnxruntime.__version__}; 1-min load average before / after: {load0:.1f} / {os.getloadavg()[0]:.1f}.",
    ]
    block = "\n".join(lines)
    print(block)
    if args.write_doc:
        from apdraw.io import write_doc_block

        write_doc_block(DOC, "bench_onnx", block, heading="APDrawingGAN on onnxruntime")
        print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
