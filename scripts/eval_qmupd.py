"""QMUPD evidence on the FS2K validation split, per artist style (docs/QMUPD.md).

    python scripts/eval_qmupd.py [--weights W] [--variant NAME=PATH ...] [--limit N] [--write-doc]

For each FS2K sketch type k (= QMUPD artist style k), the validation pairs of that type
(aligned 512² frame, the APDrawingGAN preprocessing cache; never used in training): every
method draws each photo as `apdraw draw` does (the face pipeline's detection, alignment and masks,
run once per photo; aligned frame; a photo whose face is not found again is dropped for every method), and the drawings
are scored against that style's artist drawings of the same photos:

* paired: Chamfer at the 0.75 and 0.5 stroke thresholds (px at 512), SSIM;
* distribution: FID_mnv2, KID_mnv2 and SWD against the artist drawings, and their
  real-vs-real floor (as many *training* drawings of that type against the same references);
* style accuracy: the share of drawings that the evaluation style classifier
  (``style_classifier_eval``, trained separately from the one that made QMUPD's soft labels)
  assigns to style k; its accuracy on the real validation drawings is the ceiling;
* the same with a classifier that shares no network with either
  (:class:`apdraw.eval.style_check.HandcraftedStyleClassifier`, texture statistics, fitted here
  on the FS2K training drawings): a guard against a generator that only moves MobileNetV2 features.

Methods: ``qmupd`` drawn in style k (shipped weights or ``--weights``), each ``--variant``
(another QMUPD G_A, e.g. the CycleGAN baseline's, also in style k), the shipped APDrawingGAN
(trained on sketch type 0 only) and the NPR engine.
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from pathlib import Path

import numpy as np

REPO = Path(__file__).resolve().parents[1]


def pairs(sketch_type: int, split: str, limit: int):
    from apdraw.data.paired import AlignedPair, DataConfig, build_records, preprocess

    dc = DataConfig(sketch_type=sketch_type, split=split, max_items=limit)
    records, tag = build_records(dc)
    return [(f.stem, AlignedPair.load(f)) for f in preprocess(records, dc.cache_dir, tag)]


def fit_handcrafted():
    """The network-free style classifier, fitted on the FS2K training drawings and their mirror images."""
    from apdraw.eval.style_check import HandcraftedStyleClassifier

    images, labels = [], []
    for k in (0, 1, 2):
        for _, pair in pairs(k, "train", 0):
            images += [pair.drawing, pair.drawing[:, ::-1]]
            labels += [k, k]
    clf = HandcraftedStyleClassifier()
    return clf.fit(clf.features(images), np.array(labels))


OWN_STYLE = "apdrawinggan, trained on this style"


def main(argv: list[str] | None = None) -> int:
    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    ap.add_argument("--weights", default=None, help="QMUPD G_A (default: the shipped one)")
    ap.add_argument("--variant", action="append", default=[], metavar="NAME=PATH", help="another QMUPD G_A to score")
    ap.add_argument("--apdrawinggan-style", action="append", default=[], metavar="K=PATH",
                    help=f"an APDrawingGAN generator trained on sketch type K: scored on style K only, as '{OWN_STYLE}'")
    ap.add_argument("--limit", type=int, default=0, help="validation pairs per style (0 = all)")
    ap.add_argument("--styles", default="0,1,2", help="which styles to score (e.g. one per process; merge with --merge)")
    ap.add_argument("--merge", nargs="+", type=Path, default=[], metavar="RESULTS_JSON", help="only tabulate these results files")
    ap.add_argument("-o", "--out", type=Path, default=REPO / "runs" / "qmupd_eval")
    ap.add_argument("--write-doc", action="store_true", help="rewrite the qmupd-eval block of docs/QMUPD.md")
    args = ap.parse_args(argv)

    from apdraw.eval.quick import QuickScorer
    from apdraw.eval.swd import swd_descriptors, swd_from_descriptors
    from apdraw.models.style_classifier import StyleClassifier, default_weights
    from apdraw.face import FacePipeline
    from apdraw.styles import build_drawer

    if args.merge:
        results = {}
        for path in args.merge:
            results.update({int(k) if k.isdigit() else k: v for k, v in json.loads(path.read_text()).items()})
        block = table(results, method_order(results))
        print(block)
        if args.write_doc:
            from apdraw.io import write_doc_block

            write_doc_block(REPO / "docs" / "QMUPD.md", "qmupd-eval", block, heading="Evidence")
        return 0
    clf = StyleClassifier.from_pretrained(default_weights("eval"))
    handcrafted = fit_handcrafted()
    face_pipeline = FacePipeline()  # the default detector and masks of `apdraw draw`
    variants = dict(v.split("=", 1) for v in args.variant)
    methods = {"qmupd": ("qmupd", args.weights), **{n: ("qmupd", p) for n, p in variants.items()},
               "apdrawinggan": ("apdrawinggan", None), "npr": ("npr", None)}  # fmt: skip
    own_style = {int(k): path for k, path in (v.split("=", 1) for v in args.apdrawinggan_style)}
    results: dict = {}
    t0 = time.perf_counter()
    for k in [int(x) for x in args.styles.split(",")]:
        val = pairs(k, "val", args.limit)
        style_methods = dict(methods)
        if k in own_style:  # its row sits after the shipped APDrawingGAN's
            npr = style_methods.pop("npr")
            style_methods.update({OWN_STYLE: ("apdrawinggan", own_style[k]), "npr": npr})
        drawers = {n: build_drawer(f"{s}:{k}" if s == "qmupd" else s, w) for n, (s, w) in style_methods.items()}
        drawn: dict[str, list[np.ndarray]] = {n: [] for n in style_methods}
        refs, keys = [], []
        for name, pair in val:
            faces = face_pipeline(pair.photo, max_faces=1)  # one detection for every method
            if not faces:
                continue  # no face found again: dropped for every method
            for n, draw in drawers.items():
                drawn[n].append(draw(faces)[0])
            refs.append(pair.drawing)
            keys.append(name)
        floor = [p.drawing for _, p in pairs(k, "train", 0)[: len(refs)]]
        scorer = QuickScorer(refs, floor_refs=floor)
        ref_desc = [swd_descriptors(r, key) for r, key in zip(refs, keys)]
        floor_swd = swd_from_descriptors([swd_descriptors(f, f"floor{i}") for i, f in enumerate(floor)], ref_desc)[0]
        ceiling = float((clf.predict_proba(refs).argmax(1) == k).mean())
        ceiling_hc = float((handcrafted.predict(refs) == k).mean())
        results[k] = {"n": len(refs), "style_acc_ceiling": ceiling, "style_acc_hc_ceiling": ceiling_hc, "swd_floor": floor_swd}
        for n, images in drawn.items():
            s = scorer(images)
            s["swd"] = swd_from_descriptors([swd_descriptors(im, key) for im, key in zip(images, keys)], ref_desc)[0]
            s["style_acc"] = float((clf.predict_proba(images).argmax(1) == k).mean())
            s["style_acc_hc"] = float((handcrafted.predict(images) == k).mean())
            results[k][n] = s
            print(f"style {k} {n}: " + ", ".join(f"{m} {v:.3g}" for m, v in s.items()), flush=True)
    results["seconds"] = time.perf_counter() - t0
    args.out.mkdir(parents=True, exist_ok=True)
    (args.out / "results.json").write_text(json.dumps(results, indent=1))
    if len(results) < 4:  # not all three styles: tabulate later with --merge
        return 0
    block = table(results, method_order(results))
    print(block)
    if args.write_doc:
        from apdraw.io import write_doc_block

        write_doc_block(REPO / "docs" / "QMUPD.md", "qmupd-eval", block, heading="Evidence")
    return 0


def method_order(results: dict) -> list[str]:
    """Every method scored in ``results``, in the order of the style that has the most of them."""
    per_style = [[m for m in results[k] if isinstance(results[k][m], dict)] for k in results if isinstance(k, int)]
    return list(dict.fromkeys(m for ms in sorted(per_style, key=len, reverse=True) for m in ms))


def table(results: dict, methods: list[str]) -> str:
    lines = []
    for k in sorted(k for k in results if isinstance(k, int)):
        r = results[k]
        lines += [
            f"**Style {k}** ({r['n']} validation pairs; style-accuracy ceiling {r['style_acc_ceiling']:.0%}, "
            f"network-free {r.get('style_acc_hc_ceiling', float('nan')):.0%}; "
            f"floor: FID_mnv2 {r[methods[0]]['fid_mnv2_floor']:.1f}, KID_mnv2 {r[methods[0]]['kid_mnv2_floor']:.3f}, "
            f"SWD {r['swd_floor']:.0f})",
            "",
            "| method | style acc. | network-free style acc. | Chamfer 0.75 | Chamfer 0.5 | SSIM | FID_mnv2 (× floor) | KID_mnv2 | SWD |",
            "|---|---|---|---|---|---|---|---|---|",
        ]
        for m in (m for m in methods if m in r):  # the own-style APDrawingGAN exists for some styles only
            s = r[m]
            hc = f"{s['style_acc_hc']:.0%}" if "style_acc_hc" in s else "–"
            lines.append(f"| {m} | {s['style_acc']:.0%} | {hc} | {s['chamfer']:.2f} | {s['chamfer_dark']:.2f} | {s['ssim']:.3f} "
                         f"| {s['fid_mnv2']:.1f} ({s['fid_mnv2_ratio']:.2f}×) | {s['kid_mnv2']:.3f} | {s['swd']:.0f} |")  # fmt: skip
        lines.append("")
    return "\n".join(lines)


if __name__ == "__main__":
    sys.exit(main())
