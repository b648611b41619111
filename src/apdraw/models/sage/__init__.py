"""SAGE (Ma et al., IJCAI 2023, "Semantic-aware Generation of Multi-view Portrait Drawings"): the networks.

A 3D-aware GAN (pi-GAN / MVCGAN style) that renders a face from any yaw and
pitch, decodes it into a photo and a 19-class semantic map, and translates those
into a drawing. One file per part (SPEC C.2, C.3):

* :mod:`.mapping`: z -> FiLM frequencies and phases (w_c) and the decoders' style code (w_s);
* :mod:`.field`: the FiLM-SIREN feature field (points, view directions -> features, RGB, density);
* :mod:`.renderer`: cameras, rays, stratified and importance samples, alpha compositing;
* :mod:`.stereo`: the auxiliary view, its depth warp and the feature mixup (training);
* :mod:`.decoders`: the AdaIN-modulated progressive semantic and image decoders;
* :mod:`.translator`: the SPADE U-Net G_p (photo + semantic logits -> drawing);
* :mod:`.discriminators`: the progressive CoordConv discriminators with a pose head;
* :mod:`.generator`: all of the above put together, and its weight files (:func:`save_generator`,
  :func:`load_generator`; the shipped ones, one per drawing style: :data:`STYLE_WEIGHTS`,
  :func:`resolve_weights`); :mod:`.config`: :class:`SageConfig`.

Usage::

    cfg = compact_config()
    g = SageGenerator(cfg)
    out = g(torch.randn(2, cfg.mapping.z_dim), yaw, pitch)   # out.drawing (2, 1, 128, 128)
    d = build_discriminators(cfg.discriminator)
    logit, pose = d["drawing"](out.drawing)
"""

from apdraw.models.sage.config import SageConfig, compact_config, paper_config
from apdraw.models.sage.decoders import AdaIN, DecoderConfig, EqualizedConv2d, ProgressiveDecoder, image_decoder, semantic_decoder
from apdraw.models.sage.discriminators import DiscriminatorConfig, ProgressiveDiscriminator, ResidualCoordBlock, build_discriminators
from apdraw.models.sage.field import FieldConfig, FiLMLayer, FiLMSiren
from apdraw.models.sage.generator import (
    DEFAULT_STYLE,
    DEFAULT_WEIGHTS,
    FORMAT,
    STYLE_WEIGHTS,
    SageGenerator,
    SageOutput,
    load_generator,
    resolve_weights,
    save_generator,
    style_weights,
)
from apdraw.models.sage.mapping import Latent, MappingConfig, MappingNetwork
from apdraw.models.sage.renderer import Cameras, RendererConfig, Rendering, VolumeRenderer, composite_weights, sample_pdf
from apdraw.models.sage.stereo import StereoAuxiliary, StereoConfig, warp_to_primary
from apdraw.models.sage.translator import SPADE, SpadeUNet, TranslatorConfig

__all__ = [
    "DEFAULT_STYLE",
    "DEFAULT_WEIGHTS",
    "FORMAT",
    "SPADE",
    "STYLE_WEIGHTS",
    "AdaIN",
    "Cameras",
    "DecoderConfig",
    "DiscriminatorConfig",
    "EqualizedConv2d",
    "FieldConfig",
    "FiLMLayer",
    "FiLMSiren",
    "Latent",
    "MappingConfig",
    "MappingNetwork",
    "ProgressiveDecoder",
    "ProgressiveDiscriminator",
    "RendererConfig",
    "Rendering",
    "ResidualCoordBlock",
    "SageConfig",
    "SageGenerator",
    "SageOutput",
    "SpadeUNet",
    "StereoAuxiliary",
    "StereoConfig",
    "TranslatorConfig",
    "VolumeRenderer",
    "build_discriminators",
    "compact_config",
    "composite_weights",
    "image_decoder",
    "load_generator",
    "paper_config",
    "resolve_weights",
    "sample_pdf",
    "save_generator",
    "semantic_decoder",
    "style_weights",
    "warp_to_primary",
]
