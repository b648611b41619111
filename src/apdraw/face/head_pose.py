"""Head pose from a photo: MediaPipe's face mesh, then a perspective-n-point fit to a generic face.

Used by SAGE's data (:mod:`apdraw.data.sage`, the training photos' poses) and by
:meth:`apdraw.multiview.MultiViewGenerator.invert` (the pose of a user's photo); one
implementation for both.

The angles are in the SAGE camera convention (:mod:`apdraw.models.sage.renderer`): the
camera sits at (sin φ cos θ, cos φ, sin φ sin θ) looking at the head, θ = φ = π/2 is
frontal; θ > π/2 when the face turns towards the image right (its nose points right),
φ < π/2 when it looks down (camera above). :func:`pose_from_points` returns the *raw*
pitch; :data:`apdraw.data.sage.PITCH_OFFSET` calibrates it against the training set.

Method: MediaPipe's face mesh (:mod:`apdraw.face.mediapipe_backend`) on the photo, then
``cv2.solvePnP`` (focal length = the image side, about 53° field of view) of six mesh
points (nose tip, chin, outer eye corners, mouth corners) to :data:`GENERIC_FACE`. The
face's forward direction, seen along the ray from the camera to the nose tip, gives
(θ, φ); the roll is dropped (SAGE's cameras have none).
"""

from __future__ import annotations

import math

import cv2
import numpy as np

# Generic 3D face in the OpenCV camera frame of a frontal face (x image-right, y down,
# z away from the camera), arbitrary units (outer eye corners 450 apart), nose tip at the
# origin: a common average-face approximation, symmetric in x.
GENERIC_FACE = np.array(
    [
        (0.0, 0.0, 0.0),  # nose tip
        (0.0, 330.0, 65.0),  # chin
        (-225.0, -170.0, 135.0),  # outer corner of the image-left eye
        (225.0, -170.0, 135.0),  # outer corner of the image-right eye
        (-150.0, 150.0, 125.0),  # image-left mouth corner
        (150.0, 150.0, 125.0),  # image-right mouth corner
    ]
)
# MediaPipe face-mesh indices of those points (the canonical 468-point topology):
# 1 nose tip, 152 chin, 33 / 263 outer eye corners, 61 / 291 mouth corners.
MESH_POINTS = (1, 152, 33, 263, 61, 291)


def pose_from_points(
    points: np.ndarray, image_size: tuple[int, int], focal: float | None = None
) -> tuple[float, float] | None:
    """Head (yaw, pitch) from the 2D positions of the :data:`GENERIC_FACE` points.

    Args:
        points: (6, 2) 0-based pixel positions (x, y) of the points of :data:`MESH_POINTS`.
        image_size: (width, height) of the photo; the principal point is its centre.
        focal: focal length in pixels (None: max(width, height)).

    Returns:
        (yaw θ, pitch φ) radians in the SAGE camera convention (module doc), raw (no
        ``pitch_offset``), θ, φ in (0, π); None when the fit fails or puts the face
        behind the camera.
    """
    pts = np.asarray(points, np.float64).reshape(len(MESH_POINTS), 2)
    w, h = image_size
    f = float(focal or max(w, h))
    k = np.array([[f, 0.0, (w - 1) / 2], [0.0, f, (h - 1) / 2], [0.0, 0.0, 1.0]])
    eye_px = float(np.linalg.norm(pts[3] - pts[2]))
    if not np.isfinite(pts).all() or eye_px < 1.0:
        return None
    # Start from a frontal face at the depth its eye distance implies, so that the
    # iterative fit does not wander to the mirrored solution behind the camera.
    z0 = f * (GENERIC_FACE[3, 0] - GENERIC_FACE[2, 0]) / eye_px
    t0 = np.array([[(pts[0, 0] - k[0, 2]) * z0 / f], [(pts[0, 1] - k[1, 2]) * z0 / f], [z0]])
    ok, rvec, tvec = cv2.solvePnP(GENERIC_FACE, pts, k, None, np.zeros((3, 1)), t0, useExtrinsicGuess=True,
                                  flags=cv2.SOLVEPNP_ITERATIVE)  # fmt: skip
    t = tvec.ravel()
    if not ok or t[2] <= 0:
        return None
    rot, _ = cv2.Rodrigues(rvec)
    forward = rot @ np.array([0.0, 0.0, -1.0])  # where the nose points, camera frame
    # A frame whose z is the ray to the nose tip (the SAGE camera looks at the head).
    wz = t / np.linalg.norm(t)
    wx = np.cross([0.0, 1.0, 0.0], wz)
    wx /= np.linalg.norm(wx)
    wy = np.cross(wz, wx)
    fx, fy, fz = float(wx @ forward), float(wy @ forward), float(wz @ forward)
    # SAGE: the face direction in OpenCV camera axes is (-cos θ, cos φ sin θ, -sin φ sin θ).
    yaw = math.atan2(math.hypot(fy, fz), -fx)
    pitch = math.atan2(-fz, fy)
    if not (0.0 < pitch < math.pi):
        return None
    return yaw, pitch


class HeadPoseEstimator:
    """Head pose of the most prominent face in a photo: MediaPipe face mesh + :func:`pose_from_points`.

    One MediaPipe graph per instance (slow to build, not thread-safe: one instance per thread).

    Args:
        min_confidence: the face mesh's detection threshold.
        quiet: hide MediaPipe's native log lines.
    """

    def __init__(self, min_confidence: float = 0.5, quiet: bool = True) -> None:
        from apdraw.face.mediapipe_backend import _mp_solutions, _quiet_native_stderr

        self._quiet_ctx = _quiet_native_stderr
        self.quiet = quiet
        with _quiet_native_stderr(quiet):
            self._mesh = _mp_solutions().face_mesh.FaceMesh(
                static_image_mode=True, max_num_faces=1, refine_landmarks=False, min_detection_confidence=min_confidence
            )
            # The graph initialises lazily (and logs) on its first frame: do it now, quietly. Static-image
            # mode keeps no state between frames, so this changes no estimate.
            self._mesh.process(np.full((64, 64, 3), 255, np.uint8))

    def landmarks(self, image: np.ndarray) -> np.ndarray | None:
        """(H, W, 3) uint8 RGB -> (468, 2) 0-based pixel positions of the face mesh, or None (no face)."""
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected an (H, W, 3) uint8 RGB image, got {image.shape} {image.dtype}")
        h, w = image.shape[:2]
        with self._quiet_ctx(self.quiet):
            faces = self._mesh.process(np.ascontiguousarray(image)).multi_face_landmarks
        if not faces:
            return None
        # Normalised coordinates count pixel edges; shift to 0-based pixel centres.
        return np.array([(p.x, p.y) for p in faces[0].landmark], np.float64) * (w, h) - 0.5

    def estimate(self, image: np.ndarray) -> tuple[float, float] | None:
        """(H, W, 3) uint8 RGB -> raw (yaw, pitch) radians (SAGE convention, no offset), or None (no face)."""
        mesh = self.landmarks(image)
        if mesh is None:
            return None
        return pose_from_points(mesh[list(MESH_POINTS)], (image.shape[1], image.shape[0]))
