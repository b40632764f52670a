"""Nash-MD (Nash Mirror Descent), exact tabular update.

Paper: R. Munos et al., "Nash Learning from Human Feedback" (ICML 2024, arXiv:2312.00886).
docs/preference_games.md, Nash-MD::

    π_t^{(m)} ∝ π_t^{1−ηβ} · π_ref^{ηβ}                (geometric mixture)
    π_{t+1}   ∝ π_t^{(m)} · exp(η · P(y ≻ π_t^{(m)}))

With a constant η the fixed point is **not** π*_β: it is biased, and the bias shrinks as
η → 0 (tested). With η_t = 2/(β(t+2)) (``schedule="decreasing"``), KL(π*‖π_T) ≤ 8/(β²(T+1)).
Requires ηβ ≤ 1.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignment.tabular.omd import OMD, OMDConfig
from alignment.tabular.source import log_normalize


@dataclass
class NashMDConfig(OMDConfig):
    """Same parameters as OMD: beta, eta (ηβ ≤ 1), schedule "constant" | "decreasing"."""


class NashMD(OMD):
    """OMD whose step is taken at the geometric mixture π_t^{(m)} instead of at π_t."""

    name = "nash-md"
    config_class = NashMDConfig

    def _update(self) -> np.ndarray:
        eta, beta = self.current_eta(), self.beta
        log_mix = log_normalize((1 - eta * beta) * self.log_pi + eta * beta * np.log(self.game.ref))
        return log_mix + eta * self.source.win_prob(np.exp(log_mix))
