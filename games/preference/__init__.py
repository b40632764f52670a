"""Finite preference games and their exact β-regularized Nash equilibrium.

A preference game has contexts x (prompts) with weights ρ(x), a finite response set
Y = {0..n-1} per context, a preference tensor ``P[x, y, y'] = P(y ≻ y' | x)`` with
``P + Pᵀ = 1`` (so ``P(y ≻ y) = ½``), and a reference policy ``ref[x, y] = π_ref(y|x)``.

For β > 0 the game ``J_β(π, π') = P(π ≻ π') − β·KL(π‖π_ref) + β·KL(π'‖π_ref)`` has a unique
symmetric Nash equilibrium π*_β, the fixed point of the regularized best response
``BR_β(π)(y) ∝ π_ref(y)·exp(P(y ≻ π)/β)`` (spec ``shared/specs/alignment.md`` §1).
:func:`regularized_nash` computes it to 1e-12 with the exact Nash-MP iteration at λ = ½,
which contracts KL(π*‖π) by 1/(1+2β) per iteration (Nash Mirror Prox: Tiapkin et al., 2025,
"Accelerating Nash Learning from Human Feedback via Mirror Prox"; the contraction constant is
the spec's derivation and is checked by the tests).

Generators: :func:`cyclic` (rock–paper–scissors tournaments), :func:`random_intransitive`,
:func:`tournament` (random 0/1 tournaments), :func:`bradley_terry` (transitive σ(r_i − r_j)),
:func:`mixture`; :func:`make_game` parses CLI strings such as ``"cyclic:5"``.
Files are ``.npz`` (arrays + a JSON metadata string, loaded with ``allow_pickle=False``) or
``.json``.
"""

from __future__ import annotations

import json
import math
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Sequence

import numpy as np

from gtlearn.core.errors import GtlearnError

__all__ = [
    "PreferenceGame",
    "MatrixPreference",
    "cyclic",
    "random_intransitive",
    "tournament",
    "bradley_terry",
    "mixture",
    "make_game",
    "win_prob",
    "best_response",
    "log_best_response",
    "regularized_exploitability",
    "regularized_nash",
    "solve_regularized_nash",
    "maximal_lottery",
    "GAME_KINDS",
]

# Dirichlet draws with small concentration underflow to exact zeros; the regularized game
# needs a full-support reference (KL(π‖π_ref) must be finite), so references are floored.
_REF_FLOOR = 1e-12


