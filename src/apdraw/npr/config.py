"""Parameters of the classical drawing engine; the dataclasses are the one source of defaults.

Lengths are in pixels of a 512x512 aligned face; `draw_portrait` rescales them for other
sizes. Tone values are fractions of the face's own skin brightness, so one setting works
across exposures.
"""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class LineConfig:
    """Flow-based DoG lines."""

    smooth_sigma_color: float = 12.0  # bilateral pre-filter, gray levels (0-255); flattens skin texture
    smooth_sigma_space: float = 3.0
    grad_sigma: float = 1.0  # pre-blur for the structure tensor
    tensor_sigma: float = 3.0  # structure tensor integration scale; larger = smoother curves
    sigma_c: float = 1.2  # DoG centre scale across edges; sets the pen width
    sigma_s_ratio: float = 1.6
    rho: float = 0.995
    sigma_m: float = 3.0  # smoothing along the flow; bridges small gaps
    flow_step: float = 1.5  # streamline step for that smoothing (speed vs. accuracy)
    high: float = 0.030  # hysteresis: a stroke must reach this (negative) DoG depth somewhere ...
    low: float = 0.012  # ... and extends while deeper than this
    face_gain: float = 0.4  # thresholds are scaled by this inside the face oval, where
    # features (lids, nostrils, lips) have less contrast than hair or silhouette edges
    lip_gain: float = 1.5  # lips darken by this x their extra redness (Lab a*/100) for line finding
    min_area: int = 30  # strokes with fewer pixels are dropped (speckle)


@dataclass
class DarkConfig:
    """Flat black fills for dark regions (dark hair, pupils, nostrils, deep shadow)."""

    ratio: float = 0.33  # black where the smoothed luminance < ratio * skin brightness
    face_ratio: float = 0.22  # stricter inside the face oval: only pupils/nostrils, not shadows
    eye_ratio: float = 0.42  # more lenient around the eyes so irises fill ...
    eye_quantile: float = 0.15  # ... but at most this fraction of each eye ellipse turns black
    smooth_sigma: float = 2.0  # luminance blur before thresholding
    shape_sigma: float = 1.5  # mask blur + re-threshold: rounds ragged outlines
    min_area: int = 40  # smaller blobs are dropped
    max_hole: int = 60  # smaller white holes inside a fill are closed


@dataclass
class HairConfig:
    """Hair strokes: streamlines of the hair's orientation field drawn as pen lines."""

    enabled: bool = True
    tensor_sigma: float = 6.0  # orientation scale; hair strands are long, so smooth strongly
    spacing: float = 5.0  # seed grid spacing (px)
    length: float = 60.0  # longest stroke (px)
    width: float = 1.2  # pen width (px)
    seed: int = 1234  # fixed seed-point generator -> deterministic drawings
    tone_gamma: float = 1.5  # > 1 keeps light hair sparse
    min_ink: float = 0.08  # stroke seed density on the lightest hair
    max_ink: float = 0.9  # stroke seed density on the darkest hair
    max_white: float = 0.3  # white-strand seed density in black-filled hair at its lightest
    sheen_gamma: float = 2.5  # > 1 keeps white strands to the highlights
    # Estimation of the hair region when no hair mask is given (see `estimate_hair_mask`).
    color_tolerance: float = 3.0  # robust z-distance radius around the hair colour model
    skin_tolerance: float = 3.0  # robust z-distance radius around the skin colour model


@dataclass
class JawConfig:
    """The jaw stroke drawn from the landmark polyline."""

    width: float = 2.6  # pen width at the middle of the stroke (px)
    taper: float = 0.18  # fraction of the length over which each end tapers to a point
    smoothing: float = 0.5  # spline smoothing per point (px^2); landmarks are already smooth


@dataclass
class NPRConfig:
    """All parameters of `draw_portrait`."""

    lines: LineConfig = field(default_factory=LineConfig)
    dark: DarkConfig = field(default_factory=DarkConfig)
    hair: HairConfig = field(default_factory=HairConfig)
    jaw: JawConfig = field(default_factory=JawConfig)
    outline_width: float = 2.0  # silhouette stroke along the fg mask border (0 = none)
    mask_sigma: float = 2.0  # fg mask blur + re-threshold before use (clean silhouette)
    min_ink_area: int = 12  # final speckle removal
    max_hole: int = 12  # final pin-hole filling
    antialias_sigma: float = 0.6  # soft pen edges; 0 = hard binary output
