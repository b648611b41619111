"""Plotter output (apdraw.vector, `apdraw draw --format`): tracing, SVG validity, G-code that a plotter can run."""

from __future__ import annotations

import re
import xml.etree.ElementTree as ET
from dataclasses import replace
from pathlib import Path

import cv2
import numpy as np
import pytest

from apdraw.cli import main
from apdraw.io import load_image
from apdraw.vector import (
    GCODE_PRESETS, Plot, VectorConfig, hatch, order, page_area, parse_paper, pen_up_travel, read_svg,
    skeleton_paths, split_fills, to_gcode, trace, vectorize,
)  # fmt: skip

EXAMPLES = Path(__file__).resolve().parents[1] / "examples"
SVG = "{http://www.w3.org/2000/svg}"


def synthetic_drawing() -> np.ndarray:
    """(512, 512) uint8: a 3 px line, a thin ring, a filled square and a few grey smudges."""
    img = np.full((512, 512), 255, np.uint8)
    cv2.line(img, (60, 100), (450, 100), 0, 3)
    cv2.circle(img, (150, 300), 70, 20, 2)
    cv2.rectangle(img, (300, 250), (420, 400), 0, -1)
    cv2.circle(img, (450, 470), 8, 200, -1)  # light grey: never dark enough to be ink
    return img


# --- tracing -------------------------------------------------------------------------


def test_split_and_trace_a_synthetic_drawing():
    img = synthetic_drawing()
    ink = img < 128
    strokes, fills = split_fills(ink, 7.0)
    assert not (strokes & fills).any() and np.array_equal(strokes | fills, ink)
    assert fills[260:390, 310:410].all() and not fills[95:106, 60:280].any()  # square filled, line not

    t = trace(img, VectorConfig(), hatch_px=2.0)
    # the line's centre-line runs along y = 100 over its length
    line = max(t.centre, key=lambda p: np.ptp(p[:, 0]))
    assert np.ptp(line[:, 0]) > 370 and np.abs(line[:, 1] - 100).max() <= 1.0
    # the ring is one closed centre-line of radius ~70
    ring = [p for p in t.centre if np.hypot(*(p.mean(0) - [150, 300])) < 5]
    assert ring and np.allclose(np.hypot(*(ring[0] - [150, 300]).T), 70, atol=1.5)
    # hatch lines lie inside the square, at 45 degrees, about 2 px apart; the outline goes round it
    ends = np.concatenate(t.hatches)
    assert (ends[:, 0] >= 299).all() and (ends[:, 0] <= 421).all() and (ends[:, 1] >= 249).all() and (ends[:, 1] <= 401).all()
    d = np.concatenate([h[1:] - h[:1] for h in t.hatches])
    assert np.allclose(np.abs(d[:, 0]), np.abs(d[:, 1]), atol=1.0)
    assert 85 < len(t.hatches) < 105  # (121 + 151) / sqrt(2) / 2 = 96 lines across the square
    assert len(t.outlines) == 1
    # nothing traced on the light smudge
    assert all(np.hypot(*(p - [450, 470]).T).min() > 12 for p in t.all())


def test_skeleton_branches_loops_and_spurs():
    from skimage.morphology import skeletonize

    t = np.zeros((40, 40), bool)
    t[5, 5:35] = True  # bar of a T
    t[5:35, 20] = True  # stem
    paths = skeleton_paths(t)
    assert sorted(len(p) for p in paths) == [15, 16, 30]  # three branches from the junction
    assert all((p[0] == [20, 5]).all() or (p[-1] == [20, 5]).all() for p in paths)
    t[:] = False
    t[20, 2:38] = True
    t[17:20, 20] = True  # a 3-pixel spur
    assert len(skeleton_paths(t)) == 3 and len(skeleton_paths(t, spur=4)) == 2
    ring = cv2.circle(np.zeros((40, 40), np.uint8), (20, 20), 10, 1, 1).astype(bool)
    [loop] = skeleton_paths(skeletonize(ring))
    assert np.array_equal(loop[0], loop[-1]) and len(loop) > 50


