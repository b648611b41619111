"""Typed configs: overrides and files change only the keys they name."""

from __future__ import annotations

import pytest
import yaml

from apdraw.cli import main
from apdraw.config import ConfigError, load_config
from apdraw.train.tasks import apdrawinggan as T


def test_an_override_keeps_the_sections_other_task_defaults():
    cfg = load_config(T.Config, None, ["loop.steps=7"])
    assert cfg.loop.steps == 7
    assert cfg.loop.out_dir == "runs/apdrawinggan" and cfg.loop.batch_size == 1  # the task's defaults, not LoopConfig's


def test_an_override_keeps_the_compact_generator():
    compact = T.Config().generator
    cfg = load_config(T.Config, None, ["generator.norm=batch"])
    assert cfg.generator.norm == "batch"
    assert cfg.generator.resolution == compact.resolution == 256
    assert cfg.generator.global_channels == compact.global_channels and cfg.generator.global_channels[0] == 32


def test_file_then_overrides_apply_key_by_key(tmp_path):
    path = tmp_path / "c.yaml"
    path.write_text(yaml.safe_dump({"loop": {"steps": 5}, "data": {"sketch_type": 1}}))
    cfg = load_config(T.Config, path, ["loop.log_every=3"])
    assert (cfg.loop.steps, cfg.loop.log_every, cfg.loop.out_dir) == (5, 3, "runs/apdrawinggan")
    assert cfg.data.sketch_type == 1 and cfg.data.source == "fs2k" and cfg.data.augment.rotate_deg == 10.0
    assert cfg.generator == T.Config().generator


def test_errors_name_the_key_once():
    with pytest.raises(ConfigError) as err:
        load_config(T.Config, None, ["loop.steps=0"])
    assert str(err.value) == "loop.steps must be positive, got 0"
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['loop.stepz'\]"):
        load_config(T.Config, None, ["loop.stepz=3"])
    with pytest.raises(ConfigError, match="generator: resolution must be a multiple of 256"):
        load_config(T.Config, None, ["generator.resolution=300"])
    with pytest.raises(ConfigError, match="lr must be positive"):
        load_config(T.Config, None, ["lr=-1"])


def test_print_config_shows_the_task_defaults(capsys):
    assert main(["train", "apdrawinggan", "--print-config", "loop.steps=7"]) == 0
    printed = yaml.safe_load(capsys.readouterr().out)
    assert printed["loop"]["steps"] == 7 and printed["loop"]["out_dir"] == "runs/apdrawinggan"
    assert printed["loop"]["batch_size"] == 1 and printed["generator"]["resolution"] == 256
