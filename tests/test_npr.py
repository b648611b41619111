"""Tests for the classical drawing engine `apdraw.npr` (synthetic inputs + one real photo)."""

from __future__ import annotations

import cv2
import numpy as np
import pytest

from apdraw.config import load_config
from apdraw.npr import NPRConfig, NPRInput, draw_batch, draw_portrait, draw_with_lines, xdog
from apdraw.npr.flow import structure_tensor_flow
from apdraw.npr.regions import FaceGeometry, estimate_hair_mask, template_landmarks

SKIN = (215, 170, 150)
S = 512


def _ellipse(mask_shape, centre, axes, value=1):
    m = np.zeros(mask_shape, np.uint8)
    cv2.ellipse(m, (int(centre[0]), int(centre[1])), (int(axes[0]), int(axes[1])), 0, 0, 360, value, -1)
    return m.astype(bool)


def synthetic_portrait(noise: float = 0.0, seed: int = 0):
    """A cartoon face at the APDrawing template positions.

    Returns (rgb (S,S,3) uint8, fg (S,S) bool, hair (S,S) bool, eye/mouth boxes as slices).
    """
    lm = template_landmarks((S, S))
    img = np.full((S, S, 3), 235, np.uint8)  # light background
    fg = _ellipse((S, S), (256, 300), (190, 260)) | (np.mgrid[0:S, 0:S][0] > 440)
    img[fg] = (60, 70, 120)  # clothes / body
    hair = _ellipse((S, S), (256, 240), (175, 200)) & fg
    img[hair] = (70, 45, 30)  # dark-brown hair
    face = _ellipse((S, S), (256, 290), (118, 150))
    img[face] = SKIN
    hair &= ~face
    for e in lm[:2]:
        img[_ellipse((S, S), e, (26, 11))] = (250, 250, 250)  # eye white
        img[_ellipse((S, S), e, (10, 10))] = (30, 20, 15)  # iris
        img[_ellipse((S, S), (e[0], e[1] - 32), (30, 6))] = (80, 55, 40)  # brow
    img[_ellipse((S, S), (256, 318), (7, 5))] = (90, 50, 45)  # nostrils
    mouth = (lm[3] + lm[4]) / 2
    img[_ellipse((S, S), mouth, (44, 12))] = (190, 60, 70)  # red lips
    img[_ellipse((S, S), mouth, (40, 2))] = (80, 20, 25)  # lip line
    if noise > 0:
        rng = np.random.default_rng(seed)
        img = np.clip(img.astype(np.float32) + rng.normal(0, noise, img.shape), 0, 255).astype(np.uint8)
    boxes = {
        "eyel": (slice(int(lm[0, 1]) - 40, int(lm[0, 1]) + 30), slice(int(lm[0, 0]) - 50, int(lm[0, 0]) + 50)),
        "eyer": (slice(int(lm[1, 1]) - 40, int(lm[1, 1]) + 30), slice(int(lm[1, 0]) - 50, int(lm[1, 0]) + 50)),
        "mouth": (slice(int(mouth[1]) - 30, int(mouth[1]) + 30), slice(int(mouth[0]) - 60, int(mouth[0]) + 60)),
    }
    return img, fg, hair, boxes


def jaw_arc(n: int = 21) -> np.ndarray:
    """A U-shaped jaw polyline from image-left to image-right via the chin, (n, 2)."""
    a = np.linspace(np.pi, 0.0, n)
    return np.stack([256 + 115 * np.cos(a), 300 + 140 * np.sin(a)], 1)


@pytest.fixture(scope="module")
def face():
    return synthetic_portrait()


@pytest.fixture(scope="module")
def drawing(face):
    img, fg, _, _ = face
    return draw_portrait(img, fg, jaw_arc())


def test_output_shape_dtype_range(face, drawing):
    assert drawing.shape == (S, S) and drawing.dtype == np.uint8
    ink = drawing < 128
    assert 0.02 < ink.mean() < 0.6, "a portrait has some, but not mostly, ink"
    assert drawing.max() == 255 and drawing.min() == 0
    # Two-tone: anti-aliasing greys only on stroke borders.
    grey = (drawing > 20) & (drawing < 235)
    near_ink = cv2.dilate(ink.astype(np.uint8), np.ones((5, 5), np.uint8)) > 0
    assert not (grey & ~near_ink).any()
    assert grey.mean() < 0.5 * ink.mean() + 0.1