def test_hatch_is_clipped_to_the_region():
    mask = np.zeros((100, 100), bool)
    cv2.circle(mask.view(np.uint8), (50, 50), 30, 1, -1)
    segs = hatch(mask, 3.0, 0.0)
    ys = sorted({round(s[0, 1], 6) for s in segs})
    assert np.allclose(np.diff(ys), 3.0) and len(segs) == len(ys) == 20  # rows 21, 24, ..., 78: one segment each
    for s in segs:
        assert abs(s[0, 1] - s[1, 1]) < 1e-9 and np.hypot(*(s - 50).T).max() <= 30.6


def test_ordering_shortens_pen_up_travel_and_keeps_every_line():
    rng = np.random.default_rng(0)
    lines = [np.cumsum(rng.normal(0, 3, (5, 2)), 0) + rng.uniform(0, 500, 2) for _ in range(300)]
    ordered = order(lines)
    assert len(ordered) == len(lines)
    assert pen_up_travel(ordered) < 0.25 * pen_up_travel(lines)
    key = lambda p: tuple(np.round(p[0] if tuple(p[0]) < tuple(p[-1]) else p[-1], 6))  # noqa: E731
    assert sorted(map(key, ordered)) == sorted(map(key, lines))


def test_paper_sizes_and_settings():
    assert parse_paper("A4") == parse_paper("a4") == (210.0, 297.0)
    assert parse_paper("300x200") == parse_paper("300 x 200mm") == (300.0, 200.0)
    for bad in ("A9", "0x10", "10x", "2000x10", ""):
        with pytest.raises(ValueError):
            parse_paper(bad)
    with pytest.raises(ValueError, match="no room"):
        VectorConfig(margin_mm=110).check()
    with pytest.raises(ValueError):
        VectorConfig(hatch_mm=0).check()


def test_drawing_trace_strokes_fills_the_strokes_field():
    from types import SimpleNamespace

    from apdraw.pipeline import Drawing

    d = Drawing(synthetic_drawing(), SimpleNamespace(), (512, 512))
    assert d.strokes is None
    lines = d.trace_strokes()
    assert d.strokes is lines and len(lines) > 3 and all(p.ndim == 2 and p.shape[1] == 2 and len(p) >= 2 for p in lines)


def test_drawing_with_pen_lines_traces_only_the_rest():
    from types import SimpleNamespace

    from apdraw.pipeline import Drawing
    from apdraw.styles import Sketch, sketch

    img = synthetic_drawing()
    rest = img.copy()
    rest[95:106, :] = 255  # the 3 px line at y = 100, drawn along a given polyline instead
    given = np.array([[60.0, 100.0], [255.0, 100.5], [450.0, 100.0]])
    d = Drawing(img, SimpleNamespace(), (512, 512), pen_lines=[given], rest=rest)
    lines = d.trace_strokes()
    traced = Drawing(img, SimpleNamespace(), (512, 512)).trace_strokes()
    along = lambda ls: [p for p in ls if np.ptp(p[:, 0]) > 300 and np.abs(p[:, 1] - 100).max() <= 1]  # noqa: E731
    assert len(along(lines)) == len(along(traced)) == 1
    is_given = lambda p: p.shape == given.shape and (np.allclose(p, given) or np.allclose(p, given[::-1]))  # noqa: E731
    assert sum(map(is_given, lines)) == 1 and not any(map(is_given, traced))  # the given line, as it is
    assert len(lines) == len(traced)  # the rest (ring, square) traced as before
    # a drawer without a `sketch` method gives plain drawings, no pen lines
    assert sketch(lambda faces: [img for _ in faces], [None]) == [Sketch(img)]


# --- SVG and G-code validity ------------------------------------------------------------


def svg_polylines(text: str) -> tuple[tuple[float, float], list[np.ndarray]]:
    """Parse an SVG: (viewBox width, height) and every line, polyline and polygon as (K, 2) points."""
    root = ET.fromstring(text)
    assert root.tag == f"{SVG}svg"
    vx, vy, vw, vh = map(float, root.attrib["viewBox"].split())
    assert vx == vy == 0
    lines = []
    for el in root.iter():
        if el.tag in (f"{SVG}polyline", f"{SVG}polygon"):
            pts = np.array([list(map(float, p.split(","))) for p in el.attrib["points"].split()])
            lines.append(pts)
        elif el.tag == f"{SVG}line":
            a = el.attrib
            lines.append(np.array([[float(a["x1"]), float(a["y1"])], [float(a["x2"]), float(a["y2"])]]))
        assert el.tag not in (f"{SVG}path", f"{SVG}image")
    return (vw, vh), lines


