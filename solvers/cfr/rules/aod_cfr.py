"""AOD-CFR: the earlier evolved CFR variant of the CFR-discovery paper.

Li, Schultz, Hennes & Lanctot (2026), arXiv:2602.16928 v1 (the CFR-discovery paper), appendix
source listing of AOD-CFR; transcribed in docs/cfr.md With i = t - 1, lambda = min(1, i / 500) and eps = 1e-9::

    alpha_t = 1 + 1.5 lambda,  beta_t = 0.5 - 0.5 lambda,  gamma_t = 1 + 4 lambda
    c(a)    = 1.1 (+,+) | 0.9 (+,-) | 0.7 (-,+) | 1.2 (-,-) | 1.0 otherwise,
              by the signs of (R^{t-1}(a), r^t(a)), "+" meaning > eps and "-" < -eps
    d(a)    = t^alpha/(t^alpha+1) if R^{t-1}(a) > 0 else t^beta/(t^beta+1)
    R^t     = d R^{t-1} + c r^t                               (signed: no floor, no cap)
    P       = R^t + 0.5 (R^t - E);  sigma^{t+1} proportional to [P]_+^2
              (uniform if the weight sum is <= 1e-12);  then E <- 0.1 R^t + 0.9 E
    S^t     = S^{t-1} t^gamma/(t^gamma+1) + t^gamma x_p sigma^t

E is a per-infoset, per-action EMA of the cumulative regret (initially 0).

Deviations: the published policy state is keyed by infoset, so the rule is per-infoset; the
published regret and averaging components, called once per history by an OpenSpiel-style
driver, would apply their discounts once per visited history (k times per iteration for an
infoset with k histories). Here they are applied once per infoset and iteration, to the
infoset-aggregated regret (docs/cfr.md), like the engine's other rules.
"""

from gtlearn.core.backend import namespace
from solvers.cfr.rules.base import Rule
from solvers.cfr.rules.dcfr import discount

EPS = 1e-9




class AODCFR(Rule):
    name = "aod-cfr"

    def __init__(self, warmup: int = 500, optimism: float = 0.5, ema: float = 0.1, power: float = 2.0) -> None:
        self.warmup = int(warmup)
        self.optimism = float(optimism)
        self.ema = float(ema)
        self.power = float(power)

    def schedules(self, t: int) -> tuple[float, float, float]:
        lam = min(1.0, (t - 1) / self.warmup)
        return 1.0 + 1.5 * lam, 0.5 - 0.5 * lam, 1.0 + 4.0 * lam

    def update_regrets(self, cum_regret, inst_regret, legal, t, state):
        xp = namespace(cum_regret)
        alpha, beta, _ = self.schedules(t)
        r_pos, r_neg = cum_regret > EPS, cum_regret < -EPS
        i_pos, i_neg = inst_regret > EPS, inst_regret < -EPS
        c = xp.where(r_pos & i_pos, 1.1, xp.where(r_pos & i_neg, 0.9,
            xp.where(r_neg & i_pos, 0.7, xp.where(r_neg & i_neg, 1.2, 1.0))))
        d = xp.where(cum_regret > 0, discount(t, alpha), discount(t, beta))
        return xp.where(legal, d * cum_regret + c * inst_regret, 0.0)

    def policy_from_regrets(self, cum_regret, legal, t, state):
        xp = namespace(cum_regret)
        ema = state.get("ema")
        if ema is None:
            ema = xp.zeros_like(cum_regret)
        p = cum_regret + self.optimism * (cum_regret - ema)
        w = xp.where(legal, xp.maximum(p, 0.0), 0.0) ** self.power
        total = w.sum(axis=1, keepdims=True)
        uniform = legal / legal.sum(axis=1, keepdims=True)
        state["ema"] = xp.where(legal, self.ema * cum_regret + (1.0 - self.ema) * ema, 0.0)
        return xp.where(total > 1e-12, w / xp.where(total > 1e-12, total, 1.0), uniform)

    def accumulate_average(self, avg_acc, policy, reach, legal, t, state):
        xp = namespace(avg_acc)
        _, _, gamma = self.schedules(t)
        tg = float(t) ** gamma
        return xp.where(legal, avg_acc * (tg / (tg + 1.0)) + tg * reach[:, None] * policy, 0.0)
