"""SAGE's editing figures for docs/SAGE.md ("Editing"): semantic editing, style switching, identity interpolation.

    python scripts/sage_editing.py --weights sage.safetensors [--style NAME=WEIGHTS ...] [--seed 0] [--seed-b 1]
        [--yaw 0] [--grow 6] [--out docs/img/sage_editing.png]

One labelled grid (``--out``), three parts:

1. **Semantic editing** (one identity, one view): the generator's parts before G_p
   (``MultiViewGenerator.render_parts``: the decoded photo and the semantic logits), the semantic map
   edited with :func:`apdraw.multiview.edit_semantic` (hair grown by ``--grow`` px, hair shrunk by
   ``--grow`` px, eyeglasses removed, i.e. relabelled skin) and redrawn by G_p
   (``MultiViewGenerator.translate``) from the same photo. Top: the label maps; below: the drawings.
   When ``--seed`` has no eyeglasses pixel at this view, the first seed of 0..``--search``-1 that has
   the most is used for the whole row instead (the figure says which).
2. **Style switching**: the same identity and view (``--weights``' photo and semantic logits)
   translated by the G_p of every generator given with ``--style NAME=WEIGHTS`` (each an exported
   SAGE generator trained on another style's drawings; only its translator is used, so the identity
   and the view stay exactly the same).
3. **Interpolation**: ``MultiViewGenerator.interpolate(seed, seed_b, t)`` at t = 0, ¼, ½, ¾, 1
   (linear in w), drawings and photos.
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import cv2
import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from npr_gallery import REPO, save_png, tile  # noqa: E402 - same folder

STEPS = (0.0, 0.25, 0.5, 0.75, 1.0)


def label(text: str, width: int, height: int = 22, scale: float = 0.42) -> np.ndarray:
    bar = np.full((height, width, 3), 255, np.uint8)
    cv2.putText(bar, text, (4, height - 7), cv2.FONT_HERSHEY_SIMPLEX, scale, (0, 0, 0), 1, cv2.LINE_AA)
    return bar


def labelled_row(images: list[np.ndarray], names: list[str], t: int) -> np.ndarray:
    """Tiles side by side, each with its name underneath."""
    return np.concatenate([np.concatenate([tile(im, t), label(n, t)], 0) for im, n in zip(images, names)], 1)


def stack(blocks: list[np.ndarray]) -> np.ndarray:
    width = max(b.shape[1] for b in blocks)
    pad = lambda b: np.pad(b, ((0, 0), (0, width - b.shape[1]), (0, 0)), constant_values=255)  # noqa: E731
    return np.concatenate([pad(b) for b in blocks], 0)


def glasses_seed(mv, seed: int, yaw: float, search: int) -> tuple[int, int]:
    """(the seed to edit, its eyeglasses pixel count): ``seed`` when it has some, else the search's best."""
    glasses = lambda s: int((mv.render_parts(s, yaw).labels == 3).sum())  # noqa: E731 - class 3 = eyeglasses
    n = glasses(seed)
    if n or search <= 0:
        return seed, n
    counts = [(glasses(s), s) for s in range(search)]
    best_n, best = max(counts, key=lambda c: (c[0], -c[1]))
    return (best, best_n) if best_n else (seed, 0)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", required=True, help="the exported SAGE generator (apdraw export sage)")
    ap.add_argument("--style", action="append", default=[], metavar="NAME=WEIGHTS", help="another exported generator: its G_p (repeatable)")
    ap.add_argument("--seed", type=int, default=0, help="the identity to edit and restyle")
    ap.add_argument("--seed-b", type=int, default=1, help="the other end of the interpolation")
    ap.add_argument("--yaw", type=float, default=0.0)
    ap.add_argument("--pitch", type=float, default=0.0)
    ap.add_argument("--truncation", type=float, default=0.7)
    ap.add_argument("--grow", type=int, default=6, help="pixels (at the generator's size) to grow and to shrink the hair by")
    ap.add_argument("--search", type=int, default=32, help="seeds searched for one with eyeglasses when --seed has none")
    ap.add_argument("--tile", type=int, default=160)
    ap.add_argument("--out", type=Path, default=REPO / "docs" / "img" / "sage_editing.png")
    args = ap.parse_args(argv)
    styles = []
    for s in args.style:
        if "=" not in s:
            ap.error(f"--style takes NAME=WEIGHTS, got {s!r}")
        styles.append(tuple(s.split("=", 1)))

    import torch

    from apdraw.models.parser import colorize
    from apdraw.models.sage import load_generator
    from apdraw.multiview import MultiViewGenerator, edit_semantic

    t0 = time.perf_counter()
    mv = MultiViewGenerator.from_pretrained(args.weights)
    t = args.tile
    view = dict(yaw_deg=args.yaw, pitch_deg=args.pitch, truncation=args.truncation)

    # 1. semantic editing
    seed, n_glasses = glasses_seed(mv, args.seed, args.yaw, args.search)
    parts = mv.render_parts(seed, **view)
    edits = [("original", parts.semantic), (f"hair +{args.grow} px", edit_semantic(parts.semantic, grow_hair=args.grow)),
             (f"hair -{args.grow} px", edit_semantic(parts.semantic, grow_hair=-args.grow)),
             ("no eyeglasses", edit_semantic(parts.semantic, remove=("eyeglasses",)))]  # fmt: skip
    maps = [colorize(logits.reshape(-1, *logits.shape[-2:]).argmax(0).to(torch.uint8).cpu().numpy()) for _, logits in edits]
    drawings = [mv.translate(parts.image, logits) for _, logits in edits]
    names = [n for n, _ in edits]
    note = f"seed {seed}" + ("" if seed == args.seed else f" (seed {args.seed} has no eyeglasses here)")
    note += f"; eyeglasses: {n_glasses} px" if n_glasses else "; no seed searched has eyeglasses"
    blocks = [label(f"1. semantic editing: {note}", 5 * t, 26, 0.5),
              labelled_row([parts.photo] + maps, ["photo"] + [f"map: {n}" for n in names], t),
              labelled_row([np.full((t, t, 3), 255, np.uint8)] + drawings, [""] + [f"G_p: {n}" for n in names], t)]

    # 2. style switching: every style's G_p on this identity's photo and semantic logits
    same = mv.render_parts(args.seed, **view)
    images, names = [same.photo, mv.translate(same.image, same.semantic)], ["photo", "this generator"]
    for name, path in styles:
        other = MultiViewGenerator(load_generator(path))
        images.append(other.translate(same.image, same.semantic))
        names.append(name)
    blocks += [label(f"2. style switching: seed {args.seed}, yaw {args.yaw:g}; each style's G_p on the same photo and map",
                     5 * t, 26, 0.5), labelled_row(images, names, t)]  # fmt: skip

    # 3. identity interpolation
    mids = [mv.interpolate(args.seed, args.seed_b, s, args.yaw, args.pitch, args.truncation) for s in STEPS]
    blocks += [label(f"3. interpolation in w: seed {args.seed} -> seed {args.seed_b}", 5 * t, 26, 0.5),
               labelled_row([m.drawing for m in mids], [f"t = {s:g}" for s in STEPS], t),
               labelled_row([m.photo for m in mids], [f"photo, t = {s:g}" for s in STEPS], t)]  # fmt: skip
    save_png(args.out, stack(blocks))
    print(f"{time.perf_counter() - t0:.1f} s")
    return 0


if __name__ == "__main__":
    sys.exit(main())
