"""apdraw: artistic portrait drawings from face photos.

Subpackages:
    face    detection, 5-point landmarks, alignment to the APDrawing template, masks
    npr     the classical (non-learned) pen-drawing engine
    data    datasets and transforms
    models  one file per system, plus shared layers
    losses  training losses
    train   one shared training loop with small per-model steps
    eval    metrics and reports
"""

__version__ = "0.1.0"
