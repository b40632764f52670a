"""Online mirror descent (entropic, KL-regularized), the baseline of Nash-MD's paper.

Paper: R. Munos et al., "Nash Learning from Human Feedback" (ICML 2024, arXiv:2312.00886),
the OMD baseline; the same update is INPO's closed form with 1/η ↔ step
(docs/preference_games.md).

    π_{t+1}(y) ∝ π_t(y)^{1−ηβ} · π_ref(y)^{ηβ} · exp(η·P(y ≻ π_t))

η is the learning rate (step size; INPO's η is its inverse). Requires ηβ ≤ 1. Its fixed point
is π*_β for any η; with a constant η it converges when η is small enough, and the schedule
``"decreasing"`` uses η_t = 2/(β(t+2)).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignment.tabular.algorithm import TabularAlgorithm, TabularConfig
from gtlearn.core.errors import GtlearnError


@dataclass
class OMDConfig(TabularConfig):
    beta: float = 0.1
    eta: float = 1.0  # learning rate; chosen, ηβ ≤ 1 required
    schedule: str = "constant"  # or "decreasing": η_t = 2/(β(t+2))


class OMD(TabularAlgorithm):
    name = "omd"
    config_class = OMDConfig

    def _validate(self) -> None:
        super()._validate()
        if self.config.schedule not in ("constant", "decreasing"):
            raise GtlearnError(f"unknown schedule {self.config.schedule!r}; use constant or decreasing")
        if not (self.config.eta > 0 and self.config.eta * self.config.beta <= 1):
            raise GtlearnError(f"{self.name} needs 0 < eta*beta <= 1, got eta={self.config.eta}, beta={self.config.beta}")

    def current_eta(self) -> float:
        if self.config.schedule == "decreasing":
            return 2.0 / (self.beta * (self.iteration + 2))
        return float(self.config.eta)

    def _update(self) -> np.ndarray:
        eta, beta = self.current_eta(), self.beta
        win = self.source.win_prob(np.exp(self.log_pi))
        return (1 - eta * beta) * self.log_pi + eta * beta * np.log(self.game.ref) + eta * win

    def extra_metrics(self) -> dict[str, float]:
        return {"eta": self.current_eta()}
