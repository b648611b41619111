"""The 19-class face parser: a MobileNetV2 encoder with a light U-Net/FPN decoder.

Classes follow the CelebAMask-HQ order (see :data:`CLASS_NAMES`). The network is
trained on square crops at ``input_size`` (default 320); :class:`FaceParser`
letterboxes any (H, W) photo to a square, resizes it to that size, predicts,
and upsamples the logits back to the photo's own size before the argmax.

Public API::

    parser = FaceParser.from_pretrained()      # shipped weights
    labels = parser.parse(rgb)                 # (H, W) uint8 in 0..18
    labels = parse(rgb)                        # the same, with a cached default parser
    color = colorize(labels)                   # (H, W, 3) uint8, CelebAMask-HQ palette
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import lru_cache
from pathlib import Path

import numpy as np
import torch
import torch.nn.functional as F
from torch import nn

from apdraw.models.mobilenetv2 import STAGE_CHANNELS, MobileNetV2, mobilenet_v2, normalize
from apdraw.runtime import torch_threads

NUM_CLASSES = 19
CLASS_NAMES = (
    "background", "skin", "nose", "eyeglasses", "l_eye", "r_eye", "l_brow", "r_brow", "l_ear", "r_ear",
    "mouth", "u_lip", "l_lip", "hair", "hat", "earring", "necklace", "neck", "cloth",
)  # fmt: skip
# Classes of the target mean IoU (eyeglasses, ears, hat and jewellery are rare in the data).
TARGET_CLASSES = (0, 1, 2, 4, 5, 6, 7, 10, 11, 12, 13, 17, 18)

# Label permutation under a horizontal flip: person-left and person-right parts swap.
FLIP_LABELS = np.arange(NUM_CLASSES, dtype=np.uint8)
for _a, _b in ((4, 5), (6, 7), (8, 9)):
    FLIP_LABELS[_a], FLIP_LABELS[_b] = _b, _a

# The CelebAMask-HQ colour palette (as used by its visualisations and SAGE's train.py).
PALETTE = np.array(
    [
        [0, 0, 0], [204, 0, 0], [76, 153, 0], [204, 204, 0], [51, 51, 255], [204, 0, 204], [0, 255, 255],
        [255, 204, 204], [102, 51, 0], [255, 0, 0], [102, 204, 0], [255, 255, 0], [0, 0, 153], [0, 0, 204],
        [255, 51, 153], [0, 204, 204], [0, 51, 0], [255, 153, 51], [0, 204, 0],
    ],
    dtype=np.uint8,
)  # fmt: skip

WEIGHTS_DIR = Path(__file__).resolve().parents[1] / "weights"
DEFAULT_WEIGHTS = WEIGHTS_DIR / "parser.safetensors"


@dataclass
class ParserArch:
    """Architecture hyper-parameters; stored in the safetensors metadata so weights are self-describing."""

    decoder_channels: tuple[int, int, int, int] = (96, 64, 48, 32)  # at strides 16, 8, 4, 2
    input_size: int = 320


class SepConv(nn.Sequential):
    """Depthwise 3x3 + pointwise 1x1, each with BN and ReLU: a cheap 3x3 conv."""

    def __init__(self, cin: int, cout: int):
        super().__init__(
            nn.Conv2d(cin, cin, 3, padding=1, groups=cin, bias=False),
            nn.BatchNorm2d(cin),
            nn.ReLU(inplace=True),
            nn.Conv2d(cin, cout, 1, bias=False),
            nn.BatchNorm2d(cout),
            nn.ReLU(inplace=True),
        )


class UpBlock(nn.Module):
    """Upsample the coarse path x2, concatenate the encoder skip, fuse with a SepConv."""

    def __init__(self, c_coarse: int, c_skip: int, cout: int):
        super().__init__()
        self.fuse = SepConv(c_coarse + c_skip, cout)

    def forward(self, coarse: torch.Tensor, skip: torch.Tensor) -> torch.Tensor:
        up = F.interpolate(coarse, size=skip.shape[-2:], mode="bilinear", align_corners=False)
        return self.fuse(torch.cat([up, skip], dim=1))


class ParserNet(nn.Module):
    """MobileNetV2 encoder (strides 2..32) + U-Net-style decoder up to stride 2.

    Input: (B, 3, H, W) RGB in [0, 1]; H and W multiples of 32.
    Output: (B, 19, H, W) logits.
    """

    def __init__(self, arch: ParserArch | None = None, pretrained_encoder: bool = False):
        super().__init__()
        self.arch = arch or ParserArch()
        self.encoder: MobileNetV2 = mobilenet_v2(pretrained=pretrained_encoder)
        # The ImageNet classifier is never used; drop it so it is neither trained nor shipped.
        del self.encoder.classifier
        c2, c4, c8, c16, c32 = STAGE_CHANNELS
        d16, d8, d4, d2 = self.arch.decoder_channels
        # Global context (pooled stride-32 features) is added back everywhere at stride 32:
        # hair/cloth/background decisions need more than the local receptive field.
        self.reduce32 = nn.Sequential(nn.Conv2d(c32, d16, 1, bias=False), nn.BatchNorm2d(d16), nn.ReLU(inplace=True))
        self.context = nn.Sequential(nn.Conv2d(c32, d16, 1), nn.ReLU(inplace=True))
        self.up16 = UpBlock(d16, c16, d16)
        self.up8 = UpBlock(d16, c8, d8)
        self.up4 = UpBlock(d8, c4, d4)
        self.up2 = UpBlock(d4, c2, d2)
        self.head = nn.Conv2d(d2, NUM_CLASSES, 1)
        self.frozen_blocks = 0

    def freeze_encoder_blocks(self, n: int) -> None:
        """Fix the first ``n`` encoder blocks (weights and BN statistics) at their current values.

        The high-resolution early blocks dominate the backward pass's cost while
        their ImageNet edge/colour filters need little adaptation: freezing them
        makes CPU training about a third cheaper.
        """
        self.frozen_blocks = n
        for p in self.encoder.features[:n].parameters():
            p.requires_grad_(False)
        self.train(self.training)

    def train(self, mode: bool = True) -> "ParserNet":
        super().train(mode)
        self.encoder.features[: self.frozen_blocks].eval()
        return self

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        f2, f4, f8, f16, f32 = self.encoder.stages(normalize(x))
        y = self.reduce32(f32) + self.context(f32.mean(dim=(2, 3), keepdim=True))
        y = self.up16(y, f16)
        y = self.up8(y, f8)
        y = self.up4(y, f4)
        y = self.up2(y, f2)
        return F.interpolate(self.head(y), size=x.shape[-2:], mode="bilinear", align_corners=False)


def _letterbox(image: np.ndarray, size: int) -> tuple[np.ndarray, tuple[int, int, int, int]]:
    """(H, W, 3) -> a size² square: the photo resized to fit, padded by edge replication.

    Returns the square and the (top, left, h, w) box of the photo in the padded
    square of side max(H, W) (before the resize). Memory stays of the order of
    the photo and the square: the padded full-size square is never built.
    """
    import cv2

    h, w = image.shape[:2]
    side = max(h, w)
    top, left = (side - h) // 2, (side - w) // 2
    interp = cv2.INTER_AREA if side > size else cv2.INTER_LINEAR
    if h == w:
        return cv2.resize(image, (size, size), interpolation=interp), (0, 0, h, w)
    k = size / side
    rh, rw = max(1, round(h * k)), max(1, round(w * k))
    small = cv2.resize(image, (rw, rh), interpolation=interp)
    st, sl = min(round(top * k), size - rh), min(round(left * k), size - rw)
    square = cv2.copyMakeBorder(small, st, size - rh - st, sl, size - rw - sl, cv2.BORDER_REPLICATE)
    return square, (top, left, h, w)


def _bilinear_taps(n_out: int, n_in: int, start: int, count: int) -> tuple[torch.Tensor, torch.Tensor, torch.Tensor]:
    """Source indices and weights of a bilinear resize n_in -> n_out (align_corners=False), for
    output positions start..start+count-1: (i0, i1, w1), each (count,)."""
    dst = torch.arange(start, start + count, dtype=torch.float64)
    src = ((dst + 0.5) * (n_in / n_out) - 0.5).clamp(min=0.0)
    i0 = src.floor().long().clamp(max=n_in - 1)
    i1 = (i0 + 1).clamp(max=n_in - 1)
    return i0, i1, (src - i0).float()


class FaceParser:
    """Inference wrapper around :class:`ParserNet` (eval mode, no grad).

    ``num_threads``: torch CPU threads while parsing (restored afterwards); None
    keeps the process setting. The default, 1, is deliberate: on the project's
    shared 2-core machines a 512² parse took 0.10 s with one thread but 2.9 s
    with two under load (OpenMP threads spin waiting for a busy core).
    """

    def __init__(
        self, net: ParserNet, device: str | torch.device = "cpu", fix_sides: bool = True, num_threads: int | None = 1
    ):
        self.net = net.eval().to(device)
        self.device = torch.device(device)
        self.fix_sides = fix_sides
        self.num_threads = num_threads

    @property
    def input_size(self) -> int:
        return self.net.arch.input_size

    @classmethod
    def from_pretrained(
        cls,
        path: str | Path | None = None,
        device: str | torch.device = "cpu",
        fix_sides: bool = True,
        num_threads: int | None = 1,
    ) -> "FaceParser":
        """Load shipped (or given) safetensors weights; fp16 files are cast to fp32."""
        return cls(load_parser_net(path or DEFAULT_WEIGHTS), device, fix_sides, num_threads)

    # Square photos up to this many pixels (aligned faces) are upsampled in one piece (fast);
    # others in row bands, so memory grows with the pixel count, not with the square of the longer side.
    WHOLE_PIXELS = 1024 * 1024
    BAND_PIXELS = 128 * 1024

    def _check(self, image: np.ndarray) -> None:
        if image.ndim != 3 or image.shape[2] != 3 or image.dtype != np.uint8:
            raise ValueError(f"expected (H, W, 3) uint8 RGB, got {image.shape} {image.dtype}")

    def logits(self, image: np.ndarray) -> torch.Tensor:
        """(H, W, 3) uint8 RGB -> (19, H, W) float32 logits at the photo's size.

        Needs 76 bytes per pixel; :meth:`parse` needs far less for large photos.
        """
        self._check(image)
        with torch_threads(self.num_threads, self.device):
            low, box = self._low_res_logits(image)
            return self._upsample(low, box, 0, image.shape[0])

    @torch.inference_mode()
    def _low_res_logits(self, image: np.ndarray) -> tuple[torch.Tensor, tuple[int, int, int, int]]:
        """The network's (1, 19, S, S) logits of the letterboxed photo, and the photo's box."""
        square, box = _letterbox(image, self.input_size)
        x = torch.from_numpy(square).to(self.device).permute(2, 0, 1)[None].float() / 255.0
        # Channels-last makes both the upsampling and the per-pixel argmax over
        # classes run on contiguous memory: ~3x faster than NCHW at 512² (measured).
        return self.net(x).float().contiguous(memory_format=torch.channels_last), box

    @torch.inference_mode()
    def _upsample(self, low: torch.Tensor, box: tuple[int, int, int, int], row0: int, rows: int) -> torch.Tensor:
        """Rows row0..row0+rows of the photo's (19, H, W) logits, bilinear from the S² logits."""
        top, left, h, w = box
        side, size = max(h, w), low.shape[-1]
        if h * w <= self.WHOLE_PIXELS and h == w:
            out = F.interpolate(low, size=(side, side), mode="bilinear", align_corners=False)
            return out[0, :, top + row0 : top + row0 + rows, left : left + w].cpu()
        y0, y1, wy = _bilinear_taps(side, size, top + row0, rows)
        x0, x1, wx = _bilinear_taps(side, size, left, w)
        low = low[0].to(torch.float32)
        band = low[:, y0] * (1 - wy)[None, :, None] + low[:, y1] * wy[None, :, None]  # (19, rows, S)
        return (band[:, :, x0] * (1 - wx) + band[:, :, x1] * wx).cpu()  # (19, rows, w)

    def parse(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (H, W) uint8 label map with values 0..18.

        Memory: the label map plus bands of at most BAND_PIXELS logits, whatever the aspect ratio.
        With ``fix_sides`` the left/right parts are relabelled by :func:`resolve_sides`.
        """
        self._check(image)
        h, w = image.shape[:2]
        labels = np.empty((h, w), np.uint8)
        with torch_threads(self.num_threads, self.device):
            low, box = self._low_res_logits(image)
            # A band holds (19, rows, max(W, S)) floats while it is interpolated.
            whole = h == w and h * w <= self.WHOLE_PIXELS  # the exact path of _upsample
            step = h if whole else max(1, self.BAND_PIXELS // max(w, self.input_size))
            for r in range(0, h, step):
                band = self._upsample(low, box, r, min(step, h - r))
                labels[r : r + band.shape[1]] = band.permute(1, 2, 0).argmax(dim=-1).to(torch.uint8).numpy()
        return resolve_sides(labels) if self.fix_sides else labels

    def probabilities(self, image: np.ndarray) -> np.ndarray:
        """(H, W, 3) uint8 RGB -> (19, H, W) float32 softmax probabilities in [0, 1]."""
        return self.logits(image).softmax(dim=0).numpy()


_SIDE_PAIRS = ((4, 5), (6, 7), (8, 9))  # (person's left, person's right): eyes, brows, ears


def resolve_sides(labels: np.ndarray) -> np.ndarray:
    """Relabel each eye/brow/ear blob as left or right from where it lies relative to the nose.

    A convolutional net tells "which eye" only from context, and gets it wrong
    more often than it gets the eye's shape wrong. Geometry is unambiguous: the
    person's left is on the image right of the nose, measured across the
    nose->mouth axis so tilted faces work too. Blobs are matched to the nearest
    nose (several faces may be present). (H, W) uint8 -> (H, W) uint8.
    """
    import cv2

    n_nose, _, _, nose_c = cv2.connectedComponentsWithStats((labels == 2).astype(np.uint8), connectivity=8)
    if n_nose <= 1:
        return labels
    noses = nose_c[1:]
    ys, xs = np.nonzero((labels >= 10) & (labels <= 12))  # mouth, upper lip, lower lip
    rights = []  # per nose: the unit vector pointing to the image right across the face
    for nose in noses:
        down = np.array([0.0, 1.0])
        if xs.size:
            # The mouth pixels nearest this nose give the face's "down" direction.
            d2 = (xs - nose[0]) ** 2 + (ys - nose[1]) ** 2
            near = d2 <= np.percentile(d2, 20)
            vec = np.array([xs[near].mean() - nose[0], ys[near].mean() - nose[1]])
            if np.linalg.norm(vec) > 1e-6:
                down = vec / np.linalg.norm(vec)
        rights.append(np.array([down[1], -down[0]]))
    out = labels.copy()
    for left, right in _SIDE_PAIRS:
        pair = (labels == left) | (labels == right)
        n, comp, _, cents = cv2.connectedComponentsWithStats(pair.view(np.uint8), connectivity=8)
        if n <= 1:
            continue
        lut = np.zeros(n, np.uint8)
        for k in range(1, n):
            i = int(np.argmin(((noses - cents[k]) ** 2).sum(1)))
            lut[k] = left if float(np.dot(cents[k] - noses[i], rights[i])) > 0 else right
        out[pair] = lut[comp[pair]]
    return out


def colorize(labels: np.ndarray) -> np.ndarray:
    """(H, W) integer labels 0..18 -> (H, W, 3) uint8 CelebAMask-HQ palette colours."""
    return PALETTE[np.clip(labels, 0, NUM_CLASSES - 1)]


FORMAT = "apdraw.parser/1"


def save_parser_net(net: ParserNet, path: str | Path, half: bool = True, extra: dict[str, str] | None = None) -> Path:
    """Write weights (fp16 by default, BN buffers included) and the architecture to safetensors."""
    from apdraw.persistence import save_model

    return save_model(path, net, FORMAT, net.arch, half=half, extra=extra)


def load_parser_net(path: str | Path) -> ParserNet:
    """Rebuild a :class:`ParserNet` from a file written by :func:`save_parser_net` (strict keys and shapes).

    Raises FileNotFoundError, or :class:`apdraw.persistence.WeightsError` for a file that does not fit.
    """
    from apdraw.persistence import load_model

    net, _ = load_model(path, FORMAT, ParserArch, lambda arch, meta: ParserNet(arch, pretrained_encoder=False))
    return net


@lru_cache(maxsize=1)
def default_parser() -> FaceParser:
    """The shipped parser, loaded once per process."""
    return FaceParser.from_pretrained()


def parse(image: np.ndarray) -> np.ndarray:
    """(H, W, 3) uint8 RGB photo -> (H, W) uint8 label map 0..18 (CelebAMask-HQ classes)."""
    return default_parser().parse(image)