def test_background_is_white(face, drawing):
    _, fg, _, _ = face
    near = cv2.dilate(fg.astype(np.uint8), np.ones((7, 7), np.uint8)) > 0
    assert (drawing[~near] == 255).all()


def test_features_have_ink(face, drawing):
    _, _, _, boxes = face
    for name, (r, c) in boxes.items():
        assert (drawing[r, c] < 128).mean() > 0.03, f"{name} box has no ink"


def test_deterministic_and_batch_matches(face):
    img, fg, _, _ = face
    a = draw_portrait(img, fg, jaw_arc())
    b = draw_portrait(img.copy(), fg.copy(), jaw_arc())
    assert np.array_equal(a, b)
    items = [NPRInput(img, fg, jaw_arc()), {"aligned": img[:, ::-1].copy(), "fg_mask": fg[:, ::-1].copy()}]
    seq = draw_batch(items)
    par = draw_batch(items, workers=2)
    assert np.array_equal(seq[0], a)
    assert all(np.array_equal(x, y) for x, y in zip(seq, par))
    assert np.array_equal(seq[1], draw_portrait(img[:, ::-1].copy(), fg[:, ::-1].copy()))


def test_npr_input_from_face(face):
    from types import SimpleNamespace

    img, fg, hair, _ = face
    lm = template_landmarks((S, S))
    masks = SimpleNamespace(fg=fg.astype(np.uint8) * 255, jaw=jaw_arc(), extras={}, hair=np.ones((S, S), bool))
    item = NPRInput.from_face(SimpleNamespace(aligned=img, landmarks5_aligned=lm, masks=masks))
    assert item.hair_mask is None, "masks.hair (fg minus boxes) must not be taken for a hair mask"
    assert item.jaw is masks.jaw and item.landmarks5 is lm
    assert np.array_equal(draw_batch([item])[0], draw_portrait(img, fg, jaw_arc(), landmarks5=lm))
    masks.extras["hair"] = hair
    assert NPRInput.from_face(SimpleNamespace(aligned=img, landmarks5_aligned=lm, masks=masks)).hair_mask is hair
    bare = NPRInput.from_face(SimpleNamespace(aligned=img, landmarks5_aligned=lm, masks=None))
    assert bare.fg_mask is None and bare.jaw is None


def test_jaw_polyline_is_drawn():
    # A flat skin image has no edges: the only ink must be the jaw stroke.
    img = np.full((S, S, 3), SKIN, np.uint8)
    jaw = jaw_arc()
    out = draw_portrait(img, None, jaw)
    no_jaw = draw_portrait(img, None, None)
    assert (no_jaw == 255).all()
    # Sample the arc densely, away from the tapered ends.
    a = np.linspace(np.pi * 0.85, np.pi * 0.15, 200)
    pts = np.round(np.stack([256 + 115 * np.cos(a), 300 + 140 * np.sin(a)], 1)).astype(int)
    assert (out[pts[:, 1], pts[:, 0]] < 100).mean() > 0.97
    ink = out < 128
    far = cv2.distanceTransform((~_polyline_mask(jaw)).astype(np.uint8), cv2.DIST_L2, 5) > 4
    assert not (ink & far).any(), "ink away from the jaw line"
    # A pen stroke, not a hairline or a blob: mean width 1.5..5 px.
    width = ink.sum() / (np.linalg.norm(np.diff(jaw, axis=0), axis=1).sum())
    assert 1.5 < width < 5.0


def _polyline_mask(pts: np.ndarray) -> np.ndarray:
    m = np.zeros((S, S), np.uint8)
    cv2.polylines(m, [np.round(pts).astype(np.int32)], False, 1, 1)
    return m.astype(bool)


def test_dark_disc_becomes_solid_black():
    img = np.full((S, S, 3), SKIN, np.uint8)
    centre, r = (420, 430), 30
    disc = _ellipse((S, S), centre, (r, r))
    img[disc] = (20, 18, 18)
    out = draw_portrait(img)
    inner = _ellipse((S, S), centre, (r - 3, r - 3))
    assert (out[inner] == 0).all(), "the dark disc is not filled solid"
    outside = ~_ellipse((S, S), centre, (r + 4, r + 4))
    assert (out[outside] == 255).all()


