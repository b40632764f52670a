"""Numba kernels for N-player meta-games (the CPU fast path).

A NumPy step of PRD, RM or SHOR on a small meta-game is a dozen tiny calls whose interpreter
overhead dominates the arithmetic; these loops do the same algebra in one compiled function.
For player p the tensor M_p is stored with p's axis first and the others in ascending order,
flattened to (n_p, R); u_p = M_p' w with w the Kronecker product of the other players'
strategies (ascending order, last fastest), so one kernel serves every N. They implement
exactly the updates of prd.py, rm.py and shor.py (tested to agree with the array code to
round-off; summation order differs from BLAS/tensordot). Used for NumPy inputs when numba is
importable; CuPy inputs take the array code.

A :class:`games.matrix.FactoredGame` (``form`` 1) is contracted without its dense tensors:
per player q the column sums y_q = sigma_q B_q, then for p the product of the others' y over
every term, scattered onto p's columns and multiplied by B_p.

Early stopping (opt-in, ``early_stop=True``): every ``check_every`` steps the loop checks for a
stationary iterate -- one step moved no entry by more than STEP_TOL = 1e-15 (PRD: a fixed point
of its deterministic map up to round-off), and for RM and SHOR the accumulated regrets also move
by a drift that cannot change which of them are positive, so the iterate stays where it is
forever -- and then counts the remaining steps as copies of the iterate. A merely slow iterate
never stops the loop; a looser test (the iterate unchanged to 1e-12 between checks 500 steps
apart) was measured to stop RM during a temporary pure phase that later ends, changing 2-player
Kuhn results by 0.16.
"""

from __future__ import annotations

import math

import numpy as np

from games.matrix import FactoredGame

try:
    import numba

    AVAILABLE = True
except ImportError:  # pragma: no cover - numba is in the fast/test extras
    AVAILABLE = False


def _jit(fn=None, **kw):
    if fn is None:
        return lambda f: _jit(f, **kw)
    return numba.njit(cache=True, **kw)(fn) if AVAILABLE else fn


# Reassociation lets the compiler vectorise the dot-product reduction (several times faster);
# it changes only the summation order, like BLAS does.
@_jit(fastmath={"reassoc", "contract"})
def _contract(mt, x, sizes, p, wbuf, out):
    """out = u_p(.|x_-p) with mt = M_p flattened to (n_p, R), x padded (N, n_max)."""
    length = 1
    wbuf[0] = 1.0
    for q in range(sizes.shape[0]):
        if q == p:
            continue
        nq = sizes[q]
        for i in range(length - 1, -1, -1):  # in-place Kronecker expansion, back to front
            wi = wbuf[i]
            for j in range(nq - 1, -1, -1):
                wbuf[i * nq + j] = wi * x[q, j]
        length *= nq
    for i in range(sizes[p]):
        s = 0.0
        for r in range(length):
            s += mt[i, r] * wbuf[r]
        out[i] = s


@_jit(fastmath={"reassoc", "contract"})
def _factored_utilities(w, idx, bs, ys, sizes, p, col, out):
    """out = u_p(.|x_-p) of a factored game, ys[q] = x_q B_q for every q != p."""
    n_players = sizes.shape[0]
    n_cols = bs[p].shape[1]
    for s in range(n_cols):
        col[s] = 0.0
    for k in range(w.shape[0]):
        v = w[k, p]
        for q in range(n_players):
            if q != p:
                v *= ys[q, idx[k, q]]
        col[idx[k, p]] += v
    b = bs[p]
    for i in range(sizes[p]):
        acc = 0.0
        for s in range(n_cols):
            acc += b[i, s] * col[s]
        out[i] = acc


@_jit(fastmath={"reassoc", "contract"})
def _column_sums(b, x, n, y):
    for s in range(b.shape[1]):
        y[s] = 0.0
    for j in range(n):
        xj = x[j]
        for s in range(b.shape[1]):
            y[s] += xj * b[j, s]


@_jit
def _utilities(form, mts, w, idx, bs, ys, col, x, sizes, p, wbuf, out):
    """u_p(.|x_-p) in either form; for the factored form ys must be current for q != p."""
    if form == 0:
        _contract(mts[p], x, sizes, p, wbuf, out)
    else:
        _factored_utilities(w, idx, bs, ys, sizes, p, col, out)


@_jit
def _refresh(form, bs, x, sizes, p, ys):
    if form == 1:
        _column_sums(bs[p], x[p], sizes[p], ys[p])


# A step that moved no entry by more than this is taken as stationary (a few ulps of 1: the
# iterate has converged to round-off, it is not merely slow -- a slow PRD or RM step moves
# entries by ~dt |u| x ~ 1e-5).
STEP_TOL = 1e-15


