"""FS2K listing and the fixed train/validation split."""

from __future__ import annotations

import json

import pytest

from apdraw.data.fs2k import fs2k_dir, fs2k_records, fs2k_split, is_validation


def fake_fs2k(root, names_styles, drop_sketch=None):
    base = root / "fs2k" / "train"
    (base / "photo").mkdir(parents=True)
    (base / "sketch").mkdir()
    rows = []
    for name, style in names_styles:
        (base / "photo" / f"{name}.jpg").write_bytes(b"x")
        if name != drop_sketch:
            (base / "sketch" / f"{name}.jpg").write_bytes(b"x")
        rows.append({"name": name, "style": style, "hair": 0, "image_name": f"photo1/{name}"})
    (base / "anno.json").write_text(json.dumps(rows))
    return base


def test_records_and_split_on_a_synthetic_tree(tmp_path):
    items = [(f"p1_{i:04d}", i % 3) for i in range(300)]
    base = fake_fs2k(tmp_path, items)
    assert fs2k_dir(tmp_path) == base and fs2k_dir(base) == base
    recs = fs2k_records(tmp_path)
    assert [r.name for r in recs] == sorted(n for n, _ in items)
    r0 = recs[0]
    assert r0.photo == base / "photo" / "p1_0000.jpg" and r0.sketch == base / "sketch" / "p1_0000.jpg"
    assert r0.sketch_type == 0 and r0.attributes == {"hair": 0, "image_name": "photo1/p1_0000"}
    assert {r.sketch_type for r in fs2k_records(tmp_path, sketch_type=1)} == {1}
    train, val = fs2k_split(tmp_path)
    assert not {r.name for r in train} & {r.name for r in val}
    assert len(train) + len(val) == 300 and 0.08 < len(val) / 300 < 0.22
    # A pair's side depends on its name only: the style filter does not move it.
    _, val1 = fs2k_split(tmp_path, sketch_type=1)
    assert {r.name for r in val1} == {r.name for r in val if r.sketch_type == 1}
    assert fs2k_split(tmp_path) == (train, val)
    assert fs2k_split(tmp_path, val_fraction=0.0)[1] == [] and fs2k_split(tmp_path, val_fraction=1.0)[0] == []
    assert all(is_validation(r.name, 0.15) for r in val)


def test_errors(tmp_path):
    with pytest.raises(FileNotFoundError, match="anno.json"):
        fs2k_records(tmp_path)
    fake_fs2k(tmp_path, [("p1_0001", 0), ("p1_0002", 0)], drop_sketch="p1_0002")
    with pytest.raises(FileNotFoundError, match="p1_0002"):
        fs2k_records(tmp_path)
    with pytest.raises(ValueError, match="sketch type"):
        fs2k_records(tmp_path, sketch_type=3)
    with pytest.raises(ValueError, match="val_fraction"):
        fs2k_split(tmp_path, val_fraction=1.5)


def test_real_fs2k(shared_data):
    assert len(fs2k_records(shared_data)) == 1058
    assert len(fs2k_records(shared_data, sketch_type=0)) == 357
    train, val = fs2k_split(shared_data, sketch_type=0)
    assert len(train) + len(val) == 357
    assert 0.10 < len(val) / 357 < 0.20
    assert all(r.photo.is_file() and r.sketch.is_file() for r in val)


# The shipped APDrawingGAN's 50 validation pairs (its model card's held-out set): the
# SHA-256 of their comma-joined names, recorded before the data layer was unified.
SHIPPED_VAL_NAMES_SHA256 = "a56a27a50b8094888c23d436d01283916cae1f239751d95a85944dbc3965f98b"


def test_the_shipped_models_validation_pairs_are_unchanged(shared_data):
    import hashlib

    from apdraw.data.paired import DataConfig, build_records

    _, val = fs2k_split(shared_data, sketch_type=0)
    names = [r.name for r in val]
    assert len(names) == 50 and names[:3] == ["p1_0111", "p1_0113", "p1_0122"]
    assert hashlib.sha256(",".join(names).encode()).hexdigest() == SHIPPED_VAL_NAMES_SHA256
    # The training task's data source gives exactly the same pairs.
    recs, _ = build_records(DataConfig(root=str(shared_data / "fs2k" / "train"), sketch_type=0, split="val"))
    assert [r.name for r in recs] == names


def test_split_rule_without_data():
    assert is_validation("p1_0111") and is_validation("p1_0113") and not is_validation("p1_0110")
