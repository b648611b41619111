"""The APDrawing template's local parts: names and box sizes, defined once.

APDrawingGAN draws four facial parts with their own small networks, in boxes
of fixed size centred on the landmarks of the 512² aligned face (the face
pipeline computes the boxes, the models crop them). The original defines the
sizes at 256² (eyes 56x40, nose 48x48, mouth 64x40, as (W, H)); they scale
linearly with the frame: at 512² eyes are 112x80, the nose 96x96, the mouth 128x80.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:  # pragma: no cover
    import numpy as np

#: Part order everywhere: left eye, right eye, nose, mouth ("left" is the image left).
PART_NAMES = ("eyel", "eyer", "nose", "mouth")
#: The two large regions with their own local networks: hair and background.
REGION_NAMES = ("hair", "bg")

#: (W, H) of each part box at 256².
BOX_SIZES_256 = {"eyel": (56, 40), "eyer": (56, 40), "nose": (48, 48), "mouth": (64, 40)}


def box_sizes(resolution: int) -> dict[str, tuple[int, int]]:
    """(W, H) of each part box at ``resolution`` (rounded; exact for multiples of 256)."""
    ratio = resolution / 256.0
    return {name: (int(round(w * ratio)), int(round(h * ratio))) for name, (w, h) in BOX_SIZES_256.items()}


def boxes_array(boxes) -> "np.ndarray":
    """{"eyel": (x0, y0, x1, y1), ...} (as ``FaceMasks.boxes``) -> (4, 4) int64 array in PART_NAMES order."""
    import numpy as np

    return np.array([list(boxes[p]) for p in PART_NAMES], np.int64)


def fit_boxes(boxes, from_size: int, resolution: int):
    """Rescale part boxes from a ``from_size`` frame to ``resolution`` and shift them inside it.

    ``boxes``: (B, 4, 4) int torch tensor, (x0, y0, x1, y1) end exclusive, PART_NAMES
    order. Returns (B, 4, 4) int64 boxes of exactly :func:`box_sizes` (so crops of a
    batch stack) lying inside the frame; the original would crash on a box sticking out.
    """
    import torch

    sizes = torch.tensor([box_sizes(resolution)[p] for p in PART_NAMES], dtype=torch.int64, device=boxes.device)
    centre = (boxes[..., :2].double() + boxes[..., 2:].double()) / 2 * (resolution / from_size)
    lo = torch.floor(centre - sizes / 2 + 0.5).to(torch.int64)
    lo = torch.maximum(torch.minimum(lo, resolution - sizes), torch.zeros_like(lo))
    return torch.cat([lo, lo + sizes], dim=-1)
