"""Batch processing shared by the file-in, file-out commands (draw, align, parse).

One bad file never stops a batch: each failure is recorded with its reason and
listed in the summary at the end. Inputs that are not regular files (dangling
or looping symlinks, FIFOs, devices, folders named like images) are skipped,
never opened, and listed with the reason.

Output names are derived from the inputs and are unique, stable and
predictable: a file keeps its full name without the last suffix
(``john.smith.jpg`` -> ``john.smith.png``) and, inside a folder given on the
command line, its relative sub-folder. When two inputs would still write the
same file (``a.jpg`` and ``a.png``; ``pair.jpg``'s second face and an input
called ``pair_face1.jpg``; ``p.jpg``'s ``p_color.png`` and ``p_color.jpg``'s
``p_color.png``), the later input, in sorted order, gets its source suffix
added (``a_png.png``), then a number (``a~2.png``). The summary counts the
files on disk.
"""

from __future__ import annotations

import errno
import hashlib
import os
import stat
import sys
import traceback
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Callable, Iterator, Sequence

from tqdm import tqdm

from apdraw.io import IMAGE_SUFFIXES, ImageLoadError


class NoFaceError(ValueError):
    """No usable face was found in an image."""


class UsageError(ValueError):
    """A problem with the command line itself (exit status 2), found before any work."""


def not_a_regular_file(path: Path) -> str | None:
    """Why ``path`` cannot be read as an image file, or None when it is a regular file.

    Never opens the path: a FIFO would block and a device could be endless.
    """
    try:
        st = path.lstat()
    except OSError:
        return "no such file or folder"
    if stat.S_ISLNK(st.st_mode):
        try:
            st = path.stat()
        except OSError as exc:
            return "a symlink loop" if exc.errno == errno.ELOOP else "a dangling symlink (its target does not exist)"
    if stat.S_ISREG(st.st_mode):
        return None
    if stat.S_ISDIR(st.st_mode):
        return "a folder, not an image file"
    if stat.S_ISFIFO(st.st_mode):
        return "a named pipe (FIFO), not an image file"
    if stat.S_ISCHR(st.st_mode) or stat.S_ISBLK(st.st_mode):
        return "a device, not an image file"
    if stat.S_ISSOCK(st.st_mode):
        return "a socket, not an image file"
    return "not a regular file"


def collect_inputs(inputs: Sequence[str | os.PathLike]) -> tuple[list[tuple[Path, Path]], list[tuple[Path, str]]]:
    """Expand inputs into (image path, output stem) pairs, plus the skipped inputs with their reasons.

    The stem is relative and keeps the full file name without its last suffix:
    ``name`` for a file given directly, ``sub/dir/name`` for a file found under a
    folder given directly. Folders are searched recursively (symlinked folders
    are not followed); entries named like images that are not regular files are skipped.
    """
    pairs: list[tuple[Path, Path]] = []
    skipped: list[tuple[Path, str]] = []
    for item in inputs:
        p = Path(item)
        if p.is_dir():
            for q in sorted(p.rglob("*")):
                if q.suffix.lower() not in IMAGE_SUFFIXES:
                    continue
                reason = not_a_regular_file(q)
                if reason is None:
                    pairs.append((q, q.relative_to(p).with_name(q.stem)))
                elif q.is_symlink() and q.is_dir():
                    skipped.append((q, "a symlink to a folder (not followed)"))
                elif not (q.is_dir() and any(q.iterdir())):  # a non-empty folder named x.jpg is searched, not skipped
                    skipped.append((q, reason))
            continue
        reason = not_a_regular_file(p)
        if reason is None:
            pairs.append((p, Path(p.stem)))
        else:
            skipped.append((p, reason))
    return pairs, skipped


