"""FS2K pairs (photo -> sketch, three drawing styles) and the project's fixed train/validation split.

Layout (the shared data folder, see ``shared/data/README.md``)::

    <root>/fs2k/train/anno.json        one row per pair: name, style, attributes...
    <root>/fs2k/train/photo/NAME.jpg
    <root>/fs2k/train/sketch/NAME.jpg

Styles: 0 = clean line drawing, 1 = line drawing with shaded hair, 2 = textured pencil.

The official FS2K test split is not available, so apdraw holds out part of the
train split. :func:`fs2k_split` assigns each pair by its name alone: a pair is
validation when the first 8 bytes of SHA-256(name), read as a fraction of
2**64, fall below ``val_fraction``. The assignment is therefore the same
whatever the style filter or the set of other files, and adding pairs never
moves an existing one. The validation share is ``val_fraction`` in expectation,
not exactly.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

STYLES = {0: "clean line drawing", 1: "line drawing with shaded hair", 2: "textured pencil"}
_SUFFIXES = (".jpg", ".jpeg", ".png")


@dataclass(frozen=True)
class FS2KRecord:
    """One FS2K pair on disk."""

    name: str  # e.g. "p1_0110": subset 1, index 0110
    style: int  # 0, 1 or 2 (see STYLES)
    photo: Path
    sketch: Path
    attributes: dict[str, Any] = field(default_factory=dict, compare=False, hash=False)  # the other anno.json fields


def fs2k_dir(root: str | Path) -> Path:
    """The folder holding anno.json: `root` itself, or ``root/fs2k/train``.

    Raises:
        FileNotFoundError: neither holds anno.json.
    """
    root = Path(root)
    for cand in (root, root / "fs2k" / "train"):
        if (cand / "anno.json").is_file():
            return cand
    raise FileNotFoundError(f"{root}: no FS2K anno.json here or in {root / 'fs2k' / 'train'}")


def _find(folder: Path, name: str) -> Path | None:
    for suffix in _SUFFIXES:
        p = folder / f"{name}{suffix}"
        if p.is_file():
            return p
    return None


def fs2k_records(root: str | Path, style: int | None = None) -> list[FS2KRecord]:
    """All FS2K pairs, sorted by name; only drawing `style` when given.

    Raises:
        FileNotFoundError: anno.json missing, or a listed pair lacks its photo or sketch file.
        ValueError: `style` is not 0, 1 or 2.
    """
    if style is not None and style not in STYLES:
        raise ValueError(f"FS2K style must be one of {sorted(STYLES)}, got {style!r}")
    base = fs2k_dir(root)
    rows = json.loads((base / "anno.json").read_text())
    records, missing = [], []
    for row in rows:
        if style is not None and int(row["style"]) != style:
            continue
        name = str(row["name"])
        photo, sketch = _find(base / "photo", name), _find(base / "sketch", name)
        if photo is None or sketch is None:
            missing.append(name)
            continue
        attrs = {k: v for k, v in row.items() if k not in ("name", "style")}
        records.append(FS2KRecord(name, int(row["style"]), photo, sketch, attrs))
    if missing:
        raise FileNotFoundError(
            f"{base}: {len(missing)} pair(s) in anno.json lack photo/ or sketch/ files, e.g. {missing[:3]}"
        )
    return sorted(records, key=lambda r: r.name)


def is_validation(name: str, val_fraction: float = 0.15) -> bool:
    """True when pair `name` belongs to the validation part (SHA-256 rule, see the module doc)."""
    u = int.from_bytes(hashlib.sha256(name.encode("utf-8")).digest()[:8], "big") / 2.0**64
    return u < val_fraction


def fs2k_split(root: str | Path, style: int | None = None,
               val_fraction: float = 0.15) -> tuple[list[FS2KRecord], list[FS2KRecord]]:
    """(train, validation) FS2K records, each sorted by name.

    Args:
        root: the shared data folder (or the ``fs2k/train`` folder itself).
        style: keep only this drawing style (0, 1, 2); None keeps all.
        val_fraction: expected validation share, in [0, 1].
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    records = fs2k_records(root, style)
    val = [r for r in records if is_validation(r.name, val_fraction)]
    train = [r for r in records if not is_validation(r.name, val_fraction)]
    return train, val
