"""Deep CFR as a solver (Brown, Lerer, Gross & Sandholm, "Deep Counterfactual Regret
Minimization", ICML 2019), on the conventions of OpenSpiel's PyTorch Deep CFR (module
``open_spiel.python.pytorch.deep_cfr``) so that the two compare: one advantage network per
player, re-initialized and trained from its reservoir buffer after the player's traversals in
every iteration; one average-policy network (softmax output) trained on the strategy buffer;
losses are MSE with every sample weighted by its iteration t (sqrt(t) on outputs and targets,
i.e. Linear CFR weighting); samples are recorded with iteration t, t = 1 first.

Differences, all on purpose (docs/cfr.md): every random draw comes from a generator seeded by
counters (seed, t, player, traversal), so results do not depend on the process that draws them
(Ray actors give the local numbers) and a resumed run continues bit for bit; the average
policy is renormalized over legal actions (OpenSpiel returns the network's raw legal entries);
network outputs are cached per infoset within an iteration (the networks do not change there).

One :meth:`DeepCFRSolver.step` is one Deep CFR iteration. The average-policy network is
trained on demand (by :meth:`average_policy` / :meth:`gap`) from the strategy buffer as it is
at that iteration, from fresh seeded weights, so measuring never changes the run. With a
compiled ``tree`` the policies are (num_infosets, max_actions) arrays over its infosets and
:meth:`gap` is the exact exploitability of the average policy; without one,
:meth:`average_policy` returns the network's action probabilities on the strategy buffer's
info-state tensors ((rows, num_distinct_actions), not masked) and :meth:`gap` reports the mean
last advantage-network loss (``gap_name = "advantage_loss"``, not an exploitability).
"""

from __future__ import annotations

import random
from dataclasses import asdict

import numpy as np
import torch

from games.openspiel import load_game, resolve_game_string
from games.tree import GameTree
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import Metrics
from solvers.best_response import exploitability_record
from solvers.deep_cfr.buffers import ReservoirBuffer
from solvers.deep_cfr.config import DeepCFRConfig
from solvers.deep_cfr.nets import MLP, load_weights, weights
from solvers.deep_cfr.traversal import NetPolicy, traverse
from solvers.mccfr.solver import check_checkpoint_config, checkpoint_fields, traversal_seed

RESERVOIR, INIT, TRAIN, POLICY = 1 << 20, 2 << 20, 3 << 20, 4 << 20  # stream ids mixed into the seeds


def run_traversals(game, nets, num_actions: int, seed: int, iteration: int, player: int, ks) -> list[tuple]:
    """Per traversal k: (advantage states, regrets, strategy states, strategies) as arrays."""
    policy = NetPolicy(nets, num_actions)
    out = []
    for k in ks:
        rng = random.Random(traversal_seed(seed, iteration, player, k))
        adv, strat = [], []
        traverse(game.new_initial_state(), player, policy, rng, adv, strat)
        out.append(tuple(_stack(rows, i) for rows in (adv, strat) for i in (0, 1)))
    return out


def _stack(rows: list, i: int) -> np.ndarray:
    return np.stack([r[i] for r in rows]) if rows else np.zeros((0, 0), np.float32)



def infoset_tensors(game, tree: GameTree) -> np.ndarray:
    """The information-state tensor of every infoset of ``tree``, in the tree's infoset order
    (one walk of the game)."""
    index = tree.infoset_index()
    x = np.zeros((tree.num_infosets, len(game.new_initial_state().information_state_tensor(0))), dtype=np.float32)
    stack = [game.new_initial_state()]
    while stack:
        state = stack.pop()
        if state.is_terminal():
            continue
        if not state.is_chance_node():
            q = state.current_player()
            x[index[state.information_state_string(q)]] = state.information_state_tensor(q)
        acts = [a for a, _ in state.chance_outcomes()] if state.is_chance_node() else state.legal_actions()
        stack.extend(state.child(a) for a in acts)
    return x

