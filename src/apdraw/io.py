"""Image decoding and atomic file writing.

Every image that enters apdraw goes through :func:`load_image`, which accepts
JPEG, PNG, BMP, WebP and TIFF at any size, honours EXIF orientation and converts
gray, palette, RGBA, CMYK and 16-bit images to 8-bit RGB. Every file apdraw
writes goes through :func:`atomic_write` (or a helper built on it), so an
interrupted run never leaves a half-written output behind.
"""

from __future__ import annotations

import contextlib
import io
import os
import struct
import tempfile
import threading
import warnings
from pathlib import Path
from typing import IO, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff", ".gif")

# 64 megapixels: larger than any camera photo people draw from, far below the
# size where decoding would exhaust memory (a decompression bomb).
DEFAULT_MAX_PIXELS = 64_000_000
# Temporary files of atomic_write: ".apdraw-XXXXXXXX.tmp" beside the target.
TMP_PREFIX = ".apdraw-"


class ImageLoadError(ValueError):
    """An input could not be turned into an image. The message says why."""


class NotAnImageError(ImageLoadError):
    pass


class TruncatedImageError(ImageLoadError):
    pass


class ImageTooLargeError(ImageLoadError):
    pass


def _normalise_to_u8(arr: np.ndarray, name: str, full_range: float | None) -> np.ndarray:
    """A one-channel numeric image -> (H, W) uint8.

    ``full_range``: the type's range (65535 for 16-bit) when the data fits it, else
    None: min-max normalise (signed 32-bit with negative values, floats). NaN and
    infinite pixels take the darkest / brightest finite value.
    """
    arr = np.asarray(arr, dtype=np.float64)
    finite = np.isfinite(arr)
    if not finite.any():
        raise NotAnImageError(f"{name}: no pixel has a finite value (all NaN or infinite)")
    lo, hi = float(arr[finite].min()), float(arr[finite].max())
    arr = np.where(np.isnan(arr), lo, np.clip(arr, lo, hi))
    if full_range is not None and lo >= 0 and hi <= full_range:
        lo, hi = 0.0, full_range
    scale = 255.0 / (hi - lo) if hi > lo else 0.0
    return np.clip((arr - lo) * scale + 0.5, 0, 255).astype(np.uint8)


def _to_rgb8(img: Image.Image, name: str = "<image>") -> np.ndarray:
    """Any PIL mode -> (H, W, 3) uint8 RGB. Alpha is composited on white."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I", "F"):
        arr = np.asarray(img)
        # 16-bit modes span 0..65535; 32-bit integers have no fixed range: 8-bit or 16-bit
        # values are read as such, anything else (negative, larger) is min-max normalised.
        full: float | None = 65535.0 if mode.startswith("I;16") else None
        if mode == "I" and arr.size:
            lo, hi = int(arr.min()), int(arr.max())
            full = 255.0 if 0 <= lo and hi <= 255 else 65535.0 if 0 <= lo and hi <= 65535 else None
        gray = _normalise_to_u8(arr, name, full)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


# File signatures, to tell "not an image at all" from "an image apdraw cannot decode".
_SIGNATURES = {
    b"\x89PNG": "PNG", b"\xff\xd8": "JPEG", b"GIF8": "GIF", b"BM": "BMP", b"II*\x00": "TIFF", b"MM\x00*": "TIFF",
    b"RIFF": "WebP",
}

# Pillow's own bomb check is switched off while apdraw opens a file (it checks its own
# limit, with its own message); the lock keeps that switch safe under threads.
_PIL_LIMIT_LOCK = threading.Lock()


def _webp_canvas(fp: "IO[bytes] | Path") -> tuple[int, int] | None:
    """(width, height) a WebP file's VP8X header declares, or None."""
    if isinstance(fp, Path):
        with fp.open("rb") as f:
            head = f.read(30)
    else:
        fp.seek(0)
        head = fp.read(30)
    if len(head) < 30 or head[12:16] != b"VP8X":
        return None
    return int.from_bytes(head[24:27], "little") + 1, int.from_bytes(head[27:30], "little") + 1


