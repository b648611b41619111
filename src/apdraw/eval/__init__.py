"""Evaluation suite: metrics, folder evaluation and reports.

Light imports (numpy, OpenCV) only at package level; torch loads with the
feature networks.

* :mod:`apdraw.eval.metrics`: ``chamfer_distance``, ``ink_far_fraction``, ``ssim``, ``fsim`` (paired, no network).
* :mod:`apdraw.eval.distribution`: ``fid_from_features``, ``kid_from_features``, ``frechet_distance``.
* :mod:`apdraw.eval.swd`: sliced Wasserstein distance on Laplacian-pyramid patches.
* :mod:`apdraw.eval.features`: Inception (standard) and MobileNetV2 (proxy) feature extractors,
  the LPIPS-style proxy distance.
* :mod:`apdraw.eval.runner`: ``evaluate(preds, ref, ...)`` -> metrics dict.
* :mod:`apdraw.eval.quick`: ``QuickScorer`` / ``quick_scores``, light scores for validation during training.
* :mod:`apdraw.eval.report`: ``write_report(result, out_dir)`` -> metrics.json, metrics.md, index.html.
* :mod:`apdraw.eval.multiview`: SAGE's evidence (quality by view, view consistency, label IoU, pose rank correlation).
"""

from apdraw.eval.catalog import ALL_METRICS, DEFAULT_METRICS, metric_info
from apdraw.eval.metrics import chamfer_distance, fsim, ink_far_fraction, ssim, stroke_mask
from apdraw.eval.sets import EvalInputError

__all__ = [
    "ALL_METRICS",
    "DEFAULT_METRICS",
    "EvalInputError",
    "QuickScorer",
    "chamfer_distance",
    "evaluate",
    "fsim",
    "ink_far_fraction",
    "metric_info",
    "quick_scores",
    "ssim",
    "stroke_mask",
    "write_report",
]


def __getattr__(name: str):
    # evaluate/write_report/quick_scores pull in torch or matplotlib; import them on first use.
    if name == "evaluate":
        from apdraw.eval.runner import evaluate

        return evaluate
    if name in ("QuickScorer", "quick_scores"):
        from apdraw.eval import quick

        return getattr(quick, name)
    if name == "write_report":
        from apdraw.eval.report import write_report

        return write_report
    raise AttributeError(name)
