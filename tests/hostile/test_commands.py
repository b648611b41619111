"""apdraw's commands against the hostile corpus (corpus.py).

For each of ``draw``, ``align``, ``parse`` and ``eval``, run in a subprocess on a
folder of hostile files, this asserts: no traceback and no "internal error"; the
documented exit code (0 all done, 1 some inputs failed or were skipped, 2 usage
error); every bad file named in the summary with a reason matching its case;
the files on disk equal the reported count; the peak memory of the whole run
stays under :data:`MEMORY_CAP_MB`. Name collisions never overwrite an output.

The default run uses the fast subset (make test); ``APDRAW_HOSTILE_FULL=1``
(``make test-hostile-full``) runs the whole corpus, several hundred files.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from pathlib import Path

import pytest

from .corpus import Case, collision_groups, write_corpus

FULL = os.environ.get("APDRAW_HOSTILE_FULL") == "1"
# Documented in docs/RELIABILITY.md: the peak resident memory of one command on any
# input under the default pixel limit (64 megapixels).
MEMORY_CAP_MB = 1536

# The CLI in a child process that reports its own peak RSS on its last stdout line.
_RUNNER = (
    "import resource, sys\n"
    "from apdraw.cli import main\n"
    "try:\n"
    "    code = main(sys.argv[1:])\n"
    "except SystemExit as exc:\n"
    "    code = exc.code\n"
    "print(f'PEAK_KB={resource.getrusage(resource.RUSAGE_SELF).ru_maxrss}')\n"
    "sys.exit(code)\n"
)


def run_cli(args: list[str], timeout: float) -> tuple[int, str, float]:
    """(exit code, stderr, peak RSS in MB) of ``apdraw ARGS`` in a fresh process."""
    proc = subprocess.run([sys.executable, "-c", _RUNNER, *args], capture_output=True, timeout=timeout,
                          env=os.environ | {"TQDM_DISABLE": "1"})
    stdout = proc.stdout.decode("utf-8", "surrogateescape")
    stderr = proc.stderr.decode("utf-8", "surrogateescape")
    peak = re.findall(r"PEAK_KB=(\d+)", stdout)
    assert peak, f"no peak memory reported; stderr:\n{stderr[-2000:]}"
    return proc.returncode, stderr, int(peak[-1]) / 1024


def summary(stderr: str, folder: Path) -> tuple[int, int, dict[str, str], dict[str, str]]:
    """(inputs done, files written, failed name -> reason, skipped name -> reason) from a batch summary."""
    m = re.search(r"^\w+ (\d+) of \d+ inputs \((\d+) files written\)$", stderr, re.M)
    assert m, f"no summary line in:\n{stderr[-3000:]}"
    sections: dict[str, dict[str, str]] = {"failed": {}, "skipped": {}}
    current = None
    prefix = f"  {folder}{os.sep}"
    for line in stderr[m.end():].splitlines():
        head = re.match(r"^\d+ (failed|skipped):$", line)
        if head:
            current = head.group(1)
        elif current and line.startswith(prefix):
            name, _, reason = line[len(prefix):].partition(": ")
            sections[current][name] = reason
    return int(m.group(1)), int(m.group(2)), sections["failed"], sections["skipped"]


def files_on_disk(folder: Path) -> int:
    return sum(1 for p in folder.rglob("*") if p.is_file())


def assert_clean(stderr: str) -> None:
    assert "Traceback" not in stderr, stderr[-3000:]
    assert "internal error" not in stderr, stderr[-3000:]


def check_case(case: Case, failed: dict[str, str], skipped: dict[str, str], expect: str) -> str | None:
    """None when the outcome of ``case`` matches ``expect``, else what went wrong."""
    name = case.name.rstrip("/")
    if expect == "skipped":
        if name not in skipped:
            return f"{name}: expected skipped ({case.reason}), got {'failed: ' + failed[name] if name in failed else 'done'}"
        return None if re.search(case.reason, skipped[name], re.I) else f"{name}: skip reason {skipped[name]!r} !~ {case.reason}"
    if expect == "failed":
        if name not in failed:
            return f"{name}: expected failed ({case.reason}), got {'skipped' if name in skipped else 'done'}"
        return None if re.search(case.reason, failed[name], re.I) else f"{name}: reason {failed[name]!r} !~ {case.reason}"
    if expect == "drawn":
        if name in failed or name in skipped:
            return f"{name}: expected output, got {failed.get(name) or skipped.get(name)!r}"
        return None
    # "any": done, or failed/skipped with a reason
    reason = failed.get(name, skipped.get(name, "ok"))
    return None if reason.strip() else f"{name}: empty reason"


@pytest.fixture(scope="module")
def corpus(tmp_path_factory) -> tuple[Path, list[Case]]:
    folder = tmp_path_factory.mktemp("hostile") / "in"
    return folder, write_corpus(folder, full=FULL)


# The face-finding commands share the cases' expectations.
@pytest.mark.parametrize("command", ["draw", "align"])
def test_face_commands_on_the_corpus(command, corpus, tmp_path):
    folder, cases = corpus
    out = tmp_path / "out"
    extra = ["--faces", "all"] if command == "draw" else []
    code, stderr, peak = run_cli([command, str(folder), "-o", str(out), *extra], timeout=1800 if FULL else 240)
    assert_clean(stderr)
    assert code == 1, stderr[-2000:]  # some inputs are bad by construction
    done, written, failed, skipped = summary(stderr, folder)
    problems = [p for c in cases if (p := check_case(c, failed, skipped, c.expect))]
    assert not problems, "\n".join(problems)
    assert written == files_on_disk(out) and done > 0
    assert peak <= MEMORY_CAP_MB, f"peak {peak:.0f} MB"


def test_parse_on_the_corpus(corpus, tmp_path):
    """parse needs no face: files that decode are parsed, files that do not are named with the reason."""
    folder, cases = corpus
    out = tmp_path / "out"
    code, stderr, peak = run_cli(["parse", str(folder), "-o", str(out)], timeout=1800 if FULL else 240)
    assert_clean(stderr)
    assert code == 1
    done, written, failed, skipped = summary(stderr, folder)
    problems = []
    for c in cases:
        # parse must fail exactly where decoding fails; "no face" is not its business
        decode_failure = c.expect == "failed" and "no face" not in c.reason
        expect = c.expect if c.expect == "skipped" or decode_failure else "any"
        if (p := check_case(c, failed, skipped, expect)):
            problems.append(p)
    assert not problems, "\n".join(problems)
    assert written == files_on_disk(out)
    assert peak <= MEMORY_CAP_MB, f"peak {peak:.0f} MB"


def test_eval_on_the_corpus(corpus, tmp_path):
    """eval pairs files by name: the raw corpus (``animated.gif`` and ``animated.webp``...) is a usage
    error; one file per name is scored against itself, unreadable files skipped and reported (exit 1)."""
    folder, cases = corpus
    timeout = 1800 if FULL else 240
    code, stderr, _ = run_cli(["eval", "--pred", str(folder), "--ref", str(folder), "-o", str(tmp_path / "r0"),
                               "--metrics", "chamfer", "--no-progress"], timeout=timeout)
    assert_clean(stderr)
    assert code == 2 and "have the same name" in stderr
    unique = tmp_path / "unique"
    unique.mkdir()
    seen = set()
    for c in cases:
        src = folder / c.name
        key = src.with_suffix("").name
        if key in seen or c.kind == "special" or not src.is_file() or src.is_symlink():
            continue
        seen.add(key)
        os.link(src, unique / c.name)
    code, stderr, peak = run_cli(["eval", "--pred", str(unique), "--ref", str(unique), "--metrics", "chamfer,ssim",
                                  "-o", str(tmp_path / "report"), "--no-progress"], timeout=timeout)
    assert_clean(stderr)
    assert code == 1 and "unreadable image(s) were skipped" in stderr
    assert (tmp_path / "report" / "index.html").is_file()
    assert peak <= MEMORY_CAP_MB, f"peak {peak:.0f} MB"


@pytest.mark.parametrize("group", collision_groups(FULL), ids=lambda g: "+".join(g[2]))
def test_colliding_names_never_overwrite(group, tmp_path):
    command, options, names = group
    folder = tmp_path / "in"
    by_name = {c.name: c for c in write_corpus(tmp_path / "all", full=FULL)}
    folder.mkdir()
    for name in names:
        (folder / name).write_bytes((tmp_path / "all" / name).read_bytes())
        assert by_name[name].expect == "drawn"
    out = tmp_path / "out"
    code, stderr, _ = run_cli([command, str(folder), "-o", str(out), *options], timeout=240)
    assert_clean(stderr)
    assert code == 0, stderr[-2000:]
    done, written, failed, skipped = summary(stderr, folder)
    per_input = 2 if command == "parse" else 1
    assert done == len(names) and written == files_on_disk(out) >= per_input * len(names)
