"""Unpaired photo and drawing sets for QMUPD (SPEC B1.1): aligned faces, region masks, style vectors.

Both domains come from the paired preprocessing cache (:mod:`apdraw.data.paired`:
512² faces in the APDrawing frame), used **unpaired**: a sample is one photo and
one drawing drawn independently at random.

* **Photos** (domain A): FS2K training photos (all three sketch types) and the
  CelebAMask-HQ-mini photos (``photo_sources``).
* **Drawings** (domain B): FS2K training drawings, one artist style per FS2K
  sketch type (0 clean lines, 1 shaded hair, 2 textured pencil; about 300 each
  after the split), and optionally further styles (``extra_styles``): CUFS
  pencil sketches and NPR drawings.
* **Masks**: nose, eyes and lips from the project's face parser on the aligned
  *photo*, dilated (the original used a face parser and dilated its masks).
  Drawings cannot be parsed reliably, so a drawing's masks are those of its
  paired photo; the drawings are aligned with the photo's transform, and the
  artist drew over the photo, so they fit to a few pixels.
* **Style vectors**: each FS2K drawing's softmax under the training style
  classifier (:class:`apdraw.models.style_classifier.StyleClassifier`,
  ``features="pooled"``), as the original used a VGG19 classifier's softmax.
  Extra styles get one-hot vectors in further dimensions.

The FS2K validation split (:func:`apdraw.data.split.is_validation`, 0.15) is
kept out of both domains entirely.

Augmentation as the original: resize to ``load_scale`` × S, random crop S,
random horizontal flip; A and B draw separate parameters (SPEC B1.1).
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass, field
from pathlib import Path

import cv2
import numpy as np
import torch
from torch.utils.data import Dataset
from tqdm import tqdm

from apdraw.data import shared_data_dir
from apdraw.data.sampling import SampleKey, key_index, sample_rng
from apdraw.data.split import is_validation
from apdraw.io import atomic_write

MASK_REGIONS = ("nose", "eyes", "lips")  # the order of the mask channels (the local discriminators' order)
# CelebAMask-HQ class ids of each region (apdraw.face.parser_backend.REGION_CLASSES).
_REGION_CLASSES = {"nose": (2,), "eyes": (4, 5), "lips": (10, 11, 12)}
MASK_VERSION = 1
EXTRA_STYLES = ("cufs", "npr")


@dataclass
class UnpairedConfig:
    """Where QMUPD's unpaired photos and drawings come from (paths relative to the working directory)."""

    photo_sources: list[str] = field(default_factory=lambda: ["fs2k", "celebamask"])
    sketch_types: list[int] = field(default_factory=lambda: [0, 1, 2])  # FS2K sketch types = artist styles 0..
    extra_styles: list[str] = field(default_factory=list)  # further styles after the FS2K ones: "cufs", "npr"
    fs2k_root: str = field(default_factory=lambda: str(shared_data_dir() / "fs2k" / "train"))
    celebamask_root: str = field(default_factory=lambda: str(shared_data_dir() / "celebamask_mini" / "images"))
    cufs_root: str = field(default_factory=lambda: str(shared_data_dir() / "cufs" / "train"))
    val_fraction: float = 0.15  # FS2K's validation rule; these names are never used here
    paired_cache_dir: str = "cache/apdrawinggan"  # aligned faces (shared with APDrawingGAN)
    cache_dir: str = "cache/qmupd"  # region masks and style vectors
    mask_dilation: float = 0.1  # dilation radius as a fraction of the inter-ocular distance
    # Style vectors of the FS2K drawings: a StyleClassifier .safetensors ("" = the shipped training
    # classifier), or "onehot" (the FS2K label itself, the original's --one_hot 1).
    style_classifier: str = ""
    max_photos: int = 0  # 0 = all
    max_drawings: int = 0  # per style; 0 = all
    load_scale: float = 572 / 512  # resize to this x S, then random crop S (the original: 572 -> 512)
    flip: bool = True

    def __post_init__(self) -> None:
        bad = [s for s in self.photo_sources if s not in ("fs2k", "celebamask")]
        if bad:
            raise ValueError(f"photo_sources: unknown {bad}; use 'fs2k' and/or 'celebamask'")
        if not self.photo_sources:
            raise ValueError("photo_sources must not be empty")
        if any(t not in (0, 1, 2) for t in self.sketch_types) or len(set(self.sketch_types)) != len(self.sketch_types):
            raise ValueError(f"sketch_types must be distinct FS2K sketch types 0, 1, 2; got {self.sketch_types}")
        bad = [s for s in self.extra_styles if s not in EXTRA_STYLES]
        if bad:
            raise ValueError(f"extra_styles: unknown {bad}; use any of {list(EXTRA_STYLES)}")
        if not self.sketch_types and not self.extra_styles:
            raise ValueError("no drawing styles: give sketch_types and/or extra_styles")
        if self.load_scale < 1:
            raise ValueError(f"load_scale must be >= 1, got {self.load_scale}")
        if self.max_photos < 0 or self.max_drawings < 0 or self.mask_dilation < 0:
            raise ValueError("max_photos, max_drawings and mask_dilation must be >= 0")

    @property
    def num_styles(self) -> int:
        return len(self.sketch_types) + len(self.extra_styles)


