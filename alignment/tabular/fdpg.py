"""f-DPG (f-divergence Distributional Policy Gradients) on finite spaces.

Paper: D. Go, T. Korbak, G. Kruszewski, J. Rozen, N. Ryu, M. Dymetman, "Aligning Language
Models with Preferences through f-divergence Minimization" (ICML 2023, arXiv:2302.08215);
docs/preference_games.md, f-DPG.

π_θ = softmax(θ) per context approximates a target p = P/Z, P an unnormalized EBM
(:mod:`alignment.tabular.targets`)::

    ∇_θ D_f(π_θ‖p) = E_{x∼π_θ}[ f'(π_θ(x)/p(x)) · ∇_θ log π_θ(x) ]

so on softmax logits the exact gradient is π ⊙ (f'(π/p) − E_π f'(π/p)) (``mode="exact"``).
``mode="sampled"`` draws ``samples`` x ~ q per context and step, estimates Ẑ as the running
mean of P/q over all samples seen, uses the pseudo-reward −f'(π/p̂) minus a moving-average
baseline (window ``baseline_window``), IS weights π/q, and the policy-gradient estimate of
the loss mean(−w·A·log π). The proposal q is π itself (``proposal="online"``) or a frozen
copy refreshed every ``proposal_interval`` steps only if the IS estimate of KL(p‖π) is below
that of KL(p‖q) (``"offline"``). One *query* is one evaluation of P(x).

The problem is a preference game: the base model is its reference a = π_ref and the target
is built from it (``config.target``, see :func:`~alignment.tabular.targets.fdpg_target`), or
given directly (``target=``). The headline gap is the exact D_f(π‖p), averaged uniformly over
contexts (``gap_name = "D_<divergence>"``). Reverse KL and reverse χ² require full-support
targets and raise :class:`GtlearnError` otherwise.
"""

from __future__ import annotations

import json
from dataclasses import dataclass

import numpy as np

from alignment.tabular.algorithm import TabularAlgorithm, TabularConfig
from alignment.tabular.divergences import DIVERGENCES, FULL_SUPPORT, divergence, exact_gradient, f_prime
from alignment.tabular.source import log_normalize
from alignment.tabular.targets import TARGETS, Target, fdpg_target
from games.preference import PreferenceGame
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import Metrics


@dataclass
class FDPGConfig(TabularConfig):
    beta: float = 0.1  # β of the rlhf target a·exp(r/β)
    target: str = "rlhf"  # rlhf | pointwise | distributional, built from the game (unless given)
    divergence: str = "js"  # the reference library's recommended default
    learning_rate: float = 1.0  # plain gradient descent on the logits; chosen for tabular runs
    baseline_window: int = 1024
    proposal: str = "online"  # or "offline"
    proposal_interval: int = 16


