"""Throughput of `apdraw draw` over a folder with --workers 1 and --workers N, in the same run.

    python bench/bench_workers.py [--photos 100] [--workers 2] [--style apdrawinggan] [--write-doc]

Photos: the first N FS2K photos of ../shared/data (any size, one face each); without the
shared data, the two example photos repeated. Each setting runs in a fresh process on
the same folder; the wall time includes start-up (model loading in every worker).
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]


def photos(n: int) -> list[Path]:
    from apdraw.data import shared_data_dir

    folder = shared_data_dir() / "fs2k" / "train" / "photo"
    found = sorted(folder.glob("*.jpg"))[:n] if folder.is_dir() else []
    if len(found) < n:
        examples = sorted((REPO / "examples").glob("*.[jp][pn]g"))
        found += [examples[i % len(examples)] for i in range(n - len(found))]
    return found


def run(folder: Path, out: Path, workers: int, style: str) -> float:
    t0 = time.perf_counter()
    subprocess.run([sys.executable, "-m", "apdraw.cli", "draw", str(folder), "-o", str(out), "--style", style,
                    "--workers", str(workers)], check=False, capture_output=True, env=os.environ | {"TQDM_DISABLE": "1"})
    return time.perf_counter() - t0


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=100)
    ap.add_argument("--workers", type=int, default=2)
    ap.add_argument("--style", default="apdrawinggan")
    ap.add_argument("--write-doc", action="store_true")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        folder.mkdir()
        for i, p in enumerate(photos(args.photos)):
            os.symlink(p.resolve(), folder / f"{i:04d}{p.suffix}")
        one = run(folder, Path(tmp) / "w1", 1, args.style)
        many = run(folder, Path(tmp) / f"w{args.workers}", args.workers, args.style)
        same = all((Path(tmp) / "w1" / p.name).read_bytes() == p.read_bytes() for p in (Path(tmp) / f"w{args.workers}").iterdir())
        written = len(list((Path(tmp) / "w1").iterdir()))
    load = os.getloadavg()[0]
    table = "\n".join([
        f"Command: `python bench/bench_workers.py --photos {args.photos} --workers {args.workers} --style {args.style}` "
        f"({os.cpu_count()} cores; 1-min load average after: {load:.1f}). {written} drawings written, "
        f"byte-identical between the two settings: {'yes' if same else 'NO'}.",
        "",
        "| `--workers` | wall time | photos/s | speed-up |",
        "|---|---:|---:|---:|",
        f"| 1 | {one:.1f} s | {args.photos / one:.2f} | 1.00x |",
        f"| {args.workers} | {many:.1f} s | {args.photos / many:.2f} | {one / many:.2f}x |",
    ])
    print(table)
    if args.write_doc:
        from apdraw.io import write_doc_block

        write_doc_block(REPO / "docs" / "BENCHMARKS.md", "workers", table, heading="Throughput over a folder (--workers)")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
