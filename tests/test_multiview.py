"""Random SAGE identities from any viewpoint: `apdraw.multiview` and `apdraw generate`, on a tiny random generator
saved in the export format (the shipped styles' files are monkeypatched to tiny ones: the tests never read them)."""

from __future__ import annotations

import math
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_sage_config

from apdraw.cli import COMMANDS, main
from apdraw.commands import generate as generate_command
from apdraw.models.parser import PALETTE
from apdraw.models.sage import Cameras, RendererConfig, SpadeUNet, load_generator, save_generator
from apdraw.models.sage import generator as generator_module
from apdraw.models.sage.renderer import project
from apdraw.multiview import MultiViewGenerator, camera_angles
from apdraw.persistence import save_model

S = 32  # the tiny decoders' largest output
TINY = tiny_sage_config()


@pytest.fixture(autouse=True)
def _one_thread(_deterministic_threads):
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def weights(tiny_sage_weights) -> Path:
    return tiny_sage_weights


@pytest.fixture(scope="module")
def mv(weights) -> MultiViewGenerator:
    return MultiViewGenerator.from_pretrained(weights)


def with_other_translator(weights: Path, out: Path, seed: int = 1) -> Path:
    """The generator of ``weights`` with another random translator G_p, everything else the same (as the shipped
    styles: trained translator-only from one checkpoint)."""
    g = load_generator(weights)
    torch.manual_seed(seed)
    g.translator = SpadeUNet(g.cfg.translator)
    return save_generator(out, g)


@pytest.fixture(scope="module")
def style_files(weights, tmp_path_factory) -> dict[str, Path]:
    """Tiny stand-ins for the shipped styles' files: the same generator but for the translator."""
    return {"apdrawinggan": weights, "npr": with_other_translator(weights, tmp_path_factory.mktemp("npr") / "npr.safetensors")}


@pytest.fixture
def shipped(style_files, monkeypatch) -> dict[str, Path]:
    """The registry of shipped styles pointed at the tiny stand-ins."""
    for style, path in style_files.items():
        monkeypatch.setitem(generator_module.STYLE_WEIGHTS, style, path)
    return style_files


# --------------------------------------------------------------------------- the API


def test_render_shapes_dtypes_and_ranges(mv):
    assert mv.size == S and not mv.generator.training
    v = mv.render(3, -15)
    assert v.drawing.shape == (S, S) and v.drawing.dtype == np.uint8
    assert v.photo.shape == (S, S, 3) and v.photo.dtype == np.uint8
    assert v.semantic.shape == (S, S) and v.semantic.dtype == np.uint8 and v.semantic.max() <= 18
    color = v.semantic_color()
    assert color.shape == (S, S, 3) and color.dtype == np.uint8
    assert np.array_equal(color, PALETTE[v.semantic]) and len(PALETTE) == 19
    assert v.drawing.std() > 0 and v.photo.std() > 0  # a random network, but not a constant image
    assert (v.yaw_deg, v.pitch_deg) == (-15.0, 0.0)


def test_deterministic_one_identity_at_every_yaw(mv, weights):
    a = mv.render(5, 20, pitch_deg=5)
    again = MultiViewGenerator.from_pretrained(weights).render(5, 20, pitch_deg=5)  # a fresh load
    for k in ("drawing", "photo", "semantic"):
        assert np.array_equal(getattr(a, k), getattr(again, k))
    # the same seed at two yaws: different images; at one yaw: equal; one latent for every yaw
    b = mv.render(5, -20, pitch_deg=5)
    assert not np.array_equal(a.photo, b.photo) and not np.array_equal(a.drawing, b.drawing)
    assert torch.equal(mv.latent(5).code, mv.latent(5).code)
    # a view does not depend on the views rendered before it, nor on how it was asked for
    swept = mv.sweep(5, [-20, 20], pitch_deg=5)
    assert np.array_equal(swept[0].photo, b.photo) and np.array_equal(swept[1].drawing, a.drawing)
    assert np.array_equal(mv.render(5, 0.0).photo, mv.render(5, -0.0).photo)
    # other seeds are other identities
    assert not np.array_equal(mv.render(6, 20, pitch_deg=5).photo, a.photo)
    assert not torch.equal(mv.latent(5).code, mv.latent(6).code)


