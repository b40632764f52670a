"""DCFR(alpha, beta, gamma) and LCFR: discounted regret minimization.

Brown & Sandholm (2019), "Solving Imperfect-Information Games via Discounted Regret
Minimization", AAAI, arXiv:1809.04040.

Follows OpenSpiel's ``DCFRSolver`` (defaults alpha=3/2, beta=0, gamma=2): the instantaneous
regret is *added first, then discounted*, by t^alpha/(t^alpha+1) where the post-add value is
>= 0 and by t^beta/(t^beta+1) where it is negative, with the current 1-based t. The average
weights sigma^t by t^gamma. ``order="discount_then_add"`` gives the variant of the PDCFR+
authors' code (R^t = R^{t-1} d(t-1) + r^t, alpha where R^{t-1} > 0); it is not OpenSpiel's
trajectory.

LCFR is OpenSpiel's ``LCFRSolver``: R^t = (R^{t-1} + r^t) t/(t+1) and weight t, i.e.
DCFR(1, 1, 1); after unrolling R^t = sum_k k r^k / (t+1), a positive multiple of the paper's
linearly weighted sum, so the policies are identical.
"""

from gtlearn.core.backend import namespace
from gtlearn.core.errors import GtlearnError
from solvers.cfr.rules.base import Rule, regret_matching


def discount(t, exponent):
    """t^e / (t^e + 1), with the convention 0 at t = 0."""
    if t <= 0:
        return 0.0
    te = float(t) ** exponent
    return te / (te + 1.0)


class DCFR(Rule):
    name = "dcfr"

    def __init__(self, alpha: float = 1.5, beta: float = 0.0, gamma: float = 2.0, order: str = "add_then_discount") -> None:
        if order not in ("add_then_discount", "discount_then_add"):
            raise GtlearnError(f"DCFR order must be 'add_then_discount' or 'discount_then_add', not {order!r}")
        self.alpha = float(alpha)
        self.beta = float(beta)
        self.gamma = float(gamma)
        self.order = order

    def update_regrets(self, cum_regret, inst_regret, legal, t, state):
        xp = namespace(cum_regret)
        if self.order == "add_then_discount":
            q = cum_regret + inst_regret
            factor = xp.where(q >= 0, discount(t, self.alpha), discount(t, self.beta))
            return xp.where(legal, q * factor, 0.0)
        factor = xp.where(cum_regret > 0, discount(t - 1, self.alpha), discount(t - 1, self.beta))
        if t == 1:
            factor = xp.zeros_like(cum_regret)  # R^1 = r^1
        return xp.where(legal, cum_regret * factor + inst_regret, 0.0)

    def policy_from_regrets(self, cum_regret, legal, t, state):
        return regret_matching(cum_regret, legal)

    def accumulate_average(self, avg_acc, policy, reach, legal, t, state):
        return avg_acc + (float(t) ** self.gamma) * reach[:, None] * policy


class LCFR(Rule):
    name = "lcfr"

    def update_regrets(self, cum_regret, inst_regret, legal, t, state):
        return (cum_regret + inst_regret) * (t / (t + 1.0))

    def policy_from_regrets(self, cum_regret, legal, t, state):
        return regret_matching(cum_regret, legal)

    def accumulate_average(self, avg_acc, policy, reach, legal, t, state):
        return avg_acc + t * reach[:, None] * policy
