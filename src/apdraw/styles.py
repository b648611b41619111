"""Drawing styles: the registry behind ``apdraw draw --style`` and ``apdraw styles``.

A **style** is a way of drawing an aligned face: a learned model with its
weights, or the classical NPR engine. Each is a :class:`StyleSpec` in
:data:`STYLES`; :func:`build_drawer` turns one into a :class:`Drawer`, a
callable from aligned faces (:class:`apdraw.face.Face`, 512² APDrawing frame)
to drawings of the same frame, (512, 512) uint8 with 255 = paper, 0 = ink.

This is also where a face becomes model input: models know tensors, not
faces, so the adapters from :class:`~apdraw.face.Face` to a model's tensors
(:func:`apdrawinggan_inputs`) live here, next to the factories.

Adding a style: write ``factory(weights: Path | None, **options) -> Drawer``
(import heavy modules inside it, so ``apdraw --help`` stays fast) and register
a :class:`StyleSpec` below. See docs/ARCHITECTURE.md.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Callable, Sequence

import numpy as np

from apdraw.registry import Registry, load_target

if TYPE_CHECKING:  # pragma: no cover
    import torch

    from apdraw.face import Face

Drawer = Callable[[Sequence["Face"]], list[np.ndarray]]

WEIGHTS_DIR = Path(__file__).resolve().parent / "weights"


@dataclass(frozen=True)
class StyleSpec:
    """One drawing style.

    Attributes:
        name: the ``--style`` value.
        help: one line for ``apdraw styles`` and ``--help``.
        factory: ``"module:function"``; the function is ``(weights, **options) -> Drawer``.
        needs_masks: the drawer reads ``face.masks`` (the face pipeline must build them).
        default_weights: file name in ``apdraw/weights/`` of the shipped weights; None = not learned.
        model_card: file name in ``apdraw/weights/`` of the weights' model card.
        options: the keyword options the factory takes besides ``weights`` (e.g. a seed).
    """

    name: str
    help: str
    factory: str
    needs_masks: bool = True
    default_weights: str | None = None
    model_card: str | None = None
    options: tuple[str, ...] = ()

    @property
    def learned(self) -> bool:
        return self.default_weights is not None

    @property
    def weights_path(self) -> Path | None:
        return WEIGHTS_DIR / self.default_weights if self.default_weights else None

    @property
    def card_path(self) -> Path | None:
        return WEIGHTS_DIR / self.model_card if self.model_card else None


STYLES: Registry[StyleSpec] = Registry("style")
# The first registered style is the default of `apdraw draw`.
STYLES.register(StyleSpec(
    "apdrawinggan", "learned APDrawingGAN pencil line drawing (shipped weights: FS2K sketch type 0)",
    "apdraw.styles:apdrawinggan_drawer", default_weights="apdrawinggan_fs2k.safetensors",
    model_card="APDRAWINGGAN_MODEL_CARD.md",
))  # fmt: skip
STYLES.register(StyleSpec("npr", "classical pen drawing (no learned weights)", "apdraw.styles:npr_drawer"))

DEFAULT_STYLE = STYLES.default


def build_drawer(style: str, weights: str | Path | None = None, **options: Any) -> Drawer:
    """The drawer of ``style``, its weights loaded once (``weights`` or the shipped ones).

    Raises:
        apdraw.registry.UnknownNameError: no such style, or an option it does not take.
        ValueError: weights given to a style that is not learned;
            :class:`apdraw.persistence.WeightsError` for a weight file that does not fit.
        FileNotFoundError: no such weight file.
    """
    spec = STYLES.get(style)
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        from apdraw.registry import UnknownNameError

        raise UnknownNameError(f"style {style!r} takes no option(s) {unknown}; it takes {list(spec.options) or 'none'}")
    if weights is not None and not spec.learned:
        raise ValueError(f"style {style!r} is not learned; it takes no weights")
    return load_target(spec.factory)(Path(weights) if weights is not None else None, **options)


# --------------------------------------------------------------------------- factories and adapters


def npr_drawer(weights: Path | None) -> Drawer:
    """The classical engine (:mod:`apdraw.npr`); ``weights`` must be None."""
    from apdraw.npr import NPRInput, draw_batch

    def draw(faces: Sequence["Face"]) -> list[np.ndarray]:
        return draw_batch([NPRInput.from_face(f) for f in faces])

    return draw


def apdrawinggan_inputs(faces: Sequence["Face"]) -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]:
    """Aligned faces -> the tensors :meth:`apdraw.models.apdrawinggan.APDrawingGAN.draw` takes.

    Returns ``photos`` (B, 3, S, S) uint8 RGB, ``boxes`` (B, 4, 4) int64 part boxes
    (x0, y0, x1, y1) in :data:`apdraw.parts.PART_NAMES` order, and ``fg`` (B, 1, S, S)
    float foreground in {0, 1}. Needs faces with masks (a pipeline with a mask backend).
    """
    import torch

    from apdraw.parts import PART_NAMES

    if any(f.masks is None for f in faces):
        raise ValueError("APDrawingGAN needs faces with masks (build FacePipeline with a mask backend)")
    photos = torch.from_numpy(np.stack([f.aligned for f in faces])).permute(0, 3, 1, 2)
    boxes = torch.from_numpy(np.stack([np.array([list(f.masks.boxes[p]) for p in PART_NAMES], np.int64) for f in faces]))
    fg = torch.from_numpy(np.stack([np.asarray(f.masks.fg) >= 128 for f in faces])).float()[:, None]
    return photos, boxes, fg


def apdrawinggan_drawer(weights: Path | None, batch_size: int = 4) -> Drawer:
    """The APDrawingGAN generator (shipped weights unless ``weights``); eval mode, deterministic, batched."""
    from apdraw.models.apdrawinggan import APDrawingGAN

    model = APDrawingGAN.from_pretrained(weights)

    def draw(faces: Sequence["Face"]) -> list[np.ndarray]:
        model.eval()
        out: list[np.ndarray] = []
        for i in range(0, len(faces), batch_size):
            out.extend(model.draw(*apdrawinggan_inputs(faces[i : i + batch_size])).numpy())
        return out

    return draw
