"""The Inception-v3 network of FID, written without torchvision.

FID (Heusel et al. 2017) is defined on the pool3 features of one particular
TensorFlow Inception-v3 graph (``inception-2015-12-05``). pytorch-fid ported those
weights to ``pt_inception-2015-12-05-6726825d.pth``; this module rebuilds the
network that file belongs to, with the same parameter names, so the file loads
with every key. It differs from the ImageNet Inception-v3 of torchvision in four
places, all reproduced here:

* 1008 output classes;
* the average-pool branches of the A, C and first E blocks ignore padded zeros
  (TensorFlow's ``count_include_pad=False``);
* the pool branch of the last E block (``Mixed_7c``) uses max pooling;
* no auxiliary classifier.

The weights cannot be downloaded at run time here, so :func:`fid_inception_v3`
reads them from a path the user gives, ``$APDRAW_INCEPTION_WEIGHTS``, or the
caches where pytorch-fid and apdraw keep them (:func:`inception_weights_path`).
"""

from __future__ import annotations

import hashlib
import os
import warnings
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

WEIGHTS_FILENAME = "pt_inception-2015-12-05-6726825d.pth"
# torch.hub names files <stem>-<first 8 hex digits of their sha256>.
WEIGHTS_SHA256_PREFIX = "6726825d"
FID_INPUT_SIZE = 299
# Output channels of the four blocks pytorch-fid exposes: after the first max
# pool, after the second max pool, before the aux classifier, after the final pool.
BLOCK_CHANNELS = (64, 192, 768, 2048)


class BasicConv2d(nn.Module):
    """Conv (no bias) + BatchNorm (eps 1e-3, TensorFlow's) + ReLU."""

    def __init__(self, cin: int, cout: int, kernel: int | tuple[int, int], stride: int = 1,
                 padding: int | tuple[int, int] = 0):
        super().__init__()
        self.conv = nn.Conv2d(cin, cout, kernel, stride=stride, padding=padding, bias=False)
        self.bn = nn.BatchNorm2d(cout, eps=0.001)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return F.relu(self.bn(self.conv(x)), inplace=True)


def _tf_avg_pool(x: torch.Tensor) -> torch.Tensor:
    # TensorFlow's 3x3 average pool does not count padded zeros at the borders.
    return F.avg_pool2d(x, kernel_size=3, stride=1, padding=1, count_include_pad=False)


class InceptionA(nn.Module):
    """35x35 block: 1x1 | 1x1-5x5 | 1x1-3x3-3x3 | avgpool-1x1. Out: 224 + pool_features."""

    def __init__(self, cin: int, pool_features: int):
        super().__init__()
        self.branch1x1 = BasicConv2d(cin, 64, 1)
        self.branch5x5_1 = BasicConv2d(cin, 48, 1)
        self.branch5x5_2 = BasicConv2d(48, 64, 5, padding=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, padding=1)
        self.branch_pool = BasicConv2d(cin, pool_features, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b5 = self.branch5x5_2(self.branch5x5_1(x))
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch1x1(x), b5, b3, self.branch_pool(_tf_avg_pool(x))], 1)


