"""Image decoding (every format, EXIF, odd modes), error paths, atomic writes, config validation."""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from apdraw.io import (
    ImageTooLargeError,
    NotAnImageError,
    TruncatedImageError,
    atomic_write,
    load_image,
    save_image,
)


def _gradient(h=40, w=60) -> np.ndarray:
    y, x = np.mgrid[0:h, 0:w]
    return np.stack([x * 4, y * 6, (x + y) * 2], axis=2).astype(np.uint8)


@pytest.mark.parametrize("fmt,suffix", [("JPEG", ".jpg"), ("PNG", ".png"), ("BMP", ".bmp"), ("WEBP", ".webp"), ("TIFF", ".tif")])
def test_decodes_every_format(tmp_path, fmt, suffix):
    rgb = _gradient()
    path = tmp_path / f"img{suffix}"
    Image.fromarray(rgb).save(path, format=fmt, **({"quality": 95} if fmt in ("JPEG", "WEBP") else {}))
    out = load_image(path)
    assert out.shape == rgb.shape and out.dtype == np.uint8
    lossy = fmt in ("JPEG", "WEBP")
    assert np.abs(out.astype(int) - rgb).mean() < (4 if lossy else 1e-9)


def test_exif_orientation_is_applied(tmp_path):
    rgb = _gradient(40, 60)
    exif = Image.Exif()
    exif[0x0112] = 6  # "rotate 90 CW to display"
    path = tmp_path / "rot.jpg"
    Image.fromarray(rgb).save(path, exif=exif.tobytes(), quality=95)
    out = load_image(path)
    assert out.shape == (60, 40, 3)
    expected = np.rot90(rgb, k=-1)
    assert np.abs(out.astype(int) - expected).mean() < 4


def test_modes_convert_to_rgb8(tmp_path):
    gray = (np.arange(50 * 30).reshape(30, 50) % 256).astype(np.uint8)
    Image.fromarray(gray, "L").save(tmp_path / "g.png")
    out = load_image(tmp_path / "g.png")
    assert out.shape == (30, 50, 3) and np.array_equal(out[..., 0], gray) and np.array_equal(out[..., 2], gray)

    g16 = (np.arange(50 * 30).reshape(30, 50) * 40).astype(np.uint16)
    Image.fromarray(g16).save(tmp_path / "g16.png")
    out16 = load_image(tmp_path / "g16.png")
    assert out16.dtype == np.uint8
    assert np.abs(out16[..., 0].astype(int) - np.round(g16 / 65535 * 255)).max() <= 1

    rgba = np.zeros((10, 10, 4), np.uint8)
    rgba[..., 0] = 200
    rgba[:, :5, 3] = 255  # left half opaque red, right half transparent -> white
    Image.fromarray(rgba, "RGBA").save(tmp_path / "a.png")
    outa = load_image(tmp_path / "a.png")
    assert tuple(outa[0, 0]) == (200, 0, 0) and tuple(outa[0, 9]) == (255, 255, 255)

    Image.fromarray(_gradient()).convert("CMYK").save(tmp_path / "c.jpg", quality=95)
    outc = load_image(tmp_path / "c.jpg")
    assert outc.shape == (40, 60, 3)
    assert np.abs(outc.astype(int) - _gradient()).mean() < 8

    Image.fromarray(_gradient()).convert("P").save(tmp_path / "p.png")
    assert load_image(tmp_path / "p.png").shape == (40, 60, 3)


def test_bytes_input():
    buf = io.BytesIO()
    Image.fromarray(_gradient()).save(buf, format="PNG")
    assert np.array_equal(load_image(buf.getvalue()), _gradient())


