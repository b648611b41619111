"""Measure plotter output (`apdraw draw --format svg,gcode`) on the examples and on shared-data photos.

For every photo and drawing style: the drawing as `apdraw draw` makes it (512² aligned),
its plot as the command writes it (default VectorConfig: A4, 15 mm margins, 0.3 mm pen,
0.6 mm hatching), and these figures:

* strokes, pen-down length and pen-up travel at three stages: traced (steps 1-5, in
  tracing order), merged (step 6, minimum length applied, not yet ordered) and ordered
  (step 7, what the files hold);
* the estimated plot time at the given feeds (plus a pen lift and drop per stroke);
* the line Chamfer distance between the SVG, read back from the file with vpype and
  rasterised at 512 px with the pen's width, and the PNG drawing (threshold 0.5);
* the tracing time (steps 1-7, one core).

Drawings whose style hands over its pen lines (`--style npr`: hair strands, jaw) are
measured twice: as `apdraw draw` plots them (those lines as drawn, the rest of the ink
traced) and re-traced from the whole raster, as before the handover ("re-traced" rows).

With --write-doc the table goes into docs/VECTOR.md and a figure (PNG drawing beside
the picture rendered from its SVG) into docs/img/vector_compare.png.

    python scripts/vector_report.py [--photos 20] [--write-doc]
"""

from __future__ import annotations

import argparse
import os
import sys
import tempfile
import time
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
DOC = REPO / "docs" / "VECTOR.md"
FIGURE = REPO / "docs" / "img" / "vector_compare.png"


def shared_photos(n: int) -> list[Path]:
    """``n`` FS2K photos spread evenly over the sorted training set (every subset), or [] without the data."""
    from apdraw.data import shared_data_dir

    folder = shared_data_dir() / "fs2k" / "train" / "photo"
    if not folder.is_dir():
        return []
    files = sorted(folder.glob("*.jpg"))
    if not files or n <= 0:
        return []
    return [files[i] for i in np.linspace(0, len(files) - 1, n).round().astype(int)]


def measure(drawing, cfg, tmp: Path) -> tuple[dict, np.ndarray]:
    """Figures for one drawing (see the module doc) and the raster rendered from its SVG."""
    from apdraw.eval.metrics import chamfer_distance
    from apdraw.io import save_text
    from apdraw.vector import Plot, finish, fit_scale, order, page_area, read_svg, trace

    img = drawing.image
    t0 = time.perf_counter()
    strokes = drawing.trace_strokes(cfg)  # steps 1-7, as apdraw draw (the style's pen lines + the rest traced)
    seconds = time.perf_counter() - t0
    plot = Plot.from_pixels(strokes, img.shape, cfg)
    svg = tmp / "plot.svg"
    save_text(svg, plot.svg())
    back = read_svg(svg, page_area(img.shape, cfg), cfg.pen_width_mm)
    raster = back.rasterize(img.shape[0])
    mm_per_px = fit_scale(img.shape, cfg)
    src = img if drawing.pen_lines is None else drawing.rest
    traced = trace(src, cfg, hatch_px=cfg.hatch_mm / mm_per_px, lines=drawing.pen_lines)
    merged = finish(traced, cfg, mm_per_px, ordered=False)
    assert len(order(merged)) == len(strokes)
    row = {"trace_s": seconds, "chamfer": chamfer_distance(raster, img, threshold=0.5), "svg_kb": svg.stat().st_size / 1024}
    for stage, lines in (("traced", traced.all()), ("merged", merged), ("ordered", strokes)):
        st = Plot.from_pixels(lines, img.shape, cfg).stats(cfg.feed, cfg.travel_feed, cfg.pen_dwell_s)
        row[stage] = st
    return row, raster


def variants(drawing) -> list[tuple[str, object]]:
    """(label suffix, drawing) to measure: the drawing, and re-traced from its raster when it carries pen lines."""
    if drawing.pen_lines is None:
        return [("", drawing)]
    return [("", drawing), (" (re-traced)", replace(drawing, pen_lines=None, rest=None, strokes=None))]


def fmt_row(label: str, r: dict) -> str:
    t, m, o = r["traced"], r["merged"], r["ordered"]
    return (f"| {label} | {t.strokes} → {o.strokes} | {t.pen_down_mm / 1000:.2f} → {o.pen_down_mm / 1000:.2f} "
            f"| {t.pen_up_mm / 1000:.1f} → {m.pen_up_mm / 1000:.1f} → {o.pen_up_mm / 1000:.2f} "
            f"| {m.seconds / 60:.1f} → {o.seconds / 60:.1f} | {r['chamfer']:.2f} | {r['svg_kb']:.0f} | {r['trace_s']:.2f} |")


def summary_row(label: str, rows: list[dict]) -> str:
    def med(f):
        return float(np.median([f(r) for r in rows]))

    def rng(f, spec):
        v = [f(r) for r in rows]
        return f"{format(med(f), spec)} ({format(min(v), spec)}–{format(max(v), spec)})"

    return (f"| {label}, median (min–max) | {rng(lambda r: r['traced'].strokes, '.0f')} → "
            f"{rng(lambda r: r['ordered'].strokes, '.0f')} | {med(lambda r: r['traced'].pen_down_mm / 1000):.2f} → "
            f"{rng(lambda r: r['ordered'].pen_down_mm / 1000, '.2f')} "
            f"| {med(lambda r: r['traced'].pen_up_mm / 1000):.1f} → {med(lambda r: r['merged'].pen_up_mm / 1000):.1f} → "
            f"{rng(lambda r: r['ordered'].pen_up_mm / 1000, '.2f')} "
            f"| {med(lambda r: r['merged'].seconds / 60):.1f} → {rng(lambda r: r['ordered'].seconds / 60, '.1f')} "
            f"| {rng(lambda r: r['chamfer'], '.2f')} | {med(lambda r: r['svg_kb']):.0f} | {med(lambda r: r['trace_s']):.2f} |")


