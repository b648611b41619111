"""G-code for pen plotters, three presets: GRBL with a servo pen, a Z-axis pen, Marlin with a servo.

Coordinates are millimetres (``G21``), absolute (``G90``), with the origin at the
page's bottom-left corner, x right and y up (the page's y is flipped). Every
stroke is: pen up (already), ``G0`` travel to its start, pen down, ``G1`` moves
at the drawing feed, pen up. The file starts and ends with the pen up and ends
at the origin.

=============  ================================  ===================================
preset         pen up                            pen down
=============  ================================  ===================================
grbl-servo     ``M3 S<servo_up>``, ``G4 P<s>``   ``M3 S<servo_down>``, ``G4 P<s>``
z-axis         ``G0 Z<z_up>``                    ``G1 Z<z_down> F<z_feed>``
marlin         ``M280 P0 S<up>``, ``G4 P<ms>``   ``M280 P0 S<down>``, ``G4 P<ms>``
=============  ================================  ===================================

GRBL's ``G4 P`` is in seconds, Marlin's in milliseconds. Travel moves carry
``F<travel_feed>`` (Marlin moves ``G0`` at the last feed; GRBL's rapids ignore it)
and the first ``G1`` of each stroke sets ``F<feed>`` again.
"""

from __future__ import annotations

from apdraw.vector.config import GCODE_PRESETS, VectorConfig
from apdraw.vector.plot import Plot


def pen_commands(cfg: VectorConfig) -> tuple[list[str], list[str]]:
    """(pen up, pen down) command lines of ``cfg.gcode_preset``."""
    dwell = cfg.pen_dwell_s
    if cfg.gcode_preset == "grbl-servo":
        wait = [f"G4 P{dwell:.3f}"] if dwell > 0 else []
        return [f"M3 S{cfg.servo_up}", *wait], [f"M3 S{cfg.servo_down}", *wait]
    if cfg.gcode_preset == "z-axis":
        return [f"G0 Z{cfg.z_up:.3f}"], [f"G1 Z{cfg.z_down:.3f} F{cfg.z_feed:g}"]
    if cfg.gcode_preset == "marlin":
        wait = [f"G4 P{round(dwell * 1000)}"] if dwell > 0 else []
        return [f"M280 P0 S{cfg.marlin_up}", *wait], [f"M280 P0 S{cfg.marlin_down}", *wait]
    raise ValueError(f"unknown G-code preset {cfg.gcode_preset!r}; choose one of {', '.join(GCODE_PRESETS)}")


def to_gcode(plot: Plot, cfg: VectorConfig) -> str:
    """The plot as G-code text for ``cfg.gcode_preset`` at ``cfg.feed`` / ``cfg.travel_feed`` mm/min."""
    cfg.check()
    up, down = pen_commands(cfg)
    ph = plot.page_mm[1]
    pw = plot.page_mm[0]
    stats = plot.stats(cfg.feed, cfg.travel_feed, cfg.pen_dwell_s if cfg.gcode_preset != "z-axis" else 0.0)
    out = [
        f"; apdraw plot, preset {cfg.gcode_preset}, page {pw:g} x {ph:g} mm, origin bottom-left",
        f"; {stats.strokes} strokes, pen down {stats.pen_down_mm / 1000:.2f} m, pen up {stats.pen_up_mm / 1000:.2f} m, "
        f"about {stats.seconds / 60:.1f} min at F{cfg.feed:g}",
        "G21",
        "G90",
        *up,
    ]

    def xy(x: float, y: float) -> str:
        # Rounding keeps a point on the page edge inside it.
        return f"X{min(max(x, 0.0), pw):.3f} Y{min(max(ph - y, 0.0), ph):.3f}"

    for line in plot.lines:
        if len(line) == 0:
            continue
        out.append(f"G0 {xy(*line[0])} F{cfg.travel_feed:g}")
        out += down
        rest = line[1:] if len(line) > 1 else line[:1]
        out.append(f"G1 {xy(*rest[0])} F{cfg.feed:g}")
        out += [f"G1 {xy(*p)}" for p in rest[1:]]
        out += up
    out.append(f"G0 X0.000 Y0.000 F{cfg.travel_feed:g}")
    if cfg.gcode_preset == "grbl-servo":
        out.append("M5")
    return "\n".join(out) + "\n"