class FDPG(TabularAlgorithm):
    """f-DPG on a tabular softmax policy ``[X, n]``, initialized at the base model a = π_ref.

    ``theta`` holds the logits (shifted to a row maximum of 0); ``log_pi`` is their
    normalization. ``target`` (optional) replaces the target built from ``config.target``.
    """

    name = "fdpg"
    config_class = FDPGConfig

    def __init__(self, game: PreferenceGame, config: FDPGConfig | None = None, *, mode: str = "exact",
                 samples: int = 64, seed: int = 0, init: np.ndarray | None = None, target: Target | None = None) -> None:
        super().__init__(game, config, mode=mode, samples=samples, seed=seed, init=init)
        c = self.config
        self.target = fdpg_target(game, c.target, c.beta) if target is None else target
        if c.divergence in FULL_SUPPORT and not self.target.full_support:
            raise GtlearnError(f"{c.divergence} needs a full-support target; this {self.target.kind} target has zeros")
        self.gap_name = f"D_{c.divergence}"
        self.theta = self.log_pi
        self.log_pi = log_normalize(self.theta)
        self._avg = np.exp(self.log_pi)
        self._z_sum = np.zeros(self.theta.shape[0])
        self._z_count = 0
        self._rewards: list[np.ndarray] = []
        self.q = self.current_policy().copy()
        self.refreshes = 0
        self._last: dict[str, float] = {}

    def _validate(self) -> None:
        super()._validate()
        c = self.config
        if c.divergence not in DIVERGENCES:
            raise GtlearnError(f"unknown divergence {c.divergence!r}; known: {', '.join(DIVERGENCES)}")
        if c.target not in TARGETS:
            raise GtlearnError(f"unknown f-DPG target {c.target!r}; use {', '.join(TARGETS)}")
        if c.proposal not in ("online", "offline"):
            raise GtlearnError(f"unknown proposal {c.proposal!r}; use online or offline")
        self._require_positive("learning_rate", "baseline_window", "proposal_interval")

    @property
    def z_hat(self) -> np.ndarray:
        return self._z_sum / max(self._z_count, 1)

    def _update(self) -> np.ndarray:
        if self.source.exact:
            self.source.rounds += 1
            self.source.queries += 1
            g = exact_gradient(self.theta, self.target, self.config.divergence)
        else:
            g = self.sampled_gradient()
        self.theta = self.theta - self.config.learning_rate * g
        self.theta -= self.theta.max(axis=1, keepdims=True)
        return self.theta

    def sampled_gradient(self) -> np.ndarray:
        """The policy-gradient estimate from ``samples`` draws per context (module docstring)."""
        c = self.config
        pi = self.current_policy()
        q = pi if c.proposal == "online" else self.q
        X, n = pi.shape
        m = self.source.samples
        self.source.rounds += 1
        xs = self.source.sample_responses(q, m)
        rows = np.arange(X)[:, None]
        logP = self.target.log_P[rows, xs]
        q_s = q[rows, xs]
        self.source.queries += xs.size
        self._z_sum += (np.exp(logP) / q_s).sum(axis=1)
        self._z_count += m
        z = self.z_hat
        ok = z > 0  # contexts whose Ẑ is still 0 (no sample in the support yet) are skipped
        with np.errstate(divide="ignore"):
            log_p_hat = logP - np.log(np.where(ok, z, 1.0))[:, None]
        R = -f_prime(c.divergence, np.log(pi[rows, xs]) - log_p_hat)
        b = self._baseline(R)
        A = R - b
        w = pi[rows, xs] / q_s
        grad = np.zeros((X, n))
        for x in range(X):
            if not ok[x]:
                continue
            coef = -(w[x] * A[x])
            np.add.at(grad[x], xs[x], coef)
            grad[x] -= coef.sum() * pi[x]
        grad /= m
        self._last = {"pseudo_reward_mean": float(R.mean()), "pseudo_reward_std": float(R.std()), "baseline": b,
                      "is_weight_mean": float(w.mean()), "is_weight_max": float(w.max()),
                      "outside_support": float(np.mean(~np.isfinite(logP))), "z_hat": float(np.mean(z))}
        if c.proposal == "offline" and (self.iteration + 1) % c.proposal_interval == 0:
            self.maybe_refresh(xs, logP, q_s)
        return grad

    def _baseline(self, R: np.ndarray) -> float:
        """The mean pseudo-reward over the last ``baseline_window`` samples, ``R`` included."""
        window = self.config.baseline_window
        self._rewards.append(R.ravel())
        b = float(np.concatenate(self._rewards)[-window:].mean())
        while sum(r.size for r in self._rewards[1:]) >= window:  # keep only the batches the window needs
            self._rewards.pop(0)
        return b

    def maybe_refresh(self, xs: np.ndarray, logP: np.ndarray, q_s: np.ndarray) -> bool:
        """Replace q by π only if the IS estimate of KL(p‖π) is below that of KL(p‖q)."""
        rows = np.arange(xs.shape[0])[:, None]
        z = np.where(self.z_hat > 0, self.z_hat, 1.0)[:, None]
        p_s = np.exp(logP) / z
        wp = p_s / q_s
        pi_s = self.current_policy()[rows, xs]
        with np.errstate(divide="ignore", invalid="ignore"):
            kl_pi = np.where(p_s > 0, wp * np.log(p_s / pi_s), 0.0).mean()
            kl_q = np.where(p_s > 0, wp * np.log(p_s / q_s), 0.0).mean()
        if kl_pi < kl_q:
            self.q = self.current_policy().copy()
            self.refreshes += 1
            return True
        return False

    # -- measures and state ----------------------------------------------------------------------
    def target_divergence(self) -> float:
        """Exact D_f(π‖p), averaged over contexts."""
        return float(np.mean(divergence(self.config.divergence, self.current_policy(), self.target.p)))

    def extra_metrics(self) -> dict[str, float]:
        pi, p = self.current_policy(), self.target.p
        out = {f"div_{d}": float(np.mean(divergence(d, pi, p))) for d in ("kl", "tv", "js")}
        out["entropy"] = float(np.mean(-(np.where(pi > 0, pi * np.log(pi), 0.0)).sum(axis=1)))
        out["mass_in_support"] = float(np.mean(np.where(p > 0, pi, 0.0).sum(axis=1)))
        out["refreshes"] = self.refreshes
        out.update(self._last)
        return out

    def gap(self) -> Metrics:
        extra = {"queries": self.queries, **self.extra_metrics()}
        return Metrics(iteration=self.iteration, gap=self.target_divergence(), gap_name=self.gap_name, extra=extra)

    def artifacts(self) -> dict[str, np.ndarray]:
        return {"policy": self.current_policy()}

    def _extra_state(self) -> dict[str, np.ndarray]:
        width = self.theta.shape[0] * self.source.samples
        rewards = np.array(self._rewards) if self._rewards else np.zeros((0, width))
        return {"theta": self.theta.copy(), "z_sum": self._z_sum.copy(), "z_count": np.array(self._z_count),
                "rewards": rewards, "proposal": self.q.copy(), "refreshes": np.array(self.refreshes),
                "last": np.array(json.dumps(self._last))}

    def _load_extra_state(self, state: dict[str, np.ndarray]) -> None:
        self.theta = np.array(state["theta"], dtype=np.float64)
        self._z_sum = np.array(state["z_sum"], dtype=np.float64)
        self._z_count = int(state["z_count"])
        self._rewards = [np.array(row, dtype=np.float64) for row in state["rewards"]]
        self.q = np.array(state["proposal"], dtype=np.float64)
        self.refreshes = int(state["refreshes"])
        self._last = json.loads(str(state["last"]))
