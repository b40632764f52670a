"""CFR: counterfactual regret minimization.

Zinkevich, Johanson, Bowling & Piccione (2007), "Regret Minimization in Games with Incomplete
Information", NeurIPS. Follows OpenSpiel's ``CFRSolver``: regret matching on the summed
regrets, uniform averaging weights. No deviations.
"""

from solvers.cfr.rules.base import Rule, regret_matching


class CFR(Rule):
    name = "cfr"

    def update_regrets(self, cum_regret, inst_regret, legal, t, state):
        return cum_regret + inst_regret

    def policy_from_regrets(self, cum_regret, legal, t, state):
        return regret_matching(cum_regret, legal)

    def accumulate_average(self, avg_acc, policy, reach, legal, t, state):
        return avg_acc + reach[:, None] * policy
