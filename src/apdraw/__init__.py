"""apdraw: artistic portrait drawings from face photos.

Layers (docs/ARCHITECTURE.md; each imports only those below it):
    commands, cli            the `apdraw` command
    styles, pipeline         drawing styles and PortraitPipeline (photo -> drawings)
    train, eval              one training loop with small per-model tasks; metrics and reports
    face, data               detection, landmarks, alignment, masks; data sets and splits
    models, losses, npr      networks on tensors, losses, the classical pen-drawing engine
    io, config, registry, parts, runtime, persistence    the base
"""

__version__ = "0.2.0"
