"""Run the hostile-input corpus through every command and tabulate what happened.

    python scripts/hostile_report.py [--full] [--write-doc]

For each of draw, align, parse and eval: the exit code, inputs done / failed /
skipped, files written, tracebacks, wall time and the peak resident memory of
the process (the same measurement as tests/hostile/test_commands.py). With
``--write-doc`` the table replaces the ``hostile`` block of docs/RELIABILITY.md.
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
sys.path.insert(0, str(REPO / "tests"))

from hostile.corpus import write_corpus  # noqa: E402
from hostile.test_commands import run_cli, summary  # noqa: E402


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--full", action="store_true", help="the whole corpus (default: the make-test subset)")
    ap.add_argument("--write-doc", action="store_true", help="write the table into docs/RELIABILITY.md")
    args = ap.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        folder = Path(tmp) / "in"
        cases = write_corpus(folder, full=args.full)
        unique = Path(tmp) / "unique"  # eval pairs by name: one file per name
        unique.mkdir()
        seen = set()
        for c in cases:
            src = folder / c.name
            if c.kind != "special" and src.is_file() and not src.is_symlink() and src.with_suffix("").name not in seen:
                seen.add(src.with_suffix("").name)
                os.link(src, unique / c.name)
        runs = {
            "draw --faces all": ["draw", str(folder), "-o", f"{tmp}/draw", "--faces", "all"],
            "align": ["align", str(folder), "-o", f"{tmp}/align"],
            "parse": ["parse", str(folder), "-o", f"{tmp}/parse"],
            "eval (one file per name)": ["eval", "--pred", str(unique), "--ref", str(unique), "--metrics", "chamfer,ssim",
                                         "-o", f"{tmp}/eval", "--no-progress"],
        }
        rows = []
        for label, argv in runs.items():
            t0 = time.perf_counter()
            code, stderr, peak = run_cli(argv, timeout=3600)
            seconds = time.perf_counter() - t0
            tracebacks = stderr.count("Traceback") + stderr.count("internal error")
            if argv[0] == "eval":
                skipped = stderr.count("skipping unreadable image")
                counts = f"{len(seen) - skipped} scored, {skipped} skipped as unreadable"
            else:
                done, written, failed, skip = summary(stderr, folder)
                counts = f"{done} done, {len(failed)} failed, {len(skip)} skipped; {written} files written"
            rows.append(f"| `apdraw {label}` | {code} | {counts} | {tracebacks} | {seconds:.0f} s | {peak:.0f} MB |")
            print(rows[-1], flush=True)
    table = "\n".join([
        f"Corpus: {'full' if args.full else 'subset'}, {len(cases)} entries. "
        f"Command: `python scripts/hostile_report.py{' --full' if args.full else ''}` (2-core CPU).",
        "",
        "| command | exit | inputs | tracebacks | time | peak memory |",
        "|---|---|---|---|---|---|",
        *rows,
    ])
    if args.write_doc:
        from apdraw.io import write_doc_block

        write_doc_block(REPO / "docs" / "RELIABILITY.md", "hostile" + ("-full" if args.full else ""), table,
                        heading="Figures from the suite" + (" (full corpus)" if args.full else ""))
    print(table)
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