def test_error_paths(tmp_path):
    (tmp_path / "notes.txt").write_text("hello, not an image")
    with pytest.raises(NotAnImageError, match="not an image"):
        load_image(tmp_path / "notes.txt")

    buf = io.BytesIO()
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (200, 200, 3), dtype=np.uint8)).save(buf, format="JPEG")
    (tmp_path / "cut.jpg").write_bytes(buf.getvalue()[: len(buf.getvalue()) // 2])
    with pytest.raises(TruncatedImageError, match="truncated"):
        load_image(tmp_path / "cut.jpg")

    Image.new("L", (300, 300)).save(tmp_path / "big.png")
    with pytest.raises(ImageTooLargeError, match="megapixels"):
        load_image(tmp_path / "big.png", max_pixels=10_000)

    with pytest.raises(FileNotFoundError):
        load_image(tmp_path / "nope.png")


def test_decompression_bomb_is_refused_before_decoding(tmp_path):
    # A 20000x20000 PNG compresses to a few hundred kB; it must be refused from its header alone.
    path = tmp_path / "bomb.png"
    Image.new("1", (20000, 20000)).save(path)
    with pytest.raises(ImageTooLargeError, match="decompression bomb"):
        load_image(path)


def test_collect_inputs_finds_images_in_folders(tmp_path):
    from apdraw.batch import collect_inputs

    (tmp_path / "a" / "b").mkdir(parents=True)
    for p in ["a/1.jpg", "a/b/2.PNG", "a/readme.txt", "c.webp"]:
        (tmp_path / p).write_bytes(b"x")
    pairs, missing = collect_inputs([str(tmp_path / "a"), str(tmp_path / "c.webp"), str(tmp_path / "zzz")])
    assert [p.relative_to(tmp_path).as_posix() for p, _ in pairs] == ["a/1.jpg", "a/b/2.PNG", "c.webp"]
    assert missing == [(tmp_path / "zzz", "no such file or folder")]


def test_as_rgb_accepts_pil_and_arrays():
    from apdraw.io import as_rgb

    gray = np.arange(12, dtype=np.uint8).reshape(3, 4)
    assert as_rgb(gray).shape == (3, 4, 3) and (as_rgb(gray)[..., 1] == gray).all()
    rgba = np.zeros((2, 2, 4), np.uint8)  # fully transparent -> white
    assert (as_rgb(rgba) == 255).all()
    assert as_rgb(Image.new("L", (5, 3), 7)).shape == (3, 5, 3)
    with pytest.raises(ValueError, match="uint8"):
        as_rgb(np.zeros((2, 2, 3), np.float32))
    with pytest.raises(ValueError, match="shape"):
        as_rgb(np.zeros((2, 2, 2), np.uint8))


def test_atomic_write_leaves_nothing_on_failure(tmp_path):
    target = tmp_path / "out.bin"
    target.write_bytes(b"old")
    with pytest.raises(RuntimeError):
        with atomic_write(target) as f:
            f.write(b"half")
            raise RuntimeError("killed")
    assert target.read_bytes() == b"old"
    assert [p.name for p in tmp_path.iterdir()] == ["out.bin"]
    save_image(tmp_path / "x.png", np.zeros((4, 4), np.uint8))
    assert load_image(tmp_path / "x.png").shape == (4, 4, 3)


def test_write_doc_block_replaces_only_its_block(tmp_path):
    from apdraw.io import write_doc_block

    doc = tmp_path / "DOC.md"
    write_doc_block(doc, "speed", "| a |\n", heading="Speed")
    assert doc.read_text() == "\n\n## Speed\n\n<!-- speed:start -->\n| a |\n<!-- speed:end -->\n"
    doc.write_text("# Title\n\nbefore\n\n<!-- speed:start -->\nold\n<!-- speed:end -->\n\nafter\n")
    write_doc_block(doc, "speed", "new table")
    write_doc_block(doc, "speed", "new table")  # idempotent
    assert doc.read_text() == "# Title\n\nbefore\n\n<!-- speed:start -->\nnew table\n<!-- speed:end -->\n\nafter\n"


def test_bomb_messages_cite_apdraws_own_limit(tmp_path):
    import zlib

    def chunk(kind: bytes, data: bytes) -> bytes:
        return len(data).to_bytes(4, "big") + kind + data + zlib.crc32(kind + data).to_bytes(4, "big")

    # a PNG header declaring 20000x20000 (400 MP): over Pillow's own 179 MP limit too
    png = b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", (20000).to_bytes(4, "big") * 2 + bytes([8, 0, 0, 0, 0])) + chunk(b"IEND", b"")
    (tmp_path / "big.png").write_bytes(png)
    with pytest.raises(ImageTooLargeError) as err:
        load_image(tmp_path / "big.png")
    assert "over apdraw's limit of 64" in str(err.value) and "179" not in str(err.value)
    with pytest.raises(ImageTooLargeError, match="limit of 1 megapixels"):
        load_image(tmp_path / "big.png", max_pixels=1_000_000)


def test_float_and_signed_images_are_normalised(tmp_path):
    arr = np.linspace(-5, 5, 64 * 64, dtype=np.float32).reshape(64, 64)
    arr[0, 0], arr[0, 1], arr[0, 2] = np.nan, np.inf, -np.inf
    Image.fromarray(arr, "F").save(tmp_path / "f.tif")
    img = load_image(tmp_path / "f.tif")
    assert img[..., 0].min() == 0 and img[..., 0].max() == 255 and img[0, 1, 0] == 255 and img[0, 2, 0] == 0
    signed = (np.arange(64 * 64, dtype=np.int32).reshape(64, 64) - 2000)
    Image.fromarray(signed, "I").save(tmp_path / "i.tif")
    img = load_image(tmp_path / "i.tif")
    assert img.min() == 0 and img.max() == 255
    small = np.arange(64 * 64, dtype=np.int32).reshape(64, 64) % 256  # 8-bit values in a 32-bit file
    Image.fromarray(small, "I").save(tmp_path / "s.tif")
    assert load_image(tmp_path / "s.tif")[..., 0].max() == 255
    nan = np.full((8, 8), np.nan, np.float32)
    Image.fromarray(nan, "F").save(tmp_path / "nan.tif")
    with pytest.raises(NotAnImageError, match="finite"):
        load_image(tmp_path / "nan.tif")
