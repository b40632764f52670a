"""Observations of the Werewolf game: what one player may know, as text and as a vector.

:func:`info_state` is the single gate through which a player's knowledge leaves the engine:
its own ID and role, the wolves' mutual knowledge, its own night actions and results, the
teammate's proposal, and the public record (night outcomes, statements, vote tallies).
Other players' roles never pass through it, so no observation can reveal them.

Vector layouts (docs/lspo.md):

``paper211`` -- the paper's table, 211 dims: ID 7 | role 4 | round 1 (``round/3``) | phase 3
(night, discussion, voting) | alive 7 | secret action x 3 rounds (7 each) | announcement x 3
rounds (7 each) | voting result x 3 rounds (7x7 voter->target; an abstention is a zero row).

``extended`` (default) -- ``paper211`` followed by the fields the paper's table lacks although
its text relies on them (documented choice): the Seer's check results x 3 rounds (7 each, +1
wolf, -1 not a wolf, 0 unchecked), a 7-dim teammate mask, and the latent-strategy history
(7 x ``k_max`` one-hot per round, x 3 rounds) used by the abstracted game.

Games longer than 3 rounds keep a sliding window over the last 3 rounds (documented choice).
Round is encoded as ``round / 3`` (documented choice).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from games.werewolf.render import render
from games.werewolf.rules import (
    PHASE_DISCUSSION,
    PHASE_DONE,
    PHASE_NIGHT,
    PHASE_PROPOSE,
    PHASE_VOTE,
    ROLES,
    WEREWOLF,
)
from gtlearn.core.errors import GtlearnError

WINDOW = 3


@dataclass
class RoundView:
    """The public record of one round plus the player's own private lines for it."""

    round: int
    killed: int | None = None  # known once the night resolved
    night_resolved: bool = False
    statements: list[tuple[int, Any]] = field(default_factory=list)
    votes: dict[int, int | None] | None = None  # None until the vote resolved
    eliminated: int | None = None
    own_action: tuple[str, int] | None = None  # ("kill"/"propose"/"see"/"save", target)
    check_result: tuple[int, bool] | None = None  # Seer: (target, is wolf)
    proposal: int | None = None  # wolves: the proposer's suggested target
    wolf_target: int | None = None  # wolves: the final kill target


@dataclass
class InfoState:
    player: int
    role: str
    num_players: int
    round: int
    phase: str
    alive: list[bool]
    teammates: list[int]
    rounds: list[RoundView]
    decision: str | None
    legal: list[Any]
    winner: str | None = None

    @property
    def checks(self) -> dict[int, bool]:
        """Seer: every checked player -> is a wolf (the latest check wins, they agree anyway)."""
        out: dict[int, bool] = {}
        for r in self.rounds:
            if r.check_result is not None:
                out[r.check_result[0]] = r.check_result[1]
        return out

    def living(self) -> list[int]:
        return [i for i, a in enumerate(self.alive) if a]

    @property
    def today(self) -> RoundView:
        return self.rounds[-1]


def info_state(engine, player: int) -> InfoState:
    n = engine.n
    role = engine.roles[player]
    wolf = role == WEREWOLF
    rounds = []
    for idx in range(engine.round):
        night = engine.nights[idx]
        day = engine.days[idx]
        r = idx + 1
        current = r == engine.round
        resolved = not (current and engine.phase in (PHASE_PROPOSE, PHASE_NIGHT))
        view = RoundView(round=r, night_resolved=resolved)
        if resolved:
            view.killed = night.killed
        view.statements = list(day.statements)
        vote_done = not current or (engine.phase == PHASE_DONE and bool(day.votes))
        if vote_done and day.votes:
            view.votes = dict(day.votes)
            view.eliminated = day.eliminated
        if wolf:
            if night.proposal is not None:
                view.proposal = night.proposal
            if resolved:
                view.wolf_target = night.target
            if night.proposer == player and night.proposal is not None:
                view.own_action = ("propose", night.proposal)
            if night.decider == player and resolved and night.target is not None:
                view.own_action = ("kill", night.target)
        if resolved and player in night.checks:
            t, is_wolf = night.checks[player]
            view.own_action = ("see", t)
            view.check_result = (t, is_wolf)
        if resolved and player in night.saves:
            view.own_action = ("save", night.saves[player])
        rounds.append(view)
    actors = engine.actors()
    decision = engine.decision(player) if player in actors else None
    return InfoState(
        player=player,
        role=role,
        num_players=n,
        round=engine.round,
        phase=engine.phase,
        alive=list(engine.alive),
        teammates=engine.teammates(player),
        rounds=rounds,
        decision=decision,
        legal=engine.legal_actions(player) if decision else [],
        winner=engine.winner,
    )


