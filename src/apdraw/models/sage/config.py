"""SAGE's configuration: one dataclass per part, :class:`SageConfig` holding them all, and the two sizes.

:func:`paper_config` is the paper's size (parameter counts equal SPEC C.2/C.3's
measured ones); :func:`compact_config` a CPU-sized one (NeRF 32², 8 + 8 samples
per ray, decoders up to 128², narrow widths).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Literal

from apdraw.models.sage.decoders import DecoderConfig
from apdraw.models.sage.discriminators import DiscriminatorConfig
from apdraw.models.sage.field import FieldConfig
from apdraw.models.sage.mapping import MappingConfig
from apdraw.models.sage.renderer import RendererConfig
from apdraw.models.sage.stereo import StereoConfig
from apdraw.models.sage.translator import TranslatorConfig


@dataclass
class SageConfig:
    """All part configs of SAGE; the defaults are the paper's size. Checks that the parts fit together.

    ``drawing_head`` says what makes the drawing (:meth:`apdraw.models.sage.SageGenerator.draw`):
    ``"translator"`` the SPADE U-Net G_p (the paper); ``"image_decoder"`` the image decoder's RGB
    averaged to one gray channel and clamped to [-1, 1] (**ours**, the "no translator" ablation arm:
    G_p is then built but never run, and the image decoder is trained into the drawing). It lives
    here, not in the training config, so that a weight file (:func:`apdraw.models.sage.save_generator`
    stores this config) renders its drawings the way it was trained.
    """

    mapping: MappingConfig = dataclasses.field(default_factory=MappingConfig)
    field: FieldConfig = dataclasses.field(default_factory=FieldConfig)
    renderer: RendererConfig = dataclasses.field(default_factory=RendererConfig)
    stereo: StereoConfig = dataclasses.field(default_factory=StereoConfig)
    semantic: DecoderConfig = dataclasses.field(default_factory=lambda: DecoderConfig(out_channels=19))
    image: DecoderConfig = dataclasses.field(default_factory=DecoderConfig)
    translator: TranslatorConfig = dataclasses.field(default_factory=TranslatorConfig)
    discriminator: DiscriminatorConfig = dataclasses.field(default_factory=DiscriminatorConfig)
    drawing_head: Literal["translator", "image_decoder"] = "translator"  # what draws (class doc); ours: image_decoder

    def __post_init__(self) -> None:
        if self.drawing_head not in ("translator", "image_decoder"):
            raise ValueError(f"drawing_head must be 'translator' or 'image_decoder', got {self.drawing_head!r}")
        m, f = self.mapping, self.field
        if m.film_layers != f.film_layers or m.film_width != f.hidden:
            raise ValueError(
                f"the mapping network modulates {m.film_layers} FiLM layers of width {m.film_width}; "
                f"the field has {f.film_layers} of width {f.hidden}"
            )
        for name, dec in (("semantic", self.semantic), ("image", self.image)):
            if dec.in_channels != f.hidden:
                raise ValueError(f"{name}.in_channels ({dec.in_channels}) must equal field.hidden ({f.hidden})")
            if dec.style_dim != m.hidden:
                raise ValueError(f"{name}.style_dim ({dec.style_dim}) must equal mapping.hidden ({m.hidden})")
            if dec.input_resolution != self.renderer.resolution:
                raise ValueError(
                    f"{name}.input_resolution ({dec.input_resolution}) must equal renderer.resolution ({self.renderer.resolution})"
                )
        if self.image.out_channels != 3:
            raise ValueError(f"image.out_channels must be 3, got {self.image.out_channels}")
        if self.semantic.output_sizes() != self.image.output_sizes():
            raise ValueError("the semantic and image decoders must offer the same output sizes")
        t, d = self.translator, self.discriminator
        if t.in_channels != 3 or t.semantic_channels != self.semantic.out_channels:
            raise ValueError(
                f"the translator takes RGB and {self.semantic.out_channels} semantic channels, got {t.in_channels}, {t.semantic_channels}"
            )
        drawing_channels = 1 if self.drawing_head == "image_decoder" else t.out_channels  # the gray image is one channel
        if d.semantic_channels != self.semantic.out_channels or d.drawing_channels != drawing_channels or d.image_channels != 3:
            raise ValueError("the discriminators' input channels must match the semantic classes, the drawing and RGB")
        if self.semantic.input_resolution % t.factor:
            raise ValueError(f"decoder outputs must be divisible by the translator's {t.factor}")
        # the paper's decoders are built up to 512² while its discriminators take at most 256²
        # (the curriculum stops at 256), so the discriminators' range is not checked against the decoders'

    @property
    def classes(self) -> int:
        """Semantic classes (19: CelebAMask-HQ's)."""
        return self.semantic.out_channels


def paper_config() -> SageConfig:
    """The paper's networks (SPEC C.2, C.3): NeRF 64² with 16 (+16 importance) samples, decoders up to 512².

    Generator 28,778,045 parameters (mapping 1,381,632, field 529,156, semantic decoder
    3,060,748, image decoder 3,049,420, translator 20,757,089); discriminators
    12,879,619 (image), 12,906,499 (semantic), 12,876,259 (drawing).
    """
    return SageConfig()


def compact_config() -> SageConfig:
    """A CPU-sized SAGE: NeRF 32² with 8 + 8 samples, field width 64 (4 + 1 layers), decoders 32² -> 128².

    Translator widths 8..128, discriminators 16..128 (128² inputs).
    """
    return SageConfig(
        mapping=MappingConfig(z_dim=64, hidden=64, layers=3, film_layers=5, film_width=64),
        field=FieldConfig(hidden=64, layers=4),
        renderer=RendererConfig(resolution=32, samples=8, fine_samples=8),
        semantic=DecoderConfig(out_channels=19, in_channels=64, style_dim=64, width=64, channels=(64, 32), input_resolution=32),
        image=DecoderConfig(out_channels=3, in_channels=64, style_dim=64, width=64, channels=(64, 32), input_resolution=32),
        translator=TranslatorConfig(channels=(8, 16, 32, 64, 128), spade_hidden=32),
        discriminator=DiscriminatorConfig(channels=(16, 32, 64, 128, 128, 128, 128)),
    )
