"""MCCFR as a solver (the contract of gtlearn/core/solver.py), over any OpenSpiel game.

One :meth:`MCCFRSolver.step` is one iteration t: for each player p in turn, ``traversals``
sampled traversals (external or outcome sampling) against the table as it stood when p's
batch began, whose increments are then added in traversal order. With ``traversals=1`` this
is the sequential MCCFR of OpenSpiel's solvers (a traversal never reads an infoset it has
already updated). Every traversal draws from its own generator, seeded from (seed, t, p, k),
so a batch gives the same numbers whether it runs here or on Ray actors
(:mod:`solvers.distributed`), and the generator state after iteration t is a function of t:
the checkpoint records the seed and t, and a resumed run draws the same numbers.

Rules (docs/cfr.md, "Sampled CFR (MCCFR)"): ``lcfr``, the default (increments of iteration t
weighted by t, for regrets and average: Linear MCCFR, Brown & Sandholm 2019), ``cfr`` (regret
matching, uniform average: the MCCFR of the papers and of OpenSpiel's solvers) and ``cfr+``
(regret matching+ -- R clipped at 0 after each increment -- with the average weighted by t; no
convergence guarantee under sampling).

Policies: with a compiled ``tree`` (small enough to hold), :meth:`average_policy` and
:meth:`current_policy` are (num_infosets, max_actions) arrays over the tree's infosets and
:meth:`gap` is the exact exploitability of the average policy. Without one they are the
table's (rows, max_actions) arrays in table-row order (``solver.table.keys[row]`` names the
infoset; unseen infosets are absent) and :meth:`gap` is a stated approximation, the
*regret-bound estimate* sum_p sum_I max_a R(I, a)^+ / (N W), W the total iteration weight: the
sampled regrets are unbiased estimates of the counterfactual regrets, and NashConv <= sum_p
R_p / W for the true ones.
"""

from __future__ import annotations

import json
import random
from array import array
from dataclasses import asdict, dataclass

import numpy as np

from games.openspiel import load_game, resolve_game_string
from games.tree import GameTree
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import Metrics
from solvers.best_response import exploitability_record
from solvers.mccfr.external import external_traversal
from solvers.mccfr.outcome import outcome_traversal
from solvers.mccfr.tables import InfosetTable, Updates

SAMPLERS = ("external", "outcome")
RULES = ("lcfr", "cfr", "cfr+")


@dataclass
class MCCFRConfig:
    sampler: str = "external"  # external | outcome
    rule: str = "lcfr"  # lcfr | cfr | cfr+ (the rules sound under sampling; see the module docstring)
    traversals: int = 1  # per player per iteration
    epsilon: float = 0.6  # outcome sampling: exploration of the traverser's sampling policy
    seed: int = 0
    workers: int = 0  # Ray actors running the traversals (0: in this process)

    def __post_init__(self) -> None:
        if self.sampler not in SAMPLERS:
            raise ValueError(f"sampler must be one of {SAMPLERS}, not {self.sampler!r}")
        if self.rule not in RULES:
            raise ValueError(f"rule must be one of {RULES} under sampling, not {self.rule!r}")
        if self.traversals < 1 or self.workers < 0 or not 0.0 <= self.epsilon <= 1.0:
            raise ValueError("traversals >= 1, workers >= 0 and 0 <= epsilon <= 1 are required")


def traversal_seed(seed: int, iteration: int, player: int, k: int) -> int:
    """The seed of traversal k of ``player`` in iteration ``iteration`` (counter-based)."""
    return int(np.random.SeedSequence([seed, iteration, player, k]).generate_state(2, np.uint64)[0])


def checkpoint_fields(config, iteration: int) -> dict[str, np.ndarray]:
    """The checkpoint fields every sampled solver shares: the iteration, its generators' state
    (they are counter-based, so after iteration t it is (seed, t)) and its config."""
    return {"iteration": np.array(iteration),
            "rng": np.array(json.dumps({"kind": "counter", "seed": config.seed, "iteration": iteration})),
            "config": np.array(json.dumps(asdict(config), sort_keys=True))}


def check_checkpoint_config(state, config, what: str) -> None:
    """Refuse a checkpoint made with another config; the worker count may differ (the results do
    not depend on it)."""
    saved = json.loads(str(state["config"]))
    mine = asdict(config)
    if {k: v for k, v in saved.items() if k != "workers"} != {k: v for k, v in mine.items() if k != "workers"}:
        raise GtlearnError(f"checkpoint was made with {what} config {saved}, this solver has {mine}")


def run_traversals(game, table: InfosetTable, config: MCCFRConfig, iteration: int, player: int,
                   ks) -> list[list]:
    """The update records of traversals ``ks`` of ``player`` at ``iteration`` (read-only on
    ``table``): the unit of work shared by the local loop and the Ray actors."""
    weight = float(iteration) if config.rule in ("lcfr",) else 1.0
    avg_weight = float(iteration) if config.rule in ("lcfr", "cfr+") else 1.0
    n_players = game.num_players()
    perfect = _perfect_info(game)
    out = []
    for k in ks:
        rng = random.Random(traversal_seed(config.seed, iteration, player, k))
        updates = Updates()
        if config.sampler == "external":
            external_traversal(game.new_initial_state(), player, table, rng, updates, n_players, weight, avg_weight,
                               perfect)
        else:
            outcome_traversal(game.new_initial_state(), player, table, rng, updates, config.epsilon, weight,
                              avg_weight, perfect)
        out.append(updates.records)
    return out


