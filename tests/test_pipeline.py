"""The portrait pipeline API, and the shipped drawings staying bit-identical."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from apdraw.cli import main
from apdraw.io import load_image

REPO = Path(__file__).resolve().parents[1]
EXAMPLES = REPO / "examples"
REFERENCE = Path(__file__).parent / "data" / "example_drawings.json"


@pytest.fixture(scope="module")
def pipe():
    from apdraw.pipeline import PortraitPipeline

    return PortraitPipeline.from_style("apdrawinggan", max_faces=None)


def test_pipeline_accepts_paths_pil_images_and_arrays(pipe):
    path = EXAMPLES / "grace_hopper.jpg"
    a = pipe(path)
    b = pipe(Image.open(path))
    c = pipe(load_image(path))
    assert len(a) == len(b) == len(c) == 1
    assert np.array_equal(a[0].image, b[0].image) and np.array_equal(a[0].image, c[0].image)
    d = a[0]
    h, w = load_image(path).shape[:2]
    assert d.image.shape == (512, 512) and d.image.dtype == np.uint8
    assert d.photo_hw == (h, w) and d.in_photo.shape == (h, w)
    assert d.landmarks.shape == (5, 2) and d.matrix.shape == (2, 3) and len(d.box) == 4
    x1, y1, x2, y2 = d.box
    assert x1 <= d.landmarks[:, 0].min() and d.landmarks[:, 0].max() <= x2  # landmarks inside the box
    assert (d.in_photo < 128).any() and (d.in_photo == 255).any()


def test_pipeline_returns_nothing_for_a_photo_without_a_face(pipe):
    assert pipe(np.full((200, 300, 3), 180, np.uint8)) == []


def test_compose_in_photo_keeps_the_darkest_ink():
    from types import SimpleNamespace

    from apdraw.pipeline import Drawing, compose_in_photo

    a, b = np.full((4, 4), 255, np.uint8), np.full((4, 4), 255, np.uint8)
    a[0, 0], b[0, 0], b[1, 1] = 10, 50, 0
    da, db = Drawing(a, SimpleNamespace(), (4, 4)), Drawing(b, SimpleNamespace(), (4, 4))
    da.__dict__["in_photo"], db.__dict__["in_photo"] = a, b  # skip the warp
    out = compose_in_photo([da, db], (4, 4))
    assert out[0, 0] == 10 and out[1, 1] == 0 and out[2, 2] == 255


def test_unknown_style_or_option_is_a_clear_error():
    from apdraw.registry import UnknownNameError
    from apdraw.styles import build_drawer

    with pytest.raises(UnknownNameError, match="unknown style 'nope'"):
        build_drawer("nope")
    with pytest.raises(UnknownNameError, match="takes no option"):
        build_drawer("npr", seed=3)
    with pytest.raises(ValueError, match="not learned"):
        build_drawer("npr", weights="x.safetensors")


def _sha(path: Path) -> str:
    return hashlib.sha256(path.read_bytes()).hexdigest()


def test_cli_writes_exactly_the_pipelines_drawing(tmp_path, pipe):
    out = tmp_path / "cli"
    assert main(["draw", str(EXAMPLES / "grace_hopper.jpg"), "-o", str(out)]) == 0
    from apdraw.io import save_image

    save_image(tmp_path / "api.png", pipe(EXAMPLES / "grace_hopper.jpg")[0].image)
    assert _sha(out / "grace_hopper.png") == _sha(tmp_path / "api.png")


def test_example_drawings_are_bit_identical_to_the_recorded_ones(tmp_path):
    """The drawings of examples/ as recorded before the architecture refactor (PNG bytes).

    Float kernels differ between CPU instruction sets, so the comparison runs only
    on the kind of CPU and torch the reference was recorded with.
    """
    ref = json.loads(REFERENCE.read_text())
    here = {"cpu_capability": torch.backends.cpu.get_cpu_capability(), "torch": torch.__version__.split("+")[0]}
    if here != ref["recorded_with"]:
        pytest.skip(f"reference recorded with {ref['recorded_with']}, this machine is {here}")
    for folder, args in ref["commands"].items():
        assert main(["draw", str(EXAMPLES), "-o", str(tmp_path / folder), *args]) == 0
    got = {p.relative_to(tmp_path).as_posix(): _sha(p) for p in sorted(tmp_path.glob("*/*.png"))}
    assert got == ref["sha256"]
