"""Drawing styles: the registry behind ``apdraw draw --style``.

A style turns aligned faces (:class:`apdraw.face.Face`, 512² APDrawing frame)
into drawings of the same frame, (512, 512) uint8 with 255 = paper, 0 = ink.
Learned styles load their weights once, when the drawer is built.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING, Callable

import numpy as np

if TYPE_CHECKING:
    from apdraw.face import Face

Drawer = Callable[[list["Face"]], list[np.ndarray]]


def _npr(weights: Path | None) -> Drawer:
    from apdraw.npr import NPRInput, draw_batch

    if weights is not None:
        raise ValueError("style 'npr' is not learned; it takes no --weights")

    def draw(faces: list["Face"]) -> list[np.ndarray]:
        return draw_batch([NPRInput.from_face(f) for f in faces])

    return draw


def _apdrawinggan(weights: Path | None) -> Drawer:
    from apdraw.models.apdrawinggan import APDrawingGAN, draw_aligned

    model = APDrawingGAN.from_pretrained(weights)

    def draw(faces: list["Face"]) -> list[np.ndarray]:
        return draw_aligned(model, faces)

    return draw


# name -> (factory, one-line description). The first entry is the default style.
STYLES: dict[str, tuple[Callable[[Path | None], Drawer], str]] = {
    "apdrawinggan": (_apdrawinggan, "learned APDrawingGAN pencil line drawing (shipped weights: FS2K style 0)"),
    "npr": (_npr, "classical pen drawing (no learned weights)"),
}

DEFAULT_STYLE = next(iter(STYLES))


def get_drawer(style: str, weights: str | Path | None = None) -> Drawer:
    """Build the drawer for ``style`` (loading ``weights`` or the shipped ones)."""
    if style not in STYLES:
        raise ValueError(f"unknown style {style!r}; choose from {', '.join(STYLES)}")
    factory, _ = STYLES[style]
    return factory(Path(weights) if weights is not None else None)