@dataclass(frozen=True)
class DrawingItem:
    """A cached aligned pair used for its drawing: the file, its artist style index and its style vector."""

    file: Path
    style_index: int
    style: tuple[float, ...]


# --------------------------------------------------------------------------- sources


def _cached_pairs(paired_cfg, progress: bool) -> list[Path]:
    from apdraw.data.paired import build_records, preprocess

    records, tag = build_records(paired_cfg)
    return preprocess(records, paired_cfg.cache_dir, tag, progress=progress)


def fs2k_pairs(cfg: UnpairedConfig, sketch_type: int, progress: bool = True) -> list[Path]:
    """Cached aligned FS2K training pairs of one sketch type (the validation split left out)."""
    from apdraw.data.paired import DataConfig

    dc = DataConfig(source="fs2k", root=cfg.fs2k_root, sketch_type=sketch_type, split="train",
                    val_fraction=cfg.val_fraction, cache_dir=cfg.paired_cache_dir)  # fmt: skip
    return _cached_pairs(dc, progress)


def npr_pairs(cfg: UnpairedConfig, roots: list[str], progress: bool = True) -> list[Path]:
    """Cached aligned photos of ``roots`` with their NPR drawings (FS2K validation names left out)."""
    from apdraw.data.paired import DataConfig

    dc = DataConfig(source="npr", photo_roots=roots, val_fraction=cfg.val_fraction, cache_dir=cfg.paired_cache_dir)
    return _cached_pairs(dc, progress)


def cufs_pairs(cfg: UnpairedConfig, progress: bool = True) -> list[Path]:
    from apdraw.data.paired import DataConfig

    dc = DataConfig(source="cufs", root=cfg.cufs_root, split="all", cache_dir=cfg.paired_cache_dir)
    return _cached_pairs(dc, progress)


def _hash_order(files: list[Path]) -> list[Path]:
    return sorted(files, key=lambda p: hashlib.sha1(p.stem.encode()).hexdigest())


def photo_files(cfg: UnpairedConfig, progress: bool = True) -> list[Path]:
    """Domain A: cached aligned pairs whose *photo* is used (unique names, FS2K validation left out)."""
    files: dict[str, Path] = {}
    if "fs2k" in cfg.photo_sources:
        for t in (0, 1, 2):
            files.update((p.stem, p) for p in fs2k_pairs(cfg, t, progress))
    if "celebamask" in cfg.photo_sources:
        files.update((p.stem, p) for p in npr_pairs(cfg, [cfg.celebamask_root], progress))
    out = _hash_order([p for n, p in files.items() if not is_validation(n, cfg.val_fraction)])
    return out[: cfg.max_photos or None]


def drawing_sets(cfg: UnpairedConfig, progress: bool = True) -> list[list[Path]]:
    """Domain B per artist style (FS2K sketch types, then extra styles): cached aligned pairs."""
    sets = [fs2k_pairs(cfg, t, progress) for t in cfg.sketch_types]
    for extra in cfg.extra_styles:
        sets.append(cufs_pairs(cfg, progress) if extra == "cufs" else npr_pairs(cfg, [cfg.fs2k_root + "/photo"], progress))
    return [_hash_order(s)[: cfg.max_drawings or None] for s in sets]


# --------------------------------------------------------------------------- masks


