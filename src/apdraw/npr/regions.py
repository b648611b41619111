"""Face geometry and region estimates used by the drawing engine.

Everything here works on an image aligned to the APDrawing 512 template, so when no
landmarks are given the template's own five points are used.
"""

from __future__ import annotations

import cv2
import numpy as np

from apdraw.npr.config import DarkConfig, HairConfig
from apdraw.npr.lines import fill_small_holes, remove_small

# APDrawing template (apdraw.face.align.TEMPLATE_512), 0-based pixels in the 512 frame: left eye, right eye,
# nose tip, left mouth corner, right mouth corner.
TEMPLATE_5PTS = np.array(
    [[200.143, 245.857], [309.857, 245.857], [255.000, 310.771], [205.629, 369.834], [304.371, 369.834]],
    np.float32,
)


def template_landmarks(shape: tuple[int, int]) -> np.ndarray:
    """The template's 5 points scaled to an (H, W) aligned image. Returns (5, 2) float32 (x, y)."""
    h, w = shape
    return TEMPLATE_5PTS * np.array([w / 512.0, h / 512.0], np.float32)


class FaceGeometry:
    """Derived face measurements from the 5 landmarks (x, y pixel coordinates).

    Proportions (chin at ~1.75, hairline at ~0.8 eye distances from the eye line, half
    width ~1.05) were measured on MediaPipe face meshes of the APDrawing reference photos.
    """

    def __init__(self, landmarks5: np.ndarray):
        lm = np.asarray(landmarks5, np.float32).reshape(5, 2)
        self.landmarks = lm
        self.eye_l, self.eye_r, self.nose = lm[0], lm[1], lm[2]
        self.mouth = (lm[3] + lm[4]) / 2.0
        self.eye_mid = (lm[0] + lm[1]) / 2.0
        self.d = float(max(np.linalg.norm(lm[1] - lm[0]), 1.0))  # inter-ocular distance

    def oval(self, shape: tuple[int, int], jaw: np.ndarray | None = None) -> np.ndarray:
        """Face region (brows to chin, cheek to cheek) as an (H, W) bool mask.

        With a jaw polyline the lower boundary follows it and the top is closed by an
        elliptical forehead arc; without one an ellipse is used.
        """
        h, w = shape
        mask = np.zeros((h, w), np.uint8)
        cx, ey, d = float(self.eye_mid[0]), float(self.eye_mid[1]), self.d
        if jaw is not None and len(jaw) >= 3:
            jaw = np.asarray(jaw, np.float32)
            left, right = jaw[0], jaw[-1]
            if left[0] > right[0]:
                left, right = right, left
                jaw = jaw[::-1]
            top = ey - 0.8 * d
            # Forehead arc from the right end back to the left end.
            a = np.linspace(0.0, np.pi, 24)
            rx = (right[0] - left[0]) / 2.0
            mx = (right[0] + left[0]) / 2.0
            base = min(left[1], right[1])
            arc = np.stack([mx + rx * np.cos(a), base - (base - top) * np.sin(a)], 1)
            poly = np.concatenate([jaw, arc[1:-1]], 0)
            cv2.fillPoly(mask, [np.round(poly * 16).astype(np.int32)], 1, cv2.LINE_8, shift=4)
        else:
            centre = (int(round(cx * 16)), int(round((ey + 0.475 * d) * 16)))
            axes = (int(round(1.05 * d * 16)), int(round(1.275 * d * 16)))
            cv2.ellipse(mask, centre, axes, 0.0, 0.0, 360.0, 1, -1, cv2.LINE_8, shift=4)
        return mask.astype(bool)

    def eye_regions(self, shape: tuple[int, int]) -> list[np.ndarray]:
        """The two eye areas as (H, W) bool ellipses (image-left eye first).

        About the APDrawing 112x80 eye box at d = 110 px, centred 8 px above the eye;
        ellipses, not boxes, so thresholds that change at their border leave no straight
        cut in a fill.
        """
        h, w = shape
        axes = (int(round(0.5 * self.d * 16)), int(round(0.3 * self.d * 16)))
        out = []
        for e in (self.eye_l, self.eye_r):
            mask = np.zeros((h, w), np.uint8)
            centre = (int(round(e[0] * 16)), int(round((e[1] - 0.07 * self.d) * 16)))
            cv2.ellipse(mask, centre, axes, 0.0, 0.0, 360.0, 1, -1, cv2.LINE_8, shift=4)
            out.append(mask.astype(bool))
        return out

    def cheek_boxes(self, shape: tuple[int, int]) -> list[tuple[slice, slice]]:
        """Two skin sample windows below the eyes, as (rows, cols) slices."""
        h, w = shape
        out = []
        for e in (self.eye_l, self.eye_r):
            x0, x1 = int(max(0, e[0] - 0.25 * self.d)), int(min(w, e[0] + 0.25 * self.d))
            y0, y1 = int(max(0, e[1] + 0.4 * self.d)), int(min(h, e[1] + 0.8 * self.d))
            if x1 > x0 and y1 > y0:
                out.append((slice(y0, y1), slice(x0, x1)))
        return out


