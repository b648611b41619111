"""SAGE ablations (the paper's Table 2, the arms as we define them) at an equal CPU budget.

    python scripts/ablate_sage.py run    --minutes 30 [--stage1-minutes M1] [--arms spade_unet,unet,no_translator,end_to_end]
                                         [--stage1-init runs/sage_adversarial/checkpoints/latest.pt]
                                         [--map-init runs/sage_map/checkpoints/latest.pt] [--out runs/sage_ablation]
    python scripts/ablate_sage.py report [--out runs/sage_ablation] [--seeds 16] [--yaws -30,-20,-10,0,10,20,30] [--write-doc]

The arms (``apdraw train sage -c src/apdraw/configs/sage_translate.yaml`` plus each arm's overrides):

* ``spade_unet``: two-stage, the SPADE U-Net G_p (the paper's SAGE; the shipped Stage II config as it is).
* ``unet``: two-stage, a plain U-Net G_p (``model.translator.spade_levels=0``).
* ``no_translator``: two-stage, no G_p: the image decoder's RGB in gray is the drawing
  (``model.drawing_head=image_decoder translate_train=decoders``; the decoders learn to draw).
* ``paired`` (ours): ``spade_unet`` plus ``paired_l1=100`` (G_p's drawing of each training photo's own
  warm-start code at its pose, L1 to that photo's drawing; pix2pix's λ).
* ``end_to_end``: one stage ("w/o two-stage" as we define it): ``translate_train=all`` from the
  warm start (the map stage's checkpoint), skipping Stage I, so the mapping network, field, both
  decoders and G_p all learn from D_p and D_s plus the pose term; with Stage I's schedule (its 128²
  phase: lr 5e-5 / 2e-4, pos_λ 15) and its pose aids (``real_pose``, ``pose_warmup=200``), because
  the feature projector learns here and both discriminators start fresh.

``run`` trains each arm with ``loop.max_minutes`` of CPU time (``loop.clock=cpu``, one torch thread,
``OMP_NUM_THREADS=1``), one arm at a time, into ``<out>/<arm>``. The two-stage arms start from the
Stage I checkpoint (``--stage1-init``) and train Stage II for ``--minutes``; ``end_to_end`` trains
``--stage1-minutes`` + ``--minutes`` (the same total; ``--stage1-minutes`` defaults to the CPU
training time recorded in the Stage I checkpoint). A killed ``run`` resumes each arm exactly;
arms already at their budget only export again. Each arm ends with ``<out>/<arm>/export/sage.safetensors``.

``report`` scores every arm's export with ``scripts/eval_sage.py``'s functions (``--seeds``
identities, each at every yaw, pitch 0, ψ 0.7): the drawings' SWD (x10³) at each yaw against the
synthetic Stage II training drawings (half B; the floor is half A against half B) and its spread
max/min over the yaws; view consistency (pixel agreement and mIoU of the semantic map carried Δ
through the rendered depth); MediaPipe's face-detection rate on the rendered photos (not for
``no_translator``, whose image decoder draws instead). Each arm's scores are cached in
``<out>/<arm>/ablation_eval.json`` (recomputed when the weights or settings change; ``--fresh``:
always). Roughly a minute per arm on one thread with 16 seeds (estimated). ``--write-doc`` rewrites the block
between the ``sage-ablation`` markers of ``docs/SAGE.md``.
"""

from __future__ import annotations

import argparse
import csv
import importlib.util
import json
import math
import os
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path

REPO = Path(__file__).resolve().parents[1]
CONFIG = REPO / "src" / "apdraw" / "configs" / "sage_translate.yaml"
STAGE1_INIT = "runs/sage_adversarial/checkpoints/latest.pt"
MAP_INIT = "runs/sage_map/checkpoints/latest.pt"
STAGE1_PHASE = "[{start: 0, size: 128, lr_g: 5.0e-5, lr_d: 2.0e-4, pos_lambda: 15.0}]"  # sage_adversarial.yaml's


@dataclass(frozen=True)
class Arm:
    name: str
    label: str
    args: tuple[str, ...]
    end_to_end: bool = False  # from the map stage, with the Stage I minutes added to the budget


