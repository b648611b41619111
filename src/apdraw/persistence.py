"""Saving and loading networks and training checkpoints, in one place.

Two kinds of file, both safe to open (loading one never executes code):

* **Model weights** (:func:`save_model`, :func:`load_model`): safetensors, with
  a ``format`` tag (e.g. ``"apdraw.apdrawinggan/1"``) and the architecture
  config as JSON in the metadata, so a file rebuilds its own network. Keys and
  shapes are checked strictly; a wrong, truncated or foreign file is a
  :class:`WeightsError` that says what is wrong. fp16 halves shipped files;
  loading casts back to fp32.
* **Training checkpoints** (:func:`save_checkpoint`, :func:`read_checkpoint`):
  ``torch.save`` of plain types and tensors only (state dicts, step, RNG
  states, the config as a dict), read back with ``torch.load(weights_only=True)``.
  A pickle that would build any other object (a crafted file, or a checkpoint
  written by an apdraw before 0.2) is refused with :class:`CheckpointError`.
"""

from __future__ import annotations

import dataclasses
import io
import json
import pickle
import warnings
from pathlib import Path
from typing import Any, Callable, TypeVar

import torch
from torch import nn

from apdraw.config import ConfigError, from_dict, to_dict
from apdraw.io import atomic_write

M = TypeVar("M", bound=nn.Module)

# BatchNorm's step counter: unused in eval mode, so shipped files leave it out.
_SKIPPED_BUFFERS = ("num_batches_tracked",)


class WeightsError(ValueError):
    """A weight file that cannot be used; the message names the file and the reason."""


class CheckpointError(ValueError):
    """A training checkpoint that cannot be used; the message names the file and the reason."""


# --------------------------------------------------------------------------- model weights


def save_model(
    path: str | Path,
    module: nn.Module,
    fmt: str,
    config: Any,
    half: bool = True,
    extra: dict[str, str] | None = None,
) -> Path:
    """Write ``module``'s state dict as safetensors, atomically.

    Args:
        fmt: the format tag, ``"apdraw.<model>/<version>"``.
        config: the dataclass (or plain dict) that rebuilds the architecture; stored as JSON.
        half: store floating-point tensors as fp16.
        extra: more metadata (strings), e.g. the training step.
    """
    from safetensors.torch import save

    state = {}
    for k, v in module.state_dict().items():
        if k.rsplit(".", 1)[-1] in _SKIPPED_BUFFERS:
            continue
        v = v.detach().cpu()
        state[k] = (v.half() if half and v.is_floating_point() else v).contiguous()
    cfg = to_dict(config) if dataclasses.is_dataclass(config) else config
    meta = {"format": fmt, "config": json.dumps(cfg), **(extra or {})}
    with atomic_write(path) as f:
        f.write(save(state, metadata=meta))
    return Path(path)


def read_weights(path: str | Path, fmt: str | None = None) -> tuple[dict[str, torch.Tensor], dict[str, str]]:
    """The tensors and metadata of a safetensors file; ``fmt`` = the format tag it must carry (None: any).

    Raises:
        FileNotFoundError: no such file. WeightsError: not safetensors, or another format.
    """
    from safetensors import SafetensorError, safe_open

    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"weights not found: {path}")
    try:
        with safe_open(str(path), framework="pt") as f:
            meta = f.metadata() or {}
            if fmt is not None and meta.get("format") != fmt:
                raise WeightsError(f"{path}: not a {fmt} weight file (its format is {meta.get('format')!r})")
            tensors = {k: f.get_tensor(k) for k in f.keys()}
    except SafetensorError as exc:
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from exc
    except (OSError, ValueError) as exc:
        if isinstance(exc, WeightsError):
            raise
        raise WeightsError(f"{path}: not a readable safetensors file ({exc})") from exc
    return tensors, meta


def load_state_strict(module: nn.Module, state: dict[str, torch.Tensor], source: str) -> None:
    """Load ``state`` into ``module`` (cast to each parameter's dtype), demanding the same keys and shapes.

    BatchNorm's ``num_batches_tracked`` may be absent (see :func:`save_model`).

    Raises:
        WeightsError: missing or unexpected keys, or shape mismatches (the first few are named).
    """
    own = module.state_dict()
    missing = [k for k in own if k not in state and k.rsplit(".", 1)[-1] not in _SKIPPED_BUFFERS]
    unexpected = [k for k in state if k not in own]
    wrong = [f"{k} {tuple(state[k].shape)} != {tuple(own[k].shape)}" for k in own if k in state and state[k].shape != own[k].shape]
    problems = []
    if missing:
        problems.append(f"{len(missing)} missing tensor(s), e.g. {missing[:3]}")
    if unexpected:
        problems.append(f"{len(unexpected)} unexpected tensor(s), e.g. {unexpected[:3]}")
    if wrong:
        problems.append(f"{len(wrong)} tensor(s) of the wrong shape, e.g. {wrong[:3]}")
    if problems:
        raise WeightsError(f"{source}: the weights do not fit this network: " + "; ".join(problems))
    cast = {k: v.to(own[k].dtype) if v.is_floating_point() else v for k, v in state.items()}
    module.load_state_dict(cast, strict=False)


