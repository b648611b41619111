"""Classical (non-learned) portrait drawing engine, after Rosin & Lai 2010.

Public API: `draw_portrait`, `draw_batch`, `NPRInput`, `NPRConfig` (and its sections),
`portrait_layers` + `compose` (the same drawing, layer by layer), `draw_with_lines` +
`pen_lines` (the drawing and the polylines it drew as pen lines, for plotters), `xdog`
(plain XDoG lines, also an evaluation baseline). See docs/NPR.md.
"""

from apdraw.npr.config import DarkConfig, HairConfig, JawConfig, LineConfig, NPRConfig
from apdraw.npr.lines import xdog
from apdraw.npr.portrait import (
    NPRInput, PortraitLayers, compose, draw_batch, draw_portrait, draw_with_lines, pen_lines, portrait_layers,
)  # fmt: skip

__all__ = [
    "DarkConfig",
    "HairConfig",
    "JawConfig",
    "LineConfig",
    "NPRConfig",
    "NPRInput",
    "PortraitLayers",
    "compose",
    "draw_batch",
    "draw_portrait",
    "draw_with_lines",
    "pen_lines",
    "portrait_layers",
    "xdog",
]
