"""Batch helper: output naming, failures don't stop the batch, summary and exit code."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from PIL import Image

from apdraw.batch import NoFaceError, collect_inputs, run_batch
from apdraw.io import load_image


def test_output_stems_are_relative_and_unique(tmp_path):
    for p in ["in/x.jpg", "in/sub/x.jpg", "in/x.png", "y.jpg"]:
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_bytes(b"")
    pairs, missing = collect_inputs([str(tmp_path / "in"), str(tmp_path / "y.jpg"), str(tmp_path / "gone")])
    stems = [s.as_posix() for _, s in pairs]
    assert stems == ["sub/x", "x", "x_png", "y"]
    assert missing == [tmp_path / "gone"]


def test_batch_continues_past_bad_files(tmp_path, capsys):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"garbage")
    Image.fromarray(np.full((8, 8, 3), 255, np.uint8)).save(tmp_path / "blank.png")

    def process(path: Path, stem: Path) -> int:
        img = load_image(path)
        if img.min() == 255:
            raise NoFaceError("no face found")
        return 1

    report = run_batch([str(tmp_path)], process, desc="t")
    assert [p.name for p in report.done] == ["good.png"]
    reasons = dict((p.name, r) for p, r in report.failed)
    assert "not an image" in reasons["bad.png"] or "decode" in reasons["bad.png"]
    assert reasons["blank.png"] == "no face found"
    assert report.exit_code == 1
    err = capsys.readouterr().err
    assert "2 failed" in err and "bad.png" in err