class InceptionB(nn.Module):
    """Grid reduction 35 -> 17: stride-2 3x3 | 1x1-3x3-3x3/2 | maxpool. Out: 480 + cin."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3 = BasicConv2d(cin, 384, 3, stride=2)
        self.branch3x3dbl_1 = BasicConv2d(cin, 64, 1)
        self.branch3x3dbl_2 = BasicConv2d(64, 96, 3, padding=1)
        self.branch3x3dbl_3 = BasicConv2d(96, 96, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3dbl_3(self.branch3x3dbl_2(self.branch3x3dbl_1(x)))
        return torch.cat([self.branch3x3(x), b3, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionC(nn.Module):
    """17x17 block with factorised 7x7 convolutions. Out: 768."""

    def __init__(self, cin: int, channels_7x7: int):
        super().__init__()
        c7 = channels_7x7
        self.branch1x1 = BasicConv2d(cin, 192, 1)
        self.branch7x7_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7_2 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7_3 = BasicConv2d(c7, 192, (7, 1), padding=(3, 0))
        self.branch7x7dbl_1 = BasicConv2d(cin, c7, 1)
        self.branch7x7dbl_2 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_3 = BasicConv2d(c7, c7, (1, 7), padding=(0, 3))
        self.branch7x7dbl_4 = BasicConv2d(c7, c7, (7, 1), padding=(3, 0))
        self.branch7x7dbl_5 = BasicConv2d(c7, 192, (1, 7), padding=(0, 3))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b7 = self.branch7x7_3(self.branch7x7_2(self.branch7x7_1(x)))
        d = self.branch7x7dbl_1(x)
        for layer in (self.branch7x7dbl_2, self.branch7x7dbl_3, self.branch7x7dbl_4, self.branch7x7dbl_5):
            d = layer(d)
        return torch.cat([self.branch1x1(x), b7, d, self.branch_pool(_tf_avg_pool(x))], 1)


class InceptionD(nn.Module):
    """Grid reduction 17 -> 8. Out: 512 + cin."""

    def __init__(self, cin: int):
        super().__init__()
        self.branch3x3_1 = BasicConv2d(cin, 192, 1)
        self.branch3x3_2 = BasicConv2d(192, 320, 3, stride=2)
        self.branch7x7x3_1 = BasicConv2d(cin, 192, 1)
        self.branch7x7x3_2 = BasicConv2d(192, 192, (1, 7), padding=(0, 3))
        self.branch7x7x3_3 = BasicConv2d(192, 192, (7, 1), padding=(3, 0))
        self.branch7x7x3_4 = BasicConv2d(192, 192, 3, stride=2)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        b3 = self.branch3x3_2(self.branch3x3_1(x))
        b7 = x
        for layer in (self.branch7x7x3_1, self.branch7x7x3_2, self.branch7x7x3_3, self.branch7x7x3_4):
            b7 = layer(b7)
        return torch.cat([b3, b7, F.max_pool2d(x, kernel_size=3, stride=2)], 1)


class InceptionE(nn.Module):
    """8x8 block with split 1x3/3x1 convolutions. Out: 2048.

    ``max_pool=True`` is the last block of the FID graph, whose pool branch max-pools.
    """

    def __init__(self, cin: int, max_pool: bool = False):
        super().__init__()
        self.max_pool = max_pool
        self.branch1x1 = BasicConv2d(cin, 320, 1)
        self.branch3x3_1 = BasicConv2d(cin, 384, 1)
        self.branch3x3_2a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3_2b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch3x3dbl_1 = BasicConv2d(cin, 448, 1)
        self.branch3x3dbl_2 = BasicConv2d(448, 384, 3, padding=1)
        self.branch3x3dbl_3a = BasicConv2d(384, 384, (1, 3), padding=(0, 1))
        self.branch3x3dbl_3b = BasicConv2d(384, 384, (3, 1), padding=(1, 0))
        self.branch_pool = BasicConv2d(cin, 192, 1)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        s = self.branch3x3_1(x)
        b3 = torch.cat([self.branch3x3_2a(s), self.branch3x3_2b(s)], 1)
        d = self.branch3x3dbl_2(self.branch3x3dbl_1(x))
        bd = torch.cat([self.branch3x3dbl_3a(d), self.branch3x3dbl_3b(d)], 1)
        pooled = F.max_pool2d(x, kernel_size=3, stride=1, padding=1) if self.max_pool else _tf_avg_pool(x)
        return torch.cat([self.branch1x1(x), b3, bd, self.branch_pool(pooled)], 1)


class FIDInceptionV3(nn.Module):
    """The FID Inception-v3 graph.

    Input: (B, 3, H, W) RGB in [0, 1]; FID uses H = W = 299 (other sizes >= 75
    run, as the net is fully convolutional up to the global pool). ``blocks(x)``
    returns the four pytorch-fid feature blocks (channels :data:`BLOCK_CHANNELS`);
    ``forward(x)`` returns the 2048-d pool3 features (B, 2048).
    """

    def __init__(self, num_classes: int = 1008):
        super().__init__()
        self.Conv2d_1a_3x3 = BasicConv2d(3, 32, 3, stride=2)
        self.Conv2d_2a_3x3 = BasicConv2d(32, 32, 3)
        self.Conv2d_2b_3x3 = BasicConv2d(32, 64, 3, padding=1)
        self.Conv2d_3b_1x1 = BasicConv2d(64, 80, 1)
        self.Conv2d_4a_3x3 = BasicConv2d(80, 192, 3)
        self.Mixed_5b = InceptionA(192, pool_features=32)
        self.Mixed_5c = InceptionA(256, pool_features=64)
        self.Mixed_5d = InceptionA(288, pool_features=64)
        self.Mixed_6a = InceptionB(288)
        self.Mixed_6b = InceptionC(768, channels_7x7=128)
        self.Mixed_6c = InceptionC(768, channels_7x7=160)
        self.Mixed_6d = InceptionC(768, channels_7x7=160)
        self.Mixed_6e = InceptionC(768, channels_7x7=192)
        self.Mixed_7a = InceptionD(768)
        self.Mixed_7b = InceptionE(1280)
        self.Mixed_7c = InceptionE(2048, max_pool=True)
        # Unused by FID; kept so the checkpoint loads strictly and logits are available.
        self.fc = nn.Linear(2048, num_classes)

    def blocks(self, x: torch.Tensor, upto: int = 4) -> list[torch.Tensor]:
        """The first `upto` pytorch-fid blocks: (B,64,h0,w0), (B,192,..), (B,768,..), (B,2048,1,1).

        Args:
            x: (B, 3, H, W) RGB in [0, 1], not resized here.
        """
        x = 2.0 * x - 1.0  # the TF graph expects [-1, 1]
        outs: list[torch.Tensor] = []
        for layers in self._block_layers()[:upto]:
            for layer in layers:
                x = layer(x)
            outs.append(x)
        return outs

    def _block_layers(self) -> list[tuple]:
        def maxpool(t: torch.Tensor) -> torch.Tensor:
            return F.max_pool2d(t, kernel_size=3, stride=2)

        def avgpool(t: torch.Tensor) -> torch.Tensor:
            return F.adaptive_avg_pool2d(t, 1)

        return [
            (self.Conv2d_1a_3x3, self.Conv2d_2a_3x3, self.Conv2d_2b_3x3, maxpool),
            (self.Conv2d_3b_1x1, self.Conv2d_4a_3x3, maxpool),
            (self.Mixed_5b, self.Mixed_5c, self.Mixed_5d, self.Mixed_6a,
             self.Mixed_6b, self.Mixed_6c, self.Mixed_6d, self.Mixed_6e),
            (self.Mixed_7a, self.Mixed_7b, self.Mixed_7c, avgpool),
        ]

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 2048) pool3 features."""
        return self.blocks(x, upto=4)[-1].flatten(1)

    def logits(self, x: torch.Tensor) -> torch.Tensor:
        """(B, 3, H, W) in [0, 1] -> (B, 1008) class logits (for Inception Score)."""
        return self.fc(self.forward(x))


