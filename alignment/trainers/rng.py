"""Keyed randomness: each sample's random numbers are a function of a key — the run's seed,
what is being drawn (step, micro-batch, role) and the sample's index in the *global* batch —
instead of a position in one process's random stream (docs/trainers.md, "Multi-process").

A completion, a Bernoulli label or a tournament's coin flips then come out the same whether
the global batch runs in one process or is split over several, and whatever else shares the
batch. ``sampling_rng="global"`` keeps torch's global generator instead (one process only).
"""

from __future__ import annotations

from typing import Sequence

import numpy as np
import torch

_MASK63 = (1 << 63) - 1


def derive_seed(*key: int) -> int:
    """A 63-bit seed from a tuple of non-negative integers (NumPy's ``SeedSequence`` hash, so
    nearby keys give unrelated seeds)."""
    a, b = np.random.SeedSequence([int(k) for k in key]).generate_state(2, np.uint64)
    return int((int(a) ^ (int(b) << 1)) & _MASK63)


def keyed_generator(*key: int) -> torch.Generator:
    """A CPU ``torch.Generator`` seeded by :func:`derive_seed` of ``key``."""
    return torch.Generator().manual_seed(derive_seed(*key))


def keyed_uniform(seeds: Sequence[int], n: int) -> torch.Tensor:
    """``[len(seeds), n]`` uniforms on [0, 1); row i depends on ``seeds[i]`` only."""
    out = torch.empty((len(seeds), n), dtype=torch.float64)
    for i, s in enumerate(seeds):
        out[i] = torch.rand(n, generator=torch.Generator().manual_seed(int(s) & _MASK63), dtype=torch.float64)
    return out


def row_seeds(base: Sequence[int], start: int, count: int) -> list[int]:
    """Seeds of global rows ``start … start + count − 1`` under the key prefix ``base``."""
    return [derive_seed(*base, start + i) for i in range(count)]


__all__ = ["derive_seed", "keyed_generator", "keyed_uniform", "row_seeds"]
