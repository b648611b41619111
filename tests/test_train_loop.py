"""The shared training loop: exact resume after a kill, atomic checkpoints, logs, validation."""

from __future__ import annotations

import csv
from dataclasses import dataclass, field

import numpy as np
import pytest
import torch
from torch import nn

from apdraw.config import ConfigError, load_config
from apdraw.data.sampling import SampleKey, sample_rng
from apdraw.train.loop import EpochSampler, LoopConfig, TrainTask, run_training


class NoisyDataset(torch.utils.data.Dataset):
    """Targets y = w.x; augmentation adds key-seeded noise, so resume must reproduce it."""

    def __init__(self, n: int = 37):
        g = torch.Generator().manual_seed(0)
        self.x = torch.randn(n, 8, generator=g)
        self.y = self.x @ torch.linspace(-1, 1, 8)

    def __len__(self) -> int:
        return len(self.x)

    def __getitem__(self, key: SampleKey):
        rng = sample_rng(key)
        noise = torch.from_numpy(rng.normal(0, 0.1, 8).astype(np.float32))
        return self.x[key.index] + noise, self.y[key.index]


class ToyTask(TrainTask):
    def __init__(self):
        super().__init__()
        self.dataset = NoisyDataset()

    def build(self, ctx):
        net = ctx.prepare(nn.Sequential(nn.Linear(8, 16), nn.Dropout(0.3), nn.ReLU(), nn.Linear(16, 1)))
        self.modules["net"] = net
        opt = torch.optim.Adam(net.parameters(), lr=1e-2, betas=(0.5, 0.999))
        self.optimizers["net"] = opt
        self.schedulers["net"] = torch.optim.lr_scheduler.LambdaLR(opt, lambda s: 1.0 - s / 100)

    def train_step(self, batch, step, ctx):
        x, y = batch
        loss = ((self.modules["net"](x).squeeze(1) - y) ** 2).mean()
        self.optimizers["net"].zero_grad()
        loss.backward()
        self.optimizers["net"].step()
        return {"loss": loss.item()}

    def sample(self, batch, ctx):
        return np.full((4, 4, 3), 128, np.uint8)


def _params(task):
    return torch.cat([p.detach().flatten() for p in task.modules["net"].parameters()])


def test_resume_is_exact(tmp_path):
    full = ToyTask()
    run_training(full, LoopConfig(out_dir=str(tmp_path / "a"), steps=12, batch_size=4, ckpt_every=5, log_every=1, sample_every=6))

    part = ToyTask()
    run_training(part, LoopConfig(out_dir=str(tmp_path / "b"), steps=7, batch_size=4, ckpt_every=5, log_every=1, sample_every=6))
    # "kill" after step 7: the last checkpoint is step 5; the new process resumes from it.
    # Also mangle the global RNG to prove it is restored from the checkpoint.
    torch.manual_seed(12345)
    np.random.seed(1)
    resumed = ToyTask()
    run_training(resumed, LoopConfig(out_dir=str(tmp_path / "b"), steps=12, batch_size=4, ckpt_every=5, log_every=1, sample_every=6))

    assert torch.equal(_params(full), _params(resumed))
    assert resumed.optimizers["net"].param_groups[0]["lr"] == full.optimizers["net"].param_groups[0]["lr"]
    # The log was rewound to step 5 and continued: one row per step, no duplicates.
    rows = list(csv.DictReader((tmp_path / "b" / "log.csv").open()))
    assert [int(r["step"]) for r in rows] == list(range(1, 13))
    losses_a = [r["loss"] for r in csv.DictReader((tmp_path / "a" / "log.csv").open())]
    assert [r["loss"] for r in rows] == losses_a
    assert (tmp_path / "b" / "samples" / "step_0000012.png").exists()
    assert not list((tmp_path / "b" / "checkpoints").glob("*.tmp"))


def test_training_reduces_loss(tmp_path):
    task = ToyTask()
    run_training(task, LoopConfig(out_dir=str(tmp_path), steps=60, batch_size=8, log_every=1, ckpt_every=60))
    losses = [float(r["loss"]) for r in csv.DictReader((tmp_path / "log.csv").open())]
    assert np.mean(losses[-10:]) < 0.5 * np.mean(losses[:10])


