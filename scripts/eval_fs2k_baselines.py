"""Evaluate every available drawing method on the held-out FS2K validation split (sketch type 0) in one report.

    python scripts/eval_fs2k_baselines.py [-o runs/fs2k_baselines] [--sketch-type 0] [--limit N]
                                          [--weights STYLE=PATH ...] [--method NAME=DIR ...]
                                          [--skip-style NAME ...] [--force]

Methods come from a registry:

* every drawing style of ``apdraw draw`` (:data:`apdraw.styles.STYLES`: the NPR
  engine, and each trained model registered there, with its shipped weights or
  ``--weights STYLE=PATH``); a style whose weights are missing is reported as
  unavailable and skipped;
* ``xdog``: plain isotropic XDoG lines (:func:`apdraw.npr.xdog`, default
  parameters) on the whole photo, no face processing;
* ``--method NAME=DIR``: drawings made elsewhere, one per photo, named like the photos.

Frame of comparison: FS2K photos are not aligned to the APDrawing template, and
each sketch was drawn over its photo's framing. So every method draws in the
photo's own frame: a style runs on the face pipeline's aligned 512x512 crop of
the largest face and its drawing is pasted back into the photo frame, on white
(``apdraw draw --frame photo``); XDoG runs on the photo directly. The drawing and
the sketch then share a frame and size, and ``apdraw eval``'s paired metrics
compare them at the reference's aspect with the longer side 512. Photos in which
no face is found are left out for every method (the count is printed and
stored), so that all methods are scored on the same images.

Outputs in ``-o``: one folder of drawings per method (reused on later runs
unless ``--force``), ``eval_inputs/`` (links to the scored photos, sketches and
drawings) and ``report/`` (metrics.json, metrics.md, index.html, fs2k.json).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Callable

import numpy as np

REPO = Path(__file__).resolve().parents[1]

PhotoDrawer = Callable[[np.ndarray], np.ndarray]  # (H, W, 3) uint8 photo -> (H, W) uint8 drawing, same frame


class MethodUnavailable(RuntimeError):
    """A registered method cannot run here (weights missing, ...)."""


class NoFace(RuntimeError):
    """The face pipeline found no face in a photo."""


@dataclass(frozen=True)
class Method:
    name: str
    description: str
    build: Callable[[], PhotoDrawer]  # raises MethodUnavailable
    needs_face: bool


def _style_method(style: str, description: str, weights: str | None = None) -> Method:
    def build() -> PhotoDrawer:
        from apdraw.face import paste_back
        from apdraw.styles import build_drawer

        try:
            drawer = build_drawer(style, weights)
        except (FileNotFoundError, ValueError) as exc:
            raise MethodUnavailable(str(exc)) from exc
        pipeline = _pipeline()

        def draw(photo: np.ndarray) -> np.ndarray:
            faces = pipeline(photo, max_faces=1)
            if not faces:
                raise NoFace("no face found")
            return paste_back(drawer(faces)[0], faces[0], photo.shape[:2])

        return draw

    return Method(style, f"`apdraw draw --style {style} --frame photo`: {description}", build, needs_face=True)


def _xdog_method() -> Method:
    def build() -> PhotoDrawer:
        from apdraw.io import to_gray
        from apdraw.npr import xdog

        def draw(photo: np.ndarray) -> np.ndarray:
            lines = xdog(to_gray(photo).astype(np.float32) / 255.0)
            return np.round(lines * 255.0).astype(np.uint8)

        return draw

    return Method("xdog", "plain isotropic XDoG (apdraw.npr.xdog defaults) on the whole photo", build, needs_face=False)


_PIPELINE = None


def _pipeline():
    global _PIPELINE
    if _PIPELINE is None:
        from apdraw.face import FacePipeline

        _PIPELINE = FacePipeline()
    return _PIPELINE


def registry(weights: dict[str, str] | None = None) -> list[Method]:
    """All known methods: the drawing styles of `apdraw draw` (with `weights[style]` when given), then plain XDoG."""
    from apdraw.styles import STYLES

    weights = weights or {}
    return [_style_method(s.name, s.help, weights.get(s.name)) for s in STYLES] + [_xdog_method()]


def _link(src: Path, dst: Path) -> None:
    dst.parent.mkdir(parents=True, exist_ok=True)
    if dst.is_symlink() or dst.exists():
        dst.unlink()
    try:
        dst.symlink_to(src.resolve())
    except OSError:  # filesystems without symlinks
        shutil.copyfile(src, dst)


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("-o", "--out", type=Path, default=REPO / "runs" / "fs2k_baselines")
    parser.add_argument("--data", type=Path, help="shared data folder (default: $APDRAW_SHARED_DATA or ../shared/data)")
    parser.add_argument("--sketch-type", type=int, default=0, help="FS2K sketch type (its 'style' label; default 0, clean lines)")
    parser.add_argument("--val-fraction", type=float, default=0.15)
    parser.add_argument("--limit", type=int, help="only the first N validation pairs (quick runs)")
    parser.add_argument("--method", action="append", default=[], metavar="NAME=DIR",
                        help="add drawings made elsewhere (files named like the photos)")
    parser.add_argument("--weights", action="append", default=[], metavar="STYLE=PATH",
                        help="weights file for a learned style (default: the shipped ones)")
    parser.add_argument("--skip-style", action="append", default=[], metavar="NAME", help="leave a registered method out")
    parser.add_argument("--metrics", nargs="+", help="passed to the evaluation (default: apdraw eval's default set)")
    parser.add_argument("--force", action="store_true", help="redraw even when a method's drawings exist")
    args = parser.parse_args(argv)

    from apdraw.commands.eval import resolve_metrics
    from apdraw.data.fs2k import fs2k_split
    from apdraw.eval.report import distribution_rows, paired_rows, write_report
    from apdraw.eval.runner import EvalSettings, evaluate
    from apdraw.io import load_image, save_image, save_text

    from apdraw.data import shared_data_dir

    data = args.data or shared_data_dir()
    _, val = fs2k_split(data, sketch_type=args.sketch_type, val_fraction=args.val_fraction)
    val = val[: args.limit] if args.limit else val
    if not val:
        print("no FS2K validation pairs", file=sys.stderr)
        return 1
    out: Path = args.out
    print(f"FS2K sketch type {args.sketch_type} validation: {len(val)} pairs -> {out}", file=sys.stderr)

    methods, notes = {}, {}
    timings: dict[str, float] = {}
    no_face: set[str] = set()
    weights = dict(item.split("=", 1) for item in args.weights)
    for method in registry(weights):
        if method.name in args.skip_style:
            continue
        folder = out / method.name
        marker = folder / "_complete.json"  # the names drawn last time, and the photos without a face
        names = [r.name for r in val]
        if marker.is_file() and not args.force and json.loads(marker.read_text())["names"] == names:
            no_face |= set(json.loads(marker.read_text())["no_face"])
            methods[method.name], notes[method.name] = folder, method.description
            print(f"{method.name}: reusing {folder}", file=sys.stderr)
            continue
        try:
            draw = method.build()
        except MethodUnavailable as exc:
            print(f"{method.name}: unavailable ({exc})", file=sys.stderr)
            continue
        t = time.perf_counter()
        missed = []
        for r in val:
            try:
                save_image(folder / f"{r.name}.png", draw(load_image(r.photo)))
            except NoFace:
                missed.append(r.name)
        timings[method.name] = (time.perf_counter() - t) / len(val)
        no_face |= set(missed)
        save_text(marker, json.dumps({"names": names, "no_face": missed}) + "\n")
        methods[method.name], notes[method.name] = folder, method.description
        print(f"{method.name}: drew {len(val) - len(missed)} of {len(val)} photos, "
              f"{timings[method.name]:.2f} s/photo", file=sys.stderr)
    for item in args.method:
        name, _, folder = item.partition("=")
        methods[name] = Path(folder)
        notes[name] = f"drawings from {folder}"
    if not methods:
        print("no method available", file=sys.stderr)
        return 1
    # Score every method on the same photos: those for which each has a drawing
    # (a style has none where the face pipeline found no face).
    def output(folder: Path, name: str) -> Path | None:
        return next(iter(sorted(Path(folder).glob(f"{name}.*"))), None)

    keep = [r for r in val if all(output(f, r.name) is not None for f in methods.values())]
    left_out = sorted({r.name for r in val} - {r.name for r in keep})
    eval_root = out / "eval_inputs"  # links only, rebuilt on every run
    shutil.rmtree(eval_root, ignore_errors=True)
    for r in keep:
        _link(r.sketch, eval_root / "_ref" / r.sketch.name)
        _link(r.photo, eval_root / "_photo" / r.photo.name)
        for name, folder in methods.items():
            src = output(folder, r.name)
            _link(src, eval_root / name / src.name)
    if left_out:
        print(f"left out for every method (no drawing, e.g. no face found): {left_out}", file=sys.stderr)

    metrics, note = resolve_metrics(args.metrics, None)
    if note:
        print(f"note: {note}", file=sys.stderr)
    result = evaluate({name: eval_root / name for name in methods}, eval_root / "_ref", eval_root / "_photo",
                      EvalSettings(metrics=metrics))
    result["fs2k"] = {
        "sketch_type": args.sketch_type, "val_fraction": args.val_fraction, "n_val": len(val), "n_scored": len(keep),
        "left_out": left_out, "no_face": sorted(no_face), "methods": notes, "seconds_per_photo": timings,
        "frame": "photo frame: styles are pasted back from the aligned crop; XDoG runs on the photo",
    }
    result["notes"] = [f"**{name}**: {desc}" for name, desc in notes.items()] + [
        f"FS2K sketch type {args.sketch_type} validation split (apdraw.data.fs2k, val_fraction {args.val_fraction}): "
        f"{len(keep)} of {len(val)} pairs scored" + (f"; left out (no drawing): {', '.join(left_out)}" if left_out else ""),
        "Frame: every method draws in the photo's own frame (styles: aligned crop pasted back on white; "
        "XDoG: the photo itself), the frame the FS2K artist drew over.",
    ]
    index = write_report(result, out / "report")
    save_text(out / "report" / "fs2k.json", json.dumps(result["fs2k"], indent=1) + "\n")
    for header, rows in (paired_rows(result), distribution_rows(result)):
        if len(header) <= 2:  # no metric of that kind
            continue
        print("| " + " | ".join(header) + " |")
        print("|" + "---|" * len(header))
        for row in rows:
            print("| " + " | ".join(row) + " |")
        print()
    print(f"report: {index}", file=sys.stderr)
    return 0


if __name__ == "__main__":
    sys.exit(main())
