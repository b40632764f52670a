"""The offline default statement policy: intents with slots, realized by fixed phrasings, chosen
by trainable softmax logits per (role, context bucket) (docs/lspo.md).

* Parameters: one logit per intent of the role, per context bucket
  ``role | round<=3 | knowledge class`` (the knowledge classes of :mod:`alignment.lspo.infostates`).
* Candidates: "strategically different" statements are intents sampled *without replacement*
  (Gumbel-top-k over the available intents); slots (the target player) are filled from the
  game state by :class:`alignment.lspo.board.Board` heuristics; phrasings uniformly.
* Log-probability of a statement: ``log softmax(logits)[intent]`` (the phrasing and slot
  draws do not depend on the parameters, so they cancel in every DPO log-ratio).
* DPO (:meth:`TemplatePolicy.dpo_update`): the DPO loss of Rafailov et al. (2023) on these
  logits with the loop's beta, epochs and batch size, optimized by Adam with learning rate
  0.1 -- the documented deviation from the LM's 1e-6, at which table logits would not move.
* Secret and vote actions come from the rule-based actor (iteration 1).
"""

from __future__ import annotations

import json
import random
from pathlib import Path

import numpy as np

from alignment.lspo.agents import RuleBasedAgent
from alignment.lspo.board import Board, available_intents, phrase
from alignment.lspo.policies.base import Candidate
from alignment.lspo.statements import INTENTS
from games.werewolf.observations import InfoState
from games.werewolf.rules import DOCTOR, SEER, WEREWOLF
from gtlearn.core.io import atomic_write_json


def knowledge_class(state: InfoState) -> int:
    """Seer: a found wolf alive; Wolf: teammate alive; Doctor: last night had a death."""
    if state.role == SEER:
        return int(any(w and state.alive[j] for j, w in state.checks.items()))
    if state.role == WEREWOLF:
        return int(any(state.alive[j] for j in state.teammates))
    if state.role == DOCTOR:
        resolved = [r for r in state.rounds if r.night_resolved]
        return int(bool(resolved) and resolved[-1].killed is not None)
    return 0


def bucket(state: InfoState) -> str:
    return f"{state.role}|r{min(state.round, 3)}|k{knowledge_class(state)}"