@dataclass
class PreferenceGame:
    """A finite preference game (see module docstring).

    Attributes:
        P: ``[X, n, n]`` preference tensor, ``P[x, i, j] = P(i ≻ j | x)``.
        ref: ``[X, n]`` reference policy, rows on the simplex with full support.
        rho: ``[X]`` context weights (normalized to sum to one).
        responses: optional response strings, one list of ``n`` strings per context.
        name: a label (the generator string for generated games).
    """

    P: np.ndarray
    ref: np.ndarray
    rho: np.ndarray | None = None
    responses: list[list[str]] | None = None
    name: str = "preference"

    def __post_init__(self) -> None:
        P = np.asarray(self.P, dtype=np.float64)
        if P.ndim == 2:
            P = P[None]
        if P.ndim != 3 or P.shape[1] != P.shape[2]:
            raise GtlearnError(f"preference tensor must have shape [contexts, n, n], got {P.shape}")
        X, n, _ = P.shape
        if n < 2:
            raise GtlearnError("a preference game needs at least 2 responses per context")
        if not np.all(np.isfinite(P)) or P.min() < -1e-12 or P.max() > 1 + 1e-12:
            raise GtlearnError("preference probabilities must lie in [0, 1]")
        if np.max(np.abs(P + np.swapaxes(P, 1, 2) - 1.0)) > 1e-9:
            raise GtlearnError("preference tensor must satisfy P + P^T = 1 (hence P(y > y) = 1/2)")
        # Make P + Pᵀ = 1 hold exactly: keep the upper triangle, derive the rest. (Idempotent,
        # so a saved game reloads bit for bit.)
        iu, ju = np.triu_indices(n, 1)
        P = P.copy()
        P[:, ju, iu] = 1.0 - P[:, iu, ju]
        P[:, np.arange(n), np.arange(n)] = 0.5
        ref = np.asarray(self.ref, dtype=np.float64)
        if ref.ndim == 1:
            ref = np.broadcast_to(ref, (X, n)).copy()
        if ref.shape != (X, n):
            raise GtlearnError(f"reference policy must have shape {(X, n)}, got {ref.shape}")
        if not np.all(np.isfinite(ref)) or ref.min() <= 0:
            raise GtlearnError("reference policy must have full support (all probabilities > 0)")
        if np.max(np.abs(ref.sum(axis=1) - 1.0)) > 1e-12:
            ref = ref / ref.sum(axis=1, keepdims=True)
        rho = np.full(X, 1.0 / X) if self.rho is None else np.asarray(self.rho, dtype=np.float64).reshape(-1)
        if rho.shape != (X,) or rho.min() < 0 or rho.sum() <= 0:
            raise GtlearnError(f"context weights must be {X} non-negative numbers with a positive sum")
        if abs(rho.sum() - 1.0) > 1e-12:
            rho = rho / rho.sum()
        if self.responses is not None:
            if len(self.responses) != X or any(len(r) != n for r in self.responses):
                raise GtlearnError(f"responses must be {X} lists of {n} strings")
            self.responses = [[str(s) for s in r] for r in self.responses]
        self.P, self.ref, self.rho = P, ref, rho

    # -- shape ----------------------------------------------------------------------------
    @property
    def num_contexts(self) -> int:
        return int(self.P.shape[0])

    @property
    def num_responses(self) -> int:
        return int(self.P.shape[1])

    # -- preferences between policies ------------------------------------------------------
    def win_prob(self, pi: np.ndarray) -> np.ndarray:
        """``P(y ≻ π | x)`` for every response: ``[X, n]``."""
        return win_prob(self.P, pi)

    def preference(self, pi: np.ndarray, mu: np.ndarray) -> np.ndarray:
        """``P(π ≻ μ | x)`` per context: ``[X]``."""
        return np.einsum("xi,xij,xj->x", np.asarray(pi, np.float64), self.P, np.asarray(mu, np.float64))

    def uniform(self) -> np.ndarray:
        return np.full((self.num_contexts, self.num_responses), 1.0 / self.num_responses)

    # -- persistence -------------------------------------------------------------------------
    def _meta(self) -> dict[str, Any]:
        return {"name": self.name, "responses": self.responses, "format": "gtlearn.preference/1"}

    def save(self, path: str | Path) -> Path:
        """Write the game to ``.npz`` (default) or ``.json`` (chosen by the suffix)."""
        from gtlearn.core.io import atomic_save_npz, atomic_write_json

        path = Path(path)
        if path.suffix == ".json":
            atomic_write_json(path, {**self._meta(), "P": self.P.tolist(), "ref": self.ref.tolist(), "rho": self.rho.tolist()})
        else:
            if path.suffix != ".npz":
                path = path.with_suffix(".npz")
            atomic_save_npz(path, P=self.P, ref=self.ref, rho=self.rho, meta=np.array(json.dumps(self._meta())))
        return path

    @classmethod
    def load(cls, path: str | Path) -> "PreferenceGame":
        path = Path(path)
        if not path.exists():
            raise GtlearnError(f"no preference game file at {path}")
        try:
            if path.suffix == ".json":
                d = json.loads(path.read_text())
                return cls(P=np.array(d["P"]), ref=np.array(d["ref"]), rho=np.array(d["rho"]),
                           responses=d.get("responses"), name=d.get("name", path.stem))
            with np.load(path, allow_pickle=False) as data:
                meta = json.loads(str(data["meta"])) if "meta" in data.files else {}
                return cls(P=data["P"], ref=data["ref"], rho=data["rho"] if "rho" in data.files else None,
                           responses=meta.get("responses"), name=meta.get("name", path.stem))
        except (KeyError, ValueError, json.JSONDecodeError) as exc:
            raise GtlearnError(f"{path} is not a preference game file ({exc})") from None


