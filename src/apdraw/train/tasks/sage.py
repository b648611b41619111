"""`apdraw train sage`: SAGE (Ma et al., IJCAI 2023), multi-view portrait drawings (SPEC C).

Four stages, chained through ``init`` (each starts from the previous one's ``latest.pt``):

* ``stage=reconstruct`` (**ours**, the warm start; not in the paper, which trains
  adversarially from scratch): an *auto-decoder*. Every training image (a mirrored
  item is its own image) owns a learnable code ``w`` (``nn.Embedding``, one row per
  :attr:`apdraw.data.sage.SageDataset.num_codes`) in the space of the mapping network's
  *mapping code* w_s, the activation after its last LeakyReLU. The FiLM frequencies and
  phases are the mapping network's own head applied to it (``head(w)``), exactly as
  in :class:`apdraw.models.sage.MappingNetwork`, so a code is a complete
  :class:`~apdraw.models.sage.Latent`. The field, the head and both decoders render each
  photo from its *estimated* pose (:mod:`apdraw.data.sage`) and learn, with the codes,
  photometric(image decoder, photo) + ``nerf_weight`` · photometric(NeRF RGB, photo at R²)
  + λ_CE · CE(semantic logits, label map), photometric = λ·L1 + (1 − λ)·SSIM
  (:func:`apdraw.losses.sage.photometric_loss`). No discriminator. Why codes in w_s
  space rather than z: a 64/256-dim code is all the field and decoders need (the head
  is shared), and fitting the mapping network afterwards is a low-dimensional
  distribution-matching problem; codes of z would need the whole mapping network to
  stay invertible through the fit. The auxiliary stereo view is off by default
  (``reconstruct_stereo``): the target *is* the primary view, so the aux view would
  double the NeRF cost for a consistency term whose job the photometric loss at the
  true pose already does for the rendered view; the adversarial stage turns it on.
  Where the codes start (``code_init``, ours): a sample of the untrained mapping network's
  codes (``mapping``), or codes made from each photo's MobileNetV2 features
  (``features``, :func:`photo_feature_codes`), which the decoders can read from the first
  step: at a CPU budget each code is visited about ten times, too few for a random code
  to learn whose face it is (the function's docstring gives the measurements).
* ``stage=map`` (**ours**): the codes and everything else frozen, the mapping network's
  trunk learns z ~ N(0, I) -> w so that trunk(z) follows the learned codes'
  distribution, by minimising the sliced Wasserstein-2 distance (``map_projections``
  random directions per step, exact 1-D optimal transport by sorting) between a batch
  of mapped z and a batch of codes. Why: it is a metric between distributions (moment
  matching would only fix the mean and covariance), it needs no discriminator and no
  rendering (a step costs milliseconds), and it trains the paper's own mapping network
  instead of bolting a sampler on beside it. No photos are loaded in this stage.
* ``stage=adversarial``: the paper's Stage I (SPEC C.4, C.5). Per step a D step, then a
  G step: D_I (photos) and D_s (semantic maps; real ones one-hot in {−1, +1}, fake ones
  logits) each softplus(D(fake)) + softplus(−D(real)) + R1 0.5·γ·E‖∇D(real)‖² +
  pos_λ·MSE(pose head on fakes, camera); G: top-k non-saturating on both Ds +
  pos_λ·(MSE_I + MSE_s) + reproj_λ·L_rec (the stereo auxiliary view's reprojection
  loss, with the feature mixup). Adam β = (0, 0.9), grads clipped at 10, the
  curriculum's sizes and learning rates (``curriculum``, progressive decoder and
  discriminator growth with a ``fade_steps`` fade-in), density noise
  max(0, 1 − step/``nerf_noise_steps``).
* ``stage=translate``: the paper's Stage II: the feature projector (mapping network and
  field) frozen, the features rendered without gradients, the SPADE U-Net G_p trained
  with D_p (drawings) and D_s only (no D_I, no L_rec), pos_λ·½(MSE_p + MSE_s). As the
  original (SPEC C.4: ``decoder`` and ``decoder_parsing`` are optimised; the U-Net is
  inside ``decoder``), ``translate_train=decoders`` trains both decoders and G_p;
  ``translator`` trains G_p alone (``all``: end-to-end, below). The real drawings are synthetic (**ours**: made from
  the CelebAMask-HQ-mini photos by this project's 2D styles, ``scripts/sage_drawings.py``;
  the paper's own drawing sets are not all released). No stereo view in this stage
  (**ours**: its only use is L_rec and the mixup of a field that is frozen now).

Ablation arms of the paper's Table 2 (**ours**, as we define them; ``scripts/ablate_sage.py`` runs them):

* ``translate_train=all``, **end-to-end** (the paper's "w/o two-stage" comparison as we define
  it): in stage=translate nothing is frozen. The mapping network, the field, both decoders and
  G_p learn from D_p and D_s plus the pose term, the features rendered with gradients; no stereo
  view and no L_rec (Stage II has none). Meant to start from the warm start directly
  (``init`` = the map stage's ``latest.pt``), skipping Stage I; both discriminators then start
  fresh, so ``real_pose`` and ``pose_warmup`` (as in Stage I) and pos_λ > 0 (the only 3D
  supervision left) belong with it.
* ``model.drawing_head=image_decoder``, **no translator**: the drawing is the image decoder's
  RGB averaged to one gray channel and clamped to [-1, 1] (the range of G_p's Tanh, what D_p
  takes; :meth:`apdraw.models.sage.SageGenerator.draw`), G_p is neither run nor trained, and the
  decoders learn to draw (so ``translate_train`` must be ``decoders`` or ``all``). It is a model
  setting, stored with the weights, so the exported generator draws the same way
  (:mod:`apdraw.multiview`).
* The plain U-Net instead of the SPADE U-Net: ``model.translator.spade_levels=0``.

Additions for CPU runs, all **ours** and off unless set: ``pose_source=data`` renders the
fakes at the real batch's estimated poses (instead of the prior N(π/2, 0.3) ×
N(π/2, 0.155)), ``reuse_fakes`` lets the G step reuse the D step's fakes (one generator
pass per step instead of two), ``projected`` adds an unconditional projected
discriminator (:mod:`apdraw.models.projected`, hinge) on the photos (Stage I) or the
drawings (Stage II), ``augment`` applies DiffAugment before D_I, D_p and the projected
D, ``r1_every`` > 1 makes R1 lazy, ``real_pose`` makes D's pose head also regress the real
photos' estimated poses (so it means something before the fakes do) and ``pose_warmup`` ramps
G's pose term in from 0 (a warm-started G must not follow a fresh D's random pose head). The compact configs also use a low NeRF resolution
(32²) and grow the decoders 64² -> 128².
"""

from __future__ import annotations

