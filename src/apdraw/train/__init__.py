"""Training: one shared loop (`loop.py`) and one small task module per model.

A model's module ``apdraw.train.<name>`` exposes ``Config`` (a dataclass with a
``loop: LoopConfig`` field) and ``Task`` (a :class:`~apdraw.train.loop.TrainTask`
built as ``Task(cfg)``); ``apdraw train <name>`` finds them by name.
"""

TASKS = {
    "parser": "apdraw.train.parser",
    "apdrawinggan": "apdraw.train.apdrawinggan",
    "linedetector": "apdraw.train.linedetector",
}
