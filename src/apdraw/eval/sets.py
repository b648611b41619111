"""Image folders as keyed sets: listing, pairing by name, deterministic subsets and halves.

An image's key is its path relative to the folder, without the suffix
(``sub/p1_0110`` for ``DIR/sub/p1_0110.png``), so predictions and references
pair by file name regardless of format.

Every subset the suite takes is a pure function of the keys: keys are ordered by
the SHA-1 of their text, and the first N are taken; the real-vs-real halves are
the first and second half of that order. No run-time randomness is involved.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from pathlib import Path

from apdraw.io import IMAGE_SUFFIXES


class EvalInputError(ValueError):
    """The evaluation inputs are unusable (missing/empty folder, unmatched names...). The message says why."""


@dataclass(frozen=True)
class ImageSet:
    """A folder of images, keyed by relative path without suffix."""

    name: str
    root: Path
    paths: dict[str, Path]

    def __len__(self) -> int:
        return len(self.paths)

    def keys(self) -> list[str]:
        return sorted(self.paths)


def image_set(folder: str | Path, name: str | None = None) -> ImageSet:
    """List the images under `folder` (recursively).

    Raises:
        EvalInputError: the folder does not exist, holds no image, or two files share a key.
    """
    root = Path(folder)
    if not root.is_dir():
        raise EvalInputError(f"{root}: no such folder")
    paths: dict[str, Path] = {}
    for p in sorted(root.rglob("*")):
        if not (p.is_file() and p.suffix.lower() in IMAGE_SUFFIXES):
            continue
        # File names that are not valid UTF-8 get a printable key ("caf\\xe9"), the same in every folder.
        key = p.relative_to(root).with_suffix("").as_posix().encode("utf-8", "surrogateescape").decode("utf-8", "backslashreplace")
        if key in paths:
            raise EvalInputError(f"{root}: {paths[key].name} and {p.name} have the same name; keep one of them")
        paths[key] = p
    if not paths:
        raise EvalInputError(f"{root}: no images ({', '.join(IMAGE_SUFFIXES)}) in this folder")
    return ImageSet(name or root.name, root, paths)


def _examples(keys: list[str], n: int = 5) -> str:
    more = f" and {len(keys) - n} more" if len(keys) > n else ""
    return ", ".join(keys[:n]) + more


def match_keys(pred: ImageSet, ref: ImageSet, allow_unmatched: bool = False) -> list[str]:
    """Keys present in both sets, sorted.

    Raises:
        EvalInputError: no key in common; or, unless `allow_unmatched`, a prediction
            without a reference (references without a prediction are fine: a method
            may have been run on a subset).
    """
    common = sorted(set(pred.paths) & set(ref.paths))
    if not common:
        raise EvalInputError(
            f"no file name of {pred.root} ({_examples(pred.keys())}) matches one of {ref.root} "
            f"({_examples(ref.keys())}); predictions pair with references by name"
        )
    orphans = sorted(set(pred.paths) - set(ref.paths))
    if orphans and not allow_unmatched:
        raise EvalInputError(
            f"{len(orphans)} image(s) of {pred.root} have no reference of the same name in {ref.root}: "
            f"{_examples(orphans)} (use --allow-unmatched to evaluate only the {len(common)} matched pairs)"
        )
    return common


def _hash_order(keys: list[str]) -> list[str]:
    return sorted(keys, key=lambda k: (hashlib.sha1(k.encode()).hexdigest(), k))


def subsample(keys: list[str], n: int) -> list[str]:
    """The first `n` keys in SHA-1 order (all when fewer), returned sorted."""
    return sorted(_hash_order(keys)[:n])


def halves(keys: list[str]) -> tuple[list[str], list[str]]:
    """Two disjoint halves of equal size (one key dropped when odd), each sorted."""
    order = _hash_order(keys)
    h = len(order) // 2
    return sorted(order[:h]), sorted(order[h:2 * h])
