"""UCB1 model selection (ShinkaEvolve-style): reward = fitness gain over the parent minus
``cost_coef`` x cost in USD. State lives in the run's ``kv`` table."""

from __future__ import annotations

import math

import numpy as np


def pick(state: dict, models: list[dict], rng: np.random.Generator) -> int:
    n = state.setdefault("n", [0] * len(models))
    if len(models) == 1:
        return 0
    s = state.setdefault("sum", [0.0] * len(models))
    untried = [i for i, c in enumerate(n) if c == 0]
    if untried:
        w = np.array([models[i].get("weight", 1.0) for i in untried], dtype=float)
        return int(untried[rng.choice(len(untried), p=w / w.sum())])
    total = sum(n)
    ucb = [s[i] / n[i] + math.sqrt(2 * math.log(total) / n[i]) for i in range(len(models))]
    return int(np.argmax(ucb))


def update(state: dict, arm: int, gain: float, cost: float | None, cost_coef: float, k: int) -> None:
    n = state.setdefault("n", [0] * k)
    s = state.setdefault("sum", [0.0] * k)
    n[arm] += 1
    s[arm] += float(gain) - cost_coef * float(cost or 0.0)
