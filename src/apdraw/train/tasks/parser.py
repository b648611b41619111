"""Training task of the 19-class face parser (``apdraw train parser``).

Loss: pixel cross-entropy plus a soft Dice term over the non-background classes
present in the batch. Dice weighs every class equally whatever its area, so
the small parts (eyes, brows, lips: ~0.2-0.5 % of the pixels each) are not
drowned by background, skin and hair.

Optimiser: AdamW with a smaller learning rate for the ImageNet encoder than
for the freshly initialised decoder; linear warm-up, then cosine decay to
``lr_min_ratio`` at ``loop.steps`` (the schedule is a function of the config,
so extending ``loop.steps`` on resume stretches it).

Also here: :func:`evaluate` (per-class IoU of a :class:`FaceParser` on full-size
held-out photos, also the loop's validation with ``loop.validate_every``),
:func:`export` (checkpoint -> shipped safetensors, via ``apdraw export parser``),
and ``python -m apdraw.train.tasks.parser eval WEIGHTS``: the held-out IoU table.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F

from apdraw.data import shared_data_dir
from apdraw.data.celebamask import CelebAMaskDataset, ParserAugment, ParserAugmentConfig, list_ids, split_ids
from apdraw.models.parser import NUM_CLASSES, TARGET_CLASSES, FaceParser, ParserArch, ParserNet, colorize
from apdraw.persistence import checkpoint_module, read_checkpoint
from apdraw.train.loop import Context, LoopConfig, TrainTask


def default_data_root() -> str:
    """``celebamask_mini`` in :func:`apdraw.data.shared_data_dir`."""
    return str(shared_data_dir() / "celebamask_mini")


@dataclass
class Config:
    loop: LoopConfig = field(
        default_factory=lambda: LoopConfig(
            out_dir="runs/parser", steps=4000, batch_size=8, threads=2, log_every=10, sample_every=250, ckpt_every=100
        )
    )
    data_root: str = field(default_factory=default_data_root)
    n_val: int = 100  # held-out photos (hash split, see apdraw.data.celebamask.split_ids)
    size: int = 256  # training and inference resolution (square)
    decoder_channels: tuple[int, int, int, int] = (96, 64, 48, 32)
    pretrained_encoder: bool = True
    freeze_blocks: int = 4  # encoder blocks kept fixed (4 = everything up to stride 4)
    lr: float = 2e-3  # decoder
    encoder_lr: float = 6e-4
    weight_decay: float = 1e-4
    warmup_steps: int = 100
    lr_min_ratio: float = 0.02
    dice_weight: float = 1.0
    onednn: bool = False  # use oneDNN (mkldnn) convolutions when training on the CPU
    val_limit: int = 20  # held-out photos scored by validate() (loop.validate_every)
    augment: ParserAugmentConfig = field(default_factory=ParserAugmentConfig)

    def __post_init__(self) -> None:
        if self.size <= 0 or self.size % 32:
            raise ValueError(f"size must be a positive multiple of 32, got {self.size}")
        if self.lr <= 0 or self.encoder_lr < 0:
            raise ValueError(f"lr must be positive and encoder_lr >= 0, got {self.lr}, {self.encoder_lr}")


def dice_loss(logits: torch.Tensor, labels: torch.Tensor, ignore_background: bool = True) -> torch.Tensor:
    """Soft Dice loss averaged over the classes present in ``labels``.

    logits: (B, C, H, W); labels: (B, H, W) int64 in [0, C). Returns a scalar in [0, 1].
    """
    probs = logits.float().softmax(dim=1)
    onehot = F.one_hot(labels, logits.shape[1]).permute(0, 3, 1, 2).float()
    inter = (probs * onehot).sum(dim=(0, 2, 3))
    denom = probs.sum(dim=(0, 2, 3)) + onehot.sum(dim=(0, 2, 3))
    present = onehot.sum(dim=(0, 2, 3)) > 0
    if ignore_background:
        present[0] = False
    if not present.any():
        return logits.new_zeros(())
    dice = (2 * inter + 1.0) / (denom + 1.0)
    return 1.0 - dice[present].mean()


def confusion(pred: np.ndarray, target: np.ndarray, n: int = NUM_CLASSES) -> np.ndarray:
    """(n, n) int64 confusion matrix; rows = ground truth, columns = prediction."""
    return np.bincount(target.astype(np.int64).ravel() * n + pred.astype(np.int64).ravel(), minlength=n * n).reshape(n, n)


def iou_from_confusion(cm: np.ndarray) -> np.ndarray:
    """Per-class IoU (NaN where a class is absent from both prediction and truth)."""
    tp = np.diag(cm).astype(np.float64)
    union = cm.sum(0) + cm.sum(1) - tp
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(union > 0, tp / union, np.nan)


def evaluate(
    parser: FaceParser, dataset: CelebAMaskDataset, limit: int | None = None, reframe: ParserAugment | None = None
) -> dict[str, object]:
    """Per-class IoU of ``parser`` on the dataset's original (full-size) photos.

    With ``reframe``, each photo is first moved by that augmentation (e.g. shrunk
    off-centre onto a new background), to measure photos that are not CelebA crops.

    Returns {"iou": (19,) array, "target_miou": mean IoU over TARGET_CLASSES, "confusion": cm}.
    """
    cm = np.zeros((NUM_CLASSES, NUM_CLASSES), np.int64)
    n = len(dataset) if limit is None else min(limit, len(dataset))
    for i in range(n):
        image, labels = dataset.pair(i)
        if reframe is not None:
            # Fixed per-photo seeds: the same re-framed test set on every run.
            image, labels = reframe(image, labels, np.random.default_rng([i, 7]), background_source=dataset.pair((i + 1) % n))
        cm += confusion(parser.parse(image), labels)
    iou = iou_from_confusion(cm)
    return {"iou": iou, "target_miou": float(np.nanmean(iou[list(TARGET_CLASSES)])), "confusion": cm}


class Task(TrainTask):
    def __init__(self, cfg: Config):
        super().__init__()
        self.config = cfg
        train_ids, _ = split_ids(list_ids(cfg.data_root), cfg.n_val)
        self.dataset = CelebAMaskDataset(cfg.data_root, train_ids, cfg.size, train=True, augment=cfg.augment)

    def build(self, ctx: Context) -> None:
        cfg = self.config
        if ctx.device.type == "cpu" and not cfg.onednn:
            # Measured on the 2-core CPU: PyTorch's native depthwise kernels train this
            # net ~1.5x faster than oneDNN's, which also spend seconds per new shape.
            torch.backends.mkldnn.enabled = False
        arch = ParserArch(decoder_channels=tuple(cfg.decoder_channels), input_size=cfg.size)
        net = ParserNet(arch, pretrained_encoder=cfg.pretrained_encoder)
        net.freeze_encoder_blocks(cfg.freeze_blocks)
        net = ctx.prepare(net)
        self.modules["net"] = net
        self.net = ctx.wrap(net)
        enc = [p for p in net.encoder.parameters() if p.requires_grad]
        enc_ids = {id(p) for p in net.encoder.parameters()}
        dec = [p for p in net.parameters() if id(p) not in enc_ids]
        opt = torch.optim.AdamW(
            [{"params": enc, "lr": cfg.encoder_lr}, {"params": dec, "lr": cfg.lr}], weight_decay=cfg.weight_decay
        )
        self.optimizers["net"] = opt
        total, warm, floor = cfg.loop.steps, max(1, cfg.warmup_steps), cfg.lr_min_ratio

        def factor(step: int) -> float:
            if step < warm:
                return (step + 1) / warm
            t = min(1.0, (step - warm) / max(1, total - warm))
            return floor + (1 - floor) * 0.5 * (1 + math.cos(math.pi * t))

        self.schedulers["net"] = torch.optim.lr_scheduler.LambdaLR(opt, factor)

    def train_step(self, batch: dict[str, torch.Tensor], step: int, ctx: Context) -> dict[str, float]:
        x, y = batch["image"], batch["labels"]
        opt = self.optimizers["net"]
        with ctx.autocast():
            logits = self.net(x)
        ce = F.cross_entropy(logits.float(), y)
        dice = dice_loss(logits, y)
        loss = ce + self.config.dice_weight * dice
        ctx.step(opt, loss)
        with torch.no_grad():
            acc = (logits.argmax(1) == y).float().mean()
        return {"loss": loss.item(), "ce": ce.item(), "dice": dice.item(), "pix_acc": acc.item()}

    def sample(self, batch: dict[str, torch.Tensor], ctx: Context) -> np.ndarray:
        """Rows of [photo | ground truth | prediction] for up to 4 items, (4·S, 3·S, 3) uint8."""
        x, y = batch["image"][:4], batch["labels"][:4]
        with ctx.autocast():
            pred = self.modules["net"](x).argmax(1)
        rows = []
        for img, gt, pr in zip(x, y, pred):
            photo = (img.float().permute(1, 2, 0).cpu().numpy() * 255 + 0.5).clip(0, 255).astype(np.uint8)
            rows.append(np.concatenate([photo, colorize(gt.cpu().numpy()), colorize(pr.cpu().numpy())], axis=1))
        return np.concatenate(rows, axis=0)

    def validate(self, ctx: Context) -> dict[str, float] | None:
        """Target mean IoU, hair and skin IoU on ``val_limit`` full-size held-out photos."""
        cfg = self.config
        if not cfg.val_limit:
            return None
        _, val_ids = split_ids(list_ids(cfg.data_root), cfg.n_val)
        ds = CelebAMaskDataset(cfg.data_root, val_ids, train=False)
        parser = FaceParser(self.averaged("net"), device=ctx.device, num_threads=None)
        res = evaluate(parser, ds, limit=cfg.val_limit)
        return {"target_miou": res["target_miou"], "iou_hair": float(res["iou"][13]), "iou_skin": float(res["iou"][1])}


def net_from_checkpoint(path: str | Path) -> ParserNet:
    """Rebuild the ParserNet of a training checkpoint (``checkpoints/latest.pt``)."""
    from apdraw.config import from_dict

    state = read_checkpoint(path)
    cfg = from_dict(Config, state["config"])
    net = ParserNet(ParserArch(decoder_channels=tuple(cfg.decoder_channels), input_size=cfg.size))
    net.load_state_dict(checkpoint_module(state, "net", source=str(path)))
    return net.eval()


def export(checkpoint: str | Path, out: str | Path, half: bool = True) -> Path:
    """Write a checkpoint's network as shipped safetensors weights (fp16 by default)."""
    from apdraw.models.parser import save_parser_net

    step = str(read_checkpoint(checkpoint)["step"])
    return save_parser_net(net_from_checkpoint(checkpoint), out, half=half, extra={"step": step})


