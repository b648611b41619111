"""`apdraw export TASK CHECKPOINT OUT`: a training checkpoint's network as shipped weights.

Writes safetensors (fp16 unless ``--fp32``) with the format tag and the
architecture config in the metadata, so ``--weights OUT`` (draw, parse) or a
task's config (the line detector of the DT loss) can load it. When the run
kept an EMA copy of the network, the EMA weights are exported.

    apdraw export apdrawinggan runs/apdrawinggan/checkpoints/latest.pt my.safetensors
    apdraw draw photos/ -o drawings/ --weights my.safetensors
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


def register(sub: argparse._SubParsersAction) -> None:
    from apdraw.train.tasks import TASKS

    p = sub.add_parser("export", help="turn a training checkpoint into shipped weights", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=TASKS.names(), metavar="TASK", help="the task that wrote the checkpoint: " + ", ".join(TASKS.names()))
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="a training checkpoint (checkpoints/latest.pt)")
    p.add_argument("out", type=Path, metavar="OUT", help="the .safetensors file to write")
    p.add_argument("--fp32", action="store_true", help="keep fp32 tensors (default: fp16, half the size)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from apdraw.persistence import CheckpointError, WeightsError
    from apdraw.train.tasks import TASKS

    if args.out.suffix != ".safetensors":
        print(f"apdraw export: {args.out}: the output must end in .safetensors", file=sys.stderr)
        return 2
    module = TASKS.get(args.task).load()
    try:
        out = module.export(args.checkpoint, args.out, half=not args.fp32)
    except (FileNotFoundError, CheckpointError, WeightsError) as exc:
        print(f"apdraw export: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 2**20:.2f} MiB)")
    return 0
