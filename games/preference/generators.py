"""Generators of preference games and the CLI game strings.

:func:`cyclic` (rock–paper–scissors tournaments), :func:`random_intransitive`,
:func:`tournament` (random 0/1 tournaments), :func:`bradley_terry` (transitive σ(r_i − r_j)),
:func:`mixture`; :func:`make_game` parses strings such as ``"cyclic:5"`` or loads a saved game.
"""

from __future__ import annotations

from typing import Sequence

import numpy as np

from games.preference.game import PreferenceGame
from gtlearn.core.errors import GtlearnError

# Dirichlet draws with small concentration underflow to exact zeros; the regularized game
# needs a full-support reference (KL(π‖π_ref) must be finite), so references are floored.
_REF_FLOOR = 1e-12


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
