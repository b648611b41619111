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


def script_module(name: str):
    """A module of the project's scripts/ folder (``scripts/<name>.py``), imported by name."""
    import importlib
    import sys

    folder = str(Path(__file__).resolve().parents[1] / "scripts")
    sys.path.insert(0, folder)
    try:
        return importlib.import_module(name)
    finally:
        sys.path.remove(folder)


# --------------------------------------------------------------------------- SAGE


def tiny_sage_config():
    """The tiny SAGE generator of the multi-view tests: decoders 16 -> 32 (S = 32), NeRF 8², width 16."""
    from apdraw.models.sage import DecoderConfig, DiscriminatorConfig, FieldConfig, MappingConfig, RendererConfig, SageConfig, TranslatorConfig

    return SageConfig(
        mapping=MappingConfig(z_dim=16, hidden=16, layers=2, film_layers=3, film_width=16),
        field=FieldConfig(hidden=16, layers=2),
        renderer=RendererConfig(resolution=8, samples=4, fine_samples=2),
        semantic=DecoderConfig(out_channels=19, in_channels=16, style_dim=16, width=16, channels=(8, 8), input_resolution=8),
        image=DecoderConfig(out_channels=3, in_channels=16, style_dim=16, width=16, channels=(8, 8), input_resolution=8),
        translator=TranslatorConfig(channels=(4, 8, 8), spade_hidden=8),
        discriminator=DiscriminatorConfig(channels=(8, 8, 8, 8, 8)),  # inputs up to 32²
    )


@pytest.fixture(scope="session")
def tiny_sage_weights(tmp_path_factory) -> Path:
    """A random tiny SAGE generator written as `apdraw export sage` writes one (fp16)."""
    import torch

    from apdraw.models.sage import SageGenerator, save_generator

    torch.manual_seed(0)
    return save_generator(tmp_path_factory.mktemp("sage") / "tiny.safetensors", SageGenerator(tiny_sage_config()), extra={"stage": "test"})


@pytest.fixture
def synthetic_drawings_dir(tmp_path) -> Path:
    """Four 64² noisy light-gray PNGs standing in for SAGE's synthetic Stage II drawings (``--drawings-dir``)."""
    import numpy as np
    from PIL import Image

    folder = tmp_path / "drawings"
    folder.mkdir()
    rng = np.random.default_rng(0)
    for i in range(4):
        Image.fromarray(np.clip(220 + rng.normal(0, 40, (64, 64)), 0, 255).astype(np.uint8)).save(folder / f"d{i}.png")
    return folder
