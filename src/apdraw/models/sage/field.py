"""SAGE's FiLM-SIREN feature field (SPEC C.2 "SIREN/FiLM field"), pi-GAN style.

Points are scaled by 2 / 0.24 (a uniform box warp: the box [-0.12, 0.12]³ maps
to [-1, 1]³), then pass ``layers`` FiLM-SIREN layers, each
sin(freq * (W x + b) + phase) with freq = 15 f + 30 and (f, phase) from the
mapping network. Density is a raw Linear(hidden -> 1) of the trunk. The colour
branch is one more FiLM layer on concat(ray direction, trunk) whose output is
the ``hidden``-dim feature the renderer composites; Linear(hidden -> 3) and a
sigmoid give the low-resolution RGB.

Init (pi-GAN): every Linear weight ~ U(+-sqrt(6 / fan_in) / 25), the first
layer's ~ U(+-1 / fan_in); biases keep PyTorch's default.

Paper size: 8 layers of width 256 + the colour layer; 529,156 parameters
(with the mapping network's 1,381,632: 1,910,788, SPEC "SIREN 1.91 M").
"""

from __future__ import annotations

import math
from dataclasses import dataclass

import torch
from torch import nn

from apdraw.models.layers import check_shape
from apdraw.models.sage.mapping import Latent


@dataclass
class FieldConfig:
    """The FiLM-SIREN field. Defaults = the paper's size."""

    hidden: int = 256  # width of every FiLM layer and of the rendered feature
    layers: int = 8  # FiLM trunk layers (the first 3 -> hidden); the colour layer comes on top
    box: float = 0.24  # side of the cube mapped to [-1, 1]³ (points are scaled by 2 / box)
    freq_scale: float = 15.0  # freq = freq_scale * f + freq_shift
    freq_shift: float = 30.0
    init_divisor: float = 25.0  # pi-GAN's frequency init: U(+-sqrt(6 / n) / init_divisor)

    def __post_init__(self) -> None:
        if self.hidden < 1 or self.layers < 1:
            raise ValueError(f"hidden and layers must be >= 1, got {self.hidden}, {self.layers}")
        if self.box <= 0 or self.init_divisor <= 0:
            raise ValueError(f"box and init_divisor must be > 0, got {self.box}, {self.init_divisor}")

    @property
    def film_layers(self) -> int:
        """FiLM layers the mapping network must modulate (trunk + colour)."""
        return self.layers + 1


class FiLMLayer(nn.Module):
    """sin(freq * (W x + b) + phase).

    forward(x (B, N, in_dim), freq (B, out_dim), phase (B, out_dim)) -> (B, N, out_dim) in [-1, 1].
    """

    def __init__(self, in_dim: int, out_dim: int):
        super().__init__()
        self.linear = nn.Linear(in_dim, out_dim)

    def forward(self, x: torch.Tensor, freq: torch.Tensor, phase: torch.Tensor) -> torch.Tensor:
        return torch.sin(freq[:, None, :] * self.linear(x) + phase[:, None, :])


def _frequency_init(linear: nn.Linear, divisor: float) -> None:
    n = linear.in_features
    bound = math.sqrt(6.0 / n) / divisor
    nn.init.uniform_(linear.weight, -bound, bound)


def _first_layer_init(linear: nn.Linear) -> None:
    n = linear.in_features
    nn.init.uniform_(linear.weight, -1.0 / n, 1.0 / n)


class FiLMSiren(nn.Module):
    """The feature field: points and view directions -> features, RGB and density.

    forward(points (B, N, 3) world coordinates, dirs (B, N, 3) unit ray directions,
    latent :class:`Latent` with (B, layers + 1, hidden) frequencies and phases)
    -> features (B, N, hidden) in [-1, 1], rgb (B, N, 3) in [0, 1], sigma (B, N, 1) raw density
    (the renderer applies noise and ReLU).
    """

    def __init__(self, cfg: FieldConfig):
        super().__init__()
        self.cfg = cfg
        h = cfg.hidden
        self.trunk = nn.ModuleList([FiLMLayer(3, h)] + [FiLMLayer(h, h) for _ in range(cfg.layers - 1)])
        self.sigma = nn.Linear(h, 1)
        self.color = FiLMLayer(3 + h, h)  # on concat(ray direction, trunk output)
        self.rgb = nn.Linear(h, 3)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                _frequency_init(m, cfg.init_divisor)
        _first_layer_init(self.trunk[0].linear)

    def forward(self, points: torch.Tensor, dirs: torch.Tensor, latent: Latent) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
        b, n, _ = check_shape(points, "points", (None, None, 3))
        check_shape(dirs, "dirs", (b, n, 3))
        check_shape(latent.frequencies, "frequencies", (b, self.cfg.film_layers, self.cfg.hidden))
        check_shape(latent.phases, "phases", (b, self.cfg.film_layers, self.cfg.hidden))
        freq = latent.frequencies * self.cfg.freq_scale + self.cfg.freq_shift
        phase = latent.phases
        x = points * (2.0 / self.cfg.box)
        for i, layer in enumerate(self.trunk):
            x = layer(x, freq[:, i], phase[:, i])
        sigma = self.sigma(x)
        features = self.color(torch.cat([dirs, x], -1), freq[:, -1], phase[:, -1])
        rgb = torch.sigmoid(self.rgb(features))
        return features, rgb, sigma