@pytest.mark.parametrize("noise", [8.0, 20.0])
def test_no_speckle_on_noisy_input(noise):
    img, fg, _, _ = synthetic_portrait(noise=noise, seed=3)
    out = draw_portrait(img, fg)
    n, _, stats, _ = cv2.connectedComponentsWithStats((out < 128).astype(np.uint8), connectivity=8)
    areas = stats[1:, cv2.CC_STAT_AREA]
    assert (areas < 12).sum() == 0, f"{(areas < 12).sum()} speckles"
    # Pure noise on flat skin draws nothing at all.
    flat = np.full((S, S, 3), SKIN, np.float32)
    noisy = np.clip(flat + np.random.default_rng(5).normal(0, noise, flat.shape), 0, 255).astype(np.uint8)
    assert (draw_portrait(noisy) < 128).mean() < 0.002


def _dominant_angle(mask: np.ndarray, region: np.ndarray) -> float:
    """Orientation (degrees mod 180) of the ink strokes inside `region`, from the structure tensor."""
    t = structure_tensor_flow(mask.astype(np.float32), 1.0, 2.0)
    v = t[region]
    # Average the doubled angle so opposite vectors agree.
    ang2 = 2 * np.arctan2(v[:, 1], v[:, 0])
    return float(np.rad2deg(0.5 * np.arctan2(np.sin(ang2).mean(), np.cos(ang2).mean())) % 180)


@pytest.mark.parametrize("angle", [30.0, 120.0])
def test_hair_strokes_follow_flow(angle):
    # Brown hair with fine stripes along `angle` inside a given hair mask.
    y, x = np.mgrid[0:S, 0:S].astype(np.float32)
    a = np.deg2rad(angle)
    across = -x * np.sin(a) + y * np.cos(a)
    stripes = 0.5 + 0.5 * np.sin(across * 2 * np.pi / 7.0)
    tone = (95 + 40 * stripes)[..., None] * np.array([1.0, 0.75, 0.55])
    img = np.full((S, S, 3), SKIN, np.uint8)
    hair = _ellipse((S, S), (256, 130), (200, 90))
    img[hair] = tone[hair].astype(np.uint8)
    before = hair.copy()
    out = draw_portrait(img, None, None, hair)
    assert np.array_equal(hair, before), "the caller's hair mask was modified"
    inner = cv2.erode(hair.astype(np.uint8), np.ones((15, 15), np.uint8)) > 0
    ink = (out < 128) & inner
    assert 0.05 < ink.sum() / inner.sum() < 0.9
    got = _dominant_angle(out < 128, inner)
    diff = abs((got - angle + 90) % 180 - 90)
    assert diff < 15, f"strokes at {got:.0f} deg, hair flows at {angle:.0f} deg"
    # Without hair strokes the region is mostly blank or mostly edges, not oriented strands.
    cfg = NPRConfig()
    cfg.hair.enabled = False
    assert (draw_portrait(img, None, None, hair, cfg)[inner] < 128).sum() < ink.sum()


def test_draw_with_lines_hands_over_the_strands_and_jaw_it_drew(face):
    """The engine's own polylines: in the frame, on its ink, absent from the rest; the drawing unchanged."""
    img, fg, hair, _ = face
    y, x = np.mgrid[0:S, 0:S].astype(np.float32)
    stripes = 0.5 + 0.5 * np.sin((y - 0.5 * x) * 2 * np.pi / 7.0)
    img = img.copy()
    img[hair] = ((95 + 40 * stripes)[..., None] * np.array([1.0, 0.75, 0.55]))[hair].astype(np.uint8)  # lighter hair
    drawing, lines, rest = draw_with_lines(img, fg, jaw_arc(), hair)
    assert np.array_equal(drawing, draw_portrait(img, fg, jaw_arc(), hair))
    assert len(lines) > 50 and all(p.ndim == 2 and p.shape[1] == 2 and len(p) >= 2 and p.dtype == np.float64 for p in lines)
    pts = np.concatenate(lines)
    assert (pts >= 0).all() and (pts <= S - 1).all()
    ix, iy = np.rint(pts[:, 0]).astype(int), np.rint(pts[:, 1]).astype(int)
    assert (drawing[iy, ix] < 128).mean() > 0.98, "the lines run on the engine's ink"
    assert (rest[iy, ix] < 128).mean() < 0.2, "the rest leaves their ink out"
    assert not ((rest < 128) & (drawing >= 128)).any(), "the rest draws nothing the drawing does not"
    jaw = max(lines, key=len)  # the jaw stroke's centre-line, on the jaw arc from end to end
    assert np.ptp(jaw[:, 0]) > 200 and np.allclose(np.hypot((jaw[:, 0] - 256) / 115, (jaw[:, 1] - 300) / 140), 1, atol=0.03)


