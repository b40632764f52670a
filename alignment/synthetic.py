"""The offline default task: a tiny causal LM whose answers are a finite set of short strings,
with preferences from a tabular intransitive game whose regularized Nash is known exactly.

Everything is built in-process (no download, no network):

* a word-level tokenizer (``tokenizers`` ``WordLevel`` + ``Whitespace``, wrapped in
  ``PreTrainedTokenizerFast`` with ``<s>``, ``</s>``, a distinct ``<pad>`` and ``<unk>``);
* prompts ``"question q<x> answer"``, one per context x, and answers = one word each
  (``rock``, ``paper``, ``scissors``, … ) followed by EOS;
* a tiny ``Qwen2ForCausalLM`` pre-trained by exact cross-entropy so that its answer
  distribution matches the game's (Dirichlet) reference;
* the **reference of the game is then replaced by the model's own answer distribution**
  (normalized over the answer set), so that π_ref of the game *is* the initial LM, and the exact
  β-regularized Nash π*_β of that game (``games.preference.regularized_nash``) is the target
  every trainer should approach;
* the preference oracle is :class:`alignment.preference_models.GamePreference`: the game's P
  between answers; a completion outside the answer set loses to every answer.

:meth:`SyntheticTask.answer_distribution` enumerates the answers exactly (no sampling), so
KL(π*_β‖π_θ) is measured exactly on the answer set; the mass the model puts outside the set is
reported beside it.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

DEFAULT_GAME = "cyclic:5,contexts=4,ref=1,seed=0"
DEFAULT_BETA = 0.25
_WORDS = ["rock", "paper", "scissors", "lizard", "spock", "fire", "water", "air", "earth", "wood", "metal", "ice"]


def answer_words(n: int) -> list[str]:
    """The task's ``n`` one-word answers (``rock``, ``paper``, … then ``a12``, ``a13``, …)."""
    return _WORDS[:n] if n <= len(_WORDS) else [f"a{i}" for i in range(n)]


def build_tokenizer(num_contexts: int, answers: list[str]):
    """A word-level fast tokenizer over the task vocabulary (specials first: pad=0)."""
    from tokenizers import Tokenizer, decoders
    from tokenizers.models import WordLevel
    from tokenizers.pre_tokenizers import Whitespace
    from transformers import PreTrainedTokenizerFast

    specials = ["<pad>", "<s>", "</s>", "<unk>"]
    words = ["question", "answer"] + [f"q{x}" for x in range(num_contexts)] + list(dict.fromkeys(answers))
    vocab = {w: i for i, w in enumerate(specials + words)}
    tk = Tokenizer(WordLevel(vocab=vocab, unk_token="<unk>"))
    tk.pre_tokenizer = Whitespace()
    # Join words with spaces when decoding (also after save_pretrained/from_pretrained, where the
    # wrapper's own word joining is not restored).
    tk.decoder = decoders.WordPiece(prefix="##", cleanup=False)
    tok = PreTrainedTokenizerFast(tokenizer_object=tk, bos_token="<s>", eos_token="</s>", pad_token="<pad>",
                                  unk_token="<unk>", padding_side="left")
    return tok


def tiny_causal_lm(tokenizer, *, hidden_size: int = 32, num_layers: int = 2, seed: int = 0,
                   vocab_size: int | None = None, **overrides: Any):
    """A deterministic tiny ``Qwen2ForCausalLM``, eos/pad ids set, sampling on."""
    import torch
    from transformers import Qwen2Config, Qwen2ForCausalLM

    cfg = dict(vocab_size=vocab_size or len(tokenizer), hidden_size=hidden_size, intermediate_size=2 * hidden_size,
               num_hidden_layers=num_layers, num_attention_heads=4, num_key_value_heads=2,
               max_position_embeddings=128, tie_word_embeddings=True, bos_token_id=tokenizer.bos_token_id,
               eos_token_id=tokenizer.eos_token_id, pad_token_id=tokenizer.pad_token_id)
    cfg.update(overrides)
    config = Qwen2Config(**cfg)
    torch.manual_seed(seed)
    model = Qwen2ForCausalLM(config)
    gc = model.generation_config
    gc.eos_token_id, gc.pad_token_id, gc.bos_token_id = tokenizer.eos_token_id, tokenizer.pad_token_id, tokenizer.bos_token_id
    gc.do_sample = True
    gc.top_k = 0
    return model