class OutputNames:
    """Claims output files for one run so that no two inputs write the same file.

    A group of files shares a base name (align writes ``B.png``, ``landmark/B.txt``, ...);
    :meth:`claim` finds the first base whose files are all free, in this order:
    the wanted base, ``base_<source suffix>``, ``base~2``, ``base~3``, ...
    """

    def __init__(self, out_dir: Path):
        self.out_dir = out_dir
        self.claimed: list[Path] = []
        self._taken: set[str] = set()

    def claim(self, stem: Path, patterns: Sequence[str], source: Path | None = None) -> list[Path]:
        """The output paths of one item.

        Args:
            stem: relative output stem, e.g. ``sub/photo`` or ``sub/photo_face1``.
            patterns: file names relative to the stem's folder with ``{}`` for the base
                name, e.g. ``["{}.png"]`` or ``["{}.png", "{}_color.png"]``.
            source: the input file (its suffix is the first disambiguator).
        """
        folder, base = stem.parent, stem.name
        candidates = [base]
        if source is not None and source.suffix:
            candidates.append(f"{base}_{source.suffix.lstrip('.').lower()}")
        n = 2
        while True:
            for cand in candidates:
                cand = _fit_name(cand, patterns)
                paths = [self.out_dir / folder / pat.format(cand) for pat in patterns]
                keys = {os.path.normcase(str(p)) for p in paths}
                if not keys & self._taken and len(keys) == len(paths):
                    self._taken |= keys
                    self.claimed.extend(paths)
                    return paths
            candidates, n = [f"{base}~{n}"], n + 1

    def on_disk(self) -> int:
        """How many claimed files exist now."""
        return sum(_is_file(p) for p in dict.fromkeys(self.claimed))


def _is_file(path: Path) -> bool:
    try:
        return path.is_file()
    except OSError:
        return False


# File systems limit a name to 255 bytes.
_NAME_BYTES = 255


def _fit_name(base: str, patterns: Sequence[str]) -> str:
    """``base`` unchanged when every ``pattern.format(base)`` fits in 255 bytes; else cut, plus a hash of the whole."""
    overhead = max(len(os.fsencode(Path(pat.format("")).name)) for pat in patterns)
    if len(os.fsencode(base)) + overhead <= _NAME_BYTES:
        return base
    digest = hashlib.sha1(os.fsencode(base)).hexdigest()[:8]
    keep = os.fsencode(base)[: _NAME_BYTES - overhead - len(digest) - 1]
    return keep.decode("utf-8", "ignore") + "~" + digest


@dataclass
class BatchReport:
    done: list[Path] = field(default_factory=list)
    failed: list[tuple[Path, str]] = field(default_factory=list)
    skipped: list[tuple[Path, str]] = field(default_factory=list)
    outputs: int = 0  # files on disk at the end

    @property
    def exit_code(self) -> int:
        return 1 if self.failed or self.skipped else 0

    def summary(self, verb: str) -> str:
        total = len(self.done) + len(self.failed) + len(self.skipped)
        lines = [f"{verb} {len(self.done)} of {total} inputs ({self.outputs} files written)"]
        if self.failed:
            lines.append(f"{len(self.failed)} failed:")
            lines += [f"  {p}: {reason}" for p, reason in self.failed]
        if self.skipped:
            lines.append(f"{len(self.skipped)} skipped:")
            lines += [f"  {p}: {reason}" for p, reason in self.skipped]
        return "\n".join(lines)


def check_out_dir(out_dir: Path) -> None:
    """Refuse an output folder that is a file (or lies under one, or cannot be written), before any work.

    Nothing is created here; :func:`run_batch` creates the folder.

    Raises:
        UsageError: with the reason.
    """
    for folder in (out_dir, *out_dir.parents):
        if folder.exists():
            if not folder.is_dir():
                raise UsageError(f"the output folder {out_dir} is a file" if folder == out_dir
                                 else f"the output folder {out_dir} lies under {folder}, which is a file")
            if not os.access(folder, os.W_OK | os.X_OK):
                raise UsageError(f"the output folder {out_dir} cannot be written ({folder} is not writable)")
            return


def _guarded(compute: Callable[[Path], Any], path: Path) -> tuple[bool, Any]:
    """``(True, compute(path))``, or ``(False, exception)``; unexpected exceptions become an "internal error" with the traceback."""
    try:
        return True, compute(path)
    except (ImageLoadError, NoFaceError, FileNotFoundError) as exc:
        return False, exc
    except MemoryError:
        return False, MemoryError("out of memory while processing this image")
    except Exception as exc:  # noqa: BLE001 - reported as an internal error by the parent
        return False, RuntimeError(f"internal error {type(exc).__name__}: {exc}\n{traceback.format_exc()}")


