"""The one training loop every apdraw model shares.

A model plugs in as a :class:`TrainTask`: it owns its dataset, builds its
modules/optimisers/schedulers in :meth:`TrainTask.build`, and does one
optimisation step in :meth:`TrainTask.train_step`, calling
:meth:`Context.step` for each optimiser (backward, gradient accumulation,
clipping) and :meth:`Context.frozen` to run a network without training it (a
GAN's discriminator during the generator's step). Everything else lives here,
once: seeding, data order, device, threads and precision
(:mod:`apdraw.runtime`), torchrun/DDP, EMA copies of chosen modules,
validation every N steps, atomic checkpoints with exact resume, CSV and
TensorBoard logs, sample grids and a progress bar with ETA.

Exact resume. Data order comes from :class:`EpochSampler`, a pure function of
(seed, epoch, rank): a resumed run regenerates the same permutation and skips
the batches already seen, without loading them. Each sample's augmentation
draws from :func:`apdraw.data.sampling.sample_rng`, seeded by the sample's key
rather than by a worker's RNG stream, so it does not matter which worker
loads what. The global torch/numpy/python RNG states (dropout, noise) are
checkpointed with the model, optimisers, schedulers, EMA copies and step.
Checkpoints hold only tensors and plain types (:mod:`apdraw.persistence`):
loading one never executes code.

Fixed-time training. The loop counts *training time*: the time spent in train
steps (data loading, ``train_step``, schedulers, EMA), not in sample grids,
validation or checkpoints, on two clocks: ``wall`` (``time.perf_counter``, for a
GPU slot) and ``cpu`` (``time.process_time`` of this process, for equal CPU
budgets on a shared machine). Both are checkpointed, so a resumed run goes on
with the budget it has left. With ``loop.max_minutes > 0`` the run stops at the
first step where ``loop.clock``'s training time reaches it, writing that step's
log row, samples, validation and checkpoint as for the last of ``loop.steps``
(which stays an upper bound). Resuming with a larger budget trains on; with the
same budget, nothing is done.

Layout of ``out_dir``::

    config.yaml          the full config of the run (written at start)
    checkpoints/latest.pt
    checkpoints/step_XXXXXXX.pt   every ``keep_every`` steps (optional)
    log.csv              step, seconds, train_wall_min, train_cpu_min, learning rate(s), every logged scalar
    val.csv              step, seconds, train_wall_min, train_cpu_min, the task's validation metrics (``validate_every``)
    tb/                  TensorBoard events: the same scalars, and the sample grids
    samples/step_XXXXXXX.png
"""

from __future__ import annotations

import contextlib
import copy
import csv
import dataclasses
import math
import os
import random
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable, Iterator, Literal

import numpy as np
import torch
import torch.distributed as dist
from torch import nn
from torch.utils.data import DataLoader, Dataset, Sampler
from tqdm import tqdm

from apdraw.config import to_dict
from apdraw.data.sampling import SampleKey
from apdraw.io import TMP_PREFIX, atomic_write, save_image, save_text
from apdraw.persistence import read_checkpoint, save_checkpoint as write_checkpoint
from apdraw.runtime import resolve_device, set_training_threads, use_amp


