"""APDrawingGAN (Yi et al., CVPR 2019, section 3.2): hierarchical generator and discriminator.

Generator = a global U-Net (8 downsamplings) + six local U-Nets (left eye,
right eye, nose, mouth with 3 downsamplings; hair and background with 4) whose
outputs are blended by **min pooling** (white, +1, outside each region) into
``I_local``, and a fusion net (flat conv, 2 ResNet blocks, conv) applied to
concat(I_global, I_local).

Discriminator = a global PatchGAN plus six local PatchGANs, each conditioned on
the photo (4-channel input: photo RGB + drawing).

Widths come from :class:`GeneratorConfig` / :class:`DiscriminatorConfig`:
:func:`full_config` is the paper's size, :func:`compact_config` the shipped one.

Unlike the original, inference runs in eval mode (no dropout, fixed norm
statistics), so a photo always gives the same drawing.

Public API (tensors in, tensors out; turning an aligned face into these
tensors is the style layer's job, :mod:`apdraw.styles`)::

    model = APDrawingGAN.from_pretrained()           # shipped weights (or path=...)
    drawings = model.draw(photos, boxes, fg)         # (B, 512, 512) uint8
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from apdraw.models.layers import NormKind, PatchGAN, ResnetBlock, UNet, check_shape, init_weights, norm_layer
from apdraw.parts import PART_NAMES, REGION_NAMES, box_sizes, fit_boxes
from apdraw.runtime import torch_threads

PARTS = PART_NAMES
REGIONS = REGION_NAMES
LOCALS = PARTS + REGIONS

FORMAT = "apdraw.apdrawinggan/1"
DEFAULT_WEIGHTS = Path(__file__).resolve().parents[1] / "weights" / "apdrawinggan_fs2k.safetensors"


@dataclass
class GeneratorConfig:
    """Widths and depth of the hierarchical generator. Defaults = the paper's full size."""

    resolution: int = 512  # training / inference side length of the aligned face
    global_channels: tuple[int, ...] = (64, 128, 256, 512, 512, 512, 512, 512)  # 8 downsamplings
    global_dropout_levels: int = 3
    part_channels: tuple[int, ...] = (64, 128, 256)  # eyes, nose, mouth: 3 downsamplings
    region_channels: tuple[int, ...] = (64, 128, 128, 128)  # hair, background: 4 downsamplings
    region_dropout_levels: int = 1
    fusion_channels: int = 64
    fusion_blocks: int = 2
    norm: NormKind = "batch"
    dropout: float = 0.5
    # Ours, not the paper's: a light 2x refinement head (RefineHead). With refine_channels > 0
    # the hierarchical networks still run at `resolution` and the head draws the output at
    # 2 x resolution from the upsampled drawing and the full-resolution photo; 0 = no head.
    refine_channels: int = 0
    refine_blocks: int = 2

    def __post_init__(self) -> None:
        if self.refine_channels < 0 or self.refine_blocks < 0:
            raise ValueError("refine_channels and refine_blocks must be >= 0")
        if self.resolution % 256:
            raise ValueError(f"resolution must be a multiple of 256 (box sizes scale from 256), got {self.resolution}")
        if len(self.global_channels) != 8 or len(self.part_channels) != 3 or len(self.region_channels) != 4:
            raise ValueError("APDrawingGAN uses 8 (global), 3 (parts) and 4 (hair/bg) downsamplings")

    @property
    def output_resolution(self) -> int:
        """Side of the generator's output (and of its training pairs): 2 x resolution with the refinement head."""
        return self.resolution * (2 if self.refine_channels else 1)


@dataclass
class DiscriminatorConfig:
    """PatchGAN widths (global and the six local ones share them)."""

    channels: tuple[int, ...] = (64, 128, 256, 512)
    local_channels: tuple[int, ...] = (64, 128, 256, 512)
    norm: NormKind = "batch"


def full_config() -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """The paper's networks at 512² (G stack about 62 M parameters)."""
    return GeneratorConfig(), DiscriminatorConfig()


