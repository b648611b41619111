"""Shared pytest fixtures."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

REPO = Path(__file__).resolve().parents[1]


def _shared_data_dir() -> Path:
    env = os.environ.get("APDRAW_SHARED_DATA")
    return Path(env) if env else REPO.parent / "shared" / "data"


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """Root of ../shared/data (FS2K, CUFS, CelebAMask-HQ-mini, APDrawingGAN refs)."""
    root = _shared_data_dir()
    if not root.is_dir():
        pytest.skip(f"shared data set folder {root} is absent (set APDRAW_SHARED_DATA to use another path)")
    return root


@pytest.fixture(autouse=True)
def _deterministic_threads():
    """Keep tests on a fixed thread count so timing and numerics don't vary with the host."""
    import torch

    torch.set_num_threads(min(2, os.cpu_count() or 1))
    yield
