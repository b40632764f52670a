"""HS-PCFR+(30): PCFR+ with a hyperparameter schedule on the averaging exponent.

Zhang, McAleer & Sandholm (2024), "Faster Game Solving via Hyperparameter Schedules",
arXiv:2404.09097. Regrets and policy are PCFR+'s (:mod:`.pcfr_plus`); only gamma is
scheduled, over the planned horizon T (a constructor parameter, default 1000)::

    gamma_t = gamma0 - 5 (t - 1) / T,      gamma0 = 30
    S^t     = S^{t-1} ((t-1)/t)^{gamma_t} + x_p sigma^t          (form="factor", default)

Deviations / open points (docs/cfr.md, marked unverified there): the schedule formula comes
from a third-party transcription of eq. (4) of arXiv:2404.09097. Two readings are offered:
``form="factor"`` (gamma_t in the per-step decay, default) or ``form="weight"``
(S^t = S^{t-1} + t^{gamma_t} x_p sigma^t, a direct weight); and ``index="t-1"`` (default) or
``index="t"`` in the schedule. Beyond t = T the schedule is extrapolated linearly.
"""

from gtlearn.core.backend import namespace
from gtlearn.core.errors import GtlearnError
from solvers.cfr.rules.pcfr_plus import PCFRPlus, multiplicative_average


class HSPCFRPlus(PCFRPlus):
    name = "hs-pcfr+"

    def __init__(self, gamma0: float = 30.0, horizon: int = 1000, slope: float = 5.0,
                 form: str = "factor", index: str = "t-1") -> None:
        if form not in ("factor", "weight"):
            raise GtlearnError(f"hs-pcfr+ form must be 'factor' or 'weight', not {form!r}")
        if index not in ("t-1", "t"):
            raise GtlearnError(f"hs-pcfr+ index must be 't-1' or 't', not {index!r}")
        if int(horizon) < 1:
            raise GtlearnError(f"hs-pcfr+ horizon must be positive, got {horizon}")
        super().__init__(gamma=float(gamma0))
        self.gamma0 = float(gamma0)
        self.horizon = int(horizon)
        self.slope = float(slope)
        self.form = form
        self.index = index

    def gamma_at(self, t: int) -> float:
        k = t - 1 if self.index == "t-1" else t
        return self.gamma0 - self.slope * k / self.horizon

    def accumulate_average(self, avg_acc, policy, reach, legal, t, state):
        g = self.gamma_at(t)
        if self.form == "factor":
            return multiplicative_average(avg_acc, policy, reach, legal, t, g)
        xp = namespace(avg_acc)
        return xp.where(legal, avg_acc + (float(t) ** g) * reach[:, None] * policy, 0.0)
