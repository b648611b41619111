"""End-to-end CLI: `apdraw draw` and `apdraw align` on the bundled examples and on bad inputs."""

from __future__ import annotations

import io
import re
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from apdraw import __version__
from apdraw.cli import main
from apdraw.io import load_image

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
# Stroke pixels: the default (learned) style draws grey pencil lines, so count luminance < 0.75 as ink,
# the evaluation suite's stroke threshold.
INK = 192


def test_version(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["--version"])
    assert exc.value.code == 0
    assert capsys.readouterr().out.strip() == f"apdraw {__version__}"


@pytest.mark.parametrize(
    "argv",
    [
        ["draw", "examples"],  # no -o
        ["draw", "examples", "-o", "x", "--faces", "some"],
        ["draw", "examples", "-o", "x", "--size", "0"],
        ["draw", "examples", "-o", "x", "--style", "nope"],
        ["train", "nope"],
        ["frobnicate"],
    ],
)
def test_usage_errors_exit_2(argv, capsys):
    with pytest.raises(SystemExit) as exc:
        main(argv)
    assert exc.value.code == 2


def test_no_images_is_a_usage_error(tmp_path, capsys):
    (tmp_path / "empty").mkdir()
    assert main(["draw", str(tmp_path / "empty"), "-o", str(tmp_path / "out")]) == 2
    assert "no images" in capsys.readouterr().err


@pytest.fixture(scope="module")
def mixed_inputs(tmp_path_factory) -> Path:
    """The two examples, a two-face photo, and four bad files."""
    root = tmp_path_factory.mktemp("inputs")
    hopper = load_image(EXAMPLES / "grace_hopper.jpg")
    astro = load_image(EXAMPLES / "astronaut.png")
    Image.fromarray(hopper).save(root / "hopper.jpg", quality=92)
    Image.fromarray(astro).save(root / "sub_astronaut.png")
    # Two faces side by side, the second off-centre on a larger white canvas.
    h = 600
    pair = np.full((h, 1400, 3), 255, np.uint8)
    a = np.asarray(Image.fromarray(hopper).resize((round(hopper.shape[1] * 400 / hopper.shape[0]), 400)))
    b = np.asarray(Image.fromarray(astro).resize((400, 400)))
    pair[20 : 20 + a.shape[0], 40 : 40 + a.shape[1]] = a
    pair[150:550, 900:1300] = b
    Image.fromarray(pair).save(root / "two_faces.png")
    # Bad inputs: blank (no face), not an image, truncated, too large.
    Image.new("RGB", (300, 300), (255, 255, 255)).save(root / "blank.png")
    (root / "notes.jpg").write_text("not an image")
    buf = io.BytesIO()
    Image.fromarray(hopper).save(buf, format="JPEG")
    (root / "cut.jpg").write_bytes(buf.getvalue()[:3000])
    Image.new("1", (20000, 20000)).save(root / "bomb.png")
    return root


def test_draw_batch_reports_failures_and_continues(mixed_inputs, tmp_path, capsys):
    out = tmp_path / "out"
    code = main(["draw", str(mixed_inputs), "-o", str(out), "--faces", "all"])
    err = capsys.readouterr().err
    assert code == 1
    written = sorted(p.relative_to(out).as_posix() for p in out.rglob("*.png"))
    assert written == ["hopper.png", "sub_astronaut.png", "two_faces_face0.png", "two_faces_face1.png"]
    for p in out.rglob("*.png"):
        d = load_image(p)
        assert d.shape == (512, 512, 3)
        ink = (d[..., 0] < INK).mean()
        assert 0.02 < ink < 0.6, f"{p.name}: ink coverage {ink:.3f}"
    assert not list(out.rglob("*.tmp"))
    assert "4 failed" in err
    for name, reason in [("blank.png", "no face"), ("notes.jpg", "not an image"), ("cut.jpg", "truncated"), ("bomb.png", "decompression bomb")]:
        assert re.search(rf"{name}: .*{reason}", err), (name, err)


