"""Shared machinery of the tabular lab: the preference source (exact or sampled, with a query
counter) and the base class of every tabular algorithm.

Modes
-----
``exact``
    Every expectation of preferences is computed exactly from the tensor P. One *query* is one
    evaluation of the vector ``P(· ≻ μ | x)`` for all contexts (the spec's unit: Nash-MP spends
    two per iteration).
``sampled``
    Every expectation is replaced by a Monte-Carlo estimate from Bernoulli(P(y ≻ y'|x))
    labels; one *query* is one label. ``P(y ≻ μ)`` is estimated for each response y from
    ``samples`` opponents y' ~ μ (stratified over y, so every response gets the same
    statistical precision σ² ≤ 1/(4·samples)); pairwise quantities are estimated from
    ``samples`` labels per unordered pair. This is the tabular analogue of querying a judge on
    sampled pairs; the enumeration over y is a deliberate deviation from sampling y ~ π, made
    so that low-probability responses do not dominate the error.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass
from typing import Any, Callable

import numpy as np

from games.preference import PreferenceGame
from gtlearn.core.errors import GtlearnError

MODES = ("exact", "sampled")


def log_normalize(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``logits − logsumexp(logits)`` (stable)."""
    m = np.max(logits, axis=-1, keepdims=True)
    return logits - (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))


class PreferenceSource:
    """Answers the preference questions of an algorithm, exactly or from sampled labels, and
    counts them (``queries``: see the module docstring; ``rounds``: oracle calls)."""

    def __init__(self, game: PreferenceGame, mode: str = "exact", samples: int = 64, seed: int = 0) -> None:
        if mode not in MODES:
            raise GtlearnError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        if int(samples) != samples or samples < 1:
            raise GtlearnError(f"samples must be a positive integer, got {samples}")
        self.game = game
        self.mode = mode
        self.samples = int(samples)
        self.rng = np.random.default_rng(seed)
        self.queries = 0
        self.rounds = 0

    @property
    def exact(self) -> bool:
        return self.mode == "exact"

    def labels(self, x: np.ndarray, y: np.ndarray, y2: np.ndarray) -> np.ndarray:
        """Bernoulli(P(y ≻ y'|x)) labels, counted as queries."""
        p = self.game.P[x, y, y2]
        self.queries += int(p.size)
        return (self.rng.random(p.shape) < p).astype(np.float64)

    def sample_responses(self, pi: np.ndarray, size: int) -> np.ndarray:
        """``[X, size]`` responses drawn from π(·|x) for every context (inverse CDF)."""
        cdf = np.cumsum(pi, axis=1)
        cdf[:, -1] = 1.0
        u = self.rng.random((pi.shape[0], size))
        return np.stack([np.searchsorted(cdf[x], u[x], side="right") for x in range(pi.shape[0])])

    def win_prob(self, mu: np.ndarray) -> np.ndarray:
        """``P(y ≻ μ|x)`` ``[X, n]``: exact, or each y against ``samples`` opponents y' ~ μ."""
        self.rounds += 1
        if self.exact:
            self.queries += 1
            return self.game.win_prob(mu)
        X, n = mu.shape
        m = self.samples
        opp = self.sample_responses(mu, n * m).reshape(X, n, m)
        xs = np.broadcast_to(np.arange(X)[:, None, None], opp.shape)
        ys = np.broadcast_to(np.arange(n)[None, :, None], opp.shape)
        return self.labels(xs, ys, opp).mean(axis=2)

    def pair_matrix(self) -> np.ndarray:
        """``P(y ≻ y'|x)`` ``[X, n, n]``: exact, or ``samples`` labels per unordered pair (the
        estimate keeps P̂ + P̂ᵀ = 1 and diagonal ½)."""
        self.rounds += 1
        if self.exact:
            self.queries += 1
            return self.game.P
        X, n = self.game.num_contexts, self.game.num_responses
        iu, ju = np.triu_indices(n, 1)
        m = self.samples
        xs = np.broadcast_to(np.arange(X)[:, None, None], (X, iu.size, m))
        lab = self.labels(xs, np.broadcast_to(iu[None, :, None], xs.shape), np.broadcast_to(ju[None, :, None], xs.shape))
        est = np.full((X, n, n), 0.5)
        est[:, iu, ju] = lab.mean(axis=2)
        est[:, ju, iu] = 1.0 - est[:, iu, ju]
        return est

    def ordered_pairs(self, pi: np.ndarray, count: int) -> tuple[np.ndarray, np.ndarray]:
        """``count`` pairs per context with y, y' i.i.d. from π, ordered by one Bernoulli label:
        returns ``(y_w, y_l)``, each ``[X, count]`` (the i.i.d.-pair scheme of INPO, spec §3.1)."""
        self.rounds += 1
        X = pi.shape[0]
        y = self.sample_responses(pi, count)
        y2 = self.sample_responses(pi, count)
        lab = self.labels(np.broadcast_to(np.arange(X)[:, None], y.shape), y, y2)
        yw = np.where(lab > 0.5, y, y2)
        yl = np.where(lab > 0.5, y2, y)
        return yw, yl


