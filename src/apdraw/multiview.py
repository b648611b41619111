"""Identities from any viewpoint: SAGE's generator as an API (``apdraw generate`` and ``apdraw views`` run it).

Usage::

    mv = MultiViewGenerator.from_pretrained()                # the shipped generator of the default style
    mv = MultiViewGenerator.from_pretrained(style="npr")     # ... of another style: the same faces, drawn otherwise
    mv = MultiViewGenerator.from_pretrained("sage.safetensors")   # or a generator of your own
    view = mv.render(seed=3, yaw_deg=-15)      # view.drawing (H, W) uint8, view.photo (H, W, 3) uint8,
    color = view.semantic_color()              # view.semantic (H, W) uint8 class ids 0..18
    views = mv.sweep(3, [-30, -15, 0, 15, 30])  # the same identity turning
    mid = mv.interpolate(3, 7, 0.5, yaw_deg=0)  # half-way between identities 3 and 7

    fit = mv.invert(load_image("me.jpg"), steps=200)   # your own face: a code w fitted to the photo
                                                        # (started by the code encoder where one fits)
    side = mv.render_code(fit.code, yaw_deg=30)         # ... drawn from another angle

    parts = mv.render_parts(3, yaw_deg=-15)    # what G_p gets: parts.image, parts.semantic (logits), parts.depth
    edited = edit_semantic(parts.semantic, grow_hair=6, remove=("eyeglasses",))
    drawing = mv.translate(parts.image, edited)   # (S, S) uint8; unedited: equals render(3, -15).drawing

**Editing** (:func:`edit_semantic`, SAGE's semantic editing): the label map (the argmax of the
semantic logits) is edited (hair grown by a disk dilation that leaves the inner face parts alone,
or shrunk by erosion with the freed pixels taking their nearest remaining non-hair label; removed
classes become ``fill``), and the logits follow it: at each changed pixel the old and the new
class's logits swap places, so the argmax is the edited map and every value stays one the
translator G_p saw in training. :meth:`MultiViewGenerator.translate` then redraws.

**Inversion** (:meth:`MultiViewGenerator.invert`, ours, beyond the paper): the face
pipeline finds the largest face and its 5 landmarks; a similarity maps them onto
:data:`FRAME_LANDMARKS`, the mean landmarks of SAGE's training crop (the CelebAMask-HQ
frame, centre 8/9, :mod:`apdraw.data.sage`), so the photo lands in the frame the generator
was trained in. The head pose comes from :class:`apdraw.face.head_pose.HeadPoseEstimator`
on the full 512² CelebAMask-HQ-framed image, calibrated with the data's
:data:`~apdraw.data.sage.PITCH_OFFSET` exactly as the training photos' poses; the parser
(:class:`apdraw.models.parser.FaceParser`) labels the same frame in 19 classes. Then,
with every network frozen and the camera at that pose, Adam fits the mapping code w
(w_s space; the FiLM parameters are the mapping head of w,
:meth:`~apdraw.models.sage.MappingNetwork.from_code`) to the crop, started from the code
encoder's guess where the generator has one (:mod:`apdraw.models.sage.encoder`, ours: a
linear map from the crop's MobileNetV2 features to the warm start's learned codes; the
shipped generators have one) and from the mean latent otherwise: the photometric loss
(λ·L1 + (1 − λ)·SSIM, :func:`apdraw.losses.sage.photometric_loss`) on the decoded photo
plus the semantic cross-entropy on the decoded label map, as the reconstruction stage of
``apdraw train sage`` fits held-out photos.

**Angles** are degrees relative to the frontal view: ``yaw_deg = pitch_deg = 0`` is
the renderer's θ = φ = π/2 (:mod:`apdraw.models.sage.renderer`), and
θ = π/2 + yaw, φ = π/2 + pitch in radians. Positive yaw turns the face to the
image's right (its nose points right); positive pitch turns it up (the camera is
below the face; its nose points up). |yaw| <= 90, |pitch| < 90 (the camera's
orientation is undefined at the poles). ``tests/test_multiview.py`` checks the
directions by projecting a point in front of the face with the renderer's cameras.

**Determinism.** The network runs in eval mode. A seed's z is drawn from a
``torch.Generator`` seeded with the seed alone (on the CPU, so the identity does
not depend on the device), so one seed is one identity at every viewpoint; the
renderer's sample jitter (``renderer.jitter_at_eval``, as the original) comes
from a generator seeded with a hash of (seed, yaw, pitch), so a view is the same
on every call and independent of the other views rendered. Truncation pulls the
latent towards the mean of 10,000 mapped z (seeded): ψ = 1 leaves it, ψ = 0 is
the average identity.

**Interpolation** is linear in the mapping network's output (frequencies, phases
and the decoder code w_s; the frequencies and phases are an affine function of
w_s, so this is interpolation in w space). Its jitter is seed_a's, so ``t = 0``
gives exactly ``render(seed_a, ...)``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Callable, Iterable

import cv2
import numpy as np
import torch
import torch.nn.functional as F

from apdraw.data.sage import PITCH_OFFSET, SageDataConfig, centre_crop_box, centre_crop_resize
from apdraw.face.align import fit_similarity, transform_points
from apdraw.losses.sage import SageLossConfig, photometric_loss, semantic_cross_entropy
from apdraw.models.parser import CLASS_NAMES, colorize
from apdraw.models.sage import Cameras, Latent, SageGenerator, load_generator
from apdraw.models.sage.encoder import DEFAULT_ENCODER, CodeEncoder, PhotoFeatures, load_code_encoder, mapping_fingerprint
from apdraw.runtime import torch_threads

MAX_YAW = 90.0  # degrees either side of frontal
MAX_PITCH = 90.0  # exclusive: the camera's orientation is undefined at the poles
MEAN_LATENT_SAMPLES = 10_000
MEAN_LATENT_SEED = 0
MAX_SEED = 2**63 - 1

# SAGE's frame: the training photos are CelebAMask-HQ's 512² frames cropped to their centre
# CROP_FRACTION (= 8/9, apdraw.data.sage.centre_crop_resize) and resized to the generator's size.
CROP_FRACTION = SageDataConfig.crop_fraction
FULL_FRAME = 512  # side of the CelebAMask-HQ frame the pose and the parse are computed in (as the data's)
# The mean 5-point landmarks of that crop, (x, y) as fractions of its side in continuous coordinates
# ((pixel + 0.5) / side), in the face pipeline's order: image-left eye, image-right eye, nose tip,
# image-left and image-right mouth corners. Measured once by scripts/sage_frame_landmarks.py: each of
# the 900 CelebAMask-HQ-mini photos cropped with centre_crop_resize(photo, 512, 8/9), the largest face's
# landmarks from FacePipeline(detector="mtcnn") (found in all 900), averaged. Spread over the photos
# (std, fractions): eyes 0.013-0.016 in x and 0.010-0.012 in y, nose 0.038 / 0.028, mouth corners
# 0.022 / 0.026 (the poses vary).
FRAME_LANDMARKS = np.array(
    [
        (0.3627, 0.4717),  # image-left eye
        (0.6396, 0.4720),  # image-right eye
        (0.4990, 0.6423),  # nose tip
        (0.3766, 0.7626),  # image-left mouth corner
        (0.6239, 0.7622),  # image-right mouth corner
    ]
)
FIT_SEED = 0  # the renderer's sample jitter while fitting and when rendering a code


@dataclass(frozen=True)
class View:
    """One rendered view. S = the generator's output side (128 for the compact config).

    drawing (S, S) uint8, 255 = paper; photo (S, S, 3) uint8 RGB (the image decoder's
    output); semantic (S, S) uint8 class ids 0..18 (CelebAMask-HQ order,
    :data:`apdraw.models.parser.CLASS_NAMES`); the view's angles in degrees.
    """

    drawing: np.ndarray
    photo: np.ndarray
    semantic: np.ndarray
    yaw_deg: float
    pitch_deg: float

    def semantic_color(self) -> np.ndarray:
        """(S, S, 3) uint8: the label map in the parser's 19-colour CelebAMask-HQ palette."""
        return colorize(self.semantic)


