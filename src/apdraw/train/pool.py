"""The image history buffer of CycleGAN-style training (Shrivastava et al. 2017), checkpointable.

A discriminator is shown a mix of the newest fakes and older ones, which damps
oscillation. :class:`ImagePool` keeps up to ``size`` past entries (a fake and
what travels with it: its style vector, its masks) as module buffers, so the
training loop checkpoints it with the weights and a resumed run continues with
the same pool. Its random choices use torch's global RNG, which the loop also
checkpoints.
"""

from __future__ import annotations

import torch
from torch import nn


class ImagePool(nn.Module):
    """``query(**tensors)``: each batch row is returned as is, or (p = 0.5, once the pool is full)
    swapped with a random stored row of the same keys, as the original's ImagePool.

    All tensors of one call share the batch dimension B; per-row shapes must not change
    between calls. ``size`` 0 = no pool (the inputs are returned).
    """

    def __init__(self, size: int = 50):
        super().__init__()
        if size < 0:
            raise ValueError(f"pool size must be >= 0, got {size}")
        self.size = size
        self.register_buffer("count", torch.zeros((), dtype=torch.int64))
        self._keys: list[str] = []

    def _ensure(self, tensors: dict[str, torch.Tensor]) -> None:
        for k, v in tensors.items():
            name = f"pool_{k}"
            if not hasattr(self, name) or getattr(self, name) is None:
                self.register_buffer(name, torch.zeros((self.size, *v.shape[1:]), dtype=v.dtype, device=v.device))
            if k not in self._keys:
                self._keys.append(k)

    def _load_from_state_dict(self, state_dict, prefix, *args, **kwargs):  # noqa: ANN001 - nn.Module's signature
        # Buffers are created on first use; a restored pool creates them from the checkpoint.
        for key, value in state_dict.items():
            if key.startswith(prefix + "pool_"):
                name = key[len(prefix):]
                if not hasattr(self, name):
                    self.register_buffer(name, torch.zeros_like(value))
                    self._keys.append(name[len("pool_"):])
        super()._load_from_state_dict(state_dict, prefix, *args, **kwargs)

    @torch.no_grad()
    def query(self, **tensors: torch.Tensor) -> dict[str, torch.Tensor]:
        if self.size == 0:
            return tensors
        self._ensure(tensors)
        batch = next(iter(tensors.values())).shape[0]
        out = {k: v.detach().clone() for k, v in tensors.items()}
        for i in range(batch):
            n = int(self.count)
            if n < self.size:  # filling up: store, and return the new row
                for k, v in tensors.items():
                    getattr(self, f"pool_{k}")[n] = v[i].detach()
                self.count += 1
            elif torch.rand(()) < 0.5:  # return an old row, store the new one in its place
                j = int(torch.randint(0, self.size, ()))
                for k, v in tensors.items():
                    buf = getattr(self, f"pool_{k}")
                    out[k][i] = buf[j]
                    buf[j] = v[i].detach()
        return out
