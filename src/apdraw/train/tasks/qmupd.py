"""`apdraw train qmupd`: QMUPD / Unpaired Portrait Drawing training (SPEC B1.3-B1.4, B2.3).

Two stages:

* ``stage=pretrain`` (ours, the warm start the issue asks for, as APDrawingGAN's
  NPR pre-training): G_A learns photo -> NPR drawing (L1, a random one-hot style
  per sample, so the style input starts neutral) and G_B the reverse (L1), on
  the NPR pairs of the paired cache. Supervised, so it converges in minutes.
  With ``pretrain_data.source=fs2k`` and ``sketch_type=-1`` (also ours; the paper is
  unpaired) it learns FS2K's own photo -> drawing pairs instead, each in its
  artist's style (``data.sketch_types[k]`` is style k), so the style input means
  something before the unpaired losses start.
* ``stage=unpaired`` (the paper): photos and drawings drawn independently
  (:mod:`apdraw.data.unpaired`). Per step, G first, then one D step over all
  discriminators (SPEC B1.3):

  - G_A: LSGAN on D_A's patch head, 0.5 × LSGAN of each local D (nose, eyes,
    lips; the fake's masks are its photo's), style CE on D_A's class head;
  - G_B: LSGAN on D_B;
  - relaxed forward cycle λ_A · d(lines(G_B(G_A(a))), lines(a)) and truncation
    λ_A_trunc · d(lines(G_B(trunc(G_A(a)))), lines(a)), d = the MobileNetV2
    perceptual distance, lines = multi-scale DoG (or, ``edge_net``, our trained photo edge
    network); λ_A and λ_A_trunc follow
    SPEC's schedule over the run (``schedule_end``);
  - strict backward cycle λ_B · L1(G_A(G_B(b), style_b), b);
  - D: 0.5·(real + fake) for every D, D_A adds 0.5·(CE_real + CE_fake); fakes
    come from a 50-image history pool (with their style and masks).

Switches for the baselines and ablations (docs/QMUPD.md): ``cycle=pixel`` with
``truncation=false``, ``style_loss=false`` and ``local_discriminators=false`` is a
plain CycleGAN (symmetric L1 cycles, the style vector still an input);
``loss.straight_through=false`` is the original's gradient-blocking truncation.
Not in the paper (ours, off unless set): ``projected_gan`` (an unconditional
projected discriminator on the drawings next to D_A), ``augment`` (DiffAugment
before every drawing discriminator) and ``paired_l1`` (a paired term on FS2K's own
pairs: each step also draws one training pair and adds λ·L1(G_A(its photo, its
artist's style), its drawing) to G's loss, so the strokes and each style are
anchored to the artists' while the adversarial terms keep them sharp).
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F

from apdraw.data.paired import (
    DataConfig,
    PairAugmentConfig,
    PairedDrawingDataset,
    StyleLabelledPairs,
    build_records,
    preprocess,
)
from apdraw.data.unpaired import MASK_REGIONS, UnpairedConfig, build_unpaired
from apdraw.losses.diffaugment import DiffAugmentConfig, diff_augment
from apdraw.losses.gan import gan_loss
from apdraw.losses.qmupd import (
    QMUPDLossConfig,
    discriminator_style_loss,
    line_map,
    relaxed_cycle_loss,
    strict_backward_cycle_loss,
    style_classification_loss,
    truncate,
)
from apdraw.models.projected import ProjectedConfig, ProjectedDiscriminator
from apdraw.models.qmupd import QMUPD, DiscriminatorConfig, GeneratorConfig, build_networks, compact_config, local_input
from apdraw.persistence import checkpoint_module, read_checkpoint
from apdraw.train.loop import Context, LoopConfig, TrainingSetupError, TrainTask
from apdraw.train.pool import ImagePool
from apdraw.train.tasks.apdrawinggan import lr_factor


def _compact_g() -> GeneratorConfig:
    return compact_config()[0]


def _compact_d() -> DiscriminatorConfig:
    return compact_config()[1]


def _npr_data() -> DataConfig:
    return DataConfig(source="npr", augment=PairAugmentConfig(rotate_deg=0.0, scale_max=1.0))


@dataclass
class Config:
    stage: Literal["pretrain", "unpaired"] = "unpaired"
    generator: GeneratorConfig = field(default_factory=_compact_g)
    discriminator: DiscriminatorConfig = field(default_factory=_compact_d)
    init: str = ""  # latest.pt of another qmupd run (G_A, G_B, and the Ds when it has them), or a G_A .safetensors
    data: UnpairedConfig = field(default_factory=UnpairedConfig)  # stage=unpaired
    # stage=pretrain: NPR pairs (random style), or source fs2k with sketch_type -1: FS2K pairs, each in its style;
    # stage=unpaired with paired_l1 > 0: the pairs of the paired term (fs2k, sketch_type -1)
    pretrain_data: DataConfig = field(default_factory=_npr_data)
    loss: QMUPDLossConfig = field(default_factory=QMUPDLossConfig)
    # Baselines and ablations (defaults = the paper).
    cycle: Literal["relaxed", "pixel"] = "relaxed"  # pixel = CycleGAN's L1 forward cycle on the photo
    # The relaxed cycle's line extractor: "" = the weight-free multi-scale DoG; else a photo edge network
    # (ours; .safetensors or the latest.pt of `apdraw train linedetector -c .../edgenet.yaml`).
    edge_net: str = ""
    truncation: bool = True  # the truncation loss (λ_A_trunc); off = λ_A_trunc is 0
    style_loss: bool = True  # D_A's class head and the style CE terms
    local_discriminators: bool = True
    # The quality-metric loss (TPAMI): loss.lambda_quality · mean(1 − M(fake_B, style)) with a frozen
    # M (apdraw.models.quality; its labels are computed, not human). "" = off; "default" = the shipped M.
    quality_metric: str = ""
    # Ours, not in the paper: a style *teacher*, style_teacher · soft-label CE of the frozen training
    # style classifier (apdraw.models.style_classifier, the one that makes the style vectors) on
    # fake_B against the style it was drawn in. D_A's own class head learns from scratch and, at a
    # CPU budget, never took hold (docs/QMUPD.md); the teacher is already 98 % accurate. 0 = off.
    style_teacher: float = 0.0
    # Ours: λ of the paired term in stage=unpaired (module doc); 0 = off (the paper: unpaired only).
    paired_l1: float = 0.0
    # Ours: the learning rate of G_A's FiLM layers (generator.style_film) is lr x this. They start at
    # zero, so a small lr keeps the style's effect near zero for a whole CPU run (docs/QMUPD.md).
    film_lr_mult: float = 1.0
    # The schedule's process reaches this at the last of loop.steps: the original stops at
    # epoch 200 of a 300-epoch schedule, process (200 - 1) / 300.
    schedule_end: float = 199 / 300
    schedule_steps: int = 0  # steps over which the schedule runs; 0 = loop.steps (set it for fixed-time runs)
    pool_size: int = 50
    # Not in the paper (ours): an unconditional projected D on the drawings, and DiffAugment.
    projected_gan: float = 0.0
    projected: ProjectedConfig = field(default_factory=lambda: ProjectedConfig(conditional=False))
    augment: DiffAugmentConfig = field(default_factory=DiffAugmentConfig)
    perceptual_resolution: int = 256  # the MobileNetV2 distance's input size (line maps are resized to it)
    val_items: int = 8  # FS2K validation pairs per style scored by validate(); 0 = none
    lr: float = 2e-4  # B2.4's default; B1's script uses 1.5e-5 for 200 epochs
    betas: tuple[float, float] = (0.5, 0.999)
    decay_start: float = 1.0  # fraction of loop.steps at constant lr, then linear decay
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(out_dir="runs/qmupd", batch_size=1))

    def __post_init__(self) -> None:
        if self.generator.resolution != self.discriminator.resolution:
            raise ValueError("generator.resolution and discriminator.resolution must be equal")
        if self.generator.style_dim != self.discriminator.style_dim:
            raise ValueError("generator.style_dim and discriminator.style_dim must be equal")
        if self.stage == "unpaired" and self.data.num_styles != self.generator.style_dim:
            raise ValueError(f"data gives {self.data.num_styles} styles but generator.style_dim is {self.generator.style_dim}")
        if self.paired_l1 > 0 and self.stage == "unpaired" and self.pretrain_data.source != "fs2k":
            raise ValueError("paired_l1 needs style-labelled pairs: pretrain_data.source=fs2k pretrain_data.sketch_type=-1")
        uses_fs2k_pairs = self.stage == "pretrain" or self.paired_l1 > 0
        if uses_fs2k_pairs and self.pretrain_data.source == "fs2k":
            if self.pretrain_data.sketch_type != -1:
                raise ValueError("pretrain_data.source=fs2k takes sketch_type -1 (every style, each pair in its own)")
            if len(self.data.sketch_types) != self.generator.style_dim:
                raise ValueError(f"data.sketch_types gives {len(self.data.sketch_types)} styles but generator.style_dim is {self.generator.style_dim}")
        if not 0.0 <= self.schedule_end <= 1.0 or not 0.0 <= self.decay_start <= 1.0:
            raise ValueError("schedule_end and decay_start must be in [0, 1]")
        if self.film_lr_mult <= 0:
            raise ValueError("film_lr_mult must be > 0")
        if self.lr <= 0 or min(self.projected_gan, self.pool_size, self.val_items, self.schedule_steps, self.style_teacher, self.paired_l1) < 0:
            raise ValueError("lr must be > 0; projected_gan, pool_size, val_items, schedule_steps, style_teacher and paired_l1 >= 0")


class Task(TrainTask):
    ema_modules = ("G_A",)

    def __init__(self, cfg: Config, dataset: torch.utils.data.Dataset | None = None):
        super().__init__()
        self.config = cfg
        self.size = cfg.generator.resolution
        if dataset is None:
            if cfg.stage == "pretrain":
                dataset = _pretrain_dataset(cfg, self.size)
            else:
                dataset = build_unpaired(cfg.data, self.size)
        self.dataset = dataset
        # the paired term's pairs (stage=unpaired, paired_l1 > 0), built on first use
        self.paired: torch.utils.data.Dataset | None = None
        self._val: list[tuple[int, list[dict[str, torch.Tensor]]]] | None = None
        self._scorers: dict[int, object] = {}
        self._style_clf = None  # the evaluation style classifier, loaded on the first validate()

    # ------------------------------------------------------------------ setup

    def build(self, ctx: Context) -> None:
        cfg = self.config
        nets = build_networks(cfg.generator, cfg.discriminator)
        modules = {"G_A": nets.g_a, "G_B": nets.g_b}
        if cfg.stage == "unpaired":
            modules.update(D_A=nets.d_a, D_B=nets.d_b)
            if cfg.local_discriminators:
                modules["D_local"] = nets.d_local
            if cfg.projected_gan > 0:
                modules["P"] = ProjectedDiscriminator(cfg.projected)
        if cfg.init:
            _load_init(modules, cfg.init)
        for name, m in modules.items():
            self.modules[name] = ctx.prepare(m)
        self.train_nets = {k: ctx.wrap(m) for k, m in self.modules.items()}
        # As the original: one Adam over G_A and G_B, one over every discriminator (SPEC B1.3).
        groups = {"G": ["G_A", "G_B"], "D": [n for n in modules if n not in ("G_A", "G_B")]}
        for opt_name, names in groups.items():
            if not names:
                continue
            params = [(f"{n}.{k}", p) for n in names for k, p in self.modules[n].named_parameters() if p.requires_grad]
            film = [p for k, p in params if k.startswith("G_A.film.")]
            rest = [p for k, p in params if not k.startswith("G_A.film.")]
            param_groups = [{"params": rest}] + ([{"params": film, "lr": cfg.lr * cfg.film_lr_mult}] if film else [])
            opt = torch.optim.Adam(param_groups, lr=cfg.lr, betas=cfg.betas)
            self.optimizers[opt_name] = opt
            total, start = cfg.loop.steps, cfg.decay_start
            self.schedulers[opt_name] = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: lr_factor(s, total, start))
        if cfg.stage == "unpaired":
            self.modules["pool"] = ctx.prepare(ImagePool(cfg.pool_size))
            from apdraw.losses.perceptual import PerceptualLoss

            self.perceptual = ctx.prepare(PerceptualLoss(resolution=cfg.perceptual_resolution))
            self.lines = line_map if not cfg.edge_net else EdgeLines(ctx.prepare(_load_edge_net(cfg.edge_net)))
            self.quality = None
            if cfg.quality_metric and cfg.loss.lambda_quality > 0:
                from apdraw.models.quality import QualityMetric

                try:
                    self.quality = ctx.prepare(QualityMetric.from_pretrained(None if cfg.quality_metric == "default" else cfg.quality_metric))
                except (FileNotFoundError, ValueError) as exc:
                    raise TrainingSetupError(f"quality_metric: {exc}") from None
            self.style_teacher = None
            if cfg.style_teacher > 0:
                from apdraw.models.style_classifier import StyleClassifier, default_weights

                teacher = StyleClassifier.from_pretrained(cfg.data.style_classifier if cfg.data.style_classifier not in ("", "onehot") else default_weights("train"))
                if teacher.config.num_classes != cfg.generator.style_dim:
                    raise TrainingSetupError(f"style_teacher: the classifier has {teacher.config.num_classes} styles, the generator {cfg.generator.style_dim}")
                self.style_teacher = ctx.prepare(teacher.eval().requires_grad_(False))

    def _weights(self, step: int):
        total = self.config.schedule_steps or self.config.loop.steps
        process = self.config.schedule_end * min(1.0, (step - 1) / max(1, total - 1))
        return self.config.loss.weights_at_progress(process)

    # ------------------------------------------------------------------ steps

    def train_step(self, batch: dict[str, torch.Tensor], step: int, ctx: Context) -> dict[str, float]:
        if self.config.stage == "pretrain":
            return self._pretrain_step(batch, ctx)
        return self._unpaired_step(batch, step, ctx)

    def _pretrain_step(self, batch: dict[str, torch.Tensor], ctx: Context) -> dict[str, float]:
        photo, drawing = batch["photo"], batch["drawing"]
        b, k = photo.shape[0], self.config.generator.style_dim
        if "style" in batch:  # style-labelled pairs: each drawing's own style
            style = batch["style"]
        else:  # NPR pairs: one drawing for every style, so a random one keeps the style input neutral
            style = F.one_hot(torch.randint(0, k, (b,)), k).float().to(photo.device)
        with ctx.autocast():
            fake = self.train_nets["G_A"](photo, style).float()
            rec_photo = self.train_nets["G_B"](drawing).float()
        l1_a = (fake - drawing).abs().mean()
        l1_b = (rec_photo - photo).abs().mean()
        ctx.step(self.optimizers["G"], l1_a + l1_b)
        return {"l1_a": l1_a.item(), "l1_b": l1_b.item()}

    def _aug(self, *tensors: torch.Tensor) -> tuple[torch.Tensor, ...]:
        return diff_augment(self.config.augment, *tensors)

    def _local_masks(self, masks: torch.Tensor) -> dict[str, torch.Tensor]:
        return {r: masks[:, i : i + 1] for i, r in enumerate(MASK_REGIONS)}

    def _forward_cycle(self, photo: torch.Tensor, rec: torch.Tensor) -> torch.Tensor:
        if self.config.cycle == "pixel":
            return (rec - photo).abs().mean()
        return relaxed_cycle_loss(photo, rec, self.perceptual, lines=self.lines)

    def _unpaired_step(self, batch: dict[str, torch.Tensor], step: int, ctx: Context) -> dict[str, float]:
        cfg, lc = self.config, self.config.loss
        nets = self.train_nets
        a, b = batch["photo"], batch["drawing"]
        a_masks, b_masks, style_b = batch["photo_masks"], batch["drawing_masks"], batch["style"]
        # The style fake_B is drawn in: the drawing's style vector (the original uses the sampled
        # B's softmax for G_A(A) too), so the class loss asks G_A for the style it was given.
        style_a = style_b
        w = self._weights(step)
        lam_trunc = w.lambda_A_trunc if cfg.truncation else 0.0
        scalars: dict[str, float] = {"lambda_A": w.lambda_A, "lambda_A_trunc": lam_trunc}

        # ---- G step (G_A and G_B together; all Ds frozen)
        with ctx.autocast():
            fake_b = nets["G_A"](a, style_a).float()
            rec_a = nets["G_B"](fake_b).float()
            fake_a = nets["G_B"](b).float()
            rec_b = nets["G_A"](fake_a, style_b).float()
        frozen = [m for n, m in self.modules.items() if n.startswith("D") or n == "P"]
        with contextlib.ExitStack() as stack:
            for m in frozen:
                stack.enter_context(ctx.frozen(m))
            patch, cls = self.modules["D_A"](*self._aug(fake_b))
            g_a = gan_loss(patch, True, lc.gan_kind, for_discriminator=False)
            g_b = gan_loss(self.modules["D_B"](self._aug(fake_a)[0]), True, lc.gan_kind, for_discriminator=False)
            loss = lc.lambda_G_A * g_a + lc.lambda_G_B * g_b
            scalars.update(g_a=g_a.item(), g_b=g_b.item())
            if cfg.style_loss:
                g_cls = style_classification_loss(cls, style_a, hard=lc.hard_style_labels)
                loss = loss + lc.lambda_cls_G * g_cls
                scalars["g_cls"] = g_cls.item()
            if cfg.local_discriminators:
                fb, fm = self._aug(fake_b, a_masks)
                local = self.modules["D_local"](fb, self._local_masks(fm))
                g_local = sum(gan_loss(v, True, lc.gan_kind, for_discriminator=False) for v in local.values())
                loss = loss + lc.lambda_local * g_local
                scalars["g_local"] = g_local.item()
            if cfg.projected_gan > 0:
                logits = self.modules["P"](self._aug(fake_b)[0])
                g_p = sum(gan_loss(v, True, "hinge", for_discriminator=False) for v in logits.values()) / len(logits)
                loss = loss + cfg.projected_gan * g_p
                scalars["g_p"] = g_p.item()
        if self.style_teacher is not None:
            teach = style_classification_loss(self.style_teacher(fake_b), style_a)
            loss = loss + cfg.style_teacher * teach
            scalars["g_teacher"] = teach.item()
        if self.quality is not None:
            quality = self.quality(fake_b, style_a).mean()
            loss = loss + lc.lambda_quality * (1.0 - quality)
            scalars["quality"] = quality.item()
        if cfg.paired_l1 > 0:
            pairs = self._paired_batch(step, a.shape[0], a.device)
            with ctx.autocast():
                fake_p = nets["G_A"](pairs["photo"], pairs["style"]).float()
            paired = (fake_p - pairs["drawing"]).abs().mean()
            loss = loss + cfg.paired_l1 * paired
            scalars["paired_l1"] = paired.item()
        cyc_a = self._forward_cycle(a, rec_a)
        loss = loss + w.lambda_A * cyc_a
        scalars["cycle_a"] = cyc_a.item()
        if cfg.truncation:  # also at step 1 (weight 0): the log's columns are fixed by its first row
            with ctx.autocast():
                rec_at = nets["G_B"](truncate(fake_b, lc.truncate_bits, lc.straight_through)).float()
            cyc_t = self._forward_cycle(a, rec_at)
            loss = loss + lam_trunc * cyc_t
            scalars["cycle_trunc"] = cyc_t.item()
        cyc_b = strict_backward_cycle_loss(b, rec_b)
        loss = loss + w.lambda_B * cyc_b
        scalars.update(cycle_b=cyc_b.item(), loss_g=loss.item())
        ctx.step(self.optimizers["G"], loss)

        # ---- D step: every discriminator, 0.5·(real + fake), fakes from the history pool
        pool = self.modules["pool"]
        pooled_b = pool.query(fake=fake_b.detach(), style=style_a, masks=a_masks)
        kind = lc.gan_kind
        with ctx.autocast():
            patch_r, cls_r = nets["D_A"](*self._aug(b))
            patch_f, cls_f = nets["D_A"](*self._aug(pooled_b["fake"]))
        d_a = lc.lambda_D_gan * (gan_loss(patch_r, True, kind) + gan_loss(patch_f, False, kind))
        if cfg.style_loss:
            d_cls = discriminator_style_loss(cls_r, style_b, cls_f, pooled_b["style"], hard=lc.hard_style_labels)
            d_a = d_a + lc.lambda_D_cls / 0.5 * d_cls  # discriminator_style_loss already halves
            scalars["d_cls"] = d_cls.item()
        with ctx.autocast():
            d_b_r, d_b_f = nets["D_B"](self._aug(a)[0]), nets["D_B"](self._aug(fake_a.detach())[0])
        d_b = lc.lambda_D_gan * (gan_loss(d_b_r, True, kind) + gan_loss(d_b_f, False, kind))
        scalars.update(d_a=d_a.item(), d_b=d_b.item())
        loss_d = d_a + d_b
        if cfg.local_discriminators:
            d_l = torch.zeros((), device=a.device)
            real = self._local_masks(b_masks)
            for region, net in self.modules["D_local"].nets.items():
                # each local D draws its own sample from the pool (SPEC B1.3)
                p = pool.query(fake=fake_b.detach(), style=style_a, masks=a_masks)
                i = MASK_REGIONS.index(region)
                rb, rm = self._aug(b, real[region])
                fb, fmask = self._aug(p["fake"], p["masks"][:, i : i + 1])
                d_l = d_l + lc.lambda_D_gan * (gan_loss(net(local_input(rb, rm)), True, kind)
                                               + gan_loss(net(local_input(fb, fmask)), False, kind))  # fmt: skip
            loss_d = loss_d + d_l
            scalars["d_local"] = d_l.item()
        if cfg.projected_gan > 0:
            real_l = self.train_nets["P"](self._aug(b)[0])
            fake_l = self.train_nets["P"](self._aug(fake_b.detach())[0])
            d_p = sum(gan_loss(v, True, "hinge") for v in real_l.values()) + sum(gan_loss(v, False, "hinge") for v in fake_l.values())
            d_p = d_p / len(real_l)
            loss_d = loss_d + d_p
            scalars["d_p"] = d_p.item()
        ctx.step(self.optimizers["D"], loss_d)
        return scalars

    def _paired_batch(self, step: int, size: int, device: torch.device) -> dict[str, torch.Tensor]:
        """``size`` FS2K training pairs for the paired term: photo, drawing, style; a pure function of
        (loop seed, step), so a resumed run draws the same pairs."""
        from apdraw.data.sampling import SampleKey

        if self.paired is None:
            self.paired = _pretrain_dataset(self.config, self.size)
        rng = np.random.default_rng([self.config.loop.seed, step, 0x9A1E])
        picks = rng.integers(0, len(self.paired), size)
        seeds = rng.integers(0, 2**31 - 1, size)
        items = [self.paired[SampleKey(int(i), int(sd))] for i, sd in zip(picks, seeds)]
        return {k: torch.stack([it[k] for it in items]).to(device) for k in ("photo", "drawing", "style")}

    # ------------------------------------------------------------------ previews and validation

    def sample(self, batch: dict[str, torch.Tensor], ctx: Context) -> np.ndarray:
        """Rows of [photo | drawing in style 0 | 1 | 2 ... | (unpaired: a real drawing | G_B of it)], up to 4 rows."""
        n = min(4, batch["photo"].shape[0])
        g = self.averaged("G_A")
        photo = batch["photo"][:n]
        k = self.config.generator.style_dim
        cols = [photo] + [g(photo, F.one_hot(torch.full((n,), i), k).float().to(photo.device)) for i in range(k)]
        if self.config.stage == "unpaired":
            cols += [batch["drawing"][:n], self.modules["G_B"](batch["drawing"][:n])]
        else:
            cols.append(batch["drawing"][:n])
        cols = [c.float().clamp(-1, 1).expand(-1, 3, -1, -1) for c in cols]
        grid = torch.cat([torch.cat(list(c), 1) for c in cols], 2)
        return ((grid.permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().astype(np.uint8)

    def _val_sets(self) -> list[tuple[int, list]]:
        """Per FS2K sketch type used: its validation pairs (512², aligned), built once."""
        if self._val is None:
            self._val = []
            for si, t in enumerate(self.config.data.sketch_types):
                dc = DataConfig(sketch_type=t, split="val", max_items=self.config.val_items)
                records, tag = build_records(dc)
                files = preprocess(records, dc.cache_dir, tag)
                if files:
                    self._val.append((si, files))
        return self._val

    def validate(self, ctx: Context) -> dict[str, float] | None:
        """Per artist style: FS2K validation photos drawn in that style against the artist's drawings (512²).

        ``s<k>_*``: :class:`apdraw.eval.quick.QuickScorer`'s metrics (Chamfer at both
        thresholds, SSIM, far ink, FID_mnv2 / KID_mnv2) and ``s<k>_style_acc``, the share
        of drawings the evaluation style classifier (trained separately from the
        soft-label one) assigns to style k.
        """
        labelled = self.config.stage == "pretrain" and self.config.pretrain_data.source == "fs2k"
        if (self.config.stage != "unpaired" and not labelled) or not self.config.val_items:
            return None
        from apdraw.data.paired import AlignedPair
        from apdraw.eval.quick import QuickScorer
        from apdraw.models.style_classifier import StyleClassifier, default_weights

        model = QMUPD(self.config.generator, num_threads=None, generator=self.averaged("G_A"))
        if self._style_clf is None:
            self._style_clf = StyleClassifier.from_pretrained(default_weights("eval"))
        clf = self._style_clf
        k = self.config.generator.style_dim
        out: dict[str, float] = {}
        accs = []
        for si, files in self._val_sets():
            pairs = [AlignedPair.load(f) for f in files]
            photos = torch.from_numpy(np.stack([p.photo for p in pairs])).permute(0, 3, 1, 2).to(ctx.device)
            style = F.one_hot(torch.tensor(si), k).float()
            preds = [model.draw(photos[i : i + 1], style)[0].cpu().numpy() for i in range(len(pairs))]
            if si not in self._scorers:
                self._scorers[si] = QuickScorer([p.drawing for p in pairs])
            for name, v in self._scorers[si](preds).items():
                out[f"s{si}_{name}"] = v
            t = self.config.data.sketch_types[si]
            acc = float((clf.predict_proba(preds).argmax(1) == t).mean())
            out[f"s{si}_style_acc"] = acc
            accs.append(acc)
        if accs:
            out["style_acc_min"] = min(accs)
        return out


def _pretrain_dataset(cfg: Config, size: int) -> torch.utils.data.Dataset:
    """The warm start's pairs: NPR drawings of photos, or FS2K's pairs labelled with their style."""
    pd = cfg.pretrain_data
    if pd.source != "fs2k":
        records, tag = build_records(pd)
        return PairedDrawingDataset(preprocess(records, pd.cache_dir, tag), size, pd.augment)
    parts = []
    for t in cfg.data.sketch_types:
        dc = replace(pd, sketch_type=t)
        records, tag = build_records(dc)
        files = preprocess(records, dc.cache_dir, tag)
        if not files:
            raise TrainingSetupError(f"FS2K sketch type {t}: no training pair with a detectable face under {pd.root}")
        parts.append(PairedDrawingDataset(files, size, pd.augment))
    return StyleLabelledPairs(parts)


class EdgeLines:
    """A frozen photo edge network as the relaxed cycle's line extractor.

    (B, 3, H, W) photo in [-1, 1] -> (B, 1, H, W) black-line probability in (0, 1), like
    :func:`apdraw.losses.qmupd.line_map`; differentiable w.r.t. the photo, the weights fixed.
    H and W must be divisible by 2**len(net.cfg.channels).
    """

    def __init__(self, net: torch.nn.Module):
        self.net = net.eval().requires_grad_(False)

    def __call__(self, photo: torch.Tensor) -> torch.Tensor:
        return torch.sigmoid(self.net(photo).float()[:, :1])


def _load_edge_net(path: str) -> torch.nn.Module:
    from apdraw.train.tasks.linedetector import load_line_detector

    try:
        net = load_line_detector(path)
    except (FileNotFoundError, ValueError, KeyError) as exc:  # WeightsError and CheckpointError are ValueErrors
        raise TrainingSetupError(f"edge_net: {exc}") from None
    if net.cfg.in_channels != 3:
        raise TrainingSetupError(f"edge_net: {path} reads drawings (1 channel), not photos; train one with "
                                 "`apdraw train linedetector -c src/apdraw/configs/edgenet.yaml`")  # fmt: skip
    return net


def _load_init(modules: dict, path: str) -> None:
    """Start from another run's checkpoint (every network it has that this run has), or G_A from a .safetensors."""
    try:
        if path.endswith(".safetensors"):
            modules["G_A"].load_state_dict(QMUPD.from_pretrained(path, num_threads=None).generator.state_dict())
            return
        state = read_checkpoint(path)
        for name, m in modules.items():
            if name in state["modules"]:
                weights = checkpoint_module(state, name, prefer_ema=False, source=path)
                # A FiLM generator starts from a paper one: its zero-initialised FiLM layers stay as they are.
                missing = {k for k in m.state_dict() if k not in weights}
                if missing and all(k.startswith("film.") for k in missing):
                    weights = {**{k: v for k, v in m.state_dict().items() if k in missing}, **weights}
                m.load_state_dict(weights)
    except (RuntimeError, KeyError) as exc:
        lines = str(exc).splitlines()
        detail = (lines[1] if len(lines) > 1 else lines[0]).strip()[:240]
        raise TrainingSetupError(f"init {path} does not fit this run's networks: {detail}") from None


# --------------------------------------------------------------------------- checkpoints -> inference


def model_from_checkpoint(path: str | Path, prefer_ema: bool = True) -> QMUPD:
    """G_A of a training checkpoint as an eval-mode :class:`QMUPD` (its EMA copy when kept)."""
    from apdraw.config import from_dict

    state = read_checkpoint(path)
    cfg = from_dict(Config, state["config"])
    model = QMUPD(cfg.generator)
    model.generator.load_state_dict(checkpoint_module(state, "G_A", prefer_ema, source=str(path)))
    model.step = int(state["step"])  # type: ignore[attr-defined]
    return model.eval()


def export(checkpoint: str | Path, out: str | Path, half: bool = True, prefer_ema: bool = True) -> Path:
    """Write a checkpoint's G_A (EMA when kept and ``prefer_ema``) for ``QMUPD.from_pretrained``."""
    model = model_from_checkpoint(checkpoint, prefer_ema)
    extra = {"train_step": str(model.step), "source": Path(checkpoint).name, "weights": "ema" if prefer_ema else "live"}
    return model.save(out, half=half, extra=extra)
