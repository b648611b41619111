"""Speed and memory of `apdraw draw` on the CPU, per stage, normalised by a fixed reference workload.

    python bench/bench_draw.py [--runs 7] [--style npr] [--write-doc]

Per photo, the stages of ``apdraw draw --frame photo`` in the order the command
runs them, each timed separately with the models already built:

* decode: ``load_image`` of the file;
* detect: MTCNN proposals (P-Net pyramid + R-Net);
* landmarks: O-Net box refinement and 5 points;
* align: similarity fit + warp to the 512x512 APDrawing frame;
* masks: the mask backend (MediaPipe by default);
* draw: the style's drawer on the aligned face;
* paste + save: the drawing warped back into the photo frame, PNG-encoded to a temporary file;
* end to end: all of the above in one call (what one photo costs in a batch).

Figures are the median over ``--runs`` runs after one warm-up, as wall time, as
process CPU time (all threads), and as a ratio to a reference workload (RU) timed
right before each run in the same process: 4 float32 1024x1024 matmuls (torch)
plus 4 sigma-3 Gaussian blurs of a 1024x1024 float32 image (OpenCV). The ratio
"stage / RU" moves much less between machines and loads than seconds do.

Separately, a fresh Python process running ``apdraw draw`` per photo gives the
whole command's wall time (imports and model loading included) and its peak
resident memory (VmHWM of that process).

With ``--write-doc`` the tables replace the CPU section of docs/BENCHMARKS.md.
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
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "BENCHMARKS.md"


def shared_data() -> Path:
    from apdraw.data import shared_data_dir

    return shared_data_dir()


def photo_paths() -> list[Path]:
    paths = [REPO / "examples" / "grace_hopper.jpg", REPO / "examples" / "astronaut.png"]
    big = shared_data() / "apdrawing_refs" / "align_example" / "img_1701.jpg"
    return paths + ([big] if big.is_file() else [])


def reference_workload() -> Callable[[], None]:
    """The fixed reference unit (RU): BLAS-bound matmuls plus memory-bound blurs."""
    import cv2
    import torch

    g = torch.Generator().manual_seed(0)
    a = torch.rand(1024, 1024, generator=g)
    b = torch.rand(1024, 1024, generator=g)
    img = np.random.default_rng(0).random((1024, 1024), dtype=np.float32)

    def run() -> None:
        for _ in range(4):
            torch.mm(a, b)
            cv2.GaussianBlur(img, (0, 0), 3.0)

    return run


REF_TIMES: list[float] = []  # every reference-unit timing of this process


def measure(fn: Callable[[], object], ref: Callable[[], None], runs: int) -> dict[str, float]:
    """Median wall s, CPU s and stage/RU ratio over `runs` runs (one warm-up first)."""
    fn()
    wall, cpu, ratio = [], [], []
    for _ in range(runs):
        t = time.perf_counter()
        ref()
        t_ref = time.perf_counter() - t
        REF_TIMES.append(t_ref)
        t, c = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - t)
        cpu.append(time.process_time() - c)
        ratio.append(wall[-1] / t_ref)
    return {"wall": float(np.median(wall)), "cpu": float(np.median(cpu)), "ru": float(np.median(ratio))}


def stage_table(style: str, runs: int) -> tuple[str, float]:
    from apdraw.face import FacePipeline, align_face, paste_back, transform_points
    from apdraw.face.pipeline import Face
    from apdraw.io import load_image, save_image
    from apdraw.styles import build_drawer

    ref = reference_workload()
    t0 = time.perf_counter()
    pipe = FacePipeline()
    drawer = build_drawer(style)
    setup = time.perf_counter() - t0
    mtcnn = pipe.detector
    tmp = Path(tempfile.mkdtemp(prefix="apdraw_bench_"))
    columns = []
    for path in photo_paths():
        img = load_image(path)
        props = mtcnn.propose(img)
        det = mtcnn.landmarks(img, props)[0]
        aligned, matrix = align_face(img, det.landmarks5)
        lm = transform_points(det.landmarks5, matrix)
        masks = pipe.mask_backend.masks(aligned, lm)
        face = Face(det.box, det.score, det.landmarks5, matrix, aligned, lm, masks)
        drawing = drawer([face])[0]

        def end_to_end() -> None:
            image = load_image(path)
            faces = pipe(image, max_faces=1)
            out = paste_back(drawer(faces)[0], faces[0], image.shape[:2])
            save_image(tmp / "e2e.png", out)

        stages = {
            "decode": lambda: load_image(path),
            "detect": lambda: mtcnn.propose(img),
            "landmarks": lambda: mtcnn.landmarks(img, props),
            "align": lambda: align_face(img, det.landmarks5),
            "masks": lambda: pipe.mask_backend.masks(aligned, lm),
            f"draw ({style})": lambda: drawer([face]),
            "paste + save": lambda: save_image(tmp / "p.png", paste_back(drawing, face, img.shape[:2])),
            "**end to end**": end_to_end,
        }
        label = f"{path.name} {img.shape[1]}x{img.shape[0]}"
        columns.append((label, {k: measure(fn, ref, runs) for k, fn in stages.items()}))
        print(f"timed {label}", file=sys.stderr)
    header = "| stage | " + " | ".join(f"{c}: wall | CPU | RU" for c, _ in columns) + " |"
    lines = [header, "|---|" + "---:|---:|---:|" * len(columns)]
    for k in columns[0][1]:
        cells = " | ".join(f"{t[k]['wall']:.3f} s | {t[k]['cpu']:.3f} s | {t[k]['ru']:.2f}" for _, t in columns)
        lines.append(f"| {k} | {cells} |")
    lines.append("")
    ru = float(np.median(REF_TIMES))
    lines.append(f"Reference unit (RU) on this run: median {ru:.3f} s over its {len(REF_TIMES)} timings. Model construction "
                 f"(`FacePipeline()` + drawer): {setup:.2f} s, once per process.")
    return "\n".join(lines), ru


# Runs `apdraw draw` like `python -m apdraw` does, then reports the process's own peak
# resident memory. VmHWM belongs to the post-exec address space; ru_maxrss would also
# count the parent's memory at fork time, which Linux carries across exec.
_CHILD = (
    "import sys\n"
    "from apdraw.cli import main\n"
    "rc = main(sys.argv[1:])\n"
    "status = open('/proc/self/status').read()\n"
    "print('VmHWM_kB', status.split('VmHWM:')[1].split()[0], file=sys.stderr)\n"
    "sys.exit(rc)\n"
)


def cold_table(style: str) -> str:
    """A fresh process running `apdraw draw` per photo: whole-command wall time and peak RSS."""
    rows = ["| photo | wall (cold process) | peak RSS |", "|---|---:|---:|"]
    for path in photo_paths():
        with tempfile.TemporaryDirectory() as out:
            t = time.perf_counter()
            proc = subprocess.run([sys.executable, "-c", _CHILD, "draw", str(path), "-o", out, "--frame", "photo",
                                   "--style", style], capture_output=True, text=True)
            wall = time.perf_counter() - t
        hwm = [line.split()[1] for line in proc.stderr.splitlines() if line.startswith("VmHWM_kB")]
        if proc.returncode != 0 or not hwm:
            rows.append(f"| {path.name} | failed (exit {proc.returncode}) | |")
            continue
        rows.append(f"| {path.name} | {wall:.2f} s | {int(hwm[0]) / 1024:.0f} MiB |")
    return "\n".join(rows)


def environment(load0: float) -> str:
    import cv2
    import torch

    return (f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, torch "
            f"{torch.__version__} ({torch.get_num_threads()} threads), OpenCV {cv2.__version__} "
            f"({cv2.getNumThreads()} threads); 1-min load average before / after: {load0:.1f} / {os.getloadavg()[0]:.1f}")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=7)
    parser.add_argument("--style", default="npr", help="drawing style of `apdraw draw --style`")
    parser.add_argument("--no-cold", action="store_true", help="skip the cold-process runs")
    parser.add_argument("--write-doc", action="store_true", help=f"replace the CPU section of {DOC}")
    parser.add_argument("--ru-only", action="store_true", help="only time the reference unit (to convert RU to seconds)")
    args = parser.parse_args(argv)
    if args.ru_only:
        ref = reference_workload()
        measure(ref, ref, args.runs)
        print(f"reference unit: {np.median(REF_TIMES):.3f} s (median of {len(REF_TIMES)})")
        return 0
    load0 = os.getloadavg()[0]
    stages, _ = stage_table(args.style, args.runs)
    parts = [f"Command: `python bench/bench_draw.py --runs {args.runs} --style {args.style}"
             f"{' --no-cold' if args.no_cold else ''} --write-doc`", "",
             f"Per stage, median of {args.runs} runs after a warm-up (models built once):", "", stages]
    if not args.no_cold:
        parts += ["", "Whole command in a fresh process (`apdraw draw PHOTO -o OUT --frame photo`), "
                  "imports and model loading included:", "",
                  cold_table(args.style)]
    parts += ["", f"Machine: {environment(load0)}."]
    block = "\n".join(parts)
    print(block)
    if args.write_doc:
        from apdraw.io import write_doc_block

        write_doc_block(DOC, "bench_draw", block)
        print(f"wrote {DOC}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