def _cache_candidates() -> list[Path]:
    home = Path.home()
    torch_home = Path(os.environ.get("TORCH_HOME", home / ".cache" / "torch"))
    xdg = Path(os.environ.get("XDG_CACHE_HOME", home / ".cache"))
    return [xdg / "apdraw" / WEIGHTS_FILENAME, torch_home / "hub" / "checkpoints" / WEIGHTS_FILENAME]


def inception_weights_path(path: str | os.PathLike | None = None) -> Path:
    """Locate the FID Inception weights.

    Order: `path`, ``$APDRAW_INCEPTION_WEIGHTS``, ``~/.cache/apdraw/``, then
    torch.hub's checkpoint folder (where pytorch-fid downloads it).

    Raises:
        FileNotFoundError: with instructions, when none exists.
    """
    if path is not None:
        p = Path(path)
        if not p.is_file():
            raise FileNotFoundError(f"Inception weights {p}: no such file")
        return p
    env = os.environ.get("APDRAW_INCEPTION_WEIGHTS")
    if env:
        p = Path(env)
        if not p.is_file():
            raise FileNotFoundError(f"APDRAW_INCEPTION_WEIGHTS={env}: no such file")
        return p
    for p in _cache_candidates():
        if p.is_file():
            return p
    raise FileNotFoundError(
        f"the FID Inception weights ({WEIGHTS_FILENAME}) were not found; download them from "
        "https://github.com/mseitzer/pytorch-fid/releases/download/fid_weights/" + WEIGHTS_FILENAME
        + " and pass --inception-weights PATH, set APDRAW_INCEPTION_WEIGHTS, or put the file in "
        + " or ".join(str(p.parent) for p in _cache_candidates())
    )


def _sha256(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        for chunk in iter(lambda: f.read(1 << 20), b""):
            h.update(chunk)
    return h.hexdigest()


def load_fid_state_dict(model: FIDInceptionV3, state: dict[str, torch.Tensor]) -> None:
    """Strict load, except that BatchNorm's ``num_batches_tracked`` may be absent.

    Raises:
        KeyError: naming missing or unexpected keys (a file of another network).
    """
    own = model.state_dict()
    missing = [k for k in own if k not in state and not k.endswith("num_batches_tracked")]
    unexpected = [k for k in state if k not in own]
    if missing or unexpected:
        raise KeyError(
            f"not a pytorch-fid Inception state dict: {len(missing)} missing key(s) {missing[:5]}, "
            f"{len(unexpected)} unexpected key(s) {unexpected[:5]}"
        )
    model.load_state_dict(state, strict=False)


def fid_inception_v3(weights: str | os.PathLike | None = None, check_hash: bool = True) -> FIDInceptionV3:
    """The FID Inception-v3 with pytorch-fid's weights, in eval mode.

    Args:
        weights: path of ``pt_inception-2015-12-05-6726825d.pth``; None searches
            the locations of :func:`inception_weights_path`.
        check_hash: warn when the file's sha256 does not start with the published prefix.
    """
    path = inception_weights_path(weights)
    if check_hash and not _sha256(path).startswith(WEIGHTS_SHA256_PREFIX):
        warnings.warn(f"{path}: sha256 does not start with {WEIGHTS_SHA256_PREFIX}; FIDs may not be standard",
                      stacklevel=2)
    state = torch.load(path, map_location="cpu", weights_only=True)
    model = FIDInceptionV3()
    load_fid_state_dict(model, state)
    return model.eval()