def test_draw_photo_frame_and_size(tmp_path):
    src = EXAMPLES / "grace_hopper.jpg"
    h, w = load_image(src).shape[:2]
    out = tmp_path / "photo"
    assert main(["draw", str(src), "-o", str(out), "--frame", "photo"]) == 0
    d = load_image(out / "grace_hopper.png")
    assert d.shape[:2] == (h, w)
    assert d[0, 0, 0] == 255 and (d[..., 0] < INK).mean() > 0.02
    assert main(["draw", str(src), "-o", str(tmp_path / "small"), "--size", "256"]) == 0
    assert load_image(tmp_path / "small" / "grace_hopper.png").shape == (256, 256, 3)


def test_align_writes_apdrawinggan_layout(tmp_path):
    out = tmp_path / "ds"
    assert main(["align", str(EXAMPLES / "astronaut.png"), "-o", str(out)]) == 0
    assert load_image(out / "astronaut.png").shape == (512, 512, 3)
    lines = (out / "landmark" / "astronaut.txt").read_text().splitlines()
    pts = np.array([[int(v) for v in line.split(" ")] for line in lines])
    assert pts.shape == (5, 2)
    assert pts[0, 0] < pts[1, 0] and pts[2, 1] < pts[3, 1]  # left eye left of right eye; nose above mouth
    mask = load_image(out / "mask" / "astronaut.png")[..., 0]
    assert set(np.unique(mask)) <= {0, 255} and 0.2 < (mask > 127).mean() < 0.9
    for part in ("eyel", "eyer", "nose", "mouth"):
        pm = load_image(out / "parts" / f"astronaut_{part}.png")[..., 0] > 127
        assert 0 < pm.mean() < 0.1


def test_cli_choices_come_from_the_registries():
    from apdraw.cli import build_parser
    from apdraw.face.backends import DETECTORS, MASK_BACKENDS
    from apdraw.styles import STYLES

    sub = next(a for a in build_parser()._actions if a.dest == "command").choices
    for command in ("draw", "align"):
        opts = {a.dest: a for a in sub[command]._actions}
        assert list(opts["masks"].choices) == MASK_BACKENDS.names()
        assert list(opts["detector"].choices) == DETECTORS.names()
    style = {a.dest: a for a in sub["draw"]._actions}["style"]
    assert all(name in style.help for name in STYLES.names())  # a type check, not choices: it takes NAME:VALUE


def test_draw_with_parser_masks(tmp_path):
    out = tmp_path / "p"
    assert main(["draw", str(EXAMPLES / "astronaut.png"), "-o", str(out), "--masks", "mediapipe+parser"]) == 0
    d = load_image(out / "astronaut.png")
    assert d.shape == (512, 512, 3) and 0.02 < (d[..., 0] < INK).mean() < 0.6


def test_draw_npr_style(tmp_path):
    out = tmp_path / "npr"
    assert main(["draw", str(EXAMPLES / "astronaut.png"), "-o", str(out), "--style", "npr"]) == 0
    d = load_image(out / "astronaut.png")
    assert d.shape == (512, 512, 3) and 0.02 < (d[..., 0] < INK).mean() < 0.6
    assert main(["draw", str(EXAMPLES / "astronaut.png"), "-o", str(out), "--style", "npr", "--weights", "x.safetensors"]) == 2


def test_draw_with_unusable_weights_is_a_usage_error(tmp_path, capsys):
    bad = tmp_path / "bad.safetensors"
    bad.write_text("not weights")
    assert main(["draw", str(EXAMPLES / "astronaut.png"), "-o", str(tmp_path / "o"), "--weights", str(bad)]) == 2
    assert "not a readable safetensors file" in capsys.readouterr().err
    assert not (tmp_path / "o").exists()


def _tampered_weights(tmp_path: Path, fmt: str, tensors: dict, config: str | None) -> Path:
    from safetensors.torch import save_file

    path = tmp_path / f"w{len(list(tmp_path.glob('w*.safetensors')))}.safetensors"
    meta = {"format": fmt} | ({"config": config} if config is not None else {})
    save_file(tensors, str(path), metadata=meta)
    return path


