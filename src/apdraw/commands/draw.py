"""`apdraw draw INPUT... -o OUTDIR`: turn face photos into portrait drawings.

Inputs are image files and folders (searched recursively). Each face is found,
aligned to the APDrawing 512² template, drawn in the chosen style, and written
either as the aligned crop (``--frame aligned``) or pasted back into the
photo's own frame on white (``--frame photo``). Exit status: 0 when every
input produced a drawing, 1 when some failed (listed at the end), 2 for usage
errors. The recipe itself is :class:`apdraw.pipeline.PortraitPipeline`.

``--format svg`` and ``--format gcode`` (or a combination such as ``png,svg,gcode``)
also write the drawing as pen strokes for a plotter, fitted to ``--paper`` inside
``--margin-mm`` (see docs/VECTOR.md); ``--size`` applies to the PNG only.
"""

from __future__ import annotations

import argparse
import gc
import sys
import threading
from pathlib import Path

from apdraw.commands.args import (
    MAX_OUTPUT_SIZE, non_negative_float, output_formats, output_size, paper_size, positive_float, positive_int, style_name,
)  # fmt: skip
from apdraw.io import DEFAULT_MAX_PIXELS
from apdraw.vector.config import GCODE_PRESETS, VectorConfig


def register(sub: argparse._SubParsersAction) -> None:
    from apdraw.face.backends import DETECTORS, MASK_BACKENDS
    from apdraw.styles import DEFAULT_STYLE, STYLES

    p = sub.add_parser(
        "draw", help="draw portraits from photos", description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter
    )
    p.add_argument("inputs", nargs="+", metavar="INPUT", help="image files or folders (recursive)")
    p.add_argument("-o", "--out", required=True, type=Path, metavar="OUTDIR", help="output folder")
    styles = ", ".join(f"{s.name} ({s.help})" for s in STYLES)
    p.add_argument("--style", "--model", dest="style", default=DEFAULT_STYLE, type=style_name, metavar="STYLE", help=f"drawing style: {styles}; default {DEFAULT_STYLE}; see `apdraw styles`. qmupd:all writes NAME_style0.png, NAME_style1.png, NAME_style2.png")
    p.add_argument("--weights", type=Path, help="weights file for a learned style (default: the shipped ones)")
    p.add_argument("--faces", choices=("largest", "all"), default="largest", help="draw the largest face only, or every face")
    p.add_argument("--frame", choices=("aligned", "photo"), default="aligned", help="aligned 512² crop, or pasted back into the photo frame on white")
    p.add_argument("--size", type=output_size, help=f"output size in pixels, at most {MAX_OUTPUT_SIZE}: side of the aligned crop (default 512), or long side in the photo frame (default: the photo's)")
    p.add_argument("--detector", choices=DETECTORS.names(), default=DETECTORS.default, help="face detector and 5-point landmarks")
    p.add_argument("--masks", choices=MASK_BACKENDS.names(), default=MASK_BACKENDS.default, help="; ".join(f"{m.name}: {m.help}" for m in MASK_BACKENDS))
    p.add_argument("--max-pixels", type=positive_int, default=DEFAULT_MAX_PIXELS, help="refuse larger images (decompression bombs); default %(default)d")
    p.add_argument("--runtime", choices=("torch", "onnx"), default="torch", help="run the apdrawinggan generator (and the mtcnn detector) with torch, or with onnxruntime, without importing torch (extra: .[onnx]; within 1 gray level of torch; the shipped or --weights safetensors and MTCNN are exported once to ~/.cache/apdraw, or give --weights a .onnx file from `apdraw export`); default %(default)s")
    p.add_argument("--workers", type=positive_int, default=1, help="threads drawing photos in parallel, each with its own models (2 on a 2-core machine: see docs/BENCHMARKS.md); default 1")
    v = VectorConfig()
    g = p.add_argument_group("plotter output (--format svg, gcode)")
    g.add_argument("--format", type=output_formats, default=("png",), metavar="FORMATS", help="what to write, comma-separated: png (the drawing), svg (pen strokes), gcode (for a pen plotter); default png")
    g.add_argument("--paper", type=paper_size, default=v.paper, help="page: A6, A5, A4, A3, A2, letter, legal, or WIDTHxHEIGHT in mm; default %(default)s")
    g.add_argument("--margin-mm", type=non_negative_float, default=v.margin_mm, metavar="MM", help="blank margin on every side; default %(default)g")
    g.add_argument("--pen-width-mm", type=positive_float, default=v.pen_width_mm, metavar="MM", help="pen line width (SVG stroke width); default %(default)g")
    g.add_argument("--hatch-mm", type=positive_float, default=v.hatch_mm, metavar="MM", help="spacing of the hatch lines that fill dark regions; default %(default)g")
    g.add_argument("--min-stroke-mm", type=non_negative_float, default=v.min_stroke_mm, metavar="MM", help="drop strokes shorter than this; default %(default)g")
    g.add_argument("--gcode-preset", choices=GCODE_PRESETS, default=v.gcode_preset, help="pen lift: grbl-servo (M3 S..., dwell), z-axis (Z moves), marlin (M280 servo); default %(default)s")
    g.add_argument("--feed", type=positive_float, default=v.feed, metavar="MM_PER_MIN", help="drawing feed rate; default %(default)g")
    g.add_argument("--travel-feed", type=positive_float, default=v.travel_feed, metavar="MM_PER_MIN", help="pen-up feed rate; default %(default)g")
    p.set_defaults(func=run)