# ----------------------------------------------------------------------------------------
# Oracle: exact probabilities and Bernoulli labels
# ----------------------------------------------------------------------------------------
@dataclass
class MatrixPreference:
    """The spec's ``PreferenceOracle`` over a tabular tensor: ``prob(x, y, y')`` and Bernoulli
    labels. ``queries`` counts every sampled label (one label = one preference query)."""

    P: np.ndarray
    rng: np.random.Generator = field(default_factory=lambda: np.random.default_rng(0))
    queries: int = 0

    def prob(self, x, y, y2) -> np.ndarray:
        return self.P[x, y, y2]

    def sample(self, x, y, y2) -> np.ndarray:
        """One Bernoulli(P(y ≻ y'|x)) label per (x, y, y') triple (1 = y wins)."""
        p = np.asarray(self.P[x, y, y2])
        self.queries += int(p.size)
        return (self.rng.random(p.shape) < p).astype(np.float64)


# ----------------------------------------------------------------------------------------
# Core quantities of the regularized game
# ----------------------------------------------------------------------------------------
def win_prob(P: np.ndarray, pi: np.ndarray) -> np.ndarray:
    """``P(y ≻ π | x) = Σ_{y'} P[x, y, y'] π(y'|x)``."""
    return np.einsum("xij,xj->xi", P, np.asarray(pi, dtype=np.float64))


def _log_normalize(logits: np.ndarray) -> np.ndarray:
    m = logits.max(axis=-1, keepdims=True)
    return logits - (m + np.log(np.exp(logits - m).sum(axis=-1, keepdims=True)))


def log_best_response(game: PreferenceGame, pi: np.ndarray, beta: float) -> np.ndarray:
    """``log BR_β(π)``, with ``BR_β(π)(y) ∝ π_ref(y)·exp(P(y ≻ π)/β)``."""
    return _log_normalize(np.log(game.ref) + game.win_prob(pi) / beta)


def best_response(game: PreferenceGame, pi: np.ndarray, beta: float) -> np.ndarray:
    return np.exp(log_best_response(game, pi, beta))


def regularized_exploitability(game: PreferenceGame, pi: np.ndarray, beta: float) -> np.ndarray:
    """Per-context ``e_β(π) = β·log Σ_y π_ref(y) e^{P(y≻π)/β} + β·KL(π‖π_ref) − ½`` (≥ 0, = 0 only
    at π*_β). Returns ``[X]``; average with ``game.rho``."""
    pi = np.asarray(pi, dtype=np.float64)
    s = np.log(game.ref) + game.win_prob(pi) / beta
    m = s.max(axis=1)
    lse = m + np.log(np.exp(s - m[:, None]).sum(axis=1))
    with np.errstate(divide="ignore", invalid="ignore"):
        kl = np.where(pi > 0, pi * (np.log(pi) - np.log(game.ref)), 0.0).sum(axis=1)
    return beta * lse + beta * kl - 0.5


def _check_beta(beta: float) -> float:
    try:
        beta = float(beta)
    except (TypeError, ValueError):
        raise GtlearnError(f"beta must be a number, got {beta!r}") from None
    if not math.isfinite(beta) or beta <= 0:
        raise GtlearnError(f"beta must be a positive finite number, got {beta}")
    return beta


