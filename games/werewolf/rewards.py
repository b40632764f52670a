"""Per-player rewards of the LSPO Werewolf game (arXiv 2502.04686, Appendix A; docs/lspo.md).

=====================  =====================================================================
side wins / loses       +300 / -300 to every member (alive or dead); nothing on a draw
survival                +5 to every living player at the end of each day (after the vote)
vote (Village only)     +20 for voting a wolf, -20 for voting a non-wolf, 0 for abstaining
vote outcome            -10 to the eliminated player; +5 to each living player of the other
                        side; -5 to each living teammate of the eliminated player
=====================  =====================================================================

Documented choices (the paper leaves them open):

* the vote-outcome terms apply to day eliminations only, not to night kills
  (``outcome_on_night_kills=False``);
* the eliminated player does not also receive the teammate term;
* "survival per round" is paid after each day's vote, including the vote that ends the game;
  a game ended by a night kill pays no survival for that round;
* abstaining earns 0.
"""

from __future__ import annotations

from dataclasses import dataclass


@dataclass
class RewardConfig:
    win: float = 300.0
    survival: float = 5.0
    vote_wolf: float = 20.0
    vote_non_wolf: float = -20.0
    eliminated: float = -10.0
    other_side: float = 5.0
    teammate: float = -5.0
    outcome_on_night_kills: bool = False


def end_of_day_rewards(engine, votes: dict, eliminated: int | None) -> None:
    cfg = engine.config.rewards
    roles = engine.roles
    for voter, target in votes.items():
        if roles[voter] != "werewolf" and target is not None:
            engine.returns[voter] += cfg.vote_wolf if roles[target] == "werewolf" else cfg.vote_non_wolf
    if eliminated is not None:
        _outcome(engine, eliminated)
    for i in range(engine.n):
        if engine.alive[i]:
            engine.returns[i] += cfg.survival


def _outcome(engine, eliminated: int) -> None:
    cfg = engine.config.rewards
    elim_wolf = engine.roles[eliminated] == "werewolf"
    engine.returns[eliminated] += cfg.eliminated
    for i in range(engine.n):
        if i == eliminated or not engine.alive[i]:
            continue
        same = (engine.roles[i] == "werewolf") == elim_wolf
        engine.returns[i] += cfg.teammate if same else cfg.other_side


def night_kill_rewards(engine, killed: int) -> None:
    if engine.config.rewards.outcome_on_night_kills:
        _outcome(engine, killed)


def terminal_rewards(engine) -> None:
    cfg = engine.config.rewards
    for i in range(engine.n):
        wolf = engine.roles[i] == "werewolf"
        won = (engine.winner == "werewolves") == wolf
        engine.returns[i] += cfg.win if won else -cfg.win
