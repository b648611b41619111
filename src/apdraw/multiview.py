"""Random identities from any viewpoint: SAGE's generator as an API (``apdraw generate`` runs it).

Usage::

    mv = MultiViewGenerator.from_pretrained("sage.safetensors")   # None: the shipped weights (none yet)
    view = mv.render(seed=3, yaw_deg=-15)      # view.drawing (H, W) uint8, view.photo (H, W, 3) uint8,
    color = view.semantic_color()              # view.semantic (H, W) uint8 class ids 0..18
    views = mv.sweep(3, [-30, -15, 0, 15, 30])  # the same identity turning
    mid = mv.interpolate(3, 7, 0.5, yaw_deg=0)  # half-way between identities 3 and 7

**Angles** are degrees relative to the frontal view: ``yaw_deg = pitch_deg = 0`` is
the renderer's θ = φ = π/2 (:mod:`apdraw.models.sage.renderer`), and
θ = π/2 + yaw, φ = π/2 + pitch in radians. Positive yaw turns the face to the
image's right (its nose points right); positive pitch turns it up (the camera is
below the face; its nose points up). |yaw| <= 90, |pitch| < 90 (the camera's
orientation is undefined at the poles). ``tests/test_multiview.py`` checks the
directions by projecting a point in front of the face with the renderer's cameras.

**Determinism.** The network runs in eval mode. A seed's z is drawn from a
``torch.Generator`` seeded with the seed alone (on the CPU, so the identity does
not depend on the device), so one seed is one identity at every viewpoint; the
renderer's sample jitter (``renderer.jitter_at_eval``, as the original) comes
from a generator seeded with a hash of (seed, yaw, pitch), so a view is the same
on every call and independent of the other views rendered. Truncation pulls the
latent towards the mean of 10,000 mapped z (seeded): ψ = 1 leaves it, ψ = 0 is
the average identity.

**Interpolation** is linear in the mapping network's output (frequencies, phases
and the decoder code w_s; the frequencies and phases are an affine function of
w_s, so this is interpolation in w space). Its jitter is seed_a's, so ``t = 0``
gives exactly ``render(seed_a, ...)``.
"""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from pathlib import Path
from typing import Iterable

import numpy as np
import torch

from apdraw.models.parser import colorize
from apdraw.models.sage import Latent, SageGenerator, load_generator
from apdraw.runtime import torch_threads

MAX_YAW = 90.0  # degrees either side of frontal
MAX_PITCH = 90.0  # exclusive: the camera's orientation is undefined at the poles
MEAN_LATENT_SAMPLES = 10_000
MEAN_LATENT_SEED = 0
MAX_SEED = 2**63 - 1


@dataclass(frozen=True)
class View:
    """One rendered view. S = the generator's output side (128 for the compact config).

    drawing (S, S) uint8, 255 = paper; photo (S, S, 3) uint8 RGB (the image decoder's
    output); semantic (S, S) uint8 class ids 0..18 (CelebAMask-HQ order,
    :data:`apdraw.models.parser.CLASS_NAMES`); the view's angles in degrees.
    """

    drawing: np.ndarray
    photo: np.ndarray
    semantic: np.ndarray
    yaw_deg: float
    pitch_deg: float

    def semantic_color(self) -> np.ndarray:
        """(S, S, 3) uint8: the label map in the parser's 19-colour CelebAMask-HQ palette."""
        return colorize(self.semantic)


def camera_angles(yaw_deg: float, pitch_deg: float = 0.0) -> tuple[float, float]:
    """Degrees relative to frontal -> the renderer's (θ, φ) radians (frontal π/2, π/2). ValueError when out of range."""
    yaw, pitch = float(yaw_deg), float(pitch_deg)
    if not (math.isfinite(yaw) and math.isfinite(pitch)):
        raise ValueError(f"angles must be finite, got yaw {yaw_deg}, pitch {pitch_deg}")
    if abs(yaw) > MAX_YAW:
        raise ValueError(f"yaw must be within ±{MAX_YAW:g} degrees of frontal, got {yaw:g}")
    if abs(pitch) >= MAX_PITCH:
        raise ValueError(f"pitch must be strictly within ±{MAX_PITCH:g} degrees of frontal, got {pitch:g}")
    return math.pi / 2 + math.radians(yaw), math.pi / 2 + math.radians(pitch)


def _check_seed(seed: int) -> int:
    if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or not 0 <= int(seed) <= MAX_SEED:
        raise ValueError(f"a seed is an integer in 0..2**63-1, got {seed!r}")
    return int(seed)


def _view_seed(seed: int, yaw_deg: float, pitch_deg: float) -> int:
    """A 63-bit seed for the sample jitter of one (identity seed, view); -0.0 and 0.0 are one view."""
    key = f"{seed}:{float(yaw_deg) + 0.0!r}:{float(pitch_deg) + 0.0!r}".encode()
    return int.from_bytes(hashlib.blake2b(key, digest_size=8).digest(), "little") >> 1