def _perfect_info(game) -> bool:
    try:
        return not game.get_type().provides_information_state_string
    except AttributeError:
        return False


class MCCFRSolver:
    """External- or outcome-sampling MCCFR over pyspiel states (see the module docstring)."""

    def __init__(self, game, config: MCCFRConfig | None = None, *, tree: GameTree | None = None) -> None:
        self.config = config or MCCFRConfig()
        self.game_string = resolve_game_string(game) if isinstance(game, str) else str(game)
        self.game = load_game(self.game_string) if isinstance(game, str) else game
        if self.game.get_type().dynamics.name != "SEQUENTIAL":
            raise GtlearnError(f"MCCFR needs a sequential game; wrap {self.game_string!r} in turn_based_simultaneous_game")
        self.tree = tree
        self.n_players = self.game.num_players()
        self.table = InfosetTable()
        self.iteration = 0
        self._tree_rows = array("q")  # table row -> tree infoset (-1: not in the tree)
        self._tree_index: dict[str, int] | None = None
        self._pool = None
        if self.config.workers:
            from solvers.distributed import TraversalPool

            self._pool = TraversalPool(self.config.workers, MCCFRWorker, self.game_string, asdict(self.config))

    # -- iterations --------------------------------------------------------------------------
    def step(self) -> None:
        t = self.iteration + 1
        floor = 0.0 if self.config.rule == "cfr+" else None
        ks = range(self.config.traversals)
        for p in range(self.n_players):
            if self._pool is None:
                batches = run_traversals(self.game, self.table, self.config, t, p, ks)
            else:
                batches = self._pool.scatter("run", list(ks), t, p)
            for records in batches:
                apply_records(self.table, records, floor)
            if self._pool is not None:
                self._pool.broadcast("apply", [r for records in batches for r in records], floor)
        self.iteration = t

    # -- policies ----------------------------------------------------------------------------
    def _table_policy(self, which: str) -> tuple[np.ndarray, np.ndarray]:
        values, legal = self.table.padded(which, self.tree.max_actions if self.tree is not None else None)
        if which == "regret":
            values = np.maximum(values, 0.0)
        total = values.sum(axis=1, keepdims=True)
        uniform = legal / np.maximum(legal.sum(axis=1, keepdims=True), 1)
        return np.where(total > 0, values / np.where(total > 0, total, 1.0), uniform), legal

    def _on_tree(self, rows: np.ndarray) -> np.ndarray:
        tree = self.tree
        if self._tree_index is None:
            self._tree_index = tree.infoset_index()
        for key in self.table.keys[len(self._tree_rows):]:
            self._tree_rows.append(self._tree_index.get(key, -1))
        where = np.frombuffer(self._tree_rows, dtype=np.int64) if len(self._tree_rows) else np.zeros(0, np.int64)
        out = tree.uniform_policy()
        known = where >= 0
        out[where[known]] = rows[known][:, : tree.max_actions]
        return out

    def average_policy(self) -> np.ndarray:
        """S normalized per infoset (see the module docstring for the array's rows)."""
        rows, _ = self._table_policy("average")
        return self._on_tree(rows) if self.tree is not None else rows

    def current_policy(self) -> np.ndarray:
        """Regret matching of R per infoset (see the module docstring for the array's rows)."""
        rows, _ = self._table_policy("regret")
        return self._on_tree(rows) if self.tree is not None else rows

    def gap(self) -> Metrics:
        extra = {"infosets_seen": len(self.table), "traversals": self.iteration * self.config.traversals * self.n_players}
        bound = self.regret_bound()
        if self.tree is not None:
            record = exploitability_record(self.tree, self.average_policy(), self.iteration)
            record.extra.update(extra, regret_bound_estimate=bound)
            return record
        return Metrics(iteration=self.iteration, gap=bound, gap_name="regret_bound_estimate", extra=extra)

    def regret_bound(self) -> float:
        """sum_p sum_I max_a R(I, a)^+ / (N W): see the module docstring."""
        if self.iteration == 0 or not len(self.table):
            return 0.0
        regret, _ = self.table.padded("regret")
        t = self.iteration
        weight = t * (t + 1) / 2 if self.config.rule == "lcfr" else float(t)
        return float(np.maximum(regret, 0.0).max(axis=1).sum() / (self.n_players * weight))

    def close(self) -> None:
        """Release the Ray actors, if any (the solver keeps working, in this process)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        return {**self.table.state_dict("table/"), **checkpoint_fields(self.config, self.iteration)}

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        check_checkpoint_config(state, self.config, "MCCFR")
        self.table = InfosetTable.from_state_dict(state, "table/")
        self.iteration = int(state["iteration"])
        self._tree_rows = array("q")
        if self._pool is not None:
            self._pool.broadcast("reset", self.table.state_dict("table/"))


def apply_records(table: InfosetTable, records: list, floor: float | None) -> None:
    updates = Updates()
    updates.records = records
    updates.apply(table, floor)


class MCCFRWorker:
    """A Ray actor's replica: the game, the config and a copy of the table that follows the
    driver's (every applied update is broadcast to it, in order)."""

    def __init__(self, game_string: str, config: dict) -> None:
        self.game = load_game(game_string)
        self.config = MCCFRConfig(**config)
        self.table = InfosetTable()

    def run(self, ks: list[int], iteration: int, player: int) -> list[list]:
        return run_traversals(self.game, self.table, self.config, iteration, player, ks)

    def apply(self, records: list, floor: float | None) -> None:
        apply_records(self.table, records, floor)

    def reset(self, state: dict) -> None:
        self.table = InfosetTable.from_state_dict(state, "table/")
