"""`apdraw export TASK CHECKPOINT OUT`: a training checkpoint's network as shipped weights.

Writes safetensors (fp16 unless ``--fp32``) with the format tag and the
architecture config in the metadata, so ``--weights OUT`` (draw, parse) or a
task's config (the line detector of the DT loss) can load it. When the run
kept an EMA copy of the network, the EMA weights are exported; ``--live`` exports
the live (optimised) weights instead (tasks apdrawinggan, qmupd and sage), e.g. for
a short run that kept a plain EMA from before the loop's EMA warm-up.

    apdraw export apdrawinggan runs/apdrawinggan/checkpoints/latest.pt my.safetensors
    apdraw draw photos/ -o drawings/ --weights my.safetensors

``--format onnx`` (the default for an OUT ending in .onnx; task apdrawinggan)
writes the generator as an ONNX graph for onnxruntime; CHECKPOINT may then also
be a .safetensors weights file, such as the shipped one. Exporting needs the
packages onnx and onnxscript (the test extra); running it, onnxruntime only:

    apdraw export apdrawinggan src/apdraw/weights/apdrawinggan_fs2k.safetensors g.onnx
    apdraw draw photos/ -o drawings/ --runtime onnx --weights g.onnx
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path


FORMATS = ("safetensors", "onnx")


def register(sub: argparse._SubParsersAction) -> None:
    from apdraw.train.tasks import TASKS

    p = sub.add_parser("export", help="turn a training checkpoint into shipped weights", description=__doc__,
                       formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("task", choices=TASKS.names(), metavar="TASK", help="the task that wrote the checkpoint: " + ", ".join(TASKS.names()))
    p.add_argument("checkpoint", type=Path, metavar="CHECKPOINT", help="a training checkpoint (checkpoints/latest.pt); for apdrawinggan also a .safetensors weights file")
    p.add_argument("out", type=Path, metavar="OUT", help="the file to write (.safetensors, or .onnx)")
    p.add_argument("--format", choices=FORMATS, help="safetensors (apdraw's weights) or onnx (a graph for onnxruntime, task apdrawinggan); default: from OUT's suffix")
    p.add_argument("--live", action="store_true", help="the live weights, not the EMA copy (apdrawinggan, qmupd, sage)")
    p.add_argument("--fp32", action="store_true", help="keep fp32 tensors (default: fp16, half the size; ONNX: fp16 storage only where exact)")
    p.set_defaults(func=run)


def run(args: argparse.Namespace) -> int:
    from apdraw.persistence import CheckpointError, WeightsError
    from apdraw.train.tasks import TASKS

    fmt = args.format or {".onnx": "onnx"}.get(args.out.suffix, "safetensors")
    if args.out.suffix != f".{fmt}":
        print(f"apdraw export: {args.out}: the output must end in .{fmt}", file=sys.stderr)
        return 2
    module = TASKS.get(args.task).load()
    formats = getattr(module, "EXPORT_FORMATS", ("safetensors",))
    if fmt not in formats:
        print(f"apdraw export: task {args.task} exports {', '.join(formats)}, not {fmt}", file=sys.stderr)
        return 2
    options = {"format": fmt} if fmt != "safetensors" else {}
    if args.live:
        import inspect

        if "prefer_ema" not in inspect.signature(module.export).parameters:
            print(f"apdraw export: task {args.task} keeps no EMA copy: --live does not apply", file=sys.stderr)
            return 2
        options["prefer_ema"] = False
    try:
        out = module.export(args.checkpoint, args.out, half=not args.fp32, **options)
    except (FileNotFoundError, CheckpointError, WeightsError, ImportError) as exc:
        print(f"apdraw export: {exc}", file=sys.stderr)
        return 2
    print(f"wrote {out} ({out.stat().st_size / 2**20:.2f} MiB)")
    return 0
