"""Does a SAGE warm start know whose face it is? (docs/SAGE.md "Runs").

    python scripts/sage_warm_start_check.py CHECKPOINT [CHECKPOINT ...] [--items 48] [--size 128]
        [--figure docs/img/sage_warm_start.png] [--json OUT.json]

For each ``latest.pt`` of a ``stage=reconstruct`` (or ``map``) run, on ``--items`` training photos spread
evenly over its data set (unflipped, each with its own learned code, rendered at its estimated pose, eval
mode, fixed renderer jitter):

* **PSNR** of the decoded photo against the photo with its own code, with another photo's code (the codes
  rolled by one) and with the mean code. ``identity gain`` = own − other: how much of the reconstruction
  the code carries. A warm start whose codes say nothing decodes the same average face from every code
  (gain near 0).
* **Faces found**: MediaPipe's face mesh (:class:`apdraw.face.head_pose.HeadPoseEstimator`, as
  ``scripts/eval_sage.py``: the photo upscaled to 512², bicubic) on the decoded photos; skipped (null) when
  MediaPipe is unavailable.
* **The parser** (:class:`apdraw.models.parser.FaceParser`, the evaluation's) on the decoded photos against
  the decoded semantic map, mean IoU over :data:`apdraw.eval.multiview.MAIN_CLASSES` (what the issue's
  parser target measures on random identities), and the same parser on the real photos at the same size
  against their label maps (the ceiling at this size).

``--figure``: the real photos on top, then each checkpoint's reconstructions (8 photos).
"""

from __future__ import annotations

import argparse
import dataclasses
import json
import sys
from pathlib import Path

import numpy as np
import torch

sys.path.insert(0, str(Path(__file__).resolve().parent))
from npr_gallery import save_png  # noqa: E402 - same folder
from sage_editing import label  # noqa: E402


def to_u8(x: torch.Tensor) -> np.ndarray:
    """(B, 3, S, S) in about [-1, 1] -> (B, S, S, 3) uint8 (``View.photo``'s conversion)."""
    from apdraw.multiview import _to_u8

    return _to_u8(x.float().clamp(-1, 1).permute(0, 2, 3, 1))


def check(path: str, items: int, size: int, parser) -> tuple[dict, np.ndarray, np.ndarray]:
    from apdraw.config import from_dict
    from apdraw.data.sage import build_sage_dataset
    from apdraw.eval.multiview import label_iou
    from apdraw.persistence import checkpoint_module, read_checkpoint
    from apdraw.train.tasks import sage as T

    state = read_checkpoint(path)
    cfg = from_dict(T.Config, state["config"])
    g = T.SageGenerator(cfg.model)
    g.load_state_dict(checkpoint_module(state, "G", prefer_ema=False, source=path))
    g.eval()
    codes = state["modules"]["codes"]["weight"].float()
    data = build_sage_dataset(dataclasses.replace(cfg.data, flip=False), size, progress=False)  # item i = code i
    picked = np.linspace(0, len(data) - 1, min(items, len(data))).round().astype(int)
    batch = [data[int(i)] for i in picked]
    photo = torch.stack([b["photo"] for b in batch])
    labels = [b["labels"] for b in batch]
    index = torch.as_tensor(picked)
    yaw, pitch = torch.as_tensor(data.yaw[picked]).float(), torch.as_tensor(data.pitch[picked]).float()

    def render(w: torch.Tensor):
        with torch.no_grad():
            return g(T.latent_of(g, w), yaw, pitch, output_size=size, stereo=False, translate=False,
                     generator=torch.Generator().manual_seed(7))  # fmt: skip

    def psnr(image: torch.Tensor) -> float:  # the warm start's own validation PSNR (val.csv), averaged
        return float(T._psnr(image, photo).mean())

    own = render(codes[index])
    result = {
        "step": int(state["step"]), "items": len(picked), "size": size,
        "psnr_own": psnr(own.image), "psnr_other": psnr(render(codes[index.roll(1)]).image),
        "psnr_mean_code": psnr(render(codes.mean(0, keepdim=True).expand(len(picked), -1)).image),
    }  # fmt: skip
    result["identity_gain_db"] = result["psnr_own"] - result["psnr_other"]
    decoded = to_u8(own.image)
    semantic = list(own.semantic.argmax(1).numpy().astype(np.uint8))
    real = to_u8(photo)
    result["parser_vs_semantic_miou"] = label_iou([parser.parse(p) for p in decoded], semantic)["miou"]
    result["parser_on_real_miou"] = label_iou([parser.parse(p) for p in real], [lab.numpy().astype(np.uint8) for lab in labels])["miou"]
    result["faces_found"] = faces_found(decoded)
    return result, decoded, real


def faces_found(photos: np.ndarray) -> int | None:
    """How many of the (B, S, S, 3) uint8 photos MediaPipe's face mesh finds a face in (None: no MediaPipe)."""
    import cv2

    try:
        from apdraw.face.head_pose import HeadPoseEstimator

        estimator = HeadPoseEstimator()
    except Exception as exc:  # mediapipe missing or broken
        print(f"head pose estimator unavailable ({exc}): faces not counted", flush=True)
        return None
    return sum(estimator.estimate(cv2.resize(p, (512, 512), interpolation=cv2.INTER_CUBIC)) is not None for p in photos)


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    ap.add_argument("checkpoints", nargs="+", help="latest.pt of reconstruct (or map) runs")
    ap.add_argument("--items", type=int, default=48, help="training photos (spread evenly over the data set)")
    ap.add_argument("--size", type=int, default=128, help="decoder output side")
    ap.add_argument("--names", default="", help="comma-separated row names for the figure (default: the run folders)")
    ap.add_argument("--figure", type=Path, help="write the reconstruction figure here")
    ap.add_argument("--json", type=Path, help="write the results here")
    args = ap.parse_args(argv)
    torch.set_num_threads(1)
    from apdraw.models.parser import FaceParser

    parser = FaceParser.from_pretrained(num_threads=1)
    names = args.names.split(",") if args.names else [Path(p).parent.parent.name for p in args.checkpoints]
    results, rows, real = {}, [], None
    for name, path in zip(names, args.checkpoints):
        r, decoded, real = check(path, args.items, args.size, parser)
        results[name] = r
        print(f"{name} (step {r['step']}): PSNR own code {r['psnr_own']:.2f} dB, another photo's {r['psnr_other']:.2f}, "
              f"mean code {r['psnr_mean_code']:.2f}; identity gain {r['identity_gain_db']:+.2f} dB; faces found "
              f"{r['faces_found']} / {r['items']}; parser on the "
              f"reconstructions vs their semantic maps mIoU {r['parser_vs_semantic_miou']:.3f} "
              f"(on the real photos at {r['size']}²: {r['parser_on_real_miou']:.3f})", flush=True)  # fmt: skip
        rows.append((name, decoded))
    if args.figure:
        pick = np.linspace(0, len(real) - 1, 8).round().astype(int)
        strips = [("real photos", real)] + rows
        width = args.size * len(pick)
        out = np.concatenate([np.concatenate([label(n, width), np.concatenate(list(ims[pick]), 1)], 0) for n, ims in strips], 0)
        save_png(args.figure, out)
    if args.json:
        args.json.write_text(json.dumps(results, indent=1))
    return 0


if __name__ == "__main__":
    sys.exit(main())
