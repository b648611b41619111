"""A photo -> mapping-code encoder that starts ``apdraw views``' inversion at the face (ours, not in SAGE).

Inversion (:meth:`apdraw.multiview.MultiViewGenerator.invert`) fits a mapping code w to a photo
with the networks frozen. From the mean code, a CPU budget of a few hundred Adam steps ends at
a face that matches the photo's colours and layout but not its identity. The warm start
(``apdraw train sage``, ``stage=reconstruct``) already learned one code per training photo, and
with ``code_init=features`` those codes start as a linear function of the photo's MobileNetV2
features; so a linear map from the same features to the *learned* codes, fitted once by ridge
regression (:func:`fit_ridge`, ``scripts/fit_sage_encoder.py``), gives any new photo a code near
the codes of the training photos that look like it. Inversion then starts there.

Input: MobileNetV2's pooled ImageNet features (1280-d, :class:`PhotoFeatures`)
of the photo's SAGE-frame crop at 256² (the training crops' size). Output: a code (B, hidden).
The generator's mapping head and decoders must be the ones the codes were learned with (the shipped
styles share them: one encoder serves both).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import numpy as np
import torch
from torch import nn

from apdraw.models.layers import check_shape

FORMAT = "apdraw.sage_code_encoder/1"
FEATURES = "mobilenet_v2_imagenet_pooled"  # the only feature extractor the encoder reads
WEIGHTS_DIR = Path(__file__).resolve().parents[2] / "weights"
DEFAULT_ENCODER = WEIGHTS_DIR / "sage_code_encoder.safetensors"  # fits the shipped generators' codes


@dataclass
class CodeEncoderConfig:
    feature_dim: int = 1280  # MobileNetV2's pooled features
    code_dim: int = 64  # the generator's mapping.hidden
    crop_size: int = 256  # the crop the features are computed on
    features: str = FEATURES

    def __post_init__(self) -> None:
        if self.feature_dim < 1 or self.code_dim < 1 or self.crop_size < 32:
            raise ValueError("feature_dim and code_dim must be >= 1 and crop_size >= 32")
        if self.features != FEATURES:
            raise ValueError(f"features must be {FEATURES!r}, got {self.features!r}")


class CodeEncoder(nn.Module):
    """features (B, feature_dim) float -> codes (B, code_dim): one affine map."""

    def __init__(self, cfg: CodeEncoderConfig):
        super().__init__()
        self.cfg = cfg
        self.linear = nn.Linear(cfg.feature_dim, cfg.code_dim)

    def forward(self, features: torch.Tensor) -> torch.Tensor:
        check_shape(features, "features", (None, self.cfg.feature_dim))
        return self.linear(features.to(self.linear.weight.dtype))

    @torch.no_grad()
    def encode(self, crops: np.ndarray, features: "PhotoFeatures | None" = None) -> torch.Tensor:
        """(N, H, W, 3) uint8 RGB SAGE-frame crops -> (N, code_dim) codes (features at ``crop_size``:
        :class:`PhotoFeatures` resizes other sizes)."""
        features = features or PhotoFeatures(self.cfg.crop_size)
        return self(features(crops).float())


class PhotoFeatures:
    """The encoder's input: MobileNetV2's pooled ImageNet features of photos, (N, S, S, 3) uint8 -> (N, 1280) float64.

    The global mean of the last 1280-channel layer (BatchNorm folded), as
    :class:`apdraw.eval.features.MobileNetV2Features`' ``pooled`` (the same network and weights;
    a test checks they agree); S is resized to ``resolution`` (bilinear) when it differs.
    """

    def __init__(self, resolution: int = 256):
        from apdraw.models.projected import TAP_LAYERS, FrozenMobileNetV2

        self.net = FrozenMobileNetV2(taps=len(TAP_LAYERS), resolution=resolution)

    @torch.inference_mode()
    def __call__(self, images: np.ndarray) -> torch.Tensor:
        if images.ndim != 4 or images.shape[-1] != 3 or images.dtype != np.uint8:
            raise ValueError(f"images: expected (N, H, W, 3) uint8, got {images.shape} {images.dtype}")
        x = torch.from_numpy(np.ascontiguousarray(images)).permute(0, 3, 1, 2).float() / 127.5 - 1.0
        return self.net(x)[-1].float().mean(dim=(2, 3)).double()


def fit_ridge(features: np.ndarray, codes: np.ndarray, alpha: float) -> tuple[np.ndarray, np.ndarray]:
    """Ridge regression codes ≈ features @ W.T + b (the intercept not penalised).

    features (N, F), codes (N, D) -> W (D, F), b (D,). Features are standardised inside
    (so ``alpha`` means the same for every feature scale) and the map folded back.
    """
    if features.ndim != 2 or codes.ndim != 2 or len(features) != len(codes) or len(features) < 2:
        raise ValueError(f"need (N, F) features and (N, D) codes with N >= 2, got {features.shape} and {codes.shape}")
    if not alpha > 0:
        raise ValueError(f"alpha must be > 0, got {alpha}")
    x = features.astype(np.float64)
    y = codes.astype(np.float64)
    mu, sd = x.mean(0), x.std(0) + 1e-8
    xs = (x - mu) / sd
    ym = y.mean(0)
    n, f = xs.shape
    if f <= n:  # (XᵀX + αI)⁻¹ Xᵀ y
        w = np.linalg.solve(xs.T @ xs + alpha * np.eye(f), xs.T @ (y - ym))
    else:  # the dual form, cheaper when there are fewer samples than features
        w = xs.T @ np.linalg.solve(xs @ xs.T + alpha * np.eye(n), y - ym)
    weight = (w / sd[:, None]).T  # (D, F)
    bias = ym - weight @ mu
    return weight.astype(np.float32), bias.astype(np.float32)


def encoder_from_ridge(weight: np.ndarray, bias: np.ndarray) -> CodeEncoder:
    enc = CodeEncoder(CodeEncoderConfig(feature_dim=weight.shape[1], code_dim=weight.shape[0]))
    with torch.no_grad():
        enc.linear.weight.copy_(torch.from_numpy(weight))
        enc.linear.bias.copy_(torch.from_numpy(bias))
    return enc.eval()


def mapping_fingerprint(generator: nn.Module) -> str:
    """sha256 of a SAGE generator's mapping head in fp16: which code space its codes live in.

    A code w means the same face to two generators only when the head that turns it into the
    field's FiLM parameters (``mapping.head``, :meth:`~apdraw.models.sage.MappingNetwork.from_code`)
    is the same; the warm start learns it, the map stage trains only the trunk (z -> w) and Stage II
    freezes it, so the warm start, the map stage and the shipped styles share one. fp16 because the
    shipped files are fp16.
    """
    import hashlib

    h = hashlib.sha256()
    for name, value in sorted(generator.mapping.head.state_dict().items()):
        h.update(name.encode())
        h.update(value.detach().cpu().half().numpy().tobytes())
    return h.hexdigest()


def save_code_encoder(path: str | Path, enc: CodeEncoder, mapping: str, half: bool = True, extra: dict[str, str] | None = None) -> Path:
    """Write ``enc`` with the :func:`mapping_fingerprint` of the generator whose codes it predicts."""
    from apdraw.persistence import save_model

    return save_model(path, enc, FORMAT, enc.cfg, half=half, extra={"mapping_fingerprint": mapping, **(extra or {})})


def load_code_encoder(path: str | Path | None = None) -> CodeEncoder:
    """A file written by :func:`save_code_encoder` (None: the shipped one), fp32, eval mode.

    The returned module's ``mapping_fingerprint`` (str) says which generators' codes it predicts.

    Raises FileNotFoundError (no such file) or apdraw.persistence.WeightsError (not an encoder file).
    """
    from apdraw.persistence import WeightsError, load_model

    path = DEFAULT_ENCODER if path is None else Path(path)
    enc, meta = load_model(path, FORMAT, CodeEncoderConfig, lambda c, meta: CodeEncoder(c))
    if not meta.get("mapping_fingerprint"):
        raise WeightsError(f"{path}: no mapping_fingerprint in the metadata (which generator's codes?)")
    enc.mapping_fingerprint = meta["mapping_fingerprint"]
    return enc