ARMS = [
    Arm("spade_unet", "two-stage, SPADE U-Net G_p (the paper)", ()),
    Arm("unet", "two-stage, plain U-Net G_p (no SPADE)", ("model.translator.spade_levels=0",)),
    Arm("no_translator", "two-stage, no translator (image decoder in gray)", ("model.drawing_head=image_decoder", "translate_train=decoders")),
    Arm("paired", "two-stage, SPADE U-Net G_p + paired L1 (ours)", ("paired_l1=100",)),
    Arm("end_to_end", "end-to-end, one stage (w/o two-stage)", (
        "translate_train=all", f"curriculum={STAGE1_PHASE}", "real_pose=true", "pose_warmup=200"), end_to_end=True),
]  # fmt: skip
BY_NAME = {a.name: a for a in ARMS}


def arm_dir(out: Path, arm: Arm) -> Path:
    return out / arm.name


def pick_arms(text: str) -> list[Arm]:
    names = [n.strip() for n in text.split(",") if n.strip()]
    unknown = [n for n in names if n not in BY_NAME]
    if unknown:
        raise SystemExit(f"unknown arm(s) {unknown}; known: {', '.join(BY_NAME)}")
    return [a for a in ARMS if a.name in names]


def budget(arm: Arm, minutes: float, stage1_minutes: float) -> float:
    """CPU minutes of ``arm``'s own run: Stage II alone, or (end-to-end) Stage I's and Stage II's together."""
    return round(minutes + (stage1_minutes if arm.end_to_end else 0.0), 3)


def overrides(arm: Arm, out: Path, minutes: float, stage1_minutes: float, stage1_init: str, map_init: str,
              drawings_dir: str | None = None) -> list[str]:  # fmt: skip
    """The ``key=value`` overrides of ``arm`` on top of sage_translate.yaml."""
    extra = [f"drawings_dir={drawings_dir}"] if drawings_dir else []
    return [
        *arm.args, f"init={map_init if arm.end_to_end else stage1_init}", *extra, f"loop.out_dir={arm_dir(out, arm)}",
        f"loop.max_minutes={budget(arm, minutes, stage1_minutes)}", "loop.clock=cpu", "loop.threads=1", "loop.tensorboard=false",
    ]  # fmt: skip


def command(arm: Arm, *args, **kwargs) -> list[str]:
    return [sys.executable, "-m", "apdraw", "train", "sage", "-c", str(CONFIG), *overrides(arm, *args, **kwargs)]


def checkpoint_cpu_minutes(path: str | Path) -> float:
    """The CPU training time (minutes) recorded in a training checkpoint."""
    from apdraw.persistence import read_checkpoint

    return float(read_checkpoint(path).get("clock", {}).get("cpu_s", 0.0)) / 60


