"""Drawing-style classifiers: frozen ImageNet MobileNetV2 features and a linear head.

QMUPD labels each training drawing with a soft style vector, the softmax of a
style classifier (the original's was a VGG19 whose weights and training were
never released, SPEC B1.1). apdraw trains two small classifiers on the FS2K
sketch-type labels, each a linear softmax head on a frozen network, so they
train in seconds on cached features:

* ``features="pooled"``: the global mean of MobileNetV2's last 1280-channel
  layer (what the image shows). Its softmax is the **training** style vector of
  each drawing (:mod:`apdraw.data.unpaired`).
* ``features="stats"``: the per-channel mean and standard deviation of the
  stride-4, 8 and 16 feature maps (24 + 32 + 96 channels, 304 numbers: the
  texture statistics style transfer matches). This one is trained separately,
  on a different view of the network, and is the **evaluation** classifier: the
  style accuracy of generated drawings (docs/QMUPD.md).

Both standardise their features with statistics stored in the weights file.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from apdraw.models.layers import check_shape
from apdraw.models.projected import FrozenMobileNetV2

FORMAT = "apdraw.styleclassifier/1"
FeatureKind = Literal["pooled", "stats"]
_TAPS = {"pooled": 6, "stats": 4}  # taps of FrozenMobileNetV2 each kind needs
_DIMS = {"pooled": 1280, "stats": 2 * (24 + 32 + 96)}
ROLES = ("train", "eval")


def default_weights(role: str) -> Path:
    """The shipped classifier of ``role``: "train" (QMUPD's soft style labels) or "eval" (style accuracy)."""
    if role not in ROLES:
        raise ValueError(f"role must be one of {ROLES}, got {role!r}")
    return Path(__file__).resolve().parents[1] / "weights" / f"style_classifier_{role}.safetensors"


def texture_statistics(maps: list[torch.Tensor]) -> torch.Tensor:
    """Per-channel mean and std of FrozenMobileNetV2's stride-4, 8 and 16 maps (taps 1-3): (B, 304) float32."""
    feats = []
    for m in maps[1:4]:
        m = m.float()
        feats += [m.mean((2, 3)), m.std((2, 3))]
    return torch.cat(feats, 1)


@dataclass
class StyleClassifierConfig:
    features: FeatureKind = "pooled"
    num_classes: int = 3
    resolution: int = 256  # drawings are resized to this before MobileNetV2

    def __post_init__(self) -> None:
        if self.features not in _DIMS:
            raise ValueError(f"features must be one of {sorted(_DIMS)}, got {self.features!r}")
        if self.num_classes < 2:
            raise ValueError(f"num_classes must be >= 2, got {self.num_classes}")


class StyleClassifier(nn.Module):
    """(B, 1|3, H, W) drawings in [-1, 1] -> (B, K) style logits.

    The backbone is frozen and outside ``state_dict()``; the weights file holds
    the feature mean/std and the linear head only (a few kB).
    """

    def __init__(self, config: StyleClassifierConfig | None = None):
        super().__init__()
        self.config = config or StyleClassifierConfig()
        dim = _DIMS[self.config.features]
        self.backbone = FrozenMobileNetV2(_TAPS[self.config.features], self.config.resolution)
        self.register_buffer("feature_mean", torch.zeros(dim))
        self.register_buffer("feature_std", torch.ones(dim))
        self.head = nn.Linear(dim, self.config.num_classes)

    def _apply(self, fn, recurse=True):  # noqa: ANN001 - nn.Module's signature
        self.backbone.apply(fn)
        return super()._apply(fn, recurse)

    def features(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1|3, H, W) in [-1, 1] -> (B, F) unstandardised features (F = 1280 pooled, 304 stats).

        Differentiable with respect to ``x`` (QMUPD's style-teacher loss backpropagates through it).
        """
        check_shape(x, "drawing", (None, None, None, None))
        maps = self.backbone(x.float())
        if self.config.features == "pooled":
            return maps[5].float().mean((2, 3))
        return texture_statistics(maps)

    @torch.no_grad()
    def raw_features(self, x: torch.Tensor) -> torch.Tensor:
        """:meth:`features` without a graph (fitting and scoring)."""
        return self.features(x)

    def logits_from_features(self, feats: torch.Tensor) -> torch.Tensor:
        return self.head((feats - self.feature_mean) / self.feature_std)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 1|3, H, W) in [-1, 1] -> (B, K) logits; differentiable with respect to ``x``."""
        return self.logits_from_features(self.features(x))

    @torch.no_grad()
    def predict_proba(self, drawings: Sequence[np.ndarray], batch_size: int = 16) -> np.ndarray:
        """Gray uint8 drawings (any sizes, 255 = paper) -> (N, K) softmax probabilities."""
        out = []
        r = self.config.resolution
        for i in range(0, len(drawings), batch_size):
            batch = torch.stack([_to_input(d, r) for d in drawings[i : i + batch_size]])
            out.append(F.softmax(self(batch), 1).numpy())
        return np.concatenate(out) if out else np.zeros((0, self.config.num_classes), np.float32)

    # ------------------------------------------------------------------ fitting and files

    def fit(self, feats: torch.Tensor, labels: torch.Tensor, weight_decay: float = 1e-3, steps: int = 300) -> None:
        """Fit the standardisation and the linear head to (N, F) features and (N,) labels (full-batch L-BFGS)."""
        if feats.ndim != 2 or feats.shape[1] != self.feature_mean.numel() or labels.shape != feats.shape[:1]:
            raise ValueError(f"expected (N, {self.feature_mean.numel()}) features and (N,) labels, got {tuple(feats.shape)}, {tuple(labels.shape)}")
        self.feature_mean.copy_(feats.mean(0))
        self.feature_std.copy_(feats.std(0).clamp_min(1e-6))
        fit_linear_head(self.head, (feats - self.feature_mean) / self.feature_std, labels, weight_decay, steps)

    def save(self, path: str | Path, extra: dict[str, str] | None = None) -> Path:
        from apdraw.persistence import save_model

        return save_model(path, self, FORMAT, self.config, half=True, extra=extra)

    @classmethod
    def from_pretrained(cls, path: str | Path) -> "StyleClassifier":
        from apdraw.persistence import load_model

        model, _ = load_model(path, FORMAT, StyleClassifierConfig, lambda cfg, meta: cls(cfg))
        return model


def fit_linear_head(head: nn.Linear, z: torch.Tensor, labels: torch.Tensor, weight_decay: float = 1e-3, steps: int = 300) -> None:
    """Multinomial logistic regression: fit ``head`` to standardised (N, F) features and (N,) labels.

    Full-batch L-BFGS from a fixed initialisation, so the same data always give the same head.
    """
    gen = torch.Generator().manual_seed(0)
    nn.init.normal_(head.weight, std=0.01, generator=gen)
    nn.init.zeros_(head.bias)
    opt = torch.optim.LBFGS(head.parameters(), lr=1, max_iter=steps, line_search_fn="strong_wolfe")

    def closure() -> torch.Tensor:
        opt.zero_grad()
        loss = F.cross_entropy(head(z), labels) + weight_decay * head.weight.square().sum()
        loss.backward()
        return loss

    with torch.enable_grad():
        opt.step(closure)


def _to_input(drawing: np.ndarray, resolution: int) -> torch.Tensor:
    """(H, W) or (H, W, C) uint8 -> (1, R, R) float in [-1, 1] (antialiased resize)."""
    d = np.asarray(drawing)
    if d.ndim == 3:
        d = d.mean(2)
    t = torch.from_numpy(np.ascontiguousarray(d, dtype=np.float32))[None, None] / 127.5 - 1.0
    if t.shape[-2:] != (resolution, resolution):
        t = F.interpolate(t, size=(resolution, resolution), mode="bilinear", align_corners=False, antialias=True)
    return t[0]