def test_epoch_sampler_is_a_function_of_seed_and_epoch():
    a = list(EpochSampler(20, seed=3, epoch=2))
    assert a == list(EpochSampler(20, seed=3, epoch=2))
    assert a != list(EpochSampler(20, seed=3, epoch=3))
    assert sorted(k.index for k in a) == list(range(20))
    assert list(EpochSampler(20, seed=3, epoch=2, skip=5)) == a[5:]
    # DDP ranks partition the epoch.
    r0 = {k.index for k in EpochSampler(20, 3, 2, rank=0, world=2)}
    r1 = {k.index for k in EpochSampler(20, 3, 2, rank=1, world=2)}
    assert r0.isdisjoint(r1) and len(r0 | r1) == 20


@dataclass
class _Cfg:
    name: str = "x"
    loop: LoopConfig = field(default_factory=LoopConfig)


def test_bad_loop_config_is_a_clear_error(tmp_path):
    with pytest.raises(ConfigError, match="steps"):
        load_config(_Cfg, overrides=["loop.steps=0"])
    with pytest.raises(ConfigError, match="unknown"):
        load_config(_Cfg, overrides=["loop.stepz=10"])
    with pytest.raises(ConfigError, match="integer"):
        load_config(_Cfg, overrides=["loop.batch_size=big"])
    cfg = load_config(_Cfg, overrides=["loop.steps=5", "name=y"])
    assert cfg.loop.steps == 5 and cfg.name == "y"


def test_train_command_accepts_overrides_after_the_config_file(tmp_path, capsys):
    from apdraw.cli import main

    cfg = tmp_path / "c.yaml"
    cfg.write_text("loop:\n  steps: 7\n")
    assert main(["train", "parser", "-c", str(cfg), "loop.batch_size=3", "--print-config"]) == 0
    out = capsys.readouterr().out
    assert "steps: 7" in out and "batch_size: 3" in out
    assert main(["train", "parser", "loop.steps=9", "-c", str(cfg), "--print-config"]) == 0
    assert "steps: 9" in capsys.readouterr().out
    assert main(["train", "parser", "-c", str(cfg), "loop.stepz=1"]) == 2
    assert "unknown" in capsys.readouterr().err


# --------------------------------------------------------------------------- loop features for GANs


class LinearTask(TrainTask):
    """A deterministic linear regression (no dropout) using the loop's helpers; keeps an EMA of `net`."""

    ema_modules = ("net",)

    def __init__(self, n: int = 32, clip: float | None = None):
        super().__init__()
        self.dataset = NoisyDataset(n)
        self.clip = clip
        self.validated: list[int] = []

    def build(self, ctx):
        torch.manual_seed(0)
        net = ctx.prepare(nn.Linear(8, 1))
        self.modules["net"] = net
        self.optimizers["net"] = torch.optim.SGD(net.parameters(), lr=0.05)

    def train_step(self, batch, step, ctx):
        x, y = batch
        loss = ((self.modules["net"](x).squeeze(1) - y) ** 2).mean()
        ctx.step(self.optimizers["net"], loss, clip=self.clip)
        return {"loss": loss.item()}

    def validate(self, ctx):
        x, y = self.dataset.x, self.dataset.y
        return {"mse": ((self.averaged("net")(x).squeeze(1) - y) ** 2).mean().item()}


def _linear_params(task, ema=False):
    module = task.averaged("net") if ema else task.modules["net"]
    return torch.cat([p.detach().flatten() for p in module.parameters()])


def test_gradient_accumulation_equals_the_large_batch(tmp_path):
    big = LinearTask()
    run_training(big, LoopConfig(out_dir=str(tmp_path / "big"), steps=6, batch_size=8, tensorboard=False))
    acc = LinearTask()
    run_training(acc, LoopConfig(out_dir=str(tmp_path / "acc"), steps=6, batch_size=4, accumulate=2, log_every=1, tensorboard=False))
    assert torch.allclose(_linear_params(big), _linear_params(acc), atol=1e-6)
    # One log row per optimiser step, not per micro-batch.
    assert [int(r["step"]) for r in csv.DictReader((tmp_path / "acc" / "log.csv").open())] == [1, 2, 3, 4, 5, 6]


