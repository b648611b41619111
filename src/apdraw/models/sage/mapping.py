"""SAGE's mapping network: z -> (w_c, w_s) (SPEC C.2 "Mapping network").

``w_c`` are the FiLM frequencies and phase shifts of every FiLM layer of the
feature field (:mod:`apdraw.models.sage.field`); ``w_s`` is the *mapping code*,
the hidden activation after the last LeakyReLU, which modulates the 2D decoders
through AdaIN (:mod:`apdraw.models.sage.decoders`).

Paper size: Linear(256 -> 256), LReLU(0.2), three times, then Linear(256 -> 4608)
with 4608 = 9 FiLM layers x 256 x 2; 1,381,632 parameters (SPEC: 1.38 M).
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass

import torch
from torch import nn

from apdraw.models.layers import check_shape


@dataclass
class MappingConfig:
    """Widths of the mapping network. Defaults = the paper's size."""

    z_dim: int = 256  # latent z ~ N(0, I)
    hidden: int = 256  # width of the hidden layers; also the length of the mapping code w_s
    layers: int = 3  # Linear + LReLU(0.2) pairs before the FiLM head
    film_layers: int = 9  # FiLM layers of the field to modulate (8 trunk layers + the colour layer)
    film_width: int = 256  # width of each FiLM layer (the field's hidden width)
    last_gain: float = 0.25  # the FiLM head's weight is scaled by this at init

    def __post_init__(self) -> None:
        for name in ("z_dim", "hidden", "layers", "film_layers", "film_width"):
            if getattr(self, name) < 1:
                raise ValueError(f"{name} must be >= 1, got {getattr(self, name)}")
        if self.last_gain <= 0:
            raise ValueError(f"last_gain must be > 0, got {self.last_gain}")

    @property
    def film_dim(self) -> int:
        """Length of the frequencies (and of the phases): film_layers x film_width."""
        return self.film_layers * self.film_width


@dataclass
class Latent:
    """The mapping network's output for a batch.

    frequencies, phases: (B, film_layers, film_width), raw (the field maps a
    frequency f to 15 f + 30); code: (B, hidden), the decoders' style code w_s.
    """

    frequencies: torch.Tensor
    phases: torch.Tensor
    code: torch.Tensor

    @property
    def batch(self) -> int:
        return int(self.code.shape[0])

    def truncate(self, mean: "Latent", psi: float) -> "Latent":
        """Truncation trick: mean + psi * (self - mean) for all three parts (psi = 1 leaves it unchanged).

        ``mean`` is a batch-1 latent (:meth:`MappingNetwork.mean_latent`), broadcast over the batch.
        """
        def lerp(a: torch.Tensor, m: torch.Tensor) -> torch.Tensor:
            return torch.lerp(m.expand_as(a), a, psi)  # exact at psi = 0 and 1

        return Latent(lerp(self.frequencies, mean.frequencies), lerp(self.phases, mean.phases), lerp(self.code, mean.code))

    def with_code(self, other: "Latent") -> "Latent":
        """Geometry (frequencies, phases) from ``self``, decoder style (code) from ``other`` (style mixing)."""
        return dataclasses.replace(self, code=other.code)


class MappingNetwork(nn.Module):
    """z (B, z_dim), any real values (N(0, I) in training) -> :class:`Latent`.

    Init: Kaiming-normal (leaky ReLU, a = 0.2, fan-in) weights, PyTorch's default
    biases; the FiLM head's weight is then scaled by ``cfg.last_gain`` (0.25).
    """

    def __init__(self, cfg: MappingConfig):
        super().__init__()
        self.cfg = cfg
        layers: list[nn.Module] = []
        width = cfg.z_dim
        for _ in range(cfg.layers):
            layers += [nn.Linear(width, cfg.hidden), nn.LeakyReLU(0.2)]
            width = cfg.hidden
        self.trunk = nn.Sequential(*layers)
        self.head = nn.Linear(width, 2 * cfg.film_dim)
        for m in self.modules():
            if isinstance(m, nn.Linear):
                nn.init.kaiming_normal_(m.weight, a=0.2, mode="fan_in", nonlinearity="leaky_relu")
        with torch.no_grad():
            self.head.weight.mul_(cfg.last_gain)

    def forward(self, z: torch.Tensor) -> Latent:
        check_shape(z, "z", (None, self.cfg.z_dim))
        return self.from_code(self.trunk(z))  # the head's output: first half frequencies, second half phases

    def from_code(self, code: torch.Tensor) -> Latent:
        """The :class:`Latent` of mapping codes w_s ``code`` (B, hidden): the FiLM head applied to it, and the code.

        ``self(z)`` is ``self.from_code(self.trunk(z))``; a code fitted directly in w_s space (the
        reconstruction stage's codes, :meth:`apdraw.multiview.MultiViewGenerator.invert`) becomes a latent here.
        """
        b, _ = check_shape(code, "code", (None, self.cfg.hidden))
        out = self.head(code)
        shape = (b, self.cfg.film_layers, self.cfg.film_width)
        frequencies, phases = out.split(self.cfg.film_dim, dim=1)
        return Latent(frequencies.reshape(shape), phases.reshape(shape), code)

    @torch.no_grad()
    def mean_latent(self, n: int = 10_000, generator: torch.Generator | None = None) -> Latent:
        """The mean of the mapping outputs of ``n`` z ~ N(0, I): a batch-1 :class:`Latent`.

        For :meth:`Latent.truncate`; compute it once and keep it (the original
        recomputes it on every rendered view, SPEC C.6).
        """
        p = next(self.parameters())
        z = torch.randn(n, self.cfg.z_dim, generator=generator).to(p)  # a CPU generator, then moved
        lat = self(z)
        return Latent(lat.frequencies.mean(0, keepdim=True), lat.phases.mean(0, keepdim=True), lat.code.mean(0, keepdim=True))
