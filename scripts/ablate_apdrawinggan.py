"""Quality per CPU minute: train the APDrawingGAN recipe arms for the same CPU budget, then tabulate and plot.

    python scripts/ablate_apdrawinggan.py initial   # the starting generator's scores (curve point 0)
    python scripts/ablate_apdrawinggan.py run    [--minutes 20] [--parallel 2] [--arms prev,diffaug,...]
    python scripts/ablate_apdrawinggan.py report [--budget 20] [--write-doc]

``run`` trains each arm with ``apdraw train apdrawinggan ... loop.max_minutes=M
loop.clock=cpu`` (CPU time of the training steps only; validation, samples and
checkpoints excluded), one torch thread each, ``--parallel`` arms at a time.
Every arm starts from the same generator (``--init``, the shipped weights by
default) with fresh discriminators, on the same FS2K sketch-type-0 training
split and the same data order (seed 0), and validates its EMA or live generator every
``validate_every`` steps on the 50 validation pairs (aligned 512² frame):
Chamfer at the 0.75 and 0.5 stroke thresholds, SSIM, ink far from artist
strokes, FID_mnv2 / KID_mnv2 and their real-vs-real floor (50 training
drawings against the 50 validation drawings). A killed ``run`` resumes each arm
exactly where its checkpoint left it (arms already at their budget do nothing).

``report`` reads each arm's ``val.csv``: the last validation row makes the
table; FID_mnv2 / floor against CPU minutes makes the curve
(``docs/img/training_fid_curve.png``). ``--write-doc`` rewrites the block
between the ``ablation`` markers of ``docs/TRAINING.md``.
"""

from __future__ import annotations

import argparse
import csv
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIGS = REPO / "src" / "apdraw" / "configs"
PREVIOUS = ["-c", str(CONFIGS / "apdrawinggan.yaml"), "decay_start=1.0", "loop.steps=1000000"]
VALIDATION = ["val_items=50", "val_floor_items=50"]
DIFFAUG = ["augment.policy=color,translation,cutout"]
PROJECTED = ["loss.projected_gan=1.0"]
FEATURE_MATCHING = ["loss.feature_matching=10.0"]
FULL = ["-c", str(CONFIGS / "apdrawinggan_fast.yaml")]


@dataclass(frozen=True)
class Arm:
    name: str
    label: str
    args: list[str]
    validate_every: int  # steps; about every 3 CPU minutes at the arm's step time


ARMS = [
    Arm("prev", "1. previous recipe", PREVIOUS + VALIDATION, 400),
    Arm("diffaug", "2. + DiffAugment", PREVIOUS + VALIDATION + DIFFAUG, 400),
    Arm("projected", "3. + projected D", PREVIOUS + VALIDATION + DIFFAUG + PROJECTED, 250),
    Arm("fm", "4. + feature matching", PREVIOUS + VALIDATION + DIFFAUG + PROJECTED + FEATURE_MATCHING, 250),
    # 5: everything, with the paper's DiffAugment policy; 6: the shipped recipe (apdrawinggan_fast.yaml),
    # which leaves colour out of DiffAugment (arms 2-5 showed colour washes drawings out); 7: 6 without DT.
    Arm("full", "5. + perceptual, R1, EMA, 512² head (full, colour DiffAugment)", FULL + ["augment.policy=color,translation,cutout"], 150),
    Arm("full_nocolor", "6. full recipe, DiffAugment without colour (shipped recipe)", FULL, 150),
    Arm("full_nodt", "7. = 6 without the DT loss", FULL + ["loss.lambda_dt=0"], 150),
]


def arm_dir(out: Path, arm: Arm) -> Path:
    return out / arm.name


