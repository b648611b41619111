"""A deterministic corpus of hostile input files for apdraw's command-line tools.

Nothing here is committed as a binary fixture: every file is generated at test
time from the two example photos (examples/grace_hopper.jpg, examples/astronaut.png),
Pillow, numpy (fixed seeds only) and hand-written bytes. Writing the corpus twice
gives byte-identical files.

    from tests.hostile.corpus import cases, write_corpus
    for case in write_corpus(tmp_path / "in"):          # the fast subset (<= 60 files)
        ...
    write_corpus(tmp_path / "all", full=True)             # several hundred files

Each :class:`Case` says what ``apdraw draw <folder> -o <out>`` must do with it:

* ``"drawn"``: a face is there; a drawing is written.
* ``"failed"``: listed by name among the failures, with a reason matching
  ``Case.reason`` (a case-insensitive regex); never a traceback or "internal error".
* ``"skipped"``: not a regular readable file (symlink loop, FIFO, directory, ...):
  listed as skipped with a reason matching ``Case.reason``; never opened (a FIFO
  would block a reader forever).
* ``"any"``: either drawn, or failed with a reason; never a traceback, never
  "internal error". Used where a face may or may not be findable (rotated,
  tiny, half outside the frame) or where the file is garbled in a way that may
  still decode.

Faces are downscaled to 256 px on the long side so that every case is fast.

Design choices documented here (the tests of apdraw's commands rely on them):

* Floating-point and signed-integer TIFFs (``mode_F_nan_inf.tiff``,
  ``mode_I32_negative.tiff``) are built from the face photo, so they expect
  ``"drawn"``: the finite pixels carry a face, and the loader must normalise
  by the finite range (NaN/inf pixels and negative values must not black out
  the picture).
* A fully transparent RGBA image (``mode_RGBA_transparent.png``) is composited
  on white, as ``apdraw.io`` documents, so it shows no face: ``"failed"``.
* Animated images (GIF, WebP, APNG) are drawn from their first frame.
  ``animated.gif`` keeps its ``.gif`` suffix: apdraw must accept GIF inputs
  found in folders (Pillow reads them).
* A valid symlink to a face photo (``symlink_to_face.jpg``) is followed: ``"drawn"``.
* Malformed or out-of-range EXIF never fails a photo: the pixels are upright,
  the bad EXIF is ignored, ``"drawn"``.
* The "bomb" cases expect refusal before decoding; the default ``--max-pixels``
  (64 megapixels) is assumed for ``bomb_over_limit_8200x8200.png``.
* Name collisions (``john.smith.jpg``/``john.doe.jpg``, ``pair.jpg`` with two
  faces/``pair_face0.jpg``, ``p.jpg``/``p_color.jpg``, ...) are listed in
  :data:`COLLISION_GROUPS` with the command and options under which their
  outputs must not overwrite each other.
"""

from __future__ import annotations

import functools
import io
import os
import struct
import sys
import zlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable

import numpy as np
from PIL import Image, ImageFilter, ImageOps

REPO = Path(__file__).resolve().parents[2]
FACE_PHOTO = REPO / "examples" / "grace_hopper.jpg"
FACE_PHOTO_2 = REPO / "examples" / "astronaut.png"
LONG_SIDE = 256

KINDS = (
    "empty", "truncated", "random", "fuzzed", "wrong-ext", "mode", "extreme",
    "bomb", "animated", "exif", "face", "name", "special",
)  # fmt: skip
EXPECTS = ("drawn", "failed", "skipped", "any")
# The suffixes apdraw treats as images (mirrors apdraw.io.IMAGE_SUFFIXES; not imported,
# so that the generator does not depend on the code under test).
IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")

# Reason regexes (matched case-insensitively against the reason apdraw reports).
R_EMPTY = r"empty|truncated|not an image|could not decode"
R_TRUNCATED = r"truncated|corrupt"
R_GARBAGE = r"not an image|truncated|corrupt|could not decode|decode"
R_NOT_IMAGE = r"not an image|could not decode|unsupported|unknown format"
R_NO_FACE = r"no face"
R_EXTREME = r"no face|too small|aspect|refused"
R_BOMB = r"megapixel|decompression bomb|too large"
R_BOMB_OR_CORRUPT = R_BOMB + "|" + R_GARBAGE
R_SPECIAL = r"symlink|link|loop|dangling|not a regular file|fifo|named pipe|directory|folder|device"
R_UNREADABLE = r"permission|denied|not readable|unreadable|cannot read"


def _not_buildable(path: Path) -> None:
    raise NotImplementedError(f"no build function for {path}")


@dataclass(frozen=True)
class Case:
    """One hostile input. ``build(folder / name)`` creates it."""

    name: str  # file (or dir/link) name inside the corpus folder; may contain spaces/unicode
    kind: str  # one of KINDS
    expect: str  # one of EXPECTS: "drawn", "failed", "skipped", "any"
    reason: str = ""  # failed/skipped: case-insensitive regex the reported reason must match
    build: Callable[[Path], None] = field(default=_not_buildable, repr=False, compare=False)
    slow: bool = False  # True: only in the full corpus
    origin: str = ""  # truncated/fuzzed: key of original_bytes() the file was cut or flipped from
    note: str = ""  # what the case is about, when the name does not say it

    def __post_init__(self) -> None:
        if self.kind not in KINDS:
            raise ValueError(f"{self.name}: unknown kind {self.kind!r}")
        if self.expect not in EXPECTS:
            raise ValueError(f"{self.name}: unknown expect {self.expect!r}")
        if self.expect in ("failed", "skipped") and not self.reason:
            raise ValueError(f"{self.name}: a {self.expect} case needs a reason regex")
        if not self.name or "/" in self.name or self.name in (".", ".."):
            raise ValueError(f"bad case name {self.name!r}")


# --------------------------------------------------------------------------- base pictures


def _downscale(img: Image.Image, long_side: int = LONG_SIDE) -> Image.Image:
    w, h = img.size
    s = long_side / max(w, h)
    return img.resize((max(1, round(w * s)), max(1, round(h * s))), Image.Resampling.LANCZOS)


@functools.lru_cache(maxsize=None)
def _face() -> Image.Image:
    with Image.open(FACE_PHOTO) as im:
        return _downscale(im.convert("RGB"))


@functools.lru_cache(maxsize=None)
def _face2() -> Image.Image:
    with Image.open(FACE_PHOTO_2) as im:
        return _downscale(im.convert("RGB"))


def face_image() -> Image.Image:
    """The main face photo, RGB, 256 px on the long side (218x256). A copy."""
    return _face().copy()


def face2_image() -> Image.Image:
    """The second face photo (astronaut), RGB, 256x256. A copy."""
    return _face2().copy()


