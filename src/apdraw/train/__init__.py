"""Training: one shared loop (``loop.py``) and one small task module per model (``tasks/``).

See :mod:`apdraw.train.tasks` for what a task provides and how ``apdraw train`` finds it.
"""