def test_truncation_and_interpolation(mv):
    assert torch.allclose(mv.latent(1, truncation=0).code, mv.latent(2, truncation=0).code)  # both the mean
    assert torch.allclose(mv.latent(1, truncation=0).code, mv.mean_latent.code)
    a = mv.render(1, 10)
    assert np.array_equal(mv.interpolate(1, 2, 0.0, 10).photo, a.photo)  # t = 0: exactly seed 1
    mid = mv.interpolate(1, 2, 0.5, 10)
    assert not np.array_equal(mid.photo, a.photo) and mid.photo.shape == (S, S, 3)
    assert np.array_equal(mid.photo, mv.interpolate(1, 2, 0.5, 10).photo)


@pytest.mark.parametrize(
    "call",
    [
        lambda mv: mv.render(0, 91),
        lambda mv: mv.render(0, -90.5),
        lambda mv: mv.render(0, 0, pitch_deg=90),
        lambda mv: mv.render(0, float("nan")),
        lambda mv: mv.render(-1, 0),
        lambda mv: mv.render(0, 0, truncation=-0.1),
        lambda mv: mv.interpolate(0, 1, float("inf"), 0),
    ],
)
def test_bad_api_arguments_raise_value_error(mv, call):
    with pytest.raises(ValueError):
        call(mv)


def test_angle_convention_matches_the_renderer():
    """0 = frontal (θ = φ = π/2); +yaw: the face (its nose, in front of the origin along +z) turns to the
    image's right; +pitch: it turns up. Checked with the renderer's own cameras and projection."""
    assert camera_angles(0, 0) == (math.pi / 2, math.pi / 2)
    nose = torch.tensor([[[0.0, 0.0, 0.1]]])
    focal = RendererConfig().focal

    def image_xy(yaw_deg: float, pitch_deg: float) -> tuple[float, float]:
        theta, phi = camera_angles(yaw_deg, pitch_deg)
        cams = Cameras.from_angles(torch.tensor([theta]), torch.tensor([phi]))
        grid, front = project(nose, cams, focal)
        assert bool(front.all())
        return float(grid[0, 0, 0]), float(grid[0, 0, 1])  # x: -1 left .. 1 right; y: -1 top .. 1 bottom

    assert abs(image_xy(0, 0)[0]) < 1e-6 and abs(image_xy(0, 0)[1]) < 1e-6
    assert image_xy(30, 0)[0] > 0.05 and image_xy(-30, 0)[0] < -0.05
    assert image_xy(0, 20)[1] < -0.05 and image_xy(0, -20)[1] > 0.05


# --------------------------------------------------------------------------- styles


def test_style_registry():
    registry = generator_module.STYLE_WEIGHTS
    assert tuple(registry) == generate_command.SAGE_STYLES == ("apdrawinggan", "npr")  # the CLI's copy agrees
    assert generator_module.DEFAULT_STYLE == generate_command.DEFAULT_STYLE == "apdrawinggan"
    assert generator_module.DEFAULT_WEIGHTS == registry["apdrawinggan"]
    weights_dir = Path(generator_module.__file__).resolve().parents[2] / "weights"
    assert registry["apdrawinggan"] == weights_dir / "sage_compact.safetensors"
    assert registry["npr"] == weights_dir / "sage_compact_npr.safetensors"
    assert generator_module.style_weights() == generator_module.style_weights("apdrawinggan") == registry["apdrawinggan"]
    assert generator_module.style_weights("npr") == registry["npr"]
    with pytest.raises(ValueError, match="unknown SAGE style 'pencil'.*apdrawinggan, npr"):
        generator_module.style_weights("pencil")
    assert generator_module.resolve_weights("x.safetensors") == Path("x.safetensors")  # a given path, as given


