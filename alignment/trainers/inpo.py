"""INPO (Iterative Nash Policy Optimization) for causal LMs.

Paper: Y. Zhang et al., "Iterative Nash Policy Optimization: Aligning LLMs with General
Preferences via No-Regret Learning" (ICLR 2025, arXiv:2407.00617). docs/trainers.md, INPO
(the tabular update: docs/preference_games.md).

Online mirror descent on the preference game regularized by τ (``beta``, as in the tabular
lab) with inverse learning rate η (``eta``). Round t (π_1 = π_ref):

1. sample K responses per prompt from the frozen round-start policy π_t;
2. form ordered pairs (y_w, y_l) — best/worst under a reward model, the knockout tournament
   under a pairwise model (3K/2 − 1 comparisons, the pair kept only if y_w wins the final), or
   i.i.d. pairs ordered by one Bernoulli label (``pair_mode="iid"``, the exactness setting);
3. precompute the frozen sequence log-probs of π_ref and π_t as dataset columns;
4. minimize ``L_t(θ) = E[(h_t(π_θ; y_w, y_l) − 1/(2η))²]`` with ::

       h_t = [log π(y_w) − log π(y_l)] − (τ/η)·[log π_ref(y_w) − log π_ref(y_l)]
             − ((η−τ)/η)·[log π_t(y_w) − log π_t(y_l)]

   (summed log-probs; at η = 0.005 the target is 100 nats per sequence);
5. π_{t+1} := θ.

Defaults (ICLR camera-ready): η = 0.005 (other sources use 0.0075), τ = η/3, T = 3 rounds,
K = 8, learning rate 5e-7 with a cosine schedule and warm-up ratio 0.03 (per round). Choices
(the paper leaves them open): summed log-probs (no length normalization), warm start from π_t
each round, one epoch over each round's pairs, a fresh optimizer per round,
``pair_mode="auto"`` (best/worst with a reward model, the tournament otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field

import torch

from alignment.trainers.registry import TRAINERS
from alignment.trainers.rounds import RoundTrainer, RoundTrainerConfig
from gtlearn.core.errors import GtlearnError


@dataclass
class INPOTrainerConfig(RoundTrainerConfig):
    """Config of :class:`INPOTrainer`. ``beta`` is τ, the KL weight to π_ref (``None``: η/3)."""

    beta: float | None = field(default=None, metadata={"help": "τ, KL regularization to π_ref; default η/3."})
    eta: float = field(default=0.005, metadata={"help": "η, the inverse OMD learning rate (target 1/(2η))."})

    def __post_init__(self):
        if self.beta is None:
            self.beta = self.eta / 3.0
        super().__post_init__()
        if self.eta <= 0 or not 0 <= self.beta <= self.eta:
            raise GtlearnError(f"INPO needs eta > 0 and 0 <= beta (τ) <= eta (got eta={self.eta}, beta={self.beta})")


# ------------------------------------------------------------------------------------------
# The loss (a pure function of log-prob tensors)
# ------------------------------------------------------------------------------------------
def inpo_h(chosen_logp, rejected_logp, ref_chosen_logp, ref_rejected_logp, prev_chosen_logp, prev_rejected_logp,
           *, eta: float, tau: float) -> torch.Tensor:
    """h_t(π; y_w, y_l): the policy log-ratio minus the blended reference (weight τ/η on
    π_ref and (η−τ)/η on π_t)."""
    return ((chosen_logp - rejected_logp)
            - (tau / eta) * (ref_chosen_logp - ref_rejected_logp)
            - ((eta - tau) / eta) * (prev_chosen_logp - prev_rejected_logp))


def inpo_loss(chosen_logp, rejected_logp, ref_chosen_logp, ref_rejected_logp, prev_chosen_logp, prev_rejected_logp,
              *, eta: float, tau: float):
    """INPO round loss: mean over pairs of ``(h_t − 1/(2η))²`` (``[B]`` summed log-probs in,
    ``(loss, stats)`` out)."""
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


# ------------------------------------------------------------------------------------------
# The trainer
# ------------------------------------------------------------------------------------------
@TRAINERS.register("inpo", INPOTrainerConfig)
class INPOTrainer(RoundTrainer):
    """INPO; see the module docstring. ``train_dataset`` has a ``prompt`` column."""

    def build_round(self, t: int) -> list[dict]:
        c = self.sample(self.round_prompts(t))
        rows = self.pairs(c)
        if not rows:
            return rows
        ref_c, ref_r = self.frozen_logprobs(self.ref_policy, rows, context=self.ref_context)
        # π_t is the round-start policy = the current weights (frozen for the round by construction).
        prev_c, prev_r = self.frozen_logprobs(self.model, rows)
        for k, r in enumerate(rows):
            r.update(ref_chosen_logps=float(ref_c[k]), ref_rejected_logps=float(ref_r[k]),
                     prev_chosen_logps=float(prev_c[k]), prev_rejected_logps=float(prev_r[k]))
        return rows

    def pair_loss(self, chosen_logp, rejected_logp, inputs):
        d = chosen_logp.device
        cols = [inputs[k].to(d) for k in ("ref_chosen_logps", "ref_rejected_logps", "prev_chosen_logps",
                                          "prev_rejected_logps")]
        loss, stats = inpo_loss(chosen_logp, rejected_logp, *cols, eta=self.args.eta, tau=self.args.beta)
        h = inpo_h(chosen_logp.detach(), rejected_logp.detach(), *cols, eta=self.args.eta, tau=self.args.beta)
        return loss, {
            "rewards/margins": stats["h_mean"],  # h_t, regressed on 1/(2η)
            "rewards/accuracies": (h > 0).float().mean(),
            "logps/chosen": chosen_logp.detach().mean(),
            "logps/rejected": rejected_logp.detach().mean(),
            "kl/ref": (chosen_logp.detach() - cols[0]).mean(),
            "kl/prev": (chosen_logp.detach() - cols[2]).mean(),
            "inpo/residual_mean": stats["residual_mean"],
            "inpo/h_std": stats["h_std"],
            "round/index": float(self.round),
        }


__all__ = ["inpo_h", "inpo_loss", "INPOTrainerConfig", "INPOTrainer"]
