"""Fixed-time training: loop.max_minutes / loop.clock, the checkpointed training clock, and
`apdraw train`'s end-of-run export. (Exact resume by steps is tested in test_train_loop.py.)"""

from __future__ import annotations

import csv
import time
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch
from torch import nn

from apdraw.config import ConfigError, load_config
from apdraw.data.sampling import SampleKey
from apdraw.persistence import read_checkpoint, read_weights
from apdraw.train.loop import LoopConfig, TrainTask, run_training

STEP_S = 0.02  # what one train step of the toy task costs
BUDGET_MIN = 0.002  # 0.12 s: about 6 steps of STEP_S


class _Data(torch.utils.data.Dataset):
    def __init__(self, n: int = 16):
        self.x = torch.randn(n, 4, generator=torch.Generator().manual_seed(0))

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, key: SampleKey) -> torch.Tensor:
        return self.x[key.index]


class SlowTask(TrainTask):
    """A linear model whose step takes STEP_S: sleeping (wall time only) or busy (CPU time too)."""

    def __init__(self, busy: bool = False):
        super().__init__()
        self.dataset = _Data()
        self.busy = busy
        self.steps_done = 0

    def build(self, ctx):
        torch.manual_seed(0)
        self.modules["net"] = net = ctx.prepare(nn.Linear(4, 1))
        self.optimizers["net"] = torch.optim.SGD(net.parameters(), lr=0.01)

    def train_step(self, batch, step, ctx):
        if self.busy:
            end = time.process_time() + STEP_S
            while time.process_time() < end:
                pass
        else:
            time.sleep(STEP_S)
        loss = self.modules["net"](batch).pow(2).mean()
        ctx.step(self.optimizers["net"], loss)
        self.steps_done += 1
        return {"loss": loss.item()}

    def sample(self, batch, ctx):
        return np.zeros((4, 4, 3), np.uint8)

    def validate(self, ctx):
        return {"mse": 1.0}


def _loop(out: Path, **kw) -> LoopConfig:
    cfg = dict(steps=1000, batch_size=4, log_every=1, sample_every=1000, ckpt_every=1000, validate_every=1000,
               max_minutes=BUDGET_MIN, device="cpu", tensorboard=False)
    return LoopConfig(out_dir=str(out), **{**cfg, **kw})


def _rows(path: Path) -> list[dict[str, str]]:
    return list(csv.DictReader(path.open()))


def test_the_run_stops_on_its_time_budget_with_a_final_checkpoint(tmp_path, capsys):
    task = SlowTask()
    latest = run_training(task, _loop(tmp_path))
    n = task.steps_done
    assert 1 <= n <= round(BUDGET_MIN * 60 / STEP_S)  # stopped long before loop.steps
    state = read_checkpoint(latest)
    assert state["step"] == n and state["clock"]["wall_s"] >= BUDGET_MIN * 60
    assert task.result is not None and task.result.stopped_on_time and task.result.step == n
    assert task.result.checkpoint == latest
    # The final step is handled like the last of loop.steps: log row, sample grid, validation.
    log = _rows(tmp_path / "log.csv")
    assert [int(r["step"]) for r in log] == list(range(1, n + 1))
    assert list(log[0])[:4] == ["step", "seconds", "train_wall_min", "train_cpu_min"]
    assert float(log[-1]["train_wall_min"]) >= BUDGET_MIN
    val = _rows(tmp_path / "val.csv")
    assert [int(r["step"]) for r in val] == [n] and {"train_wall_min", "train_cpu_min", "mse"} <= set(val[0])
    assert (tmp_path / "samples" / f"step_{n:07d}.png").exists()
    assert f"stopped on the time budget at step {n}" in capsys.readouterr().out


def test_resuming_spends_only_the_budget_left(tmp_path):
    first = SlowTask()
    latest = run_training(first, _loop(tmp_path))
    n, used = first.steps_done, read_checkpoint(latest)["clock"]["wall_s"]

    same = SlowTask()  # same budget: nothing to do
    assert run_training(same, _loop(tmp_path)) == latest
    assert same.steps_done == 0 and read_checkpoint(latest)["step"] == n
    assert same.result is not None and same.result.stopped_on_time and same.result.step == n

    more = SlowTask()  # twice the budget: trains on, counting from the time already used
    run_training(more, _loop(tmp_path, max_minutes=2 * BUDGET_MIN))
    state = read_checkpoint(latest)
    assert more.steps_done >= 1 and state["step"] == n + more.steps_done
    # The clock went on from the time already used (a fresh one would hold only the new steps' time).
    assert state["clock"]["wall_s"] >= used + more.steps_done * STEP_S and state["clock"]["wall_s"] >= 2 * BUDGET_MIN * 60
    assert more.result is not None and more.result.clock.wall_s == state["clock"]["wall_s"]
    log = _rows(tmp_path / "log.csv")
    assert [int(r["step"]) for r in log] == list(range(1, state["step"] + 1))
    minutes = [float(r["train_wall_min"]) for r in log]
    assert minutes == sorted(minutes)

    capped = SlowTask()  # loop.steps stays an upper bound
    run_training(capped, _loop(tmp_path / "capped", steps=2, max_minutes=10.0))
    assert capped.steps_done == 2 and capped.result is not None and not capped.result.stopped_on_time


