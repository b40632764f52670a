"""Nash-MD (Nash Mirror Descent) for causal LMs — the baseline of the Nash-learning family.

Paper: R. Munos et al., "Nash Learning from Human Feedback" (ICML 2024, arXiv:2312.00886).
docs/trainers.md, Nash-MD. TRL 1.16 removed its ``NashMDTrainer`` and the geometric-mixture
generation wrapper; this trainer restores them.

Per prompt: y ∼ π_θ, and y' from the **token-level** geometric mixture
``softmax((1−c)·logits_θ + c·logits_ref)`` (``mixture_coef = c`` weights the reference; each
model keeps its own KV cache); minimize ::

    ℓ = −(P(y≻y'|x) − ½ − penalty·[y has no EOS])·log π_θ(y) + β·sg[log π_θ(y) − log π_ref(y)]·log π_θ(y)

Defaults (TRL's former ``NashMDConfig``): β = 0.1, ``mixture_coef`` = 0.5, learning rate 5e-7,
2 samples per prompt (``num_generations=2``), ``missing_eos_penalty`` = 1.0. With a constant
step the fixed point is biased away from π*_β (the bias shrinks with the step); this is the
algorithm, not a defect of the implementation.
"""

from __future__ import annotations

from dataclasses import dataclass, field

from alignment.trainers.config import TrainerConfig
from alignment.trainers.draws import OPPONENT, POLICY
from alignment.trainers.models import is_sharded
from alignment.trainers.nash_mp import KL_ESTIMATORS, check_baseline, nash_mp_loss
from alignment.trainers.online import OnlineTrainer
from alignment.trainers.registry import TRAINERS
from alignment.trainers.sampling import generate_mixture
from gtlearn.core.errors import GtlearnError


@dataclass
class NashMDTrainerConfig(TrainerConfig):
    """Config of :class:`NashMDTrainer`."""

    mixture_coef: float = field(default=0.5, metadata={"help": "Weight of the reference logits in the mixture sampler."})
    kl_estimator: str = field(default="sequence", metadata={"help": "'sequence' (unbiased) or 'token' (TRL's former, biased)."})
    num_generations: int = field(default=2, metadata={"help": "Samples per prompt (each with its own mixture opponent)."})
    missing_eos_penalty: float | None = 1.0
    all_pairs: bool = field(default=False, metadata={"help": "Compare each sample with every opponent sample of "
                            "its prompt (num_generations² queries per prompt instead of num_generations)."})
    baseline: str = field(default="none", metadata={"help": "'none' or 'rloo' (leave-one-out over a prompt's "
                          "num_generations samples)."})

    def __post_init__(self):
        super().__post_init__()
        check_baseline(self)
        if not 0.0 <= self.mixture_coef <= 1.0:
            raise GtlearnError(f"mixture_coef must be in [0, 1], got {self.mixture_coef}")
        if self.kl_estimator not in KL_ESTIMATORS:
            raise GtlearnError(f"kl_estimator must be one of {KL_ESTIMATORS}")


def nash_md_loss(logp, ref_logp, preference, *, beta: float, kl_estimator: str = "sequence", token_logp=None,
                 ref_token_logp=None, reward_offset=None, groups=None):
    """Nash-MD loss: ℓ = −(P − ½)·log π_θ(y) + β·sg[log π_θ(y) − log π_ref(y)]·log π_θ(y), with
    y' drawn from the token-level mixture of π_θ and π_ref — Nash-MP's surrogate without the
    proximal term (``groups``: its leave-one-out baseline)."""
    return nash_mp_loss(logp, ref_logp, None, preference, beta=beta, prox_coef=0.0, kl_estimator=kl_estimator,
                        token_logp=token_logp, ref_token_logp=ref_token_logp, reward_offset=reward_offset,
                        groups=groups)


@TRAINERS.register("nash-md", NashMDTrainerConfig)
class NashMDTrainer(OnlineTrainer):
    """Nash-MD trainer; see the module docstring."""

    def online_loss(self, model, prompts, first_micro):
        args = self.args
        prompts = [p for p in prompts for _ in range(args.num_generations)]
        y = self.draw_completions(model, prompts, self.draw_key(POLICY))
        if args.mixture_coef == 0.0:
            # c = 0 is plain policy sampling: skip the reference forward passes.
            y2 = self.draw_completions(model, prompts, self.draw_key(OPPONENT))
        else:
            y2 = generate_mixture(model, self.ref_policy, self.processing_class, prompts, mixture_coef=args.mixture_coef,
                                  ref_context=self.ref_context if self.ref_model is None else None,
                                  seeds=self.draw_seeds(self.draw_key(OPPONENT), len(prompts)),
                                  synced=is_sharded(model), **args.generation_kwargs())
        pref = self.opponent_preference(y, y2, args.all_pairs)
        token = args.kl_estimator == "token"
        lp, tok = self.logprobs(model, y, grad=True, tokens=True)
        ref_lp, ref_tok = self.ref_logprobs(y, tokens=True)
        loss, stats = nash_md_loss(lp, ref_lp, pref, beta=args.beta, kl_estimator=args.kl_estimator,
                                   token_logp=tok if token else None, ref_token_logp=ref_tok if token else None,
                                   reward_offset=self.eos_offset(y),
                                   groups=self.generation_groups(len(y)) if args.baseline == "rloo" else None)
        self._record("objective/", {"loss": loss.detach(), "entropy": -lp.detach().mean()})
        self._record_pairwise(pref, lp, ref_lp, stats)
        self._record_completions(y)
        return loss


__all__ = ["nash_md_loss", "NashMDTrainerConfig", "NashMDTrainer"]
