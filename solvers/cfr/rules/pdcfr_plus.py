"""PDCFR+ (called DPCFR+ in arXiv:2602.16928): predictive discounted CFR+.

Xu et al. (2024), "Minimizing Weighted Counterfactual Regret with Optimistic
Online Mirror Descent", IJCAI, arXiv:2404.13891 (and the authors' reference code, whose
defaults alpha = 2.3, gamma = 5 are used here).

Per infoset and legal action, with 1-based t and d(x) = x^alpha / (x^alpha + 1), d(0) = 0::

    R^t         = [d(t-1) R^{t-1} + r^t]_+              (discount the positive regrets, add, floor)
    sigma^{t+1} = RM([d(t) R^t + r^t]_+)                (one-step look-ahead discount, prediction r^t)
    S^t         = S^{t-1} ((t-1)/t)^gamma + x_p sigma^t

Since R^{t-1} >= 0 after the floor, only the positive-regret discount d_alpha ever applies
(PDCFR+ has no beta). Deviations: none beyond alternating updates, the engine's convention;
arXiv:2602.16928 does not state the hyperparameters of its baseline, the authors' defaults
are used.
"""

from gtlearn.core.backend import namespace
from solvers.cfr.rules.base import Rule, regret_matching
from solvers.cfr.rules.dcfr import discount as _d
from solvers.cfr.rules.pcfr_plus import multiplicative_average


class PDCFRPlus(Rule):
    name = "pdcfr+"

    def __init__(self, alpha: float = 2.3, gamma: float = 5.0) -> None:
        self.alpha = float(alpha)
        self.gamma = float(gamma)

    def update_regrets(self, cum_regret, inst_regret, legal, t, state):
        xp = namespace(cum_regret)
        state["prediction"] = inst_regret
        return xp.where(legal, xp.maximum(_d(t - 1, self.alpha) * cum_regret + inst_regret, 0.0), 0.0)

    def policy_from_regrets(self, cum_regret, legal, t, state):
        return regret_matching(_d(t, self.alpha) * cum_regret + state["prediction"], legal)

    def accumulate_average(self, avg_acc, policy, reach, legal, t, state):
        return multiplicative_average(avg_acc, policy, reach, legal, t, self.gamma)
