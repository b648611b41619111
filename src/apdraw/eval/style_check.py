"""A style classifier with no neural network: a second opinion on the style of generated drawings.

QMUPD's style vectors, its optional style-teacher loss and the evaluation style
classifier all sit on frozen ImageNet MobileNetV2 features
(:mod:`apdraw.models.style_classifier`). A generator trained against one of them
could move MobileNetV2 features without changing what a person sees, and the
other would agree. This classifier shares nothing with them: hand-made texture
statistics of the drawing (how much ink and how dark, stroke edges, local binary
patterns at three scales) and a logistic-regression head fitted on the FS2K
training drawings. If it also assigns a generated drawing to the requested
style, the style is in the strokes, not in the feature space of one network.
"""

from __future__ import annotations

from collections.abc import Sequence

import cv2
import numpy as np
import torch
from skimage.feature import local_binary_pattern

from apdraw.models.style_classifier import fit_linear_head

RESOLUTION = 256  # drawings are scored at this size (the aligned 512² frame, halved)
_LBP_RADII = (1, 2, 4)
_LBP_POINTS = 8


def handcrafted_features(drawing: np.ndarray) -> np.ndarray:
    """Gray uint8 drawing (any size, 255 = paper) -> (F,) float32 texture statistics.

    Gray-level histogram (16 bins) and ink coverage at 4 darkness levels; gradient
    magnitude histogram (16 bins); uniform LBP histograms (10 bins) at radii 1, 2 and 4,
    over all pixels and over inked pixels only (ink < 200).
    """
    d = np.asarray(drawing)
    if d.ndim == 3:
        d = d.mean(2)
    g = cv2.resize(d.astype(np.float32), (RESOLUTION, RESOLUTION), interpolation=cv2.INTER_AREA)
    feats = [np.histogram(g, bins=16, range=(0, 256))[0] / g.size]
    feats.append(np.array([(g < t).mean() for t in (64, 128, 192, 240)]))
    mag = np.hypot(cv2.Sobel(g, cv2.CV_32F, 1, 0), cv2.Sobel(g, cv2.CV_32F, 0, 1))
    feats.append(np.histogram(np.clip(mag, 0, 1023), bins=16, range=(0, 1024))[0] / g.size)
    ink = g < 200
    g8 = g.astype(np.uint8)
    for r in _LBP_RADII:
        lbp = local_binary_pattern(g8, _LBP_POINTS * r if r > 1 else _LBP_POINTS, r, method="uniform")
        bins = lbp.max() + 1 if lbp.size else 1
        h = np.histogram(lbp, bins=10, range=(0, bins))[0]
        feats.append(h / max(1, h.sum()))
        hi = np.histogram(lbp[ink], bins=10, range=(0, bins))[0]
        feats.append(hi / max(1, hi.sum()))
    return np.concatenate(feats).astype(np.float32)


class HandcraftedStyleClassifier:
    """Hand-made texture statistics -> logistic regression over K styles (deterministic fit)."""

    def __init__(self) -> None:
        self.mean: np.ndarray | None = None
        self.std: np.ndarray | None = None
        self.head: torch.nn.Linear | None = None

    @staticmethod
    def features(drawings: Sequence[np.ndarray]) -> np.ndarray:
        """N gray uint8 drawings -> (N, F)."""
        return np.stack([handcrafted_features(d) for d in drawings])

    def fit(self, feats: np.ndarray, labels: np.ndarray, weight_decay: float = 1e-3, steps: int = 300) -> "HandcraftedStyleClassifier":
        """Fit standardisation and a linear head to (N, F) features and (N,) integer labels (full-batch L-BFGS)."""
        if feats.ndim != 2 or labels.shape != feats.shape[:1]:
            raise ValueError(f"expected (N, F) features and (N,) labels, got {feats.shape}, {labels.shape}")
        self.mean, self.std = feats.mean(0), feats.std(0) + 1e-6
        z = torch.from_numpy((feats - self.mean) / self.std).float()
        head = torch.nn.Linear(z.shape[1], int(labels.max()) + 1)
        fit_linear_head(head, z, torch.from_numpy(labels).long(), weight_decay, steps)
        self.head = head
        return self

    @torch.no_grad()
    def predict_features(self, feats: np.ndarray) -> np.ndarray:
        """(N, F) features -> (N,) predicted style indices."""
        if self.head is None:
            raise RuntimeError("fit() the classifier first")
        z = torch.from_numpy((feats - self.mean) / self.std).float()
        return self.head(z).argmax(1).numpy()

    def predict(self, drawings: Sequence[np.ndarray]) -> np.ndarray:
        """N gray uint8 drawings -> (N,) predicted style indices."""
        return self.predict_features(self.features(drawings))