@dataclass(frozen=True)
class Parts:
    """One view as the generator renders it before the translator G_p (batch 1, on the generator's device).

    S = the output side, R = the NeRF render resolution, C = the field's feature width.
    image (1, 3, S, S): the image decoder's raw RGB (about [-1, 1]); semantic (1, 19, S, S): the
    semantic decoder's class logits; features (1, C, R, R): the rendered features the decoders
    read; depth (1, 1, R, R): the rendered depth along the unit rays (world units from the
    camera); cameras: the view's :class:`~apdraw.models.sage.Cameras`; the angles in degrees.
    Decoded pixel (i, j) of S sits where NeRF cell ((i + ½)·R/S − ½, ...) is (the decoders
    upsample the R² map by nearest / half-pixel steps), :func:`apdraw.eval.multiview.pixel_rays`.
    """

    image: torch.Tensor
    semantic: torch.Tensor
    features: torch.Tensor
    depth: torch.Tensor
    cameras: Cameras
    yaw_deg: float
    pitch_deg: float

    @property
    def labels(self) -> np.ndarray:
        """(S, S) uint8 class ids 0..18: the argmax of the logits (``View.semantic``)."""
        return self.semantic[0].argmax(0).to(torch.uint8).cpu().numpy()

    @property
    def photo(self) -> np.ndarray:
        """(S, S, 3) uint8 RGB (``View.photo``)."""
        return _to_u8(self.image[0].float().clamp(-1, 1).permute(1, 2, 0))


def _to_u8(x: torch.Tensor) -> np.ndarray:
    """[-1, 1] -> uint8, rounded."""
    return ((x + 1) * 127.5).round().to(torch.uint8).cpu().numpy()


# The inner face parts that growing the hair leaves alone (edit_semantic's ``keep``).
FACE_PARTS = ("nose", "eyeglasses", "l_eye", "r_eye", "l_brow", "r_brow", "mouth", "u_lip", "l_lip")


