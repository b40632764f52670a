"""SPPO (Self-Play Preference Optimization), idealized tabular step.

Paper: Y. Wu et al., "Self-Play Preference Optimization for Language Model Alignment"
(arXiv:2405.00675); docs/preference_games.md, SPPO::

    π_{t+1}(y) ∝ π_t(y) · exp(η_s · P(y ≻ π_t))

There is no KL term: the average iterate approaches an equilibrium of the *unregularized*
game, while the last iterate may cycle; report e_0 of both. ``beta`` is only used to report
the regularized measures. η_s is unverified in the paper: chosen 1.0.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignment.tabular.algorithm import TabularAlgorithm, TabularConfig
from gtlearn.core.errors import GtlearnError


@dataclass
class SPPOConfig(TabularConfig):
    beta: float = 0.1  # only for reporting e_β; SPPO's step has no KL term
    eta: float = 1.0  # η_s, chosen


def sppo_step(log_pi: np.ndarray, win: np.ndarray, eta: float) -> np.ndarray:
    """Unnormalized ``log π_t + η_s·P(y ≻ π_t)``."""
    return log_pi + eta * win


class SPPO(TabularAlgorithm):
    name = "sppo"
    config_class = SPPOConfig
    gap_name = "exploitability"  # no KL term: the target is the unregularized equilibrium

    def _validate(self) -> None:
        super()._validate()
        if not self.config.eta > 0:
            raise GtlearnError(f"SPPO eta must be positive, got {self.config.eta}")

    def _update(self) -> np.ndarray:
        return sppo_step(self.log_pi, self.source.win_prob(np.exp(self.log_pi)), float(self.config.eta))
