"""The code encoder that starts `apdraw views`' inversion (ours): ridge fit, file format, the mapping-head
fingerprint, and `MultiViewGenerator.invert(init=...)` on the tiny generator."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import torch

from conftest import tiny_sage_config

from apdraw.models.sage import load_generator
from apdraw.models.sage.encoder import (
    CodeEncoder,
    CodeEncoderConfig,
    encoder_from_ridge,
    fit_ridge,
    load_code_encoder,
    mapping_fingerprint,
    save_code_encoder,
)
from apdraw.multiview import MultiViewGenerator
from apdraw.persistence import WeightsError, save_model

TINY = tiny_sage_config()
PHOTO = Path(__file__).resolve().parents[1] / "examples" / "grace_hopper.jpg"


@pytest.fixture(autouse=True)
def _one_thread(_deterministic_threads):
    torch.set_num_threads(1)


def test_ridge_recovers_a_linear_map_and_checks_its_input():
    rng = np.random.default_rng(0)
    x = rng.normal(size=(400, 30)) * rng.uniform(0.1, 10, 30)  # features of very different scales
    w_true, b_true = rng.normal(size=(5, 30)), rng.normal(size=5)
    y = x @ w_true.T + b_true
    w, b = fit_ridge(x, y, alpha=1e-6)
    np.testing.assert_allclose(w, w_true, atol=1e-3)
    np.testing.assert_allclose(b, b_true, atol=1e-3)
    wide, wide_b = fit_ridge(x[:20], y[:20], alpha=1e-3)  # fewer samples than features: the dual form
    assert np.abs(x[:20] @ wide.T + wide_b - y[:20]).max() < 0.5  # interpolates its own samples (up to alpha)
    strong, _ = fit_ridge(x, y, alpha=1e9)
    assert np.abs(strong).max() < 1e-3 * np.abs(w_true).max()  # a huge alpha shrinks the map to the mean
    with pytest.raises(ValueError, match="alpha"):
        fit_ridge(x, y, 0.0)
    with pytest.raises(ValueError, match="N >= 2"):
        fit_ridge(x[:5], y[:4], 1.0)


def test_fingerprint_reads_the_mapping_head_only():
    from apdraw.models.sage import SageGenerator

    torch.manual_seed(0)
    a = SageGenerator(TINY)
    b = SageGenerator(TINY)
    b.load_state_dict(a.state_dict())
    assert mapping_fingerprint(a) == mapping_fingerprint(b)
    with torch.no_grad():
        b.mapping.trunk[0].weight.add_(1.0)  # the map stage trains the trunk: codes keep their meaning
    assert mapping_fingerprint(a) == mapping_fingerprint(b)
    with torch.no_grad():
        b.mapping.head.weight.add_(1e-2)
    assert mapping_fingerprint(a) != mapping_fingerprint(b)


def test_encoder_file_round_trip_and_refusals(tmp_path):
    enc = CodeEncoder(CodeEncoderConfig(feature_dim=12, code_dim=4))
    path = save_code_encoder(tmp_path / "e.safetensors", enc, "abc", extra={"alpha": "10"})
    again = load_code_encoder(path)
    assert again.mapping_fingerprint == "abc" and again.cfg == enc.cfg and not again.training
    x = torch.randn(3, 12)
    torch.testing.assert_close(again(x), enc(x), atol=1e-2, rtol=1e-2)  # fp16 storage
    with pytest.raises(ValueError, match="features"):
        again(torch.randn(3, 11))
    save_model(tmp_path / "bare.safetensors", enc, "apdraw.sage_code_encoder/1", enc.cfg)
    with pytest.raises(WeightsError, match="mapping_fingerprint"):
        load_code_encoder(tmp_path / "bare.safetensors")
    with pytest.raises(FileNotFoundError):
        load_code_encoder(tmp_path / "absent.safetensors")
    with pytest.raises(ValueError):
        CodeEncoderConfig(features="inception")


def test_photo_features_are_the_evaluation_extractors_pooled_features(imagenet_mobilenet_v2):
    """The encoder's features (models layer) and the evaluation's MobileNetV2 pooled features: one network, one number."""
    from apdraw.eval.features import MobileNetV2Features
    from apdraw.models.sage.encoder import PhotoFeatures

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (3, 256, 256, 3), dtype=np.uint8)
    ours = PhotoFeatures(256)(images).numpy()
    theirs = MobileNetV2Features(device="cpu")(images).pooled
    assert ours.shape == theirs.shape == (3, 1280)
    np.testing.assert_allclose(ours, theirs, rtol=1e-3, atol=1e-3)
    with pytest.raises(ValueError, match="uint8"):
        PhotoFeatures(256)(images.astype(np.float32))


@pytest.fixture(scope="module")
def tiny_encoder(tiny_sage_weights, tmp_path_factory) -> Path:
    """A random encoder for the tiny generator's codes (its fingerprint), as fit_sage_encoder.py writes one."""
    g = load_generator(tiny_sage_weights)
    rng = np.random.default_rng(1)
    enc = encoder_from_ridge(rng.normal(0, 0.01, (TINY.mapping.hidden, 1280)).astype(np.float32), rng.normal(0, 1, TINY.mapping.hidden).astype(np.float32))
    return save_code_encoder(tmp_path_factory.mktemp("enc") / "enc.safetensors", enc, mapping_fingerprint(g))


