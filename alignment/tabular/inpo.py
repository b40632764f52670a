"""INPO (Iterative Nash Policy Optimization), exact tabular update and its squared loss.

Paper: Y. Zhang et al., "Iterative Nash Policy Optimization: Aligning LLMs with General
Preferences via No-Regret Learning" (ICLR 2025, arXiv:2407.00617); docs/preference_games.md, INPO.

Online mirror descent on the game of §1.1 with regularizer τ (``beta``) and **inverse**
learning rate η. Closed form (requires τ ≤ η)::

    π_{t+1}(y) ∝ π_t(y)^{1−τ/η} · π_ref(y)^{τ/η} · exp(P(y ≻ π_t)/η)

i.e. log π ← (1−γ)·log π + γ·log BR_τ(π) with γ = τ/η, whose fixed point is π*_τ for every η.

Schedules: ``"decreasing"`` (default) η_t = τ(t+2)/2 for t = 0, 1, …, which gives
KL(π*‖π_T) ≤ 32C²/(τ²(T+1)) with C = max(Bτ, 1); ``"constant"`` uses ``eta`` (the paper's
LLM setting; exact tabular runs with small constant η spiral or cycle).

``fit="loss"`` replaces the closed form by gradient descent on the softmax logits of a
tabular policy, warm-started at π_t, on the INPO squared loss::

    h_t(y_w, y_l) = [log π(y_w) − log π(y_l)] − (τ/η)[log π_ref(y_w) − log π_ref(y_l)]
                    − (1 − τ/η)[log π_t(y_w) − log π_t(y_l)]
    L_t = E_{(y_w, y_l)} ( h_t − 1/(2η) )²

with pairs y, y' i.i.d. from π_t ordered by one Bernoulli(P(y ≻ y')) label (the i.i.d.-pair
scheme): exactly weighted in exact mode, ``samples·n`` sampled pairs per context in
sampled mode (as many labels as the closed form's stratified estimate). Its minimizer is the
closed-form π_{t+1} (tested). The log-probs are summed (tabular responses have no length).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from alignment.tabular.algorithm import TabularAlgorithm, TabularConfig
from gtlearn.core.errors import GtlearnError


@dataclass
class INPOConfig(TabularConfig):
    beta: float = 0.1  # τ
    eta: float | None = None  # inverse learning rate for schedule="constant" (default 3τ)
    schedule: str = "decreasing"  # η_t = τ(t+2)/2, the convergent schedule
    fit: str = "closed_form"  # or "loss": gradient descent on the squared loss
    loss_steps: int = 20000  # maximum gradient steps per round (stops at gradient norm 1e-13)


def inpo_closed_form(log_pi: np.ndarray, log_ref: np.ndarray, win: np.ndarray, tau: float, eta: float) -> np.ndarray:
    """Unnormalized log of the closed-form INPO step."""
    g = tau / eta
    return (1 - g) * log_pi + g * log_ref + win / eta


def inpo_pair_weights(pi: np.ndarray, P: np.ndarray) -> np.ndarray:
    """``W[x, w, l]``: probability that the ordered pair (y_w, y_l) = (w, l) is drawn, with
    y, y' ~ π i.i.d. and the order set by one Bernoulli(P(y ≻ y')) label."""
    return pi[:, :, None] * pi[:, None, :] * P


def inpo_loss(theta: np.ndarray, base: np.ndarray, W: np.ndarray, eta: float) -> np.ndarray:
    """L_t per context for logits ``theta`` ``[X, n]``; ``base`` = (τ/η)·log π_ref + (1−τ/η)·log π_t.
    (The log-softmax normalizer cancels in every difference, so logits stand for log-probs.)"""
    u = theta - base
    h = u[:, :, None] - u[:, None, :]
    return (W * (h - 1.0 / (2 * eta)) ** 2).sum(axis=(1, 2))


def inpo_loss_grad(theta: np.ndarray, base: np.ndarray, W: np.ndarray, eta: float) -> np.ndarray:
    u = theta - base
    R = W * (u[:, :, None] - u[:, None, :] - 1.0 / (2 * eta))
    return 2.0 * (R.sum(axis=2) - R.sum(axis=1))


def fit_inpo_loss(theta0: np.ndarray, base: np.ndarray, W: np.ndarray, eta: float, max_steps: int,
                  grad_tol: float = 1e-13) -> tuple[np.ndarray, int]:
    """Gradient descent on the (quadratic) INPO loss with step 1/L, L the largest Hessian
    eigenvalue per context. Returns the logits and the number of steps taken."""
    S = W + np.swapaxes(W, 1, 2)
    lap = np.einsum("xij->xi", S)[:, :, None] * np.eye(S.shape[1]) - S
    L = 2.0 * np.linalg.eigvalsh(lap)[:, -1]
    lr = 1.0 / np.maximum(L, 1e-300)
    theta = theta0.copy()
    for step in range(1, max_steps + 1):
        g = inpo_loss_grad(theta, base, W, eta)
        theta -= lr[:, None] * g
        if np.max(np.abs(g)) < grad_tol:
            return theta, step
    return theta, max_steps


class INPO(TabularAlgorithm):
    name = "inpo"
    config_class = INPOConfig

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.fit_loss: float | None = None  # fit="loss": the loss and steps of the last round's fit
        self.fit_steps = 0

    def _validate(self) -> None:
        super()._validate()
        c = self.config
        self._require_positive("eta", "loss_steps")
        if c.schedule not in ("decreasing", "constant"):
            raise GtlearnError(f"unknown INPO schedule {c.schedule!r}; use decreasing or constant")
        if c.fit not in ("closed_form", "loss"):
            raise GtlearnError(f"unknown INPO fit {c.fit!r}; use closed_form or loss")
        if c.schedule == "constant" and c.eta is not None and c.eta < c.beta:
            raise GtlearnError(f"INPO's closed form needs tau <= eta, got tau={c.beta}, eta={c.eta}")

    def current_eta(self) -> float:
        if self.config.schedule == "decreasing":
            return self.beta * (self.iteration + 2) / 2.0
        return float(self.config.eta) if self.config.eta is not None else 3.0 * self.beta

    def _update(self) -> np.ndarray:
        tau, eta = self.beta, self.current_eta()
        log_ref = np.log(self.game.ref)
        pi = np.exp(self.log_pi)
        if self.config.fit == "closed_form":
            return inpo_closed_form(self.log_pi, log_ref, self.source.win_prob(pi), tau, eta)
        base = (tau / eta) * log_ref + (1 - tau / eta) * self.log_pi
        if self.source.exact:
            self.source.rounds += 1
            self.source.queries += 1
            W = inpo_pair_weights(pi, self.game.P)
        else:
            yw, yl = self.source.ordered_pairs(pi, self.source.samples * pi.shape[1])
            X, n = pi.shape
            W = np.zeros((X, n, n))
            for x in range(X):
                np.add.at(W[x], (yw[x], yl[x]), 1.0 / yw.shape[1])
        theta, self.fit_steps = fit_inpo_loss(self.log_pi.copy(), base, W, eta, self.config.loss_steps)
        self.fit_loss = float(self.game.rho @ inpo_loss(theta, base, W, eta))
        return theta

    def extra_metrics(self) -> dict[str, float]:
        out = {"eta": self.current_eta()}
        if self.config.fit == "loss" and self.fit_loss is not None:
            out.update(fit_loss=self.fit_loss, fit_steps=self.fit_steps)
        return out

    def _extra_state(self) -> dict[str, np.ndarray]:
        if self.fit_loss is None:
            return {}
        return {"fit_loss": np.array(self.fit_loss), "fit_steps": np.array(self.fit_steps)}

    def _load_extra_state(self, state: dict[str, np.ndarray]) -> None:
        if "fit_loss" in state:
            self.fit_loss, self.fit_steps = float(state["fit_loss"]), int(state["fit_steps"])