def check_svg(text: str, page_mm: tuple[float, float]) -> int:
    (vw, vh), lines = svg_polylines(text)
    root = ET.fromstring(text)
    assert root.attrib["width"] == f"{page_mm[0] / 10:.1f}cm" and root.attrib["height"] == f"{page_mm[1] / 10:.1f}cm"
    assert np.isclose(vw, page_mm[0] * 96 / 25.4) and np.isclose(vh, page_mm[1] * 96 / 25.4)
    assert lines
    for pts in lines:
        assert pts.shape[1] == 2 and len(pts) >= 2
        assert (pts >= 0).all() and (pts[:, 0] <= vw).all() and (pts[:, 1] <= vh).all()
    return len(lines)


def parse_gcode(text: str, cfg: VectorConfig, page_mm: tuple[float, float]) -> dict:
    """Run the G-code on a tiny model plotter; assert it stays on the page and lifts the pen before travel."""
    pen = None  # unknown until the program sets it
    x = y = None
    strokes = moves = 0
    words = re.compile(r"([A-Z])(-?\d+(?:\.\d+)?)")
    for raw in text.splitlines():
        code = raw.split(";", 1)[0].strip()
        if not code:
            continue
        fields = words.findall(code)
        assert "".join(f"{k}{v}" for k, v in fields) == code.replace(" ", ""), f"unparsed: {raw!r}"
        w = dict(fields)
        assert len(w) == len(fields), f"repeated word: {raw!r}"
        cmd = fields[0][0] + fields[0][1]
        if cmd in ("G21", "G90", "M5") or cmd == "G4":
            if cmd == "G4":
                assert float(w["P"]) >= 0
            continue
        if cmd == "M3":
            assert cfg.gcode_preset == "grbl-servo"
            s = int(w["S"])
            assert s in (cfg.servo_up, cfg.servo_down)
            new = "up" if s == cfg.servo_up else "down"
            strokes += pen == "up" and new == "down"
            pen = new
            continue
        if cmd == "M280":
            assert cfg.gcode_preset == "marlin" and w["P"] == "0"
            s = int(w["S"])
            assert s in (cfg.marlin_up, cfg.marlin_down)
            new = "up" if s == cfg.marlin_up else "down"
            strokes += pen == "up" and new == "down"
            pen = new
            continue
        assert cmd in ("G0", "G1"), f"unexpected command {raw!r}"
        if "Z" in w:
            assert cfg.gcode_preset == "z-axis" and "X" not in w and "Y" not in w
            z = float(w["Z"])
            new = "up" if z >= cfg.z_up else "down" if z <= cfg.z_down else "between"
            assert new != "between"
            strokes += pen == "up" and new == "down"
            pen = new
            continue
        assert "X" in w and "Y" in w, f"a move without X and Y: {raw!r}"
        x, y = float(w["X"]), float(w["Y"])
        assert 0 <= x <= page_mm[0] and 0 <= y <= page_mm[1], f"off the page: {raw!r}"
        if "F" in w:
            assert float(w["F"]) == (cfg.travel_feed if cmd == "G0" else cfg.feed)
        if cmd == "G0":
            assert pen == "up", f"travel with the pen {pen}: {raw!r}"
        else:
            assert pen == "down", f"drawing move with the pen {pen}: {raw!r}"
        moves += 1
    assert pen == "up" and (x, y) == (0.0, 0.0)
    return {"strokes": strokes, "moves": moves}


@pytest.fixture(scope="module")
def synthetic_plot() -> tuple[Plot, VectorConfig]:
    cfg = VectorConfig(paper="A5", margin_mm=10)
    return vectorize(synthetic_drawing(), cfg), cfg


def test_svg_parses_and_stays_on_the_page(synthetic_plot):
    plot, cfg = synthetic_plot
    assert check_svg(plot.svg(), (148.0, 210.0)) == len(plot.lines)
    x0, y0, x1, y1 = plot.area_mm
    assert np.isclose(x0, 10) and np.isclose(x1, 138) and np.isclose(y0 + y1, 210)  # fitted and centred
    for line in plot.lines:
        assert (line >= [x0, y0]).all() and (line <= [x1, y1]).all()


