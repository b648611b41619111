"""Where and how torch runs: CPU threads, device and precision, decided in one place.

Training (:func:`apdraw.train.loop.run_training`) asks :func:`resolve_device`
and :func:`use_amp`; every inference wrapper runs its network inside
:func:`torch_threads`.
"""

from __future__ import annotations

import contextlib
from typing import TYPE_CHECKING, Iterator

if TYPE_CHECKING:  # pragma: no cover
    import torch

# torch is imported inside the functions: a process that runs no torch network (apdraw draw
# --runtime onnx) may import this module without loading torch.


@contextlib.contextmanager
def torch_threads(num_threads: int | None, device: str | torch.device = "cpu") -> Iterator[None]:
    """Run the block with ``num_threads`` torch CPU threads, then restore the caller's count.

    None, or a non-CPU ``device``, leaves the setting alone. apdraw's inference
    wrappers default to 1 thread: its networks are small, and on a busy 2-core
    machine OpenMP threads spin-wait for a core, which made 2 threads 3-10x
    slower than 1 in our measurements (MTCNN, the face parser, APDrawingGAN).
    """
    if num_threads is None:
        yield
        return
    import torch

    if torch.device(device).type != "cpu":
        yield
        return
    previous = torch.get_num_threads()
    torch.set_num_threads(num_threads)
    try:
        yield
    finally:
        torch.set_num_threads(previous)


class DeviceError(ValueError):
    """A device was asked for that this machine does not have (or that torch does not know)."""


def resolve_device(name: str, local_rank: int = 0) -> torch.device:
    """``auto`` | ``cpu`` | ``cuda`` | ``cuda:N`` | ``mps`` -> a device this machine has.

    ``auto`` picks CUDA (this process's ``local_rank`` GPU) when available, else the CPU.

    Raises:
        DeviceError: an unknown name, or CUDA asked for where there is none.
    """
    import torch

    if name == "auto":
        return torch.device(f"cuda:{local_rank}") if torch.cuda.is_available() else torch.device("cpu")
    try:
        dev = torch.device(name)
    except RuntimeError:
        raise DeviceError(f"unknown device {name!r}; use auto, cpu, cuda or cuda:N") from None
    if dev.type == "cuda":
        if not torch.cuda.is_available():
            raise DeviceError(f"device {name!r} asked for, but CUDA is not available here; use device=cpu (or auto)")
        if dev.index is not None and dev.index >= torch.cuda.device_count():
            raise DeviceError(f"device {name!r} asked for, but this machine has {torch.cuda.device_count()} GPU(s)")
    elif dev.type == "mps" and not torch.backends.mps.is_available():
        raise DeviceError("device 'mps' asked for, but MPS is not available here")
    elif dev.type not in ("cpu", "cuda", "mps"):
        raise DeviceError(f"device {name!r} is not supported; use auto, cpu, cuda or cuda:N")
    return dev


def use_amp(requested: bool, device: torch.device) -> bool:
    """bf16 autocast only on CUDA: on the CPU it is slower than fp32 for these networks."""
    return requested and device.type == "cuda"


def set_training_threads(threads: int) -> None:
    """Torch CPU threads for a training process; 0 leaves torch's default."""
    if threads:
        import torch

        torch.set_num_threads(threads)
