"""GPU throughput of apdraw's networks: images/s at batch 1 and 32, fp16 autocast.

    python bench/bench_gpu.py [--batches 1 32] [--iters 20] [--write-doc]
    python bench/bench_gpu.py --device cpu --batches 1 --iters 1 --only compact mobilenet  # code check, not a GPU figure

Networks (random weights: throughput does not depend on their values):

* ``apdrawinggan full 512``: the paper-size hierarchical generator at 512x512;
* ``apdrawinggan compact 256``: the shipped CPU-sized generator (512x512 in and out, runs at 256);
* ``mobilenetv2 256``: the evaluation suite's proxy feature network;
* ``fid inception 299``: the FID Inception-v3 graph.

Each network runs under ``torch.autocast(float16)`` in eval mode and inference
mode, with ``--warmup`` untimed iterations, then ``--iters`` timed ones between
``torch.cuda.synchronize()`` calls. Without CUDA (and without ``--device cpu``)
the script prints "no GPU" and measures nothing.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path
from typing import Callable

import torch

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "BENCHMARKS.md"


def networks(device: torch.device) -> dict[str, tuple[int, Callable[[int], Callable[[], object]]]]:
    """name -> (input side, factory(batch) -> a no-argument call that runs one batch)."""
    from apdraw.models.apdrawinggan import APDrawingGAN, GeneratorConfig, box_sizes, compact_config
    from apdraw.models.inception import FIDInceptionV3
    from apdraw.models.mobilenetv2 import MobileNetV2

    def gan(cfg: GeneratorConfig) -> Callable[[int], Callable[[], object]]:
        model = APDrawingGAN(cfg).to(device).eval()

        def factory(batch: int) -> Callable[[], object]:
            photos = torch.randint(0, 256, (batch, 3, 512, 512), dtype=torch.uint8, device=device)
            # Part boxes centred in the frame, at their 512 sizes.
            boxes = torch.tensor([[256 - w // 2, 256 - h // 2, 256 + w // 2, 256 + h // 2]
                                  for w, h in box_sizes(512).values()], device=device)
            boxes = boxes[None].expand(batch, -1, -1).contiguous()
            fg = torch.ones(batch, 1, 512, 512, device=device)
            return lambda: model.draw(photos, boxes, fg)

        return factory

    def plain(model: torch.nn.Module, side: int) -> Callable[[int], Callable[[], object]]:
        model = model.to(device).eval()

        def factory(batch: int) -> Callable[[], object]:
            x = torch.rand(batch, 3, side, side, device=device)
            return lambda: model(x)

        return factory

    return {
        "apdrawinggan full 512": (512, gan(GeneratorConfig())),
        "apdrawinggan compact 256": (512, gan(compact_config()[0])),
        "mobilenetv2 256": (256, plain(MobileNetV2(), 256)),
        "fid inception 299": (299, plain(FIDInceptionV3(), 299)),
    }


def throughput(run: Callable[[], object], batch: int, device: torch.device, warmup: int, iters: int) -> float:
    cuda = device.type == "cuda"
    sync = torch.cuda.synchronize if cuda else (lambda: None)
    # fp16 autocast on the GPU; plain fp32 on the CPU (the code check), where
    # reduced-precision autocast is emulated and slow.
    with torch.inference_mode(), torch.autocast(device.type, dtype=torch.float16, enabled=cuda):
        for _ in range(warmup):
            run()
        sync()
        t = time.perf_counter()
        for _ in range(iters):
            run()
        sync()
    return batch * iters / (time.perf_counter() - t)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--batches", type=int, nargs="+", default=[1, 32])
    parser.add_argument("--iters", type=int, default=20)
    parser.add_argument("--warmup", type=int, default=3)
    parser.add_argument("--device", help="default: cuda when available; 'cpu' only checks the code")
    parser.add_argument("--only", nargs="+", metavar="WORD", help="only networks whose name contains one of these words")
    parser.add_argument("--write-doc", action="store_true", help=f"replace the GPU section of {DOC}")
    args = parser.parse_args(argv)
    if args.device is None and not torch.cuda.is_available():
        print("no GPU: torch.cuda.is_available() is False; nothing measured")
        return 0
    device = torch.device(args.device or "cuda")
    if device.type == "cuda":
        torch.backends.cudnn.benchmark = True
    nets = networks(device)
    header = "| network | " + " | ".join(f"batch {b} (img/s)" for b in args.batches) + " |"
    lines = [header, "|---|" + "---:|" * len(args.batches)]
    for name, (_, factory) in nets.items():
        if args.only and not any(w in name for w in args.only):
            continue
        cells = []
        for b in args.batches:
            try:
                cells.append(f"{throughput(factory(b), b, device, args.warmup, args.iters):.1f}")
            except torch.cuda.OutOfMemoryError:
                cells.append("out of memory")
                torch.cuda.empty_cache()
        lines.append(f"| {name} | " + " | ".join(cells) + " |")
        print(lines[-1], file=sys.stderr)
    what = (torch.cuda.get_device_name(device) if device.type == "cuda" else "CPU (fp32; a code check, "
            "not a GPU figure)")
    block = "\n".join([f"Command: `python bench/bench_gpu.py --batches {' '.join(map(str, args.batches))} "
                       f"--iters {args.iters} --write-doc`", "", "\n".join(lines), "",
                       f"Device: {what}; torch {torch.__version__}; {'fp16 autocast' if device.type == 'cuda' else 'fp32'}, "
                       f"eval + inference mode, "
                       f"{args.warmup} warm-up + {args.iters} timed iterations."])
    print(block)
    if args.write_doc:
        if device.type != "cuda":
            print("--write-doc only records GPU runs", file=sys.stderr)
            return 1
        from apdraw.io import write_doc_block

        write_doc_block(DOC, "bench_gpu", block)
    return 0


if __name__ == "__main__":
    sys.exit(main())
