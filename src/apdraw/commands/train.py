"""`apdraw train TASK [-c CONFIG.yaml] [key=value ...]`: train a model with the shared loop.

Examples::

    apdraw train parser -c src/apdraw/configs/parser.yaml loop.steps=20000
    apdraw train apdrawinggan stage=pretrain loop.out_dir=runs/pre
    torchrun --nproc_per_node 4 -m apdraw train apdrawinggan ...   # DDP on a cluster

A run resumes from ``<loop.out_dir>/checkpoints/latest.pt`` when it exists
(``--fresh`` refuses to overwrite such a run instead). ``loop.max_minutes=M``
stops it after M minutes of training time (``loop.clock=wall|cpu``). At the end
the final checkpoint is exported as fp16 weights to
``<loop.out_dir>/export/TASK.safetensors`` (``--no-export``: skip);
``apdraw export TASK CHECKPOINT OUT`` does the same for any checkpoint.
"""

from __future__ import annotations

import argparse
import sys


def register(sub: argparse._SubParsersAction) -> None:
    from apdraw.train.tasks import TASKS

    p = sub.add_parser("train", help="train a model", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("model", choices=TASKS.names(), metavar="TASK", help="what to train: " + "; ".join(f"{t.name}: {t.help}" for t in TASKS))
    p.add_argument("-c", "--config", help="YAML config file (any subset of the task's config fields)")
    p.add_argument("--fresh", action="store_true", help="fail if the run folder already holds a checkpoint")
    p.add_argument("--print-config", action="store_true", help="print the resolved config and exit")
    p.add_argument("--no-export", action="store_true", help="do not export <loop.out_dir>/export/TASK.safetensors at the end")
    p.add_argument("overrides", nargs="*", metavar="key=value", help="dotted overrides, e.g. loop.steps=1000")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    import os
    from pathlib import Path

    import yaml

    from apdraw.config import ConfigError, load_config, to_dict
    from apdraw.persistence import CheckpointError, WeightsError
    from apdraw.train.loop import TrainingSetupError, run_training
    from apdraw.train.tasks import TASKS

    module = TASKS.get(args.model).load()
    try:
        cfg = load_config(module.Config, args.config, args.overrides)
    except ConfigError as exc:
        print(f"apdraw train: bad config: {exc}", file=sys.stderr)
        return 2
    if args.print_config:
        print(yaml.safe_dump(to_dict(cfg), sort_keys=False))
        return 0
    latest = Path(cfg.loop.out_dir) / "checkpoints" / "latest.pt"
    if args.fresh and latest.exists():
        print(f"apdraw train: {latest} exists; choose another loop.out_dir or drop --fresh to resume", file=sys.stderr)
        return 2
    try:
        task = module.Task(cfg)
        final = run_training(task, cfg.loop, config=cfg)
    except (CheckpointError, FileNotFoundError, NotADirectoryError, TrainingSetupError) as exc:
        print(f"apdraw train: {exc}", file=sys.stderr)
        return 2
    r = task.result
    why = "time budget" if r.stopped_on_time else "loop.steps"
    print(f"done: {final} (step {r.step}, stopped by {why}; training time {r.clock.wall_s / 60:.1f} min wall, "
          f"{r.clock.cpu_s / 60:.1f} min CPU)")
    if args.no_export or os.environ.get("RANK", "0") != "0":  # under torchrun, one process exports
        return 0
    out = Path(cfg.loop.out_dir) / "export" / f"{args.model}.safetensors"
    try:
        # fp16 for every task, like `apdraw export` (linedetector's export() defaults to fp32)
        weights = module.export(final, out, half=True)
    except (CheckpointError, WeightsError, OSError) as exc:
        print(f"apdraw train: export failed: {exc}; the checkpoint {final} is kept", file=sys.stderr)
        return 2
    print(f"exported: {weights}")
    return 0