def regularized_nash(
    game: PreferenceGame,
    beta: float,
    tol: float = 1e-12,
    *,
    max_iterations: int | None = None,
    return_info: bool = False,
):
    """The exact β-regularized symmetric Nash equilibrium π*_β, ``[X, n]`` (spec §1.3).

    Runs the exact Nash-MP iteration with λ = ½ from π_ref, in float64 and log space,
    vectorized over contexts; both half-steps use the prior ``λ·log π_k + β·log π_ref`` and the
    opponents π_k then π_{k+½}. Each iteration contracts KL(π*‖π) by at least 1/(1+2β), so it
    takes about log(1/tol)/log(1+2β) iterations. It stops when, for every context,
    ``e_β(π) ≤ max(β·tol, 1e-14)`` and ``max_y |log π(y) − log BR_β(π)(y)| ≤ tol``.
    Deviations (float64 floors): e_β is a difference of O(1) numbers and cannot be resolved
    below a few ulps, hence the 1e-14 floor; and the log-gap tolerance is
    ``max(tol, 256·eps·(max|log π_ref| + 1/β))``, because log BR_β adds numbers of that size
    and their rounding stalls the gap above tol for small β (at 1.3e-11 for β = 0.0017).
    For β = 0 use :func:`maximal_lottery`.
    """
    beta = _check_beta(beta)
    lam = 0.5
    if max_iterations is None:
        max_iterations = int(4 * math.log(1.0 / tol) / math.log1p(2 * beta)) + 1000
    log_ref = np.log(game.ref)
    log_pi = log_ref.copy()
    e_tol = max(beta * tol, 1e-14)
    # log BR adds numbers of size up to |log π_ref| + 1/β, whose float64 rounding floors the
    # attainable log-gap; the tolerance scales with that size when it exceeds 1.
    log_tol = max(tol, 256 * np.finfo(np.float64).eps * (float(np.max(np.abs(log_ref))) + 1.0 / beta))
    it = 0
    for it in range(1, max_iterations + 1):
        pi = np.exp(log_pi)
        prior = lam * log_pi + beta * log_ref
        half = np.exp(_log_normalize((prior + game.win_prob(pi)) / (beta + lam)))
        log_pi = _log_normalize((prior + game.win_prob(half)) / (beta + lam))
        if it % 8 == 0 or it < 8:
            pi = np.exp(log_pi)
            gap = np.max(np.abs(log_pi - log_best_response(game, pi, beta)))
            if gap <= log_tol and np.max(regularized_exploitability(game, pi, beta)) <= e_tol:
                break
    else:
        raise RuntimeError(f"regularized_nash did not reach tol={tol} in {max_iterations} iterations")
    pi = np.exp(log_pi)
    if return_info:
        return pi, {"iterations": it, "exploitability": float(np.max(regularized_exploitability(game, pi, beta)))}
    return pi


# The spec's name for the same function.
def solve_regularized_nash(P: np.ndarray, ref: np.ndarray, beta: float, tol: float = 1e-12) -> np.ndarray:
    return regularized_nash(PreferenceGame(P=P, ref=ref), beta, tol)


def maximal_lottery(game: PreferenceGame) -> np.ndarray:
    """An equilibrium of the unregularized game (β = 0), the maximal lottery, per context, by
    the linear program ``max v s.t. Σ_y π(y)(P(y≻y') − ½) ≥ v ∀y', π ∈ Δ`` (optimum v = 0).
    It may be non-unique; the LP returns one vertex solution."""
    from scipy.optimize import linprog

    X, n = game.num_contexts, game.num_responses
    out = np.empty((X, n))
    for x in range(X):
        M = game.P[x] - 0.5
        # variables (π_0..π_{n-1}, v); minimize −v; constraint −Mᵀπ + v ≤ 0
        c = np.zeros(n + 1)
        c[-1] = -1.0
        A_ub = np.hstack([-M.T, np.ones((n, 1))])
        A_eq = np.hstack([np.ones((1, n)), np.zeros((1, 1))])
        res = linprog(c, A_ub=A_ub, b_ub=np.zeros(n), A_eq=A_eq, b_eq=[1.0],
                      bounds=[(0, None)] * n + [(None, None)], method="highs")
        if not res.success:  # pragma: no cover - the LP is always feasible and bounded
            raise RuntimeError(f"maximal lottery LP failed: {res.message}")
        p = np.clip(res.x[:n], 0.0, None)
        out[x] = p / p.sum()
    return out


# ----------------------------------------------------------------------------------------
# Generators
# ----------------------------------------------------------------------------------------
def _reference(rng: np.random.Generator, X: int, n: int, ref_concentration: float | None) -> np.ndarray:
    if ref_concentration is None:
        return np.full((X, n), 1.0 / n)
    if ref_concentration <= 0:
        raise GtlearnError(f"reference Dirichlet concentration must be positive, got {ref_concentration}")
    ref = rng.dirichlet(np.full(n, float(ref_concentration)), size=X)
    ref = np.maximum(ref, _REF_FLOOR)
    return ref / ref.sum(axis=1, keepdims=True)


