"""Train/validation splits that are pure functions of the item names.

One rule for the paired drawing data (FS2K, CUFS, APDrawingDB, folders): an item
is validation when the first 8 bytes of SHA-256(name), read as a fraction of
2**64, fall below ``val_fraction`` (:func:`is_validation`). The assignment does
not depend on which other files exist, on a style filter or on the order of
listing, and adding items never moves an existing one. The validation share is
``val_fraction`` in expectation, not exactly. The shipped APDrawingGAN's
validation pairs (FS2K sketch type 0, 0.15) are the 50 names this rule gives.

The face parser's CelebAMask-HQ-mini split (:func:`smallest_hash`, a fixed
count of 100 by SHA-1 rank) is kept as it was: the shipped parser was trained
on its complement, and its model card's IoU is measured on it.
"""

from __future__ import annotations

import hashlib
from typing import Iterable, Literal, TypeVar

T = TypeVar("T")
Part = Literal["train", "val", "all"]


def name_fraction(name: str) -> float:
    """SHA-256 of ``name`` as a number in [0, 1)."""
    return int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") / 2.0**64


def is_validation(name: str, val_fraction: float = 0.15) -> bool:
    """True when item ``name`` belongs to the validation part."""
    return name_fraction(name) < val_fraction


def select(items: Iterable[T], names: Iterable[str], val_fraction: float, part: Part) -> list[T]:
    """The items of ``part`` ("train", "val" or "all"), in their given order; ``names`` parallels ``items``."""
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    pairs = list(zip(items, names))
    if part == "all":
        return [item for item, _ in pairs]
    return [item for item, name in pairs if is_validation(name, val_fraction) == (part == "val")]


def smallest_hash(names: list[str], n: int) -> tuple[list[str], list[str]]:
    """(rest, held out): the ``n`` names with the smallest SHA-1 hex digest are held out (the parser's split)."""
    ranked = sorted(names, key=lambda s: hashlib.sha1(s.encode()).hexdigest())
    held = set(ranked[:n])
    return [i for i in names if i not in held], [i for i in names if i in held]
