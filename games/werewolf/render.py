"""Deterministic text rendering of a Werewolf observation and of actions (docs/lspo.md).

The log has a header (own ID, role, round, phase, remaining players), private lines (own
night actions and results; for a wolf, its teammate and the teammate's proposal), public lines
per round (night outcome, statements in speaking order, vote tally) and the legal actions as
strings (``kill player_3``, ``save player_0``, ``vote for player_2``, ``do not vote``).
"""

from __future__ import annotations

import re
from typing import Any

from games.werewolf.rules import PHASE_DONE, player_name

PHASE_NAMES = {
    "night_propose": "night",
    "night": "night",
    "discussion": "day discussion",
    "vote": "day voting",
    "done": "game over",
}

VERBS = {"propose": "propose to kill", "kill": "kill", "see": "see", "save": "save"}


def action_string(decision: str, target: Any) -> str:
    if decision == "vote":
        return "do not vote" if target is None else f"vote for {player_name(target)}"
    if decision == "speak":
        return "speak"
    return f"{VERBS[decision]} {player_name(target)}"


_TARGET = re.compile(r"player_(\d+)")


def parse_action(text: str, decision: str, legal: list[Any]) -> Any:
    """Map an action string (``"vote for player_2"``, ``"do not vote"``, ``"kill player_3"``)
    back to a legal action; raises ``ValueError`` if it names none."""
    t = text.strip().lower()
    abstain = "do not vote" in t or "abstain" in t or t in ("none", "no vote")
    if decision == "vote" and abstain and None in legal:
        return None
    m = _TARGET.search(t)
    if m is None:
        raise ValueError(f"no target in {text!r}")
    target = int(m.group(1))
    if target not in legal:
        raise ValueError(f"player_{target} is not a legal target")
    return target


def statement_text(statement: Any) -> str:
    if isinstance(statement, str):
        return statement
    return f"used strategy {int(statement)}"


def render(state) -> str:
    me = player_name(state.player)
    living = ", ".join(player_name(i) for i in state.living())
    lines = [
        f"You are {me}. Your role is {state.role}.",
        f"Round {state.round}, {PHASE_NAMES[state.phase]}. Remaining players: {living}.",
    ]
    if state.teammates:
        lines.append(f"Your werewolf teammate: {', '.join(player_name(j) for j in state.teammates)}.")
    for r in state.rounds:
        lines.append(f"-- Round {r.round} --")
        if r.proposal is not None:
            lines.append(f"[private] Werewolf proposal: kill {player_name(r.proposal)}.")
        if r.own_action is not None:
            kind, target = r.own_action
            lines.append(f"[private] You chose to {VERBS[kind]} {player_name(target)}.")
        if r.check_result is not None:
            t, wolf = r.check_result
            lines.append(f"[private] {player_name(t)} is {'a werewolf' if wolf else 'not a werewolf'}.")
        if r.wolf_target is not None and (r.own_action is None or r.own_action[0] != "kill"):
            lines.append(f"[private] The werewolves targeted {player_name(r.wolf_target)}.")
        if r.night_resolved:
            if r.killed is None:
                lines.append("Night: nobody was killed.")
            else:
                lines.append(f"Night: {player_name(r.killed)} was killed.")
        for speaker, statement in r.statements:
            lines.append(f"{player_name(speaker)} said: {statement_text(statement)}")
        if r.votes is not None:
            tally = "; ".join(
                f"{player_name(v)} -> {'abstain' if t is None else player_name(t)}" for v, t in sorted(r.votes.items())
            )
            lines.append(f"Votes: {tally}.")
            if r.eliminated is None:
                lines.append("Nobody was eliminated.")
            else:
                lines.append(f"{player_name(r.eliminated)} was eliminated.")
    if state.phase == PHASE_DONE:
        lines.append(f"Game over: {state.winner}.")
    elif state.decision:
        if state.decision == "speak":
            lines.append("Your turn to speak: make one public statement.")
        else:
            acts = ", ".join(action_string(state.decision, a) for a in state.legal)
            lines.append(f"Legal actions: {acts}.")
    return "\n".join(lines)


def spectator_log(engine) -> str:
    """The whole game for a spectator: roles, every night's secret actions, the public record."""
    lines = ["Roles: " + ", ".join(f"{player_name(i)}={r}" for i, r in enumerate(engine.roles))]
    for idx in range(engine.round):
        night, day = engine.nights[idx], engine.days[idx]
        lines.append(f"-- Round {idx + 1} --")
        if night.proposal is not None:
            lines.append(f"[night] {player_name(night.proposer)} proposes to kill {player_name(night.proposal)}.")
        if night.target is not None:
            lines.append(f"[night] {player_name(night.decider)} kills {player_name(night.target)}.")
        for s, (t, w) in night.checks.items():
            lines.append(f"[night] {player_name(s)} sees {player_name(t)}: {'werewolf' if w else 'not a werewolf'}.")
        for d, t in night.saves.items():
            lines.append(f"[night] {player_name(d)} saves {player_name(t)}.")
        if night.target is not None:
            lines.append("Night: nobody was killed." if night.killed is None else f"Night: {player_name(night.killed)} was killed.")
        for s, st in day.statements:
            lines.append(f"{player_name(s)} said: {statement_text(st)}")
        if day.votes:
            tally = "; ".join(
                f"{player_name(v)} -> {'abstain' if t is None else player_name(t)}" for v, t in sorted(day.votes.items())
            )
            lines.append(f"Votes: {tally}.")
            lines.append("Nobody was eliminated." if day.eliminated is None else f"{player_name(day.eliminated)} was eliminated.")
    lines.append(f"Result: {engine.winner}; returns: " + ", ".join(f"{r:+.0f}" for r in engine.returns))
    return "\n".join(lines)