@dataclass
class LoopConfig:
    """Settings of the shared loop. Model-specific settings live in each task's config."""

    out_dir: str = "runs/default"
    steps: int = 10_000
    batch_size: int = 8
    num_workers: int = 0
    seed: int = 0
    device: str = "auto"  # auto | cpu | cuda | cuda:N
    amp: bool = True  # bf16 autocast, CUDA only (bf16 needs no grad scaler)
    channels_last: bool = True  # CUDA only
    log_every: int = 20
    sample_every: int = 500
    ckpt_every: int = 200
    keep_every: int = 0  # also keep step_XXXXXXX.pt every N steps; 0 = only latest.pt
    threads: int = 0  # torch CPU threads; 0 = leave torch's default
    accumulate: int = 1  # micro-batches per optimiser step (gradient accumulation)
    ema_decay: float = 0.0  # EMA of the task's ema_modules, e.g. 0.999; 0 = no EMA
    validate_every: int = 0  # call the task's validate() every N steps (and at the end); 0 = never
    tensorboard: bool = True  # also log to out_dir/tb (TensorBoard events)
    max_minutes: float = 0.0  # stop once `clock`'s training time reaches this (steps stays an upper bound); 0 = no limit
    # wall: time.perf_counter (a GPU slot); cpu: this process's CPU time (equal budgets on a shared
    # machine, blind to other jobs; DataLoader worker processes are not counted)
    clock: Literal["wall", "cpu"] = "wall"

    def __post_init__(self) -> None:
        for name in ("steps", "batch_size", "log_every", "sample_every", "ckpt_every", "accumulate"):
            if getattr(self, name) <= 0:
                raise ValueError(f"loop.{name} must be positive, got {getattr(self, name)}")
        for name in ("num_workers", "keep_every", "threads", "validate_every"):
            if getattr(self, name) < 0:
                raise ValueError(f"loop.{name} must be >= 0, got {getattr(self, name)}")
        if not 0.0 <= self.max_minutes < math.inf:
            raise ValueError(f"loop.max_minutes must be >= 0 (0 = no limit), got {self.max_minutes}")
        if self.clock not in ("wall", "cpu"):
            raise ValueError(f"loop.clock must be 'wall' or 'cpu', got {self.clock!r}")
        if not 0.0 <= self.ema_decay < 1.0:
            raise ValueError(f"loop.ema_decay must be in [0, 1), got {self.ema_decay}")
        out = Path(self.out_dir)
        if out.exists() and not out.is_dir():
            raise ValueError(f"loop.out_dir {out} is a file")
        resolve_device(self.device)  # fail at load time, not after building the task


class EpochSampler(Sampler[SampleKey]):
    """Yields SampleKeys for one epoch: a permutation that is a pure function of (seed, epoch).

    Under DDP each rank takes every ``world``-th item of the same permutation.
    ``skip`` drops the first items of the epoch (resume mid-epoch).
    """

    def __init__(self, n: int, seed: int, epoch: int, skip: int = 0, rank: int = 0, world: int = 1):
        self.n, self.seed, self.epoch, self.skip, self.rank, self.world = n, seed, epoch, skip, rank, world

    def _keys(self) -> list[SampleKey]:
        g = torch.Generator().manual_seed(self.seed * 1_000_003 + self.epoch)
        perm = torch.randperm(self.n, generator=g).tolist()[self.rank :: self.world]
        seeds = torch.randint(0, 2**62, (self.n,), generator=g).tolist()
        return [SampleKey(i, seeds[i]) for i in perm]

    def __iter__(self) -> Iterator[SampleKey]:
        return iter(self._keys()[self.skip :])

    def __len__(self) -> int:
        return max(0, len(range(self.rank, self.n, self.world)) - self.skip)


@dataclass
class TrainClock:
    """Training time so far, in seconds on both clocks: train steps only (no samples, validation, checkpoints)."""

    wall_s: float = 0.0
    cpu_s: float = 0.0

    def seconds(self, kind: str) -> float:
        """The time on clock ``kind`` (``loop.clock``: "wall" or "cpu")."""
        return self.wall_s if kind == "wall" else self.cpu_s

    @contextlib.contextmanager
    def running(self) -> Iterator[None]:
        """Add the time spent in the ``with`` block to both clocks."""
        wall, cpu = time.perf_counter(), time.process_time()
        try:
            yield
        finally:
            self.wall_s += time.perf_counter() - wall
            self.cpu_s += time.process_time() - cpu

    def columns(self) -> dict[str, float]:
        """The log.csv / val.csv columns, in minutes."""
        return {"train_wall_min": round(self.wall_s / 60, 3), "train_cpu_min": round(self.cpu_s / 60, 3)}


@dataclass(frozen=True)
class RunResult:
    """What :func:`run_training` did; the loop leaves it in ``task.result``."""

    checkpoint: Path  # checkpoints/latest.pt
    step: int  # the step of that checkpoint
    stopped_on_time: bool  # True: loop.max_minutes ran out (possibly before loop.steps)
    clock: TrainClock  # total training time of the run, resumes included


