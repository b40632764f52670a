"""Werewolf agents: random-legal, rule-based, the language agent over a pluggable policy, and
the play-time LSPO agent.

Every agent sees only :class:`games.werewolf.observations.InfoState` (and its rendered text),
so no agent can read hidden roles. The interface is two methods:

``speak(state, rng) -> str``   one public statement (discussion turn)
``act(state, rng) -> action``  a secret action (propose/kill/see/save) or a vote (``None`` abstains)

The :class:`LanguageAgent` asks its policy for a JSON completion -- ``{"reasoning", "statement"}``
for a discussion turn, ``{"reasoning", "action"}`` otherwise -- retries malformed output twice
and then substitutes a legal fallback -- the rule-based agent's action, or a statement of a
uniformly random intent -- counting every fallback (docs/lspo.md).
"""

from __future__ import annotations

import json
import random
import re
from typing import Any

from alignment.lspo.board import Board, available_intents, phrase, realize
from alignment.lspo.policies.base import Candidate
from games.werewolf.observations import InfoState
from games.werewolf.render import parse_action, render
from games.werewolf.rules import DOCTOR, SEER, WEREWOLF
from gtlearn.core.errors import GtlearnError


class RandomAgent:
    """Uniformly random legal actions; statements are uniformly random intents of its role,
    realized by the same phrasings as every other agent."""

    name = "random"

    def act(self, state: InfoState, rng: random.Random) -> Any:
        return state.legal[rng.randrange(len(state.legal))]

    def speak(self, state: InfoState, rng: random.Random) -> str:
        options = available_intents(state, Board(state), rng)
        intent, target = options[rng.randrange(len(options))]
        return phrase(intent, target, state, rng)


class RuleBasedAgent:
    """A reasonable heuristic village and wolf play.

    Village: the Seer checks the most suspicious unchecked player and reveals a found wolf;
    the Doctor protects a claimed Seer, else itself; everyone votes for the most suspicious
    player (own checks, believed Seer claims, accusations). Wolves kill a claimed Seer or Doctor
    first, the decider follows the proposal, and wolves vote with the village's top non-wolf
    suspect while accusing one in discussion.
    """

    name = "rule"

    def act(self, state: InfoState, rng: random.Random) -> Any:
        board = Board(state)
        legal = [a for a in state.legal if a is not None]
        d = state.decision
        if d in ("propose", "kill"):
            if d == "kill":
                proposal = state.rounds[-1].proposal
                if proposal is not None and proposal in legal:
                    return proposal
            for role in (SEER, DOCTOR):
                claimed = board.claimed(role, legal)
                if claimed:
                    return claimed[rng.randrange(len(claimed))]
            return board.top(legal, rng, sign=-1.0)  # the most trusted villager hurts the village most
        if d == "see":
            unchecked = [j for j in legal if j not in state.checks]
            return board.top(unchecked or legal, rng)
        if d == "save":
            seers = [j for j in board.claimed(SEER, legal) if j != state.player]
            return seers[0] if seers else state.player
        if d == "vote":
            if state.role != WEREWOLF:
                # A focal tie-break (most accused today, then lowest ID) lets uninformed village
                # voters concentrate their votes instead of scattering them.
                best = max(board.score[j] for j in legal)
                tied = [j for j in legal if board.score[j] == best]
                return min(tied, key=lambda j: (-board.accused_today[j], j))
            return board.top(legal, rng)
        raise ValueError(f"no rule for decision {d!r}")

    def speak(self, state: InfoState, rng: random.Random) -> str:
        board = Board(state)
        others = board.others()
        if state.role == SEER:
            wolves = [j for j, w in state.checks.items() if w and state.alive[j]]
            if wolves:
                return realize("reveal_wolf", wolves[0], rng)
            clean = [j for j, w in state.checks.items() if not w and state.alive[j] and j != state.player]
            if clean and state.round > 1:
                return realize("reveal_clean", clean[-1], rng)
        if state.role == WEREWOLF:
            non_wolves = [j for j in others if j not in state.teammates]
            return realize("accuse", board.top(non_wolves, rng), rng)
        if others and max(board.score[j] for j in others) > 0:
            return realize("accuse", board.top(others, rng), rng)
        return realize("claim_villager" if state.round == 1 else "vague", None, rng)


# -- language agent ---------------------------------------------------------------------------

_JSON = re.compile(r"\{.*?\}", re.DOTALL)