import contextlib
import dataclasses
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Literal

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from apdraw.data.sage import SageDataConfig, build_sage_dataset, semantic_one_hot
from apdraw.losses.diffaugment import DiffAugmentConfig, diff_augment
from apdraw.losses.gan import gan_loss
from apdraw.losses.sage import (
    SageLossConfig,
    discriminator_loss,
    generator_loss,
    photometric_loss,
    pose_loss,
    r1_loss,
    reprojection_loss,
    semantic_cross_entropy,
)
from apdraw.models.projected import ProjectedConfig, ProjectedDiscriminator
from apdraw.models.sage import (
    Cameras,
    Latent,
    SageConfig,
    SageGenerator,
    build_discriminators,
    compact_config,
    load_generator,
    save_generator,
)
from apdraw.models.sage.renderer import sample_angles
from apdraw.persistence import checkpoint_module, read_checkpoint
from apdraw.train.loop import Context, LoopConfig, TrainingSetupError, TrainTask, lazy_regularization

HALF_PI = math.pi / 2


@dataclass
class Phase:
    """One stage of the curriculum (SPEC C.5): from step ``start`` on, outputs of side ``size``."""

    start: int = 0  # first step of the phase
    size: int = 64  # decoder output = discriminator input side
    lr_g: float = 6e-5
    lr_d: float = 2e-4
    pos_lambda: float = 15.0  # pose-regression weight (0 in the paper's 256 stage)


def paper_curriculum() -> tuple[Phase, ...]:
    """SPEC C.5: 64² (0-25k), 128² (25k-50k), 256² (50k-90k)."""
    return (Phase(0, 64, 6e-5, 2e-4, 15.0), Phase(25_000, 128, 5e-5, 2e-4, 15.0), Phase(50_000, 256, 3e-5, 1e-4, 0.0))


def _default_curriculum() -> tuple[Phase, ...]:
    return paper_curriculum()[:2]  # the compact decoders stop at 128²


@dataclass
class Config:
    stage: Literal["reconstruct", "map", "adversarial", "translate"] = "reconstruct"
    model: SageConfig = field(default_factory=compact_config)  # generator and discriminator sizes
    init: str = ""  # latest.pt of a previous sage stage (G, codes and Ds it has), or a G .safetensors
    data: SageDataConfig = field(default_factory=SageDataConfig)
    drawings_dir: str = ""  # stage=translate: NAME.png per photo (scripts/sage_drawings.py), in the cropped photo frame
    loss: SageLossConfig = field(default_factory=SageLossConfig)
    curriculum: tuple[Phase, ...] = field(default_factory=_default_curriculum)
    fade_steps: int = 2000  # fade-in of a new scale (SPEC C.5)
    nerf_noise_steps: int = 5000  # density noise std max(0, 1 - step / this); 0 = none
    betas: tuple[float, float] = (0.0, 0.9)  # Adam, adversarial stages (SPEC C.5)
    clip: float = 10.0  # gradient-norm clip of G and each D (SPEC C.5)
    # Ours, CPU additions (see the module doc); defaults = the paper.
    pose_source: Literal["prior", "data"] = "prior"  # data: fakes rendered at the real batch's estimated poses
    reuse_fakes: bool = False  # the G step reuses the D step's fakes (one G pass per step)
    r1_every: int = 1  # R1 every N steps, weighted N (lazy); 1 = every step as the paper
    real_pose: bool = False  # D's pose head also regresses the real photos' estimated poses
    pose_warmup: int = 0  # G's pose term ramps from 0 to pos_λ over these steps (a fresh D's pose head is noise)
    projected: float = 0.0  # weight of an unconditional projected D (hinge) on photos / drawings; 0 = off
    projected_config: ProjectedConfig = field(default_factory=lambda: ProjectedConfig(conditional=False, resolution=128))
    augment: DiffAugmentConfig = field(default_factory=DiffAugmentConfig)  # DiffAugment before D_I, D_p, projected
    # Ours: the reconstruction warm start (stage=reconstruct).
    reconstruct_stereo: bool = False  # render the aux view and add reproj_λ·L_rec (module doc: why off)
    nerf_weight: float = 1.0  # weight of the photometric loss on the NeRF RGB
    # Ours: + perceptual_weight · the MobileNetV2 perceptual distance (losses.perceptual, taps at strides
    # 2..16, at the decoder's output size) between the decoded photo and the photo. Why: with codes that
    # carry identity (code_init=features) the pixel losses spend the decoders on each face's colours and
    # the eyes and mouth faded (MediaPipe found no face in the reconstructions); 0 = off.
    perceptual_weight: float = 0.0
    recon_lr: float = 2e-4  # Adam (0.9, 0.999) for the field, head and decoders
    code_lr: float = 1e-3  # Adam for the per-image codes
    # Ours: where the codes start. mapping: the untrained mapping network's output for random z;
    # features: from what each photo looks like (photo_feature_codes: MobileNetV2 features, PCA), so
    # the decoders can learn identity from the first step (module doc: why).
    code_init: Literal["mapping", "features"] = "mapping"
    # Ours: fitting the mapping network (stage=map).
    map_lr: float = 1e-3
    map_projections: int = 128  # random directions of the sliced Wasserstein distance per step
    # Stage II: what learns. decoders: both decoders + G_p (the original); translator: G_p alone; all: also
    # the mapping network and the field (ours, the end-to-end ablation; module doc). G_p only with drawing_head=translator.
    translate_train: Literal["decoders", "translator", "all"] = "decoders"
    # Ours: a paired term for G_p. Each real item's own auto-decoder code (from the warm start's
    # checkpoint, ``init`` = a reconstruct or map latest.pt) rendered at the item's estimated pose
    # gives that photo's reconstruction; G_p's drawing of it is pulled towards the item's synthetic
    # drawing by paired_l1 · L1 (pix2pix's λ·L1 beside the GAN loss). 0 = off (the paper).
    paired_l1: float = 0.0
    # Validation and previews.
    val_items: int = 4  # reconstruct: held-out photos (codes fitted with the networks frozen) and training ones
    val_fit_steps: int = 30  # Adam steps fitting a held-out photo's code
    val_samples: int = 16  # adversarial/translate: fixed-seed samples scored against the data's statistics
    sample_rows: int = 4
    sample_yaws: tuple[float, ...] = (-0.4, 0.0, 0.4)  # yaw offsets from frontal in the preview grid, radians
    loop: LoopConfig = field(default_factory=lambda: LoopConfig(out_dir="runs/sage", batch_size=4))

    def __post_init__(self) -> None:
        self.curriculum = tuple(self.curriculum)
        if not self.curriculum or self.curriculum[0].start != 0:
            raise ValueError("curriculum must start with a phase at step 0")
        starts = [p.start for p in self.curriculum]
        if starts != sorted(set(starts)):
            raise ValueError(f"curriculum starts must increase, got {starts}")
        m = self.model
        for p in self.curriculum:
            if p.size not in m.image.output_sizes() or p.size not in m.discriminator.input_sizes():
                raise ValueError(f"curriculum size {p.size} must be a decoder output {m.image.output_sizes()} "
                                 f"and a discriminator input {m.discriminator.input_sizes()}")  # fmt: skip
            if p.size % m.translator.factor:
                raise ValueError(f"curriculum size {p.size} must be divisible by the translator's {m.translator.factor}")
            if min(p.lr_g, p.lr_d) <= 0 or p.pos_lambda < 0:
                raise ValueError("curriculum learning rates must be > 0 and pos_lambda >= 0")
        if min(self.recon_lr, self.code_lr, self.map_lr, self.clip) <= 0:
            raise ValueError("recon_lr, code_lr, map_lr and clip must be > 0")
        if min(self.fade_steps, self.nerf_noise_steps, self.projected, self.nerf_weight, self.perceptual_weight, self.val_items,
               self.val_fit_steps, self.val_samples) < 0 or self.r1_every < 1 or self.map_projections < 1:  # fmt: skip
            raise ValueError("fade_steps, nerf_noise_steps, projected, nerf_weight, perceptual_weight and the val_* sizes must be >= 0; "
                             "r1_every and map_projections >= 1")  # fmt: skip
        if self.paired_l1 < 0:
            raise ValueError(f"paired_l1 must be >= 0, got {self.paired_l1}")
        if self.paired_l1 > 0 and self.stage != "translate":
            raise ValueError("paired_l1 is a stage=translate term")
        if self.sample_rows < 1 or not self.sample_yaws:
            raise ValueError("sample_rows must be >= 1 and sample_yaws non-empty")
        if self.code_init not in ("mapping", "features"):
            raise ValueError(f"code_init must be 'mapping' or 'features', got {self.code_init!r}")
        if self.translate_train not in ("decoders", "translator", "all"):
            raise ValueError(f"translate_train must be 'decoders', 'translator' or 'all', got {self.translate_train!r}")
        if m.drawing_head == "image_decoder" and self.translate_train == "translator":
            raise ValueError("model.drawing_head=image_decoder (no translator) draws with the image decoder, so "
                             "translate_train=translator would train nothing: use translate_train=decoders or all")  # fmt: skip

    @property
    def resolution(self) -> int:
        """The data's side: the curriculum's largest output."""
        return max(p.size for p in self.curriculum)

    def phase(self, step: int) -> tuple[Phase, float]:
        """The curriculum phase at ``step`` and the fade-in alpha of its scale (1 in the first phase)."""
        current = [p for p in self.curriculum if p.start <= step][-1]
        if current.start == 0 or self.fade_steps == 0:
            return current, 1.0
        return current, min(1.0, (step - current.start) / self.fade_steps)


