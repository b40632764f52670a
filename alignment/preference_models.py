"""Preference models behind one interface: any callable P(y ≻ y' | x) on text.

A :class:`PreferenceOracle` answers ``prob(prompts, ys, ys2) -> [B]`` probabilities that the
first completion beats the second, and ``sample(...)`` Bernoulli labels (1 = first wins). It
counts queries. Implementations:

* :class:`PairwisePreference` — any Python callable ``f(prompt, y, y2) -> probability``;
* :class:`BradleyTerryPreference` — σ(r(x,y) − r(x,y')) from a sequence-classification reward
  model (scored at the last non-pad token, as TRL does); exposes ``reward`` so that trainers can
  form best/worst pairs;
* :class:`LLMJudgePreference` — an LLM judge over an OpenAI-compatible ``/chat/completions``
  endpoint (stdlib ``urllib``, no client package); asks for "A" or "B" and removes positional
  bias by asking both orders, P_sym = ½[P(y,y') + 1 − P(y',y)];
* :class:`GamePreference` — the exact oracle of a tabular :class:`games.preference.PreferenceGame`,
  mapping prompts to contexts and completions to responses (for verification).

(TRL 1.16 removed its pairwise judges; these fill that gap. docs/trainers.md, "Preference models".)
"""

from __future__ import annotations

import math
import re
from typing import Any, Callable, Sequence

import numpy as np

from alignment.openai_client import OpenAIClient
from gtlearn.core.errors import GtlearnError


class PreferenceOracle:
    """Base class: subclasses implement :meth:`_prob`. ``queries`` counts pairwise comparisons."""

    #: True when the oracle has a scalar reward (best/worst pairing can use it)
    has_reward: bool = False

    def __init__(self) -> None:
        self.queries = 0

    def _prob(self, prompts: Sequence[str], ys: Sequence[str], ys2: Sequence[str]) -> np.ndarray:
        raise NotImplementedError

    def prob(self, prompts: Sequence[str], ys: Sequence[str], ys2: Sequence[str]) -> np.ndarray:
        """P(ys[i] ≻ ys2[i] | prompts[i]) for every i, as a float64 array."""
        if not (len(prompts) == len(ys) == len(ys2)):
            raise ValueError("prompts, ys and ys2 must have the same length")
        if len(ys) == 0:
            return np.zeros(0)
        self.queries += len(ys)
        p = np.asarray(self._prob(list(prompts), list(ys), list(ys2)), dtype=np.float64).reshape(-1)
        if p.shape != (len(ys),) or not np.all(np.isfinite(p)):
            raise GtlearnError("preference model returned a malformed probability vector")
        return np.clip(p, 0.0, 1.0)

    def sample(self, prompts, ys, ys2, rng: np.random.Generator) -> np.ndarray:
        """Bernoulli(P(y ≻ y')) labels, 1.0 where the first completion wins."""
        p = self.prob(prompts, ys, ys2)
        return (rng.random(p.shape) < p).astype(np.float64)

    def __call__(self, prompts, ys, ys2) -> np.ndarray:
        return self.prob(prompts, ys, ys2)


class PairwisePreference(PreferenceOracle):
    """Wrap any callable ``f(prompt, y, y2) -> P(y ≻ y2 | prompt)``. With ``symmetrize=True``
    the callable is asked both orders and P_sym = ½[f(y,y') + 1 − f(y',y)] is returned."""

    def __init__(self, fn: Callable[[str, str, str], float], *, symmetrize: bool = False) -> None:
        super().__init__()
        self.fn = fn
        self.symmetrize = symmetrize

    def _prob(self, prompts, ys, ys2):
        a = np.array([float(self.fn(x, y, z)) for x, y, z in zip(prompts, ys, ys2)])
        if not self.symmetrize:
            return a
        b = np.array([float(self.fn(x, z, y)) for x, y, z in zip(prompts, ys, ys2)])
        return 0.5 * (a + 1.0 - b)


class BradleyTerryPreference(PreferenceOracle):
    """P(y ≻ y') = σ((r(x,y) − r(x,y'))/temperature) from a scalar reward model.

    ``reward_model`` is a ``*ForSequenceClassification`` with ``num_labels=1`` (or any callable
    ``(prompts, completions) -> [B] rewards``); texts are ``prompt + completion`` scored at the
    last non-pad token. The tokenizer must have a pad token distinct from EOS.
    """

    has_reward = True

    def __init__(self, reward_model: Any, tokenizer: Any = None, *, temperature: float = 1.0,
                 batch_size: int = 32, max_length: int = 1024, separator: str = " ") -> None:
        super().__init__()
        self.reward_model = reward_model
        self.tokenizer = tokenizer
        self.temperature = float(temperature)
        self.batch_size = batch_size
        self.max_length = max_length
        self.separator = separator

    def reward(self, prompts: Sequence[str], completions: Sequence[str]) -> np.ndarray:
        if not hasattr(self.reward_model, "config"):
            return np.asarray(self.reward_model(list(prompts), list(completions)), dtype=np.float64)
        import torch

        from alignment.trainers.logprobs import position_ids_from_mask, right_pad

        model = self.reward_model
        device = next(model.parameters()).device
        out = []
        for i in range(0, len(prompts), self.batch_size):
            texts = [p + self.separator + c for p, c in zip(prompts[i:i + self.batch_size], completions[i:i + self.batch_size])]
            ids = [self.tokenizer(t, add_special_tokens=False)["input_ids"][-self.max_length:] for t in texts]
            inp, mask = right_pad(ids, self.tokenizer.pad_token_id, device)
            with torch.no_grad():
                logits = model(input_ids=inp, attention_mask=mask, position_ids=position_ids_from_mask(mask)).logits
            out.append(logits[:, 0].float().cpu().numpy())
        return np.concatenate(out) if out else np.zeros(0)

    def _prob(self, prompts, ys, ys2):
        r = self.reward(list(prompts) * 2, list(ys) + list(ys2))
        d = (r[: len(ys)] - r[len(ys):]) / self.temperature
        return 1.0 / (1.0 + np.exp(-d))


