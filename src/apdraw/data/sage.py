"""SAGE's training data (SPEC C.1): CelebAMask-HQ-mini photos, label maps and estimated head poses.

Each item is one photo of ``shared_data_dir()/"celebamask_mini"`` (``images/ID.jpg``,
512²) with its 19-class label map (``masks/ID.png``, pixel = class id) and its head
pose, at the training resolution S:

* ``photo`` (3, S, S) float32 in [-1, 1];
* ``labels`` (S, S) int64 class ids 0..18 in the CelebAMask-HQ order of
  :data:`apdraw.models.parser.CLASS_NAMES` (0 background, 1 skin, 2 nose, 3 eyeglasses,
  4 l_eye, 5 r_eye, 6 l_brow, 7 r_brow, 8 l_ear, 9 r_ear, 10 mouth, 11 u_lip, 12 l_lip,
  13 hair, 14 hat, 15 earring, 16 necklace, 17 neck, 18 cloth); "l"/"r" are the
  *person's* sides, so l_eye lies on the image right (:func:`apdraw.data.celebamask.canonical_sides`
  fixes the few masks drawn the other way). :func:`semantic_one_hot` makes the
  discriminator's 19-channel {-1, +1} input from it, as the original does;
* ``yaw``, ``pitch`` () float32 radians in the SAGE camera convention
  (:mod:`apdraw.models.sage.renderer`): the camera sits at (sin φ cos θ, cos φ, sin φ sin θ)
  looking at the head, θ = φ = π/2 is frontal; θ > π/2 when the face turns towards the
  image right (its nose points right), φ < π/2 when it looks down (camera above);
* ``index`` () int64: the item's latent code for an auto-decoder. A mirrored item is a
  different image, so it gets its own code: ``index + len(dataset)``
  (:attr:`SageDataset.num_codes` codes in all).

Framing (SPEC C.1): the original resizes the 512² CelebA-HQ image to 576 and centre-crops
512, i.e. keeps the centre 8/9 of the frame, then resizes to S. Here that is one centre crop
of ``crop_fraction`` × 512 (455 px) resized to S (area interpolation for the photo, nearest
for the labels). Horizontal flip with p = 0.5, jointly; the original does not swap the
left/right classes on a flip, here they are swapped (``swap_flipped_sides``, ours) and the
yaw is mirrored (θ -> π − θ).

Head pose (not in the original, which has no pose for real images; the estimator is
:mod:`apdraw.face.head_pose`): MediaPipe's face mesh
(:mod:`apdraw.face.mediapipe_backend`) on the full 512² photo, then a perspective-n-point fit
(``cv2.solvePnP``, focal length = the image side, about 53° field of view) of six mesh
points (nose tip, chin, outer eye corners, mouth corners) to a generic 3D face
(:data:`GENERIC_FACE`). The face's forward direction, seen along the ray from the camera to
the nose tip, gives (θ, φ); the roll is dropped (SAGE's cameras have none). The generic
face's "level" differs from the data's typical head pitch, so a fixed ``pitch_offset``
(measured once on the whole mini set: its median raw pitch, :data:`PITCH_OFFSET`) is
added, which centres the pitches on π/2 like the renderer's pitch prior N(π/2, 0.155).
Poses are estimated once per file name and cached in ``cache_dir/poses-v{POSE_VERSION}.json``
(raw angles, before the offset; a face MediaPipe does not find is cached as ``null``).
Photos without a face are dropped and counted (:attr:`SageDataset.dropped`).

Drawings for the fine-tuning stage (SPEC C.1 "Fine-tuning data"; ours: synthetic ones made by this
project's 2D styles, ``scripts/sage_drawings.py``): with ``drawings_dir`` set, each item also has a
``drawing`` (1, S, S) float32 in [-1, 1] read from ``drawings_dir/NAME.png``, a grayscale drawing
already in the cropped photo frame (the centre ``crop_fraction`` of the photo, any side; resized to
S here, flipped with the photo). Photos without a drawing file are left out (:attr:`SageDataset.without_drawing`).
"""

from __future__ import annotations

