"""Drawing styles: the registry behind ``apdraw draw --style`` and ``apdraw styles``.

A **style** is a way of drawing an aligned face: a learned model with its
weights, or the classical NPR engine. Each is a :class:`StyleSpec` in
:data:`STYLES`; :func:`build_drawer` turns one into a :class:`Drawer`, a
callable from aligned faces (:class:`apdraw.face.Face`, 512² APDrawing frame)
to drawings of the same frame, (512, 512) uint8 with 255 = paper, 0 = ink.

This is also where a face becomes model input: models know tensors, not
faces, so the adapters from :class:`~apdraw.face.Face` to a model's tensors
(:func:`apdrawinggan_inputs`) live here, next to the factories.

A drawer that draws along polylines may also hand them over for plotters: a
``sketch(faces) -> list[Sketch]`` method beside ``__call__`` (the NPR engine's
:class:`NPRDrawer`); :func:`sketch` asks any drawer for them.

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


@dataclass
class Sketch:
    """A drawing with the pen lines its drawer drew along, where the drawer hands them over.

    Attributes:
        image: (S, S) uint8 drawing, 255 = paper (what the drawer returns).
        pen_lines: polylines drawn as pen lines, (K, 2) float64 (x, y) in ``image`` pixels;
            None = the drawer gives none (plotters trace ``image``).
        rest: (S, S) uint8, ``image`` without the ink of ``pen_lines``: what is left to trace.
            None exactly when ``pen_lines`` is None.
    """

    image: np.ndarray
    pen_lines: list[np.ndarray] | None = None
    rest: np.ndarray | None = None


def sketch(drawer: Drawer, faces: Sequence["Face"]) -> list[Sketch]:
    """The drawings of ``faces`` as :class:`Sketch` objects: with pen lines from ``drawer.sketch``
    where the drawer has that method, else its plain drawings (no pen lines)."""
    method = getattr(drawer, "sketch", None)
    if callable(method):
        return method(faces)
    return [Sketch(image) for image in drawer(faces)]


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
        argument: the option that ``--style NAME:VALUE`` sets (e.g. QMUPD's artist style); None = none.
    """

    name: str
    help: str
    factory: str
    needs_masks: bool = True
    default_weights: str | None = None
    model_card: str | None = None
    options: tuple[str, ...] = ()
    argument: str | None = None

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
    model_card="APDRAWINGGAN_MODEL_CARD.md", options=("runtime",),
))  # fmt: skip
STYLES.register(StyleSpec("npr", "classical pen drawing (no learned weights)", "apdraw.styles:npr_drawer"))
STYLES.register(StyleSpec(
    "qmupd", "learned QMUPD line drawing with an artist-style vector: qmupd:0, qmupd:1, qmupd:2, a mix "
    "qmupd:0.5,0.5,0, or qmupd:all (the shipped CPU-trained weights do not separate the 3 styles yet)",
    "apdraw.styles:qmupd_drawer", needs_masks=False, default_weights="qmupd_fs2k.safetensors",
    model_card="QMUPD_MODEL_CARD.md", options=("artist_style",), argument="artist_style",
))  # fmt: skip

DEFAULT_STYLE = STYLES.default


class Variants(dict):
    """Several drawers of one style that share their model, by output-name suffix (e.g. ``"_style0"``).

    A factory returns one for a request of several drawings per face (``qmupd:all``).
    """


def parse_style(text: str) -> tuple[str, dict[str, str]]:
    """``"NAME"`` or ``"NAME:VALUE"`` -> (style name, {its argument option: VALUE}).

    Raises:
        apdraw.registry.UnknownNameError: no such style, or a value for a style that takes none.
    """
    name, sep, value = text.partition(":")
    spec = STYLES.get(name)
    if not sep:
        return spec.name, {}
    if spec.argument is None:
        from apdraw.registry import UnknownNameError

        raise UnknownNameError(f"style {name!r} takes no ':' argument (got {text!r})")
    return spec.name, {spec.argument: value}


def build_drawers(style: str, weights: str | Path | None = None, **options: Any) -> dict[str, Drawer]:
    """The drawers of ``style`` (``"NAME"`` or ``"NAME:VALUE"``) by output suffix, weights loaded once.

    One drawer under ``""`` for most requests; several for e.g. ``qmupd:all``
    (``{"_style0": ..., "_style1": ..., "_style2": ...}``, one model shared).

    Raises:
        apdraw.registry.UnknownNameError: no such style, or an option it does not take.
        ValueError: weights given to a style that is not learned, a bad option value;
            :class:`apdraw.persistence.WeightsError` for a weight file that does not fit.
        FileNotFoundError: no such weight file.
    """
    name, parsed = parse_style(style)
    spec = STYLES.get(name)
    options = {**parsed, **options}
    unknown = sorted(set(options) - set(spec.options))
    if unknown:
        from apdraw.registry import UnknownNameError

        raise UnknownNameError(f"style {name!r} takes no option(s) {unknown}; it takes {list(spec.options) or 'none'}")
    if weights is not None and not spec.learned:
        raise ValueError(f"style {name!r} is not learned; it takes no weights")
    made = load_target(spec.factory)(Path(weights) if weights is not None else None, **options)
    return dict(made) if isinstance(made, Variants) else {"": made}


