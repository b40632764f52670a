"""Iterative DPO and online IPO, exact tabular updates (baselines; docs/preference_games.md).

Papers: R. Rafailov et al., "Direct Preference Optimization" (NeurIPS 2023, arXiv:2305.18290);
M. G. Azar et al., "A General Theoretical Paradigm to Understand Learning from Human
Preferences" (IPO, AISTATS 2024, arXiv:2310.12036); iterative DPO with the current iterate as
the reference as in APO's baseline (He et al., arXiv:2410.06293).

**Iterative DPO** (``IterativeDPO``): round t draws pairs from π_t × π_t, labels them with P,
and minimizes the population DPO loss with reference π_t::

    π_{t+1} = argmin_π Σ_{y,y'} π_t(y)π_t(y') P(y≻y') · −log σ(β[h(y) − h(y')]),  h = log π/π_t

a weighted logistic regression in h, convex, solved by Newton's method to machine precision.
With Bradley–Terry P = σ(r_i − r_j) the minimizer is π_t·exp(r/β) exactly. For a
deterministic transitive tournament the minimizer is at infinity; the Newton loop then stops
after ``newton_steps`` and returns a large finite h (documented deviation). Sampled mode
plugs in P̂ from ``samples`` labels per pair. This is APO with α = 0 (tested step for step).

**Online IPO** (``OnlineIPO``): pairs from μ = π_t, reference π_ref, IPO's squared loss with
summed log-probs; its population minimizer is π_{t+1} ∝ π_ref·exp(P(y≻π_t)/β), whose fixed
point is π*_β but which oscillates for small β (the stability gap that proximal and
extragradient methods close).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignment.tabular.algorithm import TabularAlgorithm, TabularConfig


@dataclass
class DPOConfig(TabularConfig):
    beta: float = 0.1
    newton_steps: int = 100


@dataclass
class IPOConfig(TabularConfig):
    beta: float = 0.1


def _sigmoid(z: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * z))


def dpo_population_loss(h: np.ndarray, W: np.ndarray, P: np.ndarray, beta: float) -> np.ndarray:
    """Σ_{y,y'} W P(y≻y') · softplus(−β(h_y − h_y')) per context."""
    D = h[:, :, None] - h[:, None, :]
    return (W * P * np.logaddexp(0.0, -beta * D)).sum(axis=(1, 2))


def dpo_population_step(log_pi: np.ndarray, P: np.ndarray, beta: float, newton_steps: int = 100,
                        tol: float = 1e-15) -> np.ndarray:
    """Unnormalized log of argmin of the population DPO loss with reference and sampler π_t
    (damped Newton on h with the constant direction removed)."""
    pi = np.exp(log_pi)
    W = pi[:, :, None] * pi[:, None, :]
    X, n = pi.shape
    h = np.zeros((X, n))
    ones = np.ones((n, n)) / n
    loss = dpo_population_loss(h, W, P, beta)
    for _ in range(newton_steps):
        D = h[:, :, None] - h[:, None, :]
        s = _sigmoid(beta * D)
        G = W * beta * (s - P)  # d loss / d d_{yy'} for the unordered pair, antisymmetric
        grad = G.sum(axis=2)
        if np.max(np.abs(grad)) < tol:
            break
        Hw = W * beta**2 * s * (1 - s)
        H = np.einsum("xij->xi", Hw)[:, :, None] * np.eye(n) - Hw + ones  # + 11ᵀ/n fixes the gauge
        # pinv: responses whose sampling weight π_t(y) underflowed carry no data (min-norm step)
        delta = -(np.linalg.pinv(H, hermitian=True) @ grad[:, :, None])[:, :, 0]
        step = np.ones(X)
        for _ in range(40):  # backtracking keeps Newton monotone far from the optimum
            new = dpo_population_loss(h + step[:, None] * delta, W, P, beta)
            bad = new > loss + 1e-16 * np.abs(loss)
            if not bad.any():
                break
            step = np.where(bad, step * 0.5, step)
        h = h + step[:, None] * delta
        loss = dpo_population_loss(h, W, P, beta)
    return log_pi + h


class IterativeDPO(TabularAlgorithm):
    name = "dpo"
    config_class = DPOConfig
    gap_name = "exploitability"  # the reference moves with π_t: no fixed KL-to-reference term

    def _validate(self) -> None:
        super()._validate()
        self._require_positive("newton_steps")

    def _update(self) -> np.ndarray:
        P = self.source.pair_matrix()
        return dpo_population_step(self.log_pi, P, self.beta, self.config.newton_steps)


class OnlineIPO(TabularAlgorithm):
    name = "ipo"
    config_class = IPOConfig

    def _update(self) -> np.ndarray:
        return np.log(self.game.ref) + self.source.win_prob(np.exp(self.log_pi)) / self.beta
