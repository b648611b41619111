"""ONNX: `apdraw export apdrawinggan ... --format onnx` and `apdraw draw --runtime onnx` (issue 14).

The exported graph is the whole ``APDrawingGAN.draw`` (resizing included); its
drawings of the examples must stay within one gray level of torch's.
"""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

pytest.importorskip("onnxruntime", reason="onnxruntime is not installed (extra: .[onnx])")
pytest.importorskip("onnx", reason="exporting needs onnx (extra: .[test])")
pytest.importorskip("onnxscript", reason="exporting needs onnxscript (extra: .[test])")

from apdraw.cli import main  # noqa: E402
from apdraw.io import load_image  # noqa: E402

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SHIPPED = Path(__file__).resolve().parents[1] / "src" / "apdraw" / "weights" / "apdrawinggan_fs2k.safetensors"


@pytest.fixture(scope="module")
def graph(tmp_path_factory) -> Path:
    """The shipped generator exported through the command line (once for the module)."""
    out = tmp_path_factory.mktemp("onnx") / "apdrawinggan.onnx"
    assert main(["export", "apdrawinggan", str(SHIPPED), str(out)]) == 0
    return out


@pytest.fixture(scope="module")
def faces():
    from apdraw.face import FacePipeline

    pipe = FacePipeline(detector="mtcnn", mask_backend="mediapipe")
    found = [f for p in sorted(EXAMPLES.glob("*.[jp][pn]g")) for f in pipe(load_image(p))]
    assert len(found) >= 2
    return found


def test_export_writes_a_compact_self_contained_graph(graph):
    import onnx

    model = onnx.load(str(graph))
    assert [i.name for i in model.graph.input] == ["photos", "boxes", "fg"]
    assert [o.name for o in model.graph.output] == ["drawing"]
    assert not list(graph.parent.glob("*.data"))  # no external weights beside it
    assert graph.stat().st_size < 20 * 2**20  # fp16 storage (about 15 MB)


def test_onnx_drawings_are_within_one_gray_level_of_torch(graph, faces):
    from apdraw.styles import build_drawer

    torch_out = build_drawer("apdrawinggan")(faces)
    onnx_out = build_drawer("apdrawinggan", graph, runtime="onnx")(faces)
    for t, o in zip(torch_out, onnx_out, strict=True):
        assert o.shape == t.shape == (512, 512) and o.dtype == np.uint8
        assert np.abs(o.astype(int) - t.astype(int)).max() <= 1


def test_cli_draws_with_the_onnx_runtime(graph, tmp_path):
    photo = EXAMPLES / "grace_hopper.jpg"
    assert main(["draw", str(photo), "-o", str(tmp_path / "t")]) == 0
    assert main(["draw", str(photo), "-o", str(tmp_path / "o"), "--runtime", "onnx", "--weights", str(graph)]) == 0
    t, o = load_image(tmp_path / "t" / "grace_hopper.png"), load_image(tmp_path / "o" / "grace_hopper.png")
    assert np.abs(o.astype(int) - t.astype(int)).max() <= 1


def test_shipped_weights_use_the_cached_export(graph, monkeypatch, tmp_path):
    from apdraw.models.onnx_runtime import cached_graph_path
    from apdraw.styles import apdrawinggan_onnx

    monkeypatch.setenv("APDRAW_CACHE", str(tmp_path))
    cached = cached_graph_path(SHIPPED, "apdrawinggan")
    assert cached.parent.parent == tmp_path
    cached.parent.mkdir(parents=True)
    cached.write_bytes(graph.read_bytes())
    assert apdrawinggan_onnx(None) == cached  # found, not exported again
    assert apdrawinggan_onnx(graph) == graph


def test_usage_errors(graph, tmp_path, capsys):
    photo = str(EXAMPLES / "grace_hopper.jpg")
    assert main(["draw", photo, "-o", str(tmp_path / "a"), "--style", "npr", "--runtime", "onnx"]) == 2
    assert "takes no option" in capsys.readouterr().err
    assert main(["draw", photo, "-o", str(tmp_path / "b"), "--runtime", "onnx", "--weights", str(SHIPPED.with_suffix(".onnx"))]) == 2
    assert main(["export", "parser", str(SHIPPED), str(tmp_path / "p.onnx")]) == 2
    assert "exports safetensors, not onnx" in capsys.readouterr().err
    assert main(["export", "apdrawinggan", str(SHIPPED), str(tmp_path / "g.onnx"), "--format", "safetensors"]) == 2
