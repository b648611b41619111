"""`apdraw eval` end to end on synthetic drawings: report files, pairing, clear errors."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from test_eval_metrics import drawing

from apdraw.cli import main
from apdraw.io import save_image

CHEAP = "chamfer,ssim,swd"  # no network: keeps most CLI tests fast


def make_set(folder: Path, n: int = 6, shift: int = 0, suffix: str = ".png", size: int = 96) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    for i in range(n):
        img = np.roll(drawing(100 + i, size), shift, axis=1)
        save_image(folder / f"face_{i:02d}{suffix}", img)
    return folder


@pytest.fixture()
def sets(tmp_path):
    ref = make_set(tmp_path / "ref")
    return {
        "ref": ref,
        "same": make_set(tmp_path / "same"),
        "shifted": make_set(tmp_path / "shifted", shift=3),
        "photos": make_set(tmp_path / "photos", suffix=".jpg"),
        "out": tmp_path / "report",
    }


def test_report_files_and_values(sets, capsys):
    rc = main(["eval", "--pred", str(sets["same"]), "--pred", f"moved={sets['shifted']}", "--ref", str(sets["ref"]),
               "--photos", str(sets["photos"]), "--metrics", CHEAP, "-o", str(sets["out"]),
               "--no-progress", "--grid-rows", "4"])
    assert rc == 0
    out = sets["out"]
    result = json.loads((out / "metrics.json").read_text())
    same, moved = result["methods"]["same"], result["methods"]["moved"]
    assert same["n_pairs"] == moved["n_pairs"] == 6
    assert same["paired"]["chamfer"]["mean"] == 0.0 and same["paired"]["ssim"]["mean"] == pytest.approx(1.0)
    assert moved["paired"]["chamfer"]["mean"] > 1.0 and moved["paired"]["ssim"]["mean"] < 0.9
    assert same["distribution"]["swd"]["value"] == 0.0 < moved["distribution"]["swd"]["value"]
    assert same["distribution"]["swd"]["n_pred"] == 6
    # Real-vs-real floor: reference halves at N/2, and the methods' half rows at the same N.
    floor = same["floor"]
    assert floor["swd"]["n_pred"] == floor["swd"]["n_ref"] == 3 and floor["swd"]["value"] > 0
    assert same["distribution_half"]["swd"]["n_pred"] == 3
    assert len(same["per_image"]) == 6 and set(same["per_image"]["face_00"]) == {"chamfer", "ssim"}
    md = (out / "metrics.md").read_text()
    assert "| moved | 6 |" in md and "real vs real" in md and "SWD" in md
    html = (out / "index.html").read_text()
    assert html.count("<img src=\"thumbs/") == 4 * 4  # 4 rows x (photo, reference, 2 methods)
    assert (out / "plots" / "metrics.png").is_file() and (out / "plots" / "chamfer_hist.png").is_file()
    assert "report:" in capsys.readouterr().out


def test_groups_are_averaged(sets, tmp_path):
    groups = tmp_path / "groups.json"
    groups.write_text(json.dumps({f"face_{i:02d}": "even" if i % 2 == 0 else "odd" for i in range(6)}))
    rc = main(["eval", "--pred", str(sets["shifted"]), "--ref", str(sets["ref"]), "--metrics", "chamfer",
               "--groups", str(groups), "-o", str(sets["out"]), "--no-progress"])
    assert rc == 0
    result = json.loads((sets["out"] / "metrics.json").read_text())
    g = result["methods"]["shifted"]["groups"]
    per = result["methods"]["shifted"]["per_image"]
    assert g["even"]["n"] == 3
    assert g["even"]["chamfer"] == pytest.approx(np.mean([per[f"face_{i:02d}"]["chamfer"] for i in (0, 2, 4)]))
    assert (sets["out"] / "plots" / "groups.png").is_file()


def run_fail(argv: list[str], capsys) -> str:
    """A usage error: exit 2 and a message, no traceback."""
    assert main(argv + ["--no-progress"]) == 2
    err = capsys.readouterr().err
    assert "Traceback" not in err
    return err


def test_clear_errors(sets, tmp_path, capsys):
    base = ["--ref", str(sets["ref"]), "--metrics", "chamfer", "-o", str(sets["out"])]
    empty = tmp_path / "empty"
    empty.mkdir()
    assert "no images" in run_fail(["eval", "--pred", str(empty)] + base, capsys)
    assert "no such folder" in run_fail(["eval", "--pred", str(tmp_path / "absent")] + base, capsys)
    other = make_set(tmp_path / "other", n=2)
    (other / "face_00.png").rename(other / "stranger.png")
    err = run_fail(["eval", "--pred", str(other)] + base, capsys)
    assert "no reference of the same name" in err and "stranger" in err and "--allow-unmatched" in err
    assert main(["eval", "--pred", str(other), "--allow-unmatched", "--no-progress"] + base) == 0
    nomatch = tmp_path / "nomatch"
    save_image(nomatch / "zzz.png", drawing(1, 32))
    assert "matches" in run_fail(["eval", "--pred", str(nomatch)] + base, capsys)
    assert "unknown metric" in run_fail(["eval", "--pred", str(sets["same"]), "--ref", str(sets["ref"]),
                                         "--metrics", "nope", "-o", str(sets["out"])], capsys)
    assert "both named" in run_fail(["eval", "--pred", f"a={sets['same']}", "--pred", f"a={sets['shifted']}"] + base,
                                    capsys)


def test_standard_metrics_need_weights(sets, tmp_path, monkeypatch, capsys):
    for var in ("APDRAW_INCEPTION_WEIGHTS",):
        monkeypatch.delenv(var, raising=False)
    monkeypatch.setenv("TORCH_HOME", str(tmp_path / "t"))
    monkeypatch.setenv("XDG_CACHE_HOME", str(tmp_path / "x"))
    err = run_fail(["eval", "--pred", str(sets["same"]), "--ref", str(sets["ref"]), "--metrics", "fid",
                    "-o", str(sets["out"])], capsys)
    assert "--inception-weights" in err


def test_unreadable_image_is_skipped_and_reported(sets, capsys):
    (sets["shifted"] / "face_01.png").write_bytes(b"not an image at all")
    rc = main(["eval", "--pred", str(sets["shifted"]), "--ref", str(sets["ref"]), "--metrics", "chamfer",
               "-o", str(sets["out"]), "--no-progress"])
    assert rc == 1
    err = capsys.readouterr().err
    assert "face_01.png" in err and "unreadable" in err
    result = json.loads((sets["out"] / "metrics.json").read_text())
    assert result["methods"]["shifted"]["n_pairs"] == 5
    assert result["skipped"][0]["path"].endswith("face_01.png")
    assert "Skipped" in (sets["out"] / "metrics.md").read_text()


def test_every_default_metric_runs(sets, tmp_path):
    """The full default set (incl. FSIM, LPIPS_mnv2, SIFID_mnv2, FID/KID_mnv2) on a tiny set.

    Small working sizes keep it fast; the protocol's sizes are exercised in test_eval_features.
    """
    from apdraw.eval.catalog import DEFAULT_METRICS
    from apdraw.eval.report import write_report
    from apdraw.eval.runner import EvalSettings, evaluate

    try:
        from apdraw.eval.features import MobileNetV2Features

        tiny = MobileNetV2Features("cpu", input_size=64)
    except FileNotFoundError as exc:
        pytest.skip(f"MobileNetV2 weights not installed: {exc}")
    settings = EvalSettings(metrics=DEFAULT_METRICS, paired_long_side=128)
    result = evaluate({"same": sets["same"], "moved": sets["shifted"]}, sets["ref"], settings=settings,
                      extractors={"mnv2": tiny}, progress=False)
    same, moved = result["methods"]["same"], result["methods"]["moved"]
    for name in ("chamfer", "chamfer_dark", "ink_far", "lpips_mnv2", "sifid_mnv2"):
        assert same["paired"][name]["mean"] == pytest.approx(0.0, abs=1e-9)
    for name in ("chamfer", "chamfer_dark", "lpips_mnv2", "sifid_mnv2"):  # a 3 px shift leaves no ink 8 px away
        assert moved["paired"][name]["mean"] > 0
    assert same["paired"]["fsim"]["mean"] == pytest.approx(1.0)
    assert moved["paired"]["fsim"]["mean"] < 0.95
    assert same["distribution"]["fid_mnv2"]["value"] < 1e-6 < moved["distribution"]["fid_mnv2"]["value"]
    assert moved["distribution"]["kid_mnv2"]["value"] > same["distribution"]["kid_mnv2"]["value"]
    assert "sifid_mnv2" in same["floor"] and same["floor"] == moved["floor"]
    write_report(result, tmp_path / "full")
    md = (tmp_path / "full" / "metrics.md").read_text()
    assert "FID_mnv2" in md and "NOT comparable with published FIDs" in md and "LPIPS_mnv2" in md
    assert "Chamfer dark (px) ↓" in md and "Far ink ↓" in md


def test_output_that_is_a_file_and_bad_options_are_usage_errors(sets, tmp_path, capsys):
    (tmp_path / "report.txt").write_text("x")
    base = ["eval", "--pred", str(sets["same"]), "--ref", str(sets["ref"]), "--metrics", "chamfer"]
    assert "is a file" in run_fail(base + ["-o", str(tmp_path / "report.txt")], capsys)
    assert "unknown device" in run_fail(base + ["-o", str(tmp_path / "r"), "--device", "banana"], capsys)
    with pytest.raises(SystemExit) as exit_info:
        main(base + ["-o", str(tmp_path / "r"), "--max-samples", "-3"])
    assert exit_info.value.code == 2


def test_file_names_that_are_not_utf8(sets, tmp_path, capsys):
    import os

    pred, ref = tmp_path / "pred8", tmp_path / "ref8"
    for folder, src in ((pred, sets["same"]), (ref, sets["ref"])):
        folder.mkdir()
        for p in sorted(src.glob("*.png"))[:3]:
            (folder / p.name).write_bytes(p.read_bytes())
        os.rename(folder / sorted(os.listdir(folder))[0], os.fsencode(str(folder)) + b"/caf\xe9.png")
    assert main(["eval", "--pred", str(pred), "--ref", str(ref), "--metrics", "chamfer,ssim",
                 "-o", str(tmp_path / "out"), "--no-progress"]) == 0
    assert "Traceback" not in capsys.readouterr().err
    assert (tmp_path / "out" / "index.html").is_file()


def test_dark_chamfer_and_far_ink_by_name(sets, tmp_path):
    rc = main(["eval", "--pred", str(sets["shifted"]), "--ref", str(sets["ref"]), "--metrics", "chamfer_dark", "ink_far",
               "-o", str(tmp_path / "r"), "--no-progress"])
    assert rc == 0
    result = json.loads((tmp_path / "r" / "metrics.json").read_text())
    assert set(result["methods"]["shifted"]["paired"]) == {"chamfer_dark", "ink_far"}
    assert result["metrics"]["ink_far"]["higher_is_better"] is False
    md = (tmp_path / "r" / "metrics.md").read_text()
    assert "Chamfer dark (px) ↓" in md and "Far ink ↓" in md
