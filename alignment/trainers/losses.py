"""The parametric losses of spec ``shared/specs/alignment.md``, as pure functions of
sequence log-probability tensors.

Every function takes ``[B]`` tensors of summed sequence log-probs (and, where an estimator
needs them, ``[B, L]`` per-token log-probs) and returns ``(loss, stats)`` with ``loss`` a
scalar (the batch mean) and ``stats`` a dict of detached tensors for logging. The same code
therefore runs on a tabular policy (exact expectations) and on a causal LM.
"""

from __future__ import annotations

import math

import torch
import torch.nn.functional as F

KL_ESTIMATORS = ("sequence", "token")
F_DIVERGENCES = ("kl", "rkl", "tv", "js", "chi2", "rchi2")


def _kl_surrogate(logp, other_logp, token_logp, other_token_logp, estimator: str) -> torch.Tensor:
    """Per-row surrogate whose gradient is a REINFORCE estimate of ∇KL(π_θ‖π_other).

    ``"sequence"``: sg[log π_θ(y) − log π_o(y)]·log π_θ(y), unbiased.
    ``"token"``: Σ_t sg[log π_θ(y_t|·) − log π_o(y_t|·)]·log π_θ(y_t|·), TRL's former Nash-MD
    estimator; it drops the future-token terms and is biased (spec §2.2)."""
    if estimator == "sequence":
        return (logp - other_logp).detach() * logp
    if estimator == "token":
        if token_logp is None or other_token_logp is None:
            raise ValueError("kl_estimator='token' needs per-token log-probs")
        return ((token_logp - other_token_logp).detach() * token_logp).sum(-1)
    raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}, got {estimator!r}")


def nash_mp_loss(
    logp: torch.Tensor,
    ref_logp: torch.Tensor,
    anchor_logp: torch.Tensor | None,
    preference: torch.Tensor,
    *,
    beta: float,
    prox_coef: float,
    kl_estimator: str = "sequence",
    token_logp: torch.Tensor | None = None,
    ref_token_logp: torch.Tensor | None = None,
    anchor_token_logp: torch.Tensor | None = None,
    reward_offset: torch.Tensor | None = None,
):
    """Nash-MP proximal-step surrogate (spec §2.2), per sample y ∼ π_θ against y' ∼ μ::

        ℓ = −(P(y≻y'|x) − ½)·log π_θ(y) + β·sg[log π_θ(y) − log π_ref(y)]·log π_θ(y)
            + λ·sg[log π_θ(y) − log π_k(y)]·log π_θ(y)

    ``preference`` holds P(y≻y'|x) (or a Bernoulli label). ``reward_offset`` is added to
    P − ½ (the missing-EOS penalty enters here, as a negative offset). With ``prox_coef=0``
    and ``anchor_logp=None`` this is the Nash-MD loss (spec §6.1).
    """
    reward = preference.to(logp.dtype) - 0.5
    if reward_offset is not None:
        reward = reward + reward_offset.to(logp.dtype)
    pg = -reward.detach() * logp
    kl_ref = _kl_surrogate(logp, ref_logp, token_logp, ref_token_logp, kl_estimator)
    per = pg + beta * kl_ref
    stats = {"reward": reward.detach().mean(), "kl_ref": (logp - ref_logp).detach().mean()}
    if prox_coef:
        if anchor_logp is None:
            raise ValueError("prox_coef > 0 needs anchor log-probs")
        per = per + prox_coef * _kl_surrogate(logp, anchor_logp, token_logp, anchor_token_logp, kl_estimator)
    if anchor_logp is not None:
        stats["kl_anchor"] = (logp - anchor_logp).detach().mean()
    return per.mean(), stats


def nash_md_loss(logp, ref_logp, preference, *, beta: float, kl_estimator: str = "sequence", token_logp=None,
                 ref_token_logp=None, reward_offset=None):
    """Nash-MD loss (spec §6.1): ℓ = −(P − ½)·log π_θ(y) + β·sg[log π_θ(y) − log π_ref(y)]·log π_θ(y),
    with y' drawn from the token-level mixture of π_θ and π_ref."""
    return nash_mp_loss(logp, ref_logp, None, preference, beta=beta, prox_coef=0.0, kl_estimator=kl_estimator,
                        token_logp=token_logp, ref_token_logp=ref_token_logp, reward_offset=reward_offset)


