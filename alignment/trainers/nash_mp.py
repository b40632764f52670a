"""Nash-MP (Nash Mirror Prox) for causal LMs.

Paper: D. Tiapkin, D. Calandriello, et al., "Accelerating Nash Learning from Human Feedback via
Mirror Prox" (arXiv:2505.19731) — regularized Nash learning from human feedback by a
mirror-prox (extragradient) method whose last iterate converges linearly to the β-regularized
Nash equilibrium. docs/trainers.md, Nash-MP (the tabular update: docs/preference_games.md).

Each outer iteration k makes two proximal steps, **both centred at the anchor π_k**:

1. *half step* — ``inner_steps_half`` optimizer steps on the surrogate against opponent μ = π_k;
   the result is frozen as π_{k+½};
2. *full step* — θ is reset to the anchor and ``inner_steps_full`` steps are taken against
   μ = π_{k+½}; the result is π_{k+1}, which becomes the next anchor.

The per-sample surrogate (y ∼ π_θ, y' ∼ μ, P = P(y≻y'|x)) is ::

    ℓ(θ) = −(P − ½)·log π_θ(y) + β·sg[log π_θ(y) − log π_ref(y)]·log π_θ(y)
           + λ·sg[log π_θ(y) − log π_k(y)]·log π_θ(y)

With the defaults ``inner_steps_half = inner_steps_full = 1`` this is the memory-light
extragradient mode: step to θ_{k+½}, generate with it, restore θ_k (weights *and* optimizer
state) and apply the new gradient there.

Choices (the paper leaves them open): β = 0.1 (Nash-MD's default), λ = ``prox_coef`` = 0.5,
one inner step per half, anchor = hard snapshot, learning rate 5e-7, the optimizer state is
restored to the anchor's at the reset (``reset_optimizer=True``), the learning-rate schedule
is not reset. Deviations: no EMA anchor (``anchor_mode`` only accepts ``"snapshot"``); the
anchor and half-step models are full frozen copies even for PEFT models (memory: three copies
of the policy besides the reference).
"""

from __future__ import annotations

import copy
from dataclasses import dataclass, field
from typing import Any

import torch

from alignment.trainers.config import TrainerConfig
from alignment.trainers.draws import OPPONENT, POLICY
from alignment.trainers.models import copy_weights_, frozen_copy
from alignment.trainers.online import OnlineTrainer
from alignment.trainers.registry import TRAINERS
from gtlearn.core.errors import GtlearnError

KL_ESTIMATORS = ("sequence", "token")


@dataclass
class NashMPTrainerConfig(TrainerConfig):
    """Config of :class:`NashMPTrainer`."""

    prox_coef: float = field(default=0.5, metadata={"help": "λ, weight of KL(π‖π_k) (λ = β/η)."})
    inner_steps_half: int = field(default=1, metadata={"help": "M₁, optimizer steps of the half step."})
    inner_steps_full: int = field(default=1, metadata={"help": "M₂, optimizer steps of the full step."})
    anchor_mode: str = field(default="snapshot", metadata={"help": "How the anchor is refreshed (snapshot only)."})
    reset_optimizer: bool = field(default=True, metadata={"help": "Restore the optimizer state when θ is reset to the anchor."})
    kl_estimator: str = field(default="sequence", metadata={"help": "'sequence' (unbiased) or 'token' (biased, cheaper)."})
    num_generations: int = field(default=1, metadata={"help": "Samples y ∼ π_θ (and y' ∼ μ) per prompt."})
    all_pairs: bool = field(default=False, metadata={"help": "Compare each sample with every opponent sample of "
                            "its prompt (num_generations² queries per prompt instead of num_generations)."})
    baseline: str = field(default="none", metadata={"help": "'none' or 'rloo': subtract from each sample's "
                          "return the mean of the other samples of its prompt (needs num_generations >= 2)."})

    def __post_init__(self):
        super().__post_init__()
        check_baseline(self)
        if self.anchor_mode != "snapshot":
            raise GtlearnError("NashMPTrainerConfig.anchor_mode: only 'snapshot' is implemented")
        if self.kl_estimator not in KL_ESTIMATORS:
            raise GtlearnError(f"kl_estimator must be one of {KL_ESTIMATORS}")
        if self.inner_steps_half < 1 or self.inner_steps_full < 1:
            raise GtlearnError("inner_steps_half and inner_steps_full must be >= 1")
        if self.prox_coef < 0:
            raise GtlearnError("prox_coef must be >= 0")