def _results(compute: Callable[[Path], Any], paths: list[Path], workers: int,
             initializer: Callable[..., None] | None, initargs: tuple) -> Iterator[tuple[bool, Any]]:
    """``_guarded(compute, path)`` for every path, in order; in ``workers`` threads when > 1.

    Threads, not processes: the networks, MediaPipe, OpenCV and numpy release the GIL
    while they work, and threads share the start-up (measured on 2 cores, 60 FS2K photos:
    2 threads 1.79x one, 2 spawned processes 1.40x). At most 2 x workers photos are in
    flight, so memory stays bounded on any number of inputs.
    """
    if workers <= 1 or len(paths) <= 1:
        if initializer is not None:
            initializer(*initargs)
        for path in paths:
            yield _guarded(compute, path)
        return
    from collections import deque
    from concurrent.futures import ThreadPoolExecutor

    with ThreadPoolExecutor(min(workers, len(paths)), initializer=initializer, initargs=initargs) as pool:
        pending: deque = deque()
        todo = iter(paths)
        for path in todo:
            pending.append(pool.submit(_guarded, compute, path))
            if len(pending) >= 2 * workers:
                break
        while pending:
            result = pending.popleft().result()
            nxt = next(todo, None)
            if nxt is not None:
                pending.append(pool.submit(_guarded, compute, nxt))
            yield result


def run_batch(
    inputs: Sequence[str],
    out_dir: Path,
    process: Callable[..., None],
    desc: str,
    verb: str = "processed",
    compute: Callable[[Path], Any] | None = None,
    workers: int = 1,
    initializer: Callable[..., None] | None = None,
    initargs: tuple = (),
) -> BatchReport:
    """Call ``process(image_path, output_stem, names)`` for every input image.

    ``process`` claims its output paths from ``names`` and writes them. Expected
    problems (unreadable image, no face, ...) are recorded as failures with their
    message; unexpected exceptions too, with the exception type, so that one bad
    file never loses the rest of the batch. Prints the summary to stderr.

    With ``compute``, each input's heavy work ``compute(path) -> result`` runs
    first, in ``workers`` threads when > 1 (each set up once by
    ``initializer(*initargs)``, e.g. to build its own models), and
    ``process(path, stem, names, result)`` writes the outputs in this thread, in
    input order: the output names are the same whatever the number of workers.

    Raises:
        UsageError: the output folder is a file or cannot be created (nothing was done).
    """
    check_out_dir(out_dir)
    try:
        out_dir.mkdir(parents=True, exist_ok=True)
    except OSError as exc:
        raise UsageError(f"cannot create the output folder {out_dir}: {exc.strerror or exc}") from None
    pairs, skipped = collect_inputs(inputs)
    names = OutputNames(out_dir)
    report = BatchReport(skipped=skipped)
    results = _results(compute, [p for p, _ in pairs], workers, initializer, initargs) if compute else None
    for path, stem in tqdm(pairs, desc=desc, unit="img", dynamic_ncols=True, disable=None):
        try:
            if results is None:
                process(path, stem, names)
            else:
                ok, result = next(results)
                if not ok:
                    raise result
                process(path, stem, names, result)
            report.done.append(path)
        except (ImageLoadError, NoFaceError, FileNotFoundError) as exc:
            report.failed.append((path, str(exc).removeprefix(f"{path}: ")))
        except MemoryError:
            report.failed.append((path, "out of memory while processing this image"))
        except RuntimeError as exc:
            if str(exc).startswith("internal error"):  # from _guarded: the traceback is in the message
                message, _, trace = str(exc).partition("\n")
                report.failed.append((path, message))
                print(trace, file=sys.stderr)
            else:
                report.failed.append((path, f"internal error RuntimeError: {exc}"))
                traceback.print_exc(file=sys.stderr)
        except Exception as exc:  # noqa: BLE001 - keep the batch going; report the bug
            report.failed.append((path, f"internal error {type(exc).__name__}: {exc}"))
            traceback.print_exc(file=sys.stderr)
    report.outputs = names.on_disk()
    print(report.summary(verb), file=sys.stderr)
    return report


def run_command(command: str, inputs: Sequence[str], out_dir: Path, process: Callable[..., None], desc: str,
                verb: str, **parallel: Any) -> int:
    """:func:`run_batch` for a CLI command: its exit status (0 all done, 1 some failed or skipped, 2 usage error).

    ``parallel``: run_batch's ``compute``, ``workers``, ``initializer``, ``initargs``.
    """
    try:
        report = run_batch(inputs, out_dir, process, desc=desc, verb=verb, **parallel)
    except UsageError as exc:
        print(f"apdraw {command}: {exc}", file=sys.stderr)
        return 2
    if not report.done and not report.failed and not report.skipped:
        print(f"apdraw {command}: no images found in the inputs", file=sys.stderr)
        return 2
    return report.exit_code