def parse_json_output(text: str, field: str) -> str | None:
    """The value of ``field`` in the first JSON object of ``text`` that has it, or ``None``.

    Tolerates prose around the object and single-quoted keys; never raises.
    """
    candidates = [m.group(0) for m in _JSON.finditer(text)]
    start = text.find("{")
    if start >= 0:
        candidates.append(text[start:] + "}")  # a completion cut before its closing brace
    for raw in candidates:
        for attempt in (raw, raw.replace("'", '"')):
            try:
                obj = json.loads(attempt)
            except (json.JSONDecodeError, ValueError):
                continue
            if isinstance(obj, dict) and isinstance(obj.get(field), str) and obj[field].strip():
                return obj[field].strip()
    return None


def speak_prompt(obs_text: str, previous: list[str]) -> str:
    lines = [
        "You are playing the Werewolf game.",
        obs_text,
        'Answer with JSON: {"reasoning": "<private thoughts>", "statement": "<what you say publicly>"}.',
    ]
    if previous:
        lines.append("Statements you already considered:")
        lines += [f"- {s}" for s in previous]
        lines.append("Give a new statement that is strategically different from all of them.")
    return "\n".join(lines)


def action_prompt(obs_text: str) -> str:
    return "\n".join(
        [
            "You are playing the Werewolf game.",
            obs_text,
            'Answer with JSON: {"reasoning": "<private thoughts>", "action": "<one legal action>"}.',
        ]
    )


class LanguageAgent:
    """Prompt -> JSON -> action, over a policy with ``generate(prompt, rng) -> str`` or (the
    template policy) ``propose_statements``. Malformed output is retried twice, then replaced
    by the rule-based agent's legal choice; ``fallbacks`` counts those replacements."""

    name = "language"

    def __init__(self, policy, retries: int = 2, actions_from: str = "policy", action_policy=None) -> None:
        self.policy = policy
        self.retries = retries
        self.actions_from = actions_from
        self.action_policy = action_policy
        self.fallback = RuleBasedAgent()
        self.fallbacks = {"speak": 0, "act": 0}
        self.calls = {"speak": 0, "act": 0}

    def candidates(self, state: InfoState, n: int, rng: random.Random) -> list:
        """``n`` candidate statements, each requested given the earlier ones (docs/lspo.md)."""
        if hasattr(self.policy, "propose_statements"):
            return self.policy.propose_statements(state, n, rng)
        obs_text = render(state)
        out: list[Candidate] = []
        for _ in range(n):
            prompt = speak_prompt(obs_text, [c.statement for c in out])
            self.calls["speak"] += 1
            statement = raw = None
            for _try in range(self.retries + 1):
                raw = self.policy.generate(prompt, rng)
                statement = parse_json_output(raw, "statement")
                if statement is not None:
                    break
            if statement is None:
                self.fallbacks["speak"] += 1
                # A random intent, so that fallback candidates still differ from each other.
                statement = RandomAgent().speak(state, rng)
                raw = json.dumps({"reasoning": "fallback", "statement": statement})
            out.append(Candidate(statement=statement, completion=raw, prompt=speak_prompt(obs_text, [])))
        return out

    def speak(self, state: InfoState, rng: random.Random) -> str:
        return self.candidates(state, 1, rng)[0].statement

    def act(self, state: InfoState, rng: random.Random) -> Any:
        if self.action_policy is not None:
            return self.action_policy.act(state, rng)
        if not hasattr(self.policy, "generate"):
            return self.policy.act(state, rng)
        prompt = action_prompt(render(state))
        self.calls["act"] += 1
        for _try in range(self.retries + 1):
            raw = self.policy.generate(prompt, rng)
            text = parse_json_output(raw, "action")
            if text is None:
                continue
            try:
                return parse_action(text, state.decision, state.legal)
            except ValueError:
                continue
        self.fallbacks["act"] += 1
        return self.fallback.act(state, rng)


class LSPOAgent:
    """The play-time LSPO agent (docs/lspo.md): statements from the (DPO-tuned) statement
    policy, one generation per turn; secret actions and votes from the final CFR average policy
    (``actions_from="cfr"``, default; ``actor`` is a :class:`alignment.lspo.abstraction.CFRActor`)
    or from the policy's own actor (``"policy"``). The ``latent_fewshot`` variant (the paper's
    "w/o fine-tuning" ablation) is not implemented."""

    name = "lspo"

    def __init__(self, policy, actor=None, actions_from: str = "cfr") -> None:
        if actions_from not in ("cfr", "policy"):
            raise GtlearnError(f"unknown agent.actions_from {actions_from!r}; use cfr or policy")
        if actions_from == "cfr" and actor is None:
            raise GtlearnError("actions_from=cfr needs a CFR policy (run at least one LSPO iteration)")
        self.language = LanguageAgent(policy, action_policy=actor if actions_from == "cfr" else None)

    def speak(self, state, rng: random.Random) -> str:
        return self.language.speak(state, rng)

    def act(self, state, rng: random.Random):
        return self.language.act(state, rng)

    @property
    def fallbacks(self) -> dict:
        return self.language.fallbacks