def command(arm: Arm, out: Path, minutes: float, init: str) -> list[str]:
    return [
        sys.executable, "-m", "apdraw", "train", "apdrawinggan", *arm.args, f"init={init}",
        f"loop.out_dir={arm_dir(out, arm)}", f"loop.max_minutes={minutes}", "loop.clock=cpu", "loop.threads=1",
        f"loop.validate_every={arm.validate_every}", "loop.ckpt_every=50", f"loop.sample_every={arm.validate_every}",
        f"loop.keep_every={arm.validate_every}",
        "loop.tensorboard=false", "--no-export",
    ]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    out = Path(args.out)
    arms = [a for a in ARMS if a.name in args.arms.split(",")]
    pending = list(arms)
    running: list[tuple[Arm, subprocess.Popen]] = []
    failed = []
    while pending or running:
        while pending and len(running) < args.parallel:
            arm = pending.pop(0)
            arm_dir(out, arm).mkdir(parents=True, exist_ok=True)
            log = (arm_dir(out, arm) / "train.log").open("a")
            print(f"start {arm.name}: {' '.join(command(arm, out, args.minutes, args.init)[3:])}", flush=True)
            running.append((arm, subprocess.Popen(command(arm, out, args.minutes, args.init), stdout=log, stderr=subprocess.STDOUT, cwd=REPO)))
        time.sleep(5)
        for arm, proc in list(running):
            if proc.poll() is not None:
                running.remove((arm, proc))
                print(f"done {arm.name}: exit {proc.returncode}", flush=True)
                if proc.returncode:
                    failed.append(arm.name)
    return 1 if failed else 0


def initial(args: argparse.Namespace) -> int:
    """Validate the shared starting generator once (the curves' point at 0 CPU minutes)."""
    import json

    import torch

    from apdraw.config import load_config
    from apdraw.train.loop import Context
    from apdraw.train.tasks import apdrawinggan as T

    overrides = [a for a in PREVIOUS[2:] + VALIDATION] + [f"init={args.init}", "loss.lambda_dt=0"]
    cfg = load_config(T.Config, PREVIOUS[1], overrides)
    torch.set_num_threads(1)
    task = T.Task(cfg, dataset=[])
    ctx = Context(torch.device("cpu"), amp=False, channels_last=False)
    task.build(ctx)
    task.modules["G"].eval()
    with torch.no_grad():
        scores = task.validate(ctx)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    (out / "initial.json").write_text(json.dumps(scores, indent=1))
    print(scores)
    return 0


def rescore(args: argparse.Namespace) -> int:
    """Validate kept checkpoints (``step_*.pt``) missing from an arm's val.csv and add their rows.

    For rows lost when a run was restarted with changed validation code: the
    checkpoint holds the step, the (EMA) generator and the training clock.
    """
    import torch

    from apdraw.config import from_dict
    from apdraw.persistence import read_checkpoint
    from apdraw.train.loop import Context
    from apdraw.train.tasks import apdrawinggan as T

    torch.set_num_threads(1)
    folder = arm_dir(Path(args.out), next(a for a in ARMS if a.name == args.arm))
    val_path = folder / "val.csv"
    rows = read_val(val_path)
    have = {int(r["step"]) for r in rows}
    ctx = Context(torch.device("cpu"), amp=False, channels_last=False)
    scorer = None
    for ckpt in sorted((folder / "checkpoints").glob("step_*.pt")):
        state = read_checkpoint(ckpt)
        step = int(state["step"])
        if step in have:
            continue
        cfg = from_dict(T.Config, state["config"])
        task = T.Task(cfg, dataset=[])
        task.modules["G"] = T.model_from_checkpoint(ckpt).generator
        task._scorer = scorer
        with torch.no_grad():
            scores = task.validate(ctx)
        scorer = task._scorer
        clock = state.get("clock", {})
        rows.append({"step": step, "seconds": float("nan"), "train_wall_min": round(clock.get("wall_s", 0.0) / 60, 3),
                     "train_cpu_min": round(clock.get("cpu_s", 0.0) / 60, 3), **scores})
        print(f"rescored {ckpt.name}: {scores}")
    rows.sort(key=lambda r: r["step"])
    fields = list(dict.fromkeys(k for r in rows for k in r))
    from apdraw.io import atomic_write

    with atomic_write(val_path, "w") as f:
        w = csv.DictWriter(f, fieldnames=fields)
        w.writeheader()
        for r in rows:
            w.writerow({k: (int(v) if k == "step" else v) for k, v in r.items()})
    return 0


def read_val(path: Path) -> list[dict[str, float]]:
    if not path.is_file():
        return []
    with path.open(newline="") as f:
        return [{k: float(v) for k, v in row.items() if v not in ("", None)} for row in csv.DictReader(f)]


COLUMNS = [
    ("chamfer_dark", "Chamfer 0.5 px ↓", 2), ("chamfer", "Chamfer 0.75 px ↓", 2), ("ssim", "SSIM ↑", 3),
    ("fid_mnv2", "FID_mnv2 ↓", 1), ("fid_mnv2_ratio", "FID / floor ↓", 2), ("kid_mnv2", "KID_mnv2 ↓", 3),
    ("ink_far", "ink far ↓", 3),
]  # fmt: skip


