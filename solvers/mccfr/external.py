"""External-sampling MCCFR traversal (Lanctot, Waugh, Zinkevich & Bowling, "Monte Carlo
Sampling for Regret Minimization in Extensive Games", NeurIPS 2009).

For the traverser p every own action is expanded; chance and every other player's action are
sampled once per node (opponents from their current policy). At p's infoset the sampled
counterfactual values give the regret increments v(I, a) - sum_b sigma(I, b) v(I, b); the
average policy is accumulated at the nodes of player (p + 1) mod N ("simple" averaging, as
OpenSpiel's ``ExternalSamplingMCCFRSolver``: the standard rule in two players). Works straight
on pyspiel states; nothing is compiled.
"""

from __future__ import annotations

from solvers.mccfr.tables import InfosetTable, Updates


def sample_index(probs: list[float], u: float) -> int:
    """The index whose cumulative-probability interval holds ``u`` in [0, 1)."""
    acc = 0.0
    for i, p in enumerate(probs):
        acc += p
        if u < acc:
            return i
    return len(probs) - 1  # rounding: the sum fell just short of 1


def infoset_key(state, player: int, perfect_info: bool) -> str:
    """The information state string (the history for perfect-information games, as the tree
    compiler keys them)."""
    return state.history_str() if perfect_info else state.information_state_string(player)


def external_traversal(state, player: int, table: InfosetTable, rng, updates: Updates, n_players: int,
                       regret_weight: float, average_weight: float, perfect_info: bool) -> float:
    """One external-sampling traversal below ``state`` for ``player``; returns the sampled value
    and appends the increments to ``updates`` (``table`` is only read)."""
    if state.is_terminal():
        return state.player_return(player)
    if state.is_chance_node():
        outcomes = state.chance_outcomes()
        k = sample_index([p for _, p in outcomes], rng.random())
        return external_traversal(state.child(outcomes[k][0]), player, table, rng, updates, n_players,
                                  regret_weight, average_weight, perfect_info)
    q = state.current_player()
    key = infoset_key(state, q, perfect_info)
    legal = state.legal_actions()
    n = len(legal)
    sigma = table.policy(key, n)
    if q == player:
        values = [external_traversal(state.child(a), player, table, rng, updates, n_players, regret_weight,
                                     average_weight, perfect_info) for a in legal]
        value = 0.0
        for s, v in zip(sigma, values):
            value += s * v
        updates.regret(key, n, [regret_weight * (v - value) for v in values])
        return value
    k = sample_index(sigma, rng.random())
    if q == (player + 1) % n_players:
        updates.average(key, n, [average_weight * s for s in sigma])
    return external_traversal(state.child(legal[k]), player, table, rng, updates, n_players, regret_weight,
                              average_weight, perfect_info)
