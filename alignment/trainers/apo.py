"""APO (Accelerated Preference Optimization) for causal LMs.

Paper: J. He et al., "Accelerated Preference Optimization for Large Language Model Alignment"
(arXiv:2410.06293). docs/trainers.md, APO (the tabular update: docs/preference_games.md). Not
TRL's ``apo_zero``/``apo_down`` (those are *Anchored* PO).

Iterative preference optimization is a proximal-point method; APO adds Nesterov momentum in
log-policy space, log π_{t+1} = (1+α)·log π̂_{t+1} − α·log π̂_t − log Z_{t+1}. Z cancels in
every pairwise loss, so the extrapolation lives entirely on the **reference side**: round t
trains a DPO (or SPPO) loss whose reference log-probs are the precomputed columns ::

    Δ_ref(y) = (1+α)·log π̂_t(y) − α·log π̂_{t−1}(y)

where π̂_t is the round-start policy and π̂_{t−1} the previous round's start
(π̂_{−1} := π̂_0 := the initial policy, so round 0 is plain DPO against π_ref = π_0, and the
Bradley–Terry increments are d_1 = 1+α, d_t = 1 + α·d_{t−1}). Each round warm-starts from θ̂_t;
α = 0 is iterative DPO with reference π_t.

* ``inner_loss="dpo"``: −log σ(β·[(log π_θ(y_w) − Δ_ref(y_w)) − (log π_θ(y_l) − Δ_ref(y_l))]),
  pairs from K samples as in INPO;
* ``inner_loss="sppo"``: (log π_θ(y) − Δ_ref(y) − η_s·(P̂(y≻π_t) − ½))² for both responses of
  each pair, P̂ estimated against the other K−1 samples (K(K−1)/2 comparisons).

Data come from π̂_t (``sampler="hat"``, the default) or from the token-level normalized
extrapolation softmax((1+α)·logits_t − α·logits_{t−1}) (``sampler="extrapolated"``; whether
this matches the paper is unverified).

Choices (the paper leaves them open): α = 0.3, β = 0.1, η_s = 1.0 (for SPPO), 3 rounds, K = 8
with ``pair_mode="auto"``, learning rate 5e-7 with cosine schedule per round, indexing as
above. Deviation: the weight-space extrapolation alternative is not implemented.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import torch
import torch.nn.functional as F

from alignment.trainers.draws import POLICY
from alignment.trainers.registry import TRAINERS
from alignment.trainers.rounds import RoundTrainer, RoundTrainerConfig
from alignment.trainers.sampling import generate_mixture
from gtlearn.core.errors import GtlearnError


@dataclass
class APOTrainerConfig(RoundTrainerConfig):
    """Config of :class:`APOTrainer` (``beta`` is the DPO β)."""

    alpha: float = field(default=0.3, metadata={"help": "Momentum α in [0, 1)."})
    inner_loss: str = field(default="dpo", metadata={"help": "'dpo' or 'sppo'."})
    sppo_eta: float = field(default=1.0, metadata={"help": "η_s of the SPPO inner loss."})
    sampler: str = field(default="hat", metadata={"help": "'hat' (π̂_t) or 'extrapolated' (token-level mix)."})

    def __post_init__(self):
        super().__post_init__()
        if not 0.0 <= self.alpha < 1.0:
            raise GtlearnError(f"alpha must be in [0, 1), got {self.alpha}")
        if self.inner_loss not in ("dpo", "sppo"):
            raise GtlearnError(f"inner_loss must be 'dpo' or 'sppo', got {self.inner_loss!r}")
        if self.sampler not in ("hat", "extrapolated"):
            raise GtlearnError(f"sampler must be 'hat' or 'extrapolated', got {self.sampler!r}")


# ------------------------------------------------------------------------------------------
# The losses (pure functions of log-prob tensors)
# ------------------------------------------------------------------------------------------
def apo_reference(new_logp, old_logp, alpha: float):
    """The extrapolated reference Δ_ref(y) = (1+α)·log π̂_{t+1}(y) − α·log π̂_t(y)."""
    return (1.0 + alpha) * new_logp - alpha * old_logp


def apo_dpo_loss(chosen_logp, rejected_logp, ref_chosen, ref_rejected, *, beta: float):
    """APO's DPO round: −log σ(β·[(log π_θ(y_w) − Δ_ref(y_w)) − (log π_θ(y_l) − Δ_ref(y_l))]),
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
    """APO's SPPO round: (log π_θ(y) − Δ_ref(y) − η_s·(P̂(y≻π_t) − ½))², averaged over every
    response of every pair."""
    resid = logp - ref - sppo_eta * (win_rate.to(logp.dtype) - 0.5)
    return (resid ** 2).mean(), {"residual_mean": resid.detach().mean()}


