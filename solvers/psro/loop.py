"""Policy-Space Response Oracles with separate training and evaluation meta-solvers.

PSRO: Lanctot et al. 2017, "A unified game-theoretic approach to multiagent reinforcement
learning"; separate train/eval meta-solvers and the benchmark protocol: Li, Schultz, Hennes &
Lanctot, arXiv:2602.16928 v1 (SHOR-PSRO). Conventions and deviations: docs/psro.md.

    Pi_p <- [uniform random policy];  M <- exact meta-game
    e_0 <- Expl(agg(Pi, ev(M)))
    for k = 1..K:
        phi <- train(M, k)                       # exactly one training call per iteration
        b_p <- BR_p(agg(Pi, phi)_-p) for all p   # exact, uniform tie-breaking; same phi for all
        Pi_p.append(b_p)                         # no deduplication
        extend M exactly;  psi <- ev(M);  e_k <- Expl(agg(Pi, psi))

Choices the paper leaves open (each a documented default, docs/psro.md):
* the initial population is the uniform random policy (OpenSpiel's ``PSROSolver``);
  ``initial_policy="best_response"`` starts from each player's first best response to uniform;
* e_k is measured after the expansion;
* identical best responses are not deduplicated (as in OpenSpiel).

Two exact shortcuts, neither of which changes a number: when the same stateless, deterministic
meta-solver with the same parameters sits in both slots, the training output of iteration k+1
is the evaluation output of iteration k (same meta-game), and is reused; and when the training
profile equals the last evaluated profile, the best responses computed for the exploitability
(also uniform tie-breaking) are reused as the oracle's output.

Speed options (opt-in; the defaults reproduce the reference numbers bit for bit):
``oracle_backend="numba"`` computes the best responses and the exploitability on the compiled
kernels (same values up to summation order); ``meta_form="factored"`` hands the meta-solvers the
meta-game as a :class:`games.matrix.FactoredGame` (a sum over terminal histories of products of
per-sequence realization weights) and keeps no dense tensors unless a meta-solver asks for them;
``"auto"`` picks the cheaper of the two forms per game from the final population size.

Checkpoints: :meth:`PSROSolver.state_dict` holds everything the next iteration reads (the
populations, their realization weights, the meta-game, both meta-solvers' ``state`` -- SHOR's
annealing call counter included --, the last evaluation profile and its best responses, and
the history) as plain arrays; :func:`gtlearn.core.driver.drive` saves it atomically every ``checkpoint_every``
iterations and a resumed run continues to bit-identical numbers.
"""

from __future__ import annotations

import json
import time
from dataclasses import dataclass, field, fields

import numpy as np

from games.tree import GameTree
from gtlearn.core.backend import get_xp
from gtlearn.core.errors import GtlearnError
from gtlearn.core.metrics import Metrics
from solvers.best_response import expected_values
from solvers.psro.meta_solvers import MetaSolver, make_meta_solver, normalise
from solvers.psro.oracle import aggregate, best_response_oracle, realization_weights
from solvers.psro.payoffs import MetaGame
from solvers.sweeps import Sweeps


@dataclass
class PSROConfig:
    """Settings of one PSRO run. ``eval_meta=None`` uses the training solver's id in the
    evaluation slot too (``shor`` becomes ``shor-eval``), the baselines' convention."""

    train_meta: str | MetaSolver = "uniform"
    eval_meta: str | MetaSolver | None = None
    train_kwargs: dict = field(default_factory=dict)
    eval_kwargs: dict = field(default_factory=dict)
    initial_policy: str = "uniform"
    device: str = "cpu"  # array namespace the meta-solvers run on (cpu: NumPy, cuda: CuPy)
    oracle_backend: str = "numpy"  # "numpy": the reference sweeps; "numba": the compiled kernels
    meta_form: str = "dense"  # "dense" | "factored" | "auto" (cheaper form at population ``auto_size``)
    auto_size: int = 101


