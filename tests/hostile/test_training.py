"""Hostile training inputs: crafted checkpoints, kills during a checkpoint write, bad settings."""

from __future__ import annotations

import pickle
from pathlib import Path

import pytest
import torch
from torch import nn

from apdraw.cli import main
from apdraw.data.sampling import SampleKey
from apdraw.persistence import CheckpointError, read_checkpoint
from apdraw.train.loop import LoopConfig, TrainTask, run_training


class _Evil:
    def __init__(self, marker: Path):
        self.marker = marker

    def __reduce__(self):
        import os

        return (os.system, (f"touch {self.marker}",))


class TinyTask(TrainTask):
    def __init__(self):
        super().__init__()
        self.dataset = [torch.ones(2)] * 8

    def build(self, ctx):
        self.modules["net"] = nn.Linear(2, 1)
        self.optimizers["net"] = torch.optim.SGD(self.modules["net"].parameters(), lr=0.1)

    def train_step(self, batch, step, ctx):
        loss = self.modules["net"](batch).pow(2).mean()
        ctx.step(self.optimizers["net"], loss)
        return {"loss": loss.item()}


class _Listish(torch.utils.data.Dataset):
    def __init__(self, items):
        self.items = items

    def __len__(self):
        return len(self.items)

    def __getitem__(self, key: SampleKey):
        return self.items[key.index]


def test_a_crafted_latest_checkpoint_is_refused_not_run(tmp_path):
    marker = tmp_path / "PWNED"
    run = tmp_path / "run"
    (run / "checkpoints").mkdir(parents=True)
    (run / "checkpoints" / "latest.pt").write_bytes(pickle.dumps({"step": 1, "modules": {"net": _Evil(marker)}}))
    task = TinyTask()
    task.dataset = _Listish(task.dataset)
    with pytest.raises(CheckpointError, match="refused"):
        run_training(task, LoopConfig(out_dir=str(run), steps=2, batch_size=2, tensorboard=False))
    assert not marker.exists()
    # torch.save of an arbitrary object is refused the same way
    torch.save({"step": 1, "modules": {}, "x": _Evil(marker)}, tmp_path / "saved.pt")
    with pytest.raises(CheckpointError, match="refused"):
        read_checkpoint(tmp_path / "saved.pt")
    assert not marker.exists()


def test_a_kill_during_a_checkpoint_write_leaves_no_temporary_behind(tmp_path):
    run = tmp_path / "run"
    task = TinyTask()
    task.dataset = _Listish(task.dataset)
    run_training(task, LoopConfig(out_dir=str(run), steps=2, batch_size=2, ckpt_every=1, tensorboard=False))
    stale = run / "checkpoints" / ".apdraw-killed.tmp"
    stale.write_bytes(b"half a checkpoint")
    (run / "checkpoints" / "keep.me").write_text("not ours")
    task = TinyTask()
    task.dataset = _Listish(task.dataset)
    run_training(task, LoopConfig(out_dir=str(run), steps=4, batch_size=2, ckpt_every=1, tensorboard=False))
    assert not stale.exists() and (run / "checkpoints" / "keep.me").exists()
    assert read_checkpoint(run / "checkpoints" / "latest.pt")["step"] == 4


@pytest.mark.parametrize(
    "override, message",
    [
        ("loop.device=banana", "unknown device"),
        ("loop.device=cuda:7" if torch.cuda.is_available() else "loop.device=cuda", "CUDA|GPU"),
        ("size=0", "size must be"),
        ("size=-64", "size must be"),
        ("lr=-1", "lr must be positive"),
        ("loop.steps=0", "loop.steps must be positive"),
        ("loop.batch_size=-3", "loop.batch_size must be positive"),
        ("loop.ema_decay=1.5", "ema_decay"),
        ("loop.stepz=1", "unknown key"),
        ("data_root=/nonexistent/apdraw", "must contain images/ and masks/"),
    ],
)
def test_bad_training_settings_are_usage_errors(override, message, tmp_path, capsys):
    code = main(["train", "parser", override, f"loop.out_dir={tmp_path / 'run'}"])
    err = capsys.readouterr().err
    assert code == 2 and "Traceback" not in err
    import re

    assert re.search(message, err), err
    assert "loop.: " not in err


def test_out_dir_that_is_a_file_batch_too_large_and_binary_config(tmp_path, capsys):
    (tmp_path / "file").write_text("x")
    assert main(["train", "parser", f"loop.out_dir={tmp_path / 'file'}"]) == 2
    assert "is a file" in capsys.readouterr().err
    binary = tmp_path / "c.yaml"
    binary.write_bytes(b"\x00\xff\xfe\x89PNG binary")
    assert main(["train", "parser", "-c", str(binary)]) == 2
    assert "not a valid YAML text file" in capsys.readouterr().err


def test_a_batch_larger_than_the_data_is_a_usage_error(tmp_path, capsys, monkeypatch):
    from apdraw.train.tasks import linedetector as L

    def small(self, cfg, dataset=None):
        TrainTask.__init__(self)
        self.config = cfg
        self.dataset = L.LineDataset([torch.full((64, 64), 255, dtype=torch.uint8).numpy()] * 3, 64, 6.0, cfg.degrade)

    monkeypatch.setattr(L.Task, "__init__", small)
    assert main(["train", "linedetector", "loop.batch_size=100000", "resolution=64",
                 f"loop.out_dir={tmp_path / 'run'}"]) == 2
    err = capsys.readouterr().err
    assert "fewer than one batch" in err and "Traceback" not in err
