"""`apdraw eval`: score drawings against reference drawings and write a report.

    apdraw eval --pred DIR [--pred NAME=DIR ...] --ref DIR [--photos DIR] [--metrics ...] -o report/

Files pair by name (path relative to the folder, without suffix). The report
folder gets metrics.json, metrics.md and index.html (tables, side-by-side grid,
plots). The protocol is documented in docs/EVALUATION.md.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

from apdraw.commands.args import non_negative_int, positive_int


def register(subparsers: argparse._SubParsersAction) -> None:
    p = subparsers.add_parser(
        "eval",
        help="score drawings against reference drawings (FID, KID, SWD, SIFID, SSIM, FSIM, LPIPS proxy, Chamfer, far ink)",
        description="Score one or more folders of drawings against reference drawings and write a report "
        "(metrics.json, metrics.md, index.html). Predictions pair with references by file name.",
    )
    p.add_argument("--pred", action="append", required=True, metavar="[NAME=]DIR",
                   help="folder of a method's drawings; repeat for several methods (NAME defaults to the folder name)")
    p.add_argument("--ref", required=True, metavar="DIR", help="folder of reference drawings")
    p.add_argument("--photos", metavar="DIR", help="folder of the input photos, shown in the report's grid")
    p.add_argument("--metrics", nargs="+", metavar="M",
                   help="metrics (space or comma separated), or 'default' / 'all'. Default: all that need no "
                   "extra weights, plus fid, kid, sifid when the Inception weights are found. Known: "
                   "chamfer chamfer_dark ink_far ssim fsim lpips_mnv2 sifid_mnv2 fid_mnv2 kid_mnv2 swd fid kid sifid")
    p.add_argument("-o", "--out", required=True, metavar="DIR", help="report folder")
    p.add_argument("--inception-weights", metavar="PATH",
                   help="pytorch-fid's pt_inception-2015-12-05-6726825d.pth (else $APDRAW_INCEPTION_WEIGHTS or the cache)")
    p.add_argument("--max-samples", type=positive_int, default=1000, metavar="N",
                   help="cap on the images per set for FID/KID/SWD (default 1000)")
    p.add_argument("--allow-unmatched", action="store_true",
                   help="evaluate the matched pairs when some predictions have no reference of the same name")
    p.add_argument("--groups", metavar="JSON", help="JSON object mapping image name to a group label (e.g. style)")
    p.add_argument("--grid-rows", type=non_negative_int, default=12, metavar="N", help="images in the report's grid (default 12)")
    p.add_argument("--device", help="torch device for the feature networks (default: cuda if available, else cpu)")
    p.add_argument("--no-progress", action="store_true", help="no progress bars")
    p.set_defaults(func=run)


def parse_preds(items: list[str]) -> dict[str, Path]:
    """['a=DIR', 'DIR2'] -> {'a': DIR, 'DIR2's name: DIR2}; raises ValueError on duplicate names."""
    out: dict[str, Path] = {}
    for item in items:
        name, sep, folder = item.partition("=")
        if not sep or not name or Path(item).exists():
            name, folder = Path(item).name or item, item
        if name in out:
            raise ValueError(f"two --pred folders are both named {name!r}; name them with --pred NAME=DIR")
        out[name] = Path(folder)
    return out


def resolve_metrics(requested: list[str] | None, inception_weights: str | None) -> tuple[tuple[str, ...], str | None]:
    """The metric tuple to run, and a note for the user (or None).

    Raises:
        UnknownNameError: unknown metric. FileNotFoundError: standard metrics asked for without weights.
    """
    from apdraw.eval.catalog import ALL_METRICS, DEFAULT_METRICS, metric_info
    from apdraw.models.inception import inception_weights_path

    names = [n for item in (requested or []) for n in item.split(",") if n]
    note = None
    if not names or names == ["default"]:
        try:
            inception_weights_path(inception_weights)
            return ALL_METRICS, None
        except FileNotFoundError:
            note = ("FID, KID and SIFID with the standard Inception weights are skipped (weights not found; "
                    "see --inception-weights); the *_mnv2 proxies are reported instead")
            return DEFAULT_METRICS, note
    if names == ["all"]:
        names = list(ALL_METRICS)
    for n in names:
        metric_info(n)
    if any(metric_info(n).extractor == "inception" for n in names):
        inception_weights_path(inception_weights)  # fail early, with instructions
    return tuple(dict.fromkeys(names)), note


def run(args: argparse.Namespace) -> int:
    from apdraw.eval.report import distribution_rows, paired_rows, write_report
    from apdraw.eval.runner import EvalSettings, evaluate
    from apdraw.eval.sets import EvalInputError

    from apdraw.batch import check_out_dir
    from apdraw.runtime import resolve_device

    def fail(msg: str, code: int = 2) -> int:
        """2: a usage error (bad folders, names, metrics, options); 1: some inputs were unreadable."""
        print(f"apdraw eval: error: {msg}", file=sys.stderr)
        return code

    try:
        check_out_dir(Path(args.out))
        if args.device is not None:
            resolve_device(args.device)
        if args.max_samples < 4:
            raise ValueError(f"--max-samples must be at least 4, got {args.max_samples}")
        preds = parse_preds(args.pred)
        metrics, note = resolve_metrics(args.metrics, args.inception_weights)
    except (ValueError, FileNotFoundError) as exc:  # incl. UnknownNameError, UsageError, DeviceError
        return fail(str(exc))
    if note:
        print(f"apdraw eval: note: {note}", file=sys.stderr)
    groups = None
    if args.groups:
        try:
            groups = {str(k): str(v) for k, v in json.loads(Path(args.groups).read_text()).items()}
        except (OSError, ValueError, AttributeError) as exc:
            return fail(f"--groups {args.groups}: expected a JSON object of name -> group ({exc})")
    try:
        settings = EvalSettings(metrics=metrics, max_samples=args.max_samples, inception_weights=args.inception_weights,
                                device=args.device, allow_unmatched=args.allow_unmatched)
        result = evaluate(preds, args.ref, args.photos, settings, groups=groups, progress=not args.no_progress)
    except (EvalInputError, ValueError) as exc:
        return fail(str(exc))
    try:
        index = write_report(result, args.out, grid_rows=args.grid_rows)
    except OSError as exc:
        return fail(f"cannot write the report to {args.out}: {exc.strerror or exc}")
    for header, rows in (paired_rows(result), distribution_rows(result)):
        if rows and len(header) > 2:
            print(" | ".join(header))
            for r in rows:
                print(" | ".join(r))
            print()
    print(f"report: {index}")
    if result["skipped"]:
        return fail(f"{len(result['skipped'])} unreadable image(s) were skipped; see {Path(args.out) / 'metrics.md'}", 1)
    return 0