@pytest.mark.parametrize("preset", GCODE_PRESETS)
def test_gcode_parses_stays_on_the_page_and_lifts_the_pen_before_travel(synthetic_plot, preset):
    plot, cfg = synthetic_plot
    cfg = replace(cfg, gcode_preset=preset, feed=1500, travel_feed=4000)
    text = to_gcode(plot, cfg)
    got = parse_gcode(text, cfg, plot.page_mm)
    assert got["strokes"] == len(plot.lines)
    assert got["moves"] == sum(len(line) for line in plot.lines) + 1  # + the final return home
    assert {"grbl-servo": "M3 S", "z-axis": "G0 Z", "marlin": "M280 P0 S"}[preset] in text


def test_a_blank_drawing_makes_an_empty_but_valid_plot():
    plot = vectorize(np.full((512, 512), 255, np.uint8))
    assert plot.lines == [] and svg_polylines(plot.svg())[1] == []
    cfg = VectorConfig()
    assert parse_gcode(to_gcode(plot, cfg), cfg, plot.page_mm) == {"strokes": 0, "moves": 1}


def test_gcode_flips_y_to_a_bottom_left_origin():
    cfg = VectorConfig(paper="100x100", margin_mm=0, gcode_preset="z-axis")
    plot = Plot([np.array([[10.0, 20.0], [30.0, 20.0]])], (100.0, 100.0), (0, 0, 100, 100), 0.3)
    text = to_gcode(plot, cfg)
    assert "G0 X10.000 Y80.000" in text and "G1 X30.000 Y80.000 F3000" in text


# --- the command line on an example ------------------------------------------------------


@pytest.fixture(scope="module")
def cli_outputs(tmp_path_factory) -> Path:
    out = tmp_path_factory.mktemp("vector_cli")
    assert main(["draw", str(EXAMPLES / "grace_hopper.jpg"), "-o", str(out), "--style", "npr",
                 "--format", "png,svg,gcode", "--gcode-preset", "marlin", "--feed", "2000"]) == 0  # fmt: skip
    return out


def test_cli_writes_png_svg_and_gcode(cli_outputs):
    assert sorted(p.name for p in cli_outputs.iterdir()) == ["grace_hopper.gcode", "grace_hopper.png", "grace_hopper.svg"]
    n = check_svg((cli_outputs / "grace_hopper.svg").read_text(), (210.0, 297.0))
    cfg = VectorConfig(gcode_preset="marlin", feed=2000)
    got = parse_gcode((cli_outputs / "grace_hopper.gcode").read_text(), cfg, (210.0, 297.0))
    assert got["strokes"] == n > 50


def test_rasterised_svg_is_close_to_the_png(cli_outputs):
    from apdraw.eval.metrics import chamfer_distance

    png = load_image(cli_outputs / "grace_hopper.png")[..., 0]
    cfg = VectorConfig()
    plot = read_svg(cli_outputs / "grace_hopper.svg", page_area(png.shape, cfg), cfg.pen_width_mm)
    raster = plot.rasterize(512)
    assert raster.shape == png.shape == (512, 512)
    assert chamfer_distance(raster, png, threshold=0.5) <= 1.5


def test_cli_format_and_vector_options_are_checked(tmp_path, capsys):
    photo = str(EXAMPLES / "grace_hopper.jpg")
    for bad in (["--format", "bogus"], ["--format", "png,jpg"], ["--paper", "B7"], ["--hatch-mm", "0"],
                ["--feed", "-3"], ["--margin-mm", "nan"], ["--gcode-preset", "linuxcnc"]):  # fmt: skip
        with pytest.raises(SystemExit) as exc:
            main(["draw", photo, "-o", str(tmp_path / "x"), *bad])
        assert exc.value.code == 2, bad
    assert main(["draw", photo, "-o", str(tmp_path / "x"), "--format", "svg", "--margin-mm", "150"]) == 2
    assert "no room" in capsys.readouterr().err
    assert not (tmp_path / "x").exists()


def test_cli_svg_only_and_name_collisions(tmp_path):
    """`--format svg` writes only SVGs; two inputs with one stem get distinct names for every format."""
    src = tmp_path / "in"
    src.mkdir()
    img = (EXAMPLES / "grace_hopper.jpg").read_bytes()
    (src / "a.jpg").write_bytes(img)
    (src / "a.jpeg").write_bytes(img)
    out = tmp_path / "out"
    assert main(["draw", str(src), "-o", str(out), "--format", "svg,gcode", "--style", "npr", "--paper", "A6"]) == 0
    names = sorted(p.name for p in out.iterdir())
    assert names == ["a.gcode", "a.svg", "a_jpg.gcode", "a_jpg.svg"]
    check_svg((out / "a.svg").read_text(), (105.0, 148.0))


