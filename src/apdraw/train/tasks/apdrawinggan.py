"""`apdraw train apdrawinggan`: the APDrawingGAN training task (paper sections 3.3-3.4).

Two stages, each runnable on its own:

* ``stage=pretrain``: NPR pairs (photos of ``data.photo_roots`` drawn by
  :mod:`apdraw.npr`), no DT loss (the paper's pre-training);
* ``stage=formal``: artist drawings (FS2K by style, CUFS, APDrawingDB or any
  paired folders), DT loss on; ``init=<pretrain run>/checkpoints/latest.pt``
  starts from the pre-trained G and D.

With ``loop.ema_decay`` > 0 the loop keeps an EMA of G, which the sample
grids, validation and ``apdraw export`` use. ``loop.validate_every`` scores G
on held-out pairs (``val_items`` of the same source's validation split): L1
and the line Chamfer distance in pixels at 512.

``hierarchical=false`` trains the pix2pix baseline (global U-Net and global
PatchGAN only, no local terms). Per step: D first, then G (as the original).
G loss = GAN (global + 0.25 x local) + 100 L1 + 25 local L1 + lambda_dt x (DT both
directions). The learning rate is constant, then decays linearly, and never
reaches zero (the original's last epoch ran at lr 0).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
from torch import nn

from apdraw.data.paired import DataConfig, PairedDrawingDataset, build_records, preprocess
from apdraw.losses.dt import ChamferLoss, DTLossConfig
from apdraw.losses.gan import GanKind, gan_loss
from apdraw.models.apdrawinggan import (
    PARTS,
    DiscriminatorConfig,
    GeneratorConfig,
    GeneratorOutput,
    GlobalGenerator,
    HierarchicalDiscriminator,
    HierarchicalGenerator,
    compact_config,
    crop,
    masked,
    region_masks,
)
from apdraw.persistence import checkpoint_module, read_checkpoint
from apdraw.train.loop import Context, LoopConfig, TrainTask


@dataclass
class LossConfig:
    gan: GanKind = "vanilla"
    lambda_l1: float = 100.0
    lambda_local: float = 25.0  # local transfer L1 (each of the six local outputs)
    local_gan: float = 0.25  # weight of the six local adversarial terms in G's loss
    # Per DT direction. The original's 0.1 multiplied a pixel *sum*; ours is a mean in [0, 2).
    # 10 made the DT term dominate locally on FS2K (G drew hatching to put ink near every real
    # stroke, then the local Ds took over); 1 keeps it an auxiliary term next to 100 x L1.
    lambda_dt: float = 1.0
    dt: DTLossConfig = field(default_factory=DTLossConfig)
    line_detector: str = ""  # .safetensors or a linedetector run's latest.pt; "" = every ink pixel is a line


def _compact_g() -> GeneratorConfig:
    return compact_config()[0]


def _compact_d() -> DiscriminatorConfig:
    return compact_config()[1]


@dataclass
class Config:
    stage: Literal["pretrain", "formal"] = "formal"
    hierarchical: bool = True  # False = pix2pix baseline: global G and D only
    generator: GeneratorConfig = field(default_factory=_compact_g)
    discriminator: DiscriminatorConfig = field(default_factory=_compact_d)
    init: str = ""  # checkpoint (latest.pt of another run) whose G and D start this run
    val_items: int = 8  # held-out pairs scored by validate() (loop.validate_every); 0 = none
    lr: float = 2e-4
    betas: tuple[float, float] = (0.5, 0.999)
    decay_start: float = 0.5  # fraction of loop.steps at constant lr before the linear decay
    data: DataConfig = field(default_factory=DataConfig)
    loss: LossConfig = field(default_factory=LossConfig)
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(out_dir="runs/apdrawinggan", batch_size=1))

    def __post_init__(self) -> None:
        if not 0.0 <= self.decay_start <= 1.0:
            raise ValueError(f"decay_start must be in [0, 1], got {self.decay_start}")
        if self.lr <= 0:
            raise ValueError(f"lr must be positive, got {self.lr}")
        if self.val_items < 0:
            raise ValueError(f"val_items must be >= 0, got {self.val_items}")


def lr_factor(step: int, total: int, decay_start: float) -> float:
    """1 until ``decay_start * total``, then linear towards 0 without reaching it: 1/(n+1) at the last step."""
    start = int(decay_start * total)
    return 1.0 - max(0, step - start) / (total - start + 1)


def load_line_detector(path: str) -> nn.Module | None:
    """A line detector from a .safetensors export or from a `linedetector` run's checkpoint."""
    if not path:
        return None
    from apdraw.models.linedetector import LineDetector

    if path.endswith(".safetensors"):
        return LineDetector.load(path)
    from apdraw.train.tasks.linedetector import detector_from_checkpoint

    return detector_from_checkpoint(path)


