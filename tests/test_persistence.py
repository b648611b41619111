"""The persistence layer: model weights (safetensors, strict) and training checkpoints (no code on load)."""

from __future__ import annotations

import pickle
from dataclasses import dataclass

import numpy as np
import pytest
import torch
from torch import nn

from apdraw.persistence import (
    CheckpointError,
    WeightsError,
    checkpoint_module,
    load_model,
    read_checkpoint,
    read_weights,
    save_checkpoint,
    save_model,
)


@dataclass
class NetConfig:
    width: int = 4


class Net(nn.Module):
    def __init__(self, cfg: NetConfig):
        super().__init__()
        self.cfg = cfg
        self.conv = nn.Conv2d(1, cfg.width, 3)
        self.bn = nn.BatchNorm2d(cfg.width)


def build(cfg: NetConfig, meta: dict[str, str]) -> Net:
    return Net(cfg)


def test_save_and_load_model_round_trip(tmp_path):
    torch.manual_seed(0)
    net = Net(NetConfig(6))
    path = save_model(tmp_path / "n.safetensors", net, "test.net/1", net.cfg, half=False, extra={"step": "7"})
    loaded, meta = load_model(path, "test.net/1", NetConfig, build)
    assert loaded.cfg == NetConfig(6) and not loaded.training and meta["step"] == "7"
    for (k, a), b in zip(net.state_dict().items(), loaded.state_dict().values()):
        assert torch.equal(a, b), k
    # fp16 storage halves the file; loading casts back to fp32
    half = save_model(tmp_path / "h.safetensors", net, "test.net/1", net.cfg, half=True)
    loaded, _ = load_model(half, "test.net/1", NetConfig, build)
    assert loaded.conv.weight.dtype == torch.float32
    assert (loaded.conv.weight - net.conv.weight).abs().max() < 1e-3


def test_load_model_errors_are_clear(tmp_path):
    net = Net(NetConfig(4))
    good = save_model(tmp_path / "n.safetensors", net, "test.net/1", net.cfg)
    with pytest.raises(WeightsError, match="not a other/1 weight file"):
        load_model(good, "other/1", NetConfig, build)
    # Wrong shapes: the file says width 4, but the network is built with width 5.
    with pytest.raises(WeightsError, match="wrong shape"):
        load_model(good, "test.net/1", NetConfig, lambda cfg, meta: Net(NetConfig(5)))
    # Missing and unexpected keys.
    with pytest.raises(WeightsError, match="missing"):
        load_model(good, "test.net/1", NetConfig, lambda cfg, meta: nn.Sequential(Net(cfg)))
    from safetensors.torch import save_file

    no_cfg = tmp_path / "nocfg.safetensors"
    save_file({"conv.weight": torch.zeros(4, 1, 3, 3)}, str(no_cfg), metadata={"format": "test.net/1"})
    with pytest.raises(WeightsError, match="no architecture config"):
        load_model(no_cfg, "test.net/1", NetConfig, build)
    bad_cfg = tmp_path / "badcfg.safetensors"
    save_file({"conv.weight": torch.zeros(4, 1, 3, 3)}, str(bad_cfg), metadata={"format": "test.net/1", "config": '{"depth": 3}'})
    with pytest.raises(WeightsError, match="config in the metadata is invalid"):
        load_model(bad_cfg, "test.net/1", NetConfig, build)
    text = tmp_path / "notes.safetensors"
    text.write_text("not weights at all")
    with pytest.raises(WeightsError, match="not a readable safetensors file"):
        read_weights(text)
    with pytest.raises(FileNotFoundError):
        read_weights(tmp_path / "missing.safetensors")


def test_checkpoint_round_trip_with_numpy_values(tmp_path):
    state = {"step": 3, "modules": {"net": Net(NetConfig()).state_dict()}, "ema": {},
             "sched": {"_last_lr": [np.float64(0.5)]}, "rng": {"keys": np.arange(4, dtype=np.uint32)}}
    save_checkpoint(tmp_path / "c.pt", state)
    back = read_checkpoint(tmp_path / "c.pt")
    assert back["step"] == 3 and back["sched"]["_last_lr"] == [0.5] and back["rng"]["keys"].tolist() == [0, 1, 2, 3]
    assert checkpoint_module(back, "net").keys() == state["modules"]["net"].keys()
    with pytest.raises(CheckpointError, match="no module 'G'"):
        checkpoint_module(back, "G")


class _Evil:
    def __reduce__(self):
        import os

        return (os.system, ("touch PWNED",))


def test_a_crafted_checkpoint_cannot_run_code(tmp_path, monkeypatch):
    monkeypatch.chdir(tmp_path)
    path = tmp_path / "latest.pt"
    with path.open("wb") as f:
        pickle.dump({"step": 1, "modules": {}, "payload": _Evil()}, f)
    with pytest.raises(CheckpointError, match="refused"):
        read_checkpoint(path)
    assert not (tmp_path / "PWNED").exists()
    (tmp_path / "junk.pt").write_bytes(b"\x00" * 10)
    with pytest.raises(CheckpointError, match="refused|not a readable"):
        read_checkpoint(tmp_path / "junk.pt")
    torch.save({"just": "a dict"}, tmp_path / "other.pt")
    with pytest.raises(CheckpointError, match="not an apdraw training checkpoint"):
        read_checkpoint(tmp_path / "other.pt")