@dataclass
class SyntheticTask:
    """The synthetic task (see module docstring). ``game.ref`` is the initial model's answer
    distribution and ``nash`` = π*_β of ``game``."""

    game: Any
    beta: float
    nash: np.ndarray
    tokenizer: Any
    model: Any
    contexts: list[str]
    answers: list[str]
    oracle: Any
    info: dict = field(default_factory=dict)

    # -- exact answer distribution -----------------------------------------------------------
    def _batch(self, device):
        import torch

        from alignment.trainers.logprobs import left_pad, right_pad

        X, n = self.game.num_contexts, self.game.num_responses
        p_ids = [self.tokenizer(c, add_special_tokens=False)["input_ids"] for c in self.contexts for _ in range(n)]
        a_ids = [self.tokenizer(a, add_special_tokens=False)["input_ids"] + [self.tokenizer.eos_token_id]
                 for _ in range(X) for a in self.answers]
        pid, pm = left_pad(p_ids, self.tokenizer.pad_token_id, device)
        cid, cm = right_pad(a_ids, self.tokenizer.pad_token_id, device)
        return pid, pm, cid, cm, torch

    def answer_logprobs(self, model, grad: bool = False):
        """``[X, n]`` sequence log-probs log π(answer + EOS | prompt) (torch tensor)."""
        from alignment.trainers.logprobs import sequence_logprobs, unwrap

        m = unwrap(model)
        device = next(m.parameters()).device
        pid, pm, cid, cm, torch = self._batch(device)
        ctx = torch.enable_grad() if grad else torch.no_grad()
        with ctx:
            lp = sequence_logprobs(m, pid, pm, cid, cm)
        return lp.view(self.game.num_contexts, self.game.num_responses)

    def answer_distribution(self, model) -> tuple[np.ndarray, np.ndarray]:
        """(π over the answer set, normalized per context ``[X, n]``; in-set mass ``[X]``)."""
        from alignment.trainers.logprobs import eval_mode, unwrap

        with eval_mode(unwrap(model)):
            lp = self.answer_logprobs(model).double().cpu().numpy()
        mass = np.exp(lp).sum(1)
        pi = np.exp(lp - lp.max(1, keepdims=True))
        return pi / pi.sum(1, keepdims=True), mass

    def evaluate(self, model) -> dict[str, float]:
        """The preference-game measures (:func:`alignment.measures.measures`, ρ-averaged) of the
        model's answer distribution, plus the mass outside the answer set."""
        from alignment.measures import measures

        pi, mass = self.answer_distribution(model)
        out = measures(self.game, pi, self.beta, self.nash)
        out["in_set_mass"] = float(np.dot(self.game.rho, mass))
        return {k: float(v) for k, v in out.items()}

    def kl_to_nash(self, model) -> float:
        """ρ-averaged KL(π*_β ‖ π_θ) on the answer set."""
        from gtlearn.core.metrics import kl_divergence

        pi, _ = self.answer_distribution(model)
        return float(np.dot(self.game.rho, kl_divergence(self.nash, pi)))

    # -- data and targets ------------------------------------------------------------------
    def dataset(self, num_prompts: int = 64):
        """A ``datasets.Dataset`` with a ``prompt`` column cycling through the contexts."""
        from datasets import Dataset

        return Dataset.from_dict({"prompt": [self.contexts[i % len(self.contexts)] for i in range(num_prompts)]})

    def fdpg_log_score(self, prompts: list[str], completions: list[str]) -> np.ndarray:
        """log b(x, y) = P(y ≻ π*_β | x)/β for an answer, 0 outside the set (an outside string
        loses to every answer, so its win rate is 0). With a = π_ref, p ∝ a·b restricted to the
        answer set is exactly π*_β (its fixed-point equation, docs/preference_games.md): f-DPG is handed the
        EBM whose normalization is the Nash, since it is a distribution-matching method."""
        win = self.game.win_prob(self.nash)
        out = np.zeros(len(prompts))
        for k, (x, y) in enumerate(zip(prompts, completions)):
            c, i = self.oracle.index(x, y)
            out[k] = win[c, i] / self.beta if i >= 0 else 0.0
        return out


def pretrain_to_reference(model, task_like: SyntheticTask, target: np.ndarray, *, steps: int = 300, lr: float = 0.02) -> float:
    """Fit the model's answer distribution to ``target`` [X, n] by exact weighted cross-entropy
    (full batch, Adam); returns the final ρ-averaged KL(target ‖ model) on the answer set."""
    import torch

    opt = torch.optim.Adam(model.parameters(), lr=lr)
    t = torch.as_tensor(target, dtype=torch.float32)
    model.train()
    for _ in range(steps):
        lp = task_like.answer_logprobs(model, grad=True)
        loss = -(t * lp).sum(1).mean()
        opt.zero_grad()
        loss.backward()
        opt.step()
    model.eval()
    pi, _ = task_like.answer_distribution(model)
    from gtlearn.core.metrics import kl_divergence

    return float(kl_divergence(target, pi).mean())


