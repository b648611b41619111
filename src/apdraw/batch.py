"""Batch processing shared by the file-in, file-out commands (draw, align, parse).

One bad file never stops a batch: each failure is recorded with its reason and
listed in the summary at the end. Output names are derived from the inputs:
a file inside a folder given on the command line keeps its path relative to
that folder, so ``a/x.jpg`` and ``b/x.jpg`` never overwrite each other.
"""

from __future__ import annotations

import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Sequence

from tqdm import tqdm

from apdraw.io import IMAGE_SUFFIXES, ImageLoadError


class NoFaceError(ValueError):
    """No face was found in an image."""


@dataclass
class BatchReport:
    done: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    outputs: int = 0

    @property
    def exit_code(self) -> int:
        return 1 if self.failed else 0

    def summary(self, verb: str) -> str:
        lines = [f"{verb} {len(self.done)} of {len(self.done) + len(self.failed)} inputs ({self.outputs} files written)"]
        if self.failed:
            lines.append(f"{len(self.failed)} failed:")
            lines += [f"  {p}: {reason}" for p, reason in self.failed]
        return "\n".join(lines)


def collect_inputs(inputs: Sequence[str]) -> tuple[list[tuple[Path, Path]], list[Path]]:
    """Expand inputs into (image path, output stem) pairs, plus the inputs that do not exist.

    The stem is relative (no suffix): ``name`` for a file given directly,
    ``sub/dir/name`` for a file found under a folder given directly.
    Stems are made unique by appending the source suffix when two inputs collide.
    """
    pairs: list[tuple[Path, Path]] = []
    missing: list[Path] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            files = sorted(q for q in p.rglob("*") if q.is_file() and q.suffix.lower() in IMAGE_SUFFIXES)
            pairs += [(q, q.relative_to(p).with_suffix("")) for q in files]
        elif p.is_file():
            pairs.append((p, Path(p.stem)))
        else:
            missing.append(p)
    seen: set[Path] = set()
    unique = []
    for path, stem in pairs:
        if stem in seen:
            stem = stem.with_name(f"{stem.name}_{path.suffix.lstrip('.').lower()}")
        n = 2
        base = stem
        while stem in seen:
            stem, n = base.with_name(f"{base.name}_{n}"), n + 1
        seen.add(stem)
        unique.append((path, stem))
    return unique, missing


def run_batch(
    inputs: Sequence[str],
    process: Callable[[Path, Path], int],
    desc: str,
    verb: str = "processed",
) -> BatchReport:
    """Call ``process(image_path, output_stem) -> files written`` for every input image.

    Expected problems (unreadable image, no face, ...) are recorded as failures with
    their message; unexpected exceptions too, with the exception type, so that one
    bad file never loses the rest of the batch. Prints the summary to stderr.
    """
    pairs, missing = collect_inputs(inputs)
    report = BatchReport(failed=[(m, "no such file or folder") for m in missing])
    for path, stem in tqdm(pairs, desc=desc, unit="img", dynamic_ncols=True, disable=None):
        try:
            report.outputs += process(path, stem)
            report.done.append(path)
        except (ImageLoadError, NoFaceError, FileNotFoundError) as exc:
            report.failed.append((path, str(exc).removeprefix(f"{path}: ")))
        except Exception as exc:  # noqa: BLE001 - keep the batch going; report the bug
            report.failed.append((path, f"internal error {type(exc).__name__}: {exc}"))
            traceback.print_exc(file=sys.stderr)
    print(report.summary(verb), file=sys.stderr)
    return report
