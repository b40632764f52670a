"""A user CFR rule for ``gtlearn solve GAME --rule examples/rules/quadratic_rm_plus.py:QuadraticRMPlus``.

A rule is three vectorized functions over all infosets of the updating player (docs/cfr.md):
arrays are (I, A) with a boolean ``legal`` mask, ``reach`` is the player's own reach x_p(I),
``t`` is the 1-based iteration and ``state`` a per-player dict the engine keeps for you. Write
them against the array namespace of the inputs so the same rule runs on NumPy and CuPy.

This one is CFR+ (regret matching+) with quadratic averaging weights t^2.
"""

from gtlearn.core.backend import namespace
from solvers.cfr.rules.base import Rule, regret_matching


class QuadraticRMPlus(Rule):
    name = "quadratic-rm+"

    def __init__(self, power: float = 2.0) -> None:  # --param power=3 on the command line
        self.power = float(power)

    def update_regrets(self, cum_regret, inst_regret, legal, t, state):
        xp = namespace(cum_regret)
        return xp.where(legal, xp.maximum(cum_regret + inst_regret, 0.0), 0.0)

    def policy_from_regrets(self, cum_regret, legal, t, state):
        return regret_matching(cum_regret, legal)

    def accumulate_average(self, avg_acc, policy, reach, legal, t, state):
        return avg_acc + float(t) ** self.power * reach[:, None] * policy


class functions:  # noqa: N801 - the plain-functions form: any object with the three functions
    """``--rule examples/rules/quadratic_rm_plus.py:functions`` (no class, no parameters)."""

    @staticmethod
    def update_regrets(cum_regret, inst_regret, legal, t, state):
        xp = namespace(cum_regret)
        return xp.where(legal, xp.maximum(cum_regret + inst_regret, 0.0), 0.0)

    @staticmethod
    def policy_from_regrets(cum_regret, legal, t, state):
        return regret_matching(cum_regret, legal)

    @staticmethod
    def accumulate_average(avg_acc, policy, reach, legal, t, state):
        return avg_acc + float(t) ** 2 * reach[:, None] * policy