@dataclass
class IterationRecord:
    iteration: int
    exploitability: float
    nash_conv: float
    population: int
    seconds_train_meta: float = 0.0
    seconds_oracle: float = 0.0
    seconds_payoffs: float = 0.0
    seconds_eval_meta: float = 0.0
    seconds_eval: float = 0.0

    def metrics(self) -> Metrics:
        extra = {k: v for k, v in vars(self).items() if k not in ("iteration", "exploitability")}
        return Metrics(iteration=self.iteration, gap=self.exploitability, extra=extra)


def choose_form(meta_game: MetaGame, size: int) -> str:
    """"dense" or "factored": whichever contraction is cheaper with ``size`` policies each
    (:meth:`games.matrix.FactoredGame.contraction_costs`)."""
    dense_cost, factored_cost = meta_game.factored().contraction_costs((size,) * meta_game.num_players)
    return "factored" if factored_cost < dense_cost else "dense"


class PSROSolver:
    """PSRO on a compiled game tree with an exact oracle and exact meta-game payoffs.

    >>> solver = PSROSolver(compile_game("kuhn_poker"), PSROConfig("nash"))
    >>> drive(solver, 20).final_gap      # gtlearn.core.driver
    """

    def __init__(self, tree: GameTree, config: PSROConfig | None = None, **kwargs) -> None:
        self.tree = tree
        self.config = config or PSROConfig(**kwargs)
        cfg = self.config
        if cfg.initial_policy not in ("uniform", "best_response"):
            raise GtlearnError(f"initial_policy must be 'uniform' or 'best_response', not {cfg.initial_policy!r}")
        self.xp = get_xp(cfg.device)
        self.train_solver = make_meta_solver(cfg.train_meta, "train", **cfg.train_kwargs)
        eval_spec = cfg.eval_meta if cfg.eval_meta is not None else cfg.train_meta
        if isinstance(eval_spec, MetaSolver) and eval_spec is self.train_solver:
            raise GtlearnError("the training and evaluation slots need separate meta-solver instances")
        self.eval_solver = make_meta_solver(eval_spec, "eval", **cfg.eval_kwargs)
        self._reuse_eval = (
            self.train_solver.stateless and self.eval_solver.stateless and self.train_solver.key() == self.eval_solver.key()
        )
        if cfg.oracle_backend not in ("numpy", "numba"):
            raise GtlearnError(f"oracle_backend must be 'numpy' or 'numba', not {cfg.oracle_backend!r}")
        if cfg.meta_form not in ("dense", "factored", "auto"):
            raise GtlearnError(f"meta_form must be 'dense', 'factored' or 'auto', not {cfg.meta_form!r}")
        self.sweeps = Sweeps(tree)
        self._oracle_sweeps = self.sweeps if cfg.oracle_backend == "numpy" else None
        n = tree.num_players
        self.num_players = n
        self.iteration = 0
        self.policies = [np.zeros((0, *tree.legal[tree.infosets_of(p)].shape)) for p in range(n)]
        self.infoset_weights = [np.zeros((0, tree.infosets_of(p).stop - tree.infosets_of(p).start)) for p in range(n)]
        self.meta_game = MetaGame(tree, self.sweeps, dense=cfg.meta_form == "dense")
        if cfg.meta_form == "auto" and choose_form(self.meta_game, cfg.auto_size) == "dense":
            self.meta_game = MetaGame(tree, self.sweeps)
        self.history: list[IterationRecord] = []
        self.train_calls = 0
        self.eval_profile: list[np.ndarray] | None = None
        self._last_eval_output: tuple[tuple[int, ...], list[np.ndarray]] | None = None
        self._br_cache: tuple[list[np.ndarray], list[np.ndarray]] | None = None

        uniform = tree.uniform_policy()
        if cfg.initial_policy == "uniform":
            self._append([uniform[tree.infosets_of(p)] for p in range(n)])
        else:
            self._append([best_response_oracle(tree, uniform, p, self._oracle_sweeps)[1] for p in range(n)])
        self.history.append(self._evaluate(IterationRecord(0, np.nan, np.nan, 1)))

    # -- populations -----------------------------------------------------------------------
    def _full_policy(self, player: int, rows: np.ndarray) -> np.ndarray:
        full = self.tree.uniform_policy()
        full[self.tree.infosets_of(player)] = rows
        return full

    def _append(self, new_rows: list[np.ndarray]) -> None:
        terminal = []
        for p, rows in enumerate(new_rows):
            x_inf, x_term = realization_weights(self.tree, self.sweeps, self._full_policy(p, rows), p)
            self.policies[p] = np.concatenate([self.policies[p], rows[None]])
            self.infoset_weights[p] = np.vstack([self.infoset_weights[p], x_inf[None]])
            terminal.append(x_term[None])
        self.meta_game.extend(terminal)

    def profile_policy(self, phis: list[np.ndarray]) -> np.ndarray:
        """agg(Pi, phi) as one behaviour-policy array over all infosets."""
        return aggregate(self.tree, self.policies, self.infoset_weights, phis)

    def _meta_payoffs(self):
        if not self.meta_game.dense:
            return self.meta_game.factored()
        return [self.xp.asarray(m) for m in self.meta_game.tensors]

    # -- meta-solvers ----------------------------------------------------------------------
    def _call_train(self, t: int) -> list[np.ndarray]:
        sizes = self.meta_game.sizes
        self.train_calls += 1
        if self._reuse_eval and self._last_eval_output is not None and self._last_eval_output[0] == sizes:
            return [w.copy() for w in self._last_eval_output[1]]
        phi = normalise(self.train_solver(self._meta_payoffs(), t), sizes, f"training meta-solver {self.train_solver.name!r}")
        calls = self.train_solver.state.get("calls")
        if calls is not None and calls != t:
            raise RuntimeError(f"training meta-solver call counter {calls} drifted from the PSRO iteration {t}")
        return phi

    def _call_eval(self) -> list[np.ndarray]:
        sizes = self.meta_game.sizes
        psi = normalise(self.eval_solver(self._meta_payoffs()), sizes, f"evaluation meta-solver {self.eval_solver.name!r}")
        self._last_eval_output = (sizes, [w.copy() for w in psi])
        return psi

    # -- one iteration ---------------------------------------------------------------------
    def _evaluate(self, rec: IterationRecord) -> IterationRecord:
        t0 = time.perf_counter()
        psi = self._call_eval()
        rec.seconds_eval_meta = time.perf_counter() - t0
        t0 = time.perf_counter()
        policy = self.profile_policy(psi)
        on_policy = expected_values(self.tree, policy, self._oracle_sweeps)
        values, brs = [], []
        for p in range(self.num_players):
            v, rows = best_response_oracle(self.tree, policy, p, self._oracle_sweeps)
            values.append(v)
            brs.append(rows)
        gains = np.array(values) - on_policy
        rec.nash_conv = float(gains.sum())
        rec.exploitability = rec.nash_conv / self.num_players
        rec.seconds_eval = time.perf_counter() - t0
        self.eval_profile = psi
        self._br_cache = (psi, brs)
        return rec

    def step(self) -> None:
        t = self.iteration + 1
        rec = IterationRecord(t, np.nan, np.nan, 0)
        t0 = time.perf_counter()
        phi = self._call_train(t)
        rec.seconds_train_meta = time.perf_counter() - t0
        t0 = time.perf_counter()
        cached = self._br_cache
        if cached is not None and all(np.array_equal(a, b) for a, b in zip(cached[0], phi)):
            brs = cached[1]
        else:
            policy = self.profile_policy(phi)  # every best response targets the same phi
            brs = [best_response_oracle(self.tree, policy, p, self._oracle_sweeps)[1] for p in range(self.num_players)]
        rec.seconds_oracle = time.perf_counter() - t0
        t0 = time.perf_counter()
        self._append(brs)
        rec.seconds_payoffs = time.perf_counter() - t0
        self.iteration = t
        rec.population = self.meta_game.sizes[0]
        self.history.append(self._evaluate(rec))

    def gap(self) -> Metrics:
        """e_k: the exact exploitability of the evaluation profile, measured after each expansion."""
        return self.history[-1].metrics()

    # -- checkpoints ------------------------------------------------------------------------
    STATE_VERSION = 1

    def state_dict(self) -> dict[str, np.ndarray]:
        """Everything the following iterations read, as npz-friendly arrays (no pickle)."""
        n = self.num_players
        out: dict[str, np.ndarray] = {
            "psro_state_version": np.array(self.STATE_VERSION),
            "iteration": np.array(self.iteration),
            "train_calls": np.array(self.train_calls),
            "meta_solvers": np.array(json.dumps([repr(self.train_solver), repr(self.eval_solver)])),
            "history": np.array([[float(getattr(r, f.name)) for f in fields(IterationRecord)] for r in self.history]),
        }
        for p in range(n):
            out[f"policies_{p}"] = self.policies[p]
            out[f"infoset_weights_{p}"] = self.infoset_weights[p]
            out[f"eval_profile_{p}"] = self.eval_profile[p]
            out[f"br_cache_{p}"] = self._br_cache[1][p]
        out.update({f"meta_game.{k}": v for k, v in self.meta_game.state_dict().items()})
        for slot, solver in (("train", self.train_solver), ("eval", self.eval_solver)):
            out.update({f"{slot}_state.{k}": v for k, v in solver.state_dict().items()})
        return out

    def load_state_dict(self, state: dict[str, np.ndarray]) -> None:
        """Continue from :meth:`state_dict` of a solver with the same game and meta-solvers."""
        n = self.num_players
        try:
            version = int(state["psro_state_version"])
            if version != self.STATE_VERSION:
                raise GtlearnError(f"PSRO checkpoint format {version} is not {self.STATE_VERSION}")
            saved = json.loads(str(state["meta_solvers"]))
            now = [repr(self.train_solver), repr(self.eval_solver)]
            if saved != now:
                raise GtlearnError(f"the checkpoint was made with meta-solvers {saved}, not {now}")
            policies = [np.array(state[f"policies_{p}"], dtype=np.float64) for p in range(n)]
            weights = [np.array(state[f"infoset_weights_{p}"], dtype=np.float64) for p in range(n)]
            eval_profile = [np.array(state[f"eval_profile_{p}"], dtype=np.float64) for p in range(n)]
            brs = [np.array(state[f"br_cache_{p}"], dtype=np.float64) for p in range(n)]
            for p in range(n):
                block = self.tree.legal[self.tree.infosets_of(p)]
                k = policies[p].shape[0]
                if (policies[p].shape[1:] != block.shape or weights[p].shape != (k, block.shape[0])
                        or eval_profile[p].shape != (k,) or brs[p].shape != block.shape):
                    raise GtlearnError(f"the checkpoint's arrays for player {p} do not fit {self.tree.game_string}")
            meta = {k.split(".", 1)[1]: v for k, v in state.items() if k.startswith("meta_game.")}
            try:
                self.meta_game.load_state_dict(meta)
            except ValueError as exc:
                raise GtlearnError(f"the checkpoint's meta-game does not fit: {exc}") from exc
            if self.meta_game.sizes != tuple(x.shape[0] for x in policies):
                raise GtlearnError("the checkpoint's meta-game and populations have different sizes")
            for slot, solver in (("train", self.train_solver), ("eval", self.eval_solver)):
                solver.load_state_dict({k.split(".", 1)[1]: v for k, v in state.items() if k.startswith(f"{slot}_state.")})
            names = [f.name for f in fields(IterationRecord)]
            ints = {"iteration", "population"}
            self.history = [
                IterationRecord(**{name: int(v) if name in ints else float(v) for name, v in zip(names, row)})
                for row in np.asarray(state["history"], dtype=np.float64).reshape(-1, len(names))
            ]
            self.iteration = int(state["iteration"])
            self.train_calls = int(state["train_calls"])
        except KeyError as exc:
            raise GtlearnError(f"the PSRO checkpoint lacks {exc}") from exc
        self.policies, self.infoset_weights = policies, weights
        self.eval_profile = eval_profile
        self._last_eval_output = (self.meta_game.sizes, [w.copy() for w in eval_profile])
        self._br_cache = (eval_profile, brs)

    def average_policy(self) -> np.ndarray:
        """The evaluation meta-solver's profile agg(Pi, psi) as a behaviour policy: PSRO's output."""
        return self.profile_policy(self.eval_profile)

    def current_policy(self) -> np.ndarray:
        """The same profile: PSRO keeps no iterate apart from its evaluated mixture."""
        return self.average_policy()
