"""f-DPG (f-divergence Distributional Policy Gradients) for causal LMs.

Paper: D. Go et al., "Aligning Language Models with Preferences through f-divergence
Minimization" (ICML 2023, arXiv:2302.08215); DPG/GDC: M. Khalifa et al., ICLR 2021.
docs/trainers.md, f-DPG (the tabular version: docs/preference_games.md). Not TRL's
``f_divergence_type`` (that is f-DPO).

The policy π_θ is trained to approximate a target p(y|x) = P(x,y)/Z(x) given as an
energy-based model ``P(x,y) = a(y|x)·b(x,y)``, with ``a`` the base LM (the reference model)
and ``b`` supplied by ``target`` — a callable ``(prompts, completions) -> log b`` (−inf where
a pointwise constraint is violated; ``r/β`` for the RLHF target a·exp(r/β)). The gradient of
D_f(π_θ‖p) is a policy gradient with pseudo-reward −f'(π/p). Per batch ::

    log t = sg(log π_θ(y)) − (log P(y) − log Ẑ(x))
    A     = −f'(log t) − b            (b: moving average of the pseudo-reward, window 1024)
    w     = exp(sg(log π_θ(y)) − log q(y))
    loss  = mean(−w·A·log π_θ(y))

Ẑ(x) is the per-context cumulative mean of P/q over every sample seen (optionally clipped by
``max_z``); contexts with Ẑ = 0 are skipped. The proposal q is π_θ (``proposal="online"``) or a
frozen copy replaced every ``proposal_update_interval`` steps only if the importance-sampling
estimate of KL(p‖π_θ) is below that of KL(p‖q) (``proposal="offline"``). Reverse KL (and
reverse χ²) need a full-support target; the trainer raises on a sample outside the support.

Defaults (the authors' reference library): ``divergence="js"``, Adam lr 1.41e-5,
constant schedule with 12 warm-up steps, ``proposal_update_interval=16``. Choices: JS keeps its
½ (the library drops it: only a learning-rate rescaling); the baseline is the window mean
*before* the current batch (so it is independent of the batch and the gradient unbiased).
Deviations: the library's defaults of 1024 samples per step and 16 contexts per step are the
caller's batch settings, not config fields; the "estimate window of 256" is not separate from
the baseline window.
"""

from __future__ import annotations

import math
from collections import deque
from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np
import torch
import torch.nn.functional as F

from alignment.trainers.config import TrainerConfig
from alignment.trainers.distributed import gather_lists, gather_objects, world
from alignment.trainers.draws import POLICY
from alignment.trainers.logprobs import sequence_logprobs
from alignment.trainers.models import copy_weights_, frozen_copy
from alignment.trainers.online import OnlineTrainer
from alignment.trainers.registry import TRAINERS
from gtlearn.core.errors import GtlearnError

F_DIVERGENCES = ("kl", "rkl", "tv", "js", "chi2", "rchi2")


@dataclass
class FDPGTrainerConfig(TrainerConfig):
    """Config of :class:`FDPGTrainer`."""

    divergence: str = field(default="js", metadata={"help": "kl | rkl | tv | js | chi2 | rchi2."})
    proposal: str = field(default="online", metadata={"help": "'online' (q = π_θ) or 'offline' (frozen, refreshed)."})
    proposal_update_interval: int = field(default=16, metadata={"help": "Steps between proposal-refresh checks."})
    baseline_window: int = field(default=1024, metadata={"help": "Window of the moving-average baseline."})
    max_z: float | None = field(default=None, metadata={"help": "Clip Ẑ(x) from above."})
    num_generations: int = field(default=1, metadata={"help": "Samples per prompt per step."})
    learning_rate: float = 1.41e-5
    lr_scheduler_type: str = "constant_with_warmup"
    warmup_steps: float = 12
    temperature: float = 1.0

    def __post_init__(self):
        super().__post_init__()
        if self.divergence not in F_DIVERGENCES:
            raise GtlearnError(f"divergence must be one of {', '.join(F_DIVERGENCES)}, got {self.divergence!r}")
        if self.proposal not in ("online", "offline"):
            raise GtlearnError(f"proposal must be 'online' or 'offline', got {self.proposal!r}")


