"""CFR+ (Tammelin 2014) in the three-function rule interface of docs/cfr.md.

Seed program of the gtlearn CFR-rule search. Load with ``gtlearn solve --rule FILE:Rule``.
"""

import numpy as np

# EVOLVE-BLOCK-START


def _rm(z, legal, q=1.0):
    w = np.where(legal, np.maximum(z, 0.0), 0.0) ** q
    total = w.sum(axis=1, keepdims=True)
    uniform = legal / legal.sum(axis=1, keepdims=True)
    return np.where(total > 0, w / np.where(total > 0, total, 1.0), uniform)


def update_regrets(cum_regret, inst_regret, legal, t, state):
    state['last'] = inst_regret
    return np.maximum(np.where(legal, np.maximum(cum_regret + inst_regret, 0.0), 0.0), 0.0)


def policy_from_regrets(cum_regret, legal, t, state):
    return _rm(cum_regret + 1.0 * state.get('last', 0.0), legal)


def accumulate_average(avg_acc, policy, reach, legal, t, state):
    w = t ** 4.5 if t > 10 else 0.1
    return avg_acc + w * reach[:, None] * policy


# EVOLVE-BLOCK-END


class Rule:
    """The three functions as one object, for ``gtlearn solve --rule FILE:Rule``."""

    update_regrets = staticmethod(update_regrets)
    policy_from_regrets = staticmethod(policy_from_regrets)
    accumulate_average = staticmethod(accumulate_average)