# --------------------------------------------------------------------------- helpers


class CodeIndices(torch.utils.data.Dataset):
    """stage=map: items are code indices only ({"index": () int64}); no photo is loaded."""

    def __init__(self, n: int):
        self.n = n

    def __len__(self) -> int:
        return self.n

    def __getitem__(self, key) -> dict[str, torch.Tensor]:
        i = key.index if hasattr(key, "index") else int(key)
        return {"index": torch.tensor(i, dtype=torch.int64)}


def translate_trained(g: SageGenerator, translate_train: str) -> list[nn.Module]:
    """The parts of G that learn in stage=translate: G_p (when it draws, ``drawing_head=translator``), both
    decoders (``decoders``, ``all``), and the mapping network and field (``all``, end-to-end). The renderer and the
    stereo view have no parameters."""
    parts: list[nn.Module] = [g.translator] if g.cfg.drawing_head == "translator" else []
    if translate_train in ("decoders", "all"):
        parts += [g.semantic_decoder, g.image_decoder]
    if translate_train == "all":
        parts += [g.mapping, g.field]
    return parts


def warm_start_code_lookup(names: list[str], warm_names: list[str], warm_codes: int) -> torch.Tensor:
    """(2·len(names),) int64: for code index c of a data set over ``names`` (c < N: photo c; c >= N: photo c − N
    mirrored), the code row of the same photo and side in the warm start's data set over ``warm_names``
    (``warm_codes`` = 2·len(warm_names) rows, mirrored ones after the others, as :class:`SageDataset` numbers them;
    len(warm_names) rows without mirroring, and then a len(names) lookup). −1 for a photo the warm start never
    saw (e.g. its held-out split): such items get no paired term.

    Raises:
        TrainingSetupError: no name in common, or a warm start with another code layout.
    """
    n_warm = len(warm_names)
    if warm_codes not in (n_warm, 2 * n_warm):
        raise TrainingSetupError(f"paired_l1: init has {warm_codes} codes, its data set {n_warm} photos")
    row = {n: i for i, n in enumerate(warm_names)}
    if not any(n in row for n in names):
        raise TrainingSetupError(f"paired_l1: no photo here has a warm-start code (e.g. {names[0]}): another data set?")
    own = torch.tensor([row.get(n, -1) for n in names], dtype=torch.int64)
    return torch.cat([own, torch.where(own >= 0, own + n_warm, own)]) if warm_codes == 2 * n_warm else own


def photo_features(dataset, batch_size: int = 32, progress: bool = True) -> np.ndarray:
    """MobileNetV2's pooled ImageNet features (num_codes, 1280) float64 of every code's photo
    (:class:`apdraw.models.sage.encoder.PhotoFeatures`).

    ``dataset``: a :class:`~apdraw.data.sage.SageDataset`; code i < N is photo i's training crop at 256²,
    code N + i the same crop mirrored (when the data set flips). The features :func:`photo_feature_codes`
    starts the codes from and :mod:`apdraw.models.sage.encoder` regresses the learned codes on.
    """
    from tqdm import tqdm

    from apdraw.data.sage import centre_crop_resize
    from apdraw.models.sage.encoder import PhotoFeatures

    n = len(dataset)
    mirrored = dataset.num_codes == 2 * n
    extractor = PhotoFeatures(256)
    plain, flipped = [], []
    for start in tqdm(range(0, n, batch_size), desc="MobileNetV2 features", unit="batch", disable=not progress):
        crops = np.stack([centre_crop_resize(dataset.load(i)[0], 256, dataset.cfg.crop_fraction)
                          for i in range(start, min(n, start + batch_size))])  # fmt: skip
        plain.append(extractor(crops).numpy())
        if mirrored:
            flipped.append(extractor(np.ascontiguousarray(crops[:, :, ::-1])).numpy())
    return np.concatenate(plain + flipped)  # code order: the photos, then their mirrors