def _class_id(name: str | int) -> int:
    if isinstance(name, (int, np.integer)) and not isinstance(name, bool):
        if not 0 <= int(name) < len(CLASS_NAMES):
            raise ValueError(f"a class id is 0..{len(CLASS_NAMES) - 1}, got {name}")
        return int(name)
    if name not in CLASS_NAMES:
        raise ValueError(f"unknown class {name!r}; known: {', '.join(CLASS_NAMES)}")
    return CLASS_NAMES.index(name)


def _disk(radius: int) -> np.ndarray:
    return cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * radius + 1, 2 * radius + 1))


def _nearest_fill(labels: torch.Tensor, unknown: torch.Tensor, exclude: int) -> torch.Tensor:
    """Give each ``unknown`` pixel the label of its nearest known pixel that is not ``exclude``.

    Grows the known labels one 3x3 ring at a time (majority of the known neighbours, lowest class
    id on ties) until every unknown pixel has one; background where nothing is known at all.
    """
    labels = labels.clone()
    todo = unknown.clone()
    known = ~todo & (labels != exclude)
    n = len(CLASS_NAMES)
    while todo.any():
        one_hot = F.one_hot(labels.long(), n).permute(2, 0, 1).float() * known.float()[None]
        counts = F.conv2d(one_hot[:, None], torch.ones(1, 1, 3, 3), padding=1)[:, 0]
        reach = todo & (counts.sum(0) > 0)
        if not reach.any():
            labels[todo] = 0
            break
        labels[reach] = counts.argmax(0)[reach].to(labels.dtype)
        known |= reach
        todo &= ~reach
    return labels


def edit_semantic(
    logits: torch.Tensor | np.ndarray,
    grow_hair: int = 0,
    remove: Iterable[str | int] = (),
    fill: str | int = "skin",
    keep: Iterable[str | int] = FACE_PARTS,
) -> torch.Tensor:
    """Edit a semantic map given as logits (SAGE's semantic editing); see the module doc's "Editing".

    Args:
        logits: (19, H, W) or (1, 19, H, W) class logits (``Parts.semantic``), torch or numpy.
        grow_hair: pixels; > 0 dilates the hair class by a disk of that radius (over every class
            but ``keep``), < 0 erodes it by a disk of radius −grow_hair (the image border counts as
            hair, so hair leaving the frame is not eaten from the edge); freed pixels take the label
            of the nearest remaining non-hair pixel.
        remove: classes (names of :data:`apdraw.models.parser.CLASS_NAMES` or ids) relabelled ``fill``
            (first, before the hair edit).
        fill: the class removed ones become.
        keep: classes growing hair never overwrites (default :data:`FACE_PARTS`).

    Returns:
        float32 logits of the input's shape (CPU), whose argmax is the edited label map: at each
        changed pixel the logits of its old and new class are exchanged; unchanged pixels keep
        theirs exactly.
    """
    x = torch.as_tensor(np.asarray(logits) if not isinstance(logits, torch.Tensor) else logits).detach().float().cpu()
    batched = x.dim() == 4
    if batched:
        if x.shape[0] != 1:
            raise ValueError(f"edit_semantic takes one map, got a batch of {x.shape[0]}")
        x = x[0]
    if x.dim() != 3 or x.shape[0] != len(CLASS_NAMES):
        raise ValueError(f"logits must be ({len(CLASS_NAMES)}, H, W) or (1, {len(CLASS_NAMES)}, H, W), got {tuple(x.shape)}")
    if isinstance(grow_hair, bool) or not isinstance(grow_hair, (int, np.integer)):
        raise ValueError(f"grow_hair is an integer number of pixels, got {grow_hair!r}")
    hair = CLASS_NAMES.index("hair")
    fill_id = _class_id(fill)
    removed_ids = {_class_id(c) for c in remove}
    if fill_id in removed_ids:
        raise ValueError(f"fill {fill!r} is one of the removed classes")
    keep_ids = [_class_id(c) for c in keep]
    labels = x.argmax(0)
    new = labels.clone()
    for c in removed_ids:
        new[new == c] = fill_id
    r = abs(int(grow_hair))
    if r:
        mask = (new == hair).numpy().astype(np.uint8)
        if grow_hair > 0:
            grown = torch.from_numpy(cv2.dilate(mask, _disk(r)).astype(bool))
            protected = torch.isin(new, torch.tensor(keep_ids, dtype=new.dtype)) if keep_ids else torch.zeros_like(grown)
            new[grown & ~protected] = hair
        else:
            shrunk = cv2.erode(mask, _disk(r), borderType=cv2.BORDER_CONSTANT, borderValue=1).astype(bool)
            freed = torch.from_numpy(mask.astype(bool) & ~shrunk)
            new = _nearest_fill(new, freed, exclude=hair)
    out = x.clone()
    old_values = x.gather(0, labels[None])
    new_values = x.gather(0, new[None])
    out.scatter_(0, labels[None], new_values)
    out.scatter_(0, new[None], old_values)
    return out[None] if batched else out