def format_iou_table(iou: np.ndarray, counts: np.ndarray | None = None) -> str:
    """Markdown table of per-class IoU (classes absent from the split shown as n/a)."""
    from apdraw.models.parser import CLASS_NAMES

    lines = ["| id | class | IoU | in target mean |", "|---|---|---|---|"]
    for c, name in enumerate(CLASS_NAMES):
        val = "n/a" if np.isnan(iou[c]) else f"{iou[c]:.3f}"
        lines.append(f"| {c} | {name} | {val} | {'yes' if c in TARGET_CLASSES else ''} |")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> int:
    """``python -m apdraw.train.tasks.parser eval WEIGHTS``: the held-out IoU table of parser weights."""
    import argparse
    import time

    ap = argparse.ArgumentParser(prog="python -m apdraw.train.tasks.parser")
    sub = ap.add_subparsers(dest="cmd", required=True)
    ev = sub.add_parser("eval", help="per-class IoU on the held-out split")
    ev.add_argument("weights", type=Path, help="a .safetensors file or a training checkpoint (.pt)")
    ev.add_argument("--data-root", default=default_data_root())
    ev.add_argument("--n-val", type=int, default=100)
    ev.add_argument("--limit", type=int, default=None)
    ev.add_argument("--reframed", action="store_true", help="shrink each photo off-centre onto a new background first")
    ev.add_argument("--no-fix-sides", action="store_true", help="skip the geometric left/right relabelling")
    args = ap.parse_args(argv)
    if args.weights.suffix == ".pt":
        parser = FaceParser(net_from_checkpoint(args.weights), fix_sides=not args.no_fix_sides)
    else:
        parser = FaceParser.from_pretrained(args.weights, fix_sides=not args.no_fix_sides)
    _, val = split_ids(list_ids(args.data_root), args.n_val)
    ds = CelebAMaskDataset(args.data_root, val, train=False)
    t = time.time()
    reframe = None
    if args.reframed:
        photometric_off = dict(flip=0.0, reframe=1.0, jitter=0.0, gray=0.0, blur=0.0, jpeg=0.0)
        reframe = ParserAugment(512, ParserAugmentConfig(**photometric_off))
    res = evaluate(parser, ds, args.limit, reframe)
    print(format_iou_table(res["iou"]))
    iou = res["iou"]
    print(f"\ntarget mean IoU ({len(TARGET_CLASSES)} classes): {res['target_miou']:.3f}; hair {iou[13]:.3f}; skin {iou[1]:.3f}")
    print(f"pixel accuracy {np.trace(res['confusion']) / res['confusion'].sum():.4f}; {time.time() - t:.0f} s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
