"""Network-based metrics on MobileNetV2 (the proxy) and the Inception extractor with random weights."""

from __future__ import annotations

import numpy as np
import pytest
import torch

from apdraw.eval.distribution import fid_from_features, frechet_distance, gaussian_stats
from apdraw.eval.features import Features, InceptionFeatures, perceptual_distance, prepare
from apdraw.models.inception import WEIGHTS_FILENAME, FIDInceptionV3
from test_eval_metrics import blur, drawing, is_increasing, noisy


@pytest.fixture(scope="module")
def mnv2():
    from apdraw.eval.features import MobileNetV2Features

    try:
        return MobileNetV2Features("cpu")
    except FileNotFoundError as exc:
        pytest.skip(f"MobileNetV2 ImageNet weights not installed: {exc}")


def feats(ext, images) -> Features:
    return ext(prepare(images, ext.input_size))


def test_fused_network_matches_the_plain_one(mnv2):
    from apdraw.models.mobilenetv2 import mobilenet_v2, normalize

    plain = mobilenet_v2(pretrained=True).eval()
    x = prepare([drawing(0)], 256)
    with torch.inference_mode():
        ref = plain.stages(normalize(torch.from_numpy(x).permute(0, 3, 1, 2).float() / 255), upto=5)
    got = mnv2(x).stages
    for a, b in zip(ref, got):
        assert torch.allclose(a, b, atol=1e-4 * float(a.abs().max()))
    assert not any(isinstance(m, torch.nn.BatchNorm2d) for m in mnv2.model.modules())


def test_mnv2_features_shapes(mnv2):
    f = feats(mnv2, [drawing(1), np.repeat(drawing(2)[..., None], 3, axis=2)])
    assert f.pooled.shape == (2, 1280) and f.pooled.dtype == np.float64
    assert [e.shape for e in f.early] == [(64 * 64, 24)] * 2
    assert [s.shape[1] for s in f.stages] == [16, 24, 32, 96, 1280]


def test_lpips_proxy_identity_symmetry_and_blur_growth(mnv2):
    img = drawing(3)
    base = feats(mnv2, [img]).stages
    assert perceptual_distance(base, base)[0] == pytest.approx(0.0, abs=1e-9)
    other = feats(mnv2, [drawing(4)]).stages
    assert perceptual_distance(base, other)[0] == pytest.approx(perceptual_distance(other, base)[0])
    growth = [perceptual_distance(base, feats(mnv2, [blur(img, s)]).stages)[0] for s in (0.7, 1.5, 3.0)]
    assert is_increasing(growth) and 0 < growth[-1] < 4


def test_sifid_proxy_grows_with_noise(mnv2):
    img = drawing(5)
    ref = gaussian_stats(feats(mnv2, [img]).early[0])
    assert frechet_distance(*ref, *ref) == pytest.approx(0.0, abs=1e-9)
    growth = [frechet_distance(*ref, *gaussian_stats(feats(mnv2, [noisy(img, s)]).early[0])) for s in (8, 24, 64)]
    assert is_increasing(growth)


def test_fid_proxy_identity_and_noise_growth(mnv2):
    images = [drawing(s) for s in range(6)]
    ref = feats(mnv2, images).pooled
    assert fid_from_features(ref, ref) == pytest.approx(0.0, abs=1e-6)
    growth = [fid_from_features(ref, feats(mnv2, [noisy(im, s, i) for i, im in enumerate(images)]).pooled)
              for s in (10, 30, 80)]
    assert is_increasing(growth)


def test_inception_extractor_with_random_weights(tmp_path):
    torch.manual_seed(0)
    path = tmp_path / WEIGHTS_FILENAME
    torch.save(FIDInceptionV3().state_dict(), path)
    with pytest.warns(UserWarning, match="sha256"):
        ext = InceptionFeatures(path, "cpu")
    assert ext.input_size == 299
    f = feats(ext, [drawing(6, 64)])
    assert f.pooled.shape == (1, 2048)
    assert f.early[0].shape == (73 * 73, 64)