# ------------------------------------------------------------------------------------------
# The loss (a pure function of log-prob tensors)
# ------------------------------------------------------------------------------------------
def f_prime(log_t: torch.Tensor, divergence: str) -> torch.Tensor:
    """f'(t) of the divergence D_f, computed from log t (stable for t → 0 and t → ∞).

    JS keeps the ½ (the reference library drops it, which only rescales the learning rate).
    At t = +∞ (samples outside the target's support) forward KL gives 0, TV ½, JS ½·log 2; the
    others are infinite."""
    if divergence == "kl":  # forward KL(p‖π): f(t) = −log t
        return -torch.exp(-log_t)
    if divergence == "rkl":  # reverse KL(π‖p): f(t) = t log t
        return 1.0 + log_t
    if divergence == "tv":
        return 0.5 * torch.sign(log_t)
    if divergence == "js":  # ½·log(2t/(1+t)) = ½·(log 2 − softplus(−log t))
        return 0.5 * (math.log(2.0) - F.softplus(-log_t))
    if divergence == "chi2":  # χ²(p‖π): f(t) = (1−t)²/t
        return 1.0 - torch.exp(-2.0 * log_t)
    if divergence == "rchi2":  # reverse χ²(π‖p): f(t) = (t−1)²
        return 2.0 * torch.expm1(log_t)
    raise ValueError(f"divergence must be one of {F_DIVERGENCES}, got {divergence!r}")


def fdpg_loss(logp, log_target, log_z, log_q, *, divergence: str, baseline: float | torch.Tensor = 0.0):
    """f-DPG per-batch loss::

        log t = sg(log π_θ(y)) − (log P(y) − log Ẑ)
        A     = −f'(log t) − b
        w     = exp(sg(log π_θ(y)) − log q(y))
        loss  = mean(−w·A·log π_θ(y))

    ``log_target`` is the unnormalized log P (−inf outside the support), ``log_z`` the
    per-sample log Ẑ of its context, ``log_q`` the proposal's log-prob (= log π_θ when on-policy).
    Returns the loss and the pseudo-rewards −f'(log t) (for the moving baseline).
    """
    lp = logp.detach()
    log_t = lp - (log_target - log_z)
    pseudo = -f_prime(log_t, divergence)
    adv = pseudo - baseline
    w = torch.exp(lp - log_q)
    loss = (-(w * adv).detach() * logp).mean()
    stats = {
        "pseudo_reward_mean": pseudo.mean(),
        "pseudo_reward_std": pseudo.std() if pseudo.numel() > 1 else torch.zeros(()),
        "is_weight_mean": w.mean(),
        "is_weight_max": w.max(),
        "is_ess": (w.sum() ** 2 / (w ** 2).sum().clamp(min=1e-30)),
    }
    return loss, pseudo, stats


@torch.no_grad()
def _target_distances(log_p, log_pi, log_q, valid):
    """Importance-sampling estimates (samples from q) of KL(p‖π_θ), KL(p‖q) and TV(p, π_θ),
    over the ``valid`` samples."""
    wp = torch.exp(log_p - log_q)
    fin = torch.isfinite(log_p)
    kl_p_pi = torch.where(fin, wp * (log_p - log_pi), torch.zeros_like(wp))[valid].mean()
    kl_p_q = torch.where(fin, wp * (log_p - log_q), torch.zeros_like(wp))[valid].mean()
    tv = 0.5 * (torch.abs(torch.exp(log_p) - torch.exp(log_pi)) / torch.exp(log_q))[valid].mean()
    return kl_p_pi, kl_p_q, tv


def _all_processes_prefer_policy(kl_p_pi, kl_p_q, count: int) -> bool:
    """Whether the estimate of KL(p‖π_θ) is below that of KL(p‖q), pooled over every process's
    valid samples (so that all processes refresh the proposal together)."""
    if world()[1] == 1:
        return float(kl_p_pi) < float(kl_p_q)
    parts = gather_objects((float(kl_p_pi) * count, float(kl_p_q) * count))
    return sum(a for a, _ in parts) < sum(b for _, b in parts)


