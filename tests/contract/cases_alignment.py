"""Contract cases of alignment/: every tabular algorithm in exact and sampled mode (sampled
exercises the preference source's RNG), f-DPG with its targets and proposals, and MCCFR on a
small abstracted Werewolf game."""

from __future__ import annotations

import functools

import numpy as np

from alignment.lspo.abstraction import AbstractWerewolf
from alignment.lspo.mccfr import MCCFRConfig, MCCFRSolver
from alignment.tabular import TABULAR_ALGORITHMS
from games.preference import make_game

GAME = "random:4,contexts=2,seed=1,ref=1.0"


def _tabular(name: str, mode: str = "exact", game: str = GAME, **fields):
    cfg = TABULAR_ALGORITHMS.make_config(name, **fields)
    return TABULAR_ALGORITHMS[name].cls(make_game(game), cfg, mode=mode, samples=8, seed=5)


def _mccfr(utility: str = "shaped", averaging: str = "linear"):
    ks = {"werewolf": 3, "seer": 2, "doctor": 2, "villager": 2}
    emission = {role: np.full((k, 3), 1.0 / 3) for role, k in ks.items()}
    return MCCFRSolver(AbstractWerewolf(ks, emission), MCCFRConfig(traversals=6, utility=utility, averaging=averaging,
                                                                   seed=2))


# case id -> (algorithm, config fields); each runs in exact and in sampled mode
_VARIANTS = {
    "nash-mp": ("nash-mp", {}),
    "inpo": ("inpo", {}),
    "inpo-loss": ("inpo", {"fit": "loss", "loss_steps": 200}),
    "apo": ("apo", {"alpha": 0.3}),
    "apo-sppo": ("apo", {"alpha": 0.3, "inner": "sppo"}),
    "nash-md": ("nash-md", {"eta": 1.0}),
    "nash-md-decreasing": ("nash-md", {"schedule": "decreasing"}),
    "omd": ("omd", {}),
    "dpo": ("dpo", {}),
    "ipo": ("ipo", {"beta": 1.0}),
    "sppo": ("sppo", {}),
    "fdpg": ("fdpg", {}),
    "fdpg-pointwise-kl": ("fdpg", {"target": "pointwise", "divergence": "kl"}),
    "fdpg-distributional-rkl": ("fdpg", {"target": "distributional", "divergence": "rkl"}),
    "fdpg-offline": ("fdpg", {"proposal": "offline", "proposal_interval": 2, "baseline_window": 20}),
}

CASES = {
    f"{case}-{mode}": functools.partial(_tabular, name, mode, **fields)
    for case, (name, fields) in _VARIANTS.items()
    for mode in ("exact", "sampled")
}
CASES["mccfr-werewolf"] = _mccfr
CASES["mccfr-werewolf-win-uniform"] = functools.partial(_mccfr, "win", "uniform")