def _signature(head: bytes) -> str | None:
    return next((fmt for sig, fmt in _SIGNATURES.items() if head.startswith(sig)), None)


def load_image(source: str | os.PathLike | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file (or its bytes) to RGB.

    Args:
        source: a path, or the encoded bytes.
        max_pixels: refuse images with more pixels than this, from the header alone
            (decompression bombs).

    Returns:
        (H, W, 3) uint8 array, RGB, EXIF orientation applied (a malformed EXIF block is ignored).
        Animated images give their first frame.

    Raises:
        FileNotFoundError: the path does not exist.
        NotAnImageError, TruncatedImageError, ImageTooLargeError: see their names; the message
            says which file and why.
    """
    name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    fp: IO[bytes] | Path
    if isinstance(source, (bytes, bytearray)):
        fp, head, size = io.BytesIO(source), bytes(source[:16]), len(source)
    else:
        fp = Path(source)
        if not fp.is_file():
            raise FileNotFoundError(f"{name}: no such file")
        size = fp.stat().st_size
        with fp.open("rb") as f:
            head = f.read(16)
    if size == 0:
        raise NotAnImageError(f"{name}: the file is empty")
    kind = _signature(head)
    try:
        with warnings.catch_warnings(), _PIL_LIMIT_LOCK:
            warnings.simplefilter("ignore")  # Pillow warns about odd EXIF etc.; problems raise below
            previous, Image.MAX_IMAGE_PIXELS = Image.MAX_IMAGE_PIXELS, None
            try:
                img = Image.open(fp)
            finally:
                Image.MAX_IMAGE_PIXELS = previous
        w, h = img.size
        if w * h > max_pixels:
            raise ImageTooLargeError(
                f"{name}: {w}x{h} = {w * h / 1e6:.0f} megapixels is over apdraw's limit of "
                f"{max_pixels / 1e6:.0f} megapixels (--max-pixels; a possible decompression bomb); downscale it first"
            )
        if w <= 0 or h <= 0:
            raise NotAnImageError(f"{name}: the image has no pixels ({w}x{h})")
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img.load()
    except ImageLoadError:
        raise
    except UnidentifiedImageError as exc:
        if kind == "WebP" and (canvas := _webp_canvas(fp)) and canvas[0] * canvas[1] > max_pixels:
            raise ImageTooLargeError(f"{name}: a {canvas[0]}x{canvas[1]} WebP canvas is over apdraw's limit of "
                                     f"{max_pixels / 1e6:.0f} megapixels (--max-pixels; a possible decompression bomb)") from exc
        if kind == "TIFF":
            raise NotAnImageError(f"{name}: a TIFF file that apdraw cannot decode: truncated, corrupt, or an "
                                  "unsupported variant (such as 32-bit float colour)") from exc
        if kind is not None:
            raise TruncatedImageError(f"{name}: the {kind} file is truncated or corrupt (its header does not parse)") from exc
        raise NotAnImageError(f"{name}: not an image in a format apdraw reads ({', '.join(IMAGE_SUFFIXES)})") from exc
    except (OSError, SyntaxError, ValueError, EOFError, struct.error, IndexError) as exc:
        msg = str(exc) or type(exc).__name__
        if "MAX_TEXT_CHUNK" in msg:
            raise ImageTooLargeError(f"{name}: the PNG file holds a text chunk over Pillow's safety limit "
                                     "(a possible decompression bomb); strip its metadata first") from exc
        if kind == "WebP" and (canvas := _webp_canvas(fp)) and canvas[0] * canvas[1] > max_pixels:
            raise ImageTooLargeError(f"{name}: a {canvas[0]}x{canvas[1]} WebP canvas is over apdraw's limit of "
                                     f"{max_pixels / 1e6:.0f} megapixels (--max-pixels; a possible decompression bomb)") from exc
        raise TruncatedImageError(f"{name}: the {img.format if 'img' in locals() else kind or 'image'} "
                                  f"file is truncated or corrupt ({msg})") from exc
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            img = ImageOps.exif_transpose(img)
    except Exception:  # noqa: BLE001 - malformed EXIF: the pixels are still good
        pass
    return np.ascontiguousarray(_to_rgb8(img, name))


def as_rgb(image: "Image.Image | np.ndarray") -> np.ndarray:
    """A PIL image or an array -> (H, W, 3) uint8 RGB.

    PIL images get the same treatment as files (EXIF orientation, any mode).
    Arrays must be uint8, (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA (composited on white).

    Raises:
        ValueError: an array of another dtype or shape.
    """
    if isinstance(image, Image.Image):
        try:
            image = ImageOps.exif_transpose(image)
        except Exception:  # noqa: BLE001 - malformed EXIF: the pixels are still good
            pass
        return np.ascontiguousarray(_to_rgb8(image))
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        raise ValueError(f"expected a uint8 image array, got dtype {arr.dtype}")
    if arr.ndim == 2:
        return np.repeat(arr[..., None], 3, axis=2)
    if arr.ndim == 3 and arr.shape[2] == 3:
        return np.ascontiguousarray(arr)
    if arr.ndim == 3 and arr.shape[2] == 4:
        return np.ascontiguousarray(_to_rgb8(Image.fromarray(arr, "RGBA")))
    raise ValueError(f"expected an (H, W), (H, W, 3) or (H, W, 4) image array, got shape {arr.shape}")


def to_gray(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) RGB or (H, W) uint8 -> (H, W) uint8 luma, 0.299 R + 0.587 G + 0.114 B (OpenCV's rounding)."""
    import cv2

    return cv2.cvtColor(np.ascontiguousarray(image), cv2.COLOR_RGB2GRAY) if image.ndim == 3 else image


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike, mode: str = "wb") -> Iterator[IO]:
    """Open a temporary file beside `path`; rename it over `path` only on success."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    # A short temporary name: a long output name plus a prefix would pass the 255-byte limit.
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=TMP_PREFIX, suffix=".tmp")
    # mkstemp creates 0600 files; give outputs the usual permissions for the user's umask.
    umask = os.umask(0)
    os.umask(umask)
    os.fchmod(fd, 0o666 & ~umask)
    try:
        with os.fdopen(fd, mode) as f:
            yield f
            f.flush()
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def encode_image(image: np.ndarray, suffix: str = ".png") -> bytes:
    """An image's file bytes in the format of ``suffix`` (".png", ".jpg", ...).

    Args:
        image: (H, W) or (H, W, 3) uint8 (RGB), or float in [0, 1].
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)
    fmt = Image.registered_extensions().get(suffix.lower())
    if fmt is None:
        raise ValueError(f"{suffix}: unknown image suffix")
    buf = io.BytesIO()
    Image.fromarray(arr).save(buf, format=fmt)
    return buf.getvalue()


