"""The rule-based reading of a Werewolf board and the realization of statement intents.

:class:`Board` reads the public record from one player's seat (claims, accusations, a
suspicion score per player); :func:`available_intents` lists the statement intents a role may
use now with their slots filled from the board, and :func:`phrase` / :func:`realize` turn an
intent into text with the fixed phrasings of :mod:`alignment.lspo.statements`. The rule-based
agents and the template statement policy share these pieces.
"""

from __future__ import annotations

import random

from alignment.lspo.statements import INTENTS, PHRASINGS, parse_claims
from games.werewolf.observations import InfoState
from games.werewolf.rules import WEREWOLF, player_name


class Board:
    """The rule-based reading of the public record from one player's seat: claims, accusations,
    and a suspicion score per player (positive = looks like a wolf to the village)."""

    def __init__(self, state: InfoState) -> None:
        self.state = state
        n = state.num_players
        self.claimed_role: dict[int, str] = {}
        self.seer_says: dict[int, dict[int, bool]] = {}  # claimer -> {target: is wolf}
        self.score = [0.0] * n
        self.accused_today = [0] * n
        today = state.rounds[-1].round
        for r in state.rounds:
            w = 1.0 if r.round == today else 0.5
            for speaker, statement in r.statements:
                if not isinstance(statement, str):
                    continue
                c = parse_claims(statement)
                if c["role"] is not None:
                    self.claimed_role[speaker] = c["role"]
                if c["checks"]:
                    self.seer_says.setdefault(speaker, {}).update(c["checks"])
                for j in c["accuse"]:
                    if j < n:
                        self.score[j] += w
                        if r.round == today:
                            self.accused_today[j] += 1
                for j in c["defend"]:
                    if j < n:
                        self.score[j] -= 0.5 * w
        # Night victims are always village: their claims are credible and they were no wolves.
        self.night_victims = {r.killed for r in state.rounds if r.killed is not None}
        seers = list(self.seer_says)
        for claimer, checks in self.seer_says.items():
            # A lone Seer claim is believed; with two claimants each is half-believed, unless
            # the wolves have since killed the claimant at night.
            weight = 3.0 if claimer in self.night_victims else 3.0 / len(seers)
            for j, wolf in checks.items():
                if j < n:
                    self.score[j] += weight if wolf else -weight
        for j, wolf in state.checks.items():
            self.score[j] += 100.0 if wolf else -100.0
        if state.role == WEREWOLF:
            for j in state.teammates:
                self.score[j] = -1000.0  # never a wolf's pick against its own side

    def others(self) -> list[int]:
        return [j for j in self.state.living() if j != self.state.player]

    def top(self, candidates: list[int], rng: random.Random, sign: float = 1.0) -> int:
        best = max(sign * self.score[j] for j in candidates)
        tied = [j for j in candidates if sign * self.score[j] == best]
        return tied[rng.randrange(len(tied))]

    def claimed(self, role: str, among: list[int]) -> list[int]:
        return [j for j in among if self.claimed_role.get(j) == role]


def realize(intent: str, target: int | None, rng: random.Random) -> str:
    key = intent
    phr = PHRASINGS[key]
    text = phr[rng.randrange(len(phr))]
    return text.replace("{j}", player_name(target)) if target is not None else text


def available_intents(state: InfoState, board: Board, rng: random.Random) -> list[tuple[str, int | None]]:
    """(intent, filled slot) for every intent of the role that the state allows."""
    others = board.others()
    living = set(state.living())
    out: list[tuple[str, int | None]] = []
    non_wolves = [j for j in others if j not in state.teammates]
    for intent in INTENTS[state.role]:
        target: int | None = None
        if intent in ("claim_villager", "vague", "claim_doctor"):
            pass
        elif intent == "accuse":
            target = board.top(non_wolves or others, rng)
        elif intent == "defend":
            clean = [j for j, w in state.checks.items() if not w and j in living and j != state.player]
            target = clean[rng.randrange(len(clean))] if clean else others[rng.randrange(len(others))]
        elif intent == "question":
            target = others[rng.randrange(len(others))]
        elif intent == "follow_vote":
            accused = [j for j in others if board.accused_today[j] > 0 and j not in state.teammates]
            if not accused:
                continue
            target = max(accused, key=lambda j: (board.accused_today[j], -j))
        elif intent == "reveal_check":
            if not state.checks:
                continue
            alive_wolves = [j for j, w in state.checks.items() if w and j in living]
            target = alive_wolves[0] if alive_wolves else list(state.checks)[-1]
        elif intent in ("hint", "coordinate_vote"):
            target = board.top(others, rng)
        elif intent == "vouch_saved":
            saved = [
                r.own_action[1]
                for r in state.rounds
                if r.own_action and r.own_action[0] == "save" and r.night_resolved and r.killed is None
                and r.own_action[1] in living
            ]
            if not saved:
                continue
            target = saved[-1]
        elif intent in ("fake_seer", "redirect"):
            if not non_wolves:
                continue
            target = non_wolves[rng.randrange(len(non_wolves))]
        elif intent == "defend_teammate":
            mates = [j for j in state.teammates if j in living]
            if not mates:
                continue
            target = mates[0]
        out.append((intent, target))
    return out


def phrase(intent: str, target: int | None, state: InfoState, rng: random.Random) -> str:
    if intent == "reveal_check":
        key = "reveal_wolf" if state.checks[target] else "reveal_clean"
    elif intent == "fake_seer":
        key = "reveal_wolf"  # an invented check that paints a villager as a wolf
    elif intent == "defend_teammate":
        key = "defend"
    else:
        key = intent
    return realize(key, target, rng)
