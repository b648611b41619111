"""FS2K pairs (photo -> sketch, three sketch types) and the project's fixed train/validation split.

Layout (the shared data folder, see ``shared/data/README.md``)::

    <root>/fs2k/train/anno.json        one row per pair: name, style, attributes...
    <root>/fs2k/train/photo/NAME.jpg
    <root>/fs2k/train/sketch/NAME.jpg

FS2K labels each drawing with what it calls a "style"; apdraw calls that label
the **sketch type** (``sketch_type``), so that "style" keeps one meaning: the
drawing method of ``apdraw draw --style``. Sketch types: 0 = clean line
drawing, 1 = line drawing with shaded hair, 2 = textured pencil.

The official FS2K test split is not available, so apdraw holds out part of the
train split with the rule of :mod:`apdraw.data.split` (SHA-256 of the name
below ``val_fraction``).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from apdraw.data.split import is_validation, select
from apdraw.io import IMAGE_SUFFIXES

SKETCH_TYPES = {0: "clean line drawing", 1: "line drawing with shaded hair", 2: "textured pencil"}


@dataclass(frozen=True)
class FS2KRecord:
    """One FS2K pair on disk."""

    name: str  # e.g. "p1_0110": subset 1, index 0110
    sketch_type: int  # 0, 1 or 2 (see SKETCH_TYPES); FS2K's "style" field
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
    for suffix in IMAGE_SUFFIXES:
        p = folder / f"{name}{suffix}"
        if p.is_file():
            return p
    return None


def fs2k_records(root: str | Path, sketch_type: int | None = None) -> list[FS2KRecord]:
    """All FS2K pairs, sorted by name; only ``sketch_type`` when given.

    Raises:
        FileNotFoundError: anno.json missing, or a listed pair lacks its photo or sketch file.
        ValueError: ``sketch_type`` is not 0, 1 or 2.
    """
    if sketch_type is not None and sketch_type not in SKETCH_TYPES:
        raise ValueError(f"FS2K sketch type must be one of {sorted(SKETCH_TYPES)}, got {sketch_type!r}")
    base = fs2k_dir(root)
    rows = json.loads((base / "anno.json").read_text())
    records, missing = [], []
    for row in rows:
        if sketch_type is not None and int(row["style"]) != sketch_type:
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


def fs2k_split(root: str | Path, sketch_type: int | None = None,
               val_fraction: float = 0.15) -> tuple[list[FS2KRecord], list[FS2KRecord]]:
    """(train, validation) FS2K records, each sorted by name.

    Args:
        root: the shared data folder (or the ``fs2k/train`` folder itself).
        sketch_type: keep only this sketch type (0, 1, 2); None keeps all.
        val_fraction: expected validation share, in [0, 1].
    """
    if not 0.0 <= val_fraction <= 1.0:
        raise ValueError(f"val_fraction must be in [0, 1], got {val_fraction}")
    records = fs2k_records(root, sketch_type)
    names = [r.name for r in records]
    return select(records, names, val_fraction, "train"), select(records, names, val_fraction, "val")


__all__ = ["SKETCH_TYPES", "FS2KRecord", "fs2k_dir", "fs2k_records", "fs2k_split", "is_validation"]
