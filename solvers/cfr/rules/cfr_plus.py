"""CFR+: regret matching+ with linear averaging.

Tammelin (2014), "Solving Large Imperfect Information Games Using CFR+", arXiv:1407.5042.
Follows OpenSpiel's ``CFRPlusSolver``: the floor at 0 is applied once per pass to the summed
regrets (never per history), and the average weights iteration t by t with no delay.
No deviations.
"""

from gtlearn.core.backend import namespace
from solvers.cfr.rules.base import Rule, regret_matching


class CFRPlus(Rule):
    name = "cfr+"

    def update_regrets(self, cum_regret, inst_regret, legal, t, state):
        xp = namespace(cum_regret)
        return xp.where(legal, xp.maximum(cum_regret + inst_regret, 0.0), 0.0)

    def policy_from_regrets(self, cum_regret, legal, t, state):
        return regret_matching(cum_regret, legal)

    def accumulate_average(self, avg_acc, policy, reach, legal, t, state):
        return avg_acc + t * reach[:, None] * policy
