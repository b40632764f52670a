"""Outcome-sampling MCCFR traversal (Lanctot, Waugh, Zinkevich & Bowling, NeurIPS 2009; the
form of Lanctot's thesis, 2013, ch. 4, as OpenSpiel's ``OutcomeSamplingMCCFRSolver``).

One trajectory per traversal: the traverser p samples from the epsilon-exploring policy
eps * uniform + (1 - eps) * sigma, everyone else from sigma, chance from its distribution.
At p's infosets on the trajectory the importance-weighted values give the regret increments
(pi_{-p} / q) (v(I, a) - v(I)) and the average policy is accumulated with the stochastically
weighted increment pi_p sigma(I, a) / q, q the sampling reach. Works on pyspiel states.
"""

from __future__ import annotations

from solvers.mccfr.external import infoset_key, sample_index
from solvers.mccfr.tables import InfosetTable, Updates


def outcome_traversal(state, player: int, table: InfosetTable, rng, updates: Updates, epsilon: float,
                      regret_weight: float, average_weight: float, perfect_info: bool) -> float:
    """One outcome-sampling trajectory from ``state`` (modified in place) for ``player``;
    returns the baseline-free value estimate of the root for ``player``."""
    return _episode(state, player, table, rng, updates, epsilon, regret_weight, average_weight, perfect_info,
                    1.0, 1.0, 1.0)


def _episode(state, player, table, rng, updates, epsilon, regret_weight, average_weight, perfect_info,
             my_reach, opp_reach, sample_reach) -> float:
    if state.is_terminal():
        return state.player_return(player)
    if state.is_chance_node():
        outcomes = state.chance_outcomes()
        k = sample_index([p for _, p in outcomes], rng.random())
        prob = outcomes[k][1]
        state.apply_action(outcomes[k][0])
        return _episode(state, player, table, rng, updates, epsilon, regret_weight, average_weight, perfect_info,
                        my_reach, prob * opp_reach, prob * sample_reach)
    q = state.current_player()
    key = infoset_key(state, q, perfect_info)
    legal = state.legal_actions()
    n = len(legal)
    sigma = table.policy(key, n)
    behaviour = [epsilon / n + (1.0 - epsilon) * s for s in sigma] if q == player else sigma
    k = sample_index(behaviour, rng.random())
    state.apply_action(legal[k])
    if q == player:
        child = _episode(state, player, table, rng, updates, epsilon, regret_weight, average_weight, perfect_info,
                         my_reach * sigma[k], opp_reach, sample_reach * behaviour[k])
    else:
        child = _episode(state, player, table, rng, updates, epsilon, regret_weight, average_weight, perfect_info,
                         my_reach, opp_reach * sigma[k], sample_reach * behaviour[k])
    sampled = child / behaviour[k]  # the importance-corrected value of the sampled action
    value = sigma[k] * sampled
    if q == player:
        scale = opp_reach / sample_reach
        cf_value = value * scale
        updates.regret(key, n, [regret_weight * ((sampled * scale if a == k else 0.0) - cf_value) for a in range(n)])
        updates.average(key, n, [average_weight * my_reach * s / sample_reach for s in sigma])
    return value
