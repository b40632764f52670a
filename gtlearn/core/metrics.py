"""The shared currency of gtlearn: equilibrium gaps and divergences, and the per-iteration
:class:`Metrics` record that every method logs.

Equilibrium gaps of extensive-form games (NashConv, exploitability) are computed by
``solvers.best_response`` on compiled trees; this module holds the game-independent pieces.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any

import numpy as np


@dataclass
class Metrics:
    """One logged point of a run: the iteration, the headline gap and anything else measured.

    ``gap`` is the run's headline equilibrium gap (exploitability for game solvers,
    regularized exploitability or divergence for alignment methods); ``gap_name`` says which.
    """

    iteration: int
    gap: float
    gap_name: str = "exploitability"
    wall_time: float = 0.0
    extra: dict[str, Any] = field(default_factory=dict)

    def to_dict(self) -> dict[str, Any]:
        out = asdict(self)
        extra = out.pop("extra")
        out.update(extra)
        return out

    @classmethod
    def from_dict(cls, row: dict[str, Any]) -> "Metrics":
        """The record :meth:`to_dict` (one line of ``metrics.jsonl``) was made from."""
        extra = {k: v for k, v in row.items() if k not in ("iteration", "gap", "gap_name", "wall_time")}
        return cls(int(row["iteration"]), row["gap"], row.get("gap_name", "gap"), row.get("wall_time", 0.0), extra)


def kl_divergence(p, q, axis: int = -1) -> np.ndarray:
    """KL(p || q) = sum p log(p/q) along ``axis``, with 0 log 0 = 0 and +inf where q = 0 < p."""
    p = np.asarray(p, dtype=np.float64)
    q = np.asarray(q, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        terms = np.where(p > 0, p * (np.log(p) - np.log(q)), 0.0)
    return terms.sum(axis=axis)
