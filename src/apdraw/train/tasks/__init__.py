"""The training tasks, by name: ``apdraw train NAME`` and ``apdraw export NAME``.

Each task is a module ``apdraw.train.tasks.<name>`` with:

* ``Config``: a dataclass with a ``loop: LoopConfig`` field, the one source of its defaults;
* ``Task``: a :class:`apdraw.train.loop.TrainTask` built as ``Task(cfg)``;
* ``export(checkpoint, out, half=True) -> Path``: a training checkpoint's network as
  shipped safetensors weights (EMA weights when the run kept them).

Adding a task: write the module and register an :class:`~apdraw.registry.Entry` here.
"""

from __future__ import annotations

from apdraw.registry import Entry, Registry

TASKS: Registry[Entry] = Registry("training task")
TASKS.register(Entry("apdrawinggan", "APDrawingGAN generator and discriminators (NPR pre-training or formal)", "apdraw.train.tasks.apdrawinggan"))
TASKS.register(Entry("linedetector", "the line detectors of APDrawingGAN's distance-transform loss", "apdraw.train.tasks.linedetector"))
TASKS.register(Entry("qmupd", "QMUPD: unpaired multi-style drawing (NPR warm start, then the asymmetric cycle)", "apdraw.train.tasks.qmupd"))
TASKS.register(Entry("parser", "the 19-class face parser (mask backend 'parser')", "apdraw.train.tasks.parser"))
TASKS.register(Entry("sage", "SAGE: 3D-aware multi-view drawings (reconstruction warm start, mapping fit, Stage I, Stage II)", "apdraw.train.tasks.sage"))
