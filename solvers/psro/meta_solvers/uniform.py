"""Uniform meta-solver: phi_p(j) = 1/n_p (the PSRO seed of arXiv:2602.16928; with it PSRO is
fictitious play over the population, Lanctot et al. 2017)."""

from __future__ import annotations

from gtlearn.core.backend import namespace
from solvers.psro.meta_solvers.base import MetaSolver


class Uniform(MetaSolver):
    name = "uniform"
    stateless = True

    def solve(self, payoffs, t=None):
        xp = namespace(payoffs[0])
        return [xp.full(n, 1.0 / n) if n else xp.zeros(0) for n in payoffs[0].shape]