def _check_n(n: int) -> int:
    if int(n) != n or n < 2:
        raise GtlearnError(f"number of responses must be an integer >= 2, got {n}")
    return int(n)


def cyclic(n: int = 3, *, contexts: int = 1, strength: float = 1.0, ref_concentration: float | None = None,
           seed: int = 0) -> PreferenceGame:
    """A generalized rock–paper–scissors: response i beats i+1, …, i+⌊(n−1)/2⌋ (mod n) with
    probability ½ + strength/2; at distance n/2 (even n) it is a tie. strength = 1 gives a
    deterministic 0/1 tournament; the uniform policy is its unregularized equilibrium (odd n)."""
    n = _check_n(n)
    if not 0 < strength <= 1:
        raise GtlearnError(f"cyclic strength must be in (0, 1], got {strength}")
    idx = np.arange(n)
    d = (idx[None, :] - idx[:, None]) % n
    S = np.where((d > 0) & (2 * d < n), 1.0, np.where((d > 0) & (2 * d > n), -1.0, 0.0))
    P = 0.5 + 0.5 * strength * S
    rng = np.random.default_rng(seed)
    return PreferenceGame(P=np.broadcast_to(P, (contexts, n, n)).copy(), ref=_reference(rng, contexts, n, ref_concentration),
                          name=f"cyclic:{n}")


def random_intransitive(n: int = 5, *, contexts: int = 1, ref_concentration: float | None = None,
                        seed: int = 0) -> PreferenceGame:
    """Random preferences: P(i ≻ j) ~ U(0, 1) independently for i < j, P(j ≻ i) = 1 − P(i ≻ j).
    Such matrices are intransitive with probability → 1 as n grows."""
    n = _check_n(n)
    rng = np.random.default_rng(seed)
    U = rng.random((contexts, n, n))
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    P = np.where(upper, U, 1.0 - np.swapaxes(U, 1, 2))
    P[:, np.arange(n), np.arange(n)] = 0.5
    return PreferenceGame(P=P, ref=_reference(rng, contexts, n, ref_concentration), name=f"random:{n}")


def tournament(n: int = 5, *, contexts: int = 1, ref_concentration: float | None = None, seed: int = 0) -> PreferenceGame:
    """A random deterministic 0/1 tournament (each pair's winner is a fair coin)."""
    n = _check_n(n)
    rng = np.random.default_rng(seed)
    U = (rng.random((contexts, n, n)) < 0.5).astype(np.float64)
    upper = np.triu(np.ones((n, n), dtype=bool), 1)
    P = np.where(upper, U, 1.0 - np.swapaxes(U, 1, 2))
    P[:, np.arange(n), np.arange(n)] = 0.5
    return PreferenceGame(P=P, ref=_reference(rng, contexts, n, ref_concentration), name=f"tournament:{n}")


def bradley_terry(n: int = 5, *, rewards: np.ndarray | None = None, contexts: int = 1, scale: float = 1.0,
                  ref_concentration: float | None = None, seed: int = 0) -> PreferenceGame:
    """Transitive Bradley–Terry preferences P(i ≻ j) = σ(r_i − r_j). ``rewards`` is ``[n]`` or
    ``[X, n]``; by default r ~ scale·N(0, 1) per context."""
    rng = np.random.default_rng(seed)
    if rewards is None:
        n = _check_n(n)
        r = scale * rng.standard_normal((contexts, n))
    else:
        r = np.asarray(rewards, dtype=np.float64)
        r = np.broadcast_to(r, (contexts, r.shape[-1])) if r.ndim == 1 else r
        contexts, n = r.shape
    P = 1.0 / (1.0 + np.exp(-(r[:, :, None] - r[:, None, :])))
    game = PreferenceGame(P=P, ref=_reference(rng, contexts, n, ref_concentration), name=f"bt:{n}")
    game.rewards = r  # type: ignore[attr-defined]  (kept for closed forms; not saved)
    return game