def _read_json(path: Path) -> dict:
    try:
        return json.loads(path.read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


def run(args: argparse.Namespace) -> int:
    from apdraw.io import save_text

    out = Path(args.out)
    arms = pick_arms(args.arms)
    stage1_minutes = args.stage1_minutes
    if stage1_minutes is None:
        if not Path(args.stage1_init).is_file():
            print(f"{args.stage1_init} does not exist: train Stage I first (docs/SAGE.md) or pass --stage1-minutes", file=sys.stderr)
            return 2
        stage1_minutes = round(checkpoint_cpu_minutes(args.stage1_init), 3)
        print(f"Stage I: {stage1_minutes:.2f} CPU minutes in {args.stage1_init}", flush=True)
    out.mkdir(parents=True, exist_ok=True)
    meta = _read_json(out / "ablation.json")
    meta.update(minutes=args.minutes, stage1_minutes=stage1_minutes, stage1_init=args.stage1_init, map_init=args.map_init)
    meta.setdefault("arms", {})
    env = {**os.environ, "OMP_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}
    failed = []
    for arm in arms:
        arm_dir(out, arm).mkdir(parents=True, exist_ok=True)
        cmd = command(arm, out, args.minutes, stage1_minutes, args.stage1_init, args.map_init, args.drawings_dir)
        meta["arms"][arm.name] = {"budget_minutes": budget(arm, args.minutes, stage1_minutes), "overrides": cmd[7:]}
        save_text(out / "ablation.json", json.dumps(meta, indent=1))
        print(f"start {arm.name}: {' '.join(cmd[3:])}", flush=True)
        with (arm_dir(out, arm) / "train.log").open("a") as log:
            code = subprocess.call(cmd, stdout=log, stderr=subprocess.STDOUT, cwd=REPO, env=env)
        print(f"done {arm.name}: exit {code}", flush=True)
        if code:
            failed.append(arm.name)
    return 1 if failed else 0


# --------------------------------------------------------------------------- report


def _eval_sage():
    if "eval_sage" in sys.modules:
        return sys.modules["eval_sage"]
    spec = importlib.util.spec_from_file_location("eval_sage", REPO / "scripts" / "eval_sage.py")
    mod = importlib.util.module_from_spec(spec)
    sys.modules["eval_sage"] = mod
    spec.loader.exec_module(mod)
    return mod


def last_log_row(path: Path) -> dict[str, float] | None:
    if not path.is_file():
        return None
    rows = list(csv.DictReader(path.open()))
    if not rows:
        return None
    out = {}
    for k, v in rows[-1].items():
        try:
            out[k] = float(v)
        except (TypeError, ValueError):
            pass
    return out


def evaluate(weights: Path, found, settings: dict) -> dict:
    """One arm's export scored as scripts/eval_sage.py scores a generator (module doc): JSON-ready, keys as strings."""
    import torch

    from apdraw.multiview import MultiViewGenerator

    ev = _eval_sage()
    threads = settings["threads"]
    torch.set_num_threads(threads)
    t0 = time.perf_counter()
    mv = MultiViewGenerator.from_pretrained(weights, num_threads=threads)
    seeds, yaws, deltas = list(range(settings["seeds"])), settings["yaws"], settings["deltas"]
    extra = sorted({y + d for d in deltas for y in yaws if y + d <= max(yaws)} - set(yaws))
    views, per_view = ev.render_all(mv, seeds, yaws, settings["pitch"], settings["truncation"], extra)
    cfg = mv.generator.cfg
    r: dict = {"drawing_head": cfg.drawing_head, "spade_levels": cfg.translator.spade_levels, "seconds_per_view": per_view}
    if found is not None:
        q = ev.quality(views, seeds, yaws, {"synthetic": ev.reference_halves(found, settings["seeds"], mv.size)},
                       settings["feature_size"])["synthetic"]  # fmt: skip
        r["swd"] = {str(y): q["per_yaw"][y]["swd"] for y in yaws}
        r["kid"] = {str(y): q["per_yaw"][y]["kid_mnv2"] for y in yaws}
        r["floor_swd"], r["n_ref"], r["swd_spread"] = q["floor"]["swd"], q["floor"]["n_ref"], q["swd_spread"]
    cons = ev.consistency(views, seeds, yaws, deltas, cfg.renderer.focal)
    r["consistency"] = {str(d): {"pixel_agreement": v["pixel_agreement"], "miou": v["miou"], "pairs": v["pairs"]} for d, v in cons.items()}
    r["has_photo"] = cfg.drawing_head == "translator"  # the no-translator arm's image decoder draws
    pose = ev.poses(views, seeds, yaws) if r["has_photo"] else None
    r["detection"] = None if pose is None else pose["detection_rate"]
    r["spearman"] = None if pose is None else pose["spearman"]
    r["seconds"] = time.perf_counter() - t0
    return r


def _f(x, fmt: str) -> str:
    return "–" if x is None or (isinstance(x, float) and not math.isfinite(x)) else format(x, fmt)


def table(rows: list[dict], settings: dict, meta: dict) -> str:
    """The markdown block: one row per arm. ``rows``: {"arm": Arm name, "steps", "cpu_min", "eval"} (eval: :func:`evaluate`'s
    dict, or None when the arm has no export); ``settings``: the report's; ``meta``: ``run``'s ablation.json (may be {})."""
    yaws, deltas = settings["yaws"], settings["deltas"]
    m, s1 = meta.get("minutes"), meta.get("stage1_minutes")
    floors = [r["eval"]["floor_swd"] for r in rows if r.get("eval") and "floor_swd" in r["eval"]]
    n_ref = next((r["eval"]["n_ref"] for r in rows if r.get("eval") and "n_ref" in r["eval"]), None)
    lines = [
        "Arms trained by `python scripts/ablate_sage.py run` (one thread, CPU clock): the two-stage arms train Stage II for "
        f"{_f(m, 'g')} CPU minutes from the Stage I checkpoint ({_f(s1, '.1f')} CPU minutes of Stage I); `end_to_end` trains "
        "everything in one stage from the map stage's warm start for the sum. Scored by `python scripts/ablate_sage.py report` "
        f"with `scripts/eval_sage.py`'s functions: {settings['seeds']} identities × yaws {', '.join(f'{y}°' for y in yaws)} "
        f"(pitch {settings['pitch']:g}°, ψ = {settings['truncation']:g}).",
        "",
        f"SWD (×10³, lower is better) of the drawings at each yaw against the synthetic Stage II training drawings "
        f"({_f(n_ref, 'd')} per half; floor, real half A vs half B: {_f(floors[0] if floors else None, '.1f')}); spread = max/min "
        "over the yaws (target ≤ 1.3×). View consistency: pixel agreement / mIoU of the semantic map carried Δ through the "
        "rendered depth. Faces: MediaPipe's detection rate on the rendered photos (– for `no_translator`, whose image "
        "decoder draws instead of rendering a photo).",
        "",
        "| arm | steps | CPU min (budget) | " + " | ".join(f"SWD {y}°" for y in yaws) + " | spread | "
        + " | ".join(f"agreement / mIoU Δ{d}°" for d in deltas) + " | faces |",
        "|---|---|---|" + "---|" * len(yaws) + "---|" + "---|" * len(deltas) + "---|",
    ]
    for r in rows:
        arm = BY_NAME[r["arm"]]
        e = r.get("eval")
        b = meta.get("arms", {}).get(arm.name, {}).get("budget_minutes")
        head = f"| `{arm.name}`: {arm.label} | {_f(r.get('steps'), '.0f')} | {_f(r.get('cpu_min'), '.1f')} ({_f(b, 'g')}) |"
        if e is None:
            lines.append(head + " – |" * len(yaws) + " – |" + " – |" * len(deltas) + " (no export) |")
            continue
        swd = e.get("swd", {})
        cons = e.get("consistency", {})
        cells = [_f(swd.get(str(y)), ".1f") for y in yaws] + [_f(e.get("swd_spread"), ".2f") + "×" if "swd_spread" in e else "–"]
        for d in deltas:
            c = cons.get(str(d))
            cells.append("–" if c is None else f"{_f(c['pixel_agreement'], '.3f')} / {_f(c['miou'], '.3f')}")
        cells.append("–" if not e.get("has_photo") else _f(e.get("detection"), ".0%"))
        lines.append(head + " " + " | ".join(cells) + " |")
    return "\n".join(lines) + "\n"


def _settings(args: argparse.Namespace) -> dict:
    return {"seeds": args.seeds, "yaws": sorted(set(args.yaws)), "deltas": args.deltas, "pitch": args.pitch,
            "truncation": args.truncation, "feature_size": args.feature_size, "threads": args.threads,
            "drawings_dir": str(args.drawings_dir)}  # fmt: skip


def default_drawings_dir() -> Path:
    import yaml

    d = yaml.safe_load(CONFIG.read_text()).get("drawings_dir") or "cache/sage/drawings_apdrawinggan"
    return Path(d) if Path(d).is_absolute() else REPO / d


def report(args: argparse.Namespace) -> int:
    from apdraw.io import save_text, write_doc_block

    out = Path(args.out)
    settings = _settings(args)
    ev = _eval_sage()
    found = ev.folder_drawings(Path(args.drawings_dir))
    if found is not None and len(found[0]) < 4:
        found = None
    rows = []
    for arm in pick_arms(args.arms):
        d = arm_dir(out, arm)
        weights = d / "export" / "sage.safetensors"
        last = last_log_row(d / "log.csv") or {}
        row = {"arm": arm.name, "steps": last.get("step"), "cpu_min": last.get("train_cpu_min"), "eval": None}
        if weights.is_file():
            st = weights.stat()
            key = {**settings, "weights_mtime_ns": st.st_mtime_ns, "weights_size": st.st_size}
            cache = d / "ablation_eval.json"
            cached = _read_json(cache)
            if not args.fresh and cached.get("key") == key:
                row["eval"] = cached["result"]
            else:
                print(f"scoring {arm.name} ({weights})", flush=True)
                row["eval"] = json.loads(json.dumps(evaluate(weights, found, settings), default=_eval_sage()._json))
                save_text(cache, json.dumps({"key": key, "result": row["eval"]}, indent=1))
        else:
            print(f"{arm.name}: no export at {weights} (not run yet, or failed: see {d / 'train.log'})", flush=True)
        rows.append(row)
    block = table(rows, settings, _read_json(out / "ablation.json"))
    print(block)
    if args.write_doc:
        write_doc_block(args.doc, "sage-ablation", block, heading="Ablations")
        print(f"wrote the sage-ablation block of {args.doc}")
    return 0


def _ints(text: str) -> list[int]:
    return [int(x) for x in text.split(",") if x.strip()]


def main(argv: list[str] | None = None) -> int:
    from apdraw.commands.args import allow_negative_number_lists

    ap = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    sub = ap.add_subparsers(dest="cmd", required=True)
    all_arms = ",".join(a.name for a in ARMS)
    r = sub.add_parser("run", help="train the arms")
    r.add_argument("--minutes", type=float, default=30.0, help="CPU minutes of Stage II per two-stage arm")
    r.add_argument("--stage1-minutes", type=float, default=None,
                   help="CPU minutes Stage I took, added to end_to_end's budget (default: the Stage I checkpoint's own clock)")
    r.add_argument("--arms", default=all_arms)
    r.add_argument("--stage1-init", default=STAGE1_INIT, help="the Stage I checkpoint the two-stage arms start from")
    r.add_argument("--map-init", default=MAP_INIT, help="the map stage checkpoint end_to_end starts from")
    r.add_argument("--drawings-dir", default=None, help="Stage II drawings (default: sage_translate.yaml's)")
    r.add_argument("--out", default="runs/sage_ablation")
    rep = sub.add_parser("report", help="score every arm's export and tabulate")
    allow_negative_number_lists(rep)
    rep.add_argument("--out", default="runs/sage_ablation")
    rep.add_argument("--arms", default=all_arms)
    rep.add_argument("--seeds", type=int, default=16, help="identities: seeds 0..N-1 (the cost is linear in N)")
    rep.add_argument("--yaws", type=_ints, default=list(range(-30, 31, 10)), help="degrees, comma-separated")
    rep.add_argument("--deltas", type=_ints, default=[10, 15], help="yaw differences of the consistency pairs")
    rep.add_argument("--pitch", type=float, default=0.0)
    rep.add_argument("--truncation", type=float, default=0.7)
    rep.add_argument("--drawings-dir", type=Path, default=None, help="the synthetic training drawings (default: sage_translate.yaml's)")
    rep.add_argument("--threads", type=int, default=1)
    rep.add_argument("--fresh", action="store_true", help="score again even where a cached score fits")
    rep.add_argument("--doc", type=Path, default=REPO / "docs" / "SAGE.md", help=argparse.SUPPRESS)
    rep.add_argument("--feature-size", type=int, default=256, help=argparse.SUPPRESS)  # tests only
    rep.add_argument("--write-doc", action="store_true", help="rewrite the sage-ablation block of docs/SAGE.md")
    args = ap.parse_args(argv)
    if args.cmd == "run":
        return run(args)
    if args.seeds < 2 or not args.yaws:
        ap.error("need --seeds >= 2 and at least one yaw")
    args.drawings_dir = args.drawings_dir or default_drawings_dir()
    return report(args)


if __name__ == "__main__":
    sys.exit(main())