class Task(TrainTask):
    ema_modules = ("G",)

    def __init__(self, cfg: Config, dataset: torch.utils.data.Dataset | None = None,
                 val_dataset: torch.utils.data.Dataset | None = None):
        super().__init__()
        self.config = cfg
        self.use_dt = cfg.stage == "formal" and cfg.loss.lambda_dt > 0
        if dataset is None:
            records, tag = build_records(cfg.data)
            files = preprocess(records, cfg.data.cache_dir, tag)
            dataset = PairedDrawingDataset(files, cfg.generator.resolution, cfg.data.augment, cfg.loss.dt if self.use_dt else None)
        self.dataset = dataset
        self._val_dataset = val_dataset

    def val_dataset(self) -> torch.utils.data.Dataset | None:
        """The held-out pairs of validate(): built on first use, from the same source's validation split."""
        if self._val_dataset is None and self.config.val_items and self.config.data.source != "npr":
            from dataclasses import replace

            data = replace(self.config.data, split="val", max_items=self.config.val_items)
            records, tag = build_records(data)
            if records:
                files = preprocess(records, data.cache_dir, tag)
                self._val_dataset = PairedDrawingDataset(files, self.config.generator.resolution) if files else None
        return self._val_dataset

    def build(self, ctx: Context) -> None:
        cfg = self.config
        g = HierarchicalGenerator(cfg.generator) if cfg.hierarchical else GlobalGenerator(cfg.generator)
        d = HierarchicalDiscriminator(cfg.discriminator, local=cfg.hierarchical)
        if cfg.init:
            state = read_checkpoint(cfg.init)
            g.load_state_dict(checkpoint_module(state, "G", prefer_ema=False, source=cfg.init))
            d.load_state_dict(checkpoint_module(state, "D", prefer_ema=False, source=cfg.init))
        self.g, self.d = ctx.prepare(g), ctx.prepare(d)
        self.modules.update(G=self.g, D=self.d)
        self.g_train, self.d_train = ctx.wrap(self.g), ctx.wrap(self.d)
        self.dt_loss = ChamferLoss(cfg.loss.dt, cfg.generator.resolution, load_line_detector(cfg.loss.line_detector)) if self.use_dt else None
        if self.dt_loss is not None:
            self.dt_loss = self.dt_loss.to(ctx.device)
        for name, m in (("G", self.g), ("D", self.d)):
            opt = torch.optim.Adam(m.parameters(), lr=cfg.lr, betas=cfg.betas)
            self.optimizers[name] = opt
            total, start = cfg.loop.steps, cfg.decay_start
            self.schedulers[name] = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, start))

    # ------------------------------------------------------------------ losses

    def _d_terms(self, logits: dict[str, torch.Tensor], real: bool) -> torch.Tensor:
        kind = self.config.loss.gan
        return sum(gan_loss(v, real, kind) for v in logits.values())

    def _local_l1(self, out: GeneratorOutput, drawing: torch.Tensor, boxes: torch.Tensor, fg: torch.Tensor) -> torch.Tensor:
        terms = [(out.parts[p] - crop(drawing, boxes[:, i])).abs().mean() for i, p in enumerate(PARTS)]
        hair_m, bg_m = region_masks(fg, boxes)
        terms.append((out.regions["hair"] - masked(drawing, hair_m)).abs().mean())
        terms.append((out.regions["bg"] - masked(drawing, bg_m)).abs().mean())
        return sum(terms)

    def train_step(self, batch: dict[str, torch.Tensor], step: int, ctx: Context) -> dict[str, float]:
        cfg, lc = self.config, self.config.loss
        photo, drawing, fg, boxes = batch["photo"], batch["drawing"], batch["fg"], batch["boxes"]
        with ctx.autocast():
            out = self.g_train(photo, boxes, fg)
        fake = out.drawing.float()

        # D: real pairs -> 1, generated pairs -> 0, global and local patches alike.
        with ctx.autocast():
            d_fake = self.d_train(photo, fake.detach(), boxes, fg)
            d_real = self.d_train(photo, drawing, boxes, fg)
        loss_d = 0.5 * (self._d_terms(d_fake, False) + self._d_terms(d_real, True))
        ctx.step(self.optimizers["D"], loss_d)

        # G: fool D (frozen: no gradients for its weights), match the drawing globally and per
        # region, and match its lines (DT).
        with ctx.frozen(self.d) as d, ctx.autocast():
            d_fake = d(photo, fake, boxes, fg)
        gan_g = gan_loss(d_fake["global"], True, lc.gan)
        gan_l = sum((gan_loss(v, True, lc.gan) for k, v in d_fake.items() if k != "global"), torch.zeros((), device=fake.device))
        l1 = (fake - drawing).abs().mean()
        loss_g = gan_g + lc.local_gan * gan_l + lc.lambda_l1 * l1
        scalars = {"loss_d": loss_d.item(), "gan_g": gan_g.item(), "l1": l1.item()}
        if cfg.hierarchical:
            local = self._local_l1(out, drawing, boxes, fg)
            loss_g = loss_g + lc.lambda_local * local
            scalars.update(gan_local=gan_l.item(), l1_local=local.item())
        if self.dt_loss is not None:
            r2f, f2r = self.dt_loss(fake, batch["lines"], batch["dt"])
            loss_g = loss_g + lc.lambda_dt * (r2f + f2r)
            scalars.update(dt_real2fake=r2f.item(), dt_fake2real=f2r.item())
        ctx.step(self.optimizers["G"], loss_g)
        scalars["loss_g"] = loss_g.item()
        return scalars

    # ------------------------------------------------------------------ previews

    def sample(self, batch: dict[str, torch.Tensor], ctx: Context) -> np.ndarray:
        """Rows of [photo | artist drawing | output | global output | local blend], up to 4 rows."""
        n = min(4, batch["photo"].shape[0])
        out = self.averaged("G")(batch["photo"][:n], batch["boxes"][:n], batch["fg"][:n])

        def rgb(x: torch.Tensor) -> torch.Tensor:
            x = x.float().clamp(-1, 1)
            return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

        cols = [rgb(batch["photo"][:n]), rgb(batch["drawing"][:n]), rgb(out.drawing), rgb(out.global_out), rgb(out.local_out)]
        grid = torch.cat([torch.cat(list(c), 1) for c in cols], 2)  # (3, n*S, 5*S)
        return ((grid.permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().astype(np.uint8)


    def validate(self, ctx: Context) -> dict[str, float] | None:
        """Mean L1 (in [-1, 1] units) and line Chamfer (strokes = gray < 0.5) on held-out pairs.

        The Chamfer distance is measured at the training resolution and scaled to pixels at 512.
        """
        from apdraw.eval.metrics import chamfer_distance

        ds = self.val_dataset()
        if ds is None:
            return None
        g = self.averaged("G")
        l1, chamfer = [], []
        for i in range(len(ds)):
            item = ctx.to_device(ds[i])
            fake = g(item["photo"][None], item["boxes"][None], item["fg"][None]).drawing.float()
            l1.append((fake - item["drawing"][None]).abs().mean().item())
            scale = 512 / fake.shape[-1]
            pred, ref = (fake[0, 0].cpu().numpy() + 1) / 2, (item["drawing"][0].cpu().numpy() + 1) / 2
            chamfer.append(scale * chamfer_distance(pred, ref, threshold=0.5))
        return {"l1": float(np.mean(l1)), "chamfer_px": float(np.mean(chamfer))}


# --------------------------------------------------------------------------- checkpoints -> inference


def model_from_checkpoint(path: str | Path, prefer_ema: bool = True):
    """The generator of a training checkpoint (``latest.pt``) as an eval-mode :class:`APDrawingGAN`.

    Uses the run's EMA generator when it kept one (and ``prefer_ema``).
    """
    from apdraw.config import from_dict
    from apdraw.models.apdrawinggan import APDrawingGAN

    state = read_checkpoint(path)
    cfg = from_dict(Config, state["config"])
    model = APDrawingGAN(cfg.generator, hierarchical=cfg.hierarchical)
    model.generator.load_state_dict(checkpoint_module(state, "G", prefer_ema, source=str(path)))
    model.step = int(state["step"])  # type: ignore[attr-defined]
    return model.eval()


#: What `apdraw export apdrawinggan` writes (`--format`).
EXPORT_FORMATS = ("safetensors", "onnx")


def export(checkpoint: str | Path, out: str | Path, half: bool = True, format: str = "safetensors") -> Path:
    """Write a checkpoint's generator (EMA when kept) for ``APDrawingGAN.from_pretrained``, or as ONNX.

    ``checkpoint``: a training checkpoint, or a ``.safetensors`` weights file (the
    shipped one, to make its ONNX graph). ``format="onnx"``: the whole
    ``APDrawingGAN.draw`` at 512² (:func:`apdraw.models.apdrawinggan.export_onnx`),
    for ``apdraw draw --runtime onnx --weights OUT``.
    """
    from apdraw.models.apdrawinggan import APDrawingGAN, export_onnx

    if format not in EXPORT_FORMATS:
        raise ValueError(f"unknown export format {format!r}; use one of {list(EXPORT_FORMATS)}")
    if Path(checkpoint).suffix == ".safetensors":
        model = APDrawingGAN.from_pretrained(checkpoint)
        extra = {"source": Path(checkpoint).name}
    else:
        model = model_from_checkpoint(checkpoint)
        extra = {"train_step": str(model.step), "source": Path(checkpoint).name}
    if format == "onnx":
        return export_onnx(model, out, half=half)
    return model.save(out, half=half, extra=extra)