def report(args: argparse.Namespace) -> int:
    out = Path(args.out)
    import json

    rows, curves = [], {}
    floor = None
    start = json.loads((out / "initial.json").read_text()) if (out / "initial.json").is_file() else None
    if start is not None:
        cells = [f"{start[k]:.{d}f}" if k in start else "–" for k, _, d in COLUMNS]
        rows.append("| 0. the starting generator (the previous default) | 0 | 0 | " + " | ".join(cells) + " |")
    for arm in ARMS:
        # The table row: the last validation within the budget (a longer run of an arm adds curve points only).
        val = read_val(arm_dir(out, arm) / "val.csv")
        within = [r for r in val if r["train_cpu_min"] <= args.budget * 1.02]
        if not within:
            continue
        last = within[-1]
        floor = last.get("fid_mnv2_floor", floor)
        points = [(0.0, start["fid_mnv2_ratio"])] if start and "fid_mnv2_ratio" in start else []
        curves[arm.label] = points + [(r["train_cpu_min"], r.get("fid_mnv2_ratio", float("nan"))) for r in val]
        cells = [f"{last[k]:.{d}f}" if k in last else "–" for k, _, d in COLUMNS]
        rows.append(f"| {arm.label} | {int(last['step'])} | {last['train_cpu_min']:.1f} | " + " | ".join(cells) + " |")
    if not rows:
        print(f"no val.csv under {out}", file=sys.stderr)
        return 1
    header = "| arm | steps | CPU min | " + " | ".join(label for _, label, _ in COLUMNS) + " |"
    table = "\n".join([header, "|" + "---|" * (3 + len(COLUMNS)), *rows])
    if floor is not None:
        table += f"\n\nReal-vs-real floor (50 training drawings vs the 50 validation drawings): FID_mnv2 {floor:.1f}."
    print(table)
    _plot(curves, REPO / "docs" / "img" / "training_fid_curve.png")
    if args.write_doc:
        from apdraw.io import write_doc_block

        write_doc_block(REPO / "docs" / "TRAINING.md", "ablation", table)
    return 0


def _plot(curves: dict[str, list[tuple[float, float]]], path: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from apdraw.io import atomic_write

    fig, ax = plt.subplots(figsize=(7, 4.2), dpi=110)
    for label, pts in curves.items():
        ax.plot([p[0] for p in pts], [p[1] for p in pts], marker="o", ms=3, label=label)
    ax.axhline(1.0, color="gray", lw=0.8, ls="--")
    ax.set_xlabel("CPU minutes of training (1 thread)")
    ax.set_ylabel("FID_mnv2 / real-vs-real floor")
    ax.set_title("APDrawingGAN on FS2K sketch type 0: validation FID per CPU minute")
    ax.legend(fontsize=7)
    ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_write(path) as f:
        fig.savefig(f, format="png")
    plt.close(fig)


def main(argv: list[str] | None = None) -> int:
    p = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = p.add_subparsers(dest="cmd", required=True)
    r = sub.add_parser("run")
    r.add_argument("--minutes", type=float, default=20.0, help="CPU minutes of training per arm")
    r.add_argument("--parallel", type=int, default=2)
    r.add_argument("--arms", default=",".join(a.name for a in ARMS))
    r.add_argument("--init", default=str(REPO / "src" / "apdraw" / "weights" / "apdrawinggan_fs2k.safetensors"))
    r.add_argument("--out", default="runs/ablation")
    r.set_defaults(func=run)
    rep = sub.add_parser("report")
    rep.add_argument("--out", default="runs/ablation")
    rep.add_argument("--budget", type=float, default=20.0, help="CPU minutes per arm: the table's cut-off")
    rep.add_argument("--write-doc", action="store_true")
    res = sub.add_parser("rescore", help="validate kept checkpoints missing from an arm's val.csv")
    res.add_argument("arm")
    res.add_argument("--out", default="runs/ablation")
    res.set_defaults(func=rescore)
    ini = sub.add_parser("initial", help="validate the starting generator (the curves' first point)")
    ini.add_argument("--init", default=str(REPO / "src" / "apdraw" / "weights" / "apdrawinggan_fs2k.safetensors"))
    ini.add_argument("--out", default="runs/ablation")
    ini.set_defaults(func=initial)
    rep.set_defaults(func=report)
    args = p.parse_args(argv)
    return args.func(args)


if __name__ == "__main__":
    sys.exit(main())