# ------------------------------------------------------------------------------------------
# The loss (a pure function of log-prob tensors)
# ------------------------------------------------------------------------------------------
def kl_surrogate(logp, other_logp, token_logp, other_token_logp, estimator: str) -> torch.Tensor:
    """Per-row surrogate whose gradient is a REINFORCE estimate of ∇KL(π_θ‖π_other).

    ``"sequence"``: sg[log π_θ(y) − log π_o(y)]·log π_θ(y), unbiased.
    ``"token"``: Σ_t sg[log π_θ(y_t|·) − log π_o(y_t|·)]·log π_θ(y_t|·), TRL's former Nash-MD
    estimator; it drops the future-token terms and is biased."""
    if estimator == "sequence":
        return (logp - other_logp).detach() * logp
    if estimator == "token":
        if token_logp is None or other_token_logp is None:
            raise ValueError("kl_estimator='token' needs per-token log-probs")
        return ((token_logp - other_token_logp).detach() * token_logp).sum(-1)
    raise ValueError(f"kl_estimator must be one of {KL_ESTIMATORS}, got {estimator!r}")


BASELINES = ("none", "rloo")


def check_baseline(cfg) -> None:
    if cfg.baseline not in BASELINES:
        raise GtlearnError(f"baseline must be one of {BASELINES}, got {cfg.baseline!r}")
    if cfg.baseline == "rloo" and (cfg.num_generations < 2 or cfg.kl_estimator != "sequence"):
        raise GtlearnError("baseline='rloo' needs num_generations >= 2 and kl_estimator='sequence'")


def leave_one_out(values: torch.Tensor, groups: torch.Tensor) -> torch.Tensor:
    """Per row, the mean of ``values`` over the *other* rows of its group (0 for a row alone in
    its group): a baseline independent of the row's own sample, so the estimator stays
    unbiased (RLOO, Kool et al. 2019; Ahmadian et al. 2024)."""
    n = torch.zeros_like(values).index_add_(0, groups, torch.ones_like(values))
    total = torch.zeros_like(values).index_add_(0, groups, values)
    n_i, t_i = n[groups], total[groups]
    return torch.where(n_i > 1, (t_i - values) / (n_i - 1).clamp(min=1), torch.zeros_like(values))


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
    groups: torch.Tensor | None = None,
):
    """Nash-MP proximal-step surrogate, per sample y ∼ π_θ against y' ∼ μ::

        ℓ = −(P(y≻y'|x) − ½)·log π_θ(y) + β·sg[log π_θ(y) − log π_ref(y)]·log π_θ(y)
            + λ·sg[log π_θ(y) − log π_k(y)]·log π_θ(y)

    ``[B]`` sequence log-probs in, ``(batch-mean loss, stats)`` out. ``preference`` holds
    P(y≻y'|x) (or a Bernoulli label). ``reward_offset`` is added to P − ½ (the missing-EOS
    penalty enters here, as a negative offset). With ``prox_coef=0`` and ``anchor_logp=None``
    this is the Nash-MD loss. ``groups`` (``[B]`` group ids, sequence estimator only) subtracts
    from each sample's return A = P − ½ − β·(log π − log π_ref) − λ·(log π − log π_k) the
    leave-one-out mean of A over its group: ℓ = −sg[A − b]·log π_θ(y), the same expected
    gradient with less variance.
    """
    reward = preference.to(logp.dtype) - 0.5
    if reward_offset is not None:
        reward = reward + reward_offset.to(logp.dtype)
    if prox_coef and anchor_logp is None:
        raise ValueError("prox_coef > 0 needs anchor log-probs")
    stats = {"reward": reward.detach().mean(), "kl_ref": (logp - ref_logp).detach().mean()}
    if anchor_logp is not None:
        stats["kl_anchor"] = (logp - anchor_logp).detach().mean()
    if groups is not None:
        if kl_estimator != "sequence":
            raise ValueError("a leave-one-out baseline needs kl_estimator='sequence'")
        ret = reward - beta * (logp - ref_logp) - (prox_coef * (logp - anchor_logp) if prox_coef else 0.0)
        ret = ret.detach()
        return (-(ret - leave_one_out(ret, groups)) * logp).mean(), stats
    pg = -reward.detach() * logp
    kl_ref = kl_surrogate(logp, ref_logp, token_logp, ref_token_logp, kl_estimator)
    per = pg + beta * kl_ref
    if prox_coef:
        per = per + prox_coef * kl_surrogate(logp, anchor_logp, token_logp, anchor_token_logp, kl_estimator)
    return per.mean(), stats