def test_ema_is_kept_checkpointed_and_resumed_exactly(tmp_path):
    cfg = dict(batch_size=4, ckpt_every=5, log_every=1, ema_decay=0.9, tensorboard=False)
    full = LinearTask()
    run_training(full, LoopConfig(out_dir=str(tmp_path / "a"), steps=12, **cfg))
    assert not torch.equal(_linear_params(full), _linear_params(full, ema=True))
    part = LinearTask()
    run_training(part, LoopConfig(out_dir=str(tmp_path / "b"), steps=7, **cfg))
    resumed = LinearTask()  # "killed" after step 7: resumes from the step-5 checkpoint
    run_training(resumed, LoopConfig(out_dir=str(tmp_path / "b"), steps=12, **cfg))
    assert torch.equal(_linear_params(full, ema=True), _linear_params(resumed, ema=True))
    assert torch.equal(_linear_params(full), _linear_params(resumed))
    with pytest.raises(ValueError, match="keeps no EMA"):
        run_training(ToyTask(), LoopConfig(out_dir=str(tmp_path / "c"), steps=1, batch_size=4, ema_decay=0.5))


def test_ema_warm_up_forgets_the_starting_weights_in_a_short_run():
    """A plain EMA at 0.999 keeps 0.999**n of the start (90 % after 100 steps); the warm-up keeps almost none,
    and long runs end at the configured decay."""
    from apdraw.train.loop import EMA

    net = torch.nn.Linear(1, 1, bias=False)
    torch.nn.init.zeros_(net.weight)
    ema = EMA(net, 0.999)
    with torch.no_grad():
        net.weight.fill_(1.0)
    for n in range(1, 101):
        ema.update(net, n)
    assert ema.module.weight.item() > 0.99
    assert ema.decay_at(1) == pytest.approx(0.1) and ema.decay_at(10**6) == 0.999
    assert all(ema.decay_at(n) <= ema.decay_at(n + 1) for n in range(1, 20_000, 97))


def test_validate_hook_logs_to_csv_and_tensorboard(tmp_path):
    task = LinearTask()
    run_training(task, LoopConfig(out_dir=str(tmp_path), steps=10, batch_size=4, validate_every=4, sample_every=5))
    rows = list(csv.DictReader((tmp_path / "val.csv").open()))
    assert [int(r["step"]) for r in rows] == [4, 8, 10] and float(rows[-1]["mse"]) < float(rows[0]["mse"])
    from tensorboard_events import read_tags

    tags = read_tags(tmp_path / "tb")
    assert {"val/mse", "train/loss"} <= tags


def test_step_helper_clips_gradients(tmp_path):
    task = LinearTask(clip=1e-3)
    before = None

    class Probe(LinearTask):
        def train_step(self, batch, step, ctx):
            nonlocal before
            before = _linear_params(self).clone()
            out = super().train_step(batch, step, ctx)
            moved = (_linear_params(self) - before).norm().item()
            assert moved <= 0.05 * 1e-3 + 1e-9  # lr x clip bounds the update
            return out

    run_training(Probe(clip=1e-3), LoopConfig(out_dir=str(tmp_path), steps=3, batch_size=4, tensorboard=False))
    assert task.clip == 1e-3


def test_frozen_module_gets_no_gradient_but_passes_one_through():
    from apdraw.train.loop import Context

    ctx = Context(torch.device("cpu"), amp=False, channels_last=False)
    d = nn.Linear(3, 1)
    x = torch.randn(2, 3, requires_grad=True)
    with ctx.frozen(d) as frozen:
        frozen(x).sum().backward()
    assert d.weight.grad is None and x.grad is not None and d.weight.requires_grad


def test_lazy_regularization_weights():
    from apdraw.train.loop import lazy_regularization

    assert [lazy_regularization(s, 4) for s in range(6)] == [4.0, 0.0, 0.0, 0.0, 4.0, 0.0]
    with pytest.raises(ValueError):
        lazy_regularization(1, 0)


def test_r1_penalty_is_the_squared_gradient_norm():
    from apdraw.losses.gan import r1_penalty

    x = torch.randn(4, 3, requires_grad=True)
    w = torch.tensor([1.0, -2.0, 2.0], requires_grad=True)  # the "discriminator's" weights
    penalty = r1_penalty((x * w).sum(1), x)
    assert torch.allclose(penalty, torch.tensor(9.0))  # |w|^2 for every sample
    penalty.backward()  # differentiable w.r.t. D's weights (create_graph)
    assert torch.allclose(w.grad, 2 * w.detach())


def test_bad_device_is_refused_at_load_time():
    with pytest.raises(ConfigError, match="not available|unknown device"):
        load_config(_Cfg, overrides=["loop.device=cuda"] if not torch.cuda.is_available() else ["loop.device=banana"])
    with pytest.raises(ConfigError, match="unknown device"):
        load_config(_Cfg, overrides=["loop.device=banana"])
