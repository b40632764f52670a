"""Self-play data (docs/lspo.md) and the game runner shared with evaluation.

At every discussion turn the policy generates ``N`` candidate statements (each request sees
the earlier candidates, asking for a strategically different one), one is executed uniformly
at random, and the turn is stored as ``(game_id, round, player, role, obs_text, obs_vec,
candidates, executed_idx)`` plus what the preference stage needs to rebuild the turn's
discussion key (position bucket, the earlier statements of the day). Secret and vote actions
come from ``actor`` -- the policy's rule-based actor in iteration 1, the previous iteration's
CFR policy afterwards (``actions_from: cfr|policy``, documented choice).
"""

from __future__ import annotations

import random
from typing import Any

import numpy as np

from alignment.lspo.infostates import knowledge_class, view_from_info
from games.werewolf.engine import PHASE_DISCUSSION, WerewolfConfig, WerewolfEngine
from games.werewolf.observations import info_state, vector
from games.werewolf.render import render


def play_game(agents: dict[int, Any] | list, seed: int, config: WerewolfConfig | None = None,
              rng: random.Random | None = None) -> WerewolfEngine:
    """Play one game; ``agents[i]`` has ``speak(state, rng)`` and ``act(state, rng)``."""
    eng = WerewolfEngine(config)
    eng.reset(seed)
    rng = rng or random.Random(seed + 1)
    while not eng.done:
        joint = {}
        for p in eng.actors():
            state = info_state(eng, p)
            joint[p] = agents[p].speak(state, rng) if eng.phase == PHASE_DISCUSSION else agents[p].act(state, rng)
        eng.step(joint)
    return eng


def self_play(language_agent, games: int, seed: int, n_candidates: int = 3, config: WerewolfConfig | None = None,
              k_max: int = 5, progress=None) -> tuple[list[dict], np.ndarray, dict]:
    """Returns (turns, obs_vectors aligned with turns, stats)."""
    config = config or WerewolfConfig()
    turns: list[dict] = []
    vecs: list[np.ndarray] = []
    winners: dict[str, int] = {}
    for g in range(games):
        game_seed = seed * 1_000_003 + g
        rng = random.Random(game_seed + 7)
        eng = WerewolfEngine(config)
        eng.reset(game_seed)
        while not eng.done:
            joint = {}
            for p in eng.actors():
                state = info_state(eng, p)
                if eng.phase != PHASE_DISCUSSION:
                    joint[p] = language_agent.act(state, rng)
                    continue
                cands = language_agent.candidates(state, n_candidates, rng)
                idx = rng.randrange(len(cands))
                today = state.rounds[-1]
                spoken = len(today.statements)
                total = spoken + len([i for i in state.living() if i not in {s for s, _ in today.statements}])
                turns.append(
                    {
                        "game_id": g,
                        "round": state.round,
                        "player": p,
                        "role": state.role,
                        "obs_text": render(state),
                        "candidates": [{"statement": c.statement, "completion": c.completion, "prompt": c.prompt,
                                        "meta": c.meta} for c in cands],
                        "executed_idx": idx,
                        "position": 0 if spoken == 0 else (2 if spoken == total - 1 else 1),
                        "earlier": [s for _, s in today.statements],
                        "knowledge": _knowledge(state),
                    }
                )
                vecs.append(vector(state, k_max=k_max))
                joint[p] = cands[idx].statement
            eng.step(joint)
        winners[eng.winner] = winners.get(eng.winner, 0) + 1
        if progress is not None:
            progress(1)
    stats = {"games": games, "turns": len(turns), "winners": winners}
    return turns, (np.stack(vecs) if vecs else np.zeros((0, 0), np.float32)), stats


def _knowledge(state) -> int:
    return knowledge_class(view_from_info(state, lambda s: 0))