import json
import math
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from apdraw.data import shared_data_dir
from apdraw.data.celebamask import FLIP_LABELS, canonical_sides, list_ids, read_label_map
from apdraw.data.sampling import SampleKey, key_index, sample_rng
from apdraw.data.split import select
# The estimator lives in the face pipeline (apdraw.multiview estimates a user photo's pose with it
# too); its names stay importable from here.
from apdraw.face.head_pose import GENERIC_FACE, MESH_POINTS, HeadPoseEstimator, pose_from_points  # noqa: F401
from apdraw.io import atomic_write, load_image, to_gray

NUM_CLASSES = 19
POSE_VERSION = 1  # bump when the estimator changes: the cache file name carries it

# Added to the raw pitch: π/2 minus the median raw pitch of the 895 CelebAMask-HQ-mini photos
# with a face (POSE_VERSION 1; 14.6°), so that the set's median head pitch is the frontal π/2.
PITCH_OFFSET = 0.2556


def pose_cache_path(cache_dir: str | Path) -> Path:
    return Path(cache_dir) / f"poses-v{POSE_VERSION}.json"


def estimate_poses(
    image_dir: str | Path, names: list[str], cache_dir: str | Path, progress: bool = True
) -> dict[str, tuple[float, float] | None]:
    """Raw (yaw, pitch) of ``image_dir/NAME.jpg`` for each name; None where no face was found.

    Cached poses are reused; missing ones are estimated and the cache (JSON, keyed by file
    name, in :func:`pose_cache_path`) is rewritten atomically with the old and new entries.
    """
    path = pose_cache_path(cache_dir)
    known: dict[str, list[float] | None] = {}
    if path.is_file():
        data = json.loads(path.read_text())
        if data.get("version") == POSE_VERSION:
            known = dict(data["poses"])
    todo = [n for n in names if n not in known]
    if todo:
        estimator = HeadPoseEstimator()
        start = time.perf_counter()
        for name in tqdm(todo, desc="head poses", disable=not progress):
            pose = estimator.estimate(load_image(Path(image_dir) / f"{name}.jpg"))
            known[name] = None if pose is None else [round(pose[0], 6), round(pose[1], 6)]
        data = {
            "version": POSE_VERSION,
            "estimator": "mediapipe face mesh + solvePnP of 6 points on a generic face; raw (yaw, pitch) radians",
            "seconds_last_update": round(time.perf_counter() - start, 2),
            "poses": dict(sorted(known.items())),
        }
        with atomic_write(path, "w") as fh:
            json.dump(data, fh, indent=0)
    return {n: (None if known[n] is None else (float(known[n][0]), float(known[n][1]))) for n in names}


def pose_statistics(
    yaw: np.ndarray, pitch: np.ndarray, quantiles: tuple[float, ...] = (0.05, 0.25, 0.5, 0.75, 0.95)
) -> dict:
    """Summary of poses (radians, SAGE convention): {"n", "yaw": {...}, "pitch": {...}}.

    Each angle's dict has min, max, mean, std and ``q<percent>`` quantiles, all in radians
    (frontal = π/2); subtract π/2 for the deviation from frontal.
    """

    def summary(x: np.ndarray) -> dict[str, float]:
        x = np.asarray(x, np.float64)
        out = {"min": float(x.min()), "max": float(x.max()), "mean": float(x.mean()), "std": float(x.std())}
        out.update({f"q{round(q * 100):02d}": float(np.quantile(x, q)) for q in quantiles})
        return out

    if len(yaw) == 0:
        raise ValueError("no poses to summarise")
    return {"n": int(len(yaw)), "yaw": summary(yaw), "pitch": summary(pitch)}


# --------------------------------------------------------------------------- the data set