def build_synthetic_task(game: str | Any = DEFAULT_GAME, beta: float = DEFAULT_BETA, *, seed: int = 0,
                         hidden_size: int = 32, num_layers: int = 2, pretrain_steps: int = 300) -> SyntheticTask:
    """Build the task: game → tokenizer → tiny LM fitted to the game's reference → game with
    the LM's own reference → exact π*_β (see module docstring)."""
    import torch

    from alignment.preference_models import GamePreference
    from games.preference import PreferenceGame, make_game, regularized_nash
    from gtlearn.core.errors import GtlearnError

    g0 = make_game(game) if isinstance(game, str) else game
    X, n = g0.num_contexts, g0.num_responses
    if g0.responses is not None:
        answers = [s.strip() for s in g0.responses[0]]
        if any(r != g0.responses[0] for r in g0.responses) or any(len(a.split()) != 1 for a in answers):
            raise GtlearnError("the synthetic task needs the same one-word responses in every context")
    else:
        answers = answer_words(n)
    tok = build_tokenizer(X, answers)
    model = tiny_causal_lm(tok, hidden_size=hidden_size, num_layers=num_layers, seed=seed)
    contexts = [f"question q{x} answer" for x in range(X)]
    task = SyntheticTask(game=g0, beta=float(beta), nash=g0.ref, tokenizer=tok, model=model, contexts=contexts,
                         answers=answers, oracle=None)
    torch.manual_seed(seed)
    fit = pretrain_to_reference(model, task, g0.ref, steps=pretrain_steps)
    model.requires_grad_(True)
    ref, mass = task.answer_distribution(model)
    game_lm = PreferenceGame(P=g0.P, ref=ref, rho=g0.rho, responses=[list(answers) for _ in range(X)],
                             name=f"{g0.name} (reference = tiny LM)")
    task.game = game_lm
    task.nash = regularized_nash(game_lm, beta)
    task.oracle = GamePreference(game_lm, contexts)
    from gtlearn.core.metrics import kl_divergence

    task.info = {"game": g0.name, "beta": float(beta), "pretrain_kl_to_game_ref": fit,
                 "in_set_mass": float(np.dot(g0.rho, mass)),
                 "kl_nash_ref": float(np.dot(g0.rho, kl_divergence(task.nash, ref))),
                 "parameters": int(sum(p.numel() for p in model.parameters()))}
    return task


_TASK_CACHE: dict[tuple, SyntheticTask] = {}


def cached_task(game: str = DEFAULT_GAME, beta: float = DEFAULT_BETA, *, seed: int = 0,
                pretrain_steps: int = 300) -> SyntheticTask:
    """:func:`build_synthetic_task`, memoized per argument tuple (tests and benchmarks build the
    task once per process). Callers must train a ``copy.deepcopy(task.model)``, never
    ``task.model`` itself."""
    key = (game, float(beta), seed, pretrain_steps)
    if key not in _TASK_CACHE:
        _TASK_CACHE[key] = build_synthetic_task(game, beta, seed=seed, pretrain_steps=pretrain_steps)
    return _TASK_CACHE[key]


# ------------------------------------------------------------------------------------------
# Defaults that make every trainer cut KL(π*_β‖π_θ) by 10× or more on the synthetic task on a CPU
# in about a minute (docs/trainers.md, "The synthetic task's defaults" has the measurements).
# They are *not* the papers' LLM hyperparameters (those are the configs' defaults and the
# experiments/align_<algo>.py scripts): a 19k-parameter model needs large steps, and INPO's τ is
# the task's β (its ``beta``) with η = 3τ, so that its fixed point is π*_β.
# ------------------------------------------------------------------------------------------
def default_steps(algo: str) -> int:
    """The synthetic task's default step count: 400 for Nash-MP (an iteration is a half and a full
    step, so this is 200 mirror-prox iterations), 200 for the others."""
    return 400 if algo == "nash-mp" else 200


