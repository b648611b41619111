"""Paired photo -> drawing data for APDrawingGAN: adapters, preprocessing cache, training set.

Adapters list (photo, drawing) pairs from several layouts as :class:`PairRecord`:

* :func:`apdrawingdb_records`: the original APDrawingDB layout
  (``data/<phase>/NAME.png`` = A|B side by side at 1024x512, already aligned,
  ``landmark/ALL/NAME.txt``, ``mask/ALL/NAME.png``): used unchanged;
* :func:`folder_records`: any two folders with files of the same stem;
* FS2K through :func:`apdraw.data.fs2k.fs2k_records`, filterable by sketch type;
* :func:`cufs_records`: CUFS (``photo/``, ``sketch/``);
* :func:`photo_records`: photos only, for NPR pre-training pairs.

:class:`StyleLabelledPairs` joins one paired set per drawing style and labels each
item with its style (QMUPD's paired FS2K warm start).

:func:`preprocess` runs each pair once through the face pipeline (largest face)
and caches an :class:`AlignedPair` per pair as ``.npz``: aligned 512² photo,
drawing warped with the *photo's* transform, 5 landmarks, foreground mask. NPR
pairs get their drawing from :func:`apdraw.npr.draw_portrait` (with jaw line).

:class:`PairedDrawingDataset` serves training samples from the cache with the
paper's augmentation (rotation ±10°, scale 1-1.1, horizontal flip with
landmarks mirrored and eyes swapped), plus the exact DT maps and line masks the
DT loss needs.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Callable, Iterable, Literal

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from apdraw.data import shared_data_dir
from apdraw.data.sampling import SampleKey, key_index, sample_rng
from apdraw.data.split import Part, is_validation, select
from apdraw.io import IMAGE_SUFFIXES, ImageLoadError, atomic_write, load_image, save_text, to_gray
from apdraw.parts import PART_NAMES, fit_boxes

PREP_VERSION = 1  # bump when the cached content changes meaning


@dataclass(frozen=True)
class PairRecord:
    """One training pair on disk. ``drawing`` None = photo only (NPR); ``side_by_side`` = APDrawingDB A|B file."""

    name: str
    photo: Path
    drawing: Path | None = None
    landmarks: Path | None = None  # original-style 5-point .txt of an already aligned photo
    mask: Path | None = None  # foreground mask PNG (white = person) of an already aligned photo
    side_by_side: bool = False


# --------------------------------------------------------------------------- adapters


def _by_stem(folder: Path) -> dict[str, Path]:
    return {p.stem: p for p in sorted(folder.iterdir()) if p.suffix.lower() in IMAGE_SUFFIXES}


def folder_records(photo_dir: str | Path, drawing_dir: str | Path) -> list[PairRecord]:
    """Pairs of files with the same stem in two folders (sorted by name)."""
    photos, drawings = _by_stem(Path(photo_dir)), _by_stem(Path(drawing_dir))
    return [PairRecord(n, photos[n], drawings[n]) for n in sorted(photos.keys() & drawings.keys())]


def cufs_records(root: str | Path) -> list[PairRecord]:
    """CUFS pairs (``photo/NAME.jpg``, ``sketch/NAME.jpg``)."""
    return folder_records(Path(root) / "photo", Path(root) / "sketch")


def apdrawingdb_records(root: str | Path, phase: str = "train") -> list[PairRecord]:
    """APDrawingDB: ``data/<phase>/NAME.png`` (A|B), ``landmark/ALL/NAME.txt``, ``mask/ALL/NAME.png``.

    ``root`` is the folder holding ``data/`` (the original's ``dataset/``).
    Landmark and mask files are used when present; otherwise the face pipeline runs.
    """
    root = Path(root)
    out = []
    for name, path in _by_stem(root / "data" / phase).items():
        lm = root / "landmark" / "ALL" / f"{name}.txt"
        mask = root / "mask" / "ALL" / f"{name}.png"
        out.append(PairRecord(name, path, path, lm if lm.is_file() else None, mask if mask.is_file() else None, True))
    return out


def photo_records(folders: Iterable[str | Path], prefix: bool = True) -> list[PairRecord]:
    """Photos of several folders (no drawings); names get the folder name as prefix to stay unique."""
    out = []
    for folder in folders:
        folder = Path(folder)
        for name, path in _by_stem(folder).items():
            out.append(PairRecord(f"{folder.parent.name}_{folder.name}_{name}" if prefix else name, path))
    return out


# --------------------------------------------------------------------------- configured sources


@dataclass
class DataConfig:
    """Where the pairs come from. Paths may be relative to the working directory."""

    source: Literal["npr", "fs2k", "cufs", "apdrawingdb", "folders"] = "fs2k"
    # fs2k / cufs root, APDrawingDB dataset root, or photo folder
    root: str = field(default_factory=lambda: str(shared_data_dir() / "fs2k" / "train"))
    drawing_dir: str = ""  # source=folders: the drawings (photos in root)
    sketch_type: int = 0  # FS2K's drawing label (its "style"): 0 clean lines, 1 shaded hair, 2 pencil; -1 = all
    phase: str = "train"  # apdrawingdb: data/<phase>
    split: Part = "train"
    val_fraction: float = 0.15  # the name-hash rule of apdraw.data.split
    # source=npr: photo folders drawn by the NPR engine; photos named like FS2K validation pairs are skipped.
    photo_roots: list[str] = field(default_factory=lambda: [
        str(shared_data_dir() / "celebamask_mini" / "images"), str(shared_data_dir() / "fs2k" / "train" / "photo"),
    ])  # fmt: skip
    max_items: int = 0  # use only the first N records (0 = all)
    cache_dir: str = "cache/apdrawinggan"
    augment: PairAugmentConfig = field(default_factory=lambda: PairAugmentConfig())

    def __post_init__(self) -> None:
        if not 0.0 <= self.val_fraction <= 1.0:
            raise ValueError(f"data.val_fraction must be in [0, 1], got {self.val_fraction}")
        if self.max_items < 0:
            raise ValueError(f"data.max_items must be >= 0, got {self.max_items}")


def build_records(cfg: DataConfig) -> tuple[list[PairRecord], str]:
    """(records, cache tag) for the configured source and split."""
    if cfg.source == "fs2k":
        from apdraw.data.fs2k import fs2k_records

        fs2k = fs2k_records(cfg.root, None if cfg.sketch_type < 0 else cfg.sketch_type)
        recs = [PairRecord(r.name, r.photo, r.sketch) for r in fs2k]
        # The cache tag keeps its historical name ("style"): cached pairs stay valid.
        tag = f"fs2k-style{cfg.sketch_type}"
    elif cfg.source == "cufs":
        recs, tag = cufs_records(cfg.root), "cufs"
    elif cfg.source == "apdrawingdb":
        recs, tag = apdrawingdb_records(cfg.root, cfg.phase), f"apdrawingdb-{cfg.phase}"
    elif cfg.source == "folders":
        recs, tag = folder_records(cfg.root, cfg.drawing_dir), f"folders-{Path(cfg.root).name}"
    elif cfg.source == "npr":
        recs = photo_records(cfg.photo_roots, prefix=False)
        # Keep the FS2K validation photos out of pre-training too; hash order mixes the
        # photo folders, so max_items takes a bit of each.
        recs = [r for r in recs if not is_validation(r.name, cfg.val_fraction)]
        recs = sorted(recs, key=lambda r: hashlib.sha1(r.name.encode()).hexdigest())
        return recs[: cfg.max_items or None], "npr"
    else:  # pragma: no cover - Literal guards this
        raise ValueError(cfg.source)
    recs = select(recs, [r.name for r in recs], cfg.val_fraction, cfg.split)
    return recs[: cfg.max_items or None], tag


# --------------------------------------------------------------------------- preprocessing


@dataclass
class AlignedPair:
    """A preprocessed pair in the 512² APDrawing frame.

    photo (512, 512, 3) uint8 RGB; drawing (512, 512) uint8 gray (255 = paper);
    landmarks (5, 2) float32 0-based (x, y), APDrawing order; fg (512, 512) uint8 (255 = person).
    """

    photo: np.ndarray
    drawing: np.ndarray
    landmarks: np.ndarray
    fg: np.ndarray

    def save(self, path: Path) -> None:
        with atomic_write(path) as f:
            np.savez_compressed(f, photo=self.photo, drawing=self.drawing, landmarks=self.landmarks, fg=self.fg)

    @classmethod
    def load(cls, path: str | Path) -> "AlignedPair":
        with np.load(path) as z:
            return cls(z["photo"], z["drawing"], z["landmarks"], z["fg"])


def _read_pair_images(rec: PairRecord) -> tuple[np.ndarray, np.ndarray | None]:
    photo = load_image(rec.photo)
    if rec.side_by_side:
        w = photo.shape[1] // 2
        return np.ascontiguousarray(photo[:, :w]), to_gray(np.ascontiguousarray(photo[:, w:]))
    if rec.drawing is None:
        return photo, None
    drawing = to_gray(load_image(rec.drawing))
    if drawing.shape != photo.shape[:2]:
        # Drawn over the photo's framing: bring it to the photo's size before warping.
        drawing = cv2.resize(drawing, (photo.shape[1], photo.shape[0]), interpolation=cv2.INTER_AREA)
    return photo, drawing


def align_pair(rec: PairRecord, pipeline, npr_cfg=None) -> AlignedPair | None:
    """Align one record (None when no face is found). ``pipeline`` is an :class:`apdraw.face.FacePipeline`.

    Already aligned APDrawingDB items keep their landmarks and mask when given.
    Records without a drawing get an NPR drawing (``apdraw.npr.draw_portrait``).
    """
    from apdraw.face import align as A

    photo, drawing = _read_pair_images(rec)
    if rec.landmarks is not None and rec.mask is not None and photo.shape[:2] == (512, 512):
        lm = A.landmarks_from_txt(rec.landmarks).astype(np.float32) - 1.0  # stored 1-based (see apdraw.face.align)
        fg = np.where(to_gray(load_image(rec.mask)) >= 128, 255, 0).astype(np.uint8)
        aligned = photo
        masks = None
    else:
        faces = pipeline(photo, max_faces=1)
        if not faces:
            return None
        face = faces[0]
        aligned, lm, masks = face.aligned, face.landmarks5_aligned.astype(np.float32), face.masks
        fg = np.asarray(masks.fg, np.uint8)
        if drawing is not None:
            drawing = A.warp(drawing, face.matrix, (512, 512))
    if drawing is None:
        from apdraw.npr import draw_portrait

        hair = masks.extras.get("hair") if masks is not None else None
        jaw = masks.jaw if masks is not None else None
        drawing = draw_portrait(aligned, fg, jaw, hair, npr_cfg, landmarks5=lm)
    return AlignedPair(aligned, drawing, lm, fg)


def cache_path(cache_dir: str | Path, tag: str, name: str) -> Path:
    return Path(cache_dir) / f"{tag}-v{PREP_VERSION}" / f"{name}.npz"


def preprocess(
    records: list[PairRecord],
    cache_dir: str | Path,
    tag: str,
    pipeline_factory: Callable[[], object] | None = None,
    progress: bool = True,
) -> list[Path]:
    """Cache every record once (skipping cached ones); returns the cache files of usable pairs.

    Records where no face is found are listed in ``<cache>/<tag>-vN/failed.txt``
    and left out (and not retried). ``pipeline_factory`` builds the face
    pipeline lazily (default: ``FacePipeline()``), so a fully cached set needs none.
    """
    folder = Path(cache_dir) / f"{tag}-v{PREP_VERSION}"
    failed_file = folder / "failed.txt"
    failed = set(failed_file.read_text().split()) if failed_file.is_file() else set()
    todo = [r for r in records if r.name not in failed and not cache_path(cache_dir, tag, r.name).is_file()]
    if todo:
        if pipeline_factory is None:
            from apdraw.face import FacePipeline

            pipeline_factory = FacePipeline
        pipeline = pipeline_factory()
        for rec in tqdm(todo, desc=f"preprocess {tag}", disable=not progress):
            try:
                pair = align_pair(rec, pipeline)
            except ImageLoadError as exc:
                tqdm.write(f"skipping {rec.name}: {exc}")
                pair = None
            if pair is None:
                failed.add(rec.name)
                save_text(failed_file, "\n".join(sorted(failed)) + "\n")
                continue
            pair.save(cache_path(cache_dir, tag, rec.name))
    return [p for r in records if (p := cache_path(cache_dir, tag, r.name)).is_file()]


# --------------------------------------------------------------------------- training set


@dataclass
class PairAugmentConfig:
    """The paper's augmentation of photo/drawing pairs; all randomness comes from the per-sample RNG."""

    enabled: bool = True
    rotate_deg: float = 10.0  # uniform in [-rotate_deg, rotate_deg]
    scale_min: float = 1.0
    scale_max: float = 1.1
    flip: bool = True  # p = 0.5, landmarks mirrored and eyes swapped


def augment_matrix(rng: np.random.Generator, cfg: PairAugmentConfig, size: int = 512) -> np.ndarray:
    """(2, 3) rotation+scale about the frame centre (identity when disabled)."""
    if not cfg.enabled:
        return np.array([[1.0, 0, 0], [0, 1.0, 0]])
    angle = rng.uniform(-cfg.rotate_deg, cfg.rotate_deg)
    scale = rng.uniform(cfg.scale_min, cfg.scale_max)
    c = (size - 1) / 2.0
    return cv2.getRotationMatrix2D((c, c), angle, scale)


def _warp(image: np.ndarray, matrix: np.ndarray, size: int, fill) -> np.ndarray:
    return cv2.warpAffine(np.ascontiguousarray(image), matrix, (size, size), flags=cv2.INTER_LINEAR, borderMode=cv2.BORDER_CONSTANT, borderValue=fill)


class PairedDrawingDataset(Dataset):
    """Cached :class:`AlignedPair` files -> training samples at ``resolution``.

    Each item is a dict of tensors (S = resolution):
    ``photo`` (3, S, S) and ``drawing`` (1, S, S) in [-1, 1]; ``fg`` (1, S, S) in
    {0, 1}; ``boxes`` (4, 4) int64 part boxes at S (eyel, eyer, nose, mouth;
    x0, y0, x1, y1); and when ``dt_cfg`` is given, ``dt`` (2, S, S) exact
    distances (px) to ink / paper and ``lines`` (2, S, S) {0, 1} black / white
    line pixels of the drawing (the targets of the distance-transform loss).
    """

    def __init__(self, files: list[Path], resolution: int = 256, augment: PairAugmentConfig | None = None, dt_cfg=None):
        if not files:
            raise ValueError("no preprocessed pairs: the record list is empty or no face was found in any photo")
        self.files = list(files)
        self.resolution = resolution
        self.augment = augment or PairAugmentConfig(enabled=False)
        self.dt_cfg = dt_cfg.at(resolution) if dt_cfg is not None else None

    def __len__(self) -> int:
        return len(self.files)

    def __getitem__(self, key: SampleKey | int) -> dict[str, torch.Tensor]:
        from apdraw.face import flip_horizontal, local_boxes, transform_points, txt_landmarks

        pair = AlignedPair.load(self.files[key_index(key)])
        rng = sample_rng(key)
        photo, drawing, lm, fg = pair.photo, pair.drawing, pair.landmarks.astype(np.float64), pair.fg
        if self.augment.enabled and self.augment.flip and rng.random() < 0.5:
            photo, lm = flip_horizontal(photo, lm)
            drawing, fg = drawing[:, ::-1], fg[:, ::-1]
        m = augment_matrix(rng, self.augment)
        lm = transform_points(lm, m)
        s = self.resolution
        # One warp straight to the training size: augmentation, then 512 -> S.
        k = s / 512.0
        to_s = np.array([[k, 0, (k - 1) / 2], [0, k, (k - 1) / 2]])  # pixel-centre exact rescale
        full = np.vstack([to_s, [0, 0, 1]]) @ np.vstack([m, [0, 0, 1]])
        if s < 512:  # pre-blur against aliasing when shrinking (bilinear warp does not filter)
            sigma = 0.35 / k
            photo = cv2.GaussianBlur(np.ascontiguousarray(photo), (0, 0), sigma)
            drawing = cv2.GaussianBlur(np.ascontiguousarray(drawing), (0, 0), sigma)
        photo_s = _warp(photo, full[:2], s, (255, 255, 255))
        drawing_s = _warp(drawing, full[:2], s, 255)
        fg_s = _warp(fg, full[:2], s, 0) >= 128
        local = local_boxes(txt_landmarks(lm), 512)
        boxes512 = np.array([list(local[p]) for p in PART_NAMES], np.int64)
        boxes = fit_boxes(torch.from_numpy(boxes512)[None], 512, s)[0]
        item = {
            "photo": torch.from_numpy(photo_s).permute(2, 0, 1).float() / 127.5 - 1.0,
            "drawing": torch.from_numpy(drawing_s)[None].float() / 127.5 - 1.0,
            "fg": torch.from_numpy(fg_s)[None].float(),
            "boxes": boxes,
        }
        if self.dt_cfg is not None:
            from apdraw.losses.dt import exact_dt, line_masks

            c = self.dt_cfg
            item["dt"] = torch.from_numpy(exact_dt(drawing_s, c.cap, c.ink_threshold))
            item["lines"] = torch.from_numpy(line_masks(drawing_s, c.line_width, c.ink_threshold)).float()
        return item


class StyleLabelledPairs(Dataset):
    """Several paired datasets as one; every item gains ``style`` (K,), the one-hot of its part's index.

    Part k holds the pairs of drawing style k (K = number of parts). Keys pass through with
    the index made local to the part and the seed kept, so each item's augmentation is still a
    pure function of its key (exact resume).
    """

    def __init__(self, parts: list[Dataset]):
        if not parts or any(len(p) == 0 for p in parts):
            raise ValueError("StyleLabelledPairs needs at least one part, and no empty part")
        self.parts = list(parts)
        self.offsets = np.cumsum([0] + [len(p) for p in parts])

    def __len__(self) -> int:
        return int(self.offsets[-1])

    def __getitem__(self, key: SampleKey | int) -> dict[str, torch.Tensor]:
        index = key_index(key)
        if not 0 <= index < len(self):
            raise IndexError(f"index {index} out of range for {len(self)} pairs")
        k = int(np.searchsorted(self.offsets, index, side="right")) - 1
        local = index - int(self.offsets[k])
        item = dict(self.parts[k][SampleKey(local, key.seed) if isinstance(key, SampleKey) else local])
        item["style"] = torch.nn.functional.one_hot(torch.tensor(k), len(self.parts)).float()
        return item