@dataclass
class TabularConfig:
    """Fields every tabular algorithm shares."""

    beta: float = 0.1  # regularization of the game the algorithm solves (τ in INPO)

    def to_dict(self) -> dict[str, Any]:
        return asdict(self)


class TabularAlgorithm:
    """Base class: holds ``log_pi`` ``[X, n]`` (the last iterate), the uniform average of the
    iterates, and the :class:`PreferenceSource`. Subclasses implement :meth:`_update`, which
    returns the next ``log_pi``; :meth:`step` does the bookkeeping."""

    name = "base"
    config_class: type = TabularConfig

    def __init__(self, game: PreferenceGame, config: Any = None, *, mode: str = "exact", samples: int = 64,
                 seed: int = 0, init: np.ndarray | None = None) -> None:
        self.game = game
        self.config = config if config is not None else self.config_class()
        if not isinstance(self.config, self.config_class):
            raise GtlearnError(f"{self.name} expects a {self.config_class.__name__}")
        self._validate()
        self.source = PreferenceSource(game, mode, samples, seed)
        start = game.ref if init is None else np.asarray(init, dtype=np.float64)
        self.log_pi = np.log(start)
        self.t = 0
        self._avg = np.exp(self.log_pi)

    # -- overridable -------------------------------------------------------------------------
    def _validate(self) -> None:
        beta = getattr(self.config, "beta", None)
        if beta is not None and not (np.isfinite(beta) and beta > 0):
            raise GtlearnError(f"beta must be a positive finite number, got {beta}")

    def _update(self) -> np.ndarray:  # pragma: no cover - abstract
        raise NotImplementedError

    # -- public --------------------------------------------------------------------------
    @property
    def beta(self) -> float:
        return float(self.config.beta)

    @property
    def mode(self) -> str:
        return self.source.mode

    @property
    def queries(self) -> int:
        return self.source.queries

    @property
    def policy(self) -> np.ndarray:
        """The last iterate π_t, ``[X, n]``."""
        return np.exp(self.log_pi)

    @property
    def average_policy(self) -> np.ndarray:
        """The uniform average (1/(t+1))·Σ_{s ≤ t} π_s."""
        return self._avg

    def step(self) -> np.ndarray:
        self.log_pi = log_normalize(self._update())
        self.t += 1
        self._avg = self._avg + (np.exp(self.log_pi) - self._avg) / (self.t + 1)
        return self.policy

    def run(self, iterations: int, callback: Callable[["TabularAlgorithm"], None] | None = None) -> np.ndarray:
        for _ in range(int(iterations)):
            self.step()
            if callback is not None:
                callback(self)
        return self.policy

    def extra_metrics(self) -> dict[str, float]:
        """Algorithm-specific values to log beside the measures (e.g. the current step)."""
        return {}
