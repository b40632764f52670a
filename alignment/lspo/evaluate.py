"""Head-to-head evaluation by side with 95% intervals (docs/lspo.md).

One agent controls every player of one side (both wolves, or the five village players) and the
opponent controls the other side; roles are dealt by the game seed. A drawn (round-capped) game
counts as not won. Each (agent, opponent, side) cell reports the win rate over ``games`` games
with a 95% Wilson score interval, and the mean +- std of the win rate over ``seeds`` equal blocks
of games (a "5 seeds x 20 games" reading of the paper's +-; documented choice).

Agents: ``random`` (uniform legal actions, random intents), ``rule`` (the rule-based agent),
``iter0`` (the initial template policy + rule-based actor: the LSPO agent before any iteration)
and ``lspo`` agents of a finished iteration (DPO-tuned statements + CFR actions).
"""

from __future__ import annotations

import math
import random

import numpy as np

from games.werewolf.engine import WEREWOLF, WerewolfConfig, WerewolfEngine
from games.werewolf.observations import info_state

SIDES = ("werewolves", "village")


def wilson(wins: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """The Wilson score interval of a binomial proportion (95% for z = 1.96)."""
    if n == 0:
        return (0.0, 1.0)
    p = wins / n
    den = 1 + z * z / n
    centre = (p + z * z / (2 * n)) / den
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / den
    return (max(0.0, centre - half), min(1.0, centre + half))


def play_sides(agent, opponent, side: str, seed: int, config: WerewolfConfig | None = None) -> WerewolfEngine:
    eng = WerewolfEngine(config)
    eng.reset(seed)
    rng = random.Random(seed * 7919 + 1)
    wolf_side = side == "werewolves"
    seats = [agent if (eng.roles[i] == WEREWOLF) == wolf_side else opponent for i in range(eng.n)]
    while not eng.done:
        joint = {}
        discussion = eng.phase == "discussion"
        for p in eng.actors():
            state = info_state(eng, p)
            joint[p] = seats[p].speak(state, rng) if discussion else seats[p].act(state, rng)
        eng.step(joint)
    return eng


def head_to_head(agent, opponent, games: int, seed: int, seeds: int = 5,
                 config: WerewolfConfig | None = None) -> dict:
    """Win rates of ``agent`` by side against ``opponent`` (``games`` games per side)."""
    out = {}
    for side in SIDES:
        results = []
        for g in range(games):
            eng = play_sides(agent, opponent, side, seed * 1_000_003 + g + (0 if side == "werewolves" else 500_000),
                             config)
            results.append(1 if eng.winner == side else 0)
        wins = int(sum(results))
        lo, hi = wilson(wins, games)
        blocks = np.array_split(np.array(results, dtype=float), max(1, min(seeds, games)))
        block_rates = [b.mean() for b in blocks if len(b)]
        out[side] = {
            "games": games,
            "wins": wins,
            "win_rate": wins / games,
            "ci95": [lo, hi],
            "block_mean": float(np.mean(block_rates)),
            "block_std": float(np.std(block_rates)),
        }
    return out


def baseline_agent(name: str):
    from alignment.lspo.agents import LanguageAgent, RandomAgent, RuleBasedAgent
    from gtlearn.core.errors import GtlearnError

    if name == "random":
        return RandomAgent()
    if name == "rule":
        return RuleBasedAgent()
    if name == "iter0":
        from alignment.lspo.policies.template import TemplatePolicy

        return LanguageAgent(TemplatePolicy())
    raise GtlearnError(f"unknown opponent {name!r}; use random, rule, iter0 or final")


def lspo_agent(run_dir, iteration: int, actions_from: str = "cfr"):
    """The LSPO agent of a finished iteration (iteration 0 is the untrained start)."""
    if iteration == 0:
        return baseline_agent("iter0")
    from alignment.lspo.abstraction import CFRActor, PublicLabeler
    from alignment.lspo.agents import LSPOAgent
    from alignment.lspo.loop import load_iteration

    art = load_iteration(run_dir, iteration)
    actor = CFRActor(art.solver_policy, PublicLabeler(art.latent, art.embedder))
    return LSPOAgent(art.policy, actor=actor, actions_from=actions_from)
