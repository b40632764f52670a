"""Uniform meta-solver: phi_p(j) = 1/n_p (the PSRO seed of arXiv:2602.16928; with it PSRO is
fictitious play over the population, Lanctot et al. 2017)."""

from __future__ import annotations

from games.matrix import array_module, sizes_of
from solvers.psro.meta_solvers.base import MetaSolver


class Uniform(MetaSolver):
    name = "uniform"
    stateless = True

    def solve(self, payoffs, t=None):
        xp = array_module(payoffs)
        return [xp.full(n, 1.0 / n) if n else xp.zeros(0) for n in sizes_of(payoffs)]
