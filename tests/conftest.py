"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]
# apdraw.data.shared_data_dir() resolves ../shared/data against the working directory;
# pin it to the checkout's neighbour so the tests find the data from any directory.
os.environ.setdefault("APDRAW_SHARED_DATA", str(REPO.parent / "shared" / "data"))


def _shared_data_dir() -> Path:
    from apdraw.data import shared_data_dir

    return shared_data_dir()


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of ../shared/data (FS2K, CUFS, CelebAMask-HQ-mini, APDrawingGAN refs)."""
    root = _shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"shared data set folder {root} is absent (set APDRAW_SHARED_DATA to use another path)")
    return root


@pytest.fixture(scope="session")
def imagenet_mobilenet_v2() -> Path:
    """Path of the MobileNetV2 ImageNet weights (the projected D, perceptual loss, eval proxy); skips without them."""
    from apdraw.models.mobilenetv2 import imagenet_weights_path

    try:
        path = imagenet_weights_path()
    except FileNotFoundError as exc:
        pytest.skip(f"MobileNetV2 ImageNet weights not installed: {exc}")
    if not path.is_file():
        pytest.skip(f"MobileNetV2 ImageNet weights not found at {path}")
    return path


@pytest.fixture(autouse=True)
def _deterministic_threads():
    """Keep tests on a fixed thread count so timing and numerics don't vary with the host.

    ``APDRAW_TEST_THREADS=1`` while a training run holds a core: two torch threads
    that share a busy core spin-wait on each other and run many times slower.
    """
    import torch

    torch.set_num_threads(int(os.environ.get("APDRAW_TEST_THREADS", "0")) or min(2, os.cpu_count() or 1))
    yield
