"""PCFR+: predictive CFR+ with quadratic (gamma = 2) averaging.

Farina, Kroer & Sandholm (2021), "Faster Game Solving via Predictive Blackwell Approachability:
Connecting Regret Matching and Mirror Descent", AAAI, arXiv:2007.14358.

Per infoset and legal action, with 1-based t (docs/cfr.md)::

    R^t         = [R^{t-1} + r^t]_+                      (regret matching+)
    sigma^{t+1} = RM([R^t + m^{t+1}]_+),  m^{t+1} = r^t   (prediction: the last regret)
    S^t         = S^{t-1} ((t-1)/t)^gamma + x_p sigma^t   (S^1 = x_p sigma^1)

The multiplicative average equals weights proportional to t^gamma after normalization; it is
the form that HS-PCFR+ (:mod:`.hs_pcfr_plus`) needs, so it is used here too.

Deviations: gamma = 2 is the usual choice (arXiv:2602.16928 does not state its baseline
hyperparameters); updates are alternating (Gauss-Seidel) as everywhere in the engine.
"""

from gtlearn.core.backend import namespace
from solvers.cfr.rules.base import Rule, regret_matching


def multiplicative_average(avg_acc, policy, reach, legal, t, gamma):
    """S^t = S^{t-1} ((t-1)/t)^gamma + x_p sigma^t, i.e. weights proportional to t^gamma."""
    xp = namespace(avg_acc)
    decay = ((t - 1.0) / t) ** gamma
    return xp.where(legal, avg_acc * decay + reach[:, None] * policy, 0.0)


class PCFRPlus(Rule):
    name = "pcfr+"

    def __init__(self, gamma: float = 2.0) -> None:
        self.gamma = float(gamma)

    def update_regrets(self, cum_regret, inst_regret, legal, t, state):
        xp = namespace(cum_regret)
        state["prediction"] = inst_regret
        return xp.where(legal, xp.maximum(cum_regret + inst_regret, 0.0), 0.0)

    def policy_from_regrets(self, cum_regret, legal, t, state):
        # RM takes the positive part itself, so RM([R + m]_+) == RM(R + m).
        return regret_matching(cum_regret + state["prediction"], legal)

    def accumulate_average(self, avg_acc, policy, reach, legal, t, state):
        return multiplicative_average(avg_acc, policy, reach, legal, t, self.gamma)
