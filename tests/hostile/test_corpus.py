"""Tests of the hostile-input generator itself (not of apdraw's commands)."""

from __future__ import annotations

import hashlib
import os
import re
import stat
import subprocess
import sys
import warnings
from pathlib import Path

import numpy as np
import pytest
from PIL import Image, ImageOps

from .corpus import (
    COLLISION_GROUPS,
    EXPECTS,
    KINDS,
    REPO,
    cases,
    collision_groups,
    face_image,
    original_bytes,
    write_corpus,
)

HERE = Path(__file__).resolve().parent


def _fingerprint(folder: Path) -> dict[str, tuple]:
    """name -> (type, content hash / link target) for every entry directly in folder."""
    out: dict[str, tuple] = {}
    for entry in os.scandir(folder):
        st = entry.stat(follow_symlinks=False)
        if stat.S_ISLNK(st.st_mode):
            out[entry.name] = ("link", os.readlink(entry.path))
        elif stat.S_ISFIFO(st.st_mode):
            out[entry.name] = ("fifo",)
        elif stat.S_ISDIR(st.st_mode):
            out[entry.name] = ("dir", tuple(sorted(os.listdir(entry.path))))
        elif stat.S_IMODE(st.st_mode) & 0o444 == 0 and not os.access(entry.path, os.R_OK):
            out[entry.name] = ("unreadable", st.st_size)
        else:
            out[entry.name] = ("file", hashlib.sha256(Path(entry.path).read_bytes()).hexdigest())
    return out


@pytest.fixture(scope="module")
def written(tmp_path_factory) -> dict[str, Path]:
    """The subset and the full corpus, written once in this process and once in a fresh one."""
    root = tmp_path_factory.mktemp("hostile")
    here = {"subset": root / "subset", "full": root / "full"}
    write_corpus(here["subset"])
    write_corpus(here["full"], full=True)
    # A fresh interpreter (other hash seed, cold caches) writes the same two corpora.
    code = (
        "import sys; sys.path.insert(0, sys.argv[1]); from hostile.corpus import write_corpus; "
        "from pathlib import Path; write_corpus(Path(sys.argv[2])); write_corpus(Path(sys.argv[3]), full=True)"
    )
    env = {**os.environ, "PYTHONHASHSEED": "12345"}
    subprocess.run(
        [sys.executable, "-c", code, str(HERE.parent), str(root / "subset2"), str(root / "full2")],
        check=True, cwd=REPO, env=env, timeout=120,
    )  # fmt: skip
    return {**here, "subset2": root / "subset2", "full2": root / "full2"}


@pytest.mark.parametrize("which", ["subset", "full"])
def test_writing_twice_gives_identical_files(written, which):
    a, b = _fingerprint(written[which]), _fingerprint(written[which + "2"])
    assert sorted(a) == sorted(b)
    differ = [name for name in a if a[name] != b[name]]
    assert not differ, f"not deterministic: {differ}"


@pytest.mark.parametrize("full", [False, True])
def test_every_case_is_written(written, full):
    folder = written["full" if full else "subset"]
    names = {c.name for c in cases(full)}
    assert set(os.listdir(folder)) == names


def test_subset_is_small_and_covers_every_kind():
    sub = cases()
    assert len(sub) <= 60
    assert {c.kind for c in sub} == set(KINDS)
    assert not any(c.slow for c in sub)
    assert {c.expect for c in sub} == set(EXPECTS)


def test_full_is_a_superset_and_large():
    sub, full = cases(), cases(full=True)
    assert len(full) >= 250
    assert {c.kind for c in full} == set(KINDS)
    by_name = {c.name: c for c in full}
    for c in sub:
        assert by_name[c.name] == c
    assert any(c.slow for c in full)


def test_subset_files_are_tiny(written):
    for entry in os.scandir(written["subset"]):
        if entry.is_file(follow_symlinks=False):
            assert entry.stat().st_size < 512 * 1024, entry.name


@pytest.mark.parametrize("full", [False, True])
def test_case_fields(full):
    for c in cases(full):
        assert c.kind in KINDS and c.expect in EXPECTS, c
        if c.expect in ("failed", "skipped"):
            assert c.reason.strip(), c.name
        if c.reason:
            re.compile(c.reason, re.IGNORECASE)
        assert len(os.fsencode(c.name)) <= 255, c.name
        assert "/" not in c.name and "\0" not in c.name


@pytest.mark.parametrize("full", [False, True])
def test_names_are_unique(full):
    names = [c.name for c in cases(full)]
    assert len(names) == len(set(names))