def region_masks(labels: np.ndarray, landmarks5: np.ndarray, dilation: float) -> np.ndarray:
    """(S, S) parser labels -> (S, S) uint8 bit map: bit i = region MASK_REGIONS[i], dilated.

    The dilation radius is ``dilation`` × the inter-ocular distance of the (5, 2) landmarks.
    """
    iod = float(np.linalg.norm(np.asarray(landmarks5[1], float) - np.asarray(landmarks5[0], float)))
    r = max(1, int(round(dilation * iod)))
    kernel = cv2.getStructuringElement(cv2.MORPH_ELLIPSE, (2 * r + 1, 2 * r + 1))
    out = np.zeros(labels.shape, np.uint8)
    for bit, name in enumerate(MASK_REGIONS):
        m = np.isin(labels, _REGION_CLASSES[name]).astype(np.uint8)
        out |= (cv2.dilate(m, kernel) > 0).astype(np.uint8) << bit
    return out


def mask_path(cfg: UnpairedConfig, name: str) -> Path:
    return Path(cfg.cache_dir) / f"masks-v{MASK_VERSION}-d{cfg.mask_dilation:g}" / f"{name}.png"


def ensure_masks(cfg: UnpairedConfig, files: list[Path], progress: bool = True) -> None:
    """Parse each cached pair's photo once and store its region bit map as a PNG (skips cached ones)."""
    from apdraw.data.paired import AlignedPair
    from apdraw.io import save_image

    todo = [f for f in dict.fromkeys(files) if not mask_path(cfg, f.stem).is_file()]
    if not todo:
        return
    from apdraw.models.parser import FaceParser

    parser = FaceParser.from_pretrained()
    for f in tqdm(todo, desc="parse masks", disable=not progress):
        pair = AlignedPair.load(f)
        bits = region_masks(parser.parse(pair.photo), pair.landmarks, cfg.mask_dilation)
        save_image(mask_path(cfg, f.stem), bits)


def load_masks(cfg: UnpairedConfig, name: str) -> np.ndarray:
    """(3, 512, 512) uint8 {0, 255} masks of MASK_REGIONS for a cached pair."""
    bits = cv2.imread(str(mask_path(cfg, name)), cv2.IMREAD_UNCHANGED)
    if bits is None:
        raise FileNotFoundError(f"no region masks for {name}: run ensure_masks first")
    return np.stack([((bits >> i) & 1) * 255 for i in range(len(MASK_REGIONS))]).astype(np.uint8)


# --------------------------------------------------------------------------- style vectors


def style_vectors(cfg: UnpairedConfig, sets: list[list[Path]], progress: bool = True) -> list[list[tuple[float, ...]]]:
    """Each drawing's style vector (length ``cfg.num_styles``), cached by classifier file and drawing name."""
    k = cfg.num_styles
    n_fs2k = len(cfg.sketch_types)

    def onehot(i: int) -> tuple[float, ...]:
        return tuple(float(j == i) for j in range(k))

    out = [[onehot(i)] * len(s) for i, s in enumerate(sets)]
    if cfg.style_classifier == "onehot" or n_fs2k == 0:
        return out
    from apdraw.data.paired import AlignedPair
    from apdraw.models.style_classifier import StyleClassifier, default_weights

    path = Path(cfg.style_classifier) if cfg.style_classifier else default_weights("train")
    digest = hashlib.sha1(path.read_bytes()).hexdigest()[:12]
    cache = Path(cfg.cache_dir) / f"style_vectors-{digest}.npz"
    known: dict[str, np.ndarray] = dict(np.load(cache)) if cache.is_file() else {}
    todo = [f for s in sets[:n_fs2k] for f in s if f.stem not in known]
    if todo:
        clf = StyleClassifier.from_pretrained(path)
        if clf.config.num_classes != 3:
            raise ValueError(f"{path}: a style classifier over the 3 FS2K sketch types is needed")
        for i in tqdm(range(0, len(todo), 32), desc="style vectors", disable=not progress):
            chunk = todo[i : i + 32]
            probs = clf.predict_proba([AlignedPair.load(f).drawing for f in chunk])
            known.update((f.stem, p.astype(np.float32)) for f, p in zip(chunk, probs))
        with atomic_write(cache) as fh:
            np.savez(fh, **known)
    for si, s in enumerate(sets[:n_fs2k]):
        # The classifier's 3 outputs are FS2K types 0, 1, 2; keep those of the configured types, in order.
        out[si] = [tuple(float(known[f.stem][t]) for t in cfg.sketch_types) + (0.0,) * (k - n_fs2k) for f in s]
    return out


# --------------------------------------------------------------------------- the training set


