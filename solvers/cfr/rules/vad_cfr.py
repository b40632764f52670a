"""VAD-CFR: volatility-adaptive discounted CFR, per-infoset vectorized form (``vad-cfr``).

Li, Schultz, Hennes & Lanctot (2026), arXiv:2602.16928 v1 (the CFR-discovery paper). The
formulas and constants are those of the appendix source listing (authoritative; the simplified
abstraction of the paper's §4.2.1 differs in six points and is *not* implemented), transcribed
in docs/cfr.md. With m = m^t(I) =
max_a |r^t(I, a)| and 1-based t::

    E  = m if t == 1 else 0.1 m + 0.9 E                     volatility EWMA, per infoset
    v  = min(1, E / 2);  a = max(0.1, 1.5 - 0.5 v);  b = min(a, -0.1 - 0.5 v)
    d+ = t^a/(t^a+1);  d- = t^b/(t^b+1);  d(x) = d+ if x >= 0 else d-
    rb = 1.1 r where r > 0, else r                           (positive-regret boost)
    R^t = max(-20, d(R^{t-1}) R^{t-1} + rb)                  (signed, capped below at -20)
    S  += w x_p sigma^t only from t = 501 on (hard warm start), with
          g = min(4, 2 + 1.5 min(1, m/2)),  w = t^g / (1 + m^1.5) * max(0.1, sqrt(1 + m/2))
    o  = max(0, 1 - 0.5 v) / (1 + (t-1)/100)                 (decaying, volatility-damped optimism)
    sigma^{t+1} = RM_1.5(d(R^t) R^t + o rb)

**Deliberate deviation (documented):** the paper publishes the three components but not the
driver that calls them; its interface (a node, one regret vector, reach of "the current
history", a 0-based iteration) points to OpenSpiel-style calls once per visited history, with
one volatility EWMA per component shared by all infosets and players. That cannot be
vectorized. This rule instead instantiates the components once per infoset and calls each once
per iteration with the infoset-aggregated regret r^t(I, .) and own reach x_p(I): the
discount and the -20 cap act once per iteration, the EWMA is per infoset (the regret- and
policy-side EWMAs coincide, same input and update count), and average weights use m^t(I).
Results are therefore **not** expected to reproduce the paper's curves exactly. The faithful
per-history driver is ``vad-cfr-reference`` (:mod:`solvers.cfr.reference`, slow); its bridge
mode (granularity="infoset", ewma="per_infoset") reproduces this rule to 1e-10 (tested).
Infosets whose r is identically 0 still decay E and are still discounted.

Ablation switches (constructor keywords, all on by default = the listing; docs/cfr.md):
``volatility`` (off: v = 0, i.e. fixed alpha = 1.5, beta = -0.1 and undamped optimism),
``boost`` (off: rb = r), ``asymmetric`` (off: negative regrets take d+ like positive ones),
``floor`` (off: no -20 cap), ``optimism`` (off: o = 0), ``power`` (off: RM_1 instead of RM_1.5),
``magnitude`` (off: average weight t^2, no regret-magnitude terms) and ``warmup`` (0: average
from t = 1, no hard warm start).
"""

from gtlearn.core.backend import namespace
from solvers.cfr.rules.base import Rule, regret_matching

# Constants of the published listing (docs/cfr.md).
ALPHA0, BETA0, SENSITIVITY, NORMALISER, BOOST, EWMA = 1.5, -0.1, 0.5, 2.0, 1.1, 0.1
REGRET_FLOOR = -20.0
OPTIMISM0, OPTIMISM_DECAY, POLICY_POWER = 1.0, 100.0, 1.5
GAMMA0, GAMMA_MAX, GAMMA_SENSITIVITY, WARMUP, STABILITY_POWER, MAGNITUDE_POWER = 2.0, 4.0, 1.5, 500, 1.5, 0.5