@dataclass
class SageDataConfig:
    """Where SAGE's photos come from and how they are framed (SPEC C.1)."""

    root: str = field(default_factory=lambda: str(shared_data_dir() / "celebamask_mini"))  # images/, masks/
    cache_dir: str = "cache/sage"  # the pose cache
    crop_fraction: float = 512 / 576  # C.1: Resize(576) then CenterCrop(512) = the centre 8/9
    flip: bool = True  # C.1: joint horizontal flip, p = 0.5
    swap_flipped_sides: bool = True  # ours: swap l/r classes on a flip (the original does not)
    pitch_offset: float = PITCH_OFFSET  # radians added to the raw estimated pitch (module doc)
    split: Literal["all", "train", "val"] = "all"  # by apdraw.data.split's name rule
    val_fraction: float = 0.1
    max_items: int = 0  # the first N names (sorted) before dropping faceless photos; 0 = all
    drawings_dir: str = ""  # ours: NAME.png drawings in the cropped photo frame -> items get a "drawing"; "" = none

    def __post_init__(self) -> None:
        if not 0.0 < self.crop_fraction <= 1.0:
            raise ValueError(f"crop_fraction must be in (0, 1], got {self.crop_fraction}")
        if self.split not in ("all", "train", "val"):
            raise ValueError(f"split must be 'all', 'train' or 'val', got {self.split!r}")
        if not 0.0 <= self.val_fraction <= 1.0:
            raise ValueError(f"val_fraction must be in [0, 1], got {self.val_fraction}")
        if not (isinstance(self.max_items, int) and self.max_items >= 0):
            raise ValueError(f"max_items must be an int >= 0, got {self.max_items!r}")
        if not math.isfinite(self.pitch_offset) or abs(self.pitch_offset) >= math.pi / 2:
            raise ValueError(f"pitch_offset must be a finite angle below π/2 in size, got {self.pitch_offset}")


def semantic_one_hot(labels: torch.Tensor, num_classes: int = NUM_CLASSES) -> torch.Tensor:
    """(B, H, W) int64 class ids -> (B, num_classes, H, W) float32 one-hot mapped to {-1, +1} (SPEC C.1)."""
    if labels.dim() != 3 or labels.dtype != torch.int64:
        raise ValueError(f"expected (B, H, W) int64 labels, got {tuple(labels.shape)} {labels.dtype}")
    return torch.nn.functional.one_hot(labels, num_classes).permute(0, 3, 1, 2).float() * 2.0 - 1.0


def centre_crop_box(h: int, w: int, fraction: float) -> tuple[int, int, int]:
    """The square that :func:`centre_crop_resize` keeps of an (h, w) image: (top row, left column, side) in pixels."""
    c = max(1, int(round(fraction * min(h, w))))
    return (h - c) // 2, (w - c) // 2, c


def centre_crop_resize(image: np.ndarray, size: int, fraction: float, nearest: bool = False) -> np.ndarray:
    """The centre ``fraction`` of an (H, W[, C]) image (a square of round(fraction · min(H, W)) px) resized to size².

    Area interpolation (anti-aliased) for photos, nearest for label maps (``nearest``).
    """
    y0, x0, c = centre_crop_box(image.shape[0], image.shape[1], fraction)
    crop = np.ascontiguousarray(image[y0 : y0 + c, x0 : x0 + c])
    if nearest:
        interp = cv2.INTER_NEAREST
    else:
        interp = cv2.INTER_AREA if size < c else cv2.INTER_CUBIC
    return cv2.resize(crop, (size, size), interpolation=interp)


