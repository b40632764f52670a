"""Projected replicator dynamics (Lanctot et al. 2017, "A unified game-theoretic approach to
multiagent reinforcement learning"), with OpenSpiel's defaults (docs/psro.md).

From uniform strategies, ``iterations`` simultaneous (Jacobi) steps
``x_p <- x_p + dt x_p (u_p - x_p.u_p)``, every entry floored at ``gamma``, renormalised; the
output is the per-player mean of the iterates the steps produce.

Deviations from OpenSpiel's ``projected_replicator_dynamics`` (both documented in the spec):
the default projection is the floor-and-renormalise one (OpenSpiel's ``use_approx=True``;
``projection="l2"`` selects OpenSpiel's default exact L2 projection onto the gamma-simplex),
and the starting point is excluded from the average (OpenSpiel's averager includes it).

``early_stop=True`` (opt-in) ends the Numba loop once a step leaves the iterate unchanged to
1e-15 (a fixed point up to round-off), counting the remaining steps as copies of it
(:mod:`solvers.psro.meta_solvers._fast`); the steps run are recorded in ``steps_run``.
"""

from __future__ import annotations

import solvers.psro.meta_solvers._fast as _fast
from games.matrix import array_module, sizes_of, utilities
from gtlearn.core.errors import GtlearnError
from solvers.psro.meta_solvers.base import EarlyStopping, MetaSolver


def _l2_project(y, gamma, xp):
    """OpenSpiel's ``_simplex_projection``: Euclidean projection onto {x >= gamma, sum x = 1}."""
    n = y.shape[0]
    idx = xp.arange(1, n + 1)
    u = xp.sort(y)[::-1]
    u_tmp = (1 - xp.cumsum(u) - (n - idx) * gamma) / idx
    rho = int(xp.searchsorted(u + u_tmp <= gamma, True))
    return xp.maximum(y + u_tmp[rho - 1], gamma)


def projected_replicator_dynamics(payoffs, iterations=100_000, dt=1e-3, gamma=1e-6, projection="floor", fast=True,
                                  early_stop=False, check_every=1000, info=None):
    if projection == "floor" and fast and _fast.usable(payoffs):
        args, classes = _fast.prepare(payoffs)
        out, steps = _fast.prd(*args, int(iterations), float(dt), float(gamma), bool(early_stop),
                               int(check_every))
        if info is not None:
            info.append(int(steps))
        return _fast.unpad(out, classes)
    xp = array_module(payoffs)
    shape = sizes_of(payoffs)
    x = [xp.full(n, 1.0 / n) for n in shape]
    acc = [xp.zeros(n) for n in shape]
    for _ in range(iterations):
        new = []
        for p in range(len(shape)):
            u = utilities(payoffs, x, p)
            y = x[p] + dt * (x[p] * (u - u @ x[p]))
            if projection == "floor":
                y = xp.maximum(y, gamma)
                y = y / y.sum()
            else:
                y = _l2_project(y, gamma, xp)
            new.append(y)
        x = new
        for p in range(len(x)):
            acc[p] += x[p]
    return [a / iterations for a in acc]


class PRD(EarlyStopping, MetaSolver):
    name = "prd"
    stateless = True

    def __init__(self, iterations: int = 100_000, dt: float = 1e-3, gamma: float = 1e-6, projection: str = "floor",
                 early_stop: bool = False, check_every: int = 1000) -> None:
        super().__init__()
        if projection not in ("floor", "l2"):
            raise GtlearnError(f"prd projection must be 'floor' or 'l2', not {projection!r}")
        self.iterations, self.dt, self.gamma, self.projection = int(iterations), dt, gamma, projection
        self.set_early_stopping(early_stop, check_every)

    def solve(self, payoffs, t=None):
        return projected_replicator_dynamics(payoffs, self.iterations, self.dt, self.gamma, self.projection,
                                             early_stop=self.early_stop, check_every=self.check_every, info=self.steps_run)