def _face_gray() -> np.ndarray:
    return np.asarray(_face().convert("L"))


def _enc(img: Image.Image, fmt: str, **kw) -> bytes:
    buf = io.BytesIO()
    img.save(buf, fmt, **kw)
    return buf.getvalue()


def _gradient(w: int, h: int) -> Image.Image:
    """A smooth diagonal gray gradient: no face, any size."""
    x = np.linspace(0, 1, w, dtype=np.float64)[None, :]
    y = np.linspace(0, 1, h, dtype=np.float64)[:, None]
    g = (40 + 180 * (0.6 * x + 0.4 * y)).astype(np.uint8)
    return Image.fromarray(g)


def _landscape() -> Image.Image:
    """Sky over smooth noisy hills, 256x192: no face."""
    rng = np.random.default_rng(7)
    coarse = Image.fromarray((rng.random((6, 8, 3)) * 255).astype(np.uint8))
    hills = np.asarray(coarse.resize((256, 192), Image.Resampling.BICUBIC)).astype(np.float64)
    y = np.linspace(0, 1, 192)[:, None, None]
    sky = np.array([120, 170, 235], dtype=np.float64)[None, None, :] * np.ones((192, 256, 1))
    ground = 0.5 * hills + 0.5 * np.array([60, 120, 50], dtype=np.float64)
    horizon = 0.45 + 0.1 * np.sin(np.linspace(0, 6, 256))[None, :, None]
    img = np.where(y < horizon, sky * (0.8 + 0.2 * y), ground)
    return Image.fromarray(np.clip(img, 0, 255).astype(np.uint8))


# --------------------------------------------------------------------------- originals


def _bytes_table() -> dict[str, Callable[[], bytes]]:
    f = _face
    return {
        "face.jpeg": lambda: _enc(f(), "JPEG", quality=90),
        "face.progressive.jpeg": lambda: _enc(f(), "JPEG", quality=90, progressive=True),
        "face.png": lambda: _enc(f(), "PNG"),
        "face.bmp": lambda: _enc(f(), "BMP"),
        "face.webp": lambda: _enc(f(), "WEBP", quality=80),
        "face.lossless.webp": lambda: _enc(f(), "WEBP", lossless=True),
        "face.tiff": lambda: _enc(f(), "TIFF"),
        "face.lzw.tiff": lambda: _enc(f(), "TIFF", compression="tiff_lzw"),
        "face.gif": lambda: _enc(f(), "GIF"),
        "face2.jpeg": lambda: _enc(_face2(), "JPEG", quality=90),
        "noface.png": lambda: _enc(_gradient(200, 160), "PNG"),
    }


@functools.lru_cache(maxsize=None)
def original_bytes(key: str) -> bytes:
    """The full, valid encoding that truncated and fuzzed cases start from (``Case.origin``)."""
    return _bytes_table()[key]()


# format label -> (original key, suffix, magic byte positions)
_FORMATS: dict[str, tuple[str, str, tuple[int, ...]]] = {
    "jpeg": ("face.jpeg", ".jpg", (0, 1, 2)),
    "jpeg-progressive": ("face.progressive.jpeg", ".jpeg", (0, 1, 2)),
    "png": ("face.png", ".png", tuple(range(8))),
    "bmp": ("face.bmp", ".bmp", (0, 1)),
    "webp": ("face.webp", ".webp", (0, 1, 2, 3, 8, 9, 10, 11)),
    "webp-lossless": ("face.lossless.webp", ".webp", (0, 1, 2, 3, 8, 9, 10, 11)),
    "tiff": ("face.tiff", ".tif", (0, 1, 2, 3)),
    "tiff-lzw": ("face.lzw.tiff", ".tiff", (0, 1, 2, 3)),
}


def _header_range(label: str, data: bytes) -> tuple[int, int]:
    """(start, end) of the bytes that describe the image (after the magic, before the pixel data)."""
    if label.startswith("jpeg"):
        i = data.index(b"\xff\xda")  # start of scan
        return 3, i + 2 + struct.unpack(">H", data[i + 2 : i + 4])[0]
    if label == "png":
        pos = 8
        while True:
            length, ctype = struct.unpack(">I4s", data[pos : pos + 8])
            if ctype == b"IDAT":
                return 8, pos + 8
            pos += 12 + length
    if label == "bmp":
        return 2, struct.unpack("<I", data[10:14])[0]
    if label.startswith("webp"):
        return 12, 12 + 8 + (10 if data[12:16] == b"VP8 " else 5)
    if label.startswith("tiff"):
        ifd = struct.unpack("<I", data[4:8])[0]
        n = struct.unpack("<H", data[ifd : ifd + 2])[0]
        if ifd == 8:  # IFD before the pixels
            return 4, 8 + 2 + 12 * n + 4
        return ifd, ifd + 2 + 12 * n + 4  # IFD after the pixels (LZW): fuzz the IFD itself
    raise KeyError(label)


def _pixel_start(label: str, data: bytes) -> int:
    if label.startswith("tiff"):
        with Image.open(io.BytesIO(data)) as im:
            return int(min(im.tag_v2[273]))
    return _header_range(label, data)[1]


def _cut(key: str, label: str, where: str) -> Callable[[], bytes]:
    def make() -> bytes:
        data = original_bytes(key)
        n = _pixel_start(label, data) if where == "header" else len(data) * int(where.removesuffix("pct")) // 100
        return data[:n]

    return make


def _seed(*parts: object) -> int:
    return zlib.crc32("/".join(map(str, parts)).encode())


def _fuzz(key: str, label: str, variant: str, seed: int) -> Callable[[], bytes]:
    """Flip bytes deterministically: 'magic' (one in the magic + 3 in the header),
    'header' (4 in the header, magic intact) or 'body' (16 in the pixel data)."""

    def make() -> bytes:
        data = bytearray(original_bytes(key))
        magic = _FORMATS[label][2]
        start, end = _header_range(label, bytes(data))
        rng = np.random.default_rng(seed)
        header = [i for i in range(start, end) if i not in magic]
        if variant == "magic":
            pos = [int(rng.choice(magic))] + [int(p) for p in rng.choice(header, size=3, replace=False)]
        elif variant == "header":
            pos = [int(p) for p in rng.choice(header, size=4, replace=False)]
        else:
            body_start = _pixel_start(label, bytes(data))
            pos = [int(p) for p in rng.choice(np.arange(body_start, len(data) - 2), size=16, replace=False)]
        for p, v in zip(pos, rng.integers(1, 256, size=len(pos))):
            data[p] ^= int(v)
        return bytes(data)

    return make


# --------------------------------------------------------------------------- hand-written containers

PNG_SIGNATURE = b"\x89PNG\r\n\x1a\n"