def photo_feature_codes(dataset, reference: torch.Tensor, batch_size: int = 32, progress: bool = True) -> torch.Tensor:
    """Auto-decoder codes that start from what each photo looks like (``code_init=features``, ours).

    For every code of ``dataset`` (:func:`photo_features`: MobileNetV2's pooled features of its photo,
    mirrored for a mirrored code): PCA to D = ``reference.shape[1]`` components, each whitened to unit
    variance; then each dimension scaled to the mean and std of that dimension of ``reference`` (R, D) (the codes
    the untrained mapping network makes), so the codes live where the mapping head expects them.

    Why: at a CPU budget an auto-decoder sees each of its ~1,800 codes about ten times, and ten Adam steps move a
    random code too little to say whose face it is (measured: after 4,300 steps the codes of a photo and of its
    mirror were no closer than those of two random photos, and training photos decoded at 11.9 dB PSNR, the
    average face; 8 photos, each seen often, reached 17.8 dB in 300 steps). Codes that already differ where the
    photos differ (hair, skin, background, light) let the decoders learn identity from the first step; the codes
    are still learned.

    Returns (dataset.num_codes, D) float32. Raises ValueError when there are fewer codes than D + 1 (no PCA).
    """
    dim = reference.shape[1]
    if dataset.num_codes < dim + 1:
        raise ValueError(f"code_init=features needs more codes ({dataset.num_codes}) than code dimensions ({dim})")
    x = torch.from_numpy(photo_features(dataset, batch_size, progress)).double()
    x = x - x.mean(0)
    _, s, v = torch.linalg.svd(x, full_matrices=False)
    pcs = x @ v[:dim].T / (s[:dim] / math.sqrt(x.shape[0] - 1)).clamp_min(1e-12)  # (num_codes, D), unit variance
    ref = reference.detach().double()
    return (ref.mean(0) + pcs * ref.std(0)).float()


def latent_of(g: SageGenerator, w: torch.Tensor) -> Latent:
    """The :class:`Latent` of mapping codes ``w`` (B, hidden): the mapping head's FiLM parameters and ``w`` itself."""
    return g.mapping.from_code(w)


def sliced_wasserstein(a: torch.Tensor, b: torch.Tensor, projections: int, generator: torch.Generator | None = None) -> torch.Tensor:
    """Sliced Wasserstein-2² between two equal-size samples a, b (N, D): mean over random unit directions
    of the squared 1-D optimal-transport cost (sorted projections). Differentiable in both."""
    if a.shape != b.shape:
        raise ValueError(f"samples must have one shape, got {tuple(a.shape)} and {tuple(b.shape)}")
    d = torch.randn(a.shape[1], projections, generator=generator).to(a)
    d = d / d.norm(dim=0, keepdim=True)
    pa, _ = torch.sort(a @ d, dim=0)
    pb, _ = torch.sort(b @ d, dim=0)
    return (pa - pb).pow(2).mean()


def resize_photo(x: torch.Tensor, size: int) -> torch.Tensor:
    """(B, C, S, S) -> (B, C, size, size), area-averaged (identity at the same size)."""
    return x if x.shape[-1] == size else F.interpolate(x, size=(size, size), mode="area")


def resize_labels(labels: torch.Tensor, size: int) -> torch.Tensor:
    """(B, S, S) int64 -> (B, size, size), nearest."""
    if labels.shape[-1] == size:
        return labels
    return F.interpolate(labels[:, None].float(), size=(size, size), mode="nearest")[:, 0].long()


def _psnr(pred: torch.Tensor, target: torch.Tensor) -> torch.Tensor:
    """Per-item PSNR (dB) of images in [-1, 1] on the [0, 1] scale."""
    mse = (((pred.clamp(-1, 1) - target) / 2) ** 2).flatten(1).mean(1)
    return 10 * torch.log10(1.0 / mse.clamp_min(1e-10))


# --------------------------------------------------------------------------- the task