def test_styles_share_the_identity_and_differ_in_the_drawing(shipped, weights):
    default = MultiViewGenerator.from_pretrained()
    named = MultiViewGenerator.from_pretrained(style="apdrawinggan")
    npr = MultiViewGenerator.from_pretrained(style="npr")
    direct = MultiViewGenerator.from_pretrained(weights)
    a, b, c, d = (m.render(4, -15, pitch_deg=5) for m in (default, named, npr, direct))
    for k in ("drawing", "photo", "semantic"):
        assert np.array_equal(getattr(a, k), getattr(b, k)) and np.array_equal(getattr(a, k), getattr(d, k))
    # npr: the same face (mapping, field, decoders), another translator
    assert np.array_equal(c.photo, a.photo) and np.array_equal(c.semantic, a.semantic)
    assert torch.equal(npr.mean_latent.code, default.mean_latent.code)
    assert not np.array_equal(c.drawing, a.drawing)
    assert np.array_equal(c.drawing, MultiViewGenerator.from_pretrained(shipped["npr"]).render(4, -15, pitch_deg=5).drawing)


def test_style_api_errors(shipped, weights, tmp_path, monkeypatch):
    with pytest.raises(ValueError, match="not both"):
        MultiViewGenerator.from_pretrained(weights, style="npr")
    with pytest.raises(ValueError, match="not both"):
        load_generator(weights, style="apdrawinggan")
    with pytest.raises(ValueError, match="unknown SAGE style"):
        MultiViewGenerator.from_pretrained(style="pencil")
    monkeypatch.setitem(generator_module.STYLE_WEIGHTS, "npr", tmp_path / "sage_compact_npr.safetensors")
    with pytest.raises(FileNotFoundError, match="style 'npr' is missing") as exc:
        MultiViewGenerator.from_pretrained(style="npr")
    assert "apdraw train sage" in str(exc.value) and "docs/SAGE.md" in str(exc.value)
    MultiViewGenerator.from_pretrained()  # the default style's file is still there


# --------------------------------------------------------------------------- `apdraw generate`


def test_generate_is_registered():
    assert "generate" in COMMANDS.names()


