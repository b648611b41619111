"""SAGE's generator: the parts of :mod:`apdraw.models.sage` put together (SPEC C.2 ``SketchGenerator``).

z -> mapping -> (w_c, w_s); the FiLM-SIREN field is volume-rendered from a camera
to a feature map (plus NeRF RGB and depth); in training a second view is
rendered, warped into the first with its depth and mixed into its features; the
semantic decoder turns the features into class logits and the image decoder into
a photo, and the SPADE U-Net translates photo + (detached) logits into the drawing
(:meth:`SageGenerator.draw`; with ``cfg.drawing_head="image_decoder"``, the "no translator"
ablation, the drawing is the image decoder's output in gray instead).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from apdraw.models.layers import check_shape
from apdraw.models.sage.config import SageConfig
from apdraw.models.sage.decoders import ProgressiveDecoder, image_decoder, semantic_decoder
from apdraw.models.sage.field import FiLMSiren
from apdraw.models.sage.mapping import Latent, MappingNetwork
from apdraw.models.sage.renderer import Cameras, Rendering, VolumeRenderer, sample_angles
from apdraw.models.sage.stereo import StereoAuxiliary
from apdraw.models.sage.translator import SpadeUNet

FORMAT = "apdraw.sage/1"
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
# The shipped generators (compact config), one per drawing style. They share the mapping network, the
# field and the decoders (trained translator-only from one checkpoint) and differ only in their translator
# G_p: the same seed and yaw give the same face (photo, semantic map) in every style, drawn differently.
# apdraw.commands.generate.SAGE_STYLES repeats the keys (the CLI builds its parser without torch).
STYLE_WEIGHTS: dict[str, Path] = {
    "apdrawinggan": WEIGHTS_DIR / "sage_compact.safetensors",  # APDrawingGAN's look
    "npr": WEIGHTS_DIR / "sage_compact_npr.safetensors",  # the classical pen-drawing engine's look (apdraw.npr)
}
DEFAULT_STYLE = "apdrawinggan"
DEFAULT_WEIGHTS = STYLE_WEIGHTS[DEFAULT_STYLE]  # the default style's shipped file (read STYLE_WEIGHTS to resolve)


@dataclass
class SageOutput:
    """One generator pass; S = the output size, R = the render resolution.

    drawing (B, 1, S, S) in [-1, 1] (None without ``translate``; :meth:`SageGenerator.draw`); image (B, 3, S, S)
    raw RGB of the image decoder; semantic (B, 19, S, S) class logits; nerf_rgb
    (B, 3, R, R) in [-1, 1]; depth (B, 1, R, R); features (B, C, R, R) as decoded
    (mixed with the auxiliary view when it was rendered); cameras (the primary
    view: yaw, pitch (B,)); warped_rgb (B, 3, R, R) the auxiliary NeRF RGB warped
    into the primary view, and aux_cameras, or None without the auxiliary view.
    """

    drawing: torch.Tensor | None
    image: torch.Tensor
    semantic: torch.Tensor
    nerf_rgb: torch.Tensor
    depth: torch.Tensor
    features: torch.Tensor
    cameras: Cameras
    warped_rgb: torch.Tensor | None = None
    aux_cameras: Cameras | None = None


class SageGenerator(nn.Module):
    """Mapping network, field, renderer, stereo auxiliary view, the two decoders and the translator."""

    def __init__(self, cfg: SageConfig):
        super().__init__()
        self.cfg = cfg
        self.mapping = MappingNetwork(cfg.mapping)
        self.field = FiLMSiren(cfg.field)
        self.renderer = VolumeRenderer(cfg.renderer)
        self.stereo = StereoAuxiliary(cfg.stereo)
        self.semantic_decoder: ProgressiveDecoder = semantic_decoder(cfg.semantic)
        self.image_decoder: ProgressiveDecoder = image_decoder(cfg.image)
        self.translator = SpadeUNet(cfg.translator)

    def render(self, latent: Latent, cameras: Cameras, nerf_noise: float = 0.0, generator: torch.Generator | None = None) -> Rendering:
        """Volume-render the field of ``latent`` (batch B) from ``cameras`` (B): see :class:`VolumeRenderer`."""
        return self.renderer(lambda p, d: self.field(p, d, latent), cameras, nerf_noise, generator)

    def draw(self, image: torch.Tensor, semantic: torch.Tensor) -> torch.Tensor:
        """The drawing of a decoded view, as ``cfg.drawing_head`` says; every drawing the generator makes comes from here.

        image (B, 3, S, S): the image decoder's raw RGB; semantic (B, 19, h, w): class logits (detached:
        no gradient reaches the semantic decoder through the drawing). Returns (B, out, S, S) in [-1, 1]:
        ``"translator"``: G_p(image, semantic) (out = ``cfg.translator.out_channels``); ``"image_decoder"``:
        the mean of the three channels clamped to [-1, 1] (out = 1, the translator's Tanh range; the
        semantic map is not used and G_p not run).
        """
        if self.cfg.drawing_head == "image_decoder":
            return image.mean(1, keepdim=True).clamp(-1.0, 1.0)
        return self.translator(image, semantic.detach())

    def forward(
        self,
        z: torch.Tensor | Latent,
        yaw: torch.Tensor | None = None,
        pitch: torch.Tensor | None = None,
        *,
        output_size: int | None = None,
        alpha: float = 1.0,
        nerf_noise: float = 0.0,
        stereo: bool | None = None,
        translate: bool = True,
        generator: torch.Generator | None = None,
    ) -> SageOutput:
        """Generate a batch.

        z: (B, z_dim) ~ N(0, I), or a :class:`Latent` (truncated, style-mixed).
        yaw, pitch: (B,) radians (θ = φ = π/2 is frontal); None draws both from the
        configured distribution. output_size: a decoder size (None: the largest).
        alpha: fade-in of the newest decoder scale. nerf_noise: density noise std.
        stereo: render the auxiliary view (None: in training mode while
        ``cfg.stereo.enabled``). translate: make the drawing (:meth:`draw`; the original
        runs its translator at the fine-tuning stage only). generator: for every random draw (cameras,
        jitter, noise, mixup), so a seeded one makes a pass reproducible.
        """
        latent = z if isinstance(z, Latent) else self.mapping(z)
        b = latent.batch
        like = latent.code
        if yaw is None or pitch is None:
            sampled_yaw, sampled_pitch = sample_angles(self.cfg.renderer, b, like, generator)
            yaw = sampled_yaw if yaw is None else yaw
            pitch = sampled_pitch if pitch is None else pitch
        check_shape(yaw, "yaw", (b,))
        check_shape(pitch, "pitch", (b,))
        cameras = Cameras.from_angles(yaw.to(like), pitch.to(like), self.cfg.renderer.radius)
        view = self.render(latent, cameras, nerf_noise, generator)
        features, warped_rgb, aux = view.features, None, None
        if stereo is None:
            stereo = self.training and self.cfg.stereo.enabled
        if stereo:
            aux = self.renderer.cameras(b, like, generator)
            aux_view = self.render(latent, aux, nerf_noise, generator)
            focal = self.cfg.renderer.focal
            warped = self.stereo.warp(torch.cat([aux_view.features, aux_view.rgb], 1), view.depth, cameras, aux, focal)
            c = features.shape[1]
            features = self.stereo.mix(features, warped[:, :c], generator)
            warped_rgb = warped[:, c:]
        semantic = self.semantic_decoder(features, latent.code, output_size, alpha)
        image = self.image_decoder(features, latent.code, output_size, alpha)
        drawing = self.draw(image, semantic) if translate else None
        return SageOutput(drawing, image, semantic, view.rgb, view.depth, features, cameras, warped_rgb, aux)


# --------------------------------------------------------------------------- persistence


def save_generator(path: str | Path, g: SageGenerator, half: bool = True, extra: dict[str, str] | None = None) -> Path:
    """Write the whole generator (mapping, field, decoders, G_p) as safetensors for :func:`load_generator`."""
    from apdraw.persistence import save_model

    return save_model(path, g, FORMAT, g.cfg, half=half, extra=extra)


def style_weights(style: str | None = None) -> Path:
    """The shipped generator file of a drawing style (None: :data:`DEFAULT_STYLE`), whether or not it exists.

    Raises:
        ValueError: not a style of :data:`STYLE_WEIGHTS`; the message names the known ones.
    """
    style = DEFAULT_STYLE if style is None else style
    if style not in STYLE_WEIGHTS:
        raise ValueError(f"unknown SAGE style {style!r}: the styles are {', '.join(STYLE_WEIGHTS)}")
    return STYLE_WEIGHTS[style]


def resolve_weights(path: str | Path | None = None, style: str | None = None) -> Path:
    """The generator file to load: ``path`` as given, else the shipped file of ``style`` (None: the default style).

    The one resolution of :func:`load_generator`, ``MultiViewGenerator.from_pretrained`` and the
    ``--weights`` / ``--style`` of ``apdraw generate`` and ``apdraw views``. A given ``path`` is not
    checked here (loading it says whether it exists).

    Raises:
        ValueError: both ``path`` and ``style``, or an unknown style.
        FileNotFoundError: the style's shipped file is missing; the message says how to train and export one.
    """
    if path is not None:
        if style is not None:
            raise ValueError(f"give a weights file or a style, not both (weights {path}, style {style!r})")
        return Path(path)
    name = DEFAULT_STYLE if style is None else style
    shipped = style_weights(name)
    if not shipped.is_file():
        raise FileNotFoundError(
            f"the shipped SAGE generator of style {name!r} is missing ({shipped} does not exist: a broken install "
            "or a checkout without it); reinstall apdraw, or train a generator with `apdraw train sage -c "
            "src/apdraw/configs/sage_reconstruct.yaml` and the stages after it (docs/SAGE.md); the last one writes "
            "runs/sage_translate/export/sage.safetensors (or run `apdraw export sage CHECKPOINT OUT.safetensors`); "
            "then pass that file (--weights)"
        )
    return shipped


def load_generator(path: str | Path | None = None, *, style: str | None = None) -> SageGenerator:
    """A generator written by :func:`save_generator` (``apdraw export sage``): fp32, eval mode.

    ``path`` None: the shipped generator of ``style`` (:data:`STYLE_WEIGHTS`; None: :data:`DEFAULT_STYLE`);
    give a path or a style, not both (:func:`resolve_weights`).

    Raises:
        FileNotFoundError: no such file (for a shipped style, the message says how to train and export one).
        ValueError: both a path and a style, or an unknown style.
        apdraw.persistence.WeightsError (a ValueError): not a SAGE generator file, or its tensors do not
            fit its config.
    """
    from apdraw.persistence import load_model

    g, _ = load_model(resolve_weights(path, style), FORMAT, SageConfig, lambda c, meta: SageGenerator(c))
    return g