class TrainingSetupError(ValueError):
    """The run cannot start as configured (e.g. a batch larger than the data set); nothing was trained."""


@dataclass
class Context:
    """What a task sees of the run: device, precision, distribution."""

    device: torch.device
    amp: bool
    channels_last: bool
    rank: int = 0
    world: int = 1
    accumulate: int = 1  # micro-batches per optimiser step
    micro: int = 0  # index of the current micro-batch in its optimiser step (set by the loop)

    @property
    def is_main(self) -> bool:
        return self.rank == 0

    @property
    def last_micro(self) -> bool:
        """True on the micro-batch that completes an optimiser step."""
        return self.micro == self.accumulate - 1

    def step(self, optimizer: torch.optim.Optimizer, loss: torch.Tensor, clip: float | None = None) -> bool:
        """Backpropagate ``loss`` and, on the step's last micro-batch, update with ``optimizer``.

        The loss is divided by the number of micro-batches, so accumulated
        gradients are the mean over the whole batch. ``clip``: clip the global
        gradient norm of the optimiser's parameters to this value first. Under
        DDP the backward pass all-reduces the gradients (no task code needed).

        Returns:
            True when the optimiser stepped.
        """
        (loss / self.accumulate).backward()
        if not self.last_micro:
            return False
        if clip is not None:
            params = [p for group in optimizer.param_groups for p in group["params"] if p.grad is not None]
            nn.utils.clip_grad_norm_(params, clip)
        optimizer.step()
        optimizer.zero_grad(set_to_none=True)
        return True

    @contextlib.contextmanager
    def frozen(self, module: nn.Module) -> Iterator[nn.Module]:
        """Run ``module`` without training it: yields the plain module with ``requires_grad`` off.

        Gradients still flow *through* it to its inputs (a generator's step
        through the discriminator), but none is computed for its weights. The
        DDP wrapper is bypassed, so DDP never waits for gradients that do not come.
        """
        inner = unwrap(module)
        flags = [p.requires_grad for p in inner.parameters()]
        inner.requires_grad_(False)
        try:
            yield inner
        finally:
            for p, flag in zip(inner.parameters(), flags):
                p.requires_grad_(flag)

    def autocast(self) -> contextlib.AbstractContextManager:
        if self.amp and self.device.type == "cuda":
            return torch.autocast("cuda", dtype=torch.bfloat16)
        return contextlib.nullcontext()

    def prepare(self, module: nn.Module) -> nn.Module:
        """Move a module to the device (channels_last on CUDA)."""
        module = module.to(self.device)
        if self.channels_last and self.device.type == "cuda":
            module = module.to(memory_format=torch.channels_last)
        return module

    def wrap(self, module: nn.Module) -> nn.Module:
        """Wrap a trainable module for DDP when running under torchrun; identity otherwise."""
        if self.world > 1 and any(p.requires_grad for p in module.parameters()):
            ids = [self.device.index] if self.device.type == "cuda" else None
            return nn.parallel.DistributedDataParallel(module, device_ids=ids, broadcast_buffers=False)
        return module

    def to_device(self, batch: Any) -> Any:
        if isinstance(batch, torch.Tensor):
            return batch.to(self.device, non_blocking=True)
        if isinstance(batch, dict):
            return {k: self.to_device(v) for k, v in batch.items()}
        if isinstance(batch, (list, tuple)):
            return type(batch)(self.to_device(v) for v in batch)
        return batch