def save_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an image atomically; the format follows the suffix (PNG, JPEG, ...). See :func:`encode_image`."""
    save_bytes(path, encode_image(image, Path(path).suffix))


def save_bytes(path: str | os.PathLike, data: bytes) -> None:
    """Write bytes atomically."""
    with atomic_write(path) as f:
        f.write(data)


def save_text(path: str | os.PathLike, text: str) -> None:
    """Write a text file atomically."""
    with atomic_write(path, "w") as f:
        f.write(text)


def write_doc_block(path: str | os.PathLike, marker: str, block: str, heading: str | None = None) -> None:
    """Put ``block`` between ``<!-- MARKER:start -->`` and ``<!-- MARKER:end -->`` in a Markdown file.

    Benchmark and acceptance scripts use this to rewrite their own table in
    docs/ (``--write-doc``). The text between existing markers is replaced;
    without markers the block is appended, under ``## heading`` when given. Atomic.
    """
    start, end = f"<!-- {marker}:start -->", f"<!-- {marker}:end -->"
    path = Path(path)
    text = path.read_text() if path.is_file() else ""
    new = f"{start}\n{block.rstrip()}\n{end}"
    if start in text and end in text:
        text = text[: text.index(start)] + new + text[text.index(end) + len(end) :]
    else:
        text = text.rstrip() + (f"\n\n## {heading}" if heading else "") + "\n\n" + new + "\n"
    save_text(path, text)