C = TypeVar("C")


def load_model(
    path: str | Path,
    fmt: str,
    config_cls: type[C],
    build: Callable[[C, dict[str, str]], M],
) -> tuple[M, dict[str, str]]:
    """Rebuild and load a network written by :func:`save_model`.

    Args:
        fmt: the format tag the file must carry.
        config_cls: the dataclass of the stored ``config``.
        build: ``(config, metadata) -> module`` (fresh, untrained).

    Returns:
        (module in eval mode, fp32; the file's metadata).

    Raises:
        FileNotFoundError: no such file. WeightsError: anything wrong with its content.
    """
    tensors, meta = read_weights(path, fmt)
    if "config" not in meta:
        raise WeightsError(f"{path}: no architecture config in the metadata (not written by apdraw's save_model)")
    try:
        cfg = from_dict(config_cls, json.loads(meta["config"]))
    except (json.JSONDecodeError, ConfigError) as exc:
        raise WeightsError(f"{path}: the architecture config in the metadata is invalid ({exc})") from exc
    try:
        module = build(cfg, meta)
    except (ValueError, TypeError, KeyError) as exc:
        raise WeightsError(f"{path}: cannot build the network its metadata describes ({exc})") from exc
    load_state_strict(module, tensors, str(path))
    return module.float().eval(), meta


# --------------------------------------------------------------------------- training checkpoints


def _plain(obj: Any) -> Any:
    """numpy scalars and arrays (e.g. a scheduler's learning rate computed with numpy) -> Python types / tensors."""
    import numpy as np

    if isinstance(obj, dict):
        return {k: _plain(v) for k, v in obj.items()}
    if isinstance(obj, (list, tuple)):
        return type(obj)(_plain(v) for v in obj)
    if isinstance(obj, np.generic):
        return obj.item()
    if isinstance(obj, np.ndarray):
        return torch.from_numpy(obj.copy())
    return obj


def save_checkpoint(path: str | Path, state: dict[str, Any]) -> None:
    """Write a training checkpoint atomically: tensors and plain Python types only (numpy is converted)."""
    buf = io.BytesIO()
    torch.save(_plain(state), buf)
    with atomic_write(path) as f:
        f.write(buf.getbuffer())


def read_checkpoint(path: str | Path, map_location: str | torch.device = "cpu") -> dict[str, Any]:
    """Read a training checkpoint without executing code.

    Raises:
        FileNotFoundError: no such file. CheckpointError: unreadable, or holds anything but
        tensors and plain types (it is refused, not run).
    """
    path = Path(path)
    if not path.is_file():
        raise FileNotFoundError(f"checkpoint not found: {path}")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", UserWarning)  # torch's notes on foreign pickles; we refuse them below
            state = torch.load(path, map_location=map_location, weights_only=True)
    except pickle.UnpicklingError as exc:
        lines = [line.strip() for line in str(exc).splitlines()]
        detail = next((line for line in lines if line.startswith("Unsupported")), "")
        raise CheckpointError(
            f"{path}: refused: not a checkpoint of plain tensors and Python types (corrupt, crafted, or written by "
            "an apdraw older than 0.2); apdraw never unpickles other objects, since that could run code"
            + (f" [{detail.split(' was not')[0]}]" if detail else "")
        ) from exc
    except (RuntimeError, EOFError, OSError, ValueError) as exc:
        raise CheckpointError(f"{path}: not a readable training checkpoint ({exc})") from exc
    if not isinstance(state, dict) or "step" not in state or "modules" not in state:
        raise CheckpointError(f"{path}: not an apdraw training checkpoint (no step/modules)")
    return state


def checkpoint_module(state: dict[str, Any], name: str, prefer_ema: bool = True, source: str = "checkpoint") -> dict[str, torch.Tensor]:
    """The state dict of module ``name`` in a checkpoint: its EMA copy when there is one and ``prefer_ema``.

    Raises:
        CheckpointError: the checkpoint has no such module.
    """
    if prefer_ema and name in state.get("ema", {}):
        return state["ema"][name]
    if name not in state["modules"]:
        raise CheckpointError(f"{source}: no module {name!r} in this checkpoint (it has {sorted(state['modules'])})")
    return state["modules"][name]
