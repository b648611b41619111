"""Write the NPR figures of docs/NPR.md.

* docs/img/npr_gallery.png: photo | drawing pairs;
* docs/img/npr_layers.png: one face taken apart into the engine's layers.

Faces come from the full pipeline (`apdraw.face.FacePipeline`: MTCNN, alignment to the
APDrawing template, MediaPipe fg mask and jaw), then `apdraw.npr`. Inputs: the two
bundled examples, plus a few aligned photos from ../shared/data/apdrawing_refs/photo
when that folder exists (only drawn into the figures, downscaled; no data file is
copied).

    python scripts/npr_gallery.py [--out-dir docs/img] [--tile 256]
"""

from __future__ import annotations

import argparse
import os
import sys
import time
from pathlib import Path

import cv2
import numpy as np

REPO = Path(__file__).resolve().parents[1]
REFS = ["WechatIMG253_2", "model-2911329_1920", "girl-2720476_1920", "timg"]


def shared_data() -> Path:
    from apdraw.data import shared_data_dir

    return shared_data_dir()


def gallery_faces() -> list:
    """The aligned faces of the galleries: the bundled examples, then the apdrawing_refs photos that exist."""
    import sys

    from apdraw.face import FacePipeline
    from apdraw.io import load_image

    paths = [REPO / "examples" / "grace_hopper.jpg", REPO / "examples" / "astronaut.png"]
    refs = shared_data() / "apdrawing_refs" / "photo"
    paths += [refs / f"{n}.png" for n in REFS if (refs / f"{n}.png").is_file()]
    pipe = FacePipeline()
    faces = []
    for p in paths:
        found = pipe(load_image(p), max_faces=1)
        if found:
            faces.append(found[0])
        else:
            print(f"no face found in {p}", file=sys.stderr)
    return faces


def save_png(path: Path, rgb: np.ndarray) -> None:
    """Atomically save with a 256-colour palette (drawings are nearly two-tone; keeps docs small)."""
    from PIL import Image

    from apdraw.io import atomic_write

    img = Image.fromarray(rgb).quantize(256, Image.Quantize.MEDIANCUT, dither=Image.Dither.NONE)
    path.parent.mkdir(parents=True, exist_ok=True)
    with atomic_write(path, "wb") as fh:
        img.save(fh, "PNG", optimize=True)
    print(f"wrote {path}")


def tile(img: np.ndarray, size: int) -> np.ndarray:
    if img.ndim == 2:
        img = np.repeat(img[..., None], 3, 2)
    return cv2.resize(img, (size, size), interpolation=cv2.INTER_AREA)


def grid(tiles: list[np.ndarray], cols: int) -> np.ndarray:
    rows = []
    for i in range(0, len(tiles), cols):
        row = tiles[i : i + cols]
        row += [np.full_like(tiles[0], 255)] * (cols - len(row))
        rows.append(np.concatenate(row, 1))
    return np.concatenate(rows, 0)


def layer_views(layers) -> list[np.ndarray]:
    """Each layer as black ink on white paper; hair strands on a grey hair region."""
    paper = lambda m: np.where(m, 0, 255).astype(np.uint8)  # noqa: E731
    hair = np.full(layers.fg.shape, 255, np.uint8)
    hair[layers.hair] = 200
    hair[layers.hair_black] = 0
    hair[layers.hair_white & layers.hair] = 255
    hair[layers.hair & layers.dark & ~layers.hair_white] = 60
    pen = np.minimum(paper(layers.outline), np.round(255 * (1 - layers.jaw)).astype(np.uint8))
    return [paper(layers.lines), paper(layers.dark), hair, pen]


def main() -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--out-dir", type=Path, default=REPO / "docs" / "img")
    ap.add_argument("--tile", type=int, default=256, help="side of each tile")
    args = ap.parse_args()

    from apdraw.face import FacePipeline
    from apdraw.io import load_image
    from apdraw.npr import NPRInput, compose, draw_batch, portrait_layers

    paths = [REPO / "examples" / "grace_hopper.jpg", REPO / "examples" / "astronaut.png"]
    refs = shared_data() / "apdrawing_refs" / "photo"
    if refs.is_dir():
        paths += [refs / f"{n}.png" for n in REFS if (refs / f"{n}.png").is_file()]
    else:
        print(f"note: {refs} is absent; the figures show the bundled examples only", file=sys.stderr)

    pipe = FacePipeline()
    items: list[NPRInput] = []
    for p in paths:
        faces = pipe(load_image(p), max_faces=1)
        if faces:
            items.append(NPRInput.from_face(faces[0]))
        else:
            print(f"no face found in {p}", file=sys.stderr)
    t0 = time.perf_counter()
    drawings = draw_batch(items)
    print(f"drew {len(items)} faces, {(time.perf_counter() - t0) * 1000 / max(1, len(items)):.0f} ms per face")

    t = args.tile
    pairs = [np.concatenate([tile(it.aligned, t), tile(d, t)], 1) for it, d in zip(items, drawings)]
    save_png(args.out_dir / "npr_gallery.png", grid(pairs, 2))

    # Layers of the third face (the first shared-data photo when present).
    it = items[min(2, len(items) - 1)]
    layers = portrait_layers(it.aligned, it.fg_mask, it.jaw, it.hair_mask, None, it.landmarks5)
    views = [it.aligned, *layer_views(layers), compose(layers)]
    save_png(args.out_dir / "npr_layers.png", grid([tile(v, t) for v in views], len(views)))
    return 0


if __name__ == "__main__":
    sys.exit(main())
