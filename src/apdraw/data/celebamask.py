"""CelebAMask-HQ(-mini) photos with 19-class label maps, for training the face parser.

Layout expected under ``root``: ``images/ID.jpg`` (512² RGB) and ``masks/ID.png``
(512² label maps, pixel = class id 0..18, CelebAMask-HQ order).

The train/validation split is a pure function of the file names (a hash), so it
is the same on every machine and does not shift when files are added.

Training samples are augmented (see :class:`ParserAugment`): mirrored with the
left/right classes swapped, scaled, rotated, re-framed off-centre onto new
backgrounds (real photos are not CelebA crops), colour-jittered, blurred,
JPEG-compressed and sometimes turned gray.
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import cv2
import numpy as np
import torch
from PIL import Image
from torch.utils.data import Dataset

from apdraw.data import transforms as T
from apdraw.io import load_image
from apdraw.data.sampling import SampleKey, key_index, sample_rng
from apdraw.data.split import smallest_hash

FLIP_LABELS = np.arange(19, dtype=np.uint8)
for _a, _b in ((4, 5), (6, 7), (8, 9)):  # l/r eye, brow, ear
    FLIP_LABELS[_a], FLIP_LABELS[_b] = _b, _a


def read_label_map(path: str | Path) -> np.ndarray:
    """A label-map PNG -> (H, W) uint8 class ids.

    The masks are palette ("P") PNGs whose *indices* are the class ids (the
    palette only colours them), so the indices must be read, not the colours.
    """
    with Image.open(path) as im:
        if im.mode in ("P", "L", "I", "I;16"):
            return np.asarray(im).astype(np.uint8)
        return np.asarray(im.convert("L")).astype(np.uint8)


def canonical_sides(labels: np.ndarray) -> np.ndarray:
    """Make "left" classes (4, 6, 8) mean the person's left, i.e. the image right.

    About 7 % of CelebAMask-HQ masks use the mirrored convention. Where both an
    eye/brow pair is visible and the "left" one lies on the image's left, swap
    all left/right classes so the model sees one consistent convention.
    """
    left, right = np.isin(labels, (4, 6)), np.isin(labels, (5, 7))
    if left.any() and right.any() and np.nonzero(left)[1].mean() < np.nonzero(right)[1].mean():
        return FLIP_LABELS[labels]
    return labels


def list_ids(root: str | Path) -> list[str]:
    """Sorted IDs that have both an image and a mask."""
    root = Path(root)
    if not (root / "images").is_dir() or not (root / "masks").is_dir():
        raise FileNotFoundError(f"{root} must contain images/ and masks/ (CelebAMask-HQ-mini layout)")
    masks = {p.stem for p in (root / "masks").glob("*.png")}
    return sorted(p.stem for p in (root / "images").glob("*.jpg") if p.stem in masks)


def split_ids(ids: list[str], n_val: int = 100) -> tuple[list[str], list[str]]:
    """(train, val): the ``n_val`` IDs with the smallest SHA-1 hash are validation (see :mod:`apdraw.data.split`)."""
    return smallest_hash(ids, n_val)


@dataclass
class ParserAugmentConfig:
    """Probabilities and ranges of the training augmentation."""

    flip: float = 0.5
    reframe: float = 0.45  # probability of the "not a CelebA crop" geometry
    scale: tuple[float, float] = (0.85, 1.25)  # CelebA-like framing
    reframe_scale: tuple[float, float] = (0.35, 0.85)  # face shrunk onto a new background
    rotate_deg: float = 20.0
    shift: float = 0.06
    extend_body: float = 0.6  # when re-framing: continue the bottom rows (neck/cloth) downwards
    photo_background: float = 0.35  # else a synthetic background
    jitter: float = 0.8
    gray: float = 0.08
    blur: float = 0.2
    jpeg: float = 0.2


class ParserAugment:
    """Random geometric + photometric augmentation of one (image, labels) pair at 512² -> size²."""

    def __init__(self, size: int, cfg: ParserAugmentConfig | None = None):
        self.size = size
        self.cfg = cfg or ParserAugmentConfig()

    def __call__(
        self,
        image: np.ndarray,
        labels: np.ndarray,
        rng: np.random.Generator,
        background_source: tuple[np.ndarray, np.ndarray] | None = None,
    ) -> tuple[np.ndarray, np.ndarray]:
        """(H, W, 3) uint8 + (H, W) uint8 -> (size, size, 3) uint8 + (size, size) uint8.

        ``background_source`` is another (image, labels) pair whose background
        corner may be used as the backdrop when re-framing.
        """
        c, size = self.cfg, self.size
        if rng.random() < c.flip:
            image, labels = T.hflip(image, labels, FLIP_LABELS)
        h0, w0 = labels.shape
        reframe = rng.random() < c.reframe
        angle = rng.uniform(-c.rotate_deg, c.rotate_deg)
        if reframe:
            scale = rng.uniform(*c.reframe_scale)
            # Anywhere in the frame as long as the face stays mostly inside.
            room = (1.0 - scale) / 2.0 + 0.05
            shift = (rng.uniform(-room, room), rng.uniform(-room, room * 0.6))
            if rng.random() < c.extend_body:
                # Bodies continue below the chin in real photos: extend the last rows
                # (neck/cloth, image and labels alike) instead of cutting to background.
                pad = int(h0 * 0.6)
                image = cv2.copyMakeBorder(image, 0, pad, 0, 0, cv2.BORDER_REPLICATE)
                labels = cv2.copyMakeBorder(labels, 0, pad, 0, 0, cv2.BORDER_REPLICATE)
        else:
            scale = rng.uniform(*c.scale)
            shift = (rng.uniform(-c.shift, c.shift), rng.uniform(-c.shift, c.shift))
        # Framing is relative to the original photo, whatever padding was added.
        m = T.affine_matrix((h0, w0), size, scale, angle, shift, center=(w0 / 2.0, h0 / 2.0))
        img, lab, valid = T.warp_pair(image, labels, m, size)
        if valid.min() < 0.999:
            bg = self._background(rng, background_source)
            img = T.composite(img, bg, valid)
        if rng.random() < c.jitter:
            img = T.color_jitter(img, rng)
        if rng.random() < c.gray:
            img = T.to_grayscale(img)
        if rng.random() < c.blur:
            img = T.random_blur(img, rng, max_sigma=1.5 if size <= 320 else 2.5)
        if rng.random() < c.jpeg:
            img = T.jpeg_noise(img, rng)
        return img, lab

    def _background(self, rng: np.random.Generator, source: tuple[np.ndarray, np.ndarray] | None) -> np.ndarray:
        size = self.size
        if source is not None and rng.random() < self.cfg.photo_background:
            img, lab = source
            crop = int(rng.integers(img.shape[0] // 6, img.shape[0] // 3))
            corners = [(0, 0), (0, img.shape[1] - crop)]
            y, x = corners[int(rng.integers(0, 2))]
            # Only a corner that really is background (no hair/face) may become a backdrop.
            if (lab[y : y + crop, x : x + crop] == 0).mean() > 0.95:
                patch = img[y : y + crop, x : x + crop]
                if rng.random() < 0.5:
                    patch = patch[:, ::-1]
                return cv2.resize(np.ascontiguousarray(patch), (size, size), interpolation=cv2.INTER_LINEAR)
        return T.random_background(rng, size)


class CelebAMaskDataset(Dataset):
    """(image, labels) pairs from CelebAMask-HQ-mini.

    ``__getitem__(key)`` (key: :class:`SampleKey` or int) returns a dict:
      - ``image``: (3, size, size) float32 RGB in [0, 1];
      - ``labels``: (size, size) int64 class ids 0..18.
    With ``train=True`` the pair is augmented with randomness from :func:`sample_rng`
    (exactly reproducible per key); otherwise it is only resized.
    Files are decoded on first use and cached in memory (about 1 MB per pair).
    """

    def __init__(
        self,
        root: str | Path,
        ids: list[str],
        size: int = 256,
        train: bool = True,
        augment: ParserAugmentConfig | None = None,
        cache: bool = True,
    ):
        if not ids:
            raise ValueError(f"no CelebAMask samples given for {root}")
        self.root = Path(root)
        self.ids = list(ids)
        self.size = size
        self.train = train
        self.augment = ParserAugment(size, augment)
        self.cache = cache
        self._cache: dict[int, tuple[np.ndarray, np.ndarray]] = {}

    def __len__(self) -> int:
        return len(self.ids)

    def pair(self, index: int) -> tuple[np.ndarray, np.ndarray]:
        """The original (H, W, 3) uint8 photo and (H, W) uint8 label map."""
        if index in self._cache:
            return self._cache[index]
        name = self.ids[index]
        image = load_image(self.root / "images" / f"{name}.jpg")
        labels = read_label_map(self.root / "masks" / f"{name}.png")
        if labels.shape != image.shape[:2]:
            labels = cv2.resize(labels, (image.shape[1], image.shape[0]), interpolation=cv2.INTER_NEAREST)
        labels = canonical_sides(np.minimum(labels, 18).astype(np.uint8))
        if self.cache:
            self._cache[index] = (image, labels)
        return image, labels

    def __getitem__(self, key: SampleKey | int) -> dict[str, torch.Tensor]:
        index = key_index(key)
        image, labels = self.pair(index)
        if self.train:
            rng = sample_rng(key)
            other = self.pair(int(rng.integers(0, len(self))))
            img, lab = self.augment(image, labels, rng, background_source=other)
        else:
            img = cv2.resize(image, (self.size, self.size), interpolation=cv2.INTER_AREA)
            lab = cv2.resize(labels, (self.size, self.size), interpolation=cv2.INTER_NEAREST)
        return {
            "image": torch.from_numpy(np.ascontiguousarray(img)).permute(2, 0, 1).float() / 255.0,
            "labels": torch.from_numpy(np.ascontiguousarray(lab)).long(),
        }
