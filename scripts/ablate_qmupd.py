"""QMUPD ablations at an equal CPU budget: the paper's losses against a CycleGAN and with parts removed.

    python scripts/ablate_qmupd.py run    [--minutes 12] [--arms paper,cyclegan,...] [--init runs/qmupd_pre/checkpoints/latest.pt]
    python scripts/ablate_qmupd.py report [--write-doc]

``run`` trains each arm with ``apdraw train qmupd -c qmupd_fast.yaml ... loop.max_minutes=M
loop.clock=cpu`` (CPU time of the training steps only), one torch thread, one arm at a time,
all from the same warm start (G_A and G_B of the NPR pre-training; discriminators fresh), the
same unpaired data and data order (seed 0), and the same weight schedule (``schedule_steps``).
Each arm validates its EMA G_A at the end: per artist style, 12 FS2K validation photos drawn in
that style against that style's artist drawings (Chamfer, SSIM, FID_mnv2 against 12 drawings)
and the style accuracy under the evaluation classifier. A killed ``run`` resumes each arm
exactly; arms already at their budget do nothing.

``report`` tabulates each arm's last validation row; ``--write-doc`` rewrites the block
between the ``qmupd-ablation`` markers of ``docs/QMUPD.md``.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "src" / "apdraw" / "configs" / "qmupd_fast.yaml"


@dataclass(frozen=True)
class Arm:
    name: str
    label: str
    args: list[str]


ARMS = [
    Arm("paper", "QMUPD losses (straight-through truncation)", []),
    Arm("cyclegan", "plain CycleGAN: L1 cycles, no truncation, no style loss, no local Ds", [
        "cycle=pixel", "truncation=false", "style_loss=false", "local_discriminators=false"]),
    Arm("no_trunc", "no truncation loss", ["truncation=false"]),
    Arm("orig_trunc", "truncation as the original (gradient blocked, trains G_B only)", ["loss.straight_through=false"]),
    Arm("no_local", "no local discriminators", ["local_discriminators=false"]),
    Arm("edge_net", "line maps from our photo edge network instead of the DoG (edgenet.yaml)", [
        "edge_net=runs/edgenet/checkpoints/latest.pt"]),
    Arm("quality", "+ quality-metric loss (our M, computed labels; λ 0.5)", ["quality_metric=default"]),
    Arm("projected", "+ projected D (λ 0.5) and DiffAugment translation, cutout (ours)", [
        "projected_gan=0.5", "augment.policy=translation,cutout"]),
    Arm("film_fast", "+ FiLM style modulation at 100× lr (ours)", ["generator.style_film=true", "film_lr_mult=100"]),
    Arm("style", "+ FiLM at 100× lr + style teacher λ 2 (ours, the shipped recipe)", ["generator.style_film=true", "film_lr_mult=100", "style_teacher=2.0"]),
]  # fmt: skip


def arm_dir(out: Path, arm: Arm) -> Path:
    return out / arm.name


def command(arm: Arm, out: Path, minutes: float, init: str, schedule_steps: int) -> list[str]:
    return [
        sys.executable, "-m", "apdraw", "train", "qmupd", "-c", str(CONFIG), *arm.args, f"init={init}",
        f"loop.out_dir={arm_dir(out, arm)}", f"loop.max_minutes={minutes}", "loop.clock=cpu", "loop.threads=1",
        f"schedule_steps={schedule_steps}", "loop.validate_every=100000", "loop.sample_every=100000",
        "loop.ckpt_every=25", "loop.tensorboard=false", "--no-export",
    ]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    failed = []
    for arm in [a for a in ARMS if a.name in args.arms.split(",")]:
        arm_dir(out, arm).mkdir(parents=True, exist_ok=True)
        cmd = command(arm, out, args.minutes, args.init, args.schedule_steps)
        print(f"start {arm.name}: {' '.join(cmd[3:])}", flush=True)
        with (arm_dir(out, arm) / "train.log").open("a") as log:
            code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO)
        print(f"done {arm.name}: exit {code}", flush=True)
        if code:
            failed.append(arm.name)
    return 1 if failed else 0


def last_val(path: Path) -> dict[str, float] | None:
    if not path.is_file():
        return None
    rows = list(csv.DictReader(path.open()))
    return {k: float(v) for k, v in rows[-1].items() if v != ""} if rows else None


def report(args: argparse.Namespace) -> int:
    out = Path(args.out)
    lines = [
        f"Each arm: {args.minutes_label} CPU minutes (one thread) from the NPR warm start, lr 5e-5; EMA G_A; 12 FS2K validation",
        "photos per style drawn in that style, against that style's 12 artist drawings (aligned 512² frame).",
        "Style accuracy: the evaluation classifier (`style_classifier_eval`, 100 % on real validation drawings).",
        "",
        "| arm | steps | style acc. 0 / 1 / 2 | dark Chamfer 0 / 1 / 2 (px) | SSIM 0 / 1 / 2 | FID_mnv2 0 / 1 / 2 |",
        "|---|---|---|---|---|---|",
    ]
    for arm in ARMS:
        v = last_val(arm_dir(out, arm) / "val.csv")
        if v is None:
            continue

        def three(key: str, fmt: str) -> str:
            return " / ".join(fmt.format(v.get(f"s{k}_{key}", float("nan"))) for k in range(3))

        lines.append(f"| {arm.label} | {int(v['step'])} | {three('style_acc', '{:.0%}')} | {three('chamfer_dark', '{:.2f}')} "
                     f"| {three('ssim', '{:.3f}')} | {three('fid_mnv2', '{:.0f}')} |")  # fmt: skip
    block = "\n".join(lines)
    print(block)
    if args.write_doc:
        from apdraw.io import write_doc_block

        write_doc_block(REPO / "docs" / "QMUPD.md", "qmupd-ablation", block, heading="Ablations")
    return 0


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--minutes", type=float, default=12.0, help="CPU minutes of training per arm")
    r.add_argument("--schedule-steps", type=int, default=150, help="steps of the λ_A -> λ_A_trunc schedule (about the budget's steps)")
    r.add_argument("--arms", default=",".join(a.name for a in ARMS))
    r.add_argument("--init", default="runs/qmupd_pre/checkpoints/latest.pt")
    r.add_argument("--out", default="runs/qmupd_ablation")
    rep = sub.add_parser("report")
    rep.add_argument("--out", default="runs/qmupd_ablation")
    rep.add_argument("--minutes-label", default="12")
    rep.add_argument("--write-doc", action="store_true")
    args = ap.parse_args(argv)
    return run(args) if args.cmd == "run" else report(args)


if __name__ == "__main__":
    sys.exit(main())
