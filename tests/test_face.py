"""Tests of apdraw.face: geometry, boxes, MTCNN, masks, and the acceptance figures."""

from __future__ import annotations

import math
from pathlib import Path

import cv2
import numpy as np
import pytest
import torch

from apdraw.face import (
    TEMPLATE_512,
    TEMPLATE_512_MATLAB,
    Face,
    FacePipeline,
    align_face,
    bg_region,
    box_mask,
    fit_similarity,
    flip_horizontal,
    flip_landmarks,
    hair_region,
    invert_affine,
    landmarks_from_txt,
    landmarks_to_txt,
    local_boxes,
    paste_back,
    template,
    transform_points,
    txt_landmarks,
)
from apdraw.face import align as align_mod
from apdraw.face.mediapipe_backend import _ordered_cycle, jaw_from_oval
from apdraw.face.mtcnn import MTCNN, load_net, nms, weights_dir
from apdraw.io import load_image

REPO = Path(__file__).resolve().parents[1]
GRACE = REPO / "examples" / "grace_hopper.jpg"


def _similarity(scale: float, angle_deg: float, tx: float, ty: float) -> np.ndarray:
    a = math.radians(angle_deg)
    return np.array(
        [[scale * math.cos(a), -scale * math.sin(a), tx], [scale * math.sin(a), scale * math.cos(a), ty]]
    )


# --------------------------------------------------------------------------- geometry


def test_template_matches_spec():
    spec = [(201.143, 246.857), (310.857, 246.857), (256.000, 311.771), (206.629, 370.834), (305.371, 370.834)]
    np.testing.assert_allclose(TEMPLATE_512_MATLAB, spec, atol=5e-4)
    np.testing.assert_allclose(TEMPLATE_512, np.array(spec) - 1.0, atol=5e-4)
    # A 256 frame is the 512 frame shrunk by 2 about pixel edges.
    np.testing.assert_allclose((template(256) + 0.5) * 2 - 0.5, TEMPLATE_512)


def test_fit_similarity_recovers_known_transform():
    rng = np.random.default_rng(0)
    for _ in range(20):
        m = _similarity(rng.uniform(0.1, 5), rng.uniform(-180, 180), *rng.uniform(-500, 500, 2))
        src = rng.uniform(0, 1000, (5, 2))
        np.testing.assert_allclose(fit_similarity(src, transform_points(src, m)), m, atol=1e-9)


def test_fit_similarity_is_least_squares_and_never_reflects():
    rng = np.random.default_rng(1)
    src = rng.uniform(0, 100, (5, 2))
    dst = rng.uniform(0, 100, (5, 2))
    m = fit_similarity(src, dst)
    # Generic least squares over (a, b, tx, ty) of x' = a x - b y + tx, y' = b x + a y + ty.
    rows = []
    for x, y in src:
        rows += [[x, -y, 1, 0], [y, x, 0, 1]]
    sol, *_ = np.linalg.lstsq(np.array(rows), dst.reshape(-1), rcond=None)
    a, b, tx, ty = sol
    np.testing.assert_allclose(m, [[a, -b, tx], [b, a, ty]], atol=1e-9)
    assert np.linalg.det(m[:, :2]) > 0
    # Mirrored input: still a proper rotation (det > 0), as cp2tform's non-reflective fit.
    mirrored = src * [-1, 1]
    assert np.linalg.det(fit_similarity(mirrored, src)[:, :2]) > 0
    with pytest.raises(ValueError):
        fit_similarity(np.ones((5, 2)), dst)


def test_align_round_trip_points():
    rng = np.random.default_rng(2)
    photo_pts = transform_points(TEMPLATE_512, _similarity(2.7, 17.0, 300.0, -40.0)) + rng.normal(0, 3, (5, 2))
    m = fit_similarity(photo_pts, TEMPLATE_512)
    pts = rng.uniform(-100, 3000, (50, 2))
    np.testing.assert_allclose(transform_points(transform_points(pts, m), invert_affine(m)), pts, atol=1e-6)


