"""The metrics the suite knows: names, kinds, directions and the notes reports print.

:data:`METRICS` is a :class:`~apdraw.registry.Registry` of :class:`MetricInfo`.
Names of feature-based metrics carry their extractor: ``fid``, ``kid`` and
``sifid`` use the standard FID Inception network; ``fid_<x>``, ``kid_<x>`` and
``sifid_<x>`` use extractor ``x`` (built in: ``mnv2``, the MobileNetV2 proxy);
:func:`metric_info` also answers for extractors that are not pre-registered.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

from apdraw.registry import Registry, UnknownNameError

Kind = Literal["paired", "distribution"]

STANDARD_EXTRACTOR = "inception"
PROXY_EXTRACTOR = "mnv2"


@dataclass(frozen=True)
class MetricInfo:
    name: str
    label: str
    kind: Kind  # paired: one value per (prediction, reference) pair; distribution: one per set
    higher_is_better: bool
    extractor: str | None  # feature network, or None
    note: str

    @property
    def help(self) -> str:
        return self.note


_PAIRED = {
    "chamfer": MetricInfo("chamfer", "Chamfer (px)", "paired", False, None,
                          "line Chamfer distance in pixels at 512 (longer side); strokes = luminance <= 191 of 255"),
    "chamfer_dark": MetricInfo("chamfer_dark", "Chamfer dark (px)", "paired", False, None,
                               "line Chamfer distance in pixels at 512 on dark strokes only: luminance < 0.5 "
                               "(<= 127 of 255), the solid pencil lines"),
    "ink_far": MetricInfo("ink_far", "Far ink", "paired", False, None,
                          "share (0..1) of the prediction's dark pixels (luminance <= 127 of 255) more than 8 px "
                          "at 512 from every reference stroke (<= 191 of 255): ink where the artist drew none; "
                          "0 for a prediction without dark pixels"),
    "ssim": MetricInfo("ssim", "SSIM", "paired", True, None, "SSIM on luminance at 512, Gaussian window 11/1.5"),
    "fsim": MetricInfo("fsim", "FSIM", "paired", True, None, "FSIM (gray) on luminance, computed at 256 (512 / 2)"),
    "lpips_mnv2": MetricInfo("lpips_mnv2", "LPIPS_mnv2", "paired", False, PROXY_EXTRACTOR,
                             "proxy: LPIPS-style distance on MobileNetV2 features, no learned heads; "
                             "not comparable with published LPIPS"),
}


def _feature_metric(base: str, extractor: str) -> MetricInfo:
    standard = extractor == STANDARD_EXTRACTOR
    name = base if standard else f"{base}_{extractor}"
    label = {"fid": "FID", "kid": "KID", "sifid": "SIFID"}[base] + ("" if standard else f"_{extractor}")
    kind: Kind = "paired" if base == "sifid" else "distribution"
    if standard:
        note = "pytorch-fid Inception-v3 weights" + (", block 0 features" if base == "sifid" else ", pool3")
    else:
        note = (f"proxy on {extractor} features: NOT comparable with published "
                f"{'SIFIDs' if base == 'sifid' else base.upper() + 's'} (which use Inception-v3)")
    return MetricInfo(name, label, kind, False, extractor, note)


SWD = MetricInfo("swd", "SWD (x1e3)", "distribution", False, None,
                 "sliced Wasserstein on 7x7 Laplacian-pyramid patches at 256..16, ProGAN protocol, x1000")


# Default set: everything that needs no user-supplied weights.
DEFAULT_METRICS = ("chamfer", "chamfer_dark", "ink_far", "ssim", "fsim", "lpips_mnv2", "sifid_mnv2", "fid_mnv2", "kid_mnv2", "swd")
# Added automatically when the FID Inception weights are found.
STANDARD_METRICS = ("fid", "kid", "sifid")
ALL_METRICS = DEFAULT_METRICS + STANDARD_METRICS

METRICS: Registry[MetricInfo] = Registry("metric")
for _name in ALL_METRICS:
    if _name in _PAIRED:
        METRICS.register(_PAIRED[_name])
    elif _name == "swd":
        METRICS.register(SWD)
    else:
        _base, _, _extractor = _name.partition("_")
        METRICS.register(_feature_metric(_base, _extractor or STANDARD_EXTRACTOR))


def metric_info(name: str) -> MetricInfo:
    """Look a metric up by name (``fid``, ``fid_mnv2``, ``chamfer``, ...).

    Raises:
        UnknownNameError (a ValueError): unknown name; the message lists the known ones.
    """
    if name in METRICS:
        return METRICS.get(name)
    for base in ("fid", "kid", "sifid"):
        if name.startswith(base + "_") and len(name) > len(base) + 1:
            return _feature_metric(base, name[len(base) + 1:])
    raise UnknownNameError(f"unknown metric {name!r}; known: {', '.join(ALL_METRICS)} (and fid_X/kid_X/sifid_X for an extractor X)")