def mixture(games: Sequence[PreferenceGame], weights: Sequence[float] | None = None, *,
            ref: np.ndarray | None = None, name: str | None = None) -> PreferenceGame:
    """Convex combination Σ_k w_k P_k of preference tensors (preserves P + Pᵀ = 1); the
    reference is ``ref`` or the first game's."""
    if not games:
        raise GtlearnError("mixture needs at least one game")
    shape = games[0].P.shape
    if any(g.P.shape != shape for g in games):
        raise GtlearnError("mixture components must have the same shape")
    w = np.full(len(games), 1.0 / len(games)) if weights is None else np.asarray(weights, dtype=np.float64)
    if w.shape != (len(games),) or w.min() < 0 or w.sum() <= 0:
        raise GtlearnError("mixture weights must be non-negative, one per game, with a positive sum")
    w = w / w.sum()
    P = sum(wk * g.P for wk, g in zip(w, games))
    return PreferenceGame(P=P, ref=games[0].ref if ref is None else ref, rho=games[0].rho,
                          name=name or "mixture(" + ",".join(g.name for g in games) + ")")


GAME_KINDS = ("cyclic", "random", "tournament", "bt", "mixture")


def make_game(spec: str) -> PreferenceGame:
    """Parse a game string: ``KIND:N[,key=value...]`` or a path to a saved game.

    KIND is ``cyclic`` (alias ``rps``), ``random``, ``tournament``, ``bt`` or ``mixture``
    (½ cyclic + ½ Bradley–Terry, alias ``mix``). Keys: ``contexts``, ``seed``, ``ref`` (a
    Dirichlet concentration for the reference; uniform if absent), ``strength`` (cyclic),
    ``scale`` (bt) and ``weight`` (mixture: weight of the cyclic part). Example:
    ``"random:8,contexts=4,seed=3,ref=0.5"``.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise GtlearnError("empty game string; try cyclic:5, random:8 or bt:6")
    spec = spec.strip()
    if spec.endswith((".npz", ".json")):
        return PreferenceGame.load(spec)
    head, _, rest = spec.partition(",")
    kind, _, n_str = head.partition(":")
    kind = {"rps": "cyclic", "mix": "mixture", "bradley_terry": "bt", "random_intransitive": "random"}.get(kind, kind)
    if kind not in GAME_KINDS:
        raise GtlearnError(f"unknown preference game {kind!r}; known: {', '.join(GAME_KINDS)} (e.g. cyclic:5)")
    try:
        n = int(n_str) if n_str else 5
    except ValueError:
        raise GtlearnError(f"bad number of responses {n_str!r} in game string {spec!r}") from None
    opts: dict[str, float] = {}
    for item in filter(None, rest.split(",")):
        key, eq, val = item.partition("=")
        if not eq:
            raise GtlearnError(f"bad option {item!r} in game string {spec!r}; expected key=value")
        try:
            opts[key.strip()] = float(val)
        except ValueError:
            raise GtlearnError(f"option {key!r} in game string {spec!r} must be a number") from None
    allowed = {"contexts", "seed", "ref", "strength", "scale", "weight"}
    unknown = set(opts) - allowed
    if unknown:
        raise GtlearnError(f"unknown option(s) {sorted(unknown)} in game string {spec!r}; known: {sorted(allowed)}")
    common = dict(contexts=int(opts.get("contexts", 1)), seed=int(opts.get("seed", 0)),
                  ref_concentration=opts.get("ref"))
    if common["contexts"] < 1:
        raise GtlearnError("contexts must be >= 1")
    if kind == "cyclic":
        game = cyclic(n, strength=opts.get("strength", 1.0), **common)
    elif kind == "random":
        game = random_intransitive(n, **common)
    elif kind == "tournament":
        game = tournament(n, **common)
    elif kind == "bt":
        game = bradley_terry(n, scale=opts.get("scale", 1.0), **common)
    else:
        w = opts.get("weight", 0.5)
        a = cyclic(n, **common)
        b = bradley_terry(n, scale=opts.get("scale", 1.0), **{**common, "seed": common["seed"] + 1})
        game = mixture([a, b], [w, 1 - w], ref=a.ref)
    game.name = spec
    return game