def lip_shading(rgb: np.ndarray, geom: FaceGeometry, gain: float) -> np.ndarray:
    """Extra darkness for lips: how much redder than the cheeks each mouth-area pixel is.

    Lips often differ from skin in hue more than in luminance, so a luminance-only line
    detector misses their outline. Around the mouth (a soft window of ~1.4 x 0.8 eye
    distances) this returns min(0.5, `gain` * max(0, a* - a*_cheeks) / 100), a fraction
    by which to darken the luminance before line extraction. Darkening is multiplicative
    and capped so the lips keep their own inner contrast (the line between them).

    Args:
        rgb: (H, W, 3) uint8 aligned photo.
        geom: face landmarks.
        gain: luminance drop per 100 units of extra Lab a*.

    Returns:
        (H, W) float32 in [0, 0.5], zero away from the mouth.
    """
    h, w = rgb.shape[:2]
    out = np.zeros((h, w), np.float32)
    d = geom.d
    mx, my = float(geom.mouth[0]), float(geom.mouth[1])
    x0, x1 = int(max(0, mx - 0.75 * d)), int(min(w, mx + 0.75 * d))
    y0, y1 = int(max(0, my - 0.45 * d)), int(min(h, my + 0.45 * d))
    cheeks = geom.cheek_boxes((h, w))
    if gain <= 0 or x1 <= x0 or y1 <= y0 or not cheeks:
        return out
    a_skin = float(np.median(np.concatenate([
        cv2.cvtColor(rgb[r, c].astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[..., 1].ravel() for r, c in cheeks
    ])))
    a = cv2.cvtColor(rgb[y0:y1, x0:x1].astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)[..., 1]
    yy, xx = np.mgrid[y0:y1, x0:x1].astype(np.float32)
    # Smooth window so no artificial edge appears at the box border.
    window = np.clip(1.0 - ((xx - mx) / (0.75 * d)) ** 2 - ((yy - my) / (0.45 * d)) ** 2, 0.0, 1.0)
    out[y0:y1, x0:x1] = np.minimum(0.5, gain * np.maximum(a - a_skin, 0.0) / 100.0) * np.sqrt(window)
    return out


def skin_reference(lum: np.ndarray, geom: FaceGeometry) -> float:
    """Median luminance of the cheeks, clamped to [0.15, 1]. `lum` is (H, W) float in [0, 1]."""
    samples = [lum[r, c].ravel() for r, c in geom.cheek_boxes(lum.shape)]
    values = np.concatenate(samples) if samples else lum.ravel()
    return float(np.clip(np.median(values), 0.15, 1.0))


def smooth_mask(mask: np.ndarray, sigma: float) -> np.ndarray:
    """Blur a binary mask and re-threshold at 0.5: rounds corners, removes jaggies. bool -> bool."""
    if sigma <= 0:
        return mask.astype(bool)
    return cv2.GaussianBlur(mask.astype(np.float32), (0, 0), sigma) > 0.5


def dark_regions(
    lum: np.ndarray, skin: float, face: np.ndarray, eyes: list[np.ndarray], cfg: DarkConfig, scale: float
) -> np.ndarray:
    """Regions dark enough to be filled solid black.

    The threshold is `cfg.ratio` * skin in general, the stricter `cfg.face_ratio` inside
    the face oval (shadows on skin stay white), and inside each eye ellipse the smaller
    of `cfg.eye_ratio` * skin and the eye's own `cfg.eye_quantile` luminance quantile:
    irises fill, but a shadowed eye socket cannot turn into one black blob.

    Args:
        lum: (H, W) float32 luminance in [0, 1] (already edge-preservingly smoothed).
        skin: skin brightness in (0, 1] that the thresholds are relative to.
        face: (H, W) bool face oval.
        eyes: (H, W) bool eye ellipses.
        cfg: thresholds and cleanup sizes (at 512 px).
        scale: image size / 512.

    Returns:
        (H, W) bool, True = black fill.
    """
    blurred = cv2.GaussianBlur(lum, (0, 0), cfg.smooth_sigma * scale)
    thresh = np.where(face, np.float32(cfg.face_ratio * skin), np.float32(cfg.ratio * skin))
    for eye in eyes:
        if eye.any():
            local = float(np.quantile(blurred[eye], cfg.eye_quantile))
            thresh[eye] = min(cfg.eye_ratio * skin, local)
    dark = blurred < thresh
    dark = smooth_mask(dark, cfg.shape_sigma * scale)
    area = scale * scale
    dark = remove_small(dark, int(cfg.min_area * area))
    return fill_small_holes(dark, int(cfg.max_hole * area))


def _robust_model(lab: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Per-channel median and robust spread (1.4826 * MAD, floored) of (N, 3) Lab samples."""
    med = np.median(lab, axis=0)
    spread = 1.4826 * np.median(np.abs(lab - med), axis=0)
    return med, np.maximum(spread, np.array([4.0, 2.0, 2.0], np.float32))


def _within(lab: np.ndarray, model: tuple[np.ndarray, np.ndarray], tol: float) -> np.ndarray:
    med, spread = model
    z = (lab - med) / spread
    return np.sqrt((z * z).sum(-1)) < tol


def estimate_hair_mask(
    rgb: np.ndarray, fg: np.ndarray, geom: FaceGeometry, face: np.ndarray, cfg: HairConfig, scale: float
) -> np.ndarray:
    """Guess the hair region when no hair mask is supplied.

    Runs at 256 px (colour statistics need no more) and is upsampled:
    1. A skin colour model (Lab, median/MAD) comes from the cheeks; a hair colour model
       from the foreground band above the hairline (non-skin pixels there).
    2. Hair candidates are foreground pixels that are not skin, close to the hair colour
       or darker than it (shadowed hair), and outside the face oval (bangs may enter the
       oval above the brows).
    3. Only candidate components touching the band above the forehead are kept, so
       clothes of another colour and background leaks are dropped.

    Args:
        rgb: (H, W, 3) uint8 aligned photo; fg, face: (H, W) bool person / face oval.
        geom: the face's landmarks; cfg: colour tolerances; scale: image size / 512.

    Returns:
        (H, W) bool; empty when the band holds no non-skin foreground (bald heads, hats),
        so no hair strokes are drawn.
    """
    h, w = fg.shape
    f = min(1.0, 0.5 / scale)
    sh, sw = max(8, int(round(h * f))), max(8, int(round(w * f)))
    fx, fy = sw / w, sh / h
    small = cv2.resize(rgb, (sw, sh), interpolation=cv2.INTER_AREA)
    fg_s = cv2.resize(fg.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST) > 0
    face_s = cv2.resize(face.astype(np.uint8), (sw, sh), interpolation=cv2.INTER_NEAREST) > 0
    g = FaceGeometry(geom.landmarks * np.array([fx, fy], np.float32))
    s = scale * f

    lab = cv2.cvtColor(small.astype(np.float32) / 255.0, cv2.COLOR_RGB2Lab)
    cheeks = g.cheek_boxes((sh, sw))
    if not cheeks:
        return np.zeros((h, w), bool)
    skin_model = _robust_model(np.concatenate([lab[r, c].reshape(-1, 3) for r, c in cheeks]))
    skin = _within(lab, skin_model, cfg.skin_tolerance)

    cx, ey, d = float(g.eye_mid[0]), float(g.eye_mid[1]), g.d
    y0, y1 = int(max(0, ey - 1.7 * d)), int(max(0, ey - 0.9 * d))
    x0, x1 = int(max(0, cx - 0.9 * d)), int(min(sw, cx + 0.9 * d))
    band = np.zeros((sh, sw), bool)
    band[y0:y1, x0:x1] = True
    seed = band & fg_s & ~skin
    if seed.sum() < 50 * s * s:
        return np.zeros((h, w), bool)
    hair_model = _robust_model(lab[seed])
    ys = np.arange(sh, dtype=np.float32)[:, None]
    allowed = ~face_s | (ys < ey - 0.5 * d)  # bangs may cover the forehead, not the brows
    # Hair in shadow is darker than the lit band the model came from, so anything darker
    # than the model's median also counts.
    like_hair = _within(lab, hair_model, cfg.color_tolerance) | (lab[..., 0] < hair_model[0][0])
    cand = fg_s & ~skin & like_hair & allowed
    k = max(3, int(round(5 * s)) | 1)
    cand = cv2.morphologyEx(cand.astype(np.uint8), cv2.MORPH_CLOSE, cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (k, k))) > 0
    cand &= fg_s
    n, labels = cv2.connectedComponents(cand.astype(np.uint8), connectivity=8)
    keep = np.zeros(n, bool)
    keep[np.unique(labels[cand & band])] = True
    keep[0] = False
    hair = fill_small_holes(keep[labels], int(400 * s * s))
    soft = cv2.GaussianBlur(hair.astype(np.float32), (0, 0), max(0.5, 2.0 * s))
    return (cv2.resize(soft, (w, h), interpolation=cv2.INTER_LINEAR) > 0.5) & fg