def vector_config(args: argparse.Namespace) -> VectorConfig:
    """The plot settings of the command line (ValueError when they cannot make a plot)."""
    return VectorConfig(
        paper=args.paper, margin_mm=args.margin_mm, pen_width_mm=args.pen_width_mm, hatch_mm=args.hatch_mm,
        min_stroke_mm=args.min_stroke_mm, gcode_preset=args.gcode_preset, feed=args.feed, travel_feed=args.travel_feed,
    ).check()  # fmt: skip


def _resize(img, size: int):
    import cv2

    h, w = img.shape[:2]
    scale = size / max(h, w)
    if scale == 1:
        return img
    interp = cv2.INTER_AREA if scale < 1 else cv2.INTER_CUBIC
    return cv2.resize(img, (max(1, round(w * scale)), max(1, round(h * scale))), interpolation=interp)


# --------------------------------------------------------------------------- the work of one photo
# _setup builds the pipeline once per worker thread (its own models: MediaPipe graphs are
# not shared between threads); _render draws one photo into file bytes.

_STATE = threading.local()


def style_options(options: dict) -> dict:
    """The style factory's options of the command line (only those set away from their defaults)."""
    return {"runtime": options["runtime"]} if options["runtime"] != "torch" else {}


def _setup(options: dict) -> None:
    """Build the pipeline of one worker thread (the main thread with --workers 1)."""
    from apdraw.pipeline import PortraitPipeline

    if options["workers"] > 1 and options["runtime"] == "torch":
        import torch

        # One torch thread per worker: the workers are the parallelism (and the per-call
        # thread settings of apdraw.runtime.torch_threads then never race).
        torch.set_num_threads(1)

    # The models' many small objects live until exit: building them with the cycle collector
    # off, then freezing them out of its reach, saves about 0.2 s of collections at start-up
    # and 0.3 s of tear-down at exit (measured, one photo on the 2-core machine).
    gc.disable()
    try:
        _STATE.pipe = PortraitPipeline.from_style(
            options["style"], options["weights"], detector=options["detector"], masks=options["masks"],
            max_faces=options["max_faces"], max_pixels=options["max_pixels"], **style_options(options),
        )  # fmt: skip
    finally:
        gc.enable()
        gc.freeze()
    if options["workers"] > 1 and options["runtime"] != "torch" and "torch" in sys.modules:
        # The onnx runtime loads no torch, unless a backend still runs on it (--masks parser).
        sys.modules["torch"].set_num_threads(1)
    _STATE.options = options


