"""How many torch CPU threads a block of inference code uses."""

from __future__ import annotations

import contextlib
from typing import Iterator

import torch


@contextlib.contextmanager
def torch_threads(num_threads: int | None, device: str | torch.device = "cpu") -> Iterator[None]:
    """Run the block with ``num_threads`` torch CPU threads, then restore the caller's count.

    None, or a non-CPU ``device``, leaves the setting alone. apdraw's inference
    wrappers default to 1 thread: its networks are small, and on a busy 2-core
    machine OpenMP threads spin-wait for a core, which made 2 threads 3-10x
    slower than 1 in our measurements (MTCNN, the face parser, APDrawingGAN).
    """
    if num_threads is None or torch.device(device).type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)
