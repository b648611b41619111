"""Per-sample keys and RNGs: what makes data augmentation exactly reproducible.

The training loop passes a :class:`SampleKey` (index, seed) to
``Dataset.__getitem__`` instead of a bare index. Each sample's augmentation
draws from :func:`sample_rng` seeded by that key, so a sample is the same
whichever worker loads it and whether or not the run was resumed. Datasets
also accept a plain int (evaluation, notebooks), which gets a fixed seed.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np


class SampleKey(NamedTuple):
    """Which item, and the seed of its randomness."""

    index: int
    seed: int


def sample_rng(key: SampleKey | int) -> np.random.Generator:
    """The augmentation RNG for one sample. A plain int index gets a fixed seed."""
    if isinstance(key, SampleKey):
        return np.random.default_rng(key.seed)
    return np.random.default_rng([int(key), 0x5EED])


def key_index(key: SampleKey | int) -> int:
    """The item index of a key or plain index."""
    return key.index if isinstance(key, SampleKey) else int(key)