def test_hair_mask_estimate(face):
    img, fg, hair, _ = face
    geom = FaceGeometry(template_landmarks((S, S)))
    est = estimate_hair_mask(img, fg, geom, geom.oval((S, S)), NPRConfig().hair, 1.0)
    iou = (est & hair).sum() / (est | hair).sum()
    assert iou > 0.7, f"hair IoU {iou:.2f}"
    # A bald head (skin above the forehead) gives no hair.
    bald = img.copy()
    bald[hair] = SKIN
    assert not estimate_hair_mask(bald, fg, geom, geom.oval((S, S)), NPRConfig().hair, 1.0).any()


def test_other_sizes_and_validation(face):
    img, fg, _, _ = face
    small = cv2.resize(img, (256, 256), interpolation=cv2.INTER_AREA)
    fgs = cv2.resize(fg.astype(np.uint8) * 255, (256, 256), interpolation=cv2.INTER_NEAREST)
    out = draw_portrait(small, fgs, jaw_arc() / 2)
    assert out.shape == (256, 256) and 0.02 < (out < 128).mean() < 0.6
    with pytest.raises(ValueError):
        draw_portrait(img.astype(np.float32))
    with pytest.raises(ValueError):
        draw_portrait(img, fg[:100])
    with pytest.raises(TypeError):
        draw_batch([img])


def test_config_loads_with_overrides(face):
    cfg = load_config(NPRConfig, None, ["lines.high=0.08", "lines.low=0.05", "jaw.width=4"])
    assert cfg.lines.high == 0.08 and cfg.lines.low == 0.05 and cfg.jaw.width == 4.0
    img, fg, _, _ = face
    # Higher line thresholds draw fewer lines.
    assert (draw_portrait(img, fg, cfg=cfg) < 128).sum() < (draw_portrait(img, fg) < 128).sum()


def test_xdog_properties():
    flat_white = np.ones((64, 64), np.float32)
    flat_black = np.zeros((64, 64), np.float32)
    assert (xdog(flat_white) == 1.0).all()
    assert xdog(flat_black).max() < 0.01
    step = np.full((64, 64), 0.9, np.float32)
    step[:, 32:] = 0.55  # a mid-grey region right of an edge
    out = xdog(step)
    assert out.dtype == np.float32 and out.shape == step.shape
    assert 0.0 <= out.min() and out.max() <= 1.0
    assert out[:, 33:36].mean() < 0.3, "dark side of the edge becomes a line"
    assert out[:, :28].min() == 1.0 and out[:, 40:].min() == 1.0, "flat regions above epsilon stay white"
    # Wider sigma -> wider line.
    wide = xdog(step, sigma=2.0)
    assert (wide < 0.5).sum() > (out < 0.5).sum()
    with pytest.raises(ValueError):
        xdog(np.zeros((8, 8, 3), np.float32))


@pytest.mark.shared_data
def test_real_photo(shared_data):
    refs = shared_data / "apdrawing_refs"
    name = "WechatIMG253_2"
    if not (refs / "photo" / f"{name}.png").is_file():
        pytest.skip(f"{refs}/photo/{name}.png is absent")
    from apdraw.io import load_image

    img = load_image(refs / "photo" / f"{name}.png")
    fg = load_image(refs / "bgmask" / f"{name}.png")[..., 0] > 127
    lm = np.loadtxt(refs / "landmark" / f"{name}.txt").reshape(5, 2)
    out = draw_portrait(img, fg, None, None, landmarks5=lm)
    ink = out < 128
    assert 0.08 < ink.mean() < 0.45, f"ink coverage {ink.mean():.3f}"
    assert (out[~(cv2.dilate(fg.astype(np.uint8), np.ones((7, 7))) > 0)] == 255).all()
    # APDrawing local boxes (SPEC A1.1): eyes 112x80 centred 8 px above the eye, mouth 128x80.
    for (x, y), (bw, bh), dy in [(lm[0], (112, 80), -8), (lm[1], (112, 80), -8), ((lm[3] + lm[4]) / 2, (128, 80), 0)]:
        cx, cy = int(x), int(y + dy)
        box = ink[cy - bh // 2 : cy + bh // 2, cx - bw // 2 : cx + bw // 2]
        assert box.mean() > 0.04, f"box at {cx},{cy} has {box.mean():.3f} ink"