@pytest.mark.parametrize("command", ["draw", "parse"])
def test_weights_that_do_not_fit_are_usage_errors(command, tmp_path, capsys):
    import json

    from safetensors import safe_open

    from apdraw.models.apdrawinggan import DEFAULT_WEIGHTS as GAN
    from apdraw.models.parser import DEFAULT_WEIGHTS as PARSER

    shipped = GAN if command == "draw" else PARSER
    with safe_open(str(shipped), "pt") as f:
        meta = f.metadata()
        tensors = {k: f.get_tensor(k).clone() for k in f.keys()}
    first = next(iter(tensors))
    wrong_shape = dict(tensors) | {first: torch.zeros(3, 3)}
    missing_key = {k: v for k, v in tensors.items() if k != first}
    cases = {
        "wrong shape": _tampered_weights(tmp_path, meta["format"], wrong_shape, meta["config"]),
        "missing": _tampered_weights(tmp_path, meta["format"], missing_key, meta["config"]),
        "no architecture config": _tampered_weights(tmp_path, meta["format"], tensors, None),
        "config in the metadata is invalid": _tampered_weights(tmp_path, meta["format"], tensors, json.dumps({"nope": 1})),
        "not a apdraw": _tampered_weights(tmp_path, "other/1", tensors, meta["config"]),
    }
    for expected, path in cases.items():
        code = main([command, str(EXAMPLES / "astronaut.png"), "-o", str(tmp_path / "o"), "--weights", str(path)])
        err = capsys.readouterr().err
        assert code == 2, (expected, err)
        assert expected in err and "Traceback" not in err, (expected, err)
    assert not (tmp_path / "o").exists()


def test_long_input_names_and_dotted_names(tmp_path):
    src = (EXAMPLES / "grace_hopper.jpg").read_bytes()
    long_name = "x" * 245 + ".jpg"
    folder = tmp_path / "in"
    folder.mkdir()
    for name in (long_name, "john.smith.jpg", "john.doe.jpg"):
        (folder / name).write_bytes(src)
    out = tmp_path / "out"
    assert main(["draw", str(folder), "-o", str(out), "--style", "npr"]) == 0
    assert sorted(p.name for p in out.iterdir()) == sorted(["john.doe.png", "john.smith.png", "x" * 245 + ".png"])


def test_size_is_bounded_and_output_folder_must_not_be_a_file(tmp_path, capsys):
    with pytest.raises(SystemExit) as info:
        main(["draw", str(EXAMPLES / "astronaut.png"), "-o", str(tmp_path / "o"), "--size", "30000"])
    assert info.value.code == 2 and "at most 8192" in capsys.readouterr().err
    (tmp_path / "file").write_text("x")
    for command in ("draw", "align", "parse"):
        assert main([command, str(EXAMPLES), "-o", str(tmp_path / "file")]) == 2
        err = capsys.readouterr().err
        assert "is a file" in err and "Traceback" not in err and err.count("\n") <= 2
    with pytest.raises(SystemExit) as info:
        main(["draw", str(EXAMPLES), "-o", str(tmp_path / "o"), "--max-pixels", "-1"])
    assert info.value.code == 2


def test_workers_give_the_same_files_and_failures(tmp_path, capsys):
    folder = tmp_path / "in"
    folder.mkdir()
    for p in EXAMPLES.glob("*.[jp][pn]g"):
        (folder / p.name).write_bytes(p.read_bytes())
    (folder / "broken.jpg").write_bytes(b"\xff\xd8 not really")
    Image.new("RGB", (64, 64), "white").save(folder / "blank.png")
    outs = {}
    for workers in (1, 2):
        out = tmp_path / f"w{workers}"
        assert main(["draw", str(folder), "-o", str(out), "--style", "npr", "--faces", "all", "--workers", str(workers)]) == 1
        err = capsys.readouterr().err
        assert "broken.jpg: the JPEG file is truncated or corrupt" in err and "blank.png: no face found" in err
        assert "Traceback" not in err
        outs[workers] = {p.name: p.read_bytes() for p in out.iterdir()}
    assert outs[1] == outs[2] and len(outs[1]) >= 2