class SageDataset(Dataset):
    """CelebAMask-HQ photos with label maps and head poses at ``resolution`` S (see the module doc).

    ``__getitem__(key)`` (key: :class:`SampleKey` or int; the flip is drawn from
    :func:`apdraw.data.sampling.sample_rng`, so an item is a function of the key) returns
    ``photo`` (3, S, S) float32 in [-1, 1], ``labels`` (S, S) int64 in 0..18, ``yaw`` and
    ``pitch`` () float32 radians, ``index`` () int64 in [0, num_codes).

    Attributes: ``names`` (kept photos, sorted), ``yaw``/``pitch`` (N,) float64 radians with
    the offset applied (unflipped), ``dropped`` (names MediaPipe found no face in).
    """

    def __init__(self, cfg: SageDataConfig, names: list[str], poses: np.ndarray, resolution: int,
                 dropped: list[str] | None = None):  # fmt: skip
        if not names:
            raise ValueError(f"no SAGE training photos under {cfg.root}")
        poses = np.asarray(poses, np.float64)
        if poses.shape != (len(names), 2):
            raise ValueError(f"poses must be ({len(names)}, 2) (yaw, pitch), got {poses.shape}")
        if resolution < 8:
            raise ValueError(f"resolution must be >= 8, got {resolution}")
        self.cfg, self.names, self.resolution = cfg, list(names), int(resolution)
        self.yaw, self.pitch = poses[:, 0].copy(), poses[:, 1].copy()
        self.dropped = list(dropped or [])
        self.without_drawing: list[str] = []  # names left out for want of a drawing (build_sage_dataset)
        self.root = Path(cfg.root)

    def __len__(self) -> int:
        return len(self.names)

    @property
    def num_codes(self) -> int:
        """How many latent codes an auto-decoder needs: one per item, twice that with flips."""
        return 2 * len(self) if self.cfg.flip else len(self)

    def pose_statistics(self) -> dict:
        """:func:`pose_statistics` of the unflipped poses, plus ``dropped`` (count of faceless photos)."""
        return {**pose_statistics(self.yaw, self.pitch), "dropped": len(self.dropped)}

    def load(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The full-size (H, W, 3) uint8 photo and (H, W) uint8 label map of item ``index`` (sides canonical)."""
        name = self.names[index]
        image = load_image(self.root / "images" / f"{name}.jpg")
        labels = read_label_map(self.root / "masks" / f"{name}.png")
        if labels.shape != image.shape[:2]:
            labels = cv2.resize(labels, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
        return image, canonical_sides(np.minimum(labels, NUM_CLASSES - 1).astype(np.uint8))

    def __getitem__(self, key: SampleKey | int) -> dict[str, torch.Tensor]:
        i = key_index(key)
        if not 0 <= i < len(self):
            raise IndexError(f"index {i} out of range for {len(self)} items")
        image, labels = self.load(i)
        s, frac = self.resolution, self.cfg.crop_fraction
        photo = centre_crop_resize(image, s, frac)
        lab = centre_crop_resize(labels, s, frac, nearest=True)
        yaw, pitch, code = self.yaw[i], self.pitch[i], i
        drawing = None
        if self.cfg.drawings_dir:
            drawing = to_gray(load_image(Path(self.cfg.drawings_dir) / f"{self.names[i]}.png"))
            if drawing.shape != (s, s):
                interp = cv2.INTER_AREA if s < drawing.shape[0] else cv2.INTER_CUBIC
                drawing = cv2.resize(drawing, (s, s), interpolation=interp)
        flipped = self.cfg.flip and sample_rng(key).random() < 0.5
        if flipped and drawing is not None:
            drawing = np.ascontiguousarray(drawing[:, ::-1])
        if flipped:
            photo = np.ascontiguousarray(photo[:, ::-1])
            lab = np.ascontiguousarray(lab[:, ::-1])
            if self.cfg.swap_flipped_sides:
                lab = FLIP_LABELS[lab]
            yaw, code = math.pi - yaw, i + len(self)
        item = {
            "photo": torch.from_numpy(photo).permute(2, 0, 1).float() / 127.5 - 1.0,
            "labels": torch.from_numpy(lab.astype(np.int64)),
            "yaw": torch.tensor(yaw, dtype=torch.float32),
            "pitch": torch.tensor(pitch, dtype=torch.float32),
            "index": torch.tensor(code, dtype=torch.int64),
        }
        if drawing is not None:
            item["drawing"] = torch.from_numpy(drawing).float()[None] / 127.5 - 1.0
        return item


def sage_names(cfg: SageDataConfig) -> list[str]:
    """The photo names of ``cfg`` (sorted, split applied, the first ``max_items``), before any pose check."""
    ids = list_ids(cfg.root)
    ids = select(ids, ids, cfg.val_fraction, cfg.split)
    return ids[: cfg.max_items or None]


def build_sage_dataset(cfg: SageDataConfig, resolution: int, progress: bool = True) -> SageDataset:
    """Estimate the missing head poses (cached), drop faceless photos and build the set at ``resolution``.

    The pose statistics are :meth:`SageDataset.pose_statistics`; the dropped names are ``.dropped``.
    """
    names = sage_names(cfg)
    raw = estimate_poses(Path(cfg.root) / "images", names, cfg.cache_dir, progress)
    kept = [n for n in names if raw[n] is not None]
    dropped = [n for n in names if raw[n] is None]
    without: list[str] = []
    if cfg.drawings_dir:
        folder = Path(cfg.drawings_dir)
        if not folder.is_dir():
            raise FileNotFoundError(f"drawings_dir {folder} is not a folder")
        without = [n for n in kept if not (folder / f"{n}.png").is_file()]
        kept = [n for n in kept if n not in set(without)]
    poses = np.array([(raw[n][0], raw[n][1] + cfg.pitch_offset) for n in kept], np.float64).reshape(-1, 2)
    ds = SageDataset(cfg, kept, poses, resolution, dropped)
    ds.without_drawing = without
    return ds