_DEFAULT_JUDGE_TEMPLATE = (
    "You compare two responses to the same instruction and pick the better one.\n\n"
    "Instruction:\n{prompt}\n\nResponse A:\n{a}\n\nResponse B:\n{b}\n\n"
    "Answer with a single letter: A or B."
)


class LLMJudgePreference(PreferenceOracle):
    """An LLM judge over an OpenAI-compatible HTTP endpoint (``POST {base_url}/chat/completions``).

    The reply is parsed as "A" (first wins, 1.0), "B" (0.0), a number in [0, 1] (taken as
    P(A ≻ B)), or anything else (a tie, 0.5). Both orders are asked and symmetrized, so
    P(y≻y') + P(y'≻y) = 1 and position bias cancels. The API key is read from ``api_key`` or
    the environment variable named by ``api_key_env``. Network failures retry ``retries`` times
    and then raise :class:`GtlearnError`.
    """

    def __init__(self, base_url: str, model: str = "judge", *, api_key: str | None = None,
                 api_key_env: str = "OPENAI_API_KEY", template: str = _DEFAULT_JUDGE_TEMPLATE,
                 temperature: float = 0.0, timeout: float = 60.0, retries: int = 2,
                 symmetrize: bool = True) -> None:
        super().__init__()
        self.client = OpenAIClient(base_url, api_key=api_key, api_key_env=api_key_env, timeout=timeout,
                                   retries=retries, name="LLM judge")
        self.model = model
        self.template = template
        self.temperature = temperature
        self.symmetrize = symmetrize

    @property
    def requests(self) -> int:
        """HTTP requests answered (two per comparison when symmetrized)."""
        return self.client.requests

    def _ask(self, prompt: str, a: str, b: str) -> float:
        body = {
            "model": self.model,
            "messages": [{"role": "user", "content": self.template.format(prompt=prompt, a=a, b=b)}],
            "temperature": self.temperature,
            "max_tokens": 4,
        }
        return self.client.post("/chat/completions", body,
                                parse=lambda reply: self.parse(reply["choices"][0]["message"]["content"]))

    @staticmethod
    def parse(text: str) -> float:
        t = (text or "").strip()
        m = re.match(r"^\s*([AB])\b", t, flags=re.IGNORECASE)
        if m:
            return 1.0 if m.group(1).upper() == "A" else 0.0
        try:
            v = float(t)
            if math.isfinite(v) and 0.0 <= v <= 1.0:
                return v
        except ValueError:
            pass
        return 0.5

    def _prob(self, prompts, ys, ys2):
        a = np.array([self._ask(x, y, z) for x, y, z in zip(prompts, ys, ys2)])
        if not self.symmetrize:
            return a
        b = np.array([self._ask(x, z, y) for x, y, z in zip(prompts, ys, ys2)])
        return 0.5 * (a + 1.0 - b)


class GamePreference(PreferenceOracle):
    """The exact oracle of a tabular preference game on text.

    ``contexts`` lists one prompt string per game context; ``responses`` one list of ``n``
    strings per context (defaults to ``game.responses``). A completion is matched to a response
    after stripping whitespace. A completion outside the response set loses to every response
    (P = 0) and ties with another outside completion (P = ½) — the game is thereby extended to
    all strings with P + Pᵀ = 1 intact.
    """

    def __init__(self, game, contexts: Sequence[str], responses: Sequence[Sequence[str]] | None = None) -> None:
        super().__init__()
        self.game = game
        responses = responses if responses is not None else game.responses
        if responses is None:
            raise GtlearnError("GamePreference needs response strings (game.responses or responses=)")
        if len(contexts) != game.num_contexts or len(responses) != game.num_contexts:
            raise GtlearnError("GamePreference needs one prompt and one response list per game context")
        self.context_index = {c: i for i, c in enumerate(contexts)}
        self.response_index = [{s.strip(): j for j, s in enumerate(r)} for r in responses]

    def index(self, prompt: str, completion: str) -> tuple[int, int]:
        """(context, response) indices; response is −1 outside the response set."""
        try:
            x = self.context_index[prompt]
        except KeyError:
            raise GtlearnError(f"prompt {prompt!r} is not a context of the preference game") from None
        return x, self.response_index[x].get(completion.strip(), -1)

    def _prob(self, prompts, ys, ys2):
        out = np.empty(len(ys))
        for k, (x, y, z) in enumerate(zip(prompts, ys, ys2)):
            c, i = self.index(x, y)
            _, j = self.index(x, z)
            if i >= 0 and j >= 0:
                out[k] = self.game.P[c, i, j]
            elif i < 0 and j < 0:
                out[k] = 0.5
            else:
                out[k] = 1.0 if j < 0 else 0.0
        return out


def symmetrize(prob_fn: Callable[[str, str, str], float]) -> Callable[[str, str, str], float]:
    """P_sym(y, y') = ½[P(y, y') + 1 − P(y', y)] for any pairwise callable (removes positional bias)."""
    return lambda x, y, z: 0.5 * (prob_fn(x, y, z) + 1.0 - prob_fn(x, z, y))


__all__ = [
    "PreferenceOracle",
    "PairwisePreference",
    "BradleyTerryPreference",
    "LLMJudgePreference",
    "GamePreference",
    "symmetrize",
]