def test_generate_writes_the_documented_files(weights, mv, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["generate", "--seeds", "0-1,5", "--yaws", "-15,0,15", "-o", str(out), "--weights", str(weights),
            "--grid", "--sweep", "--sweep-frames", "3"]  # fmt: skip
    assert main(argv) == 0
    expected = {f"{s}_{y}_{k}.png" for s in (0, 1, 5) for y in (-15, 0, 15) for k in ("drawing", "photo", "semantic", "semantic_color")}
    expected |= {"grid.png"} | {f"{s}_sweep.gif" for s in (0, 1, 5)}
    assert {p.name for p in out.iterdir()} == expected
    assert "Traceback" not in capsys.readouterr().err
    # the files are the API's views
    view = mv.render(1, -15)
    assert np.array_equal(np.asarray(Image.open(out / "1_-15_drawing.png")), view.drawing)
    assert np.array_equal(np.asarray(Image.open(out / "1_-15_photo.png")), view.photo)
    assert np.array_equal(np.asarray(Image.open(out / "1_-15_semantic.png")), view.semantic)
    assert np.array_equal(np.asarray(Image.open(out / "1_-15_semantic_color.png")), view.semantic_color())
    # grid: a row per seed, a column per yaw
    grid = np.asarray(Image.open(out / "grid.png"))
    assert grid.shape == (3 * S, 3 * S)
    assert np.array_equal(grid[S : 2 * S, 0:S], view.drawing)
    assert np.array_equal(grid[2 * S :, 2 * S :], mv.render(5, 15).drawing)
    # sweep: -15 .. 15 in 3 views, then back: 4 frames looping
    with Image.open(out / "0_sweep.gif") as gif:
        assert gif.is_animated and gif.n_frames == 4 and gif.size == (S, S)


def test_generate_defaults_write_no_grid_or_gif(weights, tmp_path):
    out = tmp_path / "out"
    assert main(["generate", "--seeds", "7", "-o", str(out), "--weights", str(weights), "--yaws=-30"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(f"7_-30_{k}.png" for k in ("drawing", "photo", "semantic", "semantic_color"))


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--seeds", "a"], "bad seed"),
        (["--seeds", "5-3"], "below the start"),
        (["--seeds", "1,,2"], "bad seed"),
        (["--seeds", "0-5000"], "at most"),
        (["--seeds", "0", "--yaws", "-91,0"], "more than 90"),
        (["--seeds", "0", "--yaws", "100"], "more than 90"),
        (["--seeds", "0", "--yaws", "10.5"], "bad yaw"),
        (["--seeds", "0", "--yaws", "left"], "bad yaw"),
        (["--seeds", "0", "--pitch", "90"], "pitch"),
        (["--seeds", "0", "--truncation", "-1"], "truncation"),
        (["--seeds", "0", "--style", "pencil"], "invalid choice"),
        (["--yaws", "0"], "--seeds"),
    ],
)
def test_generate_usage_errors_exit_2(weights, tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as exc:
        main(["generate", "-o", str(tmp_path / "out"), "--weights", str(weights), *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_generate_weight_errors_exit_2(tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    garbage = tmp_path / "garbage.safetensors"
    garbage.write_bytes(b"not safetensors at all")
    other = save_model(tmp_path / "other.safetensors", torch.nn.Linear(2, 2), "apdraw.parser/1", {"a": 1})
    for weights, message in ((tmp_path / "missing.safetensors", "not found"), (garbage, "not a readable safetensors"),
                             (other, "not a apdraw.sage/1 weight file"), (tmp_path, "not found")):  # fmt: skip
        assert main(["generate", "--seeds", "0", "-o", str(out), "--weights", str(weights)]) == 2
        err = capsys.readouterr().err
        assert err.startswith("apdraw generate: ") and message in err and "Traceback" not in err
    # no --weights and the style's shipped file missing (a broken install): says so, and how to train one
    for style in ("apdrawinggan", "npr"):
        monkeypatch.setitem(generator_module.STYLE_WEIGHTS, style, tmp_path / f"{style}.safetensors")
    for extra, style in (([], "apdrawinggan"), (["--style", "npr"], "npr")):
        assert main(["generate", "--seeds", "0", "-o", str(out), *extra]) == 2
        err = capsys.readouterr().err
        assert err.startswith("apdraw generate: ") and "Traceback" not in err
        assert f"shipped SAGE generator of style {style!r} is missing" in err and str(tmp_path / f"{style}.safetensors") in err
        assert "apdraw train sage" in err and "docs/SAGE.md" in err and "--weights" in err and "shipped yet" not in err
    assert not out.exists()


def test_generate_style_picks_the_shipped_file(shipped, tmp_path):
    runs = {}
    for extra in ([], ["--style", "apdrawinggan"], ["--style", "npr"]):
        out = tmp_path / ("_".join(extra) or "default")
        assert main(["generate", "--seeds", "2,3", "--yaws=-15,30", "-o", str(out), *extra]) == 0
        runs[extra[-1] if extra else "default"] = out
    npr = MultiViewGenerator.from_pretrained(shipped["npr"])
    default = MultiViewGenerator.from_pretrained(shipped["apdrawinggan"])
    read = lambda out, name: np.asarray(Image.open(out / name))  # noqa: E731
    for seed in (2, 3):
        for yaw in (-15, 30):
            names = {k: f"{seed}_{yaw}_{k}.png" for k in ("drawing", "photo", "semantic", "semantic_color")}
            assert np.array_equal(read(runs["npr"], names["drawing"]), npr.render(seed, yaw).drawing)
            assert np.array_equal(read(runs["default"], names["drawing"]), default.render(seed, yaw).drawing)
            assert not np.array_equal(read(runs["npr"], names["drawing"]), read(runs["default"], names["drawing"]))
            for k in ("drawing", "photo", "semantic", "semantic_color"):
                assert np.array_equal(read(runs["default"], names[k]), read(runs["apdrawinggan"], names[k]))
            for k in ("photo", "semantic", "semantic_color"):  # the same face in every style
                assert np.array_equal(read(runs["npr"], names[k]), read(runs["default"], names[k]))


def test_generate_style_with_weights_exits_2(shipped, weights, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["generate", "--seeds", "0", "-o", str(out), "--style", "npr", "--weights", str(weights)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("apdraw generate: ") and "not both" in err and "Traceback" not in err
    assert not out.exists()


def test_generate_output_folder_is_a_file(weights, tmp_path, capsys):
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["generate", "--seeds", "0", "-o", str(target), "--weights", str(weights)]) == 2
    assert "is a file" in capsys.readouterr().err