# ------------------------------------------------------------------------------------------
# The trainer
# ------------------------------------------------------------------------------------------
@TRAINERS.register("nash-mp", NashMPTrainerConfig)
class NashMPTrainer(OnlineTrainer):
    """Nash Mirror Prox trainer; see the module docstring. ``train_dataset`` has a ``prompt``
    column; ``preference`` is a :class:`~alignment.preference_models.PreferenceOracle`."""

    def __init__(self, *args, **kwargs) -> None:
        super().__init__(*args, **kwargs)
        self.anchor = frozen_copy(self.model).to(self.args.device)
        self.half = frozen_copy(self.model).to(self.args.device)
        self._opt_backup: dict | None = None
        self.anchor_age = 0

    needs_full_weights = True  # the anchor and half-step copies

    @property
    def cycle(self) -> int:
        return self.args.inner_steps_half + self.args.inner_steps_full

    def phase(self, step: int | None = None) -> str:
        s = (self.state.global_step if step is None else step) % self.cycle
        return "half" if s < self.args.inner_steps_half else "full"

    def _begin_step(self) -> None:
        """At a cycle's start, snapshot the anchor; at the full step's start, freeze the
        half-step policy and reset θ (and the optimizer state) to the anchor."""
        s = self.state.global_step % self.cycle
        if s == 0:
            copy_weights_(self.anchor, self.model)
            self.anchor_age = 0
            if self.args.reset_optimizer and self.optimizer is not None:
                self._opt_backup = copy.deepcopy(self.optimizer.state_dict())
        elif s == self.args.inner_steps_half:
            copy_weights_(self.half, self.model)
            copy_weights_(self.model, self.anchor)
            if self.args.reset_optimizer and self._opt_backup is not None:
                lrs = [g["lr"] for g in self.optimizer.param_groups]
                self.optimizer.load_state_dict(self._opt_backup)
                for g, lr in zip(self.optimizer.param_groups, lrs):  # the schedule is not reset
                    g["lr"] = lr
        self.anchor_age = s

    def online_loss(self, model, prompts, first_micro):
        if first_micro:
            self._begin_step()
        args = self.args
        phase = self.phase()
        opponent = self.anchor if phase == "half" else self.half
        y = self.draw_completions(model, prompts, self.draw_key(POLICY), num_samples=args.num_generations)
        y2 = self.draw_completions(opponent, prompts, self.draw_key(OPPONENT), num_samples=args.num_generations,
                                   policy=False)
        pref = self.opponent_preference(y, y2, args.all_pairs)
        token = args.kl_estimator == "token"
        lp, tok = self.logprobs(model, y, grad=True, tokens=True)
        ref_lp, ref_tok = self.ref_logprobs(y, tokens=True)
        anc_lp, anc_tok = self.logprobs(self.anchor, y, grad=False, tokens=True)
        groups = self.generation_groups(len(y)) if args.baseline == "rloo" else None
        loss, stats = nash_mp_loss(
            lp, ref_lp, anc_lp, pref, beta=args.beta, prox_coef=args.prox_coef, kl_estimator=args.kl_estimator,
            token_logp=tok if token else None, ref_token_logp=ref_tok if token else None,
            anchor_token_logp=anc_tok if token else None, reward_offset=self.eos_offset(y), groups=groups)
        self._record("objective/", {f"{phase}_loss": loss.detach(), "entropy": -lp.detach().mean(),
                                    "anchor_age": self.anchor_age})
        self._record_pairwise(pref, lp, ref_lp, stats)
        self._record("logps/", {"anchor": anc_lp.mean()})
        self._record("kl/", {"anchor": stats["kl_anchor"]})
        self._record_completions(y)
        return loss

    def _extra_state(self) -> dict[str, Any]:
        st = super()._extra_state()
        st.update(anchor={k: v.cpu() for k, v in self.anchor.state_dict().items()},
                  half={k: v.cpu() for k, v in self.half.state_dict().items()},
                  opt_backup=self._opt_backup, anchor_age=self.anchor_age)
        return st

    def _load_extra_state(self, state: dict[str, Any]) -> None:
        super()._load_extra_state(state)
        self.anchor.load_state_dict(state["anchor"])
        self.half.load_state_dict(state["half"])
        self._opt_backup = state.get("opt_backup")
        self.anchor_age = int(state.get("anchor_age", 0))


__all__ = ["KL_ESTIMATORS", "BASELINES", "check_baseline", "leave_one_out", "kl_surrogate", "nash_mp_loss", "NashMPTrainerConfig", "NashMPTrainer"]
