"""Contract cases of the sampled and neural CFR solvers: external- and outcome-sampling MCCFR
(with and without a compiled tree for the gap) and Deep CFR."""

from __future__ import annotations

import functools

from games.tree import compile_game
from solvers.cfr.factory import make_sampled_solver


@functools.cache
def _tree(game: str):
    return compile_game(game)


def _sampled(algo: str, game: str, with_tree: bool = True, **params):
    return lambda: make_sampled_solver(algo, game, _tree(game) if with_tree else None, **params)


TINY_DEEP_CFR = {"traversals": 4, "advantage_layers": [8], "policy_layers": [8], "advantage_train_steps": 3,
                 "policy_train_steps": 3, "batch_size_advantage": 16, "batch_size_strategy": 16, "seed": 3}

CASES = {
    "mccfr-es-kuhn": _sampled("mccfr-es", "kuhn_poker", seed=1, traversals=2),
    "mccfr-os-leduc-cfr": _sampled("mccfr-os", "leduc_poker", seed=2, rule="cfr", traversals=3),
    "mccfr-es-cfr+-no-tree": _sampled("mccfr-es", "kuhn_poker(players=3)", with_tree=False, rule="cfr+", seed=4),
    "deep-cfr-kuhn": _sampled("deep-cfr", "kuhn_poker", **TINY_DEEP_CFR),
}
STEPS = {"deep-cfr-kuhn": 4}