def _dot_photo(m_template_to_photo: np.ndarray, hw: tuple[int, int]) -> tuple[np.ndarray, np.ndarray]:
    """A gray photo with 5 dark Gaussian dots at the template mapped by ``m``."""
    h, w = hw
    pts = transform_points(TEMPLATE_512, m_template_to_photo)
    yy, xx = np.mgrid[0:h, 0:w]
    img = np.full((h, w), 200.0)
    for x, y in pts:
        img -= 150 * np.exp(-((xx - x) ** 2 + (yy - y) ** 2) / (2 * 6.0**2))
    return np.repeat(np.clip(img, 0, 255).astype(np.uint8)[..., None], 3, 2), pts


def _blob_centroids(gray: np.ndarray, pts: np.ndarray, r: int = 12) -> np.ndarray:
    out = []
    for x, y in np.round(pts).astype(int):
        win = 255.0 - gray[y - r : y + r + 1, x - r : x + r + 1].astype(np.float64)
        win = np.clip(win - np.median(win), 0, None)
        yy, xx = np.mgrid[-r : r + 1, -r : r + 1]
        out.append([x + (win * xx).sum() / win.sum(), y + (win * yy).sum() / win.sum()])
    return np.array(out)


def test_align_face_puts_landmarks_on_template_with_white_fill():
    # A photo where the face sits off-centre and is cut by the top-left border.
    m = _similarity(1.6, -12.0, -60.0, -200.0)
    photo, pts = _dot_photo(m, (700, 600))
    aligned, matrix = align_face(photo, pts)
    assert aligned.shape == (512, 512, 3) and aligned.dtype == np.uint8
    np.testing.assert_allclose(transform_points(pts, matrix), TEMPLATE_512, atol=1e-6)
    found = _blob_centroids(aligned[..., 0], TEMPLATE_512)
    np.testing.assert_allclose(found, TEMPLATE_512, atol=0.35)
    # Outside the photo -> pure white; the top-left corner maps outside it.
    assert (aligned[:20, :20] == 255).all()
    assert (aligned[250:300, 250:300] < 255).all()


def test_paste_back_geometry():
    m = _similarity(2.0, 8.0, 150.0, 90.0)
    photo, pts = _dot_photo(m, (1200, 1300))
    aligned, matrix = align_face(photo, pts)
    face = Face(box=(0, 0, 1, 1), score=1.0, landmarks5=pts, matrix=matrix, aligned=aligned,
                landmarks5_aligned=transform_points(pts, matrix))
    back = paste_back(aligned, face, photo.shape[:2])
    assert back.shape == photo.shape
    # Inside the footprint the round trip reproduces the photo (up to bilinear blur).
    footprint = align_mod.paste_back(np.zeros((512, 512), np.uint8), matrix, photo.shape[:2])
    foot = footprint < 128
    inner = cv2.erode(foot.astype(np.uint8), np.ones((9, 9), np.uint8)).astype(bool)
    assert np.abs(back[inner].astype(int) - photo[inner]).mean() < 1.0
    touched = footprint < 255
    assert (back[~touched] == 255).all() and (~touched).sum() > 100_000
    # The dots land where they were in the photo, also from a half-size drawing.
    np.testing.assert_allclose(_blob_centroids(back[..., 0], pts, r=20), pts, atol=0.5)
    half = cv2.resize(aligned, (256, 256), interpolation=cv2.INTER_AREA)
    back_half = paste_back(half, face, photo.shape[:2])
    np.testing.assert_allclose(_blob_centroids(back_half[..., 0], pts, r=20), pts, atol=1.0)