def test_invert_starts_from_the_encoders_guess(tiny_sage_weights, tiny_encoder, imagenet_mobilenet_v2):
    from apdraw.data.sage import centre_crop_resize
    from apdraw.io import load_image
    from apdraw.multiview import CROP_FRACTION, warp_to_frame

    photo = load_image(PHOTO)
    plain = MultiViewGenerator.from_pretrained(tiny_sage_weights)
    assert plain.code_encoder is None  # the shipped encoder does not fit the tiny generator
    with pytest.raises(ValueError, match="no code encoder"):
        plain.invert(photo, steps=0, yaw_deg=0, pitch_deg=0, init="encoder")
    mv = MultiViewGenerator.from_pretrained(tiny_sage_weights, code_encoder=tiny_encoder)
    assert mv.code_encoder is not None
    with pytest.raises(ValueError, match="init"):
        mv.invert(photo, steps=0, yaw_deg=0, pitch_deg=0, init="random")
    fit = mv.invert(photo, steps=0, yaw_deg=0, pitch_deg=0)  # auto: the encoder
    assert fit.init == "encoder"
    frame, _ = warp_to_frame(photo, mv.faces.detect(photo)[0].landmarks5)
    guess = mv.code_encoder.encode(centre_crop_resize(frame, 256, CROP_FRACTION)[None])
    torch.testing.assert_close(fit.code, guess)
    mean = mv.invert(photo, steps=0, yaw_deg=0, pitch_deg=0, init="mean")
    assert mean.init == "mean" and torch.equal(mean.code, mv.mean_latent.code.cpu())
    moved = mv.invert(photo, steps=3, yaw_deg=0, pitch_deg=0)
    assert moved.losses[-1] < moved.losses[0] and not torch.equal(moved.code, fit.code)
    assert MultiViewGenerator.from_pretrained(tiny_sage_weights, code_encoder=False).code_encoder is None


def test_an_encoder_of_another_generator_is_refused(tiny_sage_weights, tmp_path):
    g = load_generator(tiny_sage_weights)
    enc = CodeEncoder(CodeEncoderConfig(code_dim=TINY.mapping.hidden))
    path = save_code_encoder(tmp_path / "other.safetensors", enc, "0" * 64)
    with pytest.raises(ValueError, match="another generator"):
        MultiViewGenerator.from_pretrained(tiny_sage_weights, code_encoder=path)
    wrong_dim = save_code_encoder(tmp_path / "dim.safetensors", CodeEncoder(CodeEncoderConfig(code_dim=3)), mapping_fingerprint(g))
    with pytest.raises(ValueError, match="3-d codes"):
        MultiViewGenerator.from_pretrained(tiny_sage_weights, code_encoder=wrong_dim)


def test_views_check_script_end_to_end(tiny_sage_weights, tiny_encoder, shared_data, tmp_path, imagenet_mobilenet_v2):
    """scripts/sage_views_check.py on the tiny generator: both starts, 0 and N steps, the summary and the figure."""
    import json

    from conftest import script_module

    check = script_module("sage_views_check")
    assert check.psnr(np.zeros((4, 4), np.uint8), np.full((4, 4), 51, np.uint8)) == pytest.approx(10 * np.log10(25.0))
    out, fig = tmp_path / "v.json", tmp_path / "v.png"
    argv = ["--weights", str(tiny_sage_weights), "--encoder", str(tiny_encoder), "--photos", "1", "--steps", "2",
            "--json", str(out), "--figure", str(fig)]  # fmt: skip
    assert check.main(argv) == 0
    summary = json.loads(out.read_text())["summary"]
    assert set(summary) == {"mean@0", "mean@2", "encoder@0", "encoder@2"}
    assert all(np.isfinite(v["psnr"]) and 0 <= v["label_miou"] <= 1 for v in summary.values())
    assert fig.is_file()