def _render(path: Path) -> list[tuple[str, dict[str, bytes]]]:
    """One photo -> its outputs: (stem tail such as "" or "_face1", format -> file bytes).

    The files are encoded here, in the worker, so that the parent process only writes them.
    """
    from apdraw.batch import NoFaceError
    from apdraw.io import encode_image
    from apdraw.pipeline import compose_in_photo, compose_strokes_in_photo

    o = _STATE.options
    drawings = _STATE.pipe(path)
    if not drawings:
        raise NoFaceError("no face found")
    cfg, size, formats = o["vector"], o["size"], o["formats"]

    def files(image, lines, hw) -> dict[str, bytes]:
        out = {}
        if "png" in formats:
            out["png"] = encode_image(_resize(image(), size) if size else image())
        if set(formats) - {"png"}:
            from apdraw.vector import Plot, to_gcode

            plot = Plot.from_pixels(lines(), hw, cfg)
            if "svg" in formats:
                out["svg"] = plot.svg().encode("utf-8")
            if "gcode" in formats:
                out["gcode"] = to_gcode(plot, cfg).encode("ascii")
        return out

    variants = list(dict.fromkeys(d.variant for d in drawings))  # "" or e.g. _style0, _style1, _style2 (qmupd:all)
    if o["frame"] == "photo":
        hw = drawings[0].photo_hw
        out = []
        for v in variants:
            mine = [d for d in drawings if d.variant == v]
            out.append((v, files(lambda m=mine: compose_in_photo(m, hw), lambda m=mine: compose_strokes_in_photo(m, hw, cfg), hw)))
        return out
    n_faces = len(drawings) // len(variants)
    return [(("" if n_faces == 1 else f"_face{i // len(variants)}") + d.variant,
             files(lambda d=d: d.image, lambda d=d: d.trace_strokes(cfg), d.image.shape))
            for i, d in enumerate(drawings)]  # fmt: skip


def run(args: argparse.Namespace) -> int:
    from apdraw.batch import OutputNames, UsageError, check_out_dir, run_command
    from apdraw.io import save_bytes

    try:
        check_out_dir(args.out)
        cfg = vector_config(args)
    except (UsageError, ValueError) as exc:
        print(f"apdraw draw: {exc}", file=sys.stderr)
        return 2
    formats = args.format
    patterns = [f"{{}}.{fmt}" for fmt in formats]
    options = dict(style=args.style, weights=args.weights, detector=args.detector, masks=args.masks,
                   max_faces=1 if args.faces == "largest" else None, max_pixels=args.max_pixels, frame=args.frame,
                   size=args.size, formats=formats, vector=cfg, workers=args.workers, runtime=args.runtime)
    if args.workers == 1:
        # Build here, so that a bad style or weights file is a usage error before any work.
        try:
            _setup(options)
        except (ValueError, FileNotFoundError, ImportError) as exc:  # incl. unknown names, WeightsError, no onnxruntime
            print(f"apdraw draw: {exc}", file=sys.stderr)
            return 2
    else:
        try:  # the same checks, without building the models in this process
            from apdraw.styles import STYLES, build_drawers, parse_style

            if STYLES.get(parse_style(args.style)[0]).learned and (args.weights is not None or args.runtime != "torch"):
                build_drawers(args.style, args.weights, **style_options(options))  # also exports the ONNX graph once
            elif args.runtime != "torch":
                build_drawers(args.style, **style_options(options))  # a style without runtimes: the usage error
            if args.runtime == "onnx" and args.detector == "mtcnn":
                from apdraw.face.mtcnn_onnx import cached_graphs

                cached_graphs()  # exports the detector's graphs once, before the workers start
        except (ValueError, FileNotFoundError, ImportError) as exc:
            print(f"apdraw draw: {exc}", file=sys.stderr)
            return 2

    def process(path: Path, stem: Path, names: OutputNames, rendered: list) -> None:
        for tail, files in rendered:
            item = stem.with_name(stem.name + tail) if tail else stem
            for fmt, target in zip(formats, names.claim(item, patterns, path)):
                save_bytes(target, files[fmt])

    parallel = dict(compute=_render, workers=args.workers)
    if args.workers > 1:
        parallel.update(initializer=_setup, initargs=(options,))
    return run_command("draw", args.inputs, args.out, process, desc="drawing", verb="drew", **parallel)
