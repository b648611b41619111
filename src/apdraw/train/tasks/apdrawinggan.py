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

Compute-efficient additions (not in the paper; all off by default, switched on by
``apdrawinggan_fast.yaml``; docs/TRAINING.md measures each):

* ``augment.policy``: DiffAugment before every discriminator call (D and G steps);
* ``loss.projected_gan``: a projected discriminator (frozen ImageNet MobileNetV2
  features, random cross-channel/cross-scale mixing, small heads; hinge loss)
  judging (photo, drawing) pairs at ``projected.resolution``, next to the PatchGANs;
* ``loss.feature_matching``: pix2pixHD feature matching on its heads' activations;
  ``loss.perceptual``: L1 of normalised MobileNetV2 features (fake vs artist);
* ``loss.r1_gamma``: lazy R1 on the PatchGANs' real inputs every ``loss.r1_every`` steps;
* ``generator.refine_channels``: a 2x refinement head, so the output is drawn at
  512² (the PatchGANs and local losses stay at the 256² working size; L1, DT
  and the projected D see the 512² output);
* ``init`` may be a ``.safetensors`` generator (e.g. the shipped one): G starts from
  it (the refinement head, if any, starts as an upsampler), D from scratch.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from apdraw.data.paired import DataConfig, PairedDrawingDataset, build_records, preprocess
from apdraw.losses.dt import ChamferLoss, DTLossConfig
from apdraw.losses.diffaugment import DiffAugmentConfig, diff_augment
from apdraw.losses.gan import GanKind, gan_loss, r1_penalty
from apdraw.models.apdrawinggan import (
    PARTS,
    DiscriminatorConfig,
    GeneratorConfig,
    GeneratorOutput,
    HierarchicalDiscriminator,
    build_generator,
    compact_config,
    crop,
    downsample_inputs,
    generator_base,
    masked,
    region_masks,
)
from apdraw.models.projected import ProjectedConfig, ProjectedDiscriminator
from apdraw.persistence import checkpoint_module, read_checkpoint
from apdraw.train.loop import Context, LoopConfig, TrainingSetupError, TrainTask, lazy_regularization
from apdraw.train.tasks.linedetector import load_line_detector


@dataclass
class LossConfig:
    gan: GanKind = "vanilla"
    lambda_l1: float = 100.0
    lambda_local: float = 25.0  # local transfer L1 (each of the six local outputs)
    global_gan: float = 1.0  # weight of the global PatchGAN term in G's loss
    local_gan: float = 0.25  # weight of the six local adversarial terms in G's loss
    # Per DT direction. The original's 0.1 multiplied a pixel *sum*; ours is a mean in [0, 2).
    # 10 made the DT term dominate locally on FS2K (G drew hatching to put ink near every real
    # stroke, then the local Ds took over); 1 keeps it an auxiliary term next to 100 x L1.
    lambda_dt: float = 1.0
    dt: DTLossConfig = field(default_factory=DTLossConfig)
    line_detector: str = ""  # .safetensors or a linedetector run's latest.pt; "" = every ink pixel is a line
    # Not in the paper (issue #11, docs/TRAINING.md); 0 = off.
    projected_gan: float = 0.0  # weight of the projected discriminator in G's loss; > 0 builds it
    projected_kind: GanKind = "hinge"  # the Projected GAN paper's loss
    feature_matching: float = 0.0  # L1 between the projected D's head activations for fake and real
    perceptual: float = 0.0  # L1 between normalised MobileNetV2 features of fake and artist drawing
    r1_gamma: float = 0.0  # R1 weight (gamma / 2 x |grad|²) on the PatchGANs' real inputs
    r1_every: int = 16  # lazy R1: computed every N steps, weighted by N

    def __post_init__(self) -> None:
        for name in ("lambda_l1", "lambda_local", "global_gan", "local_gan", "lambda_dt", "projected_gan",
                     "feature_matching", "perceptual", "r1_gamma"):
            if getattr(self, name) < 0:
                raise ValueError(f"loss.{name} must be >= 0, got {getattr(self, name)}")
        if self.r1_every <= 0:
            raise ValueError(f"loss.r1_every must be positive, got {self.r1_every}")
        if self.feature_matching > 0 and self.projected_gan == 0:
            raise ValueError("loss.feature_matching uses the projected discriminator's features: set loss.projected_gan > 0")


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
    # latest.pt of another run (its G and D start this run), or a .safetensors generator (G only)
    init: str = ""
    projected: ProjectedConfig = field(default_factory=ProjectedConfig)  # used when loss.projected_gan > 0
    augment: DiffAugmentConfig = field(default_factory=DiffAugmentConfig)  # DiffAugment before every D
    val_items: int = 8  # held-out pairs scored by validate() (loop.validate_every); 0 = none
    val_floor_items: int = 0  # training drawings for validate()'s real-vs-real FID floor; 0 = no FID
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


