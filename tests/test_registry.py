"""One registry shape: styles, tasks, commands, detectors, mask backends and metrics."""

from __future__ import annotations

import subprocess
import sys
from dataclasses import dataclass

import pytest

from apdraw.registry import Registry, UnknownNameError, load_target


@dataclass(frozen=True)
class Thing:
    name: str
    help: str


def test_registry_order_default_and_errors():
    reg: Registry[Thing] = Registry("thing")
    reg.register(Thing("b", "first"))
    reg.register(Thing("a", "second"))
    assert reg.names() == ["b", "a"] and reg.default == "b" and "a" in reg and len(reg) == 2
    assert reg.get("a").help == "second"
    with pytest.raises(UnknownNameError, match=r"unknown thing 'c'; choose from b, a"):
        reg.get("c")
    with pytest.raises(ValueError, match="twice"):
        reg.register(Thing("a", "again"))


def test_every_registered_target_imports():
    from apdraw.cli import COMMANDS
    from apdraw.eval.catalog import METRICS
    from apdraw.face.backends import DETECTORS, MASK_BACKENDS
    from apdraw.styles import STYLES
    from apdraw.train.tasks import TASKS

    for spec in STYLES:
        assert callable(load_target(spec.factory)), spec.name
        if spec.learned:
            assert spec.weights_path.is_file() and spec.card_path.is_file(), spec.name
    for spec in list(DETECTORS) + list(MASK_BACKENDS):
        assert callable(spec.load()), spec.name
    for spec in TASKS:
        module = spec.load()
        assert all(hasattr(module, attr) for attr in ("Config", "Task", "export")), spec.name
    for spec in COMMANDS:
        assert hasattr(spec.load(), "register"), spec.name
    assert {"chamfer", "ssim", "fid_mnv2", "swd", "fid"} <= set(METRICS.names())


def test_styles_command_lists_styles_and_shows_a_card(capsys):
    from apdraw.cli import main

    assert main(["styles"]) == 0
    out = capsys.readouterr().out.splitlines()
    assert out[0].startswith("apdrawinggan") and "(default)" in out[0] and any(line.startswith("npr") for line in out)
    assert main(["styles", "apdrawinggan"]) == 0
    card = capsys.readouterr().out
    assert "weights:" in card and "Model card" in card or "model card" in card.lower()
    assert main(["styles", "nope"]) == 2


def test_help_and_styles_import_no_torch():
    code = ("import sys; from apdraw.cli import build_parser, main; build_parser(); main(['styles']); "
            "print(sorted(m for m in ('torch', 'mediapipe', 'matplotlib') if m in sys.modules))")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True).stdout
    assert out.strip().splitlines()[-1] == "[]"