class Task(TrainTask):
    ema_modules = ("G",)

    def __init__(self, cfg: Config, dataset: torch.utils.data.Dataset | None = None,
                 val_dataset: torch.utils.data.Dataset | None = None):  # fmt: skip
        super().__init__()
        self.config = cfg
        self._init_state: dict | None = None
        if cfg.init and not cfg.init.endswith(".safetensors"):
            try:
                self._init_state = read_checkpoint(cfg.init)
            except (FileNotFoundError, ValueError) as exc:
                raise TrainingSetupError(f"init: {exc}") from None
        if cfg.stage == "map":
            codes = (self._init_state or {}).get("modules", {}).get("codes")
            if codes is None:
                raise TrainingSetupError("stage=map needs init = the latest.pt of a reconstruct run (it holds the learned codes)")
            dataset = CodeIndices(int(codes["weight"].shape[0]))
        elif dataset is None:
            data = cfg.data
            if cfg.stage == "translate":
                if not cfg.drawings_dir or not Path(cfg.drawings_dir).is_dir():
                    raise TrainingSetupError(f"stage=translate needs drawings_dir, a folder of NAME.png drawings per photo; "
                                             f"{cfg.drawings_dir or '(unset)'!r} is not one. Make them with "
                                             "`python scripts/sage_drawings.py --out DIR`")  # fmt: skip
                data = dataclasses.replace(data, drawings_dir=cfg.drawings_dir)
            try:
                dataset = build_sage_dataset(data, cfg.resolution)
            except (FileNotFoundError, ValueError) as exc:  # no photos, or (translate) no photo with a drawing
                raise TrainingSetupError(f"SAGE data: {exc}") from None
        self.dataset = dataset
        self.num_codes = int(getattr(dataset, "num_codes", len(dataset)))
        self._code_of: torch.Tensor | None = None  # paired_l1: item code -> warm-start code
        if cfg.stage == "translate" and cfg.paired_l1 > 0:
            self._code_of = self._warm_start_codes(dataset)
        self._val_dataset = val_dataset
        self._last_r1: dict[str, float] = {}

    def _warm_start_codes(self, dataset) -> torch.Tensor:
        """paired_l1: for each code index of ``dataset`` (mirrored items included), the row of the warm start's codes
        for the same photo (and side). The warm start's data set can hold photos this one lacks (no drawing), so
        rows are matched by photo name; a data set without names (tests) must have the warm start's size."""
        state = self._init_state or {}
        codes = state.get("modules", {}).get("codes")
        if codes is None:
            raise TrainingSetupError("paired_l1 > 0 needs init = the latest.pt of a reconstruct or map run (it holds the codes)")
        n_codes = int(codes["weight"].shape[0])
        names = getattr(dataset, "names", None)
        if names is None:
            if n_codes != self.num_codes:
                raise TrainingSetupError(f"paired_l1: {self.num_codes} codes here, {n_codes} in init")
            return torch.arange(n_codes)
        from apdraw.config import from_dict

        data = from_dict(SageDataConfig, state.get("config", {}).get("data", {}))
        theirs = build_sage_dataset(dataclasses.replace(data, drawings_dir=""), self.config.resolution, progress=False).names
        lookup = warm_start_code_lookup(list(names), list(theirs), n_codes)
        if len(lookup) < self.num_codes:
            raise TrainingSetupError("paired_l1: this data set mirrors its photos and the warm start's did not")
        return lookup

    # ------------------------------------------------------------------ setup

    def build(self, ctx: Context) -> None:
        cfg = self.config
        g = SageGenerator(cfg.model)
        modules: dict[str, nn.Module] = {"G": g}
        if cfg.stage in ("reconstruct", "map") or self._code_of is not None:
            n = self.num_codes if self._code_of is None else int(self._init_state["modules"]["codes"]["weight"].shape[0])
            codes = nn.Embedding(n, cfg.model.mapping.hidden)
            with torch.no_grad():  # start as a sample of the (untrained) mapping network's codes
                codes.weight.copy_(g.mapping.trunk(torch.randn(n, cfg.model.mapping.z_dim)))
                if cfg.stage == "reconstruct" and cfg.code_init == "features":  # a resume overwrites them anyway
                    try:
                        codes.weight.copy_(photo_feature_codes(self.dataset, codes.weight))
                    except ValueError as exc:
                        raise TrainingSetupError(str(exc)) from None
            modules["codes"] = codes
        ds = build_discriminators(cfg.model.discriminator)
        if cfg.stage == "adversarial":
            modules.update(D_image=ds["image"], D_semantic=ds["semantic"])
        elif cfg.stage == "translate":
            modules.update(D_drawing=ds["drawing"], D_semantic=ds["semantic"])
        if cfg.projected > 0 and cfg.stage in ("adversarial", "translate"):
            modules["P"] = ProjectedDiscriminator(cfg.projected_config)
        self._load_init(modules)
        for name, m in modules.items():
            self.modules[name] = ctx.prepare(m)
        self.nets = {k: ctx.wrap(m) for k, m in self.modules.items()}
        g = self.modules["G"]

        def adam(params, lr, betas=(0.9, 0.999)):
            return torch.optim.Adam([p for p in params if p.requires_grad], lr=lr, betas=betas)

        lr_g, lr_d = cfg.curriculum[0].lr_g, cfg.curriculum[0].lr_d
        if cfg.stage == "reconstruct":
            used = [g.mapping.head, g.field, g.semantic_decoder, g.image_decoder]  # the trunk and G_p are not run
            self.optimizers["G"] = adam([p for m in used for p in m.parameters()], cfg.recon_lr)
            self.optimizers["codes"] = adam(self.modules["codes"].parameters(), cfg.code_lr)
        elif cfg.stage == "map":
            g.requires_grad_(False)
            g.mapping.trunk.requires_grad_(True)
            self.modules["codes"].requires_grad_(False)
            self.optimizers["M"] = adam(g.mapping.trunk.parameters(), cfg.map_lr)
        elif cfg.stage == "adversarial":
            parts = [g.mapping, g.field, g.semantic_decoder, g.image_decoder]  # G_p is not run in Stage I
            self.optimizers["G"] = adam([p for m in parts for p in m.parameters()], lr_g, cfg.betas)
            for name in ("D_image", "D_semantic"):
                self.optimizers[name] = adam(self.modules[name].parameters(), lr_d, cfg.betas)
        else:  # translate: the feature projector (mapping network + field) frozen, unless translate_train=all
            g.requires_grad_(False)
            if "codes" in self.modules:  # paired_l1: the warm start's codes, fixed
                self.modules["codes"].requires_grad_(False)
            trained = translate_trained(g, cfg.translate_train)
            for m in trained:
                m.requires_grad_(True)
            self.optimizers["G"] = adam([p for m in trained for p in m.parameters()], lr_g, cfg.betas)
            for name in ("D_drawing", "D_semantic"):
                self.optimizers[name] = adam(self.modules[name].parameters(), lr_d, cfg.betas)
        if "P" in self.modules:
            self.optimizers["P"] = adam(self.modules["P"].parameters(), lr_d, cfg.betas)
        self.perceptual = None
        if cfg.stage == "reconstruct" and cfg.perceptual_weight > 0:
            from apdraw.losses.perceptual import PerceptualLoss

            self.perceptual = ctx.prepare(PerceptualLoss(resolution=cfg.curriculum[-1].size, stages=(0, 1, 2, 3)))

    def _load_init(self, modules: dict[str, nn.Module]) -> None:
        """Start from another stage: every module of ``init`` that this stage has.

        G's live weights, except for stage=translate, which takes G's EMA where ``init`` has one: Stage II
        freezes the projector, so it freezes the generator Stage I exports (its EMA). Measured: after our
        40-minute Stage I the live G decoded noise while its EMA still rendered faces (docs/SAGE.md).

        One exception: stage=translate from an earlier stage (reconstruct, map, adversarial: none of them trains
        G_p) whose G_p is built differently (e.g. ``model.translator.spade_levels=0``, the U-Net ablation) keeps
        this run's own freshly initialised G_p; every other weight must fit."""
        path = self.config.init
        if not path:
            return
        try:
            if path.endswith(".safetensors"):
                modules["G"].load_state_dict(load_generator(path).state_dict())
                return
            state = self._init_state
            for name, m in modules.items():
                if name not in state["modules"]:
                    continue
                ema = name == "G" and self.config.stage == "translate"
                weights = checkpoint_module(state, name, prefer_ema=ema, source=path)
                if name == "G" and self._untrained_translator_differs(state):
                    weights = {k: v for k, v in weights.items() if not k.startswith("translator.")}
                    missing, unexpected = m.load_state_dict(weights, strict=False)
                    wrong = [k for k in missing if not k.startswith("translator.")] + list(unexpected)
                    if wrong:
                        raise RuntimeError(f"Error(s) in loading state_dict for SageGenerator:\n    keys that do not fit: {wrong[:8]}")
                else:
                    m.load_state_dict(weights)
        except (RuntimeError, KeyError, ValueError) as exc:
            lines = str(exc).splitlines()
            detail = (lines[1] if len(lines) > 1 else lines[0]).strip()[:240]
            raise TrainingSetupError(f"init {path} does not fit this run's networks: {detail}") from None

    def _untrained_translator_differs(self, state: dict) -> bool:
        """stage=translate, ``init`` from a stage that never trains G_p, and its G_p built with another config."""
        from apdraw.config import ConfigError, from_dict

        init_cfg = state.get("config") or {}
        if self.config.stage != "translate" or init_cfg.get("stage") not in ("reconstruct", "map", "adversarial"):
            return False
        try:
            theirs = from_dict(SageConfig, init_cfg.get("model", {})).translator
        except ConfigError:
            return False  # let the strict load say what does not fit
        return theirs != self.config.model.translator

    # ------------------------------------------------------------------ schedule

    def _set_lr(self, phase) -> None:
        if self.config.stage not in ("adversarial", "translate"):
            return
        for name, opt in self.optimizers.items():
            for group in opt.param_groups:
                group["lr"] = phase.lr_g if name == "G" else phase.lr_d

    def _noise(self, step: int) -> float:
        n = self.config.nerf_noise_steps
        return max(0.0, 1.0 - step / n) if n > 0 else 0.0

    def _poses(self, batch: dict[str, torch.Tensor], b: int, like: torch.Tensor) -> tuple[torch.Tensor, torch.Tensor]:
        if self.config.pose_source == "data":
            return batch["yaw"][:b], batch["pitch"][:b]
        return sample_angles(self.config.model.renderer, b, like)

    def _aug(self, x: torch.Tensor) -> torch.Tensor:
        return diff_augment(self.config.augment, x)[0]

    # ------------------------------------------------------------------ steps

    def train_step(self, batch: dict[str, torch.Tensor], step: int, ctx: Context) -> dict[str, float]:
        self._last_step = step  # previews and validation use this step's curriculum phase
        stage = self.config.stage
        if stage == "reconstruct":
            return self._reconstruct_step(batch, step, ctx)
        if stage == "map":
            return self._map_step(batch, ctx)
        return self._gan_step(batch, step, ctx)

    def _reconstruct_step(self, batch: dict[str, torch.Tensor], step: int, ctx: Context) -> dict[str, float]:
        cfg, lc = self.config, self.config.loss
        phase, alpha = cfg.phase(step)
        g = self.nets["G"]
        w = self.nets["codes"](batch["index"])
        with ctx.autocast():
            out = g(latent_of(self.modules["G"], w), batch["yaw"], batch["pitch"], output_size=phase.size, alpha=alpha,
                    nerf_noise=self._noise(step), stereo=cfg.reconstruct_stereo, translate=False)  # fmt: skip
        photo = batch["photo"]
        l_img = photometric_loss(out.image.float(), resize_photo(photo, phase.size), lc.recon_l1_weight)
        l_nerf = photometric_loss(out.nerf_rgb.float(), resize_photo(photo, out.nerf_rgb.shape[-1]), lc.recon_l1_weight)
        l_sem = semantic_cross_entropy(out.semantic.float(), resize_labels(batch["labels"], phase.size))
        loss = l_img + cfg.nerf_weight * l_nerf + lc.semantic_ce_lambda * l_sem
        scalars = {"photo": l_img.item(), "nerf": l_nerf.item(), "semantic_ce": l_sem.item()}
        if self.perceptual is not None:
            l_perc = self.perceptual(out.image.float(), resize_photo(photo, phase.size))
            loss = loss + cfg.perceptual_weight * l_perc
            scalars["perceptual"] = l_perc.item()
        if cfg.reconstruct_stereo:
            l_rec = reprojection_loss(out.nerf_rgb.float(), out.warped_rgb.float(), lc.reproj_l1_weight)
            loss = loss + lc.reproj_lambda * l_rec
            scalars["reproj"] = l_rec.item()
        scalars["loss"] = loss.item()
        (loss / ctx.accumulate).backward()
        if ctx.last_micro:
            opt_g, opt_c = self.optimizers["G"], self.optimizers["codes"]
            nn.utils.clip_grad_norm_([p for gr in opt_g.param_groups for p in gr["params"] if p.grad is not None], cfg.clip)
            opt_g.step()
            opt_c.step()
            opt_g.zero_grad(set_to_none=True)
            opt_c.zero_grad(set_to_none=True)
        return scalars

    def _map_step(self, batch: dict[str, torch.Tensor], ctx: Context) -> dict[str, float]:
        cfg = self.config
        codes = self.modules["codes"].weight.detach()[batch["index"]]
        z = torch.randn(codes.shape[0], cfg.model.mapping.z_dim, device=codes.device)
        w = self.modules["G"].mapping.trunk(z)
        loss = sliced_wasserstein(w, codes, cfg.map_projections)
        ctx.step(self.optimizers["M"], loss)
        return {"swd": loss.item(), "mean_gap": (w.mean(0) - codes.mean(0)).norm().item(),
                "std_ratio": (w.std(0).mean() / codes.std(0).mean().clamp_min(1e-8)).item()}  # fmt: skip

    def _generate(self, batch: dict[str, torch.Tensor], step: int, grad: bool) -> dict[str, torch.Tensor]:
        """Fakes at the current phase: image and semantic (Stage I, with L_rec) or drawing and semantic (Stage II)."""
        cfg = self.config
        phase, alpha = cfg.phase(step)
        g = self.modules["G"]
        b = batch["photo"].shape[0]
        like = batch["photo"]
        z = torch.randn(b, cfg.model.mapping.z_dim, device=like.device)
        yaw, pitch = self._poses(batch, b, like)
        noise = self._noise(step)
        with torch.set_grad_enabled(grad):
            if cfg.stage == "adversarial":
                out = self.nets["G"](z, yaw, pitch, output_size=phase.size, alpha=alpha, nerf_noise=noise, translate=False)
                fake = {"image": out.image, "semantic": out.semantic}
                if out.warped_rgb is not None:
                    fake["reproj"] = reprojection_loss(out.nerf_rgb.float(), out.warped_rgb.float(), cfg.loss.reproj_l1_weight)
            else:
                train = cfg.translate_train
                # the feature projector: frozen (no gradients) unless end-to-end; never the stereo view here
                with contextlib.nullcontext() if train == "all" else torch.no_grad():
                    latent = g.mapping(z)
                    view = g.render(latent, Cameras.from_angles(yaw.to(like), pitch.to(like), cfg.model.renderer.radius), noise)
                with contextlib.nullcontext() if train in ("decoders", "all") else torch.no_grad():
                    semantic = g.semantic_decoder(view.features, latent.code, phase.size, alpha)
                    image = g.image_decoder(view.features, latent.code, phase.size, alpha)
                fake = {"drawing": g.draw(image, semantic), "semantic": semantic}  # G_p, or the gray image (no translator)
        fake.update(yaw=yaw, pitch=pitch)
        return fake

    def _gan_step(self, batch: dict[str, torch.Tensor], step: int, ctx: Context) -> dict[str, float]:
        cfg, lc = self.config, self.config.loss
        phase, alpha = cfg.phase(step)
        self._set_lr(phase)
        size = phase.size
        pos_w = phase.pos_lambda * (1.0 if cfg.stage == "adversarial" else 0.5)  # Stage II averages the two (SPEC C.4)
        if cfg.pose_warmup:  # ours
            pos_w *= min(1.0, step / cfg.pose_warmup)
        visual = "image" if cfg.stage == "adversarial" else "drawing"
        d_names = {visual: f"D_{visual}", "semantic": "D_semantic"}
        real = {"semantic": semantic_one_hot(resize_labels(batch["labels"], size)),
                visual: resize_photo(batch["photo" if visual == "image" else "drawing"], size)}  # fmt: skip
        scalars: dict[str, float] = {"size": float(size), "alpha": alpha}
        r1_w = lazy_regularization(step, cfg.r1_every)

        # ---- D step (SPEC C.4): each D on real vs fake, R1 on reals, pose regression on fakes
        fake = self._generate(batch, step, grad=cfg.reuse_fakes)
        with ctx.autocast():
            for key, name in d_names.items():
                d = self.nets[name]
                aug = self._aug if key == visual else (lambda x: x)
                x_real = aug(real[key]).detach().requires_grad_(r1_w > 0)
                logit_real, pose_real = d(x_real, alpha)
                logit_fake, pose_fake = d(aug(fake[key].detach()), alpha)
                loss_d = discriminator_loss(logit_real.float(), logit_fake.float())
                l_pos = pose_loss(pose_fake.float(), fake["yaw"], fake["pitch"])
                total = loss_d + phase.pos_lambda * l_pos
                if cfg.real_pose:  # ours: the real photos' estimated poses teach the pose head too
                    l_pos_real = pose_loss(pose_real.float(), batch["yaw"], batch["pitch"])
                    total = total + phase.pos_lambda * l_pos_real
                    scalars[f"d_pos_real_{key}"] = l_pos_real.item()
                if r1_w > 0:
                    r1 = r1_loss(logit_real.float(), x_real, lc.r1_gamma)
                    total = total + r1_w * r1
                    self._last_r1[key] = r1.item()
                # lazy R1: its last computed value (0 before the first), so every log row has the column
                scalars[f"r1_{key}"] = self._last_r1.get(key, 0.0)
                scalars.update({f"d_{key}": loss_d.item(), f"d_pos_{key}": l_pos.item()})
                ctx.step(self.optimizers[name], total, clip=cfg.clip)
            if "P" in self.modules:
                p_real = self.nets["P"](self._aug(real[visual]))
                p_fake = self.nets["P"](self._aug(fake[visual].detach()))
                d_p = sum(gan_loss(v, True, "hinge") for v in p_real.values()) + sum(gan_loss(v, False, "hinge") for v in p_fake.values())
                d_p = d_p / len(p_real)
                scalars["d_proj"] = d_p.item()
                ctx.step(self.optimizers["P"], d_p, clip=cfg.clip)

        # ---- G step: top-k non-saturating on both Ds, pose regression, L_rec (Stage I)
        if not cfg.reuse_fakes:
            fake = self._generate(batch, step, grad=True)
        topk = lc.topk_at(step)
        loss_g = torch.zeros((), device=real[visual].device)
        with ctx.autocast():
            for key, name in d_names.items():
                if not fake[key].requires_grad:  # translate_train=translator: the semantic map is not trained
                    continue
                with ctx.frozen(self.modules[name]) as d:
                    aug = self._aug if key == visual else (lambda x: x)
                    logit, pose = d(aug(fake[key]), alpha)
                g_adv = generator_loss(logit.float(), topk)
                g_pos = pose_loss(pose.float(), fake["yaw"], fake["pitch"])
                loss_g = loss_g + g_adv + pos_w * g_pos
                scalars.update({f"g_{key}": g_adv.item(), f"g_pos_{key}": g_pos.item()})
            if "P" in self.modules:
                with ctx.frozen(self.modules["P"]) as p:
                    logits = p(self._aug(fake[visual]))
                g_p = sum(gan_loss(v, True, "hinge", for_discriminator=False) for v in logits.values()) / len(logits)
                loss_g = loss_g + cfg.projected * g_p
                scalars["g_proj"] = g_p.item()
        if "reproj" in fake:
            loss_g = loss_g + lc.reproj_lambda * fake["reproj"]
            scalars["reproj"] = fake["reproj"].item()
        if self._code_of is not None:  # ours: G_p's drawing of each item's own reconstruction vs its drawing
            with ctx.autocast():
                l_paired = self._paired_l1(batch, phase, alpha, step)
            loss_g = loss_g + cfg.paired_l1 * l_paired
            scalars["paired_l1"] = l_paired.item()
        scalars["loss_g"] = loss_g.item()
        ctx.step(self.optimizers["G"], loss_g, clip=cfg.clip)
        return scalars

    def _paired_l1(self, batch: dict[str, torch.Tensor], phase, alpha: float, step: int) -> torch.Tensor:
        """L1 between G's drawing of each item's warm-start code at the item's pose and the item's drawing."""
        cfg = self.config
        g = self.modules["G"]
        like = batch["photo"]
        rows = self._code_of.to(like.device)[batch["index"]]
        keep = rows >= 0  # items the warm start saw
        if not keep.any():
            return torch.zeros((), device=like.device)
        batch = {k: batch[k][keep] for k in ("yaw", "pitch", "drawing")}
        codes = self.modules["codes"].weight[rows[keep]]
        train = cfg.translate_train
        with contextlib.nullcontext() if train == "all" else torch.no_grad():
            latent = latent_of(g, codes)
            cams = Cameras.from_angles(batch["yaw"].to(like), batch["pitch"].to(like), cfg.model.renderer.radius)
            view = g.render(latent, cams, self._noise(step))
        with contextlib.nullcontext() if train in ("decoders", "all") else torch.no_grad():
            semantic = g.semantic_decoder(view.features, latent.code, phase.size, alpha)
            image = g.image_decoder(view.features, latent.code, phase.size, alpha)
        drawing = g.draw(image, semantic)
        return (drawing.float() - resize_photo(batch["drawing"], phase.size)).abs().mean()

    # ------------------------------------------------------------------ previews and validation

    def sample(self, batch: dict[str, torch.Tensor], ctx: Context) -> np.ndarray:
        with torch.random.fork_rng(devices=[]):
            return self._sample(batch)

    def _sample(self, batch: dict[str, torch.Tensor]) -> np.ndarray:
        """Rows (fixed seeds, or in stage=reconstruct the batch's own codes after its real photo): for each view
        [photo | semantic colour | drawing (Stage II) or NeRF RGB]; views: the true pose (reconstruct), then
        frontal yaw + ``sample_yaws``."""
        from apdraw.models.parser import colorize

        cfg = self.config
        g = self.averaged("G")
        size = cfg.resolution if cfg.stage == "map" else self._current_size()
        gen = torch.Generator().manual_seed(1234)
        device = next(g.parameters()).device
        if cfg.stage == "reconstruct":
            n = min(cfg.sample_rows, batch["index"].shape[0])
            latent = latent_of(g, self.modules["codes"](batch["index"][:n]))
            views = [(batch["yaw"][:n], batch["pitch"][:n])]
        else:
            n = cfg.sample_rows
            latent = g.mapping(torch.randn(n, cfg.model.mapping.z_dim, generator=gen).to(device))
            views = []
        for dy in cfg.sample_yaws:
            views.append((torch.full((n,), HALF_PI + dy, device=device), torch.full((n,), HALF_PI, device=device)))
        tiles: list[torch.Tensor] = []  # each (n, 3, size, size) in [0, 1]
        if cfg.stage == "reconstruct":
            tiles.append(resize_photo(batch["photo"][:n], size))
        for yaw, pitch in views:
            out = g(latent, yaw.to(device), pitch.to(device), output_size=size, stereo=False,
                    translate=cfg.stage == "translate", generator=gen)  # fmt: skip
            sem = colorize(out.semantic.argmax(1).cpu().numpy())  # (n, S, S, 3)
            sem = torch.from_numpy(sem).permute(0, 3, 1, 2).float().to(device) / 127.5 - 1
            third = out.drawing.expand(-1, 3, -1, -1) if out.drawing is not None else F.interpolate(out.nerf_rgb, size=(size, size), mode="nearest")
            tiles += [out.image, sem, third]
        grid = torch.cat([torch.cat(list(t.float().clamp(-1, 1)), 1) for t in tiles], 2)
        return ((grid.permute(1, 2, 0).cpu().numpy() + 1) * 127.5).round().astype(np.uint8)

    def _current_size(self) -> int:
        return self.config.phase(getattr(self, "_last_step", 0))[0].size

    def validate(self, ctx: Context) -> dict[str, float] | None:
        with torch.random.fork_rng(devices=[]):
            stage = self.config.stage
            if stage == "reconstruct":
                return self._validate_reconstruct(ctx)
            if stage == "map":
                return self._validate_map(ctx)
            return self._validate_samples(ctx)

    def _items(self, dataset, n: int, ctx: Context) -> dict[str, torch.Tensor]:
        items = [dataset[i] for i in range(min(n, len(dataset)))]
        return ctx.to_device({k: torch.stack([it[k] for it in items]) for k in items[0]})

    def _validate_reconstruct(self, ctx: Context) -> dict[str, float] | None:
        """Training photos from their codes, and held-out ones from codes fitted with the networks frozen
        (``val_fit_steps`` Adam steps from the codes' mean): PSNR and L1 of the decoded photo, semantic accuracy."""
        cfg = self.config
        if not cfg.val_items:
            return None
        g = self.averaged("G")
        size = self._current_size()
        codes = self.modules["codes"].weight.detach()

        def score(prefix: str, batch: dict[str, torch.Tensor], w: torch.Tensor) -> dict[str, float]:
            gen = torch.Generator().manual_seed(7)
            out = g(latent_of(g, w), batch["yaw"], batch["pitch"], output_size=size, stereo=False, translate=False, generator=gen)
            photo, labels = resize_photo(batch["photo"], size), resize_labels(batch["labels"], size)
            return {f"{prefix}_psnr": _psnr(out.image, photo).mean().item(),
                    f"{prefix}_l1": (out.image.clamp(-1, 1) - photo).abs().mean().item() / 2,
                    f"{prefix}_sem_acc": (out.semantic.argmax(1) == labels).float().mean().item()}  # fmt: skip

        train = self._items(self.dataset, cfg.val_items, ctx)
        metrics = score("train", train, codes[train["index"]])
        val = self._val_set()
        if val is not None and cfg.val_fit_steps:
            batch = self._items(val, cfg.val_items, ctx)
            w = codes.mean(0, keepdim=True).repeat(batch["photo"].shape[0], 1).clone().requires_grad_(True)
            opt = torch.optim.Adam([w], lr=cfg.code_lr * 10)
            flags = [p.requires_grad for p in g.parameters()]
            g.requires_grad_(False)
            gen = torch.Generator().manual_seed(11)
            try:
                with torch.enable_grad():
                    for _ in range(cfg.val_fit_steps):
                        out = g(latent_of(g, w), batch["yaw"], batch["pitch"], output_size=size, stereo=False,
                                translate=False, generator=gen)  # fmt: skip
                        loss = photometric_loss(out.image, resize_photo(batch["photo"], size), cfg.loss.recon_l1_weight) \
                            + cfg.loss.semantic_ce_lambda * semantic_cross_entropy(out.semantic, resize_labels(batch["labels"], size))
                        opt.zero_grad()
                        loss.backward()
                        opt.step()
            finally:
                for p, f in zip(g.parameters(), flags):
                    p.requires_grad_(f)
            metrics.update(score("val", batch, w.detach()))
        return metrics

    def _val_set(self):
        if self._val_dataset is None and self.config.data.split == "train":
            vc = dataclasses.replace(self.config.data, split="val", flip=False, max_items=self.config.val_items)
            try:
                self._val_dataset = build_sage_dataset(vc, self.config.resolution, progress=False)
            except ValueError:
                return None
        return self._val_dataset

    def _validate_map(self, ctx: Context) -> dict[str, float]:
        """SWD (fixed directions), mean gap and std ratio between 1024 mapped z and (up to 1024) codes."""
        g = self.averaged("G")
        codes = self.modules["codes"].weight.detach()
        gen = torch.Generator().manual_seed(5)
        n = min(1024, codes.shape[0])
        pick = torch.randperm(codes.shape[0], generator=gen)[:n].to(codes.device)
        w = g.mapping.trunk(torch.randn(n, self.config.model.mapping.z_dim, generator=gen).to(codes.device))
        c = codes[pick]
        return {"swd": sliced_wasserstein(w, c, 256, gen).item(), "mean_gap": (w.mean(0) - c.mean(0)).norm().item(),
                "std_ratio": (w.std(0).mean() / c.std(0).mean().clamp_min(1e-8)).item()}  # fmt: skip

    def _validate_samples(self, ctx: Context) -> dict[str, float] | None:
        """Fixed-seed samples at the data's poses against the data: L1 between the class histograms of the
        generated and the real semantic maps (``class_hist_l1``), and (Stage II) the gap in mean ink."""
        cfg = self.config
        if not cfg.val_samples:
            return None
        g = self.averaged("G")
        size = self._current_size()
        real = self._items(self.dataset, cfg.val_samples, ctx)
        n = real["photo"].shape[0]
        gen = torch.Generator().manual_seed(3)
        z = torch.randn(n, cfg.model.mapping.z_dim, generator=gen).to(real["photo"].device)
        out = g(z, real["yaw"], real["pitch"], output_size=size, stereo=False, translate=cfg.stage == "translate", generator=gen)
        k = cfg.model.classes
        hist = lambda lab: torch.bincount(lab.flatten(), minlength=k).float() / lab.numel()  # noqa: E731
        metrics = {"class_hist_l1": (hist(out.semantic.argmax(1)) - hist(resize_labels(real["labels"], size))).abs().sum().item()}
        if out.drawing is not None:
            ink = lambda d: ((1 - d.clamp(-1, 1)) / 2).mean().item()  # noqa: E731
            metrics["ink_gap"] = abs(ink(out.drawing) - ink(resize_photo(real["drawing"], size)))
        return metrics


