"""Data sets, splits, augmentation and the per-sample RNG keys.

``data`` depends only on :mod:`apdraw.io`, :mod:`apdraw.config`,
:mod:`apdraw.parts` and (to preprocess photos) :mod:`apdraw.face` /
:mod:`apdraw.npr`; nothing here imports the training loop or the models.
"""

from __future__ import annotations

import os
from pathlib import Path


def shared_data_dir() -> Path:
    """Where the research data sets live: ``$APDRAW_SHARED_DATA``, else ``../shared/data``.

    The relative default is resolved against the working directory (the
    repository root, where the commands are run), never against this file, so
    it means the same for an editable and a regular install.
    """
    env = os.environ.get("APDRAW_SHARED_DATA")
    return Path(env) if env else Path("..") / "shared" / "data"
