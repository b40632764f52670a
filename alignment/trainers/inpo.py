"""INPO (Iterative Nash Policy Optimization) for causal LMs.

Paper: Zhang et al., "Iterative Nash Policy Optimization: Aligning LLMs with General
Preferences via No-Regret Learning", ICLR 2025 (arXiv:2410.23223). Spec:
``shared/specs/alignment.md`` §3.

Round t (π_1 = π_ref):

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

Defaults (ICLR camera-ready, spec §3.3): η = 0.005 (other sources use 0.0075), τ = η/3,
T = 3 rounds, K = 8, learning rate 5e-7 with a cosine schedule and warm-up ratio 0.03 (per
round). Choices ("unverified: choose, document"): summed log-probs (no length normalization),
warm start from π_t each round, one epoch over each round's pairs, a fresh optimizer per round,
``pair_mode="auto"`` (best/worst with a reward model, the tournament otherwise).
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alignment.trainers.base import (
    AlignConfig,
    RoundTrainer,
    build_pairs,
    completion_token_lists,
    dataset_logprobs,
    prompt_token_lists,
)
from alignment.trainers.logprobs import generate
from alignment.trainers.losses import inpo_loss
from gtlearn.core.errors import GtlearnError


@dataclass
class INPOConfig(AlignConfig):
    """Config of :class:`INPOTrainer`. ``tau=None`` means η/3."""

    eta: float = field(default=0.005, metadata={"help": "η, the inverse OMD learning rate (target 1/(2η))."})
    tau: float | None = field(default=None, metadata={"help": "τ, KL weight to π_ref; default η/3."})
    num_iterations: int = field(default=3, metadata={"help": "Rounds T."})
    num_samples_per_prompt: int = field(default=8, metadata={"help": "K samples per prompt per round."})
    pair_mode: str = field(default="auto", metadata={"help": "auto | best_worst | tournament | iid."})
    prompts_per_round: int = field(default=0, metadata={"help": "Fresh prompts per round (0 = the whole dataset)."})
    lr_scheduler_type: str = "cosine"
    warmup_steps: float = 0.03
    label_mode: str = "sample"

    def __post_init__(self):
        if self.tau is None:
            self.tau = self.eta / 3.0
        super().__post_init__()
        if self.eta <= 0 or not 0 <= self.tau <= self.eta:
            raise GtlearnError(f"INPO needs eta > 0 and 0 <= tau <= eta (got eta={self.eta}, tau={self.tau})")
        if self.num_samples_per_prompt < 2:
            raise GtlearnError("num_samples_per_prompt must be >= 2")


class INPOTrainer(RoundTrainer):
    """INPO; see the module docstring. ``train_dataset`` has a ``prompt`` column."""

    _tag = "inpo"

    def build_round(self, t: int) -> list[dict]:
        args = self.args
        prompts = self.round_prompts(t)
        K = args.num_samples_per_prompt
        c = generate(self.model, self.processing_class, prompts, max_new_tokens=args.max_new_tokens,
                     temperature=args.temperature, num_samples=K, max_prompt_length=args.max_prompt_length)
        ptoks, ctoks = prompt_token_lists(c), completion_token_lists(c)
        rows, comparisons = [], 0
        for i, prompt in enumerate(c.prompts[::K]):
            texts = c.texts[i * K:(i + 1) * K]
            pairs, n = build_pairs(prompt, texts, self.preference, args.pair_mode, args.label_mode)
            comparisons += n
            for a, b in pairs:
                rows.append({"prompt_ids": ptoks[i * K], "chosen_ids": ctoks[i * K + a], "rejected_ids": ctoks[i * K + b]})
        self.round_stats = {"pairs": len(rows), "keep_rate": len(rows) / max(1, len(prompts)),
                            "comparisons_per_prompt": comparisons / max(1, len(prompts))}
        if not rows:
            return rows
        pad = self.processing_class.pad_token_id
        red = args.logprob_reduction
        ref_c, ref_r = dataset_logprobs(self.ref_policy, rows, pad, reduction=red, context=self.ref_context)
        # π_t is the round-start policy = the current weights (frozen for the round by construction).
        prev_c, prev_r = dataset_logprobs(self.model, rows, pad, reduction=red)
        for k, r in enumerate(rows):
            r.update(ref_chosen_logps=float(ref_c[k]), ref_rejected_logps=float(ref_r[k]),
                     prev_chosen_logps=float(prev_c[k]), prev_rejected_logps=float(prev_r[k]))
        return rows

    def pair_loss(self, chosen_logp, rejected_logp, inputs):
        d = chosen_logp.device
        loss, stats = inpo_loss(chosen_logp, rejected_logp, inputs["ref_chosen_logps"].to(d),
                                inputs["ref_rejected_logps"].to(d), inputs["prev_chosen_logps"].to(d),
                                inputs["prev_rejected_logps"].to(d), eta=self.args.eta, tau=self.args.tau)
        stats["kl_prev"] = (chosen_logp.detach() - inputs["prev_chosen_logps"].to(d)).mean()
        stats["kl_ref"] = (chosen_logp.detach() - inputs["ref_chosen_logps"].to(d)).mean()
        stats["round"] = float(self.round)
        return loss, {f"inpo/{k}": v for k, v in stats.items()}


__all__ = ["INPOConfig", "INPOTrainer"]

