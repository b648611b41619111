"""The training tasks, by name: ``apdraw train NAME`` and ``apdraw export NAME``.

Each task is a module ``apdraw.train.tasks.<name>`` with:

* ``Config``: a dataclass with a ``loop: LoopConfig`` field, the one source of its defaults;
* ``Task``: a :class:`apdraw.train.loop.TrainTask` built as ``Task(cfg)``;
* ``export(checkpoint, out, half=True) -> Path``: a training checkpoint's network as
  shipped safetensors weights (EMA weights when the run kept them).

Adding a task: write the module and register a :class:`TaskSpec` here.
"""

from __future__ import annotations

from dataclasses import dataclass
from types import ModuleType

from apdraw.registry import Registry, load_target


@dataclass(frozen=True)
class TaskSpec:
    name: str
    help: str
    module: str

    def load(self) -> ModuleType:
        return load_target(self.module)


TASKS: Registry[TaskSpec] = Registry("training task")
TASKS.register(TaskSpec("apdrawinggan", "APDrawingGAN generator and discriminators (NPR pre-training or formal)", "apdraw.train.tasks.apdrawinggan"))
TASKS.register(TaskSpec("linedetector", "the line detectors of APDrawingGAN's distance-transform loss", "apdraw.train.tasks.linedetector"))
TASKS.register(TaskSpec("parser", "the 19-class face parser (mask backend 'parser')", "apdraw.train.tasks.parser"))