def test_cli_photo_frame_plot_matches_the_photo_frame_png(tmp_path):
    from apdraw.eval.metrics import chamfer_distance

    out = tmp_path / "p"
    assert main(["draw", str(EXAMPLES / "astronaut.png"), "-o", str(out), "--style", "npr", "--frame", "photo",
                 "--format", "png,svg", "--paper", "300x200", "--margin-mm", "0"]) == 0  # fmt: skip
    png = load_image(out / "astronaut.png")[..., 0]
    cfg = VectorConfig(paper="300x200", margin_mm=0)
    plot = read_svg(out / "astronaut.svg", page_area(png.shape, cfg), cfg.pen_width_mm)
    assert chamfer_distance(plot.rasterize(max(png.shape)), png, threshold=0.5) <= 1.5


@pytest.fixture
def traced_images(monkeypatch) -> list[tuple[np.ndarray, list | None]]:
    """What the vectoriser traces during a test: (the raster, the given pen lines) of each call."""
    import apdraw.vector.plot as vplot

    calls, real = [], vplot.trace

    def spy(image, cfg=None, hatch_px=None, lines=None):
        calls.append((np.asarray(image).copy(), lines))
        return real(image, cfg, hatch_px, lines)

    monkeypatch.setattr(vplot, "trace", spy)
    return calls


def svg_points(path: Path) -> np.ndarray:
    return np.concatenate(svg_polylines(path.read_text())[1])


def test_cli_npr_plots_the_engines_own_lines(tmp_path, traced_images, monkeypatch):
    """`--style npr --format svg`: the engine's strands and jaw go into the SVG as drawn; only the rest is traced."""
    from apdraw import styles
    from apdraw.vector.plot import PX_PER_MM
    from apdraw.vector.tracing import simplify

    photo = str(EXAMPLES / "grace_hopper.jpg")
    assert main(["draw", photo, "-o", str(tmp_path / "a"), "--style", "npr", "--format", "png,svg"]) == 0
    [(traced, lines)] = traced_images
    png = load_image(tmp_path / "a" / "grace_hopper.png")[..., 0]
    assert lines and (traced < 128).sum() < (png < 128).sum()
    pts = np.concatenate(lines)
    ix, iy = np.rint(pts[:, 0]).astype(int), np.rint(pts[:, 1]).astype(int)
    assert (png[iy, ix] < 128).mean() > 0.95 and (traced[iy, ix] < 128).mean() < 0.6  # their ink is not traced
    # the jaw stroke's centre-line is in the SVG point for point
    cfg = VectorConfig()
    jaw = simplify(max(lines, key=len), cfg.simplify_px)
    want = Plot.from_pixels([jaw], png.shape, cfg).lines[0] * PX_PER_MM
    dist = lambda got: np.hypot(*(want[:, None] - got[None]).transpose(2, 0, 1)).min(1)  # noqa: E731
    assert len(jaw) > 20 and dist(svg_points(tmp_path / "a" / "grace_hopper.svg")).max() < 0.01

    # without the handover (a drawer that gives plain drawings) the whole raster is traced, and the jaw is not there
    traced_images.clear()
    monkeypatch.setattr(styles, "sketch", lambda drawer, faces: [styles.Sketch(img) for img in drawer(faces)])
    assert main(["draw", photo, "-o", str(tmp_path / "b"), "--style", "npr", "--format", "png,svg"]) == 0
    [(traced, lines)] = traced_images
    assert lines is None and np.array_equal(traced, png)
    assert (tmp_path / "a" / "grace_hopper.png").read_bytes() == (tmp_path / "b" / "grace_hopper.png").read_bytes()
    assert np.median(dist(svg_points(tmp_path / "b" / "grace_hopper.svg"))) > 0.5  # SVG units, 96 per inch


def test_cli_other_styles_trace_their_raster(tmp_path, traced_images):
    out = tmp_path / "o"
    assert main(["draw", str(EXAMPLES / "grace_hopper.jpg"), "-o", str(out), "--format", "png,svg"]) == 0
    [(traced, lines)] = traced_images
    assert lines is None and np.array_equal(traced, load_image(out / "grace_hopper.png")[..., 0])