def _crop_flip(image: np.ndarray, rng: np.random.Generator, size: int, load_scale: float, flip: bool,
               interpolation: int, fill) -> np.ndarray:  # fmt: skip
    """The original's resize to load_scale x size, random crop size, random flip, as one warp (from 512²)."""
    load = int(round(size * load_scale))
    k = load / image.shape[0]
    ox, oy = (int(rng.integers(0, load - size + 1)) for _ in range(2))
    flipped = flip and rng.random() < 0.5
    m = np.array([[k, 0, (k - 1) / 2 - ox], [0, k, (k - 1) / 2 - oy]])
    if flipped:
        m = np.array([[-1, 0, size - 1], [0, 1, 0]]) @ np.vstack([m, [0, 0, 1]])
    if k < 1:
        image = cv2.GaussianBlur(np.ascontiguousarray(image), (0, 0), 0.35 / k)
    return cv2.warpAffine(np.ascontiguousarray(image), m[:2], (size, size), flags=interpolation,
                          borderMode=cv2.BORDER_CONSTANT, borderValue=fill)  # fmt: skip


class UnpairedDrawingDataset(Dataset):
    """One photo and one independently drawn drawing per item, at ``resolution`` S.

    Item (tensors): ``photo`` (3, S, S) and ``drawing`` (1, S, S) in [-1, 1];
    ``photo_masks`` and ``drawing_masks`` (3, S, S) in {0, 1} (nose, eyes, lips);
    ``style`` (K,) the drawing's style vector; ``style_index`` () int64 its artist style.
    Length = number of photos (index i is photo i); the drawing is drawn uniformly
    over all styles' drawings by the item's RNG, so it is a function of (seed, step).
    """

    def __init__(self, photos: list[Path], drawings: list[DrawingItem], cfg: UnpairedConfig, resolution: int = 256,
                 augment: bool = True):  # fmt: skip
        if not photos or not drawings:
            raise ValueError(f"an unpaired set needs photos and drawings, got {len(photos)} and {len(drawings)}")
        self.photos, self.drawings, self.cfg = list(photos), list(drawings), cfg
        self.resolution, self.augment = resolution, augment

    def __len__(self) -> int:
        return len(self.photos)

    def _load(self, file: Path, rng: np.random.Generator, photo: bool) -> tuple[np.ndarray, np.ndarray]:
        from apdraw.data.paired import AlignedPair

        pair = AlignedPair.load(file)
        image = pair.photo if photo else pair.drawing
        masks = load_masks(self.cfg, file.stem).transpose(1, 2, 0)
        s = self.resolution
        scale, flip = (self.cfg.load_scale, self.cfg.flip) if self.augment else (1.0, False)
        fill = (255, 255, 255) if photo else 255
        # The same draw for image and masks: the RNG is re-seeded from one state.
        state = rng.bit_generator.state
        img = _crop_flip(image, rng, s, scale, flip, cv2.INTER_CUBIC, fill)
        rng.bit_generator.state = state
        m = _crop_flip(masks, rng, s, scale, flip, cv2.INTER_LINEAR, 0)
        return img, m

    def __getitem__(self, key: SampleKey | int) -> dict[str, torch.Tensor]:
        rng = sample_rng(key)
        photo, pm = self._load(self.photos[key_index(key) % len(self.photos)], rng, photo=True)
        item = self.drawings[int(rng.integers(len(self.drawings)))]
        drawing, dm = self._load(item.file, rng, photo=False)

        def masks(m: np.ndarray) -> torch.Tensor:
            return (torch.from_numpy(np.ascontiguousarray(m.transpose(2, 0, 1))) >= 128).float()

        return {
            "photo": torch.from_numpy(photo).permute(2, 0, 1).float() / 127.5 - 1.0,
            "drawing": torch.from_numpy(drawing)[None].float() / 127.5 - 1.0,
            "photo_masks": masks(pm),
            "drawing_masks": masks(dm),
            "style": torch.tensor(item.style, dtype=torch.float32),
            "style_index": torch.tensor(item.style_index),
        }


def build_unpaired(cfg: UnpairedConfig, resolution: int = 256, progress: bool = True) -> UnpairedDrawingDataset:
    """Preprocess what is missing (alignment, NPR drawings, masks, style vectors) and build the training set."""
    photos = photo_files(cfg, progress)
    sets = drawing_sets(cfg, progress)
    ensure_masks(cfg, photos + [f for s in sets for f in s], progress)
    vectors = style_vectors(cfg, sets, progress)
    drawings = [DrawingItem(f, si, v) for si, (s, vs) in enumerate(zip(sets, vectors)) for f, v in zip(s, vs)]
    return UnpairedDrawingDataset(photos, drawings, cfg, resolution)