def camera_angles(yaw_deg: float, pitch_deg: float = 0.0) -> tuple[float, float]:
    """Degrees relative to frontal -> the renderer's (θ, φ) radians (frontal π/2, π/2). ValueError when out of range."""
    yaw, pitch = float(yaw_deg), float(pitch_deg)
    if not (math.isfinite(yaw) and math.isfinite(pitch)):
        raise ValueError(f"angles must be finite, got yaw {yaw_deg}, pitch {pitch_deg}")
    if abs(yaw) > MAX_YAW:
        raise ValueError(f"yaw must be within ±{MAX_YAW:g} degrees of frontal, got {yaw:g}")
    if abs(pitch) >= MAX_PITCH:
        raise ValueError(f"pitch must be strictly within ±{MAX_PITCH:g} degrees of frontal, got {pitch:g}")
    return math.pi / 2 + math.radians(yaw), math.pi / 2 + math.radians(pitch)


class NoFaceError(ValueError):
    """:meth:`MultiViewGenerator.invert` found no face in the photo."""


@dataclass(frozen=True)
class Inversion:
    """A photo fitted by :meth:`MultiViewGenerator.invert`. S = the generator's output side.

    code: (1, hidden) float32 (CPU) the fitted mapping code w (w_s space; :meth:`MultiViewGenerator.render_code`
    draws it from any view). yaw_deg, pitch_deg: the photo's head pose, degrees from frontal (the module
    doc's convention), the camera of the fit; pose_source: "estimated" (the face mesh), "given" (the
    caller's angles) or "frontal" (neither: the face mesh found no face, so 0, 0). crop: (S, S, 3) uint8 RGB,
    the photo in SAGE's frame (the fit's target); labels: (S, S) uint8 its parse, class ids 0..18;
    landmarks: (5, 2) the detected landmarks in crop pixels (0-based); matrix: (2, 3) photo pixels -> crop
    pixels (a similarity). losses: (steps + 1,) the fit's loss before each Adam step, then of the
    fitted code; photometric, semantic_ce: the fitted code's two terms (its loss is photometric +
    semantic_weight · semantic_ce), both scored on the view :meth:`MultiViewGenerator.render_code`
    renders at the fit's pose. init: where the fit started, "encoder" (the code encoder's guess) or
    "mean" (the mean latent).
    """

    code: torch.Tensor
    yaw_deg: float
    pitch_deg: float
    pose_source: str
    crop: np.ndarray
    labels: np.ndarray
    landmarks: np.ndarray
    matrix: np.ndarray
    losses: np.ndarray
    photometric: float
    semantic_ce: float
    init: str = "mean"


def frame_landmarks(size: int) -> np.ndarray:
    """(5, 2) 0-based pixel positions of :data:`FRAME_LANDMARKS` in SAGE's crop of side ``size``."""
    return FRAME_LANDMARKS * size - 0.5


def full_frame_landmarks(side: int = FULL_FRAME) -> np.ndarray:
    """(5, 2) 0-based pixel positions of :data:`FRAME_LANDMARKS` in the whole CelebAMask-HQ frame of ``side``
    (the crop is its centre :data:`CROP_FRACTION`, :func:`apdraw.data.sage.centre_crop_box`)."""
    y0, x0, c = centre_crop_box(side, side, CROP_FRACTION)
    return np.array([x0, y0], np.float64) + FRAME_LANDMARKS * c - 0.5


def warp_to_frame(photo: np.ndarray, landmarks5: np.ndarray, side: int = FULL_FRAME) -> tuple[np.ndarray, np.ndarray]:
    """A photo in the whole CelebAMask-HQ frame: (side, side, 3) uint8 and the (2, 3) photo -> frame matrix.

    The similarity that maps the face's 5 landmarks (photo pixels, the face pipeline's order) closest
    to :func:`full_frame_landmarks` (least squares); a photo shrunk by more than 2 is area-averaged
    first (no aliasing); outside the photo the frame is mirrored (CelebA-HQ pads its frames by reflection).
    """
    m = fit_similarity(landmarks5, full_frame_landmarks(side))
    scale = math.sqrt(abs(np.linalg.det(m[:, :2])))
    src = photo
    if scale < 0.5:  # shrink by area to about 2x the frame's scale, then warp the rest
        k = 2 * scale
        h, w = photo.shape[:2]
        size = (max(1, round(w * k)), max(1, round(h * k)))
        src = cv2.resize(photo, size, interpolation=cv2.INTER_AREA)
        kx, ky = size[0] / w, size[1] / h
        # shrunk pixel -> photo pixel, pixel-centre exact: p = (p' + 0.5) / k − 0.5
        back = np.array([[1 / kx, 0.0, 0.5 / kx - 0.5], [0.0, 1 / ky, 0.5 / ky - 0.5]])
        m_src = np.concatenate([m[:, :2] @ back[:, :2], (m[:, :2] @ back[:, 2] + m[:, 2])[:, None]], 1)
    else:
        m_src = m
    frame = cv2.warpAffine(np.ascontiguousarray(src), m_src, (side, side), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_REFLECT_101)
    return frame, m


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"a seed is an integer in 0..2**63-1, got {seed!r}")
    return int(seed)