def volatility_discounts(xp, ewma, t):
    """v, d+ and d- from the volatility EWMA (arrays of shape (I,)) at 1-based t."""
    v = xp.minimum(1.0, ewma / NORMALISER)
    alpha = xp.maximum(0.1, ALPHA0 - SENSITIVITY * v)
    beta = xp.minimum(alpha, BETA0 - SENSITIVITY * v)
    tf = float(t)
    ta, tb = tf**alpha, tf**beta
    return v, ta / (ta + 1.0), tb / (tb + 1.0)


def average_weight(xp, m, t):
    """w(m, t) = t^g / (1 + m^1.5) * max(0.1, (1 + m/2)^0.5), g = min(4, 2 + 1.5 min(1, m/2))."""
    g = xp.minimum(GAMMA_MAX, GAMMA0 + GAMMA_SENSITIVITY * xp.minimum(1.0, m / NORMALISER))
    return float(t) ** g / (1.0 + m**STABILITY_POWER) * xp.maximum(0.1, (1.0 + m / NORMALISER) ** MAGNITUDE_POWER)


MECHANISMS = ("volatility", "boost", "asymmetric", "floor", "optimism", "power", "magnitude")


class VADCFR(Rule):
    name = "vad-cfr"

    def __init__(self, warmup: int = WARMUP, volatility: bool = True, boost: bool = True, asymmetric: bool = True,
                 floor: bool = True, optimism: bool = True, power: bool = True, magnitude: bool = True) -> None:
        self.warmup = int(warmup)
        self._switches = {"volatility": volatility, "boost": boost, "asymmetric": asymmetric, "floor": floor,
                          "optimism": optimism, "power": power, "magnitude": magnitude}

    def params(self) -> dict:
        """The warm-up and the mechanisms switched off (none by default)."""
        return {"warmup": self.warmup, **{k: False for k, on in self._switches.items() if not on}}

    def update_regrets(self, cum_regret, inst_regret, legal, t, state):
        xp = namespace(cum_regret)
        on = self._switches
        m = xp.abs(xp.where(legal, inst_regret, 0.0)).max(axis=1)
        ewma = m if t == 1 else EWMA * m + (1.0 - EWMA) * state["ewma"]
        v, dp, dn = volatility_discounts(xp, ewma if on["volatility"] else xp.zeros_like(ewma), t)
        if not on["asymmetric"]:
            dn = dp
        boosted = xp.where(inst_regret > 0, BOOST * inst_regret, inst_regret) if on["boost"] else inst_regret
        disc = xp.where(cum_regret >= 0, dp[:, None], dn[:, None])
        new = disc * cum_regret + boosted
        if on["floor"]:
            new = xp.maximum(REGRET_FLOOR, new)
        state.update(ewma=ewma, v=v, d_pos=dp, d_neg=dn, boosted=boosted, m=m)
        return xp.where(legal, new, 0.0)

    def accumulate_average(self, avg_acc, policy, reach, legal, t, state):
        # Published: skip while iteration_number = t - 1 < 500, i.e. accumulate from t = 501.
        if t - 1 < self.warmup:
            return avg_acc
        xp = namespace(avg_acc)
        w = average_weight(xp, state["m"], t) if self._switches["magnitude"] else float(t) ** GAMMA0
        return xp.where(legal, avg_acc + (w * reach)[:, None] * policy, 0.0)

    def policy_from_regrets(self, cum_regret, legal, t, state):
        xp = namespace(cum_regret)
        disc = xp.where(cum_regret >= 0, state["d_pos"][:, None], state["d_neg"][:, None])
        projected = disc * cum_regret
        if self._switches["optimism"]:
            optimism = OPTIMISM0 / (1.0 + (t - 1) / OPTIMISM_DECAY) * xp.maximum(0.0, 1.0 - SENSITIVITY * state["v"])
            projected = projected + optimism[:, None] * state["boosted"]
        return regret_matching(projected, legal, q=POLICY_POWER if self._switches["power"] else 1.0)