@_jit
def _same(x, before, sizes):
    """True when no entry of x moved by more than STEP_TOL since ``before``."""
    for p in range(sizes.shape[0]):
        for i in range(sizes[p]):
            if abs(x[p, i] - before[p, i]) > STEP_TOL:
                return False
    return True


@_jit
def _frozen_signs(level, drift, n):
    """Adding ``drift`` forever keeps the positive part of ``level`` fixed up to scale: entries
    <= 0 never rise (drift <= 0), a single positive entry never falls (drift >= 0), several
    positive entries stay exactly equal (drift = 0)."""
    positive = 0
    for i in range(n):
        if level[i] > 0:
            positive += 1
        elif drift[i] > 0:
            return False
    for i in range(n):
        if level[i] > 0 and (drift[i] < 0 or (positive > 1 and drift[i] != 0)):
            return False
    return True


@_jit
def _scratch(form, sizes, bs):
    n_players = sizes.shape[0]
    wbuf = np.empty(max(1, np.prod(sizes) // sizes.min()) if form == 0 else 1)
    smax = 1
    if form == 1:
        for q in range(n_players):
            smax = max(smax, bs[q].shape[1])
    return wbuf, np.zeros((n_players, smax)), np.zeros(smax)


@_jit
def prd(form, mts, w, idx, bs, sizes, iterations, dt, gamma, early_stop, check_every):
    n_players = sizes.shape[0]
    nmax = sizes.max()
    x = np.zeros((n_players, nmax))
    for p in range(n_players):
        x[p, : sizes[p]] = 1.0 / sizes[p]
    acc = np.zeros((n_players, nmax))
    u = np.zeros((n_players, nmax))
    before = x.copy()
    wbuf, ys, col = _scratch(form, sizes, bs)
    steps = 0
    for _ in range(iterations):
        check = early_stop and (steps + 1) % check_every == 0
        if check:
            before[:] = x
        for p in range(n_players):
            _refresh(form, bs, x, sizes, p, ys)
        for p in range(n_players):  # Jacobi: every u from the previous iterate
            _utilities(form, mts, w, idx, bs, ys, col, x, sizes, p, wbuf, u[p])
        for p in range(n_players):
            n = sizes[p]
            r = 0.0
            for i in range(n):
                r += u[p, i] * x[p, i]
            s = 0.0
            for i in range(n):
                y = x[p, i] + dt * (x[p, i] * (u[p, i] - r))
                y = max(y, gamma)
                x[p, i] = y
                s += y
            for i in range(n):
                x[p, i] = x[p, i] / s
                acc[p, i] += x[p, i]
        steps += 1
        # A step that (to round-off) changed nothing has reached a fixed point.
        if check and steps < iterations and _same(x, before, sizes):
            acc += (iterations - steps) * x
            break
    return acc / iterations, steps


@_jit
def rm(form, mts, w, idx, bs, sizes, iterations, gamma, initial_regret, early_stop, check_every):
    n_players = sizes.shape[0]
    nmax = sizes.max()
    x = np.zeros((n_players, nmax))
    reg = np.zeros((n_players, nmax))
    for p in range(n_players):
        x[p, : sizes[p]] = 1.0 / sizes[p]
        reg[p, : sizes[p]] = initial_regret
    acc = np.zeros((n_players, nmax))
    u = np.zeros((n_players, nmax))
    drift = np.zeros((n_players, nmax))
    before = x.copy()
    wbuf, ys, col = _scratch(form, sizes, bs)
    steps = 0
    for _ in range(iterations):
        check = early_stop and (steps + 1) % check_every == 0
        if check:
            before[:] = x
        for p in range(n_players):
            _refresh(form, bs, x, sizes, p, ys)
        for p in range(n_players):
            _utilities(form, mts, w, idx, bs, ys, col, x, sizes, p, wbuf, u[p])
        for p in range(n_players):
            n = sizes[p]
            v = 0.0
            for i in range(n):
                v += u[p, i] * x[p, i]
            s = 0.0
            for i in range(n):
                drift[p, i] = u[p, i] - v
                reg[p, i] += drift[p, i]
                if reg[p, i] > 0:
                    s += reg[p, i]
            for i in range(n):
                if s > 0:
                    pos = reg[p, i] if reg[p, i] > 0 else 0.0
                    x[p, i] = gamma * (1.0 / n) + (1.0 - gamma) * (pos / s)
                else:
                    x[p, i] = 1.0 / n
                acc[p, i] += x[p, i]
        steps += 1
        # Unchanged iterate -> unchanged utilities -> the regrets move by the same drift every
        # step; if that drift cannot change which regrets are positive (or their ratios), the
        # iterate stays exactly where it is.
        if check and steps < iterations and _same(x, before, sizes):
            frozen = True
            for p in range(n_players):
                frozen = frozen and _frozen_signs(reg[p], drift[p], sizes[p])
            if frozen:
                acc += (iterations - steps) * x
                break
    return acc / iterations, steps


@_jit
def shor(form, mts, w, idx, bs, sizes, iterations, lam, tau, mu, c, norm, avg, early_stop, check_every):
    n_players = sizes.shape[0]
    nmax = sizes.max()
    sigma = np.zeros((n_players, nmax))
    for p in range(n_players):
        sigma[p, : sizes[p]] = 1.0 / sizes[p]
    q = np.zeros((n_players, nmax))
    ghat = np.zeros((n_players, nmax))
    acc = np.zeros((n_players, nmax))
    u = np.zeros(nmax)
    h = np.zeros(nmax)
    z = np.zeros(nmax)
    drift = np.zeros((n_players, nmax))
    before = sigma.copy()
    wbuf, ys, col = _scratch(form, sizes, bs)
    for p in range(n_players):
        _refresh(form, bs, sigma, sizes, p, ys)
    steps = 0
    for _ in range(iterations):
        check = early_stop and (steps + 1) % check_every == 0
        if check:
            before[:] = sigma
        same_gain = True
        for p in range(n_players):  # Gauss-Seidel: p sees the players already updated
            n = sizes[p]
            _utilities(form, mts, w, idx, bs, ys, col, sigma, sizes, p, wbuf, u)
            total = 0.0
            umax = -np.inf
            for j in range(n):
                total += u[j]
                umax = max(umax, u[j])
            mean = total / n
            hmax = 0.0
            for j in range(n):
                g = u[j] - mean
                h[j] = (1.0 + mu) * g - mu * ghat[p, j] + c * (1.0 - sigma[p, j])
                same_gain = same_gain and ghat[p, j] == g
                ghat[p, j] = g
                hmax = max(hmax, abs(h[j]))
            scale = hmax if (norm and hmax > 1e-8) else 1.0
            qs = 0.0
            zs = 0.0
            for j in range(n):
                drift[p, j] = h[j] / scale
                v = q[p, j] + drift[p, j]
                q[p, j] = max(0.0, v)
                qs += q[p, j]
                z[j] = math.exp((u[j] - umax) / tau)
                zs += z[j]
            same_gain = same_gain and qs > 1e-12
            for j in range(n):
                rho = q[p, j] / qs if qs > 1e-12 else 1.0 / n
                b = z[j] / zs if zs > 1e-12 else 1.0 / n
                sigma[p, j] = (1.0 - lam) * rho + lam * b
            _refresh(form, bs, sigma, sizes, p, ys)
        if avg:
            for p in range(n_players):
                for j in range(sizes[p]):
                    acc[p, j] += sigma[p, j]
        steps += 1
        # Unchanged strategies and centred gains -> the same step h every time; as for RM, the
        # iterate is frozen when that step cannot change the positive part of Q.
        if check and steps < iterations and same_gain and _same(sigma, before, sizes):
            frozen = True
            for p in range(n_players):
                frozen = frozen and _frozen_signs(q[p], drift[p], sizes[p])
            if frozen:
                if avg:
                    acc += (iterations - steps) * sigma
                break
    return (acc if avg else sigma), steps


def usable(payoffs) -> bool:
    if isinstance(payoffs, FactoredGame):
        return AVAILABLE and min(payoffs.sizes) > 0
    return AVAILABLE and all(type(m) is np.ndarray for m in payoffs) and min(payoffs[0].shape) > 0


_EMPTY_2D = np.zeros((0, 0))


def prepare(payoffs):
    """The kernel arguments (form, mts, w, idx, bs, sizes) of a dense or factored meta-game;
    dense: M_p with p's axis first, flattened to (n_p, R)."""
    if isinstance(payoffs, FactoredGame):
        n = len(payoffs)
        return (1, (_EMPTY_2D,) * n, payoffs.weights, payoffs.index, tuple(payoffs.factors),
                np.asarray(payoffs.sizes, dtype=np.int64))
    mts = tuple(
        np.ascontiguousarray(np.moveaxis(np.asarray(m, dtype=np.float64), p, 0)).reshape(m.shape[p], -1)
        for p, m in enumerate(payoffs)
    )
    n = len(mts)
    return 0, mts, np.zeros((0, n)), np.zeros((0, n), dtype=np.int64), (_EMPTY_2D,) * n, \
        np.asarray(payoffs[0].shape, dtype=np.int64)


def unpad(rows: np.ndarray, sizes) -> list[np.ndarray]:
    return [rows[p, : int(n)].copy() for p, n in enumerate(sizes)]