def figure(pairs: list[tuple[str, np.ndarray, np.ndarray]], tile: int) -> np.ndarray:
    """Rows of [PNG drawing | rendered from the SVG], two examples per row."""
    cells = []
    for label, png, svg in pairs:
        a = cv2.resize(png, (tile, tile), interpolation=cv2.INTER_AREA)
        b = cv2.resize(svg, (tile, tile), interpolation=cv2.INTER_AREA)
        cell = np.concatenate([a, np.full((tile, 4), 200, np.uint8), b], 1)
        head = np.full((24, cell.shape[1]), 255, np.uint8)
        cv2.putText(head, f"{label}: PNG | SVG", (6, 17), cv2.FONT_HERSHEY_SIMPLEX, 0.5, 0, 1, cv2.LINE_AA)
        cells.append(np.concatenate([head, cell], 0))
    gap = np.full((cells[0].shape[0], 12), 255, np.uint8)
    rows = [np.concatenate([cells[i], gap, cells[i + 1]], 1) if i + 1 < len(cells) else cells[i] for i in range(0, len(cells), 2)]
    return np.concatenate(rows, 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--photos", type=int, default=20, help="FS2K photos from ../shared/data (0 = examples only)")
    ap.add_argument("--styles", default="apdrawinggan,npr", help="comma-separated drawing styles")
    ap.add_argument("--tile", type=int, default=256, help="side of each picture in the figure")
    ap.add_argument("--write-doc", action="store_true", help=f"write the table into {DOC.relative_to(REPO)} and the figure")
    args = ap.parse_args(argv)

    import torch

    from apdraw.io import save_image, write_doc_block
    from apdraw.pipeline import PortraitPipeline
    from apdraw.vector import VectorConfig

    torch.set_num_threads(1)
    cfg = VectorConfig()
    examples = [REPO / "examples" / "grace_hopper.jpg", REPO / "examples" / "astronaut.png"]
    photos = shared_photos(args.photos)
    lines = [
        f"Default settings ({cfg.paper}, {cfg.margin_mm:g} mm margins, pen {cfg.pen_width_mm:g} mm, hatching "
        f"{cfg.hatch_mm:g} mm at {cfg.hatch_angle:g}°, strokes ≥ {cfg.min_stroke_mm:g} mm); time at "
        f"F{cfg.feed:g} drawing / F{cfg.travel_feed:g} travel mm/min plus {cfg.pen_dwell_s:g} s per pen lift and drop. "
        f"Strokes and pen down: traced (steps 1-5) → plotted (merging adds the hatch zigzags' links; ordering changes no length); pen up: traced order → merged, unordered → ordered (what the "
        f"files hold); plot time: merged, unordered → ordered. Chamfer: SVG read back and rasterised at 512 px vs the PNG (threshold 0.5). "
        f"npr rows: as `apdraw draw` plots them (the engine's hair strands and jaw as it drew them, the rest traced); "
        f"\"re-traced\": the whole raster traced, as every style was before. "
        f"`python scripts/vector_report.py --photos {args.photos} --write-doc`, {len(photos)} FS2K photos "
        f"(evenly spaced over fs2k/train/photo) and the 2 examples.",
        "",
        "| drawing | strokes | pen down, m | pen up, m | plot time, min | Chamfer, px | SVG, KB | trace, s |",
        "|---|---|---|---|---|---|---|---|",
    ]
    pairs = []
    worst, count = 0.0, 0
    with tempfile.TemporaryDirectory() as tmp:
        for style in args.styles.split(","):
            pipe = PortraitPipeline.from_style(style)
            for path in examples:
                [d] = pipe(path)
                for tail, v in variants(d):
                    row, raster = measure(v, cfg, Path(tmp))
                    worst, count = max(worst, row["chamfer"]), count + 1
                    lines.append(fmt_row(f"{path.stem}, {style}{tail}", row))
                    if not tail:
                        pairs.append((f"{path.stem}, {style}", d.image, raster))
                    print(lines[-1], flush=True)
            rows: dict[str, list[dict]] = {}
            for path in photos:
                found = pipe(path)
                if not found:
                    print(f"{path.name}: no face", file=sys.stderr)
                    continue
                for tail, v in variants(found[0]):
                    row, _ = measure(v, cfg, Path(tmp))
                    rows.setdefault(tail, []).append(row)
                    worst, count = max(worst, row["chamfer"]), count + 1
                    print(f"{path.name} {style}{tail}: {fmt_row(path.stem, row)}", flush=True)
            for tail, group in rows.items():
                lines.append(summary_row(f"{len(group)} FS2K photos, {style}{tail}", group))
                print(lines[-1], flush=True)
    lines += ["", f"Largest Chamfer over all {count} plots: {worst:.2f} px (target ≤ 1.5)."]
    text = "\n".join(lines)
    print(text)
    if args.write_doc:
        write_doc_block(DOC, "vector-report", text, heading="Measurements")
        save_image(FIGURE, figure(pairs, args.tile))
        print(f"wrote {DOC} and {FIGURE} ({os.path.getsize(FIGURE) // 1024} KB)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