class TrainTask:
    """Base class of a model's training task. Subclasses set ``dataset`` and override the hooks."""

    dataset: Dataset
    config: Any = None
    # Modules the loop keeps an EMA copy of when loop.ema_decay > 0 (e.g. a GAN's generator).
    ema_modules: tuple[str, ...] = ()

    def __init__(self) -> None:
        self.modules: dict[str, nn.Module] = {}
        self.optimizers: dict[str, torch.optim.Optimizer] = {}
        self.schedulers: dict[str, torch.optim.lr_scheduler.LRScheduler] = {}
        self.ema: dict[str, EMA] = {}  # filled by the loop
        self.result: RunResult | None = None  # set by run_training when it returns

    def averaged(self, name: str) -> nn.Module:
        """Module ``name`` for evaluation: its EMA copy when the run keeps one, else the module itself."""
        return self.ema[name].module if name in self.ema else unwrap(self.modules[name])

    def build(self, ctx: Context) -> None:
        """Create modules, optimisers and schedulers on ``ctx.device``; register them in the dicts."""
        raise NotImplementedError

    def train_step(self, batch: Any, step: int, ctx: Context) -> dict[str, float]:
        """One optimisation step on ``batch`` (already on the device). Returns scalars to log."""
        raise NotImplementedError

    def sample(self, batch: Any, ctx: Context) -> np.ndarray | None:
        """A preview grid, (H, W, 3) uint8; called in eval mode under no_grad. None = no samples."""
        return None

    def validate(self, ctx: Context) -> dict[str, float] | None:
        """Held-out metrics (name -> value), every ``loop.validate_every`` steps, in eval mode under no_grad."""
        return None


class EMA:
    """An exponential moving average of a module's parameters (buffers are copied).

    ``module`` holds the averaged copy, always in eval mode and without gradients:
    after optimiser step n (1-based), ``ema = d * ema + (1 - d) * current`` with
    ``d = min(decay, n / (n + 9))`` (the warm-up of TensorFlow's ExponentialMovingAverage
    with num_updates; not in the papers, ours for CPU budgets).

    Why the warm-up: a plain EMA keeps ``decay ** n`` of the starting weights, and a CPU
    run is short: Stage II of SAGE trains ~500 steps at decay 0.999, which left 59 % of the
    exported translator its random initialisation (measured: its drawings were noise where
    the live translator's were faces). With the warm-up the average starts as the live
    weights and its horizon grows with the run, reaching ``decay`` after 9·decay/(1 − decay)
    steps (~9,000 at 0.999); long (GPU) runs end as a plain EMA.
    """

    def __init__(self, module: nn.Module, decay: float):
        self.decay = decay
        self.module = copy.deepcopy(unwrap(module)).eval().requires_grad_(False)

    def decay_at(self, step: int) -> float:
        """The decay used after optimiser step ``step`` (1-based)."""
        return min(self.decay, step / (step + 9.0))

    @torch.no_grad()
    def update(self, module: nn.Module, step: int) -> None:
        live = unwrap(module)
        d = self.decay_at(step)
        for avg, cur in zip(self.module.parameters(), live.parameters()):
            avg.lerp_(cur.detach(), 1.0 - d)
        for avg, cur in zip(self.module.buffers(), live.buffers()):
            avg.copy_(cur)


def lazy_regularization(step: int, every: int) -> float:
    """Weight of a regulariser computed only every ``every`` steps (lazy regularisation, StyleGAN2).

    ``every`` on the steps where it is computed, so its average effect equals
    applying it at every step, and 0 (skip computing it) on the others.
    """
    if every <= 0:
        raise ValueError(f"every must be positive, got {every}")
    return float(every) if step % every == 0 else 0.0


# --------------------------------------------------------------------------- helpers


def seed_everything(seed: int) -> None:
    random.seed(seed)
    np.random.seed(seed % 2**32)
    torch.manual_seed(seed)


def _rng_state() -> dict[str, Any]:
    # numpy's state as plain types and a tensor: checkpoints hold nothing that needs unpickling code.
    kind, keys, pos, has_gauss, gauss = np.random.get_state()
    numpy_state = {"kind": kind, "keys": torch.from_numpy(keys.astype(np.int64)), "pos": pos, "has_gauss": has_gauss, "gauss": gauss}
    state = {"python": random.getstate(), "numpy": numpy_state, "torch": torch.get_rng_state()}
    if torch.cuda.is_available():
        state["cuda"] = torch.cuda.get_rng_state_all()
    return state


def _set_rng_state(state: dict[str, Any]) -> None:
    random.setstate(state["python"])
    n = state["numpy"]
    np.random.set_state((n["kind"], n["keys"].numpy().astype(np.uint32), n["pos"], n["has_gauss"], n["gauss"]))
    torch.set_rng_state(state["torch"])
    if "cuda" in state and torch.cuda.is_available():
        torch.cuda.set_rng_state_all(state["cuda"])