def test_flip_mirrors_and_swaps():
    rng = np.random.default_rng(3)
    img = rng.integers(0, 256, (40, 60, 3), dtype=np.uint8)
    lm = np.array([[10.0, 12], [40, 11], [25, 20], [15, 30], [38, 31]])
    fimg, flm = flip_horizontal(img, lm)
    np.testing.assert_array_equal(fimg[:, 60 - 1 - 7], img[:, 7])
    # Eyes and mouth corners swap, so image-left stays first; x' = W - 1 - x.
    np.testing.assert_allclose(flm[0], [60 - 1 - 40, 11])
    np.testing.assert_allclose(flm[1], [60 - 1 - 10, 12])
    np.testing.assert_allclose(flm[2], [60 - 1 - 25, 20])
    np.testing.assert_allclose(flm[3], [60 - 1 - 38, 31])
    assert flm[0, 0] < flm[1, 0] and flm[3, 0] < flm[4, 0]
    img2, lm2 = flip_horizontal(fimg, flm)
    np.testing.assert_array_equal(img2, img)
    np.testing.assert_allclose(lm2, lm)
    # The flipped template stays a valid face: the same boxes mirrored.
    np.testing.assert_allclose(flip_landmarks(TEMPLATE_512, 512)[[0, 1]][:, 1], TEMPLATE_512[[1, 0], 1])


# --------------------------------------------------------------------------- boxes and regions