def test_required_coverage():
    names = {c.name for c in cases(full=True)}
    for suffix in (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff"):
        assert f"empty{suffix}" in names
    for label in ("jpeg", "png", "bmp", "webp", "tiff", "tiff-lzw"):
        for cut in ("header", "10pct", "50pct", "90pct"):
            assert any(n.startswith(f"trunc_{label}_{cut}.") for n in names), (label, cut)
    for o in range(1, 9):
        assert f"exif_orientation_{o}.jpg" in names
    for n in ("animated.gif", "animated.webp", "animated_apng.png", "Ünïcødé 写真.jpg", "-x.jpg",
              "bomb_png_30000x30000.png", "mode_F_nan_inf.tiff", "mode_I32_negative.tiff", "face_grid_6x6_tiny.jpg"):  # fmt: skip
        assert n in names, n
    assert any(len(os.path.splitext(n)[0]) == 240 for n in names)


def test_collision_groups_name_real_cases():
    names = {c.name for c in cases(full=True)}
    for command, _opts, group in COLLISION_GROUPS:
        assert command in ("draw", "align", "parse")
        assert set(group) <= names, group
    assert collision_groups(full=True) == list(COLLISION_GROUPS)
    assert {g[2] for g in collision_groups()} >= {("john.smith.jpg", "john.doe.jpg"), ("p.jpg", "p_color.jpg")}


def test_truncated_cases_are_shorter_prefixes(written):
    for c in cases(full=True):
        if c.kind != "truncated":
            continue
        data, original = (written["full"] / c.name).read_bytes(), original_bytes(c.origin)
        assert 0 < len(data) < len(original), c.name
        assert original.startswith(data), c.name


def test_fuzzed_cases_flip_a_few_bytes(written):
    for c in cases(full=True):
        if c.kind != "fuzzed":
            continue
        data, original = (written["full"] / c.name).read_bytes(), original_bytes(c.origin)
        assert len(data) == len(original), c.name
        flipped = np.count_nonzero(np.frombuffer(data, np.uint8) != np.frombuffer(original, np.uint8))
        assert 1 <= flipped <= 16, (c.name, flipped)


def _decode(path: Path) -> Image.Image:
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        im = Image.open(path)
        im.load()
        return im


def test_failed_garbage_does_not_decode(written):
    """Where the corpus promises a failure for a broken file, Pillow itself cannot decode it."""
    for c in cases(full=True):
        if c.expect == "failed" and c.kind in ("empty", "truncated", "random", "fuzzed"):
            with pytest.raises(Exception):
                _decode(written["full"] / c.name)
                pytest.fail(f"{c.name} decodes")


def test_drawn_files_decode(written):
    for c in cases(full=True):
        path = written["full"] / c.name
        if c.expect == "drawn" and c.kind != "special":
            im = _decode(path)
            assert min(im.size) >= 64 and max(im.size) <= 4096, c.name


def test_bombs_declare_too_many_pixels(written):
    for c in cases(full=True):
        if c.kind == "bomb" and c.expect == "failed" and "no face" not in c.reason:
            path = written["full"] / c.name
            assert path.stat().st_size < 200 * 1024, c.name
            with warnings.catch_warnings():
                warnings.simplefilter("ignore")
                try:
                    with Image.open(path) as im:
                        w, h = im.size
                except Image.DecompressionBombError:
                    continue
            assert w * h > 64_000_000, c.name


def _orientation_cases() -> list:
    return [c for c in cases(full=True) if re.fullmatch(r"exif_orientation_\d\.\w+", c.name)]


def test_exif_cases_carry_the_orientation_tag(written):
    found = set()
    for c in _orientation_cases():
        o = int(c.name.split("_")[2].split(".")[0])
        with Image.open(written["full"] / c.name) as im:
            assert im.getexif().get(0x0112) == o, c.name
        found.add(o)
    assert found == set(range(1, 9))


def test_exif_cases_are_upright_when_the_orientation_is_applied(written):
    """Stored pixels look wrong (except orientation 1); honouring EXIF gives the upright face.
    Malformed-EXIF cases are upright as stored (or after their valid orientation)."""
    face = np.asarray(face_image()).astype(np.int16)
    for c in cases(full=True):
        if c.kind != "exif":
            continue
        im = _decode(written["full"] / c.name)  # TIFF applies its orientation on load
        up = np.asarray(ImageOps.exif_transpose(im).convert("RGB")).astype(np.int16)
        assert up.shape == face.shape, c.name
        assert np.abs(up - face).mean() < 8, c.name
        if re.match(r"exif_orientation_[2-8][._]", c.name) and im.format != "TIFF":
            raw = np.asarray(im.convert("RGB")).astype(np.int16)
            assert raw.shape != face.shape or np.abs(raw - face).mean() > 20, f"{c.name} looks upright without EXIF"


def test_special_entries(written):
    folder = written["full"]
    kinds = {c.name: c for c in cases(full=True) if c.kind == "special"}
    for name, c in kinds.items():
        p = folder / name
        assert os.path.lexists(p), name
        if c.expect == "skipped":
            assert not p.is_file(), f"{name} is a regular file"
    if "loop.jpg" in kinds:
        assert os.readlink(folder / "loop.jpg") == "loop.jpg"
    if "fifo.jpg" in kinds:
        assert stat.S_ISFIFO(os.lstat(folder / "fifo.jpg").st_mode)
    if "symlink_to_face.jpg" in kinds:
        assert (folder / "symlink_to_face.jpg").is_file()


def test_animated_cases_have_frames(written):
    for c in cases(full=True):
        if c.kind == "animated":
            with Image.open(written["full"] / c.name) as im:
                assert getattr(im, "n_frames", 1) >= 2, c.name
