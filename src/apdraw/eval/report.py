"""Reports of an :func:`apdraw.eval.runner.evaluate` result: metrics.json, metrics.md, index.html, plots.

The HTML report holds the metric tables, a side-by-side grid (photo | reference |
one column per method) of a fixed selection of images, and matplotlib plots
(per-method metrics against the real-vs-real floor, the distribution of
per-image Chamfer distances, per-group means). matplotlib is optional: without
it the plots are left out and the report says so.
"""

from __future__ import annotations

import html
import io
import json
import math
from pathlib import Path
from typing import Any

import numpy as np
from PIL import Image

from apdraw.eval.catalog import metric_info
from apdraw.eval.sets import EvalInputError, image_set
from apdraw.io import ImageLoadError, atomic_write, load_image, save_image, save_text

FLOOR_ROW = "real vs real"


def _fmt(v: float | None, name: str = "") -> str:
    if v is None or (isinstance(v, float) and math.isnan(v)):
        return "–"
    if name.startswith("kid"):
        return f"{v:.4f}"
    if abs(v) >= 100:
        return f"{v:.1f}"
    if abs(v) >= 10:
        return f"{v:.2f}"
    return f"{v:.3f}"


def _arrow(name: str) -> str:
    return "↑" if metric_info(name).higher_is_better else "↓"


def _metric_names(result: dict[str, Any], kind: str) -> list[str]:
    return [n for n, info in result["metrics"].items() if info["kind"] == kind]