# ------------------------------------------------------------------------------------------
# The trainer
# ------------------------------------------------------------------------------------------
@TRAINERS.register("apo", APOTrainerConfig)
class APOTrainer(RoundTrainer):
    """APO; see the module docstring. ``train_dataset`` has a ``prompt`` column.

    Behaviour on intransitive preferences (measured on ``alignment.synthetic``, cyclic:5, 4
    prompts, seed 0, 150 steps = 6 rounds × 25, KL(π*_0.25‖π_θ) at steps 0/25/…/150; "exact" is
    the tabular :class:`alignment.tabular.apo.APO` π̂ per round on the same game). APO over DPO
    rounds has no KL-to-reference anchor and is **not** a Nash solver there: even the exact
    population update (whose DPO optimum is finite) spirals away from both π*_β and the maximal
    lottery, as multiplicative weights do on cyclic games, and α > 0 speeds that up; this trainer
    follows it, damped by the unconverged inner rounds. It is not label overfitting or a
    loss/sign error (α = 0, i.e. iterative DPO, drifts too).
    Synthetic defaults (0/1 labels, β = 2, α = 0.3, lr 3e-3): 0.20 .14 .59 1.46 2.96 3.71 4.65
    (exact 0.20 .09 .64 1.65 5.68 12.1); α = 0: 0.20 .14 .39 .82 1.05 1.90 2.42 (exact …
    7.5); lr 1e-3: … 1.08; 15 rounds × 10 steps: 1.2–3.2 after step 50. β = 8: 0.20 .10 .23 .47
    1.15 2.06 2.95 (α = 0: … .10 .12 .20 .32 .38; exact α = 0.3 .11 .06 .06 .11 .20 .30).
    Stochastic labels (strength 0.5, KL(π*‖π_ref) = 0.07) with β = 8: exact APO passes within
    0.003 of π*_β at round 5 but leaves again (1.0 by round 30); this trainer with 256
    prompts/round and lr 1e-3 gives 0.07 .05 .04 .02 .02 .05 .10 (0.41 with 32 prompts, lr 3e-3;
    2.8 with β = 2). Settings that keep it near π*_β for a few rounds: large β, small lr, many
    prompts per round, weak preferences, α = 0; none makes π*_β its fixed point. Use
    Nash-MP/INPO for that, and early-stop APO on a held-out win rate.
    """

    def build_round(self, t: int) -> list[dict]:
        args = self.args
        prompts = self.round_prompts(t)
        prev = self._previous_start(t) if (args.alpha > 0 or args.sampler == "extrapolated") else None
        if args.sampler == "extrapolated" and prev is not None and args.alpha > 0:
            rep = [p for p in prompts for _ in range(args.num_samples_per_prompt)]
            # (1−c)·logits_t + c·logits_{t−1} with c = −α is (1+α)·logits_t − α·logits_{t−1}.
            K = args.num_samples_per_prompt
            c = generate_mixture(self.model, prev, self.processing_class, rep, mixture_coef=-args.alpha,
                                 seeds=self.draw_seeds((t, POLICY), len(rep), start=self.prompt_offset * K),
                                 **args.generation_kwargs())
        else:
            c = self.sample(prompts)
        rows = self.pairs(c, self._win_rate_pairs if args.inner_loss == "sppo" else None)
        if not rows:
            return rows
        new_c, new_r = self.frozen_logprobs(self.model, rows)
        old_c, old_r = self.frozen_logprobs(prev, rows) if prev is not None else (new_c, new_r)
        for k, r in enumerate(rows):
            r.update(ref_chosen_logps=float(apo_reference(new_c[k], old_c[k], args.alpha)),
                     ref_rejected_logps=float(apo_reference(new_r[k], old_r[k], args.alpha)),
                     shift_chosen=float(new_c[k] - old_c[k]))
        return rows

    def _previous_start(self, t: int):
        """π̂_{t−1}: the start policy of round t−1 (the initial policy for t ≤ 1)."""
        path = self.round_dir(t - 2) / "policy.pt" if t >= 2 else self.round_dir(0).parent / "policy-init.pt"
        return self.frozen_from(path)

    def _win_rate_pairs(self, index: int, prompt: str, texts: list[str]):
        """SPPO pairs: consecutive samples with their win rates P̂(y≻π_t) against the other K−1
        samples (every pair of samples compared once)."""
        K = len(texts)
        P = np.full((K, K), 0.5)
        iu = np.triu_indices(K, 1)
        p = self.preference.prob([prompt] * len(iu[0]), [texts[a] for a in iu[0]], [texts[b] for b in iu[1]])
        P[iu] = p
        P[(iu[1], iu[0])] = 1.0 - p
        win = (P.sum(1) - 0.5) / (K - 1)
        pairs = [(a, a + 1, {"chosen_winrate": float(win[a]), "rejected_winrate": float(win[a + 1])})
                 for a in range(0, K - 1, 2)]
        return pairs, len(iu[0])

    def pair_loss(self, chosen_logp, rejected_logp, inputs):
        d = chosen_logp.device
        rc, rr = inputs["ref_chosen_logps"].to(d), inputs["ref_rejected_logps"].to(d)
        out = {"logps/chosen": chosen_logp.detach().mean(), "logps/rejected": rejected_logp.detach().mean(),
               "kl/ref": (chosen_logp.detach() - rc).mean(), "apo/alpha": self.args.alpha,
               "apo/mean_shift": inputs["shift_chosen"].mean(), "round/index": float(self.round)}
        if self.args.inner_loss == "dpo":
            loss, stats = apo_dpo_loss(chosen_logp, rejected_logp, rc, rr, beta=self.args.beta)
            out.update({"rewards/margins": stats["rewards_margin"], "rewards/accuracies": stats["rewards_accuracy"],
                        "rewards/chosen": stats["rewards_chosen"], "rewards/rejected": stats["rewards_rejected"]})
        else:
            loss, stats = apo_sppo_loss(torch.cat([chosen_logp, rejected_logp]), torch.cat([rc, rr]),
                                        torch.cat([inputs["chosen_winrate"], inputs["rejected_winrate"]]).to(d),
                                        sppo_eta=self.args.sppo_eta)
            out.update({"apo/residual_mean": stats["residual_mean"],
                        "rewards/chosen_winrate": inputs["chosen_winrate"].mean()})
        return loss, out


__all__ = ["apo_reference", "apo_dpo_loss", "apo_sppo_loss", "APOTrainerConfig", "APOTrainer"]
