"""Parameters of the vectoriser and the plot writers; :class:`VectorConfig` is the one source of defaults.

Lengths on paper are in millimetres. Tracing lengths (``*_px``) are in pixels of a
512 px drawing and scale with the drawing's size (``sqrt(H * W) / 512``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from typing import Literal

# ISO 216 and US sizes, portrait (width, height) in mm.
PAPER_SIZES_MM: dict[str, tuple[float, float]] = {
    "a6": (105.0, 148.0),
    "a5": (148.0, 210.0),
    "a4": (210.0, 297.0),
    "a3": (297.0, 420.0),
    "a2": (420.0, 594.0),
    "letter": (215.9, 279.4),
    "legal": (215.9, 355.6),
}
# The largest sheet a WxH size may name (1 m x 1 m: beyond any desktop plotter).
MAX_PAPER_MM = 1000.0

GcodePreset = Literal["grbl-servo", "z-axis", "marlin"]
GCODE_PRESETS: tuple[str, ...] = ("grbl-servo", "z-axis", "marlin")


def parse_paper(text: str) -> tuple[float, float]:
    """A paper name (``A4``, ``letter``, case-insensitive) or ``WxH`` in mm (``210x297``) -> (width, height) mm.

    Raises:
        ValueError: an unknown name, a malformed size, or a side <= 0 or over 1000 mm.
    """
    key = text.strip().lower()
    if key in PAPER_SIZES_MM:
        return PAPER_SIZES_MM[key]
    m = re.fullmatch(r"(\d+(?:\.\d+)?)\s*[x×]\s*(\d+(?:\.\d+)?)\s*(?:mm)?", key)
    if not m:
        names = ", ".join(n.upper() if n.startswith("a") else n for n in PAPER_SIZES_MM)
        raise ValueError(f"expected a paper name ({names}) or WIDTHxHEIGHT in mm such as 210x297, got {text!r}")
    w, h = float(m.group(1)), float(m.group(2))
    if not (0 < w <= MAX_PAPER_MM and 0 < h <= MAX_PAPER_MM):
        raise ValueError(f"paper sides must be in (0, {MAX_PAPER_MM:g}] mm, got {w:g}x{h:g}")
    return w, h


@dataclass
class VectorConfig:
    """Everything that shapes a plot: page, pen, tracing, ordering and G-code.

    The drawing is scaled uniformly to fit the page inside the margins and centred.
    """

    # page and pen
    paper: str = "A4"  # a name of PAPER_SIZES_MM or "WxH" in mm
    margin_mm: float = 15.0  # on every side
    pen_width_mm: float = 0.3  # the line the pen draws; the SVG's stroke width
    # filled regions
    hatch_mm: float = 0.6  # distance between hatch lines
    hatch_angle: float = 45.0  # degrees, counter-clockwise from the page's x axis (as seen)
    outline_fills: bool = True  # also draw each fill's outline (crisp edges)
    # tracing (pixels of a 512 px drawing)
    ink_dark: float = 0.45  # hysteresis ink mask: a stroke is darker than this somewhere (fraction of white) ...
    ink_light: float = 0.65  # ... and extends while darker than this
    fill_width_px: float = 7.0  # ink wider than this is a filled region (hatched), thinner ink is a stroke
    spur_px: float = 4.0  # skeleton side branches shorter than this that end freely are dropped
    smooth_px: float = 1.0  # Gaussian smoothing of traced centre-lines (sigma, px); 0 = none
    simplify_px: float = 0.35  # Douglas-Peucker tolerance
    min_stroke_mm: float = 0.8  # centre-lines shorter than this after merging are dropped (speckle)
    # merging: ends closer than this are joined into one stroke
    merge_mm: float = 0.3
    hatch_link: float = 1.6  # hatch lines whose ends are closer than this x hatch_mm join into zigzags
    # G-code
    gcode_preset: GcodePreset = "grbl-servo"
    feed: float = 3000.0  # drawing feed, mm/min
    travel_feed: float = 6000.0  # pen-up feed, mm/min (G0; Marlin takes it as given, GRBL moves at its rapid rate)
    pen_dwell_s: float = 0.15  # wait after each pen lift or drop (servo presets)
    servo_up: int = 50  # grbl-servo: spindle value (M3 S...) that lifts the pen ...
    servo_down: int = 30  # ... and that lowers it
    marlin_up: int = 90  # marlin: servo angle (M280 P0 S...) that lifts the pen ...
    marlin_down: int = 40  # ... and that lowers it
    z_up: float = 3.0  # z-axis: pen-up height, mm ...
    z_down: float = 0.0  # ... and pen-down height
    z_feed: float = 600.0  # z-axis: feed of pen drops, mm/min

    def page_mm(self) -> tuple[float, float]:
        """(width, height) of the page in mm."""
        return parse_paper(self.paper)

    def check(self) -> "VectorConfig":
        """Raise ValueError for settings that cannot make a plot; returns self."""
        w, h = self.page_mm()
        if not 0 <= self.margin_mm < min(w, h) / 2:
            raise ValueError(f"a margin of {self.margin_mm:g} mm leaves no room for the drawing on a {w:g}x{h:g} mm page")
        for name in ("pen_width_mm", "hatch_mm", "feed", "travel_feed", "z_feed", "hatch_link", "fill_width_px"):
            if not getattr(self, name) > 0:
                raise ValueError(f"{name} must be > 0, got {getattr(self, name)}")
        for name in ("min_stroke_mm", "merge_mm", "spur_px", "smooth_px", "simplify_px", "pen_dwell_s"):
            if not getattr(self, name) >= 0:
                raise ValueError(f"{name} must be >= 0, got {getattr(self, name)}")
        if not 0 < self.ink_dark <= self.ink_light <= 1:
            raise ValueError(f"need 0 < ink_dark <= ink_light <= 1, got {self.ink_dark}, {self.ink_light}")
        if self.gcode_preset not in GCODE_PRESETS:
            raise ValueError(f"gcode_preset must be one of {', '.join(GCODE_PRESETS)}, got {self.gcode_preset!r}")
        return self