# Nash-MP and Nash-MD: plain SGD (momentum 0.5) with a linear decay instead of Adam — Adam's
# per-coordinate scaling breaks the extragradient step (with exact gradients, Adam stalls at
# KL ≈ 0.04–0.07 where SGD converges linearly) — and 4 samples per prompt with a leave-one-out
# baseline for the variance.
_POLICY_GRADIENT = dict(optim="sgd", optim_args="momentum=0.5", learning_rate=0.2, lr_scheduler_type="linear",
                        per_device_train_batch_size=32, num_generations=4, baseline="rloo")


def synthetic_config(algo: str, task: SyntheticTask, *, steps: int = 200, output_dir: str = "runs/synthetic",
                     seed: int = 0, **overrides: Any) -> dict:
    """Config fields (a dict for the algorithm's ``<Algo>TrainerConfig``) for the synthetic task."""
    from gtlearn.core.errors import GtlearnError

    cfg: dict[str, Any] = dict(output_dir=output_dir, per_device_train_batch_size=16, max_new_tokens=3,
                               temperature=1.0, learning_rate=3e-3, beta=task.beta, seed=seed, use_cpu=True,
                               disable_tqdm=True, logging_steps=10, save_strategy="no", lr_scheduler_type="constant",
                               warmup_steps=0, dataloader_pin_memory=False)
    if algo == "nash-mp":
        cfg.update(max_steps=steps, prox_coef=0.5, **_POLICY_GRADIENT)
    elif algo == "nash-md":
        # The mixture biases the fixed point: KL(π*‖·) 0.024 at the default c = 0.5, 0.0011 at 0.125.
        # One step per iteration (no extragradient): larger steps, clipped, against the slow seeds
        # without the blow-ups of unclipped ones.
        cfg.update(max_steps=steps, mixture_coef=0.125, missing_eos_penalty=None,
                   **{**_POLICY_GRADIENT, "learning_rate": 0.3, "max_grad_norm": 0.3})
    elif algo == "fdpg":
        cfg.update(max_steps=steps, divergence="js")
    elif algo in ("inpo", "apo"):
        rounds = max(1, steps // 25)
        cfg.update(num_iterations=rounds, max_steps=steps // rounds, num_samples_per_prompt=8, pair_mode="iid",
                   prompts_per_round=32, label_mode="sample", lr_scheduler_type="cosine", warmup_steps=0.03)
        if algo == "inpo":
            # 256 prompts (1024 pairs) per round and batches of 128 pairs: the rounds' regressions
            # are fitted with little noise, so the OMD contraction is what sets the pace.
            cfg.update(eta=3 * task.beta, prompts_per_round=256, per_device_train_batch_size=128, learning_rate=5e-3)
        else:
            cfg.update(alpha=0.3, inner_loss="dpo", beta=2.0)
    else:
        raise GtlearnError(f"unknown algorithm {algo!r}; use nash-mp, inpo, apo, fdpg or nash-md")
    cfg.update(overrides)
    return cfg


def eval_callback(task: SyntheticTask, trainer_ref: list, every: int, sink):
    """A ``TrainerCallback`` that evaluates the answer distribution exactly every ``every``
    optimizer steps (counted across rounds for INPO/APO) and calls ``sink(step, measures)``."""
    from transformers import TrainerCallback

    from games.preference import maximal_lottery
    from gtlearn.core.metrics import kl_divergence

    ml = maximal_lottery(task.game)

    def measure(model) -> dict[str, float]:
        out = task.evaluate(model)
        pi, _ = task.answer_distribution(model)
        out["kl_maximal_lottery_pi"] = float(np.dot(task.game.rho, kl_divergence(ml, pi)))
        return out

    class KLToNash(TrainerCallback):
        def __init__(self):
            self.last = -1

        def total(self, state) -> int:
            tr = trainer_ref[0]
            return int(getattr(tr, "steps_before_round", 0)) + int(state.global_step)

        def on_train_begin(self, args, state, control, model=None, **kw):
            step = self.total(state)
            if step == 0 and self.last < 0:
                self.last = 0
                sink(0, measure(model))

        def on_step_end(self, args, state, control, model=None, **kw):
            step = self.total(state)
            if step % every == 0 and step != self.last:
                self.last = step
                sink(step, measure(model))

        def on_train_end(self, args, state, control, model=None, **kw):
            step = self.total(state)
            if step != self.last:
                self.last = step
                sink(step, measure(model))

    return KLToNash()


__all__ = ["SyntheticTask", "build_synthetic_task", "cached_task", "synthetic_config", "eval_callback",
           "build_tokenizer", "tiny_causal_lm", "answer_words", "default_steps", "DEFAULT_GAME", "DEFAULT_BETA"]