def inpo_h(chosen_logp, rejected_logp, ref_chosen_logp, ref_rejected_logp, prev_chosen_logp, prev_rejected_logp,
           *, eta: float, tau: float) -> torch.Tensor:
    """h_t(π; y_w, y_l) of spec §3.2: the policy log-ratio minus the blended reference
    (weight τ/η on π_ref and (η−τ)/η on π_t)."""
    return ((chosen_logp - rejected_logp)
            - (tau / eta) * (ref_chosen_logp - ref_rejected_logp)
            - ((eta - tau) / eta) * (prev_chosen_logp - prev_rejected_logp))


def inpo_loss(chosen_logp, rejected_logp, ref_chosen_logp, ref_rejected_logp, prev_chosen_logp, prev_rejected_logp,
              *, eta: float, tau: float):
    """INPO round loss (spec §3.2): mean over pairs of ``(h_t − 1/(2η))²``."""
    if eta <= 0 or tau < 0 or tau > eta:
        raise ValueError(f"INPO needs eta > 0 and 0 <= tau <= eta, got eta={eta}, tau={tau}")
    h = inpo_h(chosen_logp, rejected_logp, ref_chosen_logp, ref_rejected_logp, prev_chosen_logp, prev_rejected_logp,
               eta=eta, tau=tau)
    resid = h - 1.0 / (2.0 * eta)
    stats = {
        "h_mean": h.detach().mean(),
        "h_std": h.detach().std() if h.numel() > 1 else torch.zeros(()),
        "residual_mean": resid.detach().mean(),
        "logratio_policy": (chosen_logp - rejected_logp).detach().mean(),
        "logratio_ref": (ref_chosen_logp - ref_rejected_logp).detach().mean(),
        "logratio_prev": (prev_chosen_logp - prev_rejected_logp).detach().mean(),
    }
    return (resid ** 2).mean(), stats


def apo_reference(new_logp, old_logp, alpha: float) -> torch.Tensor:
    """The extrapolated reference Δ_ref(y) = (1+α)·log π̂_{t+1}(y) − α·log π̂_t(y) (spec §4.2)."""
    return (1.0 + alpha) * new_logp - alpha * old_logp


def apo_dpo_loss(chosen_logp, rejected_logp, ref_chosen, ref_rejected, *, beta: float):
    """APO's DPO round (spec §4.2): −log σ(β·[(log π_θ(y_w) − Δ_ref(y_w)) − (log π_θ(y_l) − Δ_ref(y_l))]),
    where ``ref_chosen``/``ref_rejected`` already hold Δ_ref (see :func:`apo_reference`)."""
    margin = (chosen_logp - ref_chosen) - (rejected_logp - ref_rejected)
    loss = -F.logsigmoid(beta * margin)
    stats = {
        "rewards_margin": (beta * margin).detach().mean(),
        "rewards_accuracy": (margin.detach() > 0).float().mean(),
        "rewards_chosen": (beta * (chosen_logp - ref_chosen)).detach().mean(),
        "rewards_rejected": (beta * (rejected_logp - ref_rejected)).detach().mean(),
    }
    return loss.mean(), stats


def apo_sppo_loss(logp, ref, win_rate, *, sppo_eta: float):
    """APO's SPPO round (spec §4.2): (log π_θ(y) − Δ_ref(y) − η_s·(P̂(y≻π_t) − ½))², averaged
    over every response of every pair."""
    resid = logp - ref - sppo_eta * (win_rate.to(logp.dtype) - 0.5)
    return (resid ** 2).mean(), {"residual_mean": resid.detach().mean()}


def f_prime(log_t: torch.Tensor, divergence: str) -> torch.Tensor:
    """f'(t) of spec §5.2's table, computed from log t (stable for t → 0 and t → ∞).

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
    """f-DPG per-batch loss (spec §5.3)::

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


__all__ = [
    "KL_ESTIMATORS",
    "F_DIVERGENCES",
    "nash_mp_loss",
    "nash_md_loss",
    "inpo_h",
    "inpo_loss",
    "apo_reference",
    "apo_dpo_loss",
    "apo_sppo_loss",
    "f_prime",
    "fdpg_loss",
]
