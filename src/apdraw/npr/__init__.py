"""Classical (non-learned) portrait drawing engine, after Rosin & Lai 2010.

Public API: `draw_portrait`, `draw_batch`, `NPRInput`, `NPRConfig` (and its sections),
`xdog` (plain XDoG lines, also an evaluation baseline). See docs/NPR.md.
"""

from apdraw.npr.config import DarkConfig, HairConfig, JawConfig, LineConfig, NPRConfig
from apdraw.npr.lines import xdog
from apdraw.npr.portrait import NPRInput, draw_batch, draw_portrait

__all__ = [
    "DarkConfig",
    "HairConfig",
    "JawConfig",
    "LineConfig",
    "NPRConfig",
    "NPRInput",
    "draw_batch",
    "draw_portrait",
    "xdog",
]
