"""Does the code encoder help `apdraw views`? Inversion from the mean code vs from the encoder's guess (ours).

    python scripts/sage_views_check.py [--weights W.safetensors] [--encoder E.safetensors] [--photos 12]
        [--steps 100] [--figure docs/img/sage_views_encoder.png] [--json OUT.json]

Photos: ``--photos`` CelebAMask-HQ-mini photos of the SAGE data's *validation* split (never a training
photo of the warm start, its codes or the encoder), spread evenly over it, each given to
:meth:`apdraw.multiview.MultiViewGenerator.invert` as any photo (detected, aligned, pose estimated,
parsed). For each start (``init`` "mean" and "encoder") and each of 0 and ``--steps`` Adam steps, on the
fitted code rendered at the photo's pose (:meth:`~apdraw.multiview.MultiViewGenerator.render_code`):

* **PSNR** (dB) of the rendered photo against the aligned crop (the fit's target);
* **label mIoU**: the rendered semantic map against the parser's labels of the photo, over
  :data:`apdraw.eval.multiview.MAIN_CLASSES` (inversion fits these labels too);
* **feature cosine**: MobileNetV2's pooled features of the rendered photo and the crop (a likeness
  proxy; flagged: the encoder reads the same features, so this favours it);
* the fit's loss (photometric + semantic CE) and its wall time.

``--figure``: per photo (6 rows) the crop, the mean-start fit, the encoder-start fit, and the
encoder-start fit drawn at -25°, 0° and +25°.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

sys.path.insert(0, str(Path(__file__).resolve().parent))
from npr_gallery import save_png  # noqa: E402 - same folder
from sage_editing import label  # noqa: E402

FIGURE_YAWS = (-25, 0, 25)


def psnr(a: np.ndarray, b: np.ndarray) -> float:
    mse = np.mean((a.astype(np.float64) - b.astype(np.float64)) ** 2)
    return float(10 * np.log10(255.0**2 / max(mse, 1e-10)))


def held_out_photos(count: int) -> list[tuple[str, np.ndarray]]:
    """``count`` photos of the SAGE data's validation split, spread evenly (name, RGB uint8)."""
    from apdraw.data.sage import SageDataConfig, sage_names
    from apdraw.io import load_image

    cfg = SageDataConfig(split="val")
    names = sage_names(cfg)
    picked = np.linspace(0, len(names) - 1, min(count, len(names))).round().astype(int)
    folder = Path(cfg.root) / "images"
    out = []
    for i in picked:
        path = next(p for p in folder.glob(f"{names[i]}.*"))
        out.append((names[i], load_image(path)))
    return out


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("--weights", default=None, help="a SAGE generator (default: the shipped default style)")
    ap.add_argument("--encoder", default=None, help="a code encoder (default: the shipped one)")
    ap.add_argument("--photos", type=int, default=12)
    ap.add_argument("--steps", type=int, default=100)
    ap.add_argument("--figure", type=Path, default=None)
    ap.add_argument("--json", type=Path, default=None)
    args = ap.parse_args(argv)

    import torch

    from apdraw.eval.features import MobileNetV2Features
    from apdraw.eval.multiview import label_iou
    from apdraw.io import save_text
    from apdraw.multiview import MultiViewGenerator, NoFaceError

    torch.set_num_threads(1)
    mv = MultiViewGenerator.from_pretrained(args.weights, code_encoder=args.encoder)
    if mv.code_encoder is None:
        print("no code encoder fits this generator: pass --encoder", file=sys.stderr)
        return 2
    features = MobileNetV2Features(device="cpu")
    photos = held_out_photos(args.photos)
    rows: dict[str, list[dict]] = {}
    figure = []
    for name, image in photos:
        per = {}
        for init in ("mean", "encoder"):
            for steps in (0, args.steps):
                t0 = time.perf_counter()
                try:
                    fit = mv.invert(image, steps=steps, init=init)
                except NoFaceError:
                    print(f"{name}: no face found, skipped", flush=True)
                    break
                seconds = time.perf_counter() - t0
                view = mv.render_code(fit.code, fit.yaw_deg, fit.pitch_deg)
                f = features(np.stack([view.photo, fit.crop])).pooled
                cos = float(f[0] @ f[1] / (np.linalg.norm(f[0]) * np.linalg.norm(f[1])))
                r = {"photo": name, "init": init, "steps": steps, "psnr": psnr(view.photo, fit.crop),
                     "label_miou": label_iou(view.semantic, fit.labels)["miou"], "feature_cosine": cos,
                     "loss": float(fit.losses[-1]), "seconds": seconds}  # fmt: skip
                rows.setdefault(f"{init}@{steps}", []).append(r)
                per[(init, steps)] = (fit, view)
                print(f"{name} {init:7s} {steps:4d} steps: PSNR {r['psnr']:.2f}, label mIoU {r['label_miou']:.3f}, "
                      f"cosine {cos:.3f}, loss {r['loss']:.3f}, {seconds:.1f} s", flush=True)  # fmt: skip
        if len(per) == 4 and len(figure) < 6:
            enc_fit = per[("encoder", args.steps)][0]
            cells = [enc_fit.crop, per[("mean", args.steps)][1].photo, per[("encoder", args.steps)][1].photo]
            cells += [np.repeat(mv.render_code(enc_fit.code, y, 0.0).drawing[..., None], 3, 2) for y in FIGURE_YAWS]
            figure.append(np.concatenate(cells, 1))
    summary = {k: {m: float(np.mean([r[m] for r in v])) for m in ("psnr", "label_miou", "feature_cosine", "loss", "seconds")} | {"n": len(v)}
               for k, v in rows.items()}  # fmt: skip
    for k, v in summary.items():
        print(f"{k:14s} (n={v['n']}): PSNR {v['psnr']:.2f} dB, label mIoU {v['label_miou']:.3f}, feature cosine "
              f"{v['feature_cosine']:.3f}, loss {v['loss']:.3f}, {v['seconds']:.1f} s")  # fmt: skip
    if args.json:
        save_text(args.json, json.dumps({"steps": args.steps, "summary": summary, "rows": rows}, indent=1))
    if args.figure and figure:
        s = figure[0].shape[0]
        head = ["photo (crop)", f"from mean, {args.steps}", f"encoder, {args.steps}"] + [f"drawn {y:+d} deg" for y in FIGURE_YAWS]
        header = np.concatenate([label(t, s) for t in head], 1)
        save_png(args.figure, np.concatenate([header, *figure], 0))
    return 0


if __name__ == "__main__":
    sys.exit(main())