# --------------------------------------------------------------------------- checkpoints -> inference


def generator_from_checkpoint(path: str | Path, prefer_ema: bool = True) -> SageGenerator:
    """The generator of a training checkpoint (its EMA copy when kept), eval mode."""
    from apdraw.config import from_dict

    state = read_checkpoint(path)
    cfg = from_dict(Config, state["config"])
    g = SageGenerator(cfg.model)
    g.load_state_dict(checkpoint_module(state, "G", prefer_ema, source=str(path)))
    g.step = int(state["step"])  # type: ignore[attr-defined]
    g.stage = cfg.stage  # type: ignore[attr-defined]
    return g.eval()


def export(checkpoint: str | Path, out: str | Path, half: bool = True, prefer_ema: bool = True) -> Path:
    """Write a checkpoint's whole generator (mapping, field, decoders, G_p; EMA when kept and ``prefer_ema``) for
    :func:`apdraw.models.sage.load_generator` (:mod:`apdraw.multiview`, ``apdraw generate``)."""
    g = generator_from_checkpoint(checkpoint, prefer_ema)
    extra = {"train_step": str(g.step), "stage": g.stage, "source": Path(checkpoint).name,  # type: ignore[attr-defined]
             "weights": "ema" if prefer_ema else "live"}  # fmt: skip
    return save_generator(out, g, half=half, extra=extra)
