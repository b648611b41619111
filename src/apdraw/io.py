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
import tempfile
import warnings
from pathlib import Path
from typing import IO, Iterator

import numpy as np
from PIL import Image, ImageOps, UnidentifiedImageError

IMAGE_SUFFIXES = (".jpg", ".jpeg", ".png", ".bmp", ".webp", ".tif", ".tiff")

# 64 megapixels: larger than any camera photo people draw from, far below the
# size where decoding would exhaust memory (a decompression bomb).
DEFAULT_MAX_PIXELS = 64_000_000


class ImageLoadError(ValueError):
    """An input could not be turned into an image. The message says why."""


class NotAnImageError(ImageLoadError):
    pass


class TruncatedImageError(ImageLoadError):
    pass


class ImageTooLargeError(ImageLoadError):
    pass


def _to_rgb8(img: Image.Image) -> np.ndarray:
    """Any PIL mode -> (H, W, 3) uint8 RGB. Alpha is composited on white."""
    mode = img.mode
    if mode in ("I;16", "I;16B", "I;16L", "I;16N", "I"):
        arr = np.asarray(img, dtype=np.float64)
        # 16-bit data: scale by the type's range; 32-bit int: by the observed max.
        top = 65535.0 if mode.startswith("I;16") or arr.max() <= 65535 else float(arr.max())
        gray = np.clip(arr / top * 255.0 + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode == "F":
        arr = np.asarray(img, dtype=np.float64)
        lo, hi = float(arr.min()), float(arr.max())
        scale = 255.0 / (hi - lo) if hi > lo else 0.0
        gray = np.clip((arr - lo) * scale + 0.5, 0, 255).astype(np.uint8)
        return np.repeat(gray[..., None], 3, axis=2)
    if mode in ("RGBA", "LA", "PA") or (mode == "P" and "transparency" in img.info):
        rgba = img.convert("RGBA")
        white = Image.new("RGBA", rgba.size, (255, 255, 255, 255))
        return np.asarray(Image.alpha_composite(white, rgba).convert("RGB"))
    return np.asarray(img.convert("RGB"))


def load_image(source: str | os.PathLike | bytes, max_pixels: int = DEFAULT_MAX_PIXELS) -> np.ndarray:
    """Decode an image file (or its bytes) to RGB.

    Args:
        source: a path, or the encoded bytes.
        max_pixels: refuse images with more pixels than this (decompression bombs).

    Returns:
        (H, W, 3) uint8 array, RGB, EXIF orientation applied.

    Raises:
        FileNotFoundError: the path does not exist.
        NotAnImageError, TruncatedImageError, ImageTooLargeError: see their names.
    """
    name = "<bytes>" if isinstance(source, (bytes, bytearray)) else str(source)
    fp: IO[bytes] | str | os.PathLike
    fp = io.BytesIO(source) if isinstance(source, (bytes, bytearray)) else source
    if not isinstance(source, (bytes, bytearray)) and not Path(source).is_file():
        raise FileNotFoundError(f"{name}: no such file")
    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            img = Image.open(fp)
            w, h = img.size
            if w * h > max_pixels:
                raise ImageTooLargeError(
                    f"{name}: {w}x{h} = {w * h / 1e6:.0f} megapixels is over the limit of "
                    f"{max_pixels / 1e6:.0f} (a possible decompression bomb); downscale it first"
                )
            img.load()
    except ImageLoadError:
        raise
    except (UnidentifiedImageError, Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        if isinstance(exc, UnidentifiedImageError):
            raise NotAnImageError(f"{name}: not an image in a format apdraw reads ({', '.join(IMAGE_SUFFIXES)})") from exc
        raise ImageTooLargeError(f"{name}: refused as a possible decompression bomb ({exc})") from exc
    except (OSError, SyntaxError, ValueError) as exc:
        msg = str(exc)
        if "truncated" in msg.lower() or "broken data stream" in msg.lower() or "image file is" in msg.lower():
            raise TruncatedImageError(f"{name}: the file is truncated or corrupt ({msg})") from exc
        raise NotAnImageError(f"{name}: could not decode ({msg})") from exc
    img = ImageOps.exif_transpose(img)
    return np.ascontiguousarray(_to_rgb8(img))


def as_rgb(image: "Image.Image | np.ndarray") -> np.ndarray:
    """A PIL image or an array -> (H, W, 3) uint8 RGB.

    PIL images get the same treatment as files (EXIF orientation, any mode).
    Arrays must be uint8, (H, W) gray, (H, W, 3) RGB or (H, W, 4) RGBA (composited on white).

    Raises:
        ValueError: an array of another dtype or shape.
    """
    if isinstance(image, Image.Image):
        return np.ascontiguousarray(_to_rgb8(ImageOps.exif_transpose(image)))
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
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
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


def save_image(path: str | os.PathLike, image: np.ndarray) -> None:
    """Write an image atomically; the format follows the suffix (PNG, JPEG, ...).

    Args:
        image: (H, W) or (H, W, 3) uint8 (RGB), or float in [0, 1].
    """
    arr = np.asarray(image)
    if arr.dtype != np.uint8:
        arr = np.clip(arr * 255.0 + 0.5, 0, 255).astype(np.uint8)
    fmt = Image.registered_extensions().get(Path(path).suffix.lower())
    if fmt is None:
        raise ValueError(f"{path}: unknown image suffix")
    with atomic_write(path) as f:
        Image.fromarray(arr).save(f, format=fmt)


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
