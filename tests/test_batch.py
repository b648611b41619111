"""Batch helper: output naming, failures and skips don't stop the batch, summary and exit code."""

from __future__ import annotations

import os
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from apdraw.batch import NoFaceError, OutputNames, UsageError, check_out_dir, collect_inputs, run_batch
from apdraw.io import load_image, save_image


def test_output_stems_keep_the_full_name_and_sub_folder(tmp_path):
    for p in ["in/x.jpg", "in/sub/x.jpg", "in/x.png", "in/john.smith.jpg", "in/john.doe.jpg", "y.jpg"]:
        (tmp_path / p).parent.mkdir(parents=True, exist_ok=True)
        (tmp_path / p).write_bytes(b"")
    pairs, skipped = collect_inputs([str(tmp_path / "in"), str(tmp_path / "y.jpg"), str(tmp_path / "gone")])
    stems = [s.as_posix() for _, s in pairs]
    assert stems == ["john.doe", "john.smith", "sub/x", "x", "x", "y"]
    assert skipped == [(tmp_path / "gone", "no such file or folder")]


def test_output_names_are_unique_and_deterministic(tmp_path):
    names = OutputNames(tmp_path)
    assert names.claim(Path("x"), ["{}.png"], Path("x.jpg")) == [tmp_path / "x.png"]
    assert names.claim(Path("x"), ["{}.png"], Path("x.png")) == [tmp_path / "x_png.png"]
    assert names.claim(Path("x"), ["{}.png"], Path("x.png")) == [tmp_path / "x~2.png"]
    # pair.jpg's second face vs an input called pair_face1.jpg
    assert names.claim(Path("pair_face1"), ["{}.png"], Path("pair.jpg")) == [tmp_path / "pair_face1.png"]
    assert names.claim(Path("pair_face1"), ["{}.png"], Path("pair_face1.jpg")) == [tmp_path / "pair_face1_jpg.png"]
    # parse: p.jpg's colour image vs p_color.jpg's label map
    assert names.claim(Path("p"), ["{}.png", "{}_color.png"], Path("p.jpg"))[1] == tmp_path / "p_color.png"
    assert names.claim(Path("p_color"), ["{}.png", "{}_color.png"], Path("p_color.jpg")) == [
        tmp_path / "p_color_jpg.png", tmp_path / "p_color_jpg_color.png"]
    # align: sub/a.jpg flattened and sub_a.jpg
    first = names.claim(Path("sub_a"), ["{}.png", "landmark/{}.txt"], Path("sub/a.jpg"))
    second = names.claim(Path("sub_a"), ["{}.png", "landmark/{}.txt"], Path("sub_a.jpg"))
    assert not set(first) & set(second) and second[1] == tmp_path / "landmark" / "sub_a_jpg.txt"


def test_special_files_are_skipped_with_a_reason(tmp_path):
    folder = tmp_path / "in"
    folder.mkdir()
    Image.new("RGB", (4, 4)).save(folder / "ok.png")
    os.symlink(folder / "nothing.png", folder / "dangling.jpg")
    os.symlink(folder / "loop.jpg", folder / "loop.jpg")
    os.mkfifo(folder / "fifo.jpg")
    os.symlink("/dev/null", folder / "null.png")
    (folder / "dir.jpg").mkdir()
    pairs, skipped = collect_inputs([str(folder)])
    assert [p.name for p, _ in pairs] == ["ok.png"]
    reasons = {p.name: r for p, r in skipped}
    assert reasons == {
        "dangling.jpg": "a dangling symlink (its target does not exist)",
        "dir.jpg": "a folder, not an image file",
        "fifo.jpg": "a named pipe (FIFO), not an image file",
        "loop.jpg": "a symlink loop",
        "null.png": "a device, not an image file",
    }
    # Given by name, a FIFO is skipped too (never opened: that would block).
    pairs, skipped = collect_inputs([str(folder / "fifo.jpg")])
    assert pairs == [] and skipped[0][1].startswith("a named pipe")


def test_batch_continues_past_bad_files_and_counts_files_on_disk(tmp_path, capsys):
    Image.fromarray(np.zeros((8, 8, 3), np.uint8)).save(tmp_path / "good.png")
    (tmp_path / "bad.png").write_bytes(b"garbage")
    Image.fromarray(np.full((8, 8, 3), 255, np.uint8)).save(tmp_path / "blank.png")
    os.mkfifo(tmp_path / "pipe.png")

    def process(path: Path, stem: Path, names: OutputNames) -> None:
        img = load_image(path)
        if img.min() == 255:
            raise NoFaceError("no face found")
        a, b = names.claim(stem, ["{}.png", "{}_copy.png"], path)
        save_image(a, img)
        save_image(b, img)

    report = run_batch([str(tmp_path)], tmp_path / "out", process, desc="t")
    assert [p.name for p in report.done] == ["good.png"]
    reasons = dict((p.name, r) for p, r in report.failed)
    assert "not an image" in reasons["bad.png"]
    assert reasons["blank.png"] == "no face found"
    assert report.outputs == 2 == len(list((tmp_path / "out").iterdir()))
    assert report.exit_code == 1
    err = capsys.readouterr().err
    assert "2 failed" in err and "bad.png" in err and "1 skipped" in err and "pipe.png: a named pipe" in err


def test_an_output_folder_that_is_a_file_is_refused(tmp_path):
    (tmp_path / "file").write_text("x")
    with pytest.raises(UsageError, match="is a file"):
        check_out_dir(tmp_path / "file")
    with pytest.raises(UsageError, match="is a file"):
        check_out_dir(tmp_path / "file" / "sub")
    check_out_dir(tmp_path / "new" / "deeper")  # fine: created later
    assert not (tmp_path / "new").exists()


def test_output_names_fit_the_file_system(tmp_path):
    names = OutputNames(tmp_path)
    base = "é" * 125  # 250 bytes
    paths = names.claim(Path(base), ["{}.png", "parts/{}_mouth.png"], Path(base + ".jpg"))
    assert all(len(os.fsencode(p.name)) <= 255 for p in paths)
    again = names.claim(Path(base), ["{}.png", "parts/{}_mouth.png"], Path(base + ".png"))
    assert not set(paths) & set(again) and all(len(os.fsencode(p.name)) <= 255 for p in again)
    for p in paths + again:
        save_image(p, np.zeros((2, 2), np.uint8))
    assert names.on_disk() == 4
