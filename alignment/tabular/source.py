"""The preference source of the tabular lab: answers an algorithm's preference questions
exactly or from sampled labels, and counts them (docs/preference_games.md).

Modes
-----
``exact``
    Every expectation of preferences is computed exactly from the tensor P. One *query* is one
    evaluation of the vector ``P(· ≻ μ | x)`` for all contexts (Nash-MP spends two per
    iteration).
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

import json

import numpy as np

from games.preference import PreferenceGame
from gtlearn.core.errors import GtlearnError

MODES = ("exact", "sampled")
# Sampled mode draws up to contexts·n²/2·samples labels in one round (a pair matrix); past this
# many the arrays of one round need gigabytes.
MAX_LABELS_PER_ROUND = 10**7


def log_normalize(logits: np.ndarray) -> np.ndarray:
    """Row-wise ``logits − logsumexp(logits)`` (stable)."""
    m = np.max(logits, axis=-1, keepdims=True)
    return logits - (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))


def rng_state(rng: np.random.Generator) -> np.ndarray:
    """The generator's state as a 0-d string array (stored by ``np.savez`` without pickle)."""
    return np.array(json.dumps(rng.bit_generator.state))


def set_rng_state(rng: np.random.Generator, state: np.ndarray) -> None:
    rng.bit_generator.state = json.loads(str(state))


class PreferenceSource:
    """Answers the preference questions of an algorithm, exactly or from sampled labels, and
    counts them (``queries``: see the module docstring; ``rounds``: oracle calls)."""

    def __init__(self, game: PreferenceGame, mode: str = "exact", samples: int = 64, seed: int = 0) -> None:
        if mode not in MODES:
            raise GtlearnError(f"unknown mode {mode!r}; use one of {', '.join(MODES)}")
        if isinstance(samples, bool) or int(samples) != samples or samples < 1:
            raise GtlearnError(f"samples must be a positive integer, got {samples}")
        if isinstance(seed, bool) or int(seed) != seed or seed < 0:
            raise GtlearnError(f"seed must be a non-negative integer, got {seed}")
        X, n = game.num_contexts, game.num_responses
        labels = X * max(n, n * (n - 1) // 2) * int(samples)
        if mode == "sampled" and labels > MAX_LABELS_PER_ROUND:
            raise GtlearnError(f"{samples:,} samples on {X:,} context(s) x {n:,} responses draw up to {labels:.1e} "
                               f"labels per round; the limit is {MAX_LABELS_PER_ROUND:.0e}")
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
        returns ``(y_w, y_l)``, each ``[X, count]`` (INPO's i.i.d.-pair scheme)."""
        self.rounds += 1
        X = pi.shape[0]
        y = self.sample_responses(pi, count)
        y2 = self.sample_responses(pi, count)
        lab = self.labels(np.broadcast_to(np.arange(X)[:, None], y.shape), y, y2)
        yw = np.where(lab > 0.5, y, y2)
        yl = np.where(lab > 0.5, y2, y)
        return yw, yl

    # -- exact resume --------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        return {"rng": rng_state(self.rng), "queries": np.array(self.queries), "rounds": np.array(self.rounds)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        set_rng_state(self.rng, state["rng"])
        self.queries = int(state["queries"])
        self.rounds = int(state["rounds"])