def build_drawer(style: str, weights: str | Path | None = None, **options: Any) -> Drawer:
    """The one drawer of ``style`` (see :func:`build_drawers`; a request of several drawings per face is a ValueError)."""
    drawers = build_drawers(style, weights, **options)
    if len(drawers) != 1:
        raise ValueError(f"style {style!r} makes {len(drawers)} drawings per face; use build_drawers")
    return next(iter(drawers.values()))


# --------------------------------------------------------------------------- factories and adapters


class NPRDrawer:
    """The classical engine (:mod:`apdraw.npr`) as a :data:`Drawer` that also hands over its pen lines."""

    def __call__(self, faces: Sequence["Face"]) -> list[np.ndarray]:
        from apdraw.npr import NPRInput, draw_batch

        return draw_batch([NPRInput.from_face(f) for f in faces])

    def sketch(self, faces: Sequence["Face"]) -> list[Sketch]:
        """The same drawings, with the hair strands and jaw stroke as polylines (:func:`apdraw.npr.draw_with_lines`)."""
        from apdraw.npr import NPRInput, draw_with_lines

        out = []
        for f in faces:
            item = NPRInput.from_face(f)
            image, lines, rest = draw_with_lines(item.aligned, item.fg_mask, item.jaw, item.hair_mask,
                                                 landmarks5=item.landmarks5)  # fmt: skip
            out.append(Sketch(image, lines, rest))
        return out


def npr_drawer(weights: Path | None) -> Drawer:
    """The classical engine (:class:`NPRDrawer`); ``weights`` must be None."""
    return NPRDrawer()