def paired_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the paired-metric table (mean ± std over pairs)."""
    names = _metric_names(result, "paired")
    header = ["method", "pairs"] + [f"{metric_info(n).label} {_arrow(n)}" for n in names]
    rows = []
    for method, m in result["methods"].items():
        cells = [method, str(m["n_pairs"])]
        for n in names:
            s = m["paired"].get(n)
            cells.append(f"{_fmt(s['mean'], n)} ± {_fmt(s['std'], n)}" if s else "–")
        rows.append(cells)
    floors = _floors(result)
    for label, floor in floors:
        if any(n in floor for n in names):
            cells = [label, str(next((floor[n]["n_pairs"] for n in names if n in floor), ""))]
            cells += [_fmt(floor[n]["value"], n) if n in floor else "" for n in names]
            rows.append(cells)
    return header, rows


def _floors(result: dict[str, Any]) -> list[tuple[str, dict[str, Any]]]:
    """Distinct floors: one row when every method shares its reference sample."""
    seen: list[tuple[str, dict[str, Any]]] = []
    for method, m in result["methods"].items():
        floor = m.get("floor") or {}
        if not floor:
            continue
        if any(f == floor for _, f in seen):
            continue
        seen.append((f"{FLOOR_ROW} (reference halves)", floor))
    if len(seen) > 1:  # methods were evaluated on different samples: name them
        seen = [(f"{FLOOR_ROW} for {method}", m["floor"]) for method, m in result["methods"].items() if m.get("floor")]
    return seen


def distribution_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    """Header and rows of the distribution-metric table: full sample, half sample, floor."""
    names = _metric_names(result, "distribution")
    header = ["set", "N (pred / ref)"] + [f"{metric_info(n).label} {_arrow(n)}" for n in names]
    rows = []
    for variant, label in (("distribution", "all"), ("distribution_half", "half A vs reference half B")):
        for method, m in result["methods"].items():
            d = m.get(variant) or {}
            if not d:
                continue
            first = next(iter(d.values()))
            cells = [f"{method} ({label})", f"{first['n_pred']} / {first['n_ref']}"]
            rows.append(cells + [_fmt(d[n]["value"], n) if n in d else "–" for n in names])
    for label, floor in _floors(result):
        d = {n: floor[n] for n in names if n in floor}
        if d:
            first = next(iter(d.values()))
            rows.append([f"{label}: A vs B", f"{first['n_pred']} / {first['n_ref']}"]
                        + [_fmt(d[n]["value"], n) if n in d else "–" for n in names])
    return header, rows


def group_rows(result: dict[str, Any]) -> tuple[list[str], list[list[str]]]:
    names = _metric_names(result, "paired")
    header = ["method", "group", "pairs"] + [f"{metric_info(n).label} {_arrow(n)}" for n in names]
    rows = []
    for method, m in result["methods"].items():
        for g, vals in (m.get("groups") or {}).items():
            rows.append([method, g, str(vals["n"])] + [_fmt(vals[n], n) for n in names])
    return header, rows


def _md_table(header: list[str], rows: list[list[str]]) -> str:
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(r) + " |" for r in rows]
    return "\n".join(lines)


def notes(result: dict[str, Any]) -> list[str]:
    """Protocol notes every report prints (proxy labels, sizes, resize rule), then ``result["notes"]``."""
    s = result["settings"]
    out = [f"**{metric_info(n).label}**: {info['note']}" for n, info in result["metrics"].items()]
    out.append(
        "Every image is resized with PIL's antialiased bicubic filter straight to each metric's working size "
        "and re-quantised to 8 bits, identically for predictions and references."
    )
    out.append(
        f"Distribution metrics use at most {s['max_samples']} images per set (deterministic hash order); "
        "FID and KID are biased at small N, so compare values only at equal N: the 'half' rows and the "
        "real-vs-real floor use the same N."
    )
    out.append("KID is the unbiased estimate: slightly negative values mean 'indistinguishable at this N'.")
    return out + list(result.get("notes", []))


def markdown(result: dict[str, Any]) -> str:
    parts = ["# apdraw evaluation", ""]
    parts.append(f"Reference: `{result['reference']['folder']}` ({result['reference']['n_images']} images)  ")
    parts.append(f"apdraw {result['apdraw_version']}")
    if _metric_names(result, "paired"):
        parts += ["", "## Paired metrics (mean ± std over pairs)", "", _md_table(*paired_rows(result))]
    if _metric_names(result, "distribution"):
        parts += ["", "## Distribution metrics", "", _md_table(*distribution_rows(result))]
    header, rows = group_rows(result)
    if rows:
        parts += ["", "## Paired metrics per group", "", _md_table(header, rows)]
    parts += ["", "## Notes", ""] + [f"- {n}" for n in notes(result)]
    if result.get("skipped"):
        parts += ["", "## Skipped (unreadable) images", ""]
        parts += [f"- `{s['path']}`: {s['reason']}" for s in result["skipped"]]
    return "\n".join(parts) + "\n"


def _html_table(header: list[str], rows: list[list[str]]) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for h in header)
    body = "".join("<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in r) + "</tr>" for r in rows)
    return f"<table><thead><tr>{head}</tr></thead><tbody>{body}</tbody></table>"


def _thumbnail(path: Path, out: Path, height: int) -> bool:
    try:
        img = load_image(path)
    except (ImageLoadError, OSError):
        return False
    h, w = img.shape[:2]
    thumb = Image.fromarray(img).resize((max(1, round(w * height / h)), height), Image.Resampling.BICUBIC)
    save_image(out, np.asarray(thumb))
    return True


def grid_keys(result: dict[str, Any], rows: int) -> list[str]:
    """Up to `rows` image keys, evenly spread over the sorted paired keys (deterministic)."""
    keys = sorted(set().union(*(m["per_image"].keys() for m in result["methods"].values())))
    if len(keys) <= rows:
        return keys
    idx = np.round(np.linspace(0, len(keys) - 1, rows)).astype(int)
    return [keys[i] for i in idx]


def _grid_html(result: dict[str, Any], out_dir: Path, rows: int, height: int) -> str:
    keys = grid_keys(result, rows)
    if not keys:
        return "<p>No paired images to show.</p>"
    columns: list[tuple[str, dict[str, Path]]] = []
    if result.get("photos"):
        try:
            columns.append(("photo", image_set(result["photos"]).paths))
        except EvalInputError:
            pass
    columns.append(("reference", image_set(result["reference"]["folder"]).paths))
    for method, m in result["methods"].items():
        columns.append((method, image_set(m["folder"]).paths))
    head = "<th>image</th>" + "".join(f"<th>{html.escape(c)}</th>" for c, _ in columns)
    body = []
    for key in keys:
        cells = [f"<td>{html.escape(key)}</td>"]
        for ci, (col, paths) in enumerate(columns):
            path = paths.get(key)
            rel = Path("thumbs") / str(ci) / (key.replace("/", "__") + ".jpg")
            if path is None or not _thumbnail(path, out_dir / rel, height):
                cells.append("<td>–</td>")
                continue
            caption = ""
            per = result["methods"].get(col, {}).get("per_image", {}).get(key)
            if per and "chamfer" in per:
                caption = f"<br><small>Chamfer {per['chamfer']:.2f}</small>"
            cells.append(f'<td><img src="{rel.as_posix()}" height="{height}">{caption}</td>')
        body.append("<tr>" + "".join(cells) + "</tr>")
    return f'<table class="grid"><thead><tr>{head}</tr></thead><tbody>{"".join(body)}</tbody></table>'


def _save_fig(fig: Any, path: Path) -> None:
    buf = io.BytesIO()
    fig.savefig(buf, format="png", dpi=110)
    with atomic_write(path) as f:
        f.write(buf.getvalue())


def make_plots(result: dict[str, Any], out_dir: Path) -> list[str]:
    """Write the PNG plots; returns their paths relative to `out_dir`.

    Raises:
        ImportError: matplotlib is not installed.
    """
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    out_dir.mkdir(parents=True, exist_ok=True)
    methods = list(result["methods"])
    written = []
    names = list(result["metrics"])
    if names and methods:
        cols = min(4, len(names))
        nrows = math.ceil(len(names) / cols)
        fig, axes = plt.subplots(nrows, cols, figsize=(3.2 * cols, 2.8 * nrows), squeeze=False)
        for ax, n in zip(axes.flat, names):
            info = metric_info(n)
            if info.kind == "paired":
                vals = [result["methods"][m]["paired"].get(n, {}).get("mean", np.nan) for m in methods]
                errs = [result["methods"][m]["paired"].get(n, {}).get("std", 0.0) for m in methods]
                title = f"{info.label} {_arrow(n)} (mean ± std)"
            else:  # the half-size values, comparable with the floor
                vals = [(result["methods"][m].get("distribution_half") or {}).get(n, {}).get("value", np.nan)
                        for m in methods]
                errs = None
                title = f"{info.label} {_arrow(n)} (N/2)"
            ax.bar(range(len(methods)), vals, yerr=errs, color="#4c72b0", capsize=3)
            floor = next((f for _, f in _floors(result) if n in f), None)
            if floor:
                ax.axhline(floor[n]["value"], color="#c44e52", linestyle="--", label=FLOOR_ROW)
                ax.legend(fontsize=7)
            ax.set_xticks(range(len(methods)), methods, rotation=30, ha="right", fontsize=8)
            ax.set_title(title, fontsize=9)
        for ax in list(axes.flat)[len(names):]:
            ax.axis("off")
        fig.tight_layout()
        _save_fig(fig, out_dir / "metrics.png")
        plt.close(fig)
        written.append("plots/metrics.png")
    chamfers = {m: [v["chamfer"] for v in r["per_image"].values() if "chamfer" in v]
                for m, r in result["methods"].items()}
    chamfers = {m: v for m, v in chamfers.items() if v}
    if chamfers:
        fig, ax = plt.subplots(figsize=(6, 3.2))
        hi = max(max(v) for v in chamfers.values())
        bins = np.linspace(0, hi if hi > 0 else 1, 30)
        for m, v in chamfers.items():
            ax.hist(v, bins=bins, histtype="step", linewidth=1.5, label=f"{m} (median {np.median(v):.2f})")
        ax.set_xlabel("per-image line Chamfer distance (px at 512)")
        ax.set_ylabel("images")
        ax.legend(fontsize=8)
        fig.tight_layout()
        _save_fig(fig, out_dir / "chamfer_hist.png")
        plt.close(fig)
        written.append("plots/chamfer_hist.png")
    group_sets = {m: r["groups"] for m, r in result["methods"].items() if r.get("groups")}
    paired = _metric_names(result, "paired")
    if group_sets and paired:
        groups = sorted(set().union(*(g.keys() for g in group_sets.values())))
        fig, axes = plt.subplots(1, len(paired), figsize=(3.2 * len(paired), 2.8), squeeze=False)
        width = 0.8 / len(group_sets)
        for ax, n in zip(axes.flat, paired):
            for i, (m, g) in enumerate(group_sets.items()):
                vals = [g.get(k, {}).get(n, np.nan) for k in groups]
                ax.bar(np.arange(len(groups)) + i * width, vals, width, label=m)
            ax.set_xticks(np.arange(len(groups)) + 0.4 - width / 2, groups, fontsize=8)
            ax.set_title(f"{metric_info(n).label} per group", fontsize=9)
        axes.flat[0].legend(fontsize=7)
        fig.tight_layout()
        _save_fig(fig, out_dir / "groups.png")
        plt.close(fig)
        written.append("plots/groups.png")
    return written


_CSS = """body{font-family:sans-serif;margin:2em;max-width:1400px}table{border-collapse:collapse;margin:1em 0}
td,th{border:1px solid #ccc;padding:4px 8px;text-align:center}th{background:#f3f3f3}
.grid td{vertical-align:top}small{color:#555}"""


def write_report(result: dict[str, Any], out_dir: str | Path, grid_rows: int = 12, thumb_height: int = 160) -> Path:
    """Write metrics.json, metrics.md and index.html (+ thumbs/ and plots/) into `out_dir`.

    Returns:
        The path of index.html.
    """
    out = Path(out_dir)
    out.mkdir(parents=True, exist_ok=True)
    save_text(out / "metrics.json", json.dumps(result, indent=1, sort_keys=False) + "\n")
    save_text(out / "metrics.md", markdown(result))
    try:
        plots = make_plots(result, out / "plots")
        plot_html = "".join(f'<p><img src="{p}"></p>' for p in plots)
    except ImportError:
        plot_html = "<p>Plots need matplotlib (<code>pip install matplotlib</code>); it is not installed.</p>"
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>apdraw evaluation</title><style>{_CSS}</style>"
        "</head><body><h1>apdraw evaluation</h1>",
        f"<p>Reference: <code>{html.escape(result['reference']['folder'])}</code> "
        f"({result['reference']['n_images']} images); apdraw {html.escape(result['apdraw_version'])}. "
        "Raw numbers: <a href='metrics.json'>metrics.json</a>, <a href='metrics.md'>metrics.md</a>.</p>",
    ]
    if _metric_names(result, "paired"):
        parts += ["<h2>Paired metrics (mean ± std over pairs)</h2>", _html_table(*paired_rows(result))]
    if _metric_names(result, "distribution"):
        parts += ["<h2>Distribution metrics</h2>", _html_table(*distribution_rows(result))]
    header, rows = group_rows(result)
    if rows:
        parts += ["<h2>Paired metrics per group</h2>", _html_table(header, rows)]
    parts += ["<h2>Plots</h2>", plot_html]
    parts += ["<h2>Side by side</h2>", _grid_html(result, out, grid_rows, thumb_height)]
    parts += ["<h2>Notes</h2><ul>"] + [f"<li>{html.escape(n.replace('**', ''))}</li>" for n in notes(result)] + ["</ul>"]
    if result.get("skipped"):
        parts += ["<h2>Skipped (unreadable) images</h2><ul>"]
        parts += [f"<li><code>{html.escape(s['path'])}</code>: {html.escape(s['reason'])}</li>" for s in result["skipped"]]
        parts += ["</ul>"]
    parts.append("</body></html>\n")
    index = out / "index.html"
    save_text(index, "\n".join(parts))
    return index
