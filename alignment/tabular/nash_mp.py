"""Nash-MP (Nash Mirror Prox), exact tabular update.

Paper: D. Tiapkin, D. Calandriello, et al., "Accelerating Nash Learning from Human Feedback
via Mirror Prox" (2025); docs/preference_games.md, Nash-MP.

One iteration is two proximal steps, **both centred at π_k** (only the opponent changes)::

    π_{k+½} = argmax_π P(π ≻ π_k)     − β·KL(π‖π_ref) − λ·KL(π‖π_k)
    π_{k+1} = argmax_π P(π ≻ π_{k+½}) − β·KL(π‖π_ref) − λ·KL(π‖π_k)

with the closed form ``log π_new = [λ·log π_k + β·log π_ref + P(y ≻ μ)]/(β+λ) − log Z``. It
spends two rounds of preference queries per iteration. With λ = ½ (η = β/λ = 2β in the
(1/β)-scaled form) KL(π*_β‖π) contracts by 1/(1+2β) per iteration, i.e. (1+2β)^{−N/2} after
N query rounds (derived in docs/preference_games.md; the theorem's exact η is unverified, λ = ½ is
our choice).

Sampled mode replaces both P(· ≻ μ) by stratified Bernoulli estimates (see :mod:`alignment.tabular.source`).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignment.tabular.algorithm import TabularAlgorithm, TabularConfig
from alignment.tabular.source import log_normalize
from gtlearn.core.errors import GtlearnError


@dataclass
class NashMPConfig(TabularConfig):
    beta: float = 0.1
    prox_coef: float = 0.5  # λ; our default, unverified against the paper


def nash_mp_prior(log_pi: np.ndarray, log_ref: np.ndarray, beta: float, lam: float) -> np.ndarray:
    """The prior ``λ·log π_k + β·log π_ref`` that both half-steps share."""
    return lam * log_pi + beta * log_ref


def prox_step(prior: np.ndarray, win: np.ndarray, beta: float, lam: float) -> np.ndarray:
    """``log argmax_π ⟨π, P(·≻μ)⟩ − β·KL(π‖π_ref) − λ·KL(π‖π_k)`` from the shared prior."""
    return log_normalize((prior + win) / (beta + lam))


class NashMP(TabularAlgorithm):
    name = "nash-mp"
    config_class = NashMPConfig

    def _validate(self) -> None:
        super()._validate()
        if not (np.isfinite(self.config.prox_coef) and self.config.prox_coef > 0):
            raise GtlearnError(f"prox_coef must be positive, got {self.config.prox_coef}")

    def _update(self) -> np.ndarray:
        beta, lam = self.beta, float(self.config.prox_coef)
        prior = nash_mp_prior(self.log_pi, np.log(self.game.ref), beta, lam)
        self.last_prior = prior  # kept so the tests can assert that both steps share it
        log_half = prox_step(prior, self.source.win_prob(np.exp(self.log_pi)), beta, lam)
        self.log_half = log_half
        return prox_step(prior, self.source.win_prob(np.exp(log_half)), beta, lam)

    def extra_metrics(self) -> dict[str, float]:
        return {"contraction_bound": 1.0 / (1.0 + 2.0 * self.beta) if self.config.prox_coef == 0.5 else float("nan")}