class TemplatePolicy:
    """Trainable distribution over statement intents (see the module docstring)."""

    kind = "template"

    def __init__(self, seed: int = 0) -> None:
        self.logits: dict[str, np.ndarray] = {}
        self.actor = RuleBasedAgent()
        self.seed = seed

    def _logits(self, key: str) -> np.ndarray:
        if key not in self.logits:
            role = key.split("|", 1)[0]
            self.logits[key] = np.zeros(len(INTENTS[role]))
        return self.logits[key]

    def intent_probs(self, state_or_key, available: list[str] | None = None) -> dict[str, float]:
        key = state_or_key if isinstance(state_or_key, str) else bucket(state_or_key)
        role = key.split("|", 1)[0]
        logits = self._logits(key)
        names = INTENTS[role]
        idx = [names.index(a) for a in (available or names)]
        x = logits[idx] - logits[idx].max()
        p = np.exp(x) / np.exp(x).sum()
        return {names[i]: float(pi) for i, pi in zip(idx, p)}

    def propose_statements(self, state: InfoState, n: int, rng: random.Random) -> list[Candidate]:
        """``n`` candidates, intents drawn without replacement (Gumbel-top-k); when the role
        has fewer available intents than ``n``, the rest are redrawn with replacement."""
        board = Board(state)
        options = available_intents(state, board, rng)
        key = bucket(state)
        names = INTENTS[state.role]
        logits = self._logits(key)
        scores = [logits[names.index(i)] - np.log(-np.log(rng.random() or 1e-300)) for i, _ in options]
        order = sorted(range(len(options)), key=lambda i: -scores[i])
        picks = order[:n]
        while len(picks) < n:
            probs = self.intent_probs(key, [o[0] for o in options])
            u, acc = rng.random(), 0.0
            for i, (intent, _) in enumerate(options):
                acc += probs[intent]
                if u <= acc:
                    break
            picks.append(i)
        out = []
        for i in picks:
            intent, target = options[i]
            statement = phrase(intent, target, state, rng)
            reasoning = f"intent: {intent}" + (f" on player_{target}" if target is not None else "")
            out.append(
                Candidate(
                    statement=statement,
                    completion=json.dumps({"reasoning": reasoning, "statement": statement}),
                    meta={"bucket": key, "intent": intent},
                )
            )
        return out

    def act(self, state: InfoState, rng: random.Random):
        return self.actor.act(state, rng)

    # -- DPO ---------------------------------------------------------------------------------
    def dpo_update(self, pairs: list[dict], beta: float = 0.1, lr: float = 0.1, epochs: int = 2,
                   batch_size: int = 64, seed: int = 0) -> dict:
        """DPO on the intent logits; the reference is the policy before this call.

        For a pair (chosen c, rejected r) in bucket b the implicit reward margin is
        ``beta * ((l_c - l_c^ref) - (l_r - l_r^ref))`` with ``l = log softmax(logits_b)``; the
        normalizer cancels, so its gradient on ``logits_b`` is ``-beta * sigmoid(-margin) *
        (e_c - e_r)``. Adam (beta1=0.9, beta2=0.999, as TRL's default AdamW without decay).
        """
        usable = [p for p in pairs if p["chosen_meta"]["intent"] != p["rejected_meta"]["intent"]]
        ref = {k: v.copy() for k, v in self.logits.items()}
        m = {k: np.zeros_like(v) for k, v in self.logits.items()}
        v2 = {k: np.zeros_like(v) for k, v in self.logits.items()}
        rng = np.random.default_rng(seed)
        losses = []
        step = 0
        for _ in range(epochs):
            order = rng.permutation(len(usable))
            for s in range(0, len(order), batch_size):
                batch = [usable[i] for i in order[s : s + batch_size]]
                grads: dict[str, np.ndarray] = {}
                loss = 0.0
                for p in batch:
                    key = p["chosen_meta"]["bucket"]
                    names = INTENTS[key.split("|", 1)[0]]
                    c = names.index(p["chosen_meta"]["intent"])
                    r = names.index(p["rejected_meta"]["intent"])
                    cur = self._logits(key)
                    base = ref.get(key, np.zeros_like(cur))
                    margin = beta * ((cur[c] - base[c]) - (cur[r] - base[r]))
                    loss += float(np.logaddexp(0.0, -margin))
                    g = grads.setdefault(key, np.zeros_like(cur))
                    coef = -beta / (1.0 + np.exp(margin)) / len(batch)
                    g[c] += coef
                    g[r] -= coef
                losses.append(loss / max(len(batch), 1))
                step += 1
                for key, g in grads.items():
                    m.setdefault(key, np.zeros_like(g))
                    v2.setdefault(key, np.zeros_like(g))
                    m[key] = 0.9 * m[key] + 0.1 * g
                    v2[key] = 0.999 * v2[key] + 0.001 * g * g
                    mhat = m[key] / (1 - 0.9**step)
                    vhat = v2[key] / (1 - 0.999**step)
                    self.logits[key] = self.logits[key] - lr * mhat / (np.sqrt(vhat) + 1e-8)
        return {"pairs": len(usable), "steps": step, "loss_first": losses[0] if losses else None,
                "loss_last": losses[-1] if losses else None}

    def log_ratio(self, pair: dict) -> float:
        """``l_c - l_r`` of a pair under the current logits (what DPO raises)."""
        key = pair["chosen_meta"]["bucket"]
        names = INTENTS[key.split("|", 1)[0]]
        cur = self._logits(key)
        return float(cur[names.index(pair["chosen_meta"]["intent"])] - cur[names.index(pair["rejected_meta"]["intent"])])

    # -- persistence -------------------------------------------------------------------------
    def save(self, directory: str | Path) -> None:
        atomic_write_json(Path(directory) / "template_logits.json",
                          {k: v.tolist() for k, v in sorted(self.logits.items())})

    @classmethod
    def load(cls, directory: str | Path) -> TemplatePolicy:
        pol = cls()
        data = json.loads((Path(directory) / "template_logits.json").read_text())
        pol.logits = {k: np.asarray(v, dtype=float) for k, v in data.items()}
        return pol

    def copy(self) -> TemplatePolicy:
        pol = TemplatePolicy(self.seed)
        pol.logits = {k: v.copy() for k, v in self.logits.items()}
        return pol
