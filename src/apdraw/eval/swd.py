"""Sliced Wasserstein distance on Laplacian-pyramid patches (Karras et al., ProGAN 2018).

Each image is resized (shared rule) to ``resolution`` squared and decomposed into a
Laplacian pyramid down to ``min_resolution`` (the last level is the Gaussian
residual). From every level, ``patches_per_image`` 7x7x3 neighbourhoods are cut at
random positions. Per level and per set, descriptors are normalised per channel
(mean 0, std 1 over all descriptors of that set), as in ProGAN. The distance
between two sets at one level is the sliced Wasserstein-1 distance: project on
random unit directions, sort, average the absolute differences. The reported SWD
is the mean over levels, multiplied by 1000 (ProGAN's scale); the per-level values
are kept too (finest level first).

Determinism: patch positions depend only on the seed, the level and the image's
key (its file stem), so two identical sets give SWD 0 and a prediction is
sampled at the same places as its reference. Projection directions depend only
on the seed.
"""

from __future__ import annotations

import zlib
from dataclasses import dataclass

import cv2
import numpy as np

from apdraw.eval.imageprep import resize_u8, to_rgb


@dataclass(frozen=True)
class SWDConfig:
    resolution: int = 256
    min_resolution: int = 16
    patches_per_image: int = 128
    patch_size: int = 7
    n_repeats: int = 4
    dirs_per_repeat: int = 128
    seed: int = 0

    def levels(self) -> int:
        n, r = 0, self.resolution
        while r >= self.min_resolution:
            n, r = n + 1, r // 2
        return n


def laplacian_pyramid(image: np.ndarray, n_levels: int) -> list[np.ndarray]:
    """(S, S, 3) float32 -> n_levels band-pass images, finest first; the last is the low-pass residual."""
    levels = []
    g = image
    for _ in range(n_levels - 1):
        down = cv2.pyrDown(g)
        up = cv2.pyrUp(down, dstsize=(g.shape[1], g.shape[0]))
        levels.append(g - up)
        g = down
    levels.append(g)
    return levels


def swd_descriptors(image: np.ndarray, key: str, cfg: SWDConfig = SWDConfig()) -> list[np.ndarray]:
    """Patch descriptors of one image.

    Args:
        image: (H, W) or (H, W, 3) uint8.
        key: a stable identifier (the file stem); it seeds the patch positions.

    Returns:
        one (patches_per_image, 3 * patch_size**2) float16 array per pyramid level.
    """
    img = resize_u8(to_rgb(image), (cfg.resolution, cfg.resolution)).astype(np.float32) / 255.0
    out = []
    half = cfg.patch_size // 2
    for li, level in enumerate(laplacian_pyramid(img, cfg.levels())):
        rng = np.random.default_rng([cfg.seed, li, zlib.crc32(key.encode())])
        h, w = level.shape[:2]
        ys = rng.integers(half, h - half, cfg.patches_per_image)
        xs = rng.integers(half, w - half, cfg.patches_per_image)
        offs = np.arange(-half, half + 1)
        patches = level[ys[:, None, None] + offs[None, :, None], xs[:, None, None] + offs[None, None, :]]
        # (P, k, k, 3) -> channels first, as ProGAN orders them
        out.append(patches.transpose(0, 3, 1, 2).reshape(cfg.patches_per_image, -1).astype(np.float16))
    return out


def _normalise(desc: np.ndarray, channels: int = 3) -> np.ndarray:
    """Per-channel standardisation over all descriptors of one set and level."""
    d = desc.astype(np.float64).reshape(desc.shape[0], channels, -1)
    mean = d.mean(axis=(0, 2), keepdims=True)
    std = d.std(axis=(0, 2), keepdims=True)
    return ((d - mean) / np.where(std > 0, std, 1.0)).reshape(desc.shape[0], -1)


def sliced_wasserstein(a: np.ndarray, b: np.ndarray, cfg: SWDConfig = SWDConfig()) -> float:
    """Sliced Wasserstein-1 distance between two descriptor sets (Na, D), (Nb, D).

    When Na != Nb, the larger set's sorted projections are read at the smaller
    set's quantiles.
    """
    rng = np.random.default_rng(cfg.seed)
    results = []
    for _ in range(cfg.n_repeats):
        dirs = rng.standard_normal((a.shape[1], cfg.dirs_per_repeat))
        dirs /= np.linalg.norm(dirs, axis=0, keepdims=True)
        pa = np.sort(a @ dirs, axis=0)
        pb = np.sort(b @ dirs, axis=0)
        if pa.shape[0] != pb.shape[0]:
            small, large = (pa, pb) if pa.shape[0] < pb.shape[0] else (pb, pa)
            idx = np.round(np.linspace(0, large.shape[0] - 1, small.shape[0])).astype(int)
            pa, pb = small, large[idx]
        results.append(np.abs(pa - pb).mean())
    return float(np.mean(results))


def swd_from_descriptors(a: list[list[np.ndarray]], b: list[list[np.ndarray]],
                         cfg: SWDConfig = SWDConfig()) -> tuple[float, list[float]]:
    """SWD between two sets of images given their :func:`swd_descriptors`.

    Args:
        a, b: per image, the list of per-level descriptor arrays.

    Returns:
        (mean over levels x 1000, per-level values x 1000, finest level first).
    """
    if not a or not b:
        raise ValueError("SWD needs at least one image in each set")
    per_level = []
    for li in range(len(a[0])):
        da = _normalise(np.concatenate([img[li] for img in a]))
        db = _normalise(np.concatenate([img[li] for img in b]))
        per_level.append(1e3 * sliced_wasserstein(da, db, cfg))
    return float(np.mean(per_level)), per_level
