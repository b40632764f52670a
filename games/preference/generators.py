"""Generators of preference games and the CLI game strings.

:func:`cyclic` (rock–paper–scissors tournaments), :func:`random_intransitive`,
:func:`tournament` (random 0/1 tournaments), :func:`bradley_terry` (transitive σ(r_i − r_j)),
:func:`mixture`; :func:`make_game` parses strings such as ``"cyclic:5"`` or loads a saved game.
"""

from __future__ import annotations

import math
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
_ALIASES = {"rps": "cyclic", "mix": "mixture", "bradley_terry": "bt", "random_intransitive": "random"}
_OPTIONS = ("contexts", "seed", "ref", "strength", "scale", "weight")
# A game string asks for contexts·n² preference entries; past this many (80 MB of float64, and
# the equilibrium solver and sampled labels multiply it) it is a typo, not an experiment.
MAX_ENTRIES = 10**7


def make_game(spec: str) -> PreferenceGame:
    """Parse a game string: ``KIND:N[,key=value...]`` or a path to a saved game.

    KIND is ``cyclic`` (alias ``rps``), ``random``, ``tournament``, ``bt`` or ``mixture``
    (½ cyclic + ½ Bradley–Terry, alias ``mix``). Keys: ``contexts``, ``seed``, ``ref`` (a
    Dirichlet concentration for the reference; uniform if absent), ``strength`` (cyclic),
    ``scale`` (bt) and ``weight`` (mixture: weight of the cyclic part). Example:
    ``"random:8,contexts=4,seed=3,ref=0.5"``. Every malformed or out-of-range part, and a
    game of more than :data:`MAX_ENTRIES` preference entries, is a one-line
    :class:`~gtlearn.core.errors.GtlearnError` raised before anything is allocated.
    """
    if not isinstance(spec, str) or not spec.strip():
        raise GtlearnError("empty game string; try cyclic:5, random:8 or bt:6")
    spec = spec.strip()
    if spec.endswith((".npz", ".json")):
        return PreferenceGame.load(spec)
    kind, n, opts = _parse(spec)
    contexts, seed = _count(spec, opts, "contexts", 1, 1), _count(spec, opts, "seed", 0, 0)
    if contexts * n * n > MAX_ENTRIES:
        raise GtlearnError(f"game string {spec!r} asks for {contexts:,} x {n:,}² = {contexts * n * n:.1e} preference "
                           f"entries; the limit is {MAX_ENTRIES:.0e}")
    common = dict(contexts=contexts, seed=seed, ref_concentration=_number(spec, opts, "ref", None, low=0.0))
    scale = _number(spec, opts, "scale", 1.0)
    if kind == "cyclic":
        game = cyclic(n, strength=_number(spec, opts, "strength", 1.0, low=0.0, high=1.0), **common)
    elif kind == "random":
        game = random_intransitive(n, **common)
    elif kind == "tournament":
        game = tournament(n, **common)
    elif kind == "bt":
        game = bradley_terry(n, scale=scale, **common)
    else:
        w = _number(spec, opts, "weight", 0.5, low=0.0, high=1.0, closed=True)
        a = cyclic(n, **common)
        b = bradley_terry(n, scale=scale, **{**common, "seed": common["seed"] + 1})
        game = mixture([a, b], [w, 1 - w], ref=a.ref)
    game.name = spec
    return game


def _parse(spec: str) -> tuple[str, int, dict[str, float]]:
    """``KIND:N,key=value,...`` -> (kind, n, {key: value}); every malformed part is one line."""
    head, _, rest = spec.partition(",")
    kind, _, n_str = head.partition(":")
    kind = _ALIASES.get(kind.strip(), kind.strip())
    if kind not in GAME_KINDS:
        raise GtlearnError(f"unknown preference game {kind!r}; known: {', '.join(GAME_KINDS)} (e.g. cyclic:5)")
    try:
        n = int(n_str) if n_str.strip() else 5
    except ValueError:
        raise GtlearnError(f"bad number of responses {n_str!r} in game string {spec!r}") from None
    if n < 2:
        raise GtlearnError(f"number of responses must be an integer >= 2, got {n} in game string {spec!r}")
    if n * n > MAX_ENTRIES:
        raise GtlearnError(f"game string {spec!r} asks for {n:,} responses; at most {int(MAX_ENTRIES ** 0.5):,}")
    opts: dict[str, float] = {}
    for item in filter(None, rest.split(",")):
        key, eq, val = item.partition("=")
        key = key.strip()
        if not eq or not key:
            raise GtlearnError(f"bad option {item!r} in game string {spec!r}; expected key=value")
        if key not in _OPTIONS:
            raise GtlearnError(f"unknown option {key!r} in game string {spec!r}; known: {', '.join(_OPTIONS)}")
        if key in opts:
            raise GtlearnError(f"option {key!r} given twice in game string {spec!r}")
        try:
            opts[key] = float(val)
        except ValueError:
            raise GtlearnError(f"option {key!r} in game string {spec!r} must be a number, got {val!r}") from None
    return kind, n, opts


def _count(spec: str, opts: dict[str, float], key: str, default: int, low: int) -> int:
    value = opts.get(key, default)
    if not (math.isfinite(value) and value == int(value) and value >= low):
        raise GtlearnError(f"option {key!r} in game string {spec!r} must be an integer >= {low}, got {value:g}")
    return int(value)


def _number(spec: str, opts: dict[str, float], key: str, default: float | None, *, low: float | None = None,
            high: float | None = None, closed: bool = False) -> float | None:
    """The finite option ``key``; with ``low`` it must exceed it (or equal it, ``closed``)."""
    value = opts.get(key, default)
    if value is None:
        return None
    above = low is None or value > low or (closed and value == low)
    if not (math.isfinite(value) and above and (high is None or value <= high)):
        bounds = "" if low is None else f" in {'[' if closed else '('}{low:g}, {'inf)' if high is None else f'{high:g}]'}"
        raise GtlearnError(f"option {key!r} in game string {spec!r} must be a finite number{bounds}, got {value:g}")
    return value