def _view_seed(seed: int, yaw_deg: float, pitch_deg: float) -> int:
    """A 63-bit seed for the sample jitter of one (identity seed, view); -0.0 and 0.0 are one view."""
    key = f"{seed}:{float(yaw_deg) + 0.0!r}:{float(pitch_deg) + 0.0!r}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1


class MultiViewGenerator:
    """A SAGE generator that draws seeded random identities from chosen viewpoints.

    ``device``: where the network runs; ``num_threads``: torch CPU threads while
    it runs (None: leave the setting alone; 1 by default as apdraw's other
    inference wrappers, see :func:`apdraw.runtime.torch_threads`).
    """

    def __init__(self, generator: SageGenerator, device: str | torch.device = "cpu", num_threads: int | None = 1,
                 code_encoder: CodeEncoder | None = None):  # fmt: skip
        """``code_encoder``: starts :meth:`invert` (:mod:`apdraw.models.sage.encoder`); it must have been
        fitted to this generator's codes (its mapping fingerprint), else ValueError."""
        if code_encoder is not None and code_encoder.mapping_fingerprint != mapping_fingerprint(generator):
            raise ValueError("the code encoder was fitted to another generator's codes (its mapping network differs)")
        if code_encoder is not None and code_encoder.cfg.code_dim != generator.cfg.mapping.hidden:
            raise ValueError(f"the code encoder makes {code_encoder.cfg.code_dim}-d codes, the generator takes {generator.cfg.mapping.hidden}")
        self.code_encoder = None if code_encoder is None else code_encoder.eval().requires_grad_(False)
        self._features = None  # the code encoder's MobileNetV2, built on first use
        self.device = torch.device(device)
        self.num_threads = num_threads
        self.generator = generator.to(self.device).eval().requires_grad_(False)
        self.z_dim = generator.cfg.mapping.z_dim
        with torch.no_grad(), torch_threads(num_threads, self.device):
            self.mean_latent = generator.mapping.mean_latent(MEAN_LATENT_SAMPLES, torch.Generator().manual_seed(MEAN_LATENT_SEED))
        # invert()'s tools, built on its first call (assign your own before it to replace them):
        # a face pipeline (anything with ``detect(image) -> detections``, largest first), the parser
        # (``parse(image) -> labels``) and the head-pose estimator (``estimate(image) -> (θ, φ) | None``).
        self.faces = None
        self.parser = None
        self.pose_estimator = None

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        device: str | torch.device = "cpu",
        num_threads: int | None = 1,
        *,
        style: str | None = None,
        code_encoder: str | Path | bool | None = None,
    ) -> "MultiViewGenerator":
        """Load an exported SAGE generator (``apdraw export sage``, or the end of ``apdraw train sage``).

        ``path`` None: the shipped generator of drawing ``style`` (a key of
        :data:`apdraw.models.sage.STYLE_WEIGHTS`; None: :data:`~apdraw.models.sage.DEFAULT_STYLE`).
        The shipped styles share everything but the translator G_p: the same seed and yaw give
        the same face (photo, semantic map) in every style; only the drawing differs. Give a
        path or a style, not both (:func:`apdraw.models.sage.resolve_weights`).

        ``code_encoder`` (:meth:`invert`'s starting point): None = the shipped encoder when it fits the
        generator (it fits the shipped ones; no encoder otherwise), False = none, a path = that file
        (it must fit).

        Raises:
            FileNotFoundError: no such file (a missing shipped file: the message says how to make one).
            ValueError: a path and a style, or an unknown style; an encoder for another generator.
            apdraw.persistence.WeightsError (a ValueError): not a SAGE generator (or encoder) file.
        """
        g = load_generator(path, style=style)
        enc = None
        if code_encoder is None:
            if DEFAULT_ENCODER.is_file():
                shipped = load_code_encoder()
                enc = shipped if shipped.mapping_fingerprint == mapping_fingerprint(g) else None
        elif code_encoder is not False:
            enc = load_code_encoder(code_encoder)
        return cls(g, device, num_threads, code_encoder=enc)

    @property
    def size(self) -> int:
        """The side S of every output: the decoders' largest."""
        return self.generator.cfg.image.output_sizes()[-1]

    # ------------------------------------------------------------------ latents

    def latent(self, seed: int, truncation: float = 0.7) -> Latent:
        """The batch-1 :class:`Latent` of ``seed``, truncated towards the mean by ψ = ``truncation`` (>= 0)."""
        seed = _check_seed(seed)
        psi = float(truncation)
        if not (math.isfinite(psi) and psi >= 0):
            raise ValueError(f"truncation must be a finite number >= 0, got {truncation!r}")
        z = torch.randn(1, self.z_dim, generator=torch.Generator().manual_seed(seed)).to(self.device)
        with torch.no_grad(), torch_threads(self.num_threads, self.device):
            return self.generator.mapping(z).truncate(self.mean_latent, psi)

    # ------------------------------------------------------------------ views

    def render(self, seed: int, yaw_deg: float, pitch_deg: float = 0.0, truncation: float = 0.7) -> View:
        """Identity ``seed`` seen from ``yaw_deg``, ``pitch_deg`` (degrees from frontal, module doc)."""
        camera_angles(yaw_deg, pitch_deg)  # check before any work
        latent = self.latent(seed, truncation)
        return self.render_latent(latent, yaw_deg, pitch_deg, _view_seed(int(seed), yaw_deg, pitch_deg))

    def sweep(self, seed: int, yaws: Iterable[float], pitch_deg: float = 0.0, truncation: float = 0.7) -> list[View]:
        """Identity ``seed`` at each of ``yaws`` (degrees): each view equals ``render(seed, yaw, ...)``."""
        yaws = [float(y) for y in yaws]
        for y in yaws:
            camera_angles(y, pitch_deg)
        latent = self.latent(seed, truncation)
        return [self.render_latent(latent, y, pitch_deg, _view_seed(int(seed), y, pitch_deg)) for y in yaws]

    def interpolate(
        self, seed_a: int, seed_b: int, t: float, yaw_deg: float, pitch_deg: float = 0.0, truncation: float = 0.7
    ) -> View:
        """The identity ``(1 - t)·w(seed_a) + t·w(seed_b)`` (truncated latents) from ``yaw_deg``, ``pitch_deg``.

        ``t`` in [0, 1] (0: exactly ``render(seed_a, ...)``; other finite values extrapolate).
        """
        t = float(t)
        if not math.isfinite(t):
            raise ValueError(f"t must be finite, got {t}")
        camera_angles(yaw_deg, pitch_deg)
        a, b = self.latent(seed_a, truncation), self.latent(seed_b, truncation)
        mixed = Latent(*(torch.lerp(x, y, t) for x, y in ((a.frequencies, b.frequencies), (a.phases, b.phases), (a.code, b.code))))
        return self.render_latent(mixed, yaw_deg, pitch_deg, _view_seed(int(seed_a), yaw_deg, pitch_deg))

    # ------------------------------------------------------------------ your own photo

    def _tools(self, need_pose: bool) -> None:
        if self.faces is None:
            from apdraw.face import FacePipeline

            self.faces = FacePipeline(detector="mtcnn", mask_backend=None, device=str(self.device))
        if self.parser is None:
            from apdraw.models.parser import FaceParser

            self.parser = FaceParser.from_pretrained(device=self.device, num_threads=self.num_threads)
        if need_pose and self.pose_estimator is None:
            from apdraw.face.head_pose import HeadPoseEstimator

            self.pose_estimator = HeadPoseEstimator()

    def invert(
        self,
        photo_rgb: np.ndarray,
        steps: int = 200,
        *,
        lr: float = 0.01,
        semantic_weight: float | None = None,
        l1_weight: float | None = None,
        yaw_deg: float | None = None,
        pitch_deg: float | None = None,
        seed: int = FIT_SEED,
        callback: Callable[[int, float], None] | None = None,
        init: str = "auto",
    ) -> Inversion:
        """Fit a code w to the face of a photo (the module doc's "Inversion"); draw it with :meth:`render_code`.

        Args:
            photo_rgb: (H, W, 3) uint8 RGB (or what :func:`apdraw.io.as_rgb` takes); its largest face is fitted.
            steps: Adam steps (>= 0; 0 keeps the mean latent).
            lr: Adam's learning rate on w.
            semantic_weight: weight of the semantic cross-entropy (None: the training default,
                ``SageLossConfig.semantic_ce_lambda``).
            l1_weight: λ of the photometric loss (None: ``SageLossConfig.recon_l1_weight``, 0.25).
            yaw_deg, pitch_deg: the head pose in degrees from frontal, when known; None estimates it
                (:class:`apdraw.face.head_pose.HeadPoseEstimator`, MediaPipe; frontal where it finds no face).
            seed: seeds the renderer's sample jitter while fitting.
            callback: called after every step with (step, loss) (a progress bar).
            init: where w starts: "encoder" (the code encoder's guess from the crop's features), "mean"
                (the mean latent), "auto" (the encoder when the generator has one, else the mean).

        Raises:
            NoFaceError: no face in the photo. ValueError: bad arguments (also init "encoder" without an encoder).
        """
        from apdraw.io import as_rgb

        if isinstance(steps, bool) or not isinstance(steps, (int, np.integer)) or steps < 0:
            raise ValueError(f"steps must be an integer >= 0, got {steps!r}")
        if not (math.isfinite(float(lr)) and lr > 0):
            raise ValueError(f"lr must be a finite number > 0, got {lr!r}")
        defaults = SageLossConfig()
        semantic_weight = defaults.semantic_ce_lambda if semantic_weight is None else float(semantic_weight)
        l1_weight = defaults.recon_l1_weight if l1_weight is None else float(l1_weight)
        if not (math.isfinite(semantic_weight) and semantic_weight >= 0) or not 0 <= l1_weight <= 1:
            raise ValueError(f"need semantic_weight >= 0 and l1_weight in [0, 1], got {semantic_weight}, {l1_weight}")
        if init not in ("auto", "encoder", "mean"):
            raise ValueError(f"init must be 'auto', 'encoder' or 'mean', got {init!r}")
        if init == "encoder" and self.code_encoder is None:
            raise ValueError("init='encoder' but this generator has no code encoder (MultiViewGenerator(code_encoder=...))")
        use_encoder = self.code_encoder is not None and init != "mean"
        if (yaw_deg is None) != (pitch_deg is None):
            raise ValueError("give both yaw_deg and pitch_deg, or neither (to estimate them)")
        if yaw_deg is not None:
            camera_angles(yaw_deg, pitch_deg)
        image = as_rgb(photo_rgb)
        self._tools(need_pose=yaw_deg is None)

        # (a) the face, (b) in SAGE's frame
        found = self.faces.detect(image)
        if not found:
            raise NoFaceError("no face found")
        landmarks5 = np.asarray(found[0].landmarks5, np.float64)
        frame, m_full = warp_to_frame(image, landmarks5)
        size = self.size
        crop = centre_crop_resize(frame, size, CROP_FRACTION)
        y0, x0, c = centre_crop_box(FULL_FRAME, FULL_FRAME, CROP_FRACTION)
        k = size / c  # frame pixel -> crop pixel: (p + 0.5 − offset)·k − 0.5
        matrix = np.concatenate([m_full[:, :2] * k, ((m_full[:, 2] + 0.5 - (x0, y0)) * k - 0.5)[:, None]], 1)

        # (c) the pose, as the training photos' (the whole frame, calibrated pitch)
        source = "given"
        if yaw_deg is None:
            raw = self.pose_estimator.estimate(frame)
            if raw is None:
                yaw_deg, pitch_deg, source = 0.0, 0.0, "frontal"
            else:
                limit = MAX_PITCH - 1.0
                yaw_deg = float(np.clip(math.degrees(raw[0] - math.pi / 2), -MAX_YAW, MAX_YAW))
                pitch_deg = float(np.clip(math.degrees(raw[1] + PITCH_OFFSET - math.pi / 2), -limit, limit))
                source = "estimated"
        yaw_deg, pitch_deg = float(yaw_deg), float(pitch_deg)

        # (d) 19 classes, parsed on the whole frame and cropped as the data's label maps
        labels = centre_crop_resize(self.parser.parse(frame), size, CROP_FRACTION, nearest=True)

        # (e) w: Adam from the mean latent, the networks frozen, the camera at the pose
        g = self.generator
        theta, phi = camera_angles(yaw_deg, pitch_deg)
        angle = lambda a: torch.full((1,), a, device=self.device)  # noqa: E731
        target = (torch.from_numpy(crop).permute(2, 0, 1)[None].float() / 127.5 - 1.0).to(self.device)
        target_labels = torch.from_numpy(labels.astype(np.int64))[None].to(self.device)

        def loss_of(w: torch.Tensor, gen: torch.Generator) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
            out = g(g.mapping.from_code(w), angle(theta), angle(phi), stereo=False, translate=False, generator=gen)
            photometric = photometric_loss(out.image, target, l1_weight)
            ce = semantic_cross_entropy(out.semantic, target_labels)
            return photometric + semantic_weight * ce, photometric, ce

        if use_encoder:  # the code encoder's guess from the crop at its feature size, as the training photos'
            if self._features is None:
                self._features = PhotoFeatures(self.code_encoder.cfg.crop_size)
            enc_crop = centre_crop_resize(frame, self.code_encoder.cfg.crop_size, CROP_FRACTION)
            with torch_threads(self.num_threads, self.device):
                start = self.code_encoder.encode(enc_crop[None], self._features)
        else:
            start = self.mean_latent.code
        w = start.detach().clone().float().to(self.device).requires_grad_(True)
        opt = torch.optim.Adam([w], lr=float(lr))
        gen = torch.Generator().manual_seed(int(seed))
        losses: list[float] = []
        with torch_threads(self.num_threads, self.device):
            with torch.enable_grad():
                for step in range(int(steps)):
                    loss, _, _ = loss_of(w, gen)
                    opt.zero_grad(set_to_none=True)
                    loss.backward()
                    opt.step()
                    losses.append(loss.item())
                    if callback is not None:
                        callback(step + 1, losses[-1])
            with torch.no_grad():  # (f) scored on the view render_code draws at this pose
                final = torch.Generator().manual_seed(_view_seed(FIT_SEED, yaw_deg, pitch_deg))
                loss, photometric, ce = loss_of(w.detach(), final)
        losses.append(loss.item())
        return Inversion(
            code=w.detach().float().cpu(), yaw_deg=yaw_deg, pitch_deg=pitch_deg, pose_source=source,
            crop=crop, labels=labels.astype(np.uint8), landmarks=transform_points(landmarks5, matrix), matrix=matrix,
            losses=np.asarray(losses), photometric=photometric.item(), semantic_ce=ce.item(),
            init="encoder" if use_encoder else "mean",
        )  # fmt: skip

    def render_code(self, code: torch.Tensor | np.ndarray, yaw_deg: float, pitch_deg: float = 0.0) -> View:
        """A mapping code w (``Inversion.code``: (1, hidden) or (hidden,)) from ``yaw_deg``, ``pitch_deg``.

        The FiLM parameters are the mapping head of w (:meth:`~apdraw.models.sage.MappingNetwork.from_code`);
        the renderer's jitter is seeded per view (the same view is the same image on every call).
        """
        camera_angles(yaw_deg, pitch_deg)
        w = torch.as_tensor(np.asarray(code, np.float32) if not isinstance(code, torch.Tensor) else code)
        hidden = self.generator.cfg.mapping.hidden
        if w.numel() != hidden or w.dim() not in (1, 2):
            raise ValueError(f"a code is (1, {hidden}) or ({hidden},), got {tuple(w.shape)}")
        w = w.detach().reshape(1, hidden).float().to(self.device)
        with torch.no_grad(), torch_threads(self.num_threads, self.device):
            latent = self.generator.mapping.from_code(w)
        return self.render_latent(latent, yaw_deg, pitch_deg, _view_seed(FIT_SEED, yaw_deg, pitch_deg))

    def render_latent(self, latent: Latent, yaw_deg: float, pitch_deg: float = 0.0, jitter_seed: int = 0) -> View:
        """Any batch-1 :class:`Latent` from a viewpoint; ``jitter_seed`` seeds the renderer's sample jitter."""
        parts = self.render_parts_latent(latent, yaw_deg, pitch_deg, jitter_seed)
        drawing = self.translate(parts.image, parts.semantic)
        return View(drawing, parts.photo, parts.labels, float(yaw_deg), float(pitch_deg))

    # ------------------------------------------------------------------ parts and editing

    def render_parts(self, seed: int, yaw_deg: float, pitch_deg: float = 0.0, truncation: float = 0.7) -> Parts:
        """Identity ``seed`` from a view, before G_p: ``translate(p.image, p.semantic)`` is ``render(...).drawing``."""
        camera_angles(yaw_deg, pitch_deg)
        latent = self.latent(seed, truncation)
        return self.render_parts_latent(latent, yaw_deg, pitch_deg, _view_seed(int(seed), yaw_deg, pitch_deg))

    def render_parts_latent(self, latent: Latent, yaw_deg: float, pitch_deg: float = 0.0, jitter_seed: int = 0) -> Parts:
        """Any batch-1 :class:`Latent` from a viewpoint, before G_p (:class:`Parts`)."""
        if latent.batch != 1:
            raise ValueError(f"render_latent takes one latent, got a batch of {latent.batch}")
        yaw, pitch = camera_angles(yaw_deg, pitch_deg)
        g = self.generator
        gen = torch.Generator().manual_seed(int(jitter_seed))
        angle = lambda a: torch.full((1,), a, device=self.device)  # noqa: E731
        with torch.no_grad(), torch_threads(self.num_threads, self.device):
            out = g(latent, angle(yaw), angle(pitch), stereo=False, translate=False, generator=gen)
        return Parts(out.image, out.semantic, out.features, out.depth, out.cameras, float(yaw_deg), float(pitch_deg))

    def translate(self, image: torch.Tensor | np.ndarray, semantic_logits: torch.Tensor | np.ndarray) -> np.ndarray:
        """G_p: the image decoder's RGB (1, 3, S, S) or (3, S, S) and class logits (1, 19, h, w) or (19, h, w)
        (e.g. :func:`edit_semantic`'s) -> the drawing, (S, S) uint8, 255 = paper.

        Exactly the generator's own drawing (:meth:`~apdraw.models.sage.SageGenerator.draw`): a generator
        trained without a translator (``cfg.drawing_head="image_decoder"``, an ablation) draws the image in
        gray and ignores the logits, so semantic edits do not change its drawing."""

        def batch1(x: torch.Tensor | np.ndarray, name: str) -> torch.Tensor:
            t = torch.as_tensor(np.asarray(x, np.float32) if not isinstance(x, torch.Tensor) else x)
            t = t[None] if t.dim() == 3 else t
            if t.dim() != 4 or t.shape[0] != 1:
                raise ValueError(f"{name}: expected (C, H, W) or (1, C, H, W), got {tuple(t.shape)}")
            return t.float().to(self.device)

        x, seg = batch1(image, "image"), batch1(semantic_logits, "semantic_logits")
        with torch.no_grad(), torch_threads(self.num_threads, self.device):
            drawing = self.generator.draw(x, seg)
        return _to_u8(drawing[0].float().clamp(-1, 1).mean(0))  # one channel (the original's G_p: 3, averaged)