def apdrawinggan_arrays(faces: Sequence["Face"]) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Aligned faces -> the arrays of APDrawingGAN's ``draw`` (torch or ONNX runtime), without torch.

    Returns ``photos`` (B, 3, S, S) uint8 RGB, ``boxes`` (B, 4, 4) int64 part boxes
    (x0, y0, x1, y1) in :data:`apdraw.parts.PART_NAMES` order, and ``fg`` (B, 1, S, S)
    float32 foreground in {0, 1}. Needs faces with masks (a pipeline with a mask backend).
    """
    from apdraw.parts import boxes_array

    if any(f.masks is None for f in faces):
        raise ValueError("APDrawingGAN needs faces with masks (build FacePipeline with a mask backend)")
    photos = np.stack([f.aligned for f in faces]).transpose(0, 3, 1, 2)
    boxes = np.stack([boxes_array(f.masks.boxes) for f in faces])
    fg = np.stack([np.asarray(f.masks.fg) >= 128 for f in faces]).astype(np.float32)[:, None]
    return photos, boxes, fg


def apdrawinggan_inputs(faces: Sequence["Face"]) -> tuple["torch.Tensor", "torch.Tensor", "torch.Tensor"]:
    """Aligned faces -> the tensors :meth:`apdraw.models.apdrawinggan.APDrawingGAN.draw` takes.

    :func:`apdrawinggan_arrays` as tensors: ``photos`` (B, 3, S, S) uint8, ``boxes``
    (B, 4, 4) int64, ``fg`` (B, 1, S, S) float in {0, 1}.
    """
    import torch

    return tuple(torch.from_numpy(a) for a in apdrawinggan_arrays(faces))  # type: ignore[return-value]


RUNTIMES = ("torch", "onnx")


def apdrawinggan_onnx(weights: Path | None) -> Path:
    """The ONNX graph for ``weights``: itself when it is a ``.onnx`` file, else its cached export.

    A weights file (default: the shipped one) is exported once, on first use, to
    :func:`apdraw.models.onnx_runtime.cached_graph_path` (that needs torch, onnx and
    onnxscript; later runs load the cached graph without them).
    """
    from apdraw.models.onnx_runtime import cached_graph_path

    if weights is not None and weights.suffix == ".onnx":
        return weights
    src = weights if weights is not None else STYLES.get("apdrawinggan").weights_path
    if not src.is_file():
        raise FileNotFoundError(f"{src}: no such weights file")
    path = cached_graph_path(src, "apdrawinggan")
    if not path.is_file():
        try:
            import onnx  # noqa: F401
            import onnxscript  # noqa: F401
        except ImportError:
            raise ImportError(f"{src} is not exported to ONNX yet and exporting needs onnx and onnxscript "
                              f'(pip install -e ".[test]"), or give --weights a file written by '
                              "`apdraw export apdrawinggan SRC OUT.onnx`") from None  # fmt: skip
        from apdraw.models.apdrawinggan import APDrawingGAN, export_onnx

        path.parent.mkdir(parents=True, exist_ok=True)
        export_onnx(APDrawingGAN.from_pretrained(src), path)
    return path


def apdrawinggan_drawer(weights: Path | None, batch_size: int = 4, runtime: str = "torch") -> Drawer:
    """The APDrawingGAN generator (shipped weights unless ``weights``); eval mode, deterministic, batched.

    ``runtime="onnx"`` runs the exported graph with onnxruntime instead of torch
    (``weights`` may then also be a ``.onnx`` file); its drawings are within one gray
    level of torch's.
    """
    if runtime not in RUNTIMES:
        raise ValueError(f"unknown runtime {runtime!r}; use one of {list(RUNTIMES)}")
    if runtime == "onnx":
        from apdraw.models.onnx_runtime import OnnxAPDrawingGAN

        onnx_model = OnnxAPDrawingGAN(apdrawinggan_onnx(weights))

        def draw_onnx(faces: Sequence["Face"]) -> list[np.ndarray]:
            out: list[np.ndarray] = []
            for i in range(0, len(faces), batch_size):
                out.extend(onnx_model.draw(*apdrawinggan_arrays(faces[i : i + batch_size])))
            return out

        return draw_onnx

    from apdraw.models.apdrawinggan import APDrawingGAN

    model = APDrawingGAN.from_pretrained(weights)

    def draw(faces: Sequence["Face"]) -> list[np.ndarray]:
        model.eval()
        out: list[np.ndarray] = []
        for i in range(0, len(faces), batch_size):
            out.extend(model.draw(*apdrawinggan_inputs(faces[i : i + batch_size])).numpy())
        return out

    return draw


def parse_artist_style(value: str | Sequence[float] | int, style_dim: int = 3) -> list[tuple[float, ...]] | None:
    """QMUPD's artist style: ``"k"`` (one-hot of style k), ``"a,b,c"`` (any reals, as the original's
    ``--svec``; a leading ``~`` is a minus, as there), a sequence of numbers, or ``"all"`` (None:
    every one-hot style). Raises ValueError for anything else."""
    if isinstance(value, str):
        text = value.strip()
        if text == "all":
            return None
        parts = [p.strip() for p in text.split(",")]
        if len(parts) == 1:
            if not parts[0].isdigit() or int(parts[0]) >= style_dim:
                raise ValueError(f"artist style {value!r}: give a style index 0..{style_dim - 1}, {style_dim} comma-separated numbers, or 'all'")
            k = int(parts[0])
            return [tuple(float(i == k) for i in range(style_dim))]
        try:
            vec = [float(p[1:]) * -1 if p.startswith("~") else float(p) for p in parts]
        except ValueError:
            raise ValueError(f"artist style {value!r}: not numbers") from None
    elif isinstance(value, int):
        return parse_artist_style(str(value), style_dim)
    else:
        vec = [float(v) for v in value]
    if len(vec) != style_dim or not all(np.isfinite(vec)):
        raise ValueError(f"artist style {value!r}: expected {style_dim} finite numbers")
    return [tuple(vec)]


def qmupd_drawer(weights: Path | None, artist_style: str | Sequence[float] | int = "0", batch_size: int = 4) -> "Drawer | Variants":
    """QMUPD (:class:`apdraw.models.qmupd.QMUPD`) drawing aligned faces in an artist style or a mix.

    ``artist_style``: see :func:`parse_artist_style`; ``"all"`` returns :class:`Variants`
    ``_style0``, ``_style1``, ... sharing one model. Needs no masks.
    """
    import torch

    from apdraw.models.qmupd import QMUPD

    model = QMUPD.from_pretrained(weights if weights is not None else WEIGHTS_DIR / "qmupd_fs2k.safetensors")
    styles = parse_artist_style(artist_style, model.cfg.style_dim)

    def drawer(style: tuple[float, ...]) -> Drawer:
        def draw(faces: Sequence["Face"]) -> list[np.ndarray]:
            out: list[np.ndarray] = []
            for i in range(0, len(faces), batch_size):
                photos = torch.from_numpy(np.stack([f.aligned for f in faces[i : i + batch_size]])).permute(0, 3, 1, 2)
                out.extend(model.draw(photos, style).numpy())
            return out

        return draw

    if styles is None:
        return Variants({f"_style{k}": drawer(tuple(float(i == k) for i in range(model.cfg.style_dim))) for k in range(model.cfg.style_dim)})
    return drawer(styles[0])