def compact_config() -> tuple[GeneratorConfig, DiscriminatorConfig]:
    """The shipped CPU-friendly networks at 256² (about 7.3 M generator parameters, under 15 MB in fp16).

    InstanceNorm instead of BatchNorm: eval-mode statistics then equal training
    ones, which is what the original got by (accidentally) testing in train mode.
    """
    g = GeneratorConfig(
        resolution=256,
        global_channels=(32, 64, 128, 160, 160, 160, 160, 160),
        part_channels=(24, 48, 96),
        region_channels=(24, 48, 48, 48),
        fusion_channels=8,
        norm="instance",
    )
    d = DiscriminatorConfig(channels=(32, 64, 128, 256), local_channels=(16, 32, 64, 64), norm="instance")
    return g, d


def crop(x: torch.Tensor, boxes: torch.Tensor, hw: tuple[int, int] | None = None) -> torch.Tensor:
    """Crop one box per sample: x (B, C, H, W), boxes (B, 4) -> (B, C, h, w) (all boxes the same size).

    ``hw``: the boxes' (h, w); None reads it from the first box (eager only: an
    exported graph needs it static). Tensor-only indexing (``gather``), so the
    generator exports whole to ONNX; the values are exactly those of slicing.
    """
    if hw is None:
        x0, y0, x1, y1 = boxes[0].tolist()
        hw = (y1 - y0, x1 - x0)
    h, w = hw
    b, c, _, width = x.shape
    ys = boxes[:, 1:2] + torch.arange(h, device=x.device)  # (B, h)
    xs = boxes[:, 0:1] + torch.arange(w, device=x.device)  # (B, w)
    rows = torch.gather(x, 2, ys[:, None, :, None].expand(b, c, h, width))
    return torch.gather(rows, 3, xs[:, None, None, :].expand(b, c, h, w))