class MultiViewGenerator:
    """A SAGE generator that draws seeded random identities from chosen viewpoints.

    ``device``: where the network runs; ``num_threads``: torch CPU threads while
    it runs (None: leave the setting alone; 1 by default as apdraw's other
    inference wrappers, see :func:`apdraw.runtime.torch_threads`).
    """

    def __init__(self, generator: SageGenerator, device: str | torch.device = "cpu", num_threads: int | None = 1):
        self.device = torch.device(device)
        self.num_threads = num_threads
        self.generator = generator.to(self.device).eval().requires_grad_(False)
        self.z_dim = generator.cfg.mapping.z_dim
        with torch.no_grad(), torch_threads(num_threads, self.device):
            self.mean_latent = generator.mapping.mean_latent(MEAN_LATENT_SAMPLES, torch.Generator().manual_seed(MEAN_LATENT_SEED))

    @classmethod
    def from_pretrained(
        cls, path: str | Path | None = None, device: str | torch.device = "cpu", num_threads: int | None = 1
    ) -> "MultiViewGenerator":
        """Load an exported SAGE generator (``apdraw export sage``, or the end of ``apdraw train sage``).

        ``path`` None: the shipped weights (none are shipped yet: FileNotFoundError saying how to make some).

        Raises:
            FileNotFoundError: no such file. apdraw.persistence.WeightsError: not a SAGE generator file.
        """
        return cls(load_generator(path), device, num_threads)

    @property
    def size(self) -> int:
        """The side S of every output: the decoders' largest."""
        return self.generator.cfg.image.output_sizes()[-1]

    # ------------------------------------------------------------------ latents

    def latent(self, seed: int, truncation: float = 0.7) -> Latent:
        """The batch-1 :class:`Latent` of ``seed``, truncated towards the mean by ψ = ``truncation`` (>= 0)."""
        seed = _check_seed(seed)
        psi = float(truncation)
        if not (math.isfinite(psi) and psi >= 0):
            raise ValueError(f"truncation must be a finite number >= 0, got {truncation!r}")
        z = torch.randn(1, self.z_dim, generator=torch.Generator().manual_seed(seed)).to(self.device)
        with torch.no_grad(), torch_threads(self.num_threads, self.device):
            return self.generator.mapping(z).truncate(self.mean_latent, psi)

    # ------------------------------------------------------------------ views

    def render(self, seed: int, yaw_deg: float, pitch_deg: float = 0.0, truncation: float = 0.7) -> View:
        """Identity ``seed`` seen from ``yaw_deg``, ``pitch_deg`` (degrees from frontal, module doc)."""
        camera_angles(yaw_deg, pitch_deg)  # check before any work
        latent = self.latent(seed, truncation)
        return self.render_latent(latent, yaw_deg, pitch_deg, _view_seed(int(seed), yaw_deg, pitch_deg))

    def sweep(self, seed: int, yaws: Iterable[float], pitch_deg: float = 0.0, truncation: float = 0.7) -> list[View]:
        """Identity ``seed`` at each of ``yaws`` (degrees): each view equals ``render(seed, yaw, ...)``."""
        yaws = [float(y) for y in yaws]
        for y in yaws:
            camera_angles(y, pitch_deg)
        latent = self.latent(seed, truncation)
        return [self.render_latent(latent, y, pitch_deg, _view_seed(int(seed), y, pitch_deg)) for y in yaws]

    def interpolate(
        self, seed_a: int, seed_b: int, t: float, yaw_deg: float, pitch_deg: float = 0.0, truncation: float = 0.7
    ) -> View:
        """The identity ``(1 - t)·w(seed_a) + t·w(seed_b)`` (truncated latents) from ``yaw_deg``, ``pitch_deg``.

        ``t`` in [0, 1] (0: exactly ``render(seed_a, ...)``; other finite values extrapolate).
        """
        t = float(t)
        if not math.isfinite(t):
            raise ValueError(f"t must be finite, got {t}")
        camera_angles(yaw_deg, pitch_deg)
        a, b = self.latent(seed_a, truncation), self.latent(seed_b, truncation)
        mixed = Latent(*(torch.lerp(x, y, t) for x, y in ((a.frequencies, b.frequencies), (a.phases, b.phases), (a.code, b.code))))
        return self.render_latent(mixed, yaw_deg, pitch_deg, _view_seed(int(seed_a), yaw_deg, pitch_deg))

    def render_latent(self, latent: Latent, yaw_deg: float, pitch_deg: float = 0.0, jitter_seed: int = 0) -> View:
        """Any batch-1 :class:`Latent` from a viewpoint; ``jitter_seed`` seeds the renderer's sample jitter."""
        if latent.batch != 1:
            raise ValueError(f"render_latent takes one latent, got a batch of {latent.batch}")
        yaw, pitch = camera_angles(yaw_deg, pitch_deg)
        g = self.generator
        gen = torch.Generator().manual_seed(int(jitter_seed))
        angle = lambda a: torch.full((1,), a, device=self.device)  # noqa: E731
        with torch.no_grad(), torch_threads(self.num_threads, self.device):
            out = g(latent, angle(yaw), angle(pitch), stereo=False, translate=True, generator=gen)
        drawing = out.drawing[0].float().clamp(-1, 1).mean(0)  # one channel (the original's G_p: 3, averaged)
        photo = out.image[0].float().clamp(-1, 1).permute(1, 2, 0)
        to_u8 = lambda x: ((x + 1) * 127.5).round().to(torch.uint8).cpu().numpy()  # noqa: E731
        semantic = out.semantic[0].argmax(0).to(torch.uint8).cpu().numpy()
        return View(to_u8(drawing), to_u8(photo), semantic, float(yaw_deg), float(pitch_deg))