def vector(state: InfoState, layout: str = "extended", k_max: int = 5, latents: dict | None = None) -> np.ndarray:
    """The vector observation (see the module docstring for the layouts).

    ``latents`` maps ``(round, speaker) -> latent index`` for the latent-history field; integer
    statements (the abstracted game) are used as their own latent index.
    """
    if layout not in ("paper211", "extended"):
        raise GtlearnError(f"unknown observation layout {layout!r}; use paper211 or extended")
    n = state.num_players
    parts = []
    one = np.zeros(n)
    one[state.player] = 1
    parts.append(one)
    role = np.zeros(len(ROLES))
    role[ROLES.index(state.role)] = 1
    parts.append(role)
    parts.append(np.array([state.round / 3.0]))
    phase = np.zeros(3)
    if state.phase in (PHASE_PROPOSE, PHASE_NIGHT):
        phase[0] = 1
    elif state.phase == PHASE_DISCUSSION:
        phase[1] = 1
    elif state.phase == PHASE_VOTE:
        phase[2] = 1
    parts.append(phase)
    parts.append(np.array(state.alive, dtype=float))
    window = state.rounds[-WINDOW:]
    secret = np.zeros((WINDOW, n))
    announce = np.zeros((WINDOW, n))
    votes = np.zeros((WINDOW, n, n))
    checks = np.zeros((WINDOW, n))
    latent = np.zeros((WINDOW, n, k_max))
    for slot, r in enumerate(window):
        if r.own_action is not None:
            secret[slot, r.own_action[1]] = 1
        if r.killed is not None:
            announce[slot, r.killed] = 1
        if r.votes:
            for voter, target in r.votes.items():
                if target is not None:
                    votes[slot, voter, target] = 1
        if r.check_result is not None:
            checks[slot, r.check_result[0]] = 1.0 if r.check_result[1] else -1.0
        for speaker, statement in r.statements:
            z = statement if isinstance(statement, (int, np.integer)) else (latents or {}).get((r.round, speaker))
            if z is not None and 0 <= int(z) < k_max:
                latent[slot, speaker, int(z)] = 1
    parts += [secret.ravel(), announce.ravel(), votes.ravel()]
    if layout == "extended":
        mate = np.zeros(n)
        mate[state.teammates] = 1
        parts += [checks.ravel(), mate, latent.ravel()]
    return np.concatenate(parts).astype(np.float32)


def vector_size(num_players: int = 7, layout: str = "extended", k_max: int = 5) -> int:
    n = num_players
    base = n + len(ROLES) + 1 + 3 + n + WINDOW * n + WINDOW * n + WINDOW * n * n
    if layout == "paper211":
        return base
    return base + WINDOW * n + n + WINDOW * n * k_max


class Observation:
    """A player's observation; ``.text`` and ``.vector`` are built on first use."""

    def __init__(self, engine, player: int) -> None:
        self.player = player
        self.state = info_state(engine, player)
        self._text: str | None = None

    @property
    def text(self) -> str:
        if self._text is None:
            self._text = render(self.state)
        return self._text

    def vector(self, layout: str = "extended", k_max: int = 5, latents: dict | None = None) -> np.ndarray:
        return vector(self.state, layout=layout, k_max=k_max, latents=latents)
