"""APO (Accelerated Preference Optimization), exact tabular update.

Paper: J. He et al., "Accelerated Preference Optimization for Large Language Model
Alignment" (arXiv:2410.06293); docs/preference_games.md, APO.

Iterative preference optimization is a proximal-point method in KL geometry; APO adds
Nesterov-style momentum **in log-policy space**::

    π̂_{t+1} = inner step from π_t (reference = π_t, data ~ π_t)
    log π_{t+1} = (1+α)·log π̂_{t+1} − α·log π̂_t − log Z_{t+1}

Inner steps: ``"dpo"`` (population DPO, see :mod:`alignment.tabular.dpo`; closed form
π_t·exp(r/β) under Bradley–Terry) or ``"sppo"`` (π̂_{t+1} ∝ π_t·exp(η_s·P(y ≻ π_t))).
Convention (unverified in the paper: chosen, documented): π̂_0 := π_0 = π_ref, so round 1 is
already extrapolated. α = 0 is iterative DPO / SPPO (tested step for step). Under
Bradley–Terry, log π_t − log π_0 = c_t·r/β with increments d_1 = 1+α, d_t = 1 + α·d_{t−1}.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignment.tabular.algorithm import TabularAlgorithm, TabularConfig
from alignment.tabular.dpo import dpo_population_step
from alignment.tabular.source import log_normalize
from alignment.tabular.sppo import sppo_step
from gtlearn.core.errors import GtlearnError


@dataclass
class APOConfig(TabularConfig):
    beta: float = 0.1  # DPO β (unverified; the paper may use ~0.01)
    alpha: float = 0.3  # momentum, unverified: chosen
    inner: str = "dpo"  # or "sppo"
    sppo_eta: float = 1.0  # η_s of the SPPO inner step, unverified: chosen
    newton_steps: int = 100


class APO(TabularAlgorithm):
    """Momentum on iterative DPO or SPPO; its target is the unregularized equilibrium, so its
    headline gap is e_0."""

    name = "apo"
    config_class = APOConfig
    gap_name = "exploitability"

    def _validate(self) -> None:
        super()._validate()
        c = self.config
        self._require_positive("sppo_eta", "newton_steps")
        if not 0 <= c.alpha < 1:
            raise GtlearnError(f"APO momentum alpha must be in [0, 1), got {c.alpha}")
        if c.inner not in ("dpo", "sppo"):
            raise GtlearnError(f"unknown APO inner step {c.inner!r}; use dpo or sppo")

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.log_hat = self.log_pi.copy()  # π̂_0 := π_0

    def inner_step(self) -> np.ndarray:
        if self.config.inner == "dpo":
            return dpo_population_step(self.log_pi, self.source.pair_matrix(), self.beta, self.config.newton_steps)
        return sppo_step(self.log_pi, self.source.win_prob(np.exp(self.log_pi)), float(self.config.sppo_eta))

    def _update(self) -> np.ndarray:
        alpha = float(self.config.alpha)
        # Unnormalized on purpose: log Z_{t+1} cancels (the base class normalizes once), and
        # with α = 0 the result is bit-identical to the inner algorithm's step.
        log_hat_next = self.inner_step()
        out = (1 + alpha) * log_hat_next - alpha * self.log_hat
        self.log_hat = log_hat_next
        return out

    def hat_policy(self) -> np.ndarray:
        """π̂_t, the last inner-step solution before extrapolation."""
        return np.exp(log_normalize(self.log_hat))

    def _extra_state(self) -> dict[str, np.ndarray]:
        return {"log_hat": self.log_hat.copy()}

    def _load_extra_state(self, state: dict[str, np.ndarray]) -> None:
        self.log_hat = np.array(state["log_hat"], dtype=np.float64)
