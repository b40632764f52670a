"""The rule interface shared by the CFR engine and the program search (docs/cfr.md).

A CFR variant is a *rule*: three vectorized functions over all infosets of the updating
player, called once per pass in this fixed order::

    R^t     = update_regrets(R^{t-1}, r^t, legal, t, state)
    S^t     = accumulate_average(S^{t-1}, sigma^t, x_p, legal, t, state)
    sigma^{t+1} = policy_from_regrets(R^t, legal, t, state)

Arrays are (I, A) with a boolean ``legal`` mask (padded entries are 0 everywhere); ``reach``
is x_p(I), shape (I,); ``t`` is the 1-based iteration; ``state`` is one dict per player that the
engine persists (and checkpoints) but never interprets. Rules must be deterministic, loop over
no infosets in Python, and use the array namespace of their inputs (NumPy or CuPy).
"""

from __future__ import annotations

from gtlearn.core.backend import namespace


class Rule:
    """Base class of CFR rules. Subclasses override the three methods; parameters go to
    ``__init__`` (e.g. DCFR's alpha, beta, gamma) and are reported by :meth:`params`."""

    name = "rule"

    def update_regrets(self, cum_regret, inst_regret, legal, t: int, state: dict):
        raise NotImplementedError

    def policy_from_regrets(self, cum_regret, legal, t: int, state: dict):
        raise NotImplementedError

    def accumulate_average(self, avg_acc, policy, reach, legal, t: int, state: dict):
        raise NotImplementedError

    def params(self) -> dict:
        return {k: v for k, v in vars(self).items() if not k.startswith("_")}

    def __repr__(self) -> str:
        args = ", ".join(f"{k}={v!r}" for k, v in self.params().items())
        return f"{type(self).__name__}({args})"


class FunctionRule(Rule):
    """A rule made of three plain functions (how user files and evolved programs often look)."""

    def __init__(self, update_regrets, policy_from_regrets, accumulate_average, name: str = "custom") -> None:
        self._update = update_regrets
        self._policy = policy_from_regrets
        self._average = accumulate_average
        self.name = name

    def update_regrets(self, cum_regret, inst_regret, legal, t, state):
        return self._update(cum_regret, inst_regret, legal, t, state)

    def policy_from_regrets(self, cum_regret, legal, t, state):
        return self._policy(cum_regret, legal, t, state)

    def accumulate_average(self, avg_acc, policy, reach, legal, t, state):
        return self._average(avg_acc, policy, reach, legal, t, state)

    def params(self) -> dict:
        return {}


def regret_matching(z, legal, q: float = 1.0):
    """RM_q(z): [z]_+^q normalized over legal actions; uniform where the sum is exactly 0."""
    xp = namespace(z)
    w = xp.where(legal, xp.maximum(z, 0.0), 0.0)
    if q != 1.0:
        w = w**q
    total = w.sum(axis=1, keepdims=True)
    uniform = legal / legal.sum(axis=1, keepdims=True)
    return xp.where(total > 0, w / xp.where(total > 0, total, 1.0), uniform)