class Task(TrainTask):
    ema_modules = ("G",)

    def __init__(self, cfg: Config, dataset: torch.utils.data.Dataset | None = None,
                 val_dataset: torch.utils.data.Dataset | None = None):
        super().__init__()
        self.config = cfg
        self.use_dt = cfg.stage == "formal" and cfg.loss.lambda_dt > 0
        self.size = cfg.generator.output_resolution  # training pairs and G's output
        if dataset is None:
            records, tag = build_records(cfg.data)
            files = preprocess(records, cfg.data.cache_dir, tag)
            dataset = PairedDrawingDataset(files, self.size, cfg.data.augment, cfg.loss.dt if self.use_dt else None)
        self.dataset = dataset
        self._val_dataset = val_dataset
        self._scorer = None

    def _held_out(self, split: str, items: int) -> PairedDrawingDataset | None:
        from dataclasses import replace

        data = replace(self.config.data, split=split, max_items=items)
        records, tag = build_records(data)
        files = preprocess(records, data.cache_dir, tag) if records else []
        # 512²: every model is scored against the same native-resolution drawings (see validate()).
        return PairedDrawingDataset(files, 512) if files else None

    def val_dataset(self) -> torch.utils.data.Dataset | None:
        """The held-out pairs of validate() at 512²: built on first use, from the same source's validation split."""
        if self._val_dataset is None and self.config.val_items and self.config.data.source != "npr":
            self._val_dataset = self._held_out("val", self.config.val_items)
        return self._val_dataset

    def build(self, ctx: Context) -> None:
        cfg = self.config
        g = build_generator(cfg.generator, cfg.hierarchical)
        d = HierarchicalDiscriminator(cfg.discriminator, local=cfg.hierarchical)
        if cfg.init:
            _load_init(g, d, cfg.init)
        self.g, self.d = ctx.prepare(g), ctx.prepare(d)
        self.modules.update(G=self.g, D=self.d)
        self.g_train, self.d_train = ctx.wrap(self.g), ctx.wrap(self.d)
        self.p = self.p_train = None
        if cfg.loss.projected_gan > 0:
            self.p = ctx.prepare(ProjectedDiscriminator(cfg.projected))
            self.modules["P"] = self.p
            self.p_train = ctx.wrap(self.p)
        self.perceptual = None
        if cfg.loss.perceptual > 0 and self.p is None:
            from apdraw.losses.perceptual import PerceptualLoss

            self.perceptual = ctx.prepare(PerceptualLoss(resolution=cfg.projected.resolution))
        self.dt_loss = ChamferLoss(cfg.loss.dt, self.size, load_line_detector(cfg.loss.line_detector)) if self.use_dt else None
        if self.dt_loss is not None:
            self.dt_loss = self.dt_loss.to(ctx.device)
        for name, m in self.modules.items():
            opt = torch.optim.Adam([p for p in m.parameters() if p.requires_grad], lr=cfg.lr, betas=cfg.betas)
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

    def _working_size(self, photo, drawing, fake, boxes, fg):
        """The PatchGANs' and local losses' inputs at the hierarchical networks' size (256² compact).

        With the refinement head, the 512² pairs are brought down by the rule the
        generator itself uses (:func:`downsample_inputs`); without it they already are.
        """
        s = self.config.generator.resolution
        if self.size == s:
            return photo, drawing, fake, boxes, fg
        photo_s, boxes_s, fg_s = downsample_inputs(photo, boxes, fg, s)

        def down(x: torch.Tensor) -> torch.Tensor:
            return F.interpolate(x, size=(s, s), mode="bilinear", align_corners=False, antialias=True)

        return photo_s, down(drawing), down(fake), boxes_s, fg_s

    def _aug(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return diff_augment(self.config.augment, *tensors)

    def train_step(self, batch: dict[str, torch.Tensor], step: int, ctx: Context) -> dict[str, float]:
        cfg, lc = self.config, self.config.loss
        photo, drawing, fg, boxes = batch["photo"], batch["drawing"], batch["fg"], batch["boxes"]
        with ctx.autocast():
            out = self.g_train(photo, boxes, fg)
        fake = out.drawing.float()
        photo_s, drawing_s, fake_s, boxes_s, fg_s = self._working_size(photo, drawing, fake, boxes, fg)
        scalars: dict[str, float] = {}

        # D: real pairs -> 1, generated pairs -> 0, global and local patches alike; each
        # discriminator call sees its own DiffAugment draw (real and fake alike).
        r1_weight = lazy_regularization(step, lc.r1_every) * lc.r1_gamma if lc.r1_gamma > 0 else 0.0
        real_in = drawing_s.detach().requires_grad_(True) if r1_weight else drawing_s
        with ctx.autocast():
            d_fake = self.d_train(*self._aug(photo_s, fake_s.detach()), boxes_s, fg_s)
            d_real = self.d_train(*self._aug(photo_s, real_in), boxes_s, fg_s)
        loss_d = 0.5 * (self._d_terms(d_fake, False) + self._d_terms(d_real, True))
        if r1_weight:
            r1 = r1_penalty(torch.cat([v.flatten(1) for v in d_real.values()], 1), real_in)
            loss_d = loss_d + r1_weight * 0.5 * r1
            scalars["r1"] = r1.item()
        ctx.step(self.optimizers["D"], loss_d)
        scalars["loss_d"] = loss_d.item()
        if self.p is not None:
            scalars["loss_p"] = self._projected_d_step(photo, drawing, fake.detach(), ctx)

        # G: fool the Ds (frozen: no gradients for their weights), match the drawing globally and
        # per region, and match its lines (DT).
        with ctx.frozen(self.d) as d, ctx.autocast():
            d_fake = d(*self._aug(photo_s, fake_s), boxes_s, fg_s)
        gan_g = gan_loss(d_fake["global"], True, lc.gan, for_discriminator=False)
        gan_l = sum((gan_loss(v, True, lc.gan, for_discriminator=False) for k, v in d_fake.items() if k != "global"), torch.zeros((), device=fake.device))
        l1 = (fake - drawing).abs().mean()
        loss_g = lc.global_gan * gan_g + lc.local_gan * gan_l + lc.lambda_l1 * l1
        scalars.update(gan_g=gan_g.item(), l1=l1.item())
        if cfg.hierarchical:
            local = self._local_l1(out, drawing_s, boxes_s, fg_s)
            loss_g = loss_g + lc.lambda_local * local
            scalars.update(gan_local=gan_l.item(), l1_local=local.item())
        if self.dt_loss is not None:
            r2f, f2r = self.dt_loss(fake, batch["lines"], batch["dt"])
            loss_g = loss_g + lc.lambda_dt * (r2f + f2r)
            scalars.update(dt_real2fake=r2f.item(), dt_fake2real=f2r.item())
        if self.p is not None:
            terms = self._projected_g_terms(photo, drawing, fake, ctx)
            loss_g = loss_g + lc.projected_gan * terms["gan_p"]
            loss_g = loss_g + lc.feature_matching * terms.get("fm", 0.0) + lc.perceptual * terms.get("perceptual", 0.0)
            scalars.update({k: v.item() for k, v in terms.items()})
        elif self.perceptual is not None:
            perc = self.perceptual(fake, drawing)
            loss_g = loss_g + lc.perceptual * perc
            scalars["perceptual"] = perc.item()
        ctx.step(self.optimizers["G"], loss_g)
        scalars["loss_g"] = loss_g.item()
        return scalars

    def _projected_d_step(self, photo: torch.Tensor, drawing: torch.Tensor, fake: torch.Tensor, ctx: Context) -> float:
        """One update of the projected discriminator (hinge by default) on augmented real and fake pairs."""
        kind = self.config.loss.projected_kind
        photo_r, real = self._aug(photo, drawing)
        photo_f, fake = self._aug(photo, fake)
        with torch.no_grad():  # the photo's features are constants; x is detached
            cond_r = self.p.project(photo_r)
            cond_f = cond_r if photo_f is photo_r else self.p.project(photo_f)
        with ctx.autocast():
            real_logits = self.p_train(real, cond_r)
            fake_logits = self.p_train(fake, cond_f)
        loss = sum(gan_loss(v, True, kind) for v in real_logits.values()) + sum(gan_loss(v, False, kind) for v in fake_logits.values())
        loss = loss / len(real_logits)
        ctx.step(self.optimizers["P"], loss)
        return loss.item()

    def _projected_g_terms(self, photo: torch.Tensor, drawing: torch.Tensor, fake: torch.Tensor, ctx: Context) -> dict[str, torch.Tensor]:
        """G's projected-D terms from one augmented (photo, fake, artist) triple.

        One joint DiffAugment draw for the triple: the adversarial term sees the
        augmented fake pair, and feature matching / perceptual compare it with the
        artist's drawing under the *same* transformation, reusing the projection.
        """
        lc = self.config.loss
        photo_a, fake_a, real_a = self._aug(photo, fake, drawing)
        with ctx.frozen(self.p) as p:
            with torch.no_grad():
                cond = p.project(photo_a)
            with ctx.autocast():
                fo = p(fake_a, cond, return_features=True)
            terms = {"gan_p": sum(gan_loss(v, True, lc.projected_kind, for_discriminator=False) for v in fo.logits.values()) / len(fo.logits)}
            if lc.feature_matching > 0 or lc.perceptual > 0:
                from apdraw.losses.perceptual import feature_matching_loss, perceptual_distance

                with torch.no_grad(), ctx.autocast():
                    ro = p(real_a, cond, return_features=True)
                if lc.feature_matching > 0:
                    terms["fm"] = feature_matching_loss(fo.head_features, ro.head_features)
                if lc.perceptual > 0:
                    terms["perceptual"] = perceptual_distance(fo.features.backbone, ro.features.backbone)
        return terms

    # ------------------------------------------------------------------ previews

    def sample(self, batch: dict[str, torch.Tensor], ctx: Context) -> np.ndarray:
        """Rows of [photo | artist drawing | output | global output | local blend], up to 4 rows."""
        n = min(4, batch["photo"].shape[0])
        out = self.averaged("G")(batch["photo"][:n], batch["boxes"][:n], batch["fg"][:n])
        size = batch["photo"].shape[-1]

        def rgb(x: torch.Tensor) -> torch.Tensor:
            x = x.float().clamp(-1, 1)
            if x.shape[-1] != size:  # the 256² intermediate outputs of a refined generator
                x = F.interpolate(x, size=(size, size), mode="nearest")
            return x.expand(-1, 3, -1, -1) if x.shape[1] == 1 else x

        cols = [rgb(batch["photo"][:n]), rgb(batch["drawing"][:n]), rgb(out.drawing), rgb(out.global_out), rgb(out.local_out)]
        grid = torch.cat([torch.cat(list(c), 1) for c in cols], 2)  # (3, n*S, 5*S)
        return ((grid.permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().astype(np.uint8)

    def validate(self, ctx: Context) -> dict[str, float] | None:
        """Scores of the (EMA) generator on held-out pairs, aligned 512² frame, as inference draws them.

        Always: mean L1 (in [-1, 1] units) and :func:`apdraw.eval.quick.QuickScorer`'s
        metrics (Chamfer at the 0.75 and 0.5 stroke thresholds, SSIM, share of ink far
        from artist strokes, FID_mnv2 / KID_mnv2 against the held-out drawings). With
        ``val_floor_items`` > 0 also their real-vs-real floor (that many training
        drawings against the held-out ones; use as many as ``val_items``: FID is biased by N).
        """
        ds = self.val_dataset()
        if ds is None:
            return None
        g = self.averaged("G")
        preds, refs, l1 = [], [], []
        for i in range(len(ds)):
            item = ctx.to_device(ds[i])
            # The inference rule (APDrawingGAN.draw): the pair's (512²) inputs brought to G's
            # input size, its drawing brought back to the pair's size (bicubic) when smaller.
            size = item["drawing"].shape[-1]
            inputs = downsample_inputs(item["photo"][None], item["boxes"][None], item["fg"][None], self.size)
            fake = g(*inputs).drawing.float()
            if fake.shape[-1] != size:
                fake = F.interpolate(fake, size=(size, size), mode="bicubic", align_corners=False)
            l1.append((fake.clamp(-1, 1) - item["drawing"][None]).abs().mean().item())
            preds.append(_to_u8(fake[0, 0]))
            refs.append(_to_u8(item["drawing"][0]))
        if self._scorer is None:
            from apdraw.eval.quick import QuickScorer

            floor = None
            if self.config.val_floor_items:
                train = self._held_out("train", self.config.val_floor_items)
                floor = [_to_u8(train[i]["drawing"][0]) for i in range(len(train))] if train is not None else None
            self._scorer = QuickScorer(refs, floor_refs=floor)
        return {"l1": float(np.mean(l1)), **self._scorer(preds)}


def _to_u8(x: torch.Tensor) -> np.ndarray:
    """(S, S) drawing in [-1, 1] -> (S, S) uint8, 255 = paper."""
    return ((x.float().clamp(-1, 1) + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


def _load_init(g: nn.Module, d: nn.Module, path: str) -> None:
    """Start G (and D) from another run's checkpoint, or G alone from a ``.safetensors`` generator.

    A generator without a refinement head loads into the 1x part of one that has
    it (the head then starts as an upsampler).
    """
    if path.endswith(".safetensors"):
        from apdraw.models.apdrawinggan import APDrawingGAN

        g_state, d_state = APDrawingGAN.from_pretrained(path, num_threads=None).generator.state_dict(), None
    else:
        state = read_checkpoint(path)
        g_state = checkpoint_module(state, "G", prefer_ema=False, source=path)
        d_state = checkpoint_module(state, "D", prefer_ema=False, source=path)
    has_head = any(k.startswith("head.") for k in g_state)
    if has_head and generator_base(g) is g:
        raise TrainingSetupError(f"init {path} has a refinement head: set generator.refine_channels and refine_blocks like its run")
    try:
        (g if has_head else generator_base(g)).load_state_dict(g_state)
        if d_state is not None:
            d.load_state_dict(d_state)
    except RuntimeError as exc:  # shapes or names differ: another network configuration
        lines = str(exc).splitlines()
        detail = (lines[1] if len(lines) > 1 else lines[0]).strip()[:240]
        raise TrainingSetupError(f"init {path} does not fit this run's generator/discriminator config: {detail}") from None


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


def export(checkpoint: str | Path, out: str | Path, half: bool = True, format: str = "safetensors", prefer_ema: bool = True) -> Path:
    """Write a checkpoint's generator (EMA when kept and ``prefer_ema``) for ``APDrawingGAN.from_pretrained``, or as ONNX.

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
        model = model_from_checkpoint(checkpoint, prefer_ema)
        extra = {"train_step": str(model.step), "source": Path(checkpoint).name, "weights": "ema" if prefer_ema else "live"}
    if format == "onnx":
        return export_onnx(model, out, half=half)
    return model.save(out, half=half, extra=extra)
