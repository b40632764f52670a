"""Regret matching on the meta-game (Hart & Mas-Colell 2000), with the defaults of OpenSpiel's
``regret_matching.py`` (docs/psro.md).

Initial regrets 1e-6, uniform start, ``iterations`` simultaneous (Jacobi) steps
``R_p += u_p - x_p.u_p``; ``x_p = gamma/n_p + (1-gamma) [R_p]_+ / sum [R_p]_+`` (uniform when no
regret is positive). The output is the mean of the iterates the steps produce; OpenSpiel's
averager also includes the uniform starting point (the one deviation, tested). ``early_stop``
and ``check_every``: the opt-in certified early stop of :mod:`solvers.psro.meta_solvers._fast`.
"""

from __future__ import annotations

import solvers.psro.meta_solvers._fast as _fast
from games.matrix import array_module, sizes_of, utilities
from solvers.psro.meta_solvers.base import EarlyStopping, MetaSolver

INITIAL_REGRET = 1e-6


def regret_matching(payoffs, iterations=100_000, gamma=1e-6, fast=True, early_stop=False, check_every=1000, info=None):
    if fast and _fast.usable(payoffs):
        args, classes = _fast.prepare(payoffs, merge=False)  # round-off chaotic: see _fast
        out, steps = _fast.rm(*args, int(iterations), float(gamma), INITIAL_REGRET, bool(early_stop),
                              int(check_every))
        if info is not None:
            info.append(int(steps))
        return _fast.unpad(out, classes)
    xp = array_module(payoffs)
    shape = sizes_of(payoffs)
    x = [xp.full(n, 1.0 / n) for n in shape]
    regrets = [xp.full(n, INITIAL_REGRET) for n in shape]
    acc = [xp.zeros(n) for n in shape]
    for _ in range(iterations):
        new = []
        for p in range(len(shape)):
            n = shape[p]
            u = utilities(payoffs, x, p)
            regrets[p] += u - u @ x[p]
            pos = xp.maximum(regrets[p], 0.0)
            s = pos.sum()
            safe = xp.where(s > 0, s, 1.0)
            new.append(xp.where(s > 0, gamma * (1.0 / n) + (1 - gamma) * (pos / safe), 1.0 / n))
        x = new
        for p in range(len(x)):
            acc[p] += x[p]
    return [a / iterations for a in acc]


class RM(EarlyStopping, MetaSolver):
    name = "rm"
    stateless = True

    def __init__(self, iterations: int = 100_000, gamma: float = 1e-6, early_stop: bool = False, check_every: int = 1000) -> None:
        super().__init__()
        self.iterations, self.gamma = int(iterations), gamma
        self.set_early_stopping(early_stop, check_every)

    def solve(self, payoffs, t=None):
        return regret_matching(payoffs, self.iterations, self.gamma, early_stop=self.early_stop, check_every=self.check_every,
                               info=self.steps_run)