def unwrap(module: nn.Module) -> nn.Module:
    """The module inside a DDP wrapper (or the module itself)."""
    return module.module if isinstance(module, nn.parallel.DistributedDataParallel) else module


def save_checkpoint(path: Path, task: TrainTask, step: int, config: Any, clock: TrainClock | None = None) -> None:
    """Everything needed to continue exactly: weights, EMA copies, optimisers, schedulers, step, RNG states, training time."""
    clock = clock or TrainClock()
    state = {
        "step": step,
        "clock": {"wall_s": clock.wall_s, "cpu_s": clock.cpu_s},
        "modules": {k: unwrap(m).state_dict() for k, m in task.modules.items()},
        "ema": {k: e.module.state_dict() for k, e in task.ema.items()},
        "optimizers": {k: o.state_dict() for k, o in task.optimizers.items()},
        "schedulers": {k: s.state_dict() for k, s in task.schedulers.items()},
        "rng": _rng_state(),
        "config": to_dict(config) if dataclasses.is_dataclass(config) else config,
    }
    write_checkpoint(path, state)


def load_checkpoint(path: Path, task: TrainTask, map_location: torch.device | str = "cpu") -> tuple[int, TrainClock]:
    """Restore a checkpoint written by :func:`save_checkpoint` into a built task; returns its step and training time.

    EMA copies missing from the checkpoint (EMA switched on mid-run) start from the restored weights;
    checkpoints older than the training clock count as 0 s of training.
    """
    state = read_checkpoint(path, map_location=map_location)
    for k, m in task.modules.items():
        unwrap(m).load_state_dict(state["modules"][k])
    for k, e in task.ema.items():
        e.module.load_state_dict(state.get("ema", {}).get(k, unwrap(task.modules[k]).state_dict()))
    for k, o in task.optimizers.items():
        o.load_state_dict(state["optimizers"][k])
    for k, s in task.schedulers.items():
        s.load_state_dict(state["schedulers"][k])
    _set_rng_state(state["rng"])
    clock = state.get("clock", {})
    return int(state["step"]), TrainClock(float(clock.get("wall_s", 0.0)), float(clock.get("cpu_s", 0.0)))


class _CsvLog:
    """Append-only CSV; on resume, rows past the checkpoint's step are dropped so the log stays consistent."""

    def __init__(self, path: Path, resume_step: int):
        self.path = path
        self.fields: list[str] | None = None
        if path.exists():
            with path.open(newline="") as f:
                rows = list(csv.DictReader(f))
            if rows:
                self.fields = list(rows[0].keys())
            rows = [r for r in rows if int(r["step"]) <= resume_step]
            with atomic_write(path, "w") as f:
                if self.fields:
                    w = csv.DictWriter(f, fieldnames=self.fields)
                    w.writeheader()
                    w.writerows(rows)

    def write(self, row: dict[str, Any]) -> None:
        if self.fields is None:
            self.fields = list(row.keys())
            with self.path.open("w", newline="") as f:
                csv.DictWriter(f, fieldnames=self.fields).writeheader()
        with self.path.open("a", newline="") as f:
            csv.DictWriter(f, fieldnames=self.fields, extrasaction="ignore").writerow(row)


def _init_distributed() -> tuple[int, int, int]:
    """(rank, local_rank, world) from torchrun's environment; initialises the process group."""
    world = int(os.environ.get("WORLD_SIZE", "1"))
    if world <= 1:
        return 0, 0, 1
    if not dist.is_initialized():
        dist.init_process_group("nccl" if torch.cuda.is_available() else "gloo")
    local = int(os.environ.get("LOCAL_RANK", "0"))
    if torch.cuda.is_available():
        torch.cuda.set_device(local)
    return dist.get_rank(), local, world


# --------------------------------------------------------------------------- the loop