def test_local_boxes_reproduce_spec_worked_example():
    lm = np.array([[194, 248], [314, 249], [261, 312], [209, 368], [302, 371]])  # img_1701_aligned.txt
    boxes = local_boxes(lm, 512)
    assert boxes == {
        "eyel": (138, 200, 250, 280),
        "eyer": (258, 201, 370, 281),
        "nose": (213, 248, 309, 344),
        "mouth": (191, 329, 319, 409),
    }
    for name, (w, h) in {"eyel": (112, 80), "eyer": (112, 80), "nose": (96, 96), "mouth": (128, 80)}.items():
        x0, y0, x1, y1 = boxes[name]
        assert (x1 - x0, y1 - y0) == (w, h)
    # At 256 the base sizes apply: 56x40, 48x48, 64x40.
    b256 = local_boxes(lm // 2, 256)
    assert [(b[2] - b[0], b[3] - b[1]) for b in b256.values()] == [(56, 40), (56, 40), (48, 48), (64, 40)]


def test_txt_convention_round_trip(tmp_path):
    lm0 = np.array([[193.4, 247.5], [313.0, 248.49], [260.6, 311.2], [208.0, 367.0], [301.2, 370.4]])
    np.testing.assert_array_equal(txt_landmarks(lm0), [[194, 249], [314, 249], [262, 312], [209, 368], [302, 371]])
    path = tmp_path / "x.txt"
    path.write_text(landmarks_to_txt(lm0))
    assert path.read_text().splitlines()[0] == "194 249"
    np.testing.assert_array_equal(landmarks_from_txt(path), txt_landmarks(lm0))


def test_box_hair_bg_regions():
    boxes = local_boxes(np.array([[194, 248], [314, 249], [261, 312], [209, 368], [302, 371]]))
    bm = box_mask(boxes)
    assert bm.shape == (512, 512) and bm.dtype == bool
    assert bm[240, 194] and bm[369, 255] and not bm[100, 100] and not bm[220, 254]
    fg = np.zeros((512, 512), np.uint8)
    fg[100:500, 100:420] = 255
    hair = hair_region(fg, boxes)
    np.testing.assert_array_equal(hair, (fg >= 128) & ~bm)
    np.testing.assert_array_equal(bg_region(fg), fg < 128)
    # A box sticking out of the frame is clipped, not wrapped around.
    edge = box_mask({"eyel": (-20, -10, 30, 40)}, 64)
    assert edge[:40, :30].all() and edge.sum() == 40 * 30


# --------------------------------------------------------------------------- MTCNN


def test_mtcnn_weights_load_with_all_keys():
    for name in ("pnet", "rnet", "onet"):
        state = torch.load(weights_dir() / f"{name}.pt", map_location="cpu", weights_only=True)
        net = load_net(name)
        assert set(net.state_dict()) == set(state)
        for k, v in state.items():
            assert torch.equal(net.state_dict()[k], v)
        assert not net.training


def test_nms_hand_made_boxes():
    boxes = torch.tensor(
        [
            [0, 0, 9, 9],  # area 100
            [1, 1, 10, 10],  # IoU with 0: 81 / 119 = 0.68
            [0, 0, 4, 4],  # inside box 0: IoU 0.25, min-overlap 1.0
            [50, 50, 59, 59],  # far away
        ],
        dtype=torch.float64,
    )
    scores = torch.tensor([0.9, 0.8, 0.7, 0.6])
    assert nms(boxes, scores, 0.5, "union").tolist() == [0, 2, 3]
    assert nms(boxes, scores, 0.7, "union").tolist() == [0, 1, 2, 3]
    assert nms(boxes, scores, 0.7, "min").tolist() == [0, 3]
    # Order follows the scores, and the highest score survives.
    assert nms(boxes, torch.tensor([0.1, 0.8, 0.7, 0.9]), 0.5).tolist() == [3, 1, 2]
    assert nms(torch.zeros((0, 4)), torch.zeros(0), 0.5).numel() == 0
    with pytest.raises(ValueError):
        nms(boxes, scores, 0.5, "iou")


@pytest.fixture(scope="module")
def mtcnn() -> MTCNN:
    return MTCNN()


def test_mtcnn_no_face_on_blank(mtcnn):
    assert mtcnn.detect(np.full((300, 400, 3), 255, np.uint8)) == []
    noise = np.random.default_rng(0).integers(0, 256, (240, 320, 3), dtype=np.uint8)
    assert mtcnn.detect(noise) == []
    with pytest.raises(ValueError):
        mtcnn.detect(np.zeros((10, 10), np.uint8))


def test_mtcnn_off_centre_several_faces_and_border_cut(mtcnn):
    photo = load_image(GRACE)
    ref = mtcnn.detect(photo)
    assert len(ref) == 1 and ref[0].score > 0.99
    lm = ref[0].landmarks5
    assert lm[0, 0] < lm[1, 0] and lm[3, 0] < lm[4, 0] and lm[:2, 1].max() < lm[2, 1] < lm[3:, 1].min()

    canvas = np.full((700, 900, 3), 128, np.uint8)
    small = cv2.resize(photo, None, fx=0.4, fy=0.4, interpolation=cv2.INTER_AREA)
    canvas[60 : 60 + small.shape[0], 40 : 40 + small.shape[1]] = small
    big = cv2.resize(photo, None, fx=0.9, fy=0.9, interpolation=cv2.INTER_AREA)
    ox, oy = 520, -120  # top of the big copy cut off by the border, its right side too
    canvas[: oy + big.shape[0], ox:] = big[-oy:, : 900 - ox]
    found = mtcnn.detect(canvas)
    assert len(found) == 2
    assert found[0].area > found[1].area  # largest first
    iod = np.linalg.norm(lm[1] - lm[0])
    for det, s, off in ((found[0], 0.9, (ox, oy)), (found[1], 0.4, (40, 60))):
        expected = lm * s + off
        assert np.linalg.norm(det.landmarks5 - expected, axis=1).mean() < 0.05 * iod * s
    # The border-cut face aligns, with white where the canvas ends.
    aligned, matrix = align_face(canvas, found[0].landmarks5)
    assert (aligned == 255).all(axis=2).mean() > 0.2
    np.testing.assert_allclose(transform_points(found[0].landmarks5, matrix), TEMPLATE_512, atol=6)


def test_mtcnn_downscaled_detection_matches_full_resolution(mtcnn):
    photo = cv2.resize(load_image(GRACE), None, fx=3, fy=3, interpolation=cv2.INTER_CUBIC)
    small_side = MTCNN(max_side=640).detect(photo)[0]
    full = MTCNN(max_side=4000, min_face_size=120).detect(photo)[0]
    iod = np.linalg.norm(full.landmarks5[1] - full.landmarks5[0])
    assert np.linalg.norm(small_side.landmarks5 - full.landmarks5, axis=1).mean() < 0.03 * iod


# --------------------------------------------------------------------------- masks (MediaPipe)


def test_jaw_from_oval_on_circle():
    t = np.linspace(0, 2 * np.pi, 36, endpoint=False)
    oval = np.stack([256 + 100 * np.cos(t), 256 + 130 * np.sin(t)], 1)  # y down: sin>0 is the lower half
    jaw = jaw_from_oval(oval, eye_y=256.0)
    assert (jaw[:, 1] >= 256).all()
    assert jaw[0, 0] < 200 and jaw[-1, 0] > 312  # image-left ear -> image-right ear
    chin = np.argmax(jaw[:, 1])
    assert 0 < chin < len(jaw) - 1 and abs(jaw[chin, 0] - 256) < 10
    assert (np.diff(jaw[:, 0]) > 0).all()  # monotonic along the lower arc
    cycle = list(_ordered_cycle({(0, 1), (2, 1), (3, 2), (0, 3)}))
    assert cycle in ([0, 1, 2, 3], [0, 3, 2, 1])


@pytest.fixture(scope="module")
def pipeline() -> FacePipeline:
    return FacePipeline()


def test_pipeline_outputs_on_example(pipeline):
    photo = load_image(GRACE)
    faces = pipeline(photo)
    assert len(faces) == 1
    face = faces[0]
    m = face.masks
    assert face.aligned.shape == (512, 512, 3) and face.matrix.shape == (2, 3)
    np.testing.assert_allclose(face.landmarks5_aligned, TEMPLATE_512, atol=8)
    assert m.fg.dtype == np.uint8 and set(np.unique(m.fg)) == {0, 255}
    assert 0.2 < (m.fg > 0).mean() < 0.9
    assert m.fg[256, 256] == 255 and m.fg[5, 5] == 0  # face centre is person; corner (flag) is not
    assert set(m.parts) == {"eyel", "eyer", "nose", "mouth"}
    for name, part in m.parts.items():
        assert part.dtype == bool and 1000 < part.sum() < 20000, name
        # Each part mask sits mostly inside its APDrawing box.
        x0, y0, x1, y1 = m.boxes[name]
        assert part[y0:y1, x0:x1].sum() > 0.6 * part.sum(), name
    assert m.parts["eyel"][int(TEMPLATE_512[0, 1]), int(TEMPLATE_512[0, 0])]
    assert m.face_oval[300, 256] and not m.face_oval[20, 20]
    assert m.dense_landmarks.shape == (478, 2)
    jaw = m.jaw
    assert jaw.ndim == 2 and jaw.shape[1] == 2 and len(jaw) > 10
    assert jaw[0, 0] < TEMPLATE_512[0, 0] and jaw[-1, 0] > TEMPLATE_512[1, 0]
    assert jaw[:, 1].max() > TEMPLATE_512[3, 1] + 30  # chin below the mouth
    np.testing.assert_array_equal(m.hair, (m.fg > 0) & ~m.box_mask)
    np.testing.assert_array_equal(m.bg, m.fg == 0)
    # paste_back puts the aligned crop back where the face was.
    back = paste_back(face.aligned, face, photo.shape[:2])
    x1, y1, x2, y2 = (int(v) for v in face.box)
    assert np.abs(back[y1:y2, x1:x2].astype(int) - photo[y1:y2, x1:x2]).mean() < 6
    assert pipeline(np.full((200, 200, 3), 255, np.uint8)) == []
    assert len(pipeline(photo, max_faces=0)) == 0


def test_mediapipe_detector_agrees_with_mtcnn(mtcnn):
    from apdraw.face import MediaPipeDetector

    photo = load_image(GRACE)
    det = MediaPipeDetector()
    found = det.detect(photo)
    assert len(found) == 1 and 0 < found[0].score <= 1
    ref = mtcnn.detect(photo)[0].landmarks5
    iod = np.linalg.norm(ref[1] - ref[0])
    assert np.linalg.norm(found[0].landmarks5 - ref, axis=1).max() < 0.1 * iod
    assert det.detect(np.full((300, 300, 3), 255, np.uint8)) == []
    with pytest.raises(ValueError):
        FacePipeline(detector="dlib", mask_backend=None)


# --------------------------------------------------------------------------- acceptance (shared data)


def _iou(a: np.ndarray, b: np.ndarray) -> float:
    return float((a & b).sum() / max(1, (a | b).sum()))


@pytest.mark.shared_data
def test_acceptance_reference_photos(shared_data, pipeline):
    refs = shared_data / "apdrawing_refs"
    photos = sorted((refs / "photo").glob("*.png"))
    assert photos
    errors, ious = [], []
    for path in photos:
        photo = load_image(path)
        # The .txt holds MATLAB 1-based integers; -1 gives 0-based positions.
        ref_lm = landmarks_from_txt(refs / "landmark" / f"{path.stem}.txt").astype(np.float64) - 1
        dets = pipeline.detect(photo)
        assert dets, path.name
        iod = np.linalg.norm(ref_lm[1] - ref_lm[0])
        errors.append(np.linalg.norm(dets[0].landmarks5 - ref_lm, axis=1).mean() / iod)
        # The photos are already in the template frame: mask them as they are.
        fg = pipeline.mask_backend.masks(photo, ref_lm).fg >= 128
        ref_fg = cv2.imread(str(refs / "bgmask" / path.name), cv2.IMREAD_GRAYSCALE) >= 128
        ious.append(_iou(fg, ref_fg))
    assert np.mean(errors) < 0.04, np.mean(errors)
    assert np.mean(ious) >= 0.95, np.mean(ious)


@pytest.mark.shared_data
def test_mediapipe_detector_on_reference_photos(shared_data):
    from apdraw.face import MediaPipeDetector

    refs = shared_data / "apdrawing_refs"
    det = MediaPipeDetector()
    errors = []
    for path in sorted((refs / "photo").glob("*.png"))[::2]:
        ref_lm = landmarks_from_txt(refs / "landmark" / f"{path.stem}.txt").astype(np.float64) - 1
        found = det.detect(load_image(path))
        assert found, path.name
        errors.append(np.linalg.norm(found[0].landmarks5 - ref_lm, axis=1).mean() / np.linalg.norm(ref_lm[1] - ref_lm[0]))
    assert np.mean(errors) < 0.045, np.mean(errors)


@pytest.mark.shared_data
def test_acceptance_align_example(shared_data, pipeline):
    ex = shared_data / "apdrawing_refs" / "align_example"
    photo = load_image(ex / "img_1701.jpg")
    ref_img = load_image(ex / "img_1701_aligned.png").astype(np.float32)
    ref_txt = landmarks_from_txt(ex / "img_1701_aligned.txt")
    faces = pipeline(photo)
    assert len(faces) == 1
    face = faces[0]
    # Our aligned landmarks vs MATLAB's (both in its 1-based integer convention).
    dist = np.linalg.norm(face.landmarks5_aligned + 1 - ref_txt, axis=1)
    assert dist.max() <= 3.0, dist
    ours = face.aligned.astype(np.float32)
    assert np.abs(ours - ref_img).mean() < 20
    blur = lambda im: cv2.GaussianBlur(im, (0, 0), 2.0)  # noqa: E731 - compare structure, not aliasing
    assert np.abs(blur(ours) - blur(ref_img)).mean() < 12

    # With MATLAB's own detected points, our alignment reproduces its warp.
    from scipy.io import loadmat

    mat_pts = loadmat(str(ex / "img_1701_facial5point.mat"))["facial5point"].astype(np.float64) - 1
    aligned, matrix = align_face(photo, mat_pts)
    assert np.abs(txt_landmarks(transform_points(mat_pts, matrix)) - ref_txt).max() <= 1
    a = aligned.astype(np.float32)
    assert np.abs(a - ref_img).mean() < 8.5
    assert np.abs(blur(a) - blur(ref_img)).mean() < 2.5
    # Background mask of the example too.
    ref_fg = cv2.imread(str(ex / "img_1701_aligned_bgmask.png"), cv2.IMREAD_GRAYSCALE) >= 128
    fg = pipeline.mask_backend.masks(ref_img.astype(np.uint8), ref_txt - 1.0).fg >= 128
    assert _iou(fg, ref_fg) > 0.95


# --------------------------------------------------------------------------- orientation and plausibility


def test_rotated_photos_are_aligned_upright():
    from apdraw.face import FacePipeline
    from apdraw.io import load_image

    fp = FacePipeline(mask_backend=None)
    img = load_image(Path(__file__).resolve().parents[1] / "examples" / "grace_hopper.jpg")
    upright = fp(img)[0].aligned.astype(float)
    for k in (1, 2, 3):
        faces = fp(np.ascontiguousarray(np.rot90(img, k)))
        assert len(faces) == 1
        assert np.abs(faces[0].aligned.astype(float) - upright).mean() < 1.0, f"rotation {90 * k}"


def test_implausible_landmarks_are_rejected():
    from apdraw.face.mtcnn import Detection
    from apdraw.face.pipeline import landmark_residual, plausible

    face = np.array([[40.0, 40], [80, 40], [60, 65], [45, 85], [75, 85]])
    assert landmark_residual(face) < 0.15
    assert plausible(Detection((20.0, 10.0, 100.0, 110.0), 0.99, face))
    # the left eye where a mouth corner should be and vice versa: not a face
    scrambled = np.array([[40.0, 85], [80, 40], [60, 65], [45, 40], [75, 85]])
    assert landmark_residual(scrambled) > 0.3 and not plausible(Detection((20.0, 10.0, 100.0, 110.0), 0.99, scrambled))
    tiny = face * 0.05
    assert not plausible(Detection((0.0, 0.0, 6.0, 6.0), 0.99, tiny))  # eyes 2 px apart
    outside = face + [300, 0]
    assert not plausible(Detection((20.0, 10.0, 100.0, 110.0), 0.99, outside))


def test_unrotate_points_inverts_rot90():
    from apdraw.face.pipeline import unrotate_points

    img = np.zeros((5, 7))
    img[1, 2] = 1
    for k in range(4):
        y, x = np.argwhere(np.rot90(img, k) == 1)[0]
        assert unrotate_points(np.array([[x, y]]), k, img.shape).tolist() == [[2.0, 1.0]]


def _naive_nms(boxes, scores, threshold, mode):
    """The textbook greedy NMS, one box at a time (slow, obviously right)."""
    order = sorted(range(len(scores)), key=lambda i: -scores[i])  # sorted() is stable: ties keep index order
    keep = []
    for i in order:
        ok = True
        for j in keep:
            iw = min(boxes[i][2], boxes[j][2]) - max(boxes[i][0], boxes[j][0]) + 1
            ih = min(boxes[i][3], boxes[j][3]) - max(boxes[i][1], boxes[j][1]) + 1
            inter = max(iw, 0) * max(ih, 0)
            ai = (boxes[i][2] - boxes[i][0] + 1) * (boxes[i][3] - boxes[i][1] + 1)
            aj = (boxes[j][2] - boxes[j][0] + 1) * (boxes[j][3] - boxes[j][1] + 1)
            if inter / (min(ai, aj) if mode == "min" else ai + aj - inter) > threshold:
                ok = False
                break
        if ok:
            keep.append(i)
    return keep


def test_blocked_nms_equals_the_textbook_one():
    from apdraw.face.mtcnn_common import nms_numpy

    rng = np.random.default_rng(0)
    for mode in ("union", "min"):
        for n in (0, 1, 7, 300, 1200):  # 1200 > 1000: the overlaps come in several blocks
            boxes = rng.integers(0, 100, (n, 4)).astype(np.float64)
            boxes[:, 2:] += boxes[:, :2]
            scores = rng.integers(0, 10, n).astype(np.float64)  # ties: the stable order decides
            assert nms_numpy(boxes, scores, 0.4, mode).tolist() == _naive_nms(boxes.tolist(), scores.tolist(), 0.4, mode)