def _png_chunk(ctype: bytes, data: bytes) -> bytes:
    return struct.pack(">I", len(data)) + ctype + data + struct.pack(">I", zlib.crc32(ctype + data) & 0xFFFFFFFF)


def _png(width: int, height: int, bit_depth: int, color_type: int, idat: bytes, extra: Iterable[bytes] = ()) -> bytes:
    ihdr = struct.pack(">IIBBBBB", width, height, bit_depth, color_type, 0, 0, 0)
    return (
        PNG_SIGNATURE + _png_chunk(b"IHDR", ihdr) + b"".join(extra)
        + _png_chunk(b"IDAT", idat) + _png_chunk(b"IEND", b"")
    )  # fmt: skip


def _png16(arr: np.ndarray, color_type: int) -> bytes:
    """(H, W[, C]) uint16 -> a 16-bit PNG (gray 0, RGB 2, gray+alpha 4, RGBA 6)."""
    h, w = arr.shape[:2]
    rows = arr.astype(">u2").reshape(h, -1).view(np.uint8)
    raw = np.concatenate([np.zeros((h, 1), np.uint8), rows], axis=1).tobytes()
    return _png(w, h, 16, color_type, zlib.compress(raw, 9))


def _png_gray_bits(gray: np.ndarray, bits: int) -> bytes:
    """(H, W) uint8 -> a gray PNG with 1, 2 or 4 bits per pixel."""
    h, w = gray.shape
    q = (gray.astype(np.uint16) * ((1 << bits) - 1) + 127) // 255
    per_byte = 8 // bits
    padded = np.zeros((h, -(-w // per_byte) * per_byte), np.uint16)
    padded[:, :w] = q
    groups = padded.reshape(h, -1, per_byte)
    packed = np.zeros(groups.shape[:2], np.uint16)
    for k in range(per_byte):
        packed |= groups[:, :, k] << (8 - bits * (k + 1))
    raw = np.concatenate([np.zeros((h, 1), np.uint16), packed], axis=1).astype(np.uint8).tobytes()
    return _png(w, h, bits, 0, zlib.compress(raw, 9))


def _png_bomb(width: int, height: int, rows: int | None) -> bytes:
    """A 1-bit black PNG declaring width x height. rows=None: every row really is there
    (a true decompression bomb, ~110 KB for 30000x30000); else only that many rows."""
    row = bytes(1 + -(-width // 8))
    if rows is not None:
        return _png(width, height, 1, 0, zlib.compress(row * rows, 9))
    comp = zlib.compressobj(9)
    block = row * 250
    parts = [comp.compress(block) for _ in range(height // 250)]
    parts.append(comp.compress(row * (height % 250)))
    parts.append(comp.flush())
    return _png(width, height, 1, 0, b"".join(parts))


def _png_white_1bit(width: int, height: int) -> bytes:
    row = b"\x00" + b"\xff" * (-(-width // 8))
    comp = zlib.compressobj(9)
    parts = [comp.compress(row * 100) for _ in range(height // 100)]
    parts += [comp.compress(row * (height % 100)), comp.flush()]
    return _png(width, height, 1, 0, b"".join(parts))


def _png_with_text_bomb(megabytes: int) -> bytes:
    """The face PNG with a zTXt chunk that inflates to `megabytes` MB."""
    data = original_bytes("face.png")
    ztxt = _png_chunk(b"zTXt", b"Comment\x00\x00" + zlib.compress(b"A" * (megabytes << 20), 9))
    return data[:33] + ztxt + data[33:]


def _jpeg_declaring(width: int, height: int) -> bytes:
    """The face JPEG with its SOF0 frame header patched to declare width x height."""
    data = bytearray(original_bytes("face.jpeg"))
    i = data.index(b"\xff\xc0")
    data[i + 5 : i + 9] = struct.pack(">HH", height, width)
    return bytes(data)


def _bmp_declaring(width: int, height: int) -> bytes:
    pixels = bytes(64)
    info = struct.pack("<IiiHHIIiiII", 40, width, height, 1, 24, 0, 0, 2835, 2835, 0, 0)
    head = b"BM" + struct.pack("<IHHI", 14 + len(info) + len(pixels), 0, 0, 14 + len(info))
    return head + info + pixels


def _ifd_entry(tag: int, typ: int, count: int, value: int | bytes, endian: str = "<") -> bytes:
    if isinstance(value, bytes):
        raw = value.ljust(4, b"\x00")
    elif typ == 3:
        raw = struct.pack(endian + "HH", value, 0)
    else:
        raw = struct.pack(endian + "I", value)
    return struct.pack(endian + "HHI", tag, typ, count) + raw


def _tiff_declaring(width: int, height: int) -> bytes:
    pixels = bytes(64)
    n = 9
    data_offset = 8 + 2 + 12 * n + 4
    entries = [
        (256, 4, 1, width), (257, 4, 1, height), (258, 3, 1, 8), (259, 3, 1, 1), (262, 3, 1, 1),
        (273, 4, 1, data_offset), (277, 3, 1, 1), (278, 4, 1, height), (279, 4, 1, len(pixels)),
    ]  # fmt: skip
    ifd = struct.pack("<H", n) + b"".join(_ifd_entry(*e) for e in entries) + struct.pack("<I", 0)
    return b"II*\x00" + struct.pack("<I", 8) + ifd + pixels


def _riff_chunk(ctype: bytes, data: bytes) -> bytes:
    return ctype + struct.pack("<I", len(data)) + data + (b"\x00" if len(data) % 2 else b"")


def _webp_canvas(width: int, height: int) -> bytes:
    """An extended WebP whose VP8X canvas is width x height, holding a 1x1 image."""
    tiny = _enc(Image.new("RGB", (1, 1), (128, 128, 128)), "WEBP", lossless=True)
    vp8l = tiny[12:]  # the VP8L chunk, header included
    vp8x = _riff_chunk(b"VP8X", bytes(4) + (width - 1).to_bytes(3, "little") + (height - 1).to_bytes(3, "little"))
    body = b"WEBP" + vp8x + vp8l
    return b"RIFF" + struct.pack("<I", len(body)) + body


def _exif(entries: list[bytes], *, endian: str = "<", ifd_offset: int = 8, count: int | None = None,
          next_ifd: int = 0, header: bytes | None = None, tail: bytes = b"") -> bytes:  # fmt: skip
    """An APP1 Exif payload (b'Exif\\0\\0' + a TIFF structure), malformed on request."""
    magic = header if header is not None else (b"II*\x00" if endian == "<" else b"MM\x00*")
    ifd = struct.pack(endian + "H", len(entries) if count is None else count) + b"".join(entries)
    return b"Exif\x00\x00" + magic + struct.pack(endian + "I", ifd_offset) + ifd + struct.pack(endian + "I", next_ifd) + tail


# EXIF orientation -> the transpose that *undoes* what a viewer applies, so that the stored
# pixels look wrong and applying the orientation (ImageOps.exif_transpose) gives the upright face.
_T = Image.Transpose
_STORE_FOR_ORIENTATION = {
    1: None, 2: _T.FLIP_LEFT_RIGHT, 3: _T.ROTATE_180, 4: _T.FLIP_TOP_BOTTOM,
    5: _T.TRANSPOSE, 6: _T.ROTATE_90, 7: _T.TRANSVERSE, 8: _T.ROTATE_270,
}  # fmt: skip


def stored_for_orientation(img: Image.Image, orientation: int) -> Image.Image:
    """The pixels to store with EXIF `orientation` so that a viewer shows `img` upright."""
    op = _STORE_FOR_ORIENTATION.get(orientation)
    return img.copy() if op is None else img.transpose(op)


def _jpeg_with_orientation(orientation: int, fmt: str = "JPEG") -> bytes:
    exif = Image.Exif()
    exif[0x0112] = orientation
    stored = stored_for_orientation(_face(), orientation)
    if fmt == "TIFF":
        return _enc(stored, "TIFF", tiffinfo={0x0112: orientation})
    kw = {"quality": 90} if fmt in ("JPEG", "WEBP") else {}
    return _enc(stored, fmt, exif=exif.tobytes(), **kw)


def _jpeg_raw_exif(payload: bytes, orientation_of_pixels: int = 1) -> bytes:
    return _enc(stored_for_orientation(_face(), orientation_of_pixels), "JPEG", quality=90, exif=payload)


# --------------------------------------------------------------------------- picture builders


def _grid(n: int, cell_w: int, cell_h: int) -> Image.Image:
    cell = _face().resize((cell_w, cell_h), Image.Resampling.LANCZOS)
    out = Image.new("RGB", (n * cell_w, n * cell_h), (255, 255, 255))
    for r in range(n):
        for c in range(n):
            out.paste(cell, (c * cell_w, r * cell_h))
    return out


def _pair() -> Image.Image:
    a, b = _face(), _face2()
    out = Image.new("RGB", (a.width + b.width, max(a.height, b.height)), (255, 255, 255))
    out.paste(a, (0, 0))
    out.paste(b, (a.width, 0))
    return out


def _shifted(dx: int, dy: int) -> Image.Image:
    """The face moved by (dx, dy) inside a frame of the same size: part of it is cut off."""
    f = _face()
    out = Image.new("RGB", f.size, (255, 255, 255))
    out.paste(f, (dx, dy))
    return out


def _on_canvas(size: tuple[int, int], face_long_side: int) -> Image.Image:
    f = _downscale(_face(), face_long_side)
    out = Image.new("RGB", size, (255, 255, 255))
    out.paste(f, ((size[0] - f.width) // 2, (size[1] - f.height) // 2))
    return out


def _alpha_border(size: tuple[int, int], border: int = 16) -> Image.Image:
    a = Image.new("L", size, 0)
    a.paste(255, (border, border, size[0] - border, size[1] - border))
    return a


def _with_alpha(mode: str) -> Image.Image:
    base = _face().convert("L" if mode == "LA" else "RGB")
    base.putalpha(_alpha_border(base.size))
    return base


def _palette_with_transparency() -> bytes:
    q = _face().quantize(255)  # indices 0..254; 255 is the transparent border
    arr = np.array(q)
    arr[:8, :] = 255
    arr[-8:, :] = 255
    arr[:, :8] = 255
    arr[:, -8:] = 255
    out = Image.frombytes("P", q.size, arr.tobytes())
    pal = q.getpalette()[: 255 * 3] + [0, 255, 0]
    out.putpalette(pal)
    return _enc(out, "PNG", transparency=255)


def _float_tiff(arr: np.ndarray) -> bytes:
    return _enc(Image.fromarray(arr.astype(np.float32)), "TIFF")


def _int32_tiff(arr: np.ndarray) -> bytes:
    return _enc(Image.fromarray(arr.astype(np.int32)), "TIFF")


def _face_nan_inf() -> np.ndarray:
    f = _face_gray().astype(np.float32) / 255.0
    f[:4, :] = np.nan  # a NaN band at the top
    f[:, -3:] = np.inf  # +inf band at the right
    rng = np.random.default_rng(11)
    ys, xs = rng.integers(0, f.shape[0], 60), rng.integers(0, f.shape[1], 60)
    f[ys[:20], xs[:20]] = np.nan
    f[ys[20:40], xs[20:40]] = np.inf
    f[ys[40:], xs[40:]] = -np.inf
    return f


def _stripes_1bit() -> Image.Image:
    x = np.arange(120)[None, :]
    y = np.arange(90)[:, None]
    return Image.fromarray((((x // 6 + y // 6) % 2) * 255).astype(np.uint8)).convert("1")


def _animated(frames: list[Image.Image], fmt: str, **kw) -> bytes:
    return _enc(frames[0], fmt, save_all=True, append_images=frames[1:], duration=100, loop=0, **kw)


def _plain(color: tuple[int, int, int]) -> Image.Image:
    return Image.new("RGB", _face().size, color)


def _noise_rgb(seed: int, size: tuple[int, int]) -> Image.Image:
    rng = np.random.default_rng(seed)
    return Image.fromarray(rng.integers(0, 256, (size[1], size[0], 3), dtype=np.uint8))


def _noisy_face() -> Image.Image:
    rng = np.random.default_rng(5)
    a = np.asarray(_face()).astype(np.float64) + rng.normal(0, 40, (_face().height, _face().width, 3))
    return Image.fromarray(np.clip(a, 0, 255).astype(np.uint8))


# --------------------------------------------------------------------------- case makers


def _writer(make: Callable[[], bytes]) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        path.write_bytes(make())

    return build


def _symlink(target: str) -> Callable[[Path], None]:
    def build(path: Path) -> None:
        if os.path.lexists(path):
            os.unlink(path)
        os.symlink(target, path)

    return build


def _fifo(path: Path) -> None:
    if not os.path.lexists(path):
        os.mkfifo(path)


def _empty_dir(path: Path) -> None:
    path.mkdir(exist_ok=True)


def _unreadable(path: Path) -> None:
    path.write_bytes(original_bytes("face.jpeg"))
    path.chmod(0)


_HAS_SYMLINK = os.name == "posix" and hasattr(os, "symlink")
_HAS_FIFO = hasattr(os, "mkfifo")
_HAS_DEVNULL = os.name == "posix" and os.path.exists("/dev/null")
_CAN_BE_UNREADABLE = os.name == "posix" and hasattr(os, "geteuid") and os.geteuid() != 0  # root reads anything
_BYTES_NAMES = sys.platform.startswith("linux") and sys.getfilesystemencoding().lower() in ("utf-8", "utf8")

LONG_STEM = "long-" + "n" * 235  # 240 characters


def _all() -> list[tuple[bool, Case]]:
    """Every case, each with whether it belongs to the fast subset."""
    out: list[tuple[bool, Case]] = []

    def add(sub: bool, name: str, kind: str, expect: str, reason: str = "", make=None, build=None, **kw) -> None:
        builder = build if build is not None else _writer(make)
        out.append((sub and not kw.get("slow", False), Case(name, kind, expect, reason, builder, **kw)))

    jpeg_of = lambda img_fn, **kw: (lambda: _enc(img_fn(), "JPEG", quality=90, **kw))  # noqa: E731
    png_of = lambda img_fn, **kw: (lambda: _enc(img_fn(), "PNG", **kw))  # noqa: E731

    # ---- empty: zero bytes with every image suffix
    for suffix in IMAGE_SUFFIXES:
        add(suffix in (".jpg", ".png", ".tiff"), f"empty{suffix}", "empty", "failed", R_EMPTY, lambda: b"")

    # ---- truncated: every format at several cut points
    subset_cuts = {("jpeg", "header"), ("jpeg", "50pct"), ("png", "90pct"), ("webp", "50pct"),
                   ("tiff", "50pct"), ("tiff-lzw", "90pct")}  # fmt: skip
    for label, (key, suffix, _magic) in _FORMATS.items():
        for where in ("header", "1pct", "10pct", "25pct", "50pct", "75pct", "90pct", "99pct"):
            add((label, where) in subset_cuts, f"trunc_{label}_{where}{suffix}", "truncated", "failed", R_TRUNCATED,
                _cut(key, label, where), origin=key)  # fmt: skip

    # ---- random bytes with image suffixes, and random bytes behind a real magic number
    for size in (1, 7, 100, 4096, 65536):
        for suffix in IMAGE_SUFFIXES:
            seed = _seed("random", size, suffix)
            add((size, suffix) == (4096, ".jpg"), f"random_{size}{suffix}", "random", "failed", R_GARBAGE,
                (lambda n=size, s=seed: np.random.default_rng(s).bytes(n)))  # fmt: skip
    magics = {"jpeg": (b"\xff\xd8\xff\xe0", ".jpg"), "png": (PNG_SIGNATURE, ".png"), "bmp": (b"BM", ".bmp"),
              "webp": (b"RIFF\x00\x10\x00\x00WEBPVP8 ", ".webp"), "tiff": (b"II*\x00", ".tif")}  # fmt: skip
    for label, (magic, suffix) in magics.items():
        for size in (64, 4096):
            seed = _seed("magic", label, size)
            add((label, size) == ("png", 4096), f"random_{label}-magic_{size}{suffix}", "random", "failed", R_GARBAGE,
                (lambda m=magic, n=size, s=seed: m + np.random.default_rng(s).bytes(n)))  # fmt: skip

    # ---- fuzzed: flipped header bytes (seeded)
    subset_fuzz = {("jpeg", "magic", 0), ("png", "header", 0), ("jpeg", "header", 0)}
    for label, (key, suffix, _magic) in _FORMATS.items():
        for variant, n in (("magic", 3), ("header", 3), ("body", 2)):
            for i in range(n):
                # Damaged magic: never an image. Damaged PNG header: the IHDR checksum fails.
                # Other header or pixel damage may still decode (to a face or to garbage): "any".
                sure = variant == "magic" or (variant == "header" and label == "png")
                add((label, variant, i) in subset_fuzz, f"fuzz_{label}_{variant}_s{i}{suffix}", "fuzzed",
                    "failed" if sure else "any", R_GARBAGE if sure else "",
                    _fuzz(key, label, variant, _seed("fuzz", label, variant, i)), origin=key)  # fmt: skip

    # ---- wrong extensions: the content decides
    text = b"This is not an image.\nIt is a text file with an image suffix.\n" * 8
    add(True, "png_named.jpg", "wrong-ext", "drawn", make=lambda: original_bytes("face.png"))
    add(True, "jpeg_named.png", "wrong-ext", "drawn", make=lambda: original_bytes("face.jpeg"))
    add(True, "text_named.jpg", "wrong-ext", "failed", R_NOT_IMAGE, lambda: text)
    add(False, "noface_png_named.webp", "wrong-ext", "failed", R_NO_FACE, lambda: original_bytes("noface.png"))
    add(False, "bmp_named.tiff", "wrong-ext", "drawn", make=lambda: original_bytes("face.bmp"))
    add(False, "tiff_named.jpeg", "wrong-ext", "drawn", make=lambda: original_bytes("face.tiff"))
    add(False, "webp_named.bmp", "wrong-ext", "drawn", make=lambda: original_bytes("face.webp"))
    add(False, "jpeg_named.tif", "wrong-ext", "drawn", make=lambda: original_bytes("face.jpeg"))
    add(False, "gif_named.png", "wrong-ext", "drawn", make=lambda: original_bytes("face.gif"))
    add(False, "html_named.png", "wrong-ext", "failed", R_NOT_IMAGE,
        lambda: b"<!DOCTYPE html>\n<html><body><img src='face.jpg'></body></html>\n")  # fmt: skip
    add(False, "svg_named.png", "wrong-ext", "failed", R_NOT_IMAGE,
        lambda: b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg" width="64" height="64">'
                b'<circle cx="32" cy="32" r="30"/></svg>\n')  # fmt: skip
    add(False, "pdf_named.jpg", "wrong-ext", "failed", R_NOT_IMAGE,
        lambda: b"%PDF-1.4\n1 0 obj << /Type /Catalog >> endobj\ntrailer << /Root 1 0 R >>\n%%EOF\n")  # fmt: skip

    # ---- image modes
    g = _face_gray
    add(True, "mode_cmyk.jpg", "mode", "drawn", make=lambda: _enc(_face().convert("CMYK"), "JPEG", quality=90))
    add(False, "mode_L.jpg", "mode", "drawn", make=lambda: _enc(_face().convert("L"), "JPEG", quality=90))
    add(True, "mode_I16.png", "mode", "drawn", make=lambda: _enc(Image.fromarray(g().astype(np.uint16) * 257), "PNG"))
    add(False, "mode_I16_noface.png", "mode", "failed", R_NO_FACE,
        lambda: _enc(Image.fromarray(np.asarray(_gradient(120, 90)).astype(np.uint16) * 257), "PNG"))  # fmt: skip
    add(False, "mode_rgb48.png", "mode", "drawn", make=lambda: _png16(np.asarray(_face()).astype(np.uint16) * 257, 2))
    add(False, "mode_rgba64.png", "mode", "drawn",
        make=lambda: _png16(np.asarray(_with_alpha("RGBA")).astype(np.uint16) * 257, 6))  # fmt: skip
    add(False, "mode_LA16.png", "mode", "drawn",
        make=lambda: _png16(np.asarray(_with_alpha("LA")).astype(np.uint16) * 257, 4))  # fmt: skip
    add(False, "mode_gray2bit.png", "mode", "any", make=lambda: _png_gray_bits(g(), 2), note="4 gray levels")
    add(False, "mode_gray4bit.png", "mode", "drawn", make=lambda: _png_gray_bits(g(), 4))
    add(True, "mode_1bit_noface.png", "mode", "failed", R_NO_FACE, png_of(_stripes_1bit))
    add(False, "mode_1bit_noface.bmp", "mode", "failed", R_NO_FACE, lambda: _enc(_stripes_1bit(), "BMP"))
    add(False, "mode_1bit_face.png", "mode", "any", make=png_of(lambda: _face().convert("1")), note="dithered face")
    add(True, "mode_P.png", "mode", "drawn", make=png_of(lambda: _face().quantize(64)))
    add(False, "mode_P_4bit.png", "mode", "drawn", make=png_of(lambda: _face().quantize(16), bits=4))
    add(False, "mode_P_transparency.png", "mode", "drawn", make=_palette_with_transparency)
    add(True, "mode_LA.png", "mode", "drawn", make=png_of(lambda: _with_alpha("LA")))
    add(True, "mode_RGBA.png", "mode", "drawn", make=png_of(lambda: _with_alpha("RGBA")))
    add(False, "mode_RGBA.webp", "mode", "drawn", make=lambda: _enc(_with_alpha("RGBA"), "WEBP", quality=90))
    add(False, "mode_RGBA_transparent.png", "mode", "failed", R_NO_FACE,
        png_of(lambda: Image.merge("RGBA", (*_face().split(), Image.new("L", _face().size, 0)))),
        note="face pixels under alpha 0: composited on white, nothing shows")  # fmt: skip
    add(False, "mode_rgba32.bmp", "mode", "drawn", make=lambda: _enc(_with_alpha("RGBA"), "BMP"))
    add(True, "mode_I16.tiff", "mode", "drawn", make=lambda: _enc(Image.fromarray(g().astype(np.uint16) * 257), "TIFF"))
    add(False, "mode_I16B.tiff", "mode", "drawn",
        make=lambda: _enc(Image.frombytes("I;16B", _face().size, (g().astype(np.uint16) * 257).astype(">u2").tobytes()), "TIFF"))  # fmt: skip
    add(True, "mode_F.tiff", "mode", "drawn", make=lambda: _float_tiff(g() / 255.0))
    add(True, "mode_F_nan_inf.tiff", "mode", "drawn", make=lambda: _float_tiff(_face_nan_inf()),
        note="face from the photo; NaN/inf bands and specks must not black out the finite pixels")  # fmt: skip
    add(False, "mode_F_huge.tiff", "mode", "drawn", make=lambda: _float_tiff(g() * 1e30))
    add(False, "mode_F_negative.tiff", "mode", "drawn", make=lambda: _float_tiff(g() / 255.0 - 1.0))
    add(False, "mode_F_constant.tiff", "mode", "failed", R_NO_FACE, lambda: _float_tiff(np.full((90, 120), 0.5)))
    add(True, "mode_I32_negative.tiff", "mode", "drawn",
        make=lambda: _int32_tiff((g().astype(np.int64) - 128) * (1 << 20)),
        note="face from the photo, values -2^27..2^27: half of them negative")  # fmt: skip
    add(False, "mode_I32_all_negative.tiff", "mode", "drawn", make=lambda: _int32_tiff(g().astype(np.int64) * 1000 - (1 << 30)))
    add(False, "mode_I32_small.tiff", "mode", "any", make=lambda: _int32_tiff(g()),
        note="32-bit ints holding 0..255: black by the type's range, a face by the data's")  # fmt: skip
    add(False, "mode_cmyk.tiff", "mode", "drawn", make=lambda: _enc(_face().convert("CMYK"), "TIFF"))
    add(False, "mode_YCbCr.tiff", "mode", "drawn", make=lambda: _enc(_face().convert("YCbCr"), "TIFF"))
    add(False, "mode_LAB.tiff", "mode", "any", make=lambda: _enc(Image.frombytes("LAB", _face().size, _face().convert("LAB").tobytes()), "TIFF"),
        note="rebuilt from bytes: Pillow's LAB conversion attaches an ICC profile stamped with the time")

    # ---- extreme sizes and aspect ratios (no face can fit)
    for (w, h), suffix, sub in (
        ((1, 1), ".png", True), ((1, 1), ".jpg", False), ((1, 20000), ".png", True), ((20000, 1), ".png", False),
        ((10000, 10), ".png", False), ((16, 16), ".png", False), ((3000, 10), ".jpg", True), ((2, 2), ".bmp", False),
        ((1, 65500), ".jpg", False), ((65500, 1), ".jpg", False), ((3, 5000), ".webp", False),
    ):  # fmt: skip
        fmt = {".png": "PNG", ".jpg": "JPEG", ".bmp": "BMP", ".webp": "WEBP"}[suffix]
        img_fn = (lambda w=w, h=h, fmt=fmt: _enc(_gradient(w, h).convert("RGB") if fmt != "PNG" else _gradient(w, h), fmt))
        add(sub, f"extreme_{w}x{h}{suffix}", "extreme", "failed", R_EXTREME, img_fn)
    add(False, "extreme_face_16px.png", "extreme", "failed", R_EXTREME, png_of(lambda: _downscale(_face(), 16)))
    add(False, "extreme_face_32px.png", "extreme", "any", make=png_of(lambda: _downscale(_face(), 32)))
    add(False, "extreme_face_in_4096x256.png", "extreme", "any", make=png_of(lambda: _on_canvas((4096, 256), 256)))
    add(False, "extreme_face_in_256x4096.png", "extreme", "any", make=png_of(lambda: _on_canvas((256, 4096), 256)))

    # ---- decompression bombs: refused from the header, before decoding
    add(True, "bomb_png_30000x30000.png", "bomb", "failed", R_BOMB, lambda: _png_bomb(30000, 30000, rows=4),
        note="header declares 900 megapixels; only 4 rows of data")  # fmt: skip
    add(True, "bomb_jpeg_65500x65500.jpg", "bomb", "failed", R_BOMB, lambda: _jpeg_declaring(65500, 65500))
    add(True, "bomb_over_limit_8200x8200.png", "bomb", "failed", R_BOMB, lambda: _png_bomb(8200, 8200, rows=4),
        note="67 megapixels: over apdraw's default --max-pixels (64 MP), under Pillow's own bomb limit")  # fmt: skip
    add(False, "bomb_png_30000x30000_real.png", "bomb", "failed", R_BOMB, lambda: _png_bomb(30000, 30000, rows=None),
        slow=True, note="every row present: ~110 KB that inflate to 112 MB of 1-bit pixels")  # fmt: skip
    add(False, "bomb_png_2147483647x1.png", "bomb", "failed", R_BOMB_OR_CORRUPT, lambda: _png_bomb(2**31 - 1, 1, rows=0))
    add(False, "bomb_bmp_60000x60000.bmp", "bomb", "failed", R_BOMB_OR_CORRUPT, lambda: _bmp_declaring(60000, 60000))
    add(False, "bomb_tiff_100000x100000.tif", "bomb", "failed", R_BOMB_OR_CORRUPT, lambda: _tiff_declaring(100000, 100000))
    add(False, "bomb_webp_canvas_16383x16383.webp", "bomb", "failed", R_BOMB_OR_CORRUPT, lambda: _webp_canvas(16383, 16383),
        note="VP8X canvas of 268 megapixels around a 1x1 image")  # fmt: skip
    add(False, "bomb_png_ztxt_20mb.png", "bomb", "any", make=lambda: _png_with_text_bomb(20),
        note="the face PNG plus a zTXt comment inflating to 20 MB: drawn (metadata ignored) or refused")  # fmt: skip
    add(False, "bomb_large_legal_7900x7900.png", "bomb", "failed", R_NO_FACE, lambda: _png_white_1bit(7900, 7900),
        slow=True, note="62 megapixels, just under the default limit, plain white: decoded, no face")  # fmt: skip

    # ---- animated: the first frame (a face) is drawn
    frames = lambda: [_face(), _plain((128, 128, 128)), _noise_rgb(3, _face().size)]  # noqa: E731
    add(True, "animated.gif", "animated", "drawn", make=lambda: _animated(frames(), "GIF"))
    add(True, "animated.webp", "animated", "drawn", make=lambda: _animated(frames(), "WEBP", quality=80))
    add(True, "animated_apng.png", "animated", "drawn", make=lambda: _animated(frames(), "PNG"))
    add(False, "animated_apng_default_image.png", "animated", "drawn",
        make=lambda: _animated(frames(), "PNG", default_image=True),
        note="APNG whose default image (the face) is not part of the animation")  # fmt: skip
    add(False, "animated_lossless.webp", "animated", "drawn",
        make=lambda: _animated([_face(), _face().transpose(_T.FLIP_LEFT_RIGHT)], "WEBP", lossless=True))  # fmt: skip
    add(False, "animated_face_in_second_frame.gif", "animated", "any",
        make=lambda: _animated([_plain((128, 128, 128)), _face()], "GIF"),
        note="first frame blank; drawing it fails with no face, drawing the face is fine too")  # fmt: skip

    # ---- EXIF orientation: stored pixels look wrong, applying the orientation makes them upright
    for o in range(1, 9):
        add(o in (3, 6), f"exif_orientation_{o}.jpg", "exif", "drawn", make=functools.partial(_jpeg_with_orientation, o))
    add(False, "exif_orientation_6.png", "exif", "drawn", make=functools.partial(_jpeg_with_orientation, 6, "PNG"))
    add(False, "exif_orientation_8.webp", "exif", "drawn", make=functools.partial(_jpeg_with_orientation, 8, "WEBP"))
    add(False, "exif_orientation_3.tiff", "exif", "drawn", make=functools.partial(_jpeg_with_orientation, 3, "TIFF"))
    add(False, "exif_orientation_6_big_endian.jpg", "exif", "drawn",
        make=lambda: _jpeg_raw_exif(_exif([_ifd_entry(0x0112, 3, 1, 6, ">")], endian=">"), 6))  # fmt: skip
    add(False, "exif_orientation_6_long.jpg", "exif", "drawn",
        make=lambda: _jpeg_raw_exif(_exif([_ifd_entry(0x0112, 4, 1, 6)]), 6), note="orientation stored as LONG")  # fmt: skip
    # malformed EXIF (the pixels are upright unless the name says otherwise): never fails the photo
    add(True, "exif_garbage.jpg", "exif", "drawn",
        make=lambda: _jpeg_raw_exif(b"Exif\x00\x00" + np.random.default_rng(1).bytes(200)))  # fmt: skip
    add(True, "exif_ifd_loop.jpg", "exif", "drawn",
        make=lambda: _jpeg_raw_exif(_exif([_ifd_entry(0x0112, 3, 1, 6), _ifd_entry(0x8769, 4, 1, 8)], next_ifd=8), 6),
        note="orientation 6 (pixels stored rotated); the Exif sub-IFD and the next IFD point back at IFD0")  # fmt: skip
    add(False, "exif_empty.jpg", "exif", "drawn", make=lambda: _jpeg_raw_exif(b"Exif\x00\x00"))
    # (no orientation entry in the unreadable IFDs below: a lenient parser must not find a rotation there)
    make_tag = _ifd_entry(0x010F, 2, 4, b"abc\x00")  # Make = "abc"
    add(False, "exif_bad_tiff_header.jpg", "exif", "drawn",
        make=lambda: _jpeg_raw_exif(_exif([make_tag], header=b"XX*\x00")))  # fmt: skip
    add(False, "exif_ifd_offset_out_of_range.jpg", "exif", "drawn", make=lambda: _jpeg_raw_exif(_exif([], ifd_offset=0xFFFFFF00)))
    add(False, "exif_huge_entry_count.jpg", "exif", "drawn",
        make=lambda: _jpeg_raw_exif(_exif([make_tag], count=0xFFFF)))  # fmt: skip
    for value in (0, 9, 65535):
        add(False, f"exif_orientation_value_{value}.jpg", "exif", "drawn",
            make=functools.partial(lambda v: _jpeg_raw_exif(_exif([_ifd_entry(0x0112, 3, 1, v)])), value))  # fmt: skip
    add(False, "exif_orientation_ascii.jpg", "exif", "drawn",
        make=lambda: _jpeg_raw_exif(_exif([_ifd_entry(0x0112, 2, 4, b"abc\x00")])))  # fmt: skip

    # ---- faces
    add(True, "face.jpg", "face", "drawn", make=lambda: original_bytes("face.jpeg"))
    add(False, "astronaut.png", "face", "drawn", make=png_of(_face2))
    add(True, "face_grid_2x2.jpg", "face", "drawn", make=jpeg_of(lambda: _grid(2, 218, 256)))
    add(False, "face_grid_6x6_tiny.jpg", "face", "any", make=jpeg_of(lambda: _grid(6, 36, 42)))
    for deg, op in ((90, _T.ROTATE_90), (180, _T.ROTATE_180), (270, _T.ROTATE_270)):
        add(deg == 180, f"face_rot{deg}.jpg", "face", "any", make=jpeg_of(lambda op=op: _face().transpose(op)))
    for side, (dx, dy) in (("right", (109, 0)), ("left", (-109, 0)), ("bottom", (0, 128)), ("top", (0, -128))):
        add(side == "right", f"face_half_outside_{side}.jpg", "face", "any", make=jpeg_of(lambda dx=dx, dy=dy: _shifted(dx, dy)))
    add(False, "face_mirrored.jpg", "face", "drawn", make=jpeg_of(lambda: _face().transpose(_T.FLIP_LEFT_RIGHT)))
    add(False, "face_small_in_1024.png", "face", "any", make=png_of(lambda: _on_canvas((1024, 1024), 40)))
    add(False, "face_upscaled_2048.jpg", "face", "drawn", make=jpeg_of(lambda: _downscale(_face(), 2048)))
    add(False, "face_negative.jpg", "face", "any", make=jpeg_of(lambda: ImageOps.invert(_face())))
    add(False, "face_dark.jpg", "face", "any", make=jpeg_of(lambda: _face().point(lambda v: v * 15 // 100)))
    add(False, "face_noisy.jpg", "face", "any", make=jpeg_of(_noisy_face))
    add(False, "face_blurred.jpg", "face", "any", make=jpeg_of(lambda: _face().filter(ImageFilter.GaussianBlur(4))))
    add(True, "no_face_gradient.png", "face", "failed", R_NO_FACE, png_of(lambda: _gradient(256, 192)))
    add(False, "no_face_landscape.jpg", "face", "failed", R_NO_FACE, jpeg_of(_landscape))
    add(False, "no_face_white.png", "face", "failed", R_NO_FACE, png_of(lambda: _plain((255, 255, 255))))
    add(False, "no_face_black.jpg", "face", "failed", R_NO_FACE, jpeg_of(lambda: _plain((0, 0, 0))))
    add(False, "no_face_noise.png", "face", "failed", R_NO_FACE, png_of(lambda: _noise_rgb(9, (256, 192))))

    # ---- odd names: all faces, all drawn
    fj = lambda: original_bytes("face.jpeg")  # noqa: E731
    for name, sub in (
        ("with space.jpg", True), ("Ünïcødé 写真.jpg", True), (LONG_STEM + ".jpg", True), ("-x.jpg", True),
        ("john.smith.jpg", True), ("john.doe.jpg", True), ("p.jpg", True), ("p_color.jpg", True),
        ("pair_face0.jpg", True), ("--help.jpg", False), ("UPPER.JPG", False), ("Mixed.JpEg", False),
        (" leading space.jpg", False), ("trailing space .jpg", False), ("emoji 😀.jpg", False),
        ("quote'double\"semi;amp&.jpg", False), ("back\\slash.jpg", False), ("dollar $HOME.jpg", False),
        ("star*glob?[x].jpg", False), ("percent %s %n.jpg", False), ("brace {0}.jpg", False),
        ("tab\tname.jpg", False), ("dots...jpg", False), (".hidden.jpg", False), ("x.jpg.png", False),
        ("x.png", False), ("same.jpg", False), ("same.png", False), ("same_png.jpg", False),
        ("Case.jpg", False), ("case.jpg", False), ("n" * 251 + ".jpg", False), ("é" * 125 + ".jpg", False),
    ):  # fmt: skip
        add(sub, name, "name", "drawn", make=fj)
    add(True, "pair.jpg", "name", "drawn", make=jpeg_of(_pair), note="two faces: pair_face0/1 under --faces all")
    if _BYTES_NAMES:
        add(False, os.fsdecode(b"latin1-caf\xe9.jpg"), "name", "drawn", make=fj, note="not valid UTF-8 on disk")

    # ---- special entries: not regular readable files
    if _HAS_SYMLINK:
        add(True, "loop.jpg", "special", "skipped", R_SPECIAL, build=_symlink("loop.jpg"), note="symlink to itself")
        add(True, "dangling.jpg", "special", "skipped", R_SPECIAL, build=_symlink("does-not-exist.jpg"))
        add(False, "linkdir.jpg", "special", "skipped", R_SPECIAL, build=_symlink("."), note="symlink to the corpus folder")
        add(False, "symlink_to_face.jpg", "special", "drawn", build=_symlink("face.jpg"), note="valid symlink: followed")
        if _HAS_DEVNULL:
            add(True, "devnull.jpg", "special", "skipped", R_SPECIAL, build=_symlink("/dev/null"))
    if _HAS_FIFO:
        add(True, "fifo.jpg", "special", "skipped", R_SPECIAL, build=_fifo, note="a reader would block forever")
    add(True, "dir.jpg", "special", "skipped", R_SPECIAL, build=_empty_dir, note="an empty directory")
    if _CAN_BE_UNREADABLE:
        add(False, "unreadable.jpg", "special", "failed", R_UNREADABLE, build=_unreadable, note="mode 000")
    return out


# (command, extra options, names): inputs in one corpus folder whose outputs must not
# overwrite each other (every name gets its own output file(s)).
COLLISION_GROUPS: tuple[tuple[str, tuple[str, ...], tuple[str, ...]], ...] = (
    ("draw", (), ("john.smith.jpg", "john.doe.jpg")),
    ("draw", ("--faces", "all"), ("pair.jpg", "pair_face0.jpg")),
    ("parse", (), ("p.jpg", "p_color.jpg")),
    ("draw", (), ("x.jpg.png", "x.png")),
    ("draw", (), ("same.jpg", "same.png", "same_png.jpg")),
    ("draw", (), ("Case.jpg", "case.jpg")),
)


@functools.lru_cache(maxsize=2)
def _cases(full: bool) -> tuple[Case, ...]:
    return tuple(c for sub, c in _all() if full or sub)


def cases(full: bool = False) -> list[Case]:
    """The fast subset (<= 60 cases, every kind), or the whole corpus (several hundred)."""
    return list(_cases(full))


def collision_groups(full: bool = False) -> list[tuple[str, tuple[str, ...], tuple[str, ...]]]:
    """The COLLISION_GROUPS whose names are all in the chosen corpus."""
    names = {c.name for c in cases(full)}
    return [g for g in COLLISION_GROUPS if set(g[2]) <= names]


def write_corpus(folder: Path, full: bool = False) -> list[Case]:
    """Create every case in `folder` (made if missing) and return the cases."""
    folder = Path(folder)
    folder.mkdir(parents=True, exist_ok=True)
    chosen = cases(full)
    for case in chosen:
        case.build(folder / case.name)
    return chosen


if __name__ == "__main__":  # python -m tests.hostile.corpus OUTDIR [--full]
    target = Path(sys.argv[1])
    written = write_corpus(target, full="--full" in sys.argv[2:])
    print(f"{len(written)} cases written to {target}")