def test_the_cpu_clock_counts_cpu_time_not_sleep(tmp_path):
    sleeper = SlowTask()  # 4 sleeping steps: 0.08 s of wall time, almost no CPU time
    run_training(sleeper, _loop(tmp_path / "sleep", steps=4, max_minutes=0.001, clock="cpu"))
    assert sleeper.steps_done == 4
    busy = SlowTask(busy=True)
    run_training(busy, _loop(tmp_path / "busy", clock="cpu"))
    assert busy.steps_done <= round(BUDGET_MIN * 60 / STEP_S)
    assert read_checkpoint(tmp_path / "busy" / "checkpoints" / "latest.pt")["clock"]["cpu_s"] >= BUDGET_MIN * 60


def test_a_checkpoint_without_a_clock_resumes_from_zero(tmp_path):
    run_training(SlowTask(), _loop(tmp_path, steps=1, max_minutes=0.0))
    latest = tmp_path / "checkpoints" / "latest.pt"
    state = read_checkpoint(latest)
    del state["clock"]  # as written before the training clock existed
    torch.save(state, latest)
    task = SlowTask()
    run_training(task, _loop(tmp_path, steps=2, max_minutes=0.0))
    assert task.steps_done == 1 and task.result is not None
    assert 0 < task.result.clock.wall_s < 1.0


@dataclass
class _Cfg:
    loop: LoopConfig = field(default_factory=LoopConfig)


def test_bad_budget_settings_are_refused():
    with pytest.raises(ValueError, match="max_minutes"):
        LoopConfig(max_minutes=-1)
    with pytest.raises(ValueError, match="max_minutes"):
        LoopConfig(max_minutes=float("nan"))
    with pytest.raises(ValueError, match="clock"):
        LoopConfig(clock="gpu")  # type: ignore[arg-type]
    with pytest.raises(ConfigError, match="max_minutes"):
        load_config(_Cfg, overrides=["loop.max_minutes=-0.5"])
    with pytest.raises(ConfigError, match="clock"):
        load_config(_Cfg, overrides=["loop.clock=gpu"])
    cfg = load_config(_Cfg, overrides=["loop.max_minutes=30", "loop.clock=cpu"])
    assert cfg.loop.max_minutes == 30.0 and cfg.loop.clock == "cpu"


# --------------------------------------------------------------------------- apdraw train: end-of-run export


def _drawing(seed: int) -> np.ndarray:
    rng = np.random.default_rng(seed)
    d = np.full((512, 512), 255, np.uint8)
    for _ in range(4):
        cv2.circle(d, tuple(int(v) for v in rng.integers(80, 430, 2)), int(rng.integers(30, 80)), 0, 5)
    return d


def _synthetic_linedetector_init(self, cfg, dataset=None):
    """The line-detector task on two synthetic drawings (no face pipeline, no data files)."""
    from apdraw.train.tasks import linedetector as L

    TrainTask.__init__(self)
    self.config = cfg
    self.dataset = L.LineDataset([_drawing(0), _drawing(1)], cfg.resolution, cfg.line_width, cfg.degrade)


def test_train_command_exports_the_final_weights(tmp_path, monkeypatch, capsys):
    from apdraw.cli import main
    from apdraw.models.linedetector import FORMAT

    monkeypatch.setattr("apdraw.train.tasks.linedetector.Task.__init__", _synthetic_linedetector_init)
    args = ["linedetector", "resolution=64", "model.channels=[4,8]", "loop.steps=2", "loop.batch_size=2",
            "loop.device=cpu", "loop.tensorboard=false", "loop.threads=1"]

    assert main(["train", *args, f"loop.out_dir={tmp_path / 'a'}"]) == 0
    weights = tmp_path / "a" / "export" / "linedetector.safetensors"
    out = capsys.readouterr().out
    assert f"exported: {weights}" in out and "(step 2, stopped by loop.steps;" in out
    tensors, meta = read_weights(weights, FORMAT)
    assert meta["format"] == FORMAT and all(t.dtype == torch.float16 for t in tensors.values() if t.is_floating_point())

    assert main(["train", *args, f"loop.out_dir={tmp_path / 'b'}", "--no-export"]) == 0
    assert "exported" not in capsys.readouterr().out and not (tmp_path / "b" / "export").exists()

    # An export that cannot be written is a clear error (exit 2), not a traceback; the checkpoint stays.
    (tmp_path / "b" / "export" / "linedetector.safetensors").mkdir(parents=True)
    assert main(["train", *args, f"loop.out_dir={tmp_path / 'b'}"]) == 2
    assert "export failed" in capsys.readouterr().err
    assert (tmp_path / "b" / "checkpoints" / "latest.pt").is_file()
