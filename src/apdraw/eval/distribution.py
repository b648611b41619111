"""Distances between feature distributions: FID, KID and SIFID.

All work on feature matrices (N, D) from an extractor of
:mod:`apdraw.eval.features` and are deterministic (KID's subsets come from a
seeded generator).

Sample sizes matter: FID is biased upward at small N (the bias shrinks roughly
as 1/N), so two FIDs are comparable only at the same N. The suite therefore fixes
N per comparison and reports it next to every figure.
"""

from __future__ import annotations

import numpy as np


def gaussian_stats(features: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """(N, D) -> mean (D,) and unbiased covariance (D, D), float64. N >= 2."""
    f = np.asarray(features, dtype=np.float64)
    if f.ndim != 2 or f.shape[0] < 2:
        raise ValueError(f"need an (N >= 2, D) feature matrix, got shape {f.shape}")
    return f.mean(axis=0), np.cov(f, rowvar=False)


def _psd_sqrt(s: np.ndarray) -> np.ndarray:
    w, v = np.linalg.eigh((s + s.T) / 2)
    return (v * np.sqrt(np.clip(w, 0, None))) @ v.T


def frechet_distance(mu1: np.ndarray, sigma1: np.ndarray, mu2: np.ndarray, sigma2: np.ndarray) -> float:
    """Fréchet distance between two Gaussians: |mu1-mu2|^2 + tr(S1 + S2 - 2 (S1 S2)^(1/2)).

    tr((S1 S2)^(1/2)) is computed as the trace of the square root of the symmetric
    PSD matrix S1^(1/2) S2 S1^(1/2), which has the same eigenvalues; this stays
    real and stable for the singular covariances of small samples, where
    ``scipy.linalg.sqrtm`` returns complex noise.

    Returns:
        float >= 0 (rounding below zero is clipped).
    """
    mu1, mu2 = np.atleast_1d(mu1), np.atleast_1d(mu2)
    sigma1, sigma2 = np.atleast_2d(sigma1), np.atleast_2d(sigma2)
    root1 = _psd_sqrt(sigma1)
    inner = root1 @ sigma2 @ root1
    eig = np.linalg.eigvalsh((inner + inner.T) / 2)
    tr_covmean = float(np.sqrt(np.clip(eig, 0, None)).sum())
    diff = mu1 - mu2
    value = float(diff @ diff + np.trace(sigma1) + np.trace(sigma2) - 2.0 * tr_covmean)
    return max(value, 0.0)


def fid_from_features(a: np.ndarray, b: np.ndarray) -> float:
    """FID between feature sets (Na, D) and (Nb, D).

    With fewer samples than dimensions (the usual case for a few hundred
    drawings and 1280- or 2048-d features) the covariances have rank < N and the
    same value is computed exactly in the N-dimensional sample space:
    tr((S1 S2)^(1/2)) is the nuclear norm of A B^T / sqrt((Na-1)(Nb-1)), A and B
    the centred feature matrices. That is faster and symmetric by construction.
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    if a.ndim != 2 or b.ndim != 2 or a.shape[1] != b.shape[1] or min(a.shape[0], b.shape[0]) < 2:
        raise ValueError(f"need two (N >= 2, D) feature matrices of equal D, got {a.shape} and {b.shape}")
    if min(a.shape[0], b.shape[0]) >= a.shape[1]:
        return frechet_distance(*gaussian_stats(a), *gaussian_stats(b))
    mu1, mu2 = a.mean(axis=0), b.mean(axis=0)
    ca, cb = a - mu1, b - mu2
    da, db = a.shape[0] - 1, b.shape[0] - 1
    tr_covmean = float(np.linalg.svd(ca @ cb.T, compute_uv=False).sum()) / np.sqrt(da * db)
    diff = mu1 - mu2
    value = float(diff @ diff + (ca * ca).sum() / da + (cb * cb).sum() / db - 2.0 * tr_covmean)
    return max(value, 0.0)


def _polynomial_mmd2(x: np.ndarray, y: np.ndarray) -> float:
    """Unbiased MMD^2 with the cubic polynomial kernel k(u, v) = (u.v / D + 1)^3."""
    d = x.shape[1]
    kxx = (x @ x.T / d + 1) ** 3
    kyy = (y @ y.T / d + 1) ** 3
    kxy = (x @ y.T / d + 1) ** 3
    m, n = x.shape[0], y.shape[0]
    sxx = (kxx.sum() - np.trace(kxx)) / (m * (m - 1))
    syy = (kyy.sum() - np.trace(kyy)) / (n * (n - 1))
    return float(sxx + syy - 2.0 * kxy.mean())


def kid_from_features(a: np.ndarray, b: np.ndarray, subset_size: int = 1000, n_subsets: int = 100,
                      seed: int = 0) -> tuple[float, float]:
    """Kernel Inception Distance (Bińkowski et al. 2018): mean and std of the unbiased MMD^2.

    Subsets of ``min(subset_size, Na, Nb)`` rows are drawn without replacement from
    each set with a generator seeded by `seed`; when that is both whole sets, the
    single exact value is returned (std 0).

    The estimator is unbiased, so KID of a set to itself is 0 in expectation but
    not exactly: it is slightly negative, of order 1/N (the cross term keeps the
    diagonal). Values are raw (not x1000).
    """
    a = np.asarray(a, dtype=np.float64)
    b = np.asarray(b, dtype=np.float64)
    m = min(subset_size, a.shape[0], b.shape[0])
    if m < 2:
        raise ValueError("KID needs at least 2 samples in each set")
    if m == a.shape[0] == b.shape[0]:
        return _polynomial_mmd2(a, b), 0.0
    rng = np.random.default_rng(seed)
    vals = [
        _polynomial_mmd2(a[rng.choice(a.shape[0], m, replace=False)], b[rng.choice(b.shape[0], m, replace=False)])
        for _ in range(n_subsets)
    ]
    return float(np.mean(vals)), float(np.std(vals))


def sifid(a_positions: np.ndarray, b_positions: np.ndarray) -> float:
    """Single-image FID: the Fréchet distance between the spatial feature statistics of two images.

    Args:
        a_positions, b_positions: (positions, channels) early-layer features of one image each.
    """
    return fid_from_features(a_positions, b_positions)