def run_training(task: TrainTask, loop: LoopConfig, config: Any = None, resume: bool = True) -> Path:
    """Train ``task`` for ``loop.steps`` steps or ``loop.max_minutes`` of training; returns the final checkpoint's path.

    ``config`` is the task's full config (saved into the run folder and checkpoints).
    With ``resume`` and an existing ``checkpoints/latest.pt``, training continues from it exactly.
    What happened (last step, whether the time budget stopped it, training time) is left in
    ``task.result`` (:class:`RunResult`).
    """
    rank, local_rank, world = _init_distributed()
    out = Path(loop.out_dir)
    ckpt_dir = out / "checkpoints"
    latest = ckpt_dir / "latest.pt"
    set_training_threads(loop.threads)
    device = resolve_device(loop.device, local_rank)
    ctx = Context(device=device, amp=use_amp(loop.amp, device), channels_last=loop.channels_last, rank=rank, world=world,
                  accumulate=loop.accumulate)

    seed_everything(loop.seed + rank)
    task.build(ctx)
    if loop.ema_decay > 0:
        if not task.ema_modules:
            raise TrainingSetupError(f"{type(task).__name__} keeps no EMA copies; set loop.ema_decay=0")
        task.ema = {name: EMA(task.modules[name], loop.ema_decay) for name in task.ema_modules}
    _remove_stale_temporaries(ckpt_dir)
    step, clock = 0, TrainClock()
    if resume and latest.exists():
        step, clock = load_checkpoint(latest, task, map_location=device)
        if ctx.is_main:
            tqdm.write(f"resumed from {latest} at step {step}")
    if ctx.is_main:
        out.mkdir(parents=True, exist_ok=True)
        import yaml

        save_text(out / "config.yaml", yaml.safe_dump(to_dict(config) if config is not None else to_dict(loop), sort_keys=False))
    log = _CsvLog(out / "log.csv", step) if ctx.is_main else None
    val_log = _CsvLog(out / "val.csv", step) if ctx.is_main and loop.validate_every else None
    board = _board(out / "tb", step) if ctx.is_main and loop.tensorboard else None

    n = len(task.dataset)  # type: ignore[arg-type]
    per_rank = len(range(rank, n, world))
    batches_per_epoch = per_rank // loop.batch_size
    if batches_per_epoch == 0:
        raise TrainingSetupError(f"the data set has {n} items, fewer than one batch of loop.batch_size={loop.batch_size}"
                                 + (f" per process ({world} processes)" if world > 1 else ""))

    def loader_from(epoch: int, skip_batches: int) -> DataLoader:
        sampler = EpochSampler(n, loop.seed, epoch, skip_batches * loop.batch_size, rank, world)
        return DataLoader(
            task.dataset,
            batch_size=loop.batch_size,
            sampler=sampler,
            num_workers=loop.num_workers,
            drop_last=True,
            pin_memory=device.type == "cuda",
            # An explicit generator: otherwise creating the iterator draws from the
            # global torch RNG, and a resumed run would diverge from an unbroken one.
            generator=torch.Generator().manual_seed(loop.seed * 1_000_003 + epoch),
        )

    def micro_batches(start: int) -> Iterator[Any]:
        """Batches from the ``start``-th of the run on, across epochs (``accumulate`` per step)."""
        epoch, within = divmod(start, batches_per_epoch)
        while True:
            yield from loader_from(epoch, within)
            epoch, within = epoch + 1, 0

    def set_train(mode: bool) -> None:
        for m in task.modules.values():
            m.train(mode)

    def out_of_time() -> bool:
        if loop.max_minutes <= 0:
            return False
        # Each process has its own clocks: rank 0 decides, so all stop at the same step.
        return _rank0_decides(clock.seconds(loop.clock) >= loop.max_minutes * 60, world, device)

    bar = tqdm(total=loop.steps, initial=step, disable=not ctx.is_main, dynamic_ncols=True, desc=out.name)
    t0 = time.time()
    # A fixed preview batch (the first of epoch 0), so grids are comparable across resumes.
    sample_batch = ctx.to_device(next(iter(loader_from(0, 0)))) if ctx.is_main else None
    stream = micro_batches(step * loop.accumulate)
    set_train(True)
    spent = out_of_time()  # a run resumed with its budget used up does no further step
    if spent and ctx.is_main:
        tqdm.write(f"time budget loop.max_minutes={loop.max_minutes} already spent at step {step}; nothing to train")
    while step < loop.steps and not spent:
        sums: dict[str, float] = {}
        with clock.running():
            for micro in range(loop.accumulate):
                ctx.micro = micro
                scalars = task.train_step(ctx.to_device(next(stream)), step, ctx)
                for k, v in scalars.items():
                    sums[k] = sums.get(k, 0.0) + float(v)
            for s in task.schedulers.values():
                s.step()
            for name, e in task.ema.items():
                e.update(task.modules[name], step + 1)
        scalars = {k: v / loop.accumulate for k, v in sums.items()}
        step += 1
        bar.update(1)
        spent = out_of_time()
        last = spent or step == loop.steps  # the final step: always logged, sampled, validated, checkpointed
        if ctx.is_main and (step % loop.log_every == 0 or last):
            row = {"step": step, "seconds": round(time.time() - t0, 2), **clock.columns()}
            for name, opt in task.optimizers.items():
                row[f"lr_{name}"] = opt.param_groups[0]["lr"]
            row.update(scalars)
            bad = [k for k, v in scalars.items() if not math.isfinite(v)]
            if bad:
                raise FloatingPointError(f"step {step}: non-finite loss {bad}; last good checkpoint is {latest}")
            log.write(row)  # type: ignore[union-attr]
            _board_scalars(board, "train", row, step)
            bar.set_postfix({k: f"{v:.3g}" for k, v in list(scalars.items())[:4]})
        if ctx.is_main and (step % loop.sample_every == 0 or last):
            set_train(False)
            with torch.no_grad():
                grid = task.sample(sample_batch, ctx)
            set_train(True)
            if grid is not None:
                save_image(out / "samples" / f"step_{step:07d}.png", grid)
                if board is not None:
                    board.add_image("samples", grid, step, dataformats="HWC")
        if ctx.is_main and loop.validate_every and (step % loop.validate_every == 0 or last):
            set_train(False)
            with torch.no_grad():
                metrics = task.validate(ctx)
            set_train(True)
            if metrics:
                row = {"step": step, "seconds": round(time.time() - t0, 2), **clock.columns(), **{k: float(v) for k, v in metrics.items()}}
                val_log.write(row)  # type: ignore[union-attr]
                _board_scalars(board, "val", row, step)
                tqdm.write(f"step {step} validation: " + ", ".join(f"{k} {float(v):.4g}" for k, v in metrics.items()))
        if ctx.is_main and (step % loop.ckpt_every == 0 or last):
            save_checkpoint(latest, task, step, config, clock)
            if loop.keep_every and step % loop.keep_every == 0:
                save_checkpoint(ckpt_dir / f"step_{step:07d}.pt", task, step, config, clock)
        if spent and ctx.is_main:
            tqdm.write(f"stopped on the time budget at step {step} after {clock.seconds(loop.clock) / 60:.2f} min "
                       f"of training ({loop.clock} clock, loop.max_minutes={loop.max_minutes})")
    bar.close()
    if board is not None:
        board.close()
    if world > 1:
        dist.barrier()
    task.result = RunResult(latest, step, spent, clock)
    return latest


def _rank0_decides(flag: bool, world: int, device: torch.device) -> bool:
    """Rank 0's ``flag`` on every process (itself when not distributed)."""
    if world <= 1:
        return flag
    t = torch.tensor([int(flag)], device=device)
    dist.broadcast(t, src=0)
    return bool(t.item())


def _remove_stale_temporaries(folder: Path) -> None:
    """Delete half-written checkpoints of a killed run (our own temporary names only)."""
    if folder.is_dir():
        for tmp in folder.glob(f"{TMP_PREFIX}*.tmp"):
            tmp.unlink(missing_ok=True)


def _board(folder: Path, step: int) -> Any:
    """A TensorBoard writer; on resume, events after ``step`` (from the killed run) are purged."""
    from tensorboardX import SummaryWriter

    return SummaryWriter(str(folder), purge_step=step if step else None)


def _board_scalars(board: Any, prefix: str, row: dict[str, Any], step: int) -> None:
    if board is None:
        return
    for k, v in row.items():
        if k not in ("step", "seconds", "train_wall_min", "train_cpu_min"):
            board.add_scalar(f"{prefix}/{k}", float(v), step)
    board.flush()