class DeepCFRSolver:
    """Deep CFR over pyspiel states (see the module docstring)."""

    def __init__(self, game, config: DeepCFRConfig | None = None, *, tree: GameTree | None = None) -> None:
        self.config = c = config or DeepCFRConfig()
        self.game_string = resolve_game_string(game) if isinstance(game, str) else str(game)
        self.game = load_game(self.game_string) if isinstance(game, str) else game
        if self.game.get_type().dynamics.name != "SEQUENTIAL":
            raise GtlearnError(f"Deep CFR needs a sequential game; wrap {self.game_string!r} in turn_based_simultaneous_game")
        self.tree = tree
        self.n_players = self.game.num_players()
        self.num_actions = self.game.num_distinct_actions()
        self.input_size = len(self.game.new_initial_state().information_state_tensor(0))
        self.adv_nets = [MLP(self.input_size, c.advantage_layers, self.num_actions) for _ in range(self.n_players)]
        for p, net in enumerate(self.adv_nets):
            net.reset(traversal_seed(c.seed, 0, p, INIT))
        self.policy_net = MLP(self.input_size, c.policy_layers, self.num_actions, softmax=True)
        self.adv_buffers = [ReservoirBuffer(c.memory_capacity, self.input_size, self.num_actions)
                            for _ in range(self.n_players)]
        self.strategy_buffer = ReservoirBuffer(c.memory_capacity, self.input_size, self.num_actions)
        self.losses = np.full(self.n_players, np.nan)
        self.iteration = 0
        self._policy_trained_at = -1
        self._tree_inputs = None
        self._pool = None
        if c.workers:
            from solvers.distributed import TraversalPool

            self._pool = TraversalPool(c.workers, DeepCFRWorker, self.game_string, asdict(c), torch.get_num_threads())
            self._pool.broadcast("load", self._all_weights())

    def _all_weights(self) -> dict[str, np.ndarray]:
        out: dict[str, np.ndarray] = {}
        for p, net in enumerate(self.adv_nets):
            out.update(weights(net, f"adv/{p}"))
        return out

    # -- iterations --------------------------------------------------------------------------
    def step(self) -> None:
        t = self.iteration + 1
        c = self.config
        ks = list(range(c.traversals))
        for p in range(self.n_players):
            if self._pool is None:
                batches = run_traversals(self.game, self.adv_nets, self.num_actions, c.seed, t, p, ks)
            else:
                batches = self._pool.scatter("run", ks, t, p)
            rng = np.random.default_rng(traversal_seed(c.seed, t, p, RESERVOIR))
            for adv_x, adv_y, strat_x, strat_y in batches:
                self.adv_buffers[p].extend(adv_x, t, adv_y, rng)
                self.strategy_buffer.extend(strat_x, t, strat_y, rng)
            net = self.adv_nets[p]
            net.reset(traversal_seed(c.seed, t, p, INIT))
            self.losses[p] = self._train(net, self.adv_buffers[p], c.advantage_train_steps, c.batch_size_advantage,
                                         traversal_seed(c.seed, t, p, TRAIN))
            if self._pool is not None:
                self._pool.broadcast("load", weights(net, f"adv/{p}"))
        self.iteration = t

    def _train(self, net: MLP, buffer: ReservoirBuffer, steps: int, batch: int | None, seed: int) -> float:
        """``steps`` Adam steps on sqrt(t)-weighted MSE; returns the last loss (nan if empty)."""
        if len(buffer) == 0:
            return float("nan")
        rng = np.random.default_rng(seed)
        optimizer = torch.optim.Adam(net.parameters(), lr=self.config.learning_rate)
        loss_value = float("nan")
        for _ in range(steps):
            x, it, y = buffer.sample(batch, rng)
            w = torch.from_numpy(np.sqrt(it))[:, None]
            optimizer.zero_grad()
            loss = torch.mean((w * net(torch.from_numpy(x)) - w * torch.from_numpy(y)) ** 2)
            loss.backward()
            optimizer.step()
            loss_value = float(loss.detach())
        return loss_value

    def _policy_network(self) -> MLP:
        """The average-policy network trained on the strategy buffer of this iteration."""
        if self._policy_trained_at != self.iteration:
            c = self.config
            self.policy_net.reset(traversal_seed(c.seed, self.iteration, self.n_players, POLICY))
            self._train(self.policy_net, self.strategy_buffer, c.policy_train_steps, c.batch_size_strategy,
                        traversal_seed(c.seed, self.iteration, self.n_players, POLICY + TRAIN))
            self._policy_trained_at = self.iteration
        return self.policy_net

    # -- policies ----------------------------------------------------------------------------
    def _tree_states(self) -> np.ndarray:
        """The info-state tensor of every tree infoset (one walk of the game, done once)."""
        if self._tree_inputs is None:
            self._tree_inputs = infoset_tensors(self.game, self.tree)
        return self._tree_inputs

    def _on_tree(self, scores: np.ndarray, regret_matching: bool) -> np.ndarray:
        tree = self.tree
        rows = np.take_along_axis(scores, np.maximum(tree.actions, 0).astype(np.int64), axis=1)
        rows = np.where(tree.legal, np.maximum(rows, 0.0) if regret_matching else rows, 0.0)
        total = rows.sum(axis=1, keepdims=True)
        if regret_matching:  # no positive advantage: all mass on the largest one (OpenSpiel)
            best = np.argmax(np.where(tree.legal, np.take_along_axis(scores, np.maximum(tree.actions, 0).astype(np.int64),
                                                                      axis=1), -np.inf), axis=1)
            fallback = np.arange(tree.max_actions)[None, :] == best[:, None]
        else:
            fallback = tree.legal / tree.legal.sum(axis=1, keepdims=True)
        return np.where(total > 0, rows / np.where(total > 0, total, 1.0), fallback).astype(np.float64)

    def average_policy(self):
        """The average-policy network's policy (see the module docstring for its form)."""
        net = self._policy_network()
        with torch.inference_mode():
            if self.tree is None:
                n = len(self.strategy_buffer)
                return net(torch.from_numpy(self.strategy_buffer.info_state[:n])).double().numpy()
            return self._on_tree(net(torch.from_numpy(self._tree_states())).double().numpy(), False)

    def current_policy(self):
        """Regret matching of the advantage networks (tree infosets; needs a tree)."""
        if self.tree is None:
            raise GtlearnError("Deep CFR's current policy as an array needs a compiled tree")
        x = self._tree_states()
        scores = np.zeros((self.tree.num_infosets, self.num_actions))
        with torch.inference_mode():
            for p in range(self.n_players):
                b = self.tree.infosets_of(p)
                scores[b] = self.adv_nets[p](torch.from_numpy(x[b])).double().numpy()
        return self._on_tree(scores, True)

    def gap(self) -> Metrics:
        extra = {"advantage_loss": [None if np.isnan(v) else float(v) for v in self.losses],
                 "buffer_sizes": [len(b) for b in self.adv_buffers] + [len(self.strategy_buffer)]}
        if self.tree is not None:
            record = exploitability_record(self.tree, self.average_policy(), self.iteration)
            record.extra.update(extra)
            return record
        loss = float(np.nanmean(self.losses)) if self.iteration else float("nan")
        return Metrics(iteration=self.iteration, gap=loss, gap_name="advantage_loss", extra=extra)

    def close(self) -> None:
        """Release the Ray actors, if any (the solver keeps working, in this process)."""
        if self._pool is not None:
            self._pool.close()
            self._pool = None

    # -- checkpoints -------------------------------------------------------------------------
    def state_dict(self) -> dict[str, np.ndarray]:
        out = self._all_weights()
        for p, buf in enumerate(self.adv_buffers):
            out.update(buf.state_dict(f"adv_buffer/{p}"))
        out.update(self.strategy_buffer.state_dict("strategy_buffer"))
        out["losses"] = self.losses.copy()
        out.update(checkpoint_fields(self.config, self.iteration))
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        check_checkpoint_config(state, self.config, "Deep CFR")
        for p, net in enumerate(self.adv_nets):
            load_weights(net, state, f"adv/{p}")
            self.adv_buffers[p].load_state_dict(state, f"adv_buffer/{p}")
        self.strategy_buffer.load_state_dict(state, "strategy_buffer")
        self.losses = np.array(state["losses"], dtype=np.float64)
        self.iteration = int(state["iteration"])
        self._policy_trained_at = -1
        if self._pool is not None:
            self._pool.broadcast("load", self._all_weights())


class DeepCFRWorker:
    """A Ray actor's replica of the advantage networks (the driver broadcasts each retrained
    network), running traversals for the driver."""

    def __init__(self, game_string: str, config: dict, threads: int) -> None:
        torch.set_num_threads(threads)
        self.game = load_game(game_string)
        self.config = DeepCFRConfig(**config)
        n_in = len(self.game.new_initial_state().information_state_tensor(0))
        self.num_actions = self.game.num_distinct_actions()
        self.nets = [MLP(n_in, self.config.advantage_layers, self.num_actions) for _ in range(self.game.num_players())]

    def load(self, data: dict) -> None:
        for p, net in enumerate(self.nets):
            if any(k.startswith(f"adv/{p}/") for k in data):
                load_weights(net, data, f"adv/{p}")

    def run(self, ks: list[int], iteration: int, player: int) -> list[tuple]:
        return run_traversals(self.game, self.nets, self.num_actions, self.config.seed, iteration, player, ks)