def _inside(boxes: torch.Tensor, height: int, width: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Row and column membership of boxes (..., 4): (..., height) and (..., width) bool."""
    ys = torch.arange(height, device=boxes.device)
    xs = torch.arange(width, device=boxes.device)
    return (ys >= boxes[..., 1:2]) & (ys < boxes[..., 3:4]), (xs >= boxes[..., 0:1]) & (xs < boxes[..., 2:3])


def paste(patch: torch.Tensor, boxes: torch.Tensor, size: int, fill: float = 1.0) -> torch.Tensor:
    """Inverse of :func:`crop`: place (B, C, h, w) patches into ``fill``-valued (B, C, size, size) canvases."""
    b, c, h, w = patch.shape
    r = torch.arange(size, device=patch.device)
    ys = (r - boxes[:, 1:2]).clamp(0, h - 1)  # (B, size): the patch row of each canvas row
    xs = (r - boxes[:, 0:1]).clamp(0, w - 1)
    rows = torch.gather(patch, 2, ys[:, None, :, None].expand(b, c, size, w))
    full = torch.gather(rows, 3, xs[:, None, None, :].expand(b, c, size, size))
    in_y, in_x = _inside(boxes, size, size)
    return torch.where(in_y[:, None, :, None] & in_x[:, None, None, :], full, torch.full_like(full, fill))


def region_masks(fg: torch.Tensor, boxes: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
    """Hair and background regions, as the original defines them: hair = fg minus the part boxes, bg = 1 - fg.

    ``fg``: (B, 1, H, W) in {0, 1}; ``boxes`` (B, 4, 4) inside the frame; returns two (B, 1, H, W) float masks.
    """
    in_y, in_x = _inside(boxes, fg.shape[-2], fg.shape[-1])  # (B, 4, H), (B, 4, W)
    in_box = (in_y[..., :, None] & in_x[..., None, :]).to(fg.dtype).amax(1, keepdim=True)  # (B, 1, H, W)
    return fg * (1.0 - in_box), 1.0 - fg


def masked(x: torch.Tensor, mask: torch.Tensor, outside: float = -1.0) -> torch.Tensor:
    """x inside ``mask``, ``outside`` elsewhere (the local nets see -1 outside their region)."""
    return x * mask + outside * (1.0 - mask)


class Fusion(nn.Module):
    """Combiner: reflect-pad 3, conv7 (2 -> C), norm, ReLU, ResNet blocks, reflect-pad 3, conv7 (C -> 1), Tanh."""

    def __init__(self, channels: int, blocks: int, norm: NormKind, dropout: float):
        super().__init__()
        layers: list[nn.Module] = [nn.ReflectionPad2d(3), nn.Conv2d(2, channels, 7, bias=norm != "batch"), norm_layer(norm, channels), nn.ReLU(True)]
        layers += [ResnetBlock(channels, norm, dropout) for _ in range(blocks)]
        layers += [nn.ReflectionPad2d(3), nn.Conv2d(channels, 1, 7), nn.Tanh()]
        self.net = nn.Sequential(*layers)

    def forward(self, global_out: torch.Tensor, local_out: torch.Tensor) -> torch.Tensor:
        return self.net(torch.cat([global_out, local_out], 1))


@dataclass
class GeneratorOutput:
    """All intermediate drawings, (B, 1, ., .) in [-1, 1]; ``parts``/``regions`` keyed by name."""

    drawing: torch.Tensor  # fused final output (B, 1, S, S)
    global_out: torch.Tensor
    local_out: torch.Tensor  # min-pool blend of the local outputs
    parts: dict[str, torch.Tensor] = field(default_factory=dict)  # (B, 1, h, w) crops
    regions: dict[str, torch.Tensor] = field(default_factory=dict)  # (B, 1, S, S), -1 outside the region
    coarse: torch.Tensor | None = None  # with a refinement head: the fused drawing at S (``drawing`` is at 2S)


class HierarchicalGenerator(nn.Module):
    """Photo -> drawing. forward(photo (B,3,S,S) in [-1,1], boxes (B,4,4) int, fg (B,1,S,S) in {0,1})."""

    def __init__(self, cfg: GeneratorConfig, init: bool = True):
        super().__init__()
        self.cfg = cfg
        self.global_net = UNet(3, 1, cfg.global_channels, cfg.norm, cfg.dropout, cfg.global_dropout_levels)
        self.locals = nn.ModuleDict({p: UNet(3, 1, cfg.part_channels, cfg.norm, cfg.dropout, 0) for p in PARTS})
        for r in REGIONS:
            self.locals[r] = UNet(3, 1, cfg.region_channels, cfg.norm, cfg.dropout, cfg.region_dropout_levels)
        self.fusion = Fusion(cfg.fusion_channels, cfg.fusion_blocks, cfg.norm, cfg.dropout)
        if init:  # skipped when weights are loaded right after (faster start-up)
            init_weights(self)

    def forward(self, photo: torch.Tensor, boxes: torch.Tensor, fg: torch.Tensor) -> GeneratorOutput:
        size = int(photo.shape[-1])  # static under ONNX tracing
        g = self.global_net(photo)
        hws = [box_sizes(size)[p][::-1] for p in PARTS]  # static (h, w): the generator exports whole
        parts = {p: self.locals[p](crop(photo, boxes[:, i], hws[i])) for i, p in enumerate(PARTS)}
        hair_m, bg_m = region_masks(fg, boxes)
        regions = {}
        for name, m in (("hair", hair_m), ("bg", bg_m)):
            regions[name] = masked(self.locals[name](masked(photo, m)), m)
        # Min pooling: darker strokes win where regions overlap; +1 (white) outside each region.
        layers = [paste(parts[p], boxes[:, i], size, 1.0) for i, p in enumerate(PARTS)]
        layers += [masked(regions["hair"], hair_m, 1.0), masked(regions["bg"], bg_m, 1.0)]
        local = torch.stack(layers, 0).amin(0)
        return GeneratorOutput(self.fusion(g, local), g, local, parts, regions)


class HierarchicalDiscriminator(nn.Module):
    """Global + six local PatchGANs on (photo, drawing) pairs; returns logits keyed by name."""

    def __init__(self, cfg: DiscriminatorConfig, local: bool = True):
        super().__init__()
        self.global_net = PatchGAN(4, cfg.channels, cfg.norm)
        self.locals = nn.ModuleDict({n: PatchGAN(4, cfg.local_channels, cfg.norm) for n in LOCALS}) if local else nn.ModuleDict()
        init_weights(self)

    def forward(self, photo: torch.Tensor, drawing: torch.Tensor, boxes: torch.Tensor, fg: torch.Tensor) -> dict[str, torch.Tensor]:
        ab = torch.cat([photo, drawing], 1)
        out = {"global": self.global_net(ab)}
        if len(self.locals):
            for i, p in enumerate(PARTS):
                out[p] = self.locals[p](crop(ab, boxes[:, i]))
            hair_m, bg_m = region_masks(fg, boxes)
            out["hair"] = self.locals["hair"](masked(ab, hair_m))
            out["bg"] = self.locals["bg"](masked(ab, bg_m))
        return out


class GlobalGenerator(nn.Module):
    """The pix2pix baseline: the global U-Net alone (same call signature as the hierarchical one)."""

    def __init__(self, cfg: GeneratorConfig, init: bool = True):
        super().__init__()
        self.cfg = cfg
        self.global_net = UNet(3, 1, cfg.global_channels, cfg.norm, cfg.dropout, cfg.global_dropout_levels)
        if init:
            init_weights(self)

    def forward(self, photo: torch.Tensor, boxes: torch.Tensor, fg: torch.Tensor) -> GeneratorOutput:
        g = self.global_net(photo)
        return GeneratorOutput(g, g, g)


def downsample_inputs(photo: torch.Tensor, boxes: torch.Tensor, fg: torch.Tensor, size: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Bring generator inputs to ``size``: the rule inference uses (antialiased bilinear photo, fg >= 0.5, rescaled boxes).

    photo (B, 3, S, S), boxes (B, 4, 4) in the S frame, fg (B, 1, S, S) -> the same at ``size``.
    """
    s = int(photo.shape[-1])
    if s == size:
        return photo, fit_boxes(boxes, s, size), fg
    photo = F.interpolate(photo, size=(size, size), mode="bilinear", align_corners=False, antialias=True)
    fg = (F.interpolate(fg, size=(size, size), mode="bilinear", align_corners=False) >= 0.5).to(photo.dtype)
    return photo, fit_boxes(boxes, s, size), fg


class RefineHead(nn.Module):
    """Ours: draws a 2S² drawing from the S² drawing upsampled and the 2S² photo's luminance.

    Works at S on a pixel-unshuffled input (each 2x2 block of the two 2S² channels
    becomes 4 channels), so its cost is that of a few narrow convs at S; ends in a
    pixel shuffle back to 2S². It predicts a residual in the tanh-logit domain of the
    upsampled drawing; the last conv starts at zero, so an untrained head returns
    the (bilinearly) upsampled drawing and fine-tuning from a 1x model starts
    where that model was.

    forward(coarse (B, 1, S, S) in [-1, 1], photo (B, 3, 2S, 2S) in [-1, 1]) -> (B, 1, 2S, 2S) in (-1, 1).
    """

    def __init__(self, channels: int, blocks: int):
        super().__init__()
        layers: list[nn.Module] = [nn.Conv2d(8, channels, 3, padding=1), nn.ReLU(True)]
        for _ in range(blocks):
            layers += [nn.Conv2d(channels, channels, 3, padding=1), nn.ReLU(True)]
        self.body = nn.Sequential(*layers)
        self.out = nn.Conv2d(channels, 4, 3, padding=1)
        nn.init.zeros_(self.out.weight)
        nn.init.zeros_(self.out.bias)

    def forward(self, coarse: torch.Tensor, photo: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(coarse, size=photo.shape[-2:], mode="bilinear", align_corners=False)
        gray = (0.299 * photo[:, 0:1] + 0.587 * photo[:, 1:2] + 0.114 * photo[:, 2:3])
        x = F.pixel_unshuffle(torch.cat([up, gray], 1), 2)  # (B, 8, S, S)
        residual = F.pixel_shuffle(self.out(self.body(x)), 2)  # (B, 1, 2S, 2S)
        # atanh of a slightly shrunk drawing: finite logits even where the drawing saturates.
        return torch.tanh(torch.atanh(up.clamp(-1, 1) * 0.999) + residual)


class RefinedGenerator(nn.Module):
    """A 1x generator (hierarchical or global) at S followed by a :class:`RefineHead` to 2S.

    forward(photo (B, 3, 2S, 2S) in [-1, 1], boxes (B, 4, 4) in the 2S frame, fg (B, 1, 2S, 2S))
    -> :class:`GeneratorOutput` whose ``drawing`` is (B, 1, 2S, 2S); every other field
    (global, local, parts, regions, and ``coarse``: the S² fused drawing) is at S.
    """

    def __init__(self, base: nn.Module, cfg: GeneratorConfig):
        super().__init__()
        self.cfg = cfg
        self.base = base
        self.head = RefineHead(cfg.refine_channels, cfg.refine_blocks)

    def forward(self, photo: torch.Tensor, boxes: torch.Tensor, fg: torch.Tensor) -> GeneratorOutput:
        out = self.base(*downsample_inputs(photo, boxes, fg, self.cfg.resolution))
        out.coarse = out.drawing
        out.drawing = self.head(out.drawing, photo)
        return out


def build_generator(cfg: GeneratorConfig, hierarchical: bool = True, init: bool = True) -> nn.Module:
    """The generator ``cfg`` describes: hierarchical (or the global pix2pix one), with the refinement head when configured.

    Its forward takes inputs at ``cfg.output_resolution``.
    """
    base = HierarchicalGenerator(cfg, init=init) if hierarchical else GlobalGenerator(cfg, init=init)
    return RefinedGenerator(base, cfg) if cfg.refine_channels else base


def generator_base(generator: nn.Module) -> nn.Module:
    """The 1x (hierarchical or global) part of a generator built by :func:`build_generator`."""
    return generator.base if isinstance(generator, RefinedGenerator) else generator


# --------------------------------------------------------------------------- inference


class APDrawingGAN(nn.Module):
    """Inference wrapper: a trained generator plus what it needs to run on aligned 512² faces.

    ``generator`` is a :class:`HierarchicalGenerator` (or :class:`GlobalGenerator`
    when ``hierarchical`` is False). The model runs at ``cfg.resolution``; inputs
    and outputs of :meth:`draw` are at 512². ``num_threads``: torch CPU threads
    while drawing (restored afterwards; None keeps the process setting; see
    :func:`apdraw.runtime.torch_threads` for why the default is 1).
    """

    def __init__(
        self, cfg: GeneratorConfig, hierarchical: bool = True, num_threads: int | None = 1, generator: nn.Module | None = None
    ):
        super().__init__()
        self.cfg = cfg
        self.hierarchical = hierarchical
        self.num_threads = num_threads
        if generator is None:
            generator = build_generator(cfg, hierarchical)
        self.generator = generator
        self.eval()

    # -- persistence --------------------------------------------------------
    def save(self, path: str | Path, half: bool = True, extra: dict[str, str] | None = None) -> Path:
        """Write the generator as safetensors (fp16 by default), its config in the metadata."""
        from apdraw.persistence import save_model

        meta = {"hierarchical": json.dumps(self.hierarchical)} | (extra or {})
        return save_model(path, self.generator, FORMAT, self.cfg, half=half, extra=meta)

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None, num_threads: int | None = 1) -> "APDrawingGAN":
        """Load ``path``, or the shipped default weights when None.

        Raises:
            FileNotFoundError: no such file.
            apdraw.persistence.WeightsError: not an apdraw APDrawingGAN file, or its tensors do not fit.
        """
        from apdraw.persistence import load_model

        def build(cfg: GeneratorConfig, meta: dict[str, str]) -> nn.Module:
            return build_generator(cfg, bool(json.loads(meta.get("hierarchical", "true"))), init=False)

        generator, _ = load_model(path if path is not None else DEFAULT_WEIGHTS, FORMAT, GeneratorConfig, build)
        hierarchical = isinstance(generator_base(generator), HierarchicalGenerator)
        return cls(generator.cfg, hierarchical, num_threads, generator=generator)

    # -- running ------------------------------------------------------------
    @torch.no_grad()
    def draw(self, photos: torch.Tensor, boxes: torch.Tensor, fg: torch.Tensor) -> torch.Tensor:
        """Aligned photos -> drawings, at the photos' size.

        ``photos`` (B, 3, S, S) uint8 or float in [0, 255]; ``boxes`` (B, 4, 4)
        part boxes (x0, y0, x1, y1) in that S frame, PARTS order; ``fg``
        (B, 1, S, S) foreground in {0, 1}. Returns (B, S, S) uint8, 255 = paper.
        """
        b, _, size, _ = check_shape(photos, "photos", (None, 3, None, None))
        check_shape(photos, "photos", (b, 3, size, size))
        check_shape(boxes, "boxes", (b, len(PARTS), 4))
        check_shape(fg, "fg", (b, 1, size, size))
        return self(photos, boxes, fg)

    def forward(self, photos: torch.Tensor, boxes: torch.Tensor, fg: torch.Tensor) -> torch.Tensor:
        """:meth:`draw` without its checks and ``no_grad``: the whole computation, as exported to ONNX."""
        s = self.cfg.output_resolution
        size = int(photos.shape[-1])
        x, b, m = downsample_inputs(photos.float() / 127.5 - 1.0, boxes, fg.float(), s)
        with torch_threads(self.num_threads, x.device):
            y = self.generator(x, b, m).drawing
        if size != s:
            y = F.interpolate(y, size=(size, size), mode="bicubic", align_corners=False)
        return ((y[:, 0].clamp(-1, 1) + 1.0) * 127.5).round().to(torch.uint8)


def export_onnx(model: APDrawingGAN, out: str | Path, size: int = 512, half: bool = True, opset: int = 18) -> Path:
    """Write ``model``'s whole :meth:`APDrawingGAN.draw` at ``size``² as an ONNX graph.

    Inputs ``photos`` (B, 3, size, size) uint8, ``boxes`` (B, 4, 4) int64 (the
    ``size`` frame), ``fg`` (B, 1, size, size) float32 in {0, 1}; output
    ``drawing`` (B, size, size) uint8; B is dynamic. The resizing to the model's
    resolution and back is inside the graph. ``half``: store as fp16 each weight
    that fp16 represents exactly (all of them for fp16 weight files), cast back to
    fp32 when the session loads: lossless, half the size; the arithmetic stays fp32.
    Needs the ``onnx`` and ``onnxscript`` packages (the ``test`` extra).
    """
    import tempfile

    import onnx

    from apdraw.io import atomic_write

    out = Path(out)
    model = model.float().eval()
    photos = torch.zeros(2, 3, size, size, dtype=torch.uint8)
    boxes = fit_boxes(torch.tensor([[[160, 200, 272, 280], [272, 200, 384, 280], [208, 232, 304, 328], [192, 336, 320, 416]]] * 2), size, size)
    fg = torch.ones(2, 1, size, size)
    batch = torch.export.Dim("batch", min=1, max=64)
    threads = model.num_threads
    model.num_threads = None  # no set_num_threads while tracing
    try:
        with tempfile.TemporaryDirectory() as tmp, torch.no_grad():
            # The dynamo exporter (the TorchScript one has no antialiased resize) may write the
            # weights beside the graph; loading and saving again makes one self-contained file.
            torch.onnx.export(
                model, (photos, boxes, fg), str(Path(tmp) / "g.onnx"), input_names=["photos", "boxes", "fg"],
                output_names=["drawing"], opset_version=opset, dynamo=True, verbose=False,
                dynamic_shapes=({0: batch}, {0: batch}, {0: batch}),
            )  # fmt: skip
            graph = onnx.load(str(Path(tmp) / "g.onnx"))
    finally:
        model.num_threads = threads
    if half:
        _store_fp16(graph)
    graph.producer_name = "apdraw"
    graph.doc_string = f"{FORMAT} draw at {size}x{size}"
    with atomic_write(out) as f:
        f.write(graph.SerializeToString())
    return out


def _store_fp16(graph) -> None:
    """Store an ONNX model's large float initializers as fp16, each followed by a Cast back to float."""
    import numpy as np
    import onnx
    from onnx import TensorProto, helper, numpy_helper

    nodes = []
    for init in graph.graph.initializer:
        if init.data_type != TensorProto.FLOAT or np.prod(init.dims) < 16:
            continue
        arr = numpy_helper.to_array(init)
        if not np.array_equal(arr.astype(np.float16).astype(np.float32), arr):
            continue  # not exactly representable: keep fp32
        name = init.name
        init.CopyFrom(numpy_helper.from_array(arr.astype(np.float16), name + "_fp16"))
        nodes.append(helper.make_node("Cast", [name + "_fp16"], [name], to=TensorProto.FLOAT))
    rest = list(graph.graph.node)
    del graph.graph.node[:]
    graph.graph.node.extend(nodes + rest)  # the casts ahead of their users: still topologically sorted
    onnx.checker.check_model(graph)