# ------------------------------------------------------------------------------------------
# The trainer
# ------------------------------------------------------------------------------------------
@TRAINERS.register("fdpg", FDPGTrainerConfig)
class FDPGTrainer(OnlineTrainer):
    """f-DPG; see the module docstring. ``target(prompts, completions) -> log b`` (numpy)."""

    def __init__(self, *args, target: Callable[[list[str], list[str]], Any] | None = None, **kwargs) -> None:
        if target is None:
            raise GtlearnError("FDPGTrainer needs target=(prompts, completions) -> log b(x, y)")
        super().__init__(*args, **kwargs)
        self.target = target
        self.z_log_sum: dict[str, float] = {}
        self.z_count: dict[str, int] = {}
        self.window: deque = deque(maxlen=int(self.args.baseline_window))
        self.proposal_model = frozen_copy(self.model).to(self.args.device) if self.args.proposal == "offline" else None
        self.proposal_refreshes = 0

    @property
    def needs_full_weights(self) -> bool:
        return self.args.proposal == "offline"  # the proposal is a refreshed copy

    def _update_z(self, prompts: list[str], log_ratio: np.ndarray) -> None:
        """Add P/q of these samples to the per-context running sums."""
        for x, lr in zip(prompts, log_ratio):
            if x in self.z_log_sum:
                self.z_log_sum[x] = float(np.logaddexp(self.z_log_sum[x], lr))
            else:
                self.z_log_sum[x] = float(lr)
            self.z_count[x] = self.z_count.get(x, 0) + 1

    def _log_z(self, prompts: list[str]) -> np.ndarray:
        log_z = np.array([self.z_log_sum[x] - math.log(self.z_count[x]) for x in prompts])
        if self.args.max_z is not None:
            log_z = np.minimum(log_z, math.log(self.args.max_z))
        return log_z

    def _shared_update_z(self, prompts: list[str], log_ratio: np.ndarray) -> np.ndarray:
        """Update Ẑ with the samples of every process, in process order (so that every process
        holds the estimates one process would), and return log Ẑ of this process's samples."""
        parts = gather_objects((list(prompts), log_ratio))
        for xs, lrs in parts:
            self._update_z(xs, lrs)
        return self._log_z(prompts)

    def online_loss(self, model, prompts, first_micro):
        args = self.args
        dev = args.device
        prompts = [p for p in prompts for _ in range(args.num_generations)]
        sampler = self.proposal_model if self.proposal_model is not None else model
        y = self.draw_completions(sampler, prompts, self.draw_key(POLICY), policy=self.proposal_model is None)
        lp = self.logprobs(model, y, grad=True)
        if self.proposal_model is None and args.temperature == 1.0:
            log_q = lp.detach()
        else:
            with torch.no_grad():
                log_q = sequence_logprobs(sampler, y.prompt_ids, y.prompt_mask, y.completion_ids, y.completion_mask,
                                          reduction=args.logprob_reduction, temperature=args.temperature)
        log_a = self.ref_logprobs(y)
        log_b = torch.as_tensor(np.asarray(self.target(y.prompts, y.texts), dtype=np.float64), dtype=torch.float32, device=dev)
        log_P = log_a.float() + log_b
        outside = ~torch.isfinite(log_P)
        if args.divergence in ("rkl", "rchi2") and bool(outside.any()):
            raise GtlearnError(f"divergence {args.divergence!r} needs a full-support target, but a sample has "
                               "P(x, y) = 0; use kl, tv or js for pointwise constraints")
        log_z = torch.as_tensor(self._shared_update_z(y.prompts, (log_P - log_q.float()).cpu().numpy()),
                                dtype=torch.float32, device=dev)
        valid = torch.isfinite(log_z)
        if not bool(valid.any()):  # no context with a sample in the support yet: nothing to learn from
            return (lp * 0.0).sum()
        baseline = float(np.mean(self.window)) if self.window else 0.0
        loss, pseudo, stats = fdpg_loss(lp[valid], log_P[valid], log_z[valid], log_q[valid].float(),
                                        divergence=args.divergence, baseline=baseline)
        self.window.extend(gather_lists(pseudo.cpu().tolist()))
        kl_p_pi, kl_p_q, tv = _target_distances(log_P - log_z, lp.detach().float(), log_q.float(), valid)
        if self.proposal_model is not None and first_micro and self.state.global_step > 0 \
                and self.state.global_step % args.proposal_update_interval == 0 \
                and _all_processes_prefer_policy(kl_p_pi, kl_p_q, int(valid.sum())):
            copy_weights_(self.proposal_model, model)
            self.proposal_refreshes += 1
        self._record("objective/", {"loss": loss.detach(), "baseline": baseline, "outside_support": outside.float().mean(),
                                    "log_z_mean": log_z[valid].mean(), "proposal_refreshes": self.proposal_refreshes})
        self._record("logps/", {"policy": lp.detach().mean(), "ref": log_a.mean()})
        self._record("kl/", {"ref": (lp.detach() - log_a).mean(), "target": kl_p_pi, "target_proposal": kl_p_q})
        self._record("rewards/", {"pseudo_mean": stats.pop("pseudo_reward_mean"),
                                  "pseudo_std": stats.pop("pseudo_reward_std")})
        self._record("fdpg/", {**stats, "tv_target": tv})
        self._record_completions(y)
        return loss

    def _extra_state(self) -> dict[str, Any]:
        st = super()._extra_state()
        st.update(z_log_sum=dict(self.z_log_sum), z_count=dict(self.z_count), window=list(self.window),
                  proposal_refreshes=self.proposal_refreshes)
        if self.proposal_model is not None:
            st["proposal"] = {k: v.cpu() for k, v in self.proposal_model.state_dict().items()}
        return st

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        super()._load_extra_state(state)
        self.z_log_sum = dict(state["z_log_sum"])
        self.z_count = dict(state["z_count"])
        self.window = deque(state["window"], maxlen=int(self.args.baseline_window))
        self.proposal_refreshes = int(state.get("proposal_refreshes", 0))
        if self.proposal_model is not None and "proposal" in state:
            self.proposal_model.load_state_dict(state["proposal"])


__all__ = ["F_DIVERGENCES", "f_prime", "fdpg_loss", "FDPGTrainerConfig", "FDPGTrainer"]
