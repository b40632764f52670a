"""Nash-MD (Nash Mirror Descent), exact tabular update.

Paper: R. Munos et al., "Nash Learning from Human Feedback" (ICML 2024, arXiv:2312.00886).
Spec §6.1::

    π_t^{(m)} ∝ π_t^{1−ηβ} · π_ref^{ηβ}                (geometric mixture)
    π_{t+1}   ∝ π_t^{(m)} · exp(η · P(y ≻ π_t^{(m)}))

With a constant η the fixed point is **not** π*_β: it is biased, and the bias shrinks as
η → 0 (tested). With η_t = 2/(β(t+2)) (``schedule="decreasing"``), KL(π*‖π_T) ≤ 8/(β²(T+1)).
Requires ηβ ≤ 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignment.tabular.common import TabularAlgorithm, TabularConfig, log_normalize
from gtlearn.errors import GtlearnError


@dataclass
class NashMDConfig(TabularConfig):
    beta: float = 0.1
    eta: float = 1.0  # learning rate; chosen
    schedule: str = "constant"  # or "decreasing": η_t = 2/(β(t+2))


class NashMD(TabularAlgorithm):
    name = "nash-md"
    config_class = NashMDConfig

    def _validate(self) -> None:
        super()._validate()
        if self.config.schedule not in ("constant", "decreasing"):
            raise GtlearnError(f"unknown schedule {self.config.schedule!r}; use constant or decreasing")
        if not (self.config.eta > 0 and self.config.eta * self.config.beta <= 1):
            raise GtlearnError(f"Nash-MD needs 0 < eta*beta <= 1, got eta={self.config.eta}, beta={self.config.beta}")

    def current_eta(self) -> float:
        if self.config.schedule == "decreasing":
            return 2.0 / (self.beta * (self.t + 2))
        return float(self.config.eta)

    def _update(self) -> np.ndarray:
        eta, beta = self.current_eta(), self.beta
        log_mix = log_normalize((1 - eta * beta) * self.log_pi + eta * beta * np.log(self.game.ref))
        return log_mix + eta * self.source.win_prob(np.exp(log_mix))

    def extra_metrics(self) -> dict[str, float]:
        return {"eta": self.current_eta()}
