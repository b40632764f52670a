"""Numba kernels for N-player meta-games (the CPU fast path).

A NumPy step of PRD, RM or SHOR on a small meta-game is a dozen tiny calls whose interpreter
overhead dominates the arithmetic; these loops do the same algebra in one compiled function.
For player p the tensor M_p is stored with p's axis first and the others in ascending order,
flattened to (n_p, R); u_p = M_p' w with w the Kronecker product of the other players'
strategies (ascending order, last fastest), so one kernel serves every N. They implement
exactly the updates of prd.py, rm.py and shor.py (tested to agree with the array code to
round-off; summation order differs from BLAS/tensordot). Used for NumPy inputs when numba is
importable; CuPy inputs take the array code.
"""

from __future__ import annotations

import math

import numpy as np

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


@_jit
def prd(mts, sizes, iterations, dt, gamma):
    n_players = sizes.shape[0]
    nmax = sizes.max()
    x = np.zeros((n_players, nmax))
    for p in range(n_players):
        x[p, : sizes[p]] = 1.0 / sizes[p]
    acc = np.zeros((n_players, nmax))
    u = np.zeros((n_players, nmax))
    wbuf = np.empty(max(1, np.prod(sizes) // sizes.min()))
    for _ in range(iterations):
        for p in range(n_players):  # Jacobi: every u from the previous iterate
            _contract(mts[p], x, sizes, p, wbuf, u[p])
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
    return acc / iterations


@_jit
def rm(mts, sizes, iterations, gamma, initial_regret):
    n_players = sizes.shape[0]
    nmax = sizes.max()
    x = np.zeros((n_players, nmax))
    reg = np.zeros((n_players, nmax))
    for p in range(n_players):
        x[p, : sizes[p]] = 1.0 / sizes[p]
        reg[p, : sizes[p]] = initial_regret
    acc = np.zeros((n_players, nmax))
    u = np.zeros((n_players, nmax))
    wbuf = np.empty(max(1, np.prod(sizes) // sizes.min()))
    for _ in range(iterations):
        for p in range(n_players):
            _contract(mts[p], x, sizes, p, wbuf, u[p])
        for p in range(n_players):
            n = sizes[p]
            v = 0.0
            for i in range(n):
                v += u[p, i] * x[p, i]
            s = 0.0
            for i in range(n):
                reg[p, i] += u[p, i] - v
                if reg[p, i] > 0:
                    s += reg[p, i]
            for i in range(n):
                if s > 0:
                    pos = reg[p, i] if reg[p, i] > 0 else 0.0
                    x[p, i] = gamma * (1.0 / n) + (1.0 - gamma) * (pos / s)
                else:
                    x[p, i] = 1.0 / n
                acc[p, i] += x[p, i]
    return acc / iterations


@_jit
def shor(mts, sizes, iterations, lam, tau, mu, c, norm, avg):
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
    wbuf = np.empty(max(1, np.prod(sizes) // sizes.min()))
    for _ in range(iterations):
        for p in range(n_players):  # Gauss-Seidel: p sees the players already updated
            n = sizes[p]
            _contract(mts[p], sigma, sizes, p, wbuf, u)
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
                ghat[p, j] = g
                hmax = max(hmax, abs(h[j]))
            scale = hmax if (norm and hmax > 1e-8) else 1.0
            qs = 0.0
            zs = 0.0
            for j in range(n):
                v = q[p, j] + h[j] / scale
                q[p, j] = max(0.0, v)
                qs += q[p, j]
                z[j] = math.exp((u[j] - umax) / tau)
                zs += z[j]
            for j in range(n):
                rho = q[p, j] / qs if qs > 1e-12 else 1.0 / n
                b = z[j] / zs if zs > 1e-12 else 1.0 / n
                sigma[p, j] = (1.0 - lam) * rho + lam * b
        if avg:
            for p in range(n_players):
                for j in range(sizes[p]):
                    acc[p, j] += sigma[p, j]
    return acc if avg else sigma


def usable(payoffs) -> bool:
    return AVAILABLE and all(type(m) is np.ndarray for m in payoffs) and min(payoffs[0].shape) > 0


def prepare(payoffs):
    """(tuple of M_p with p's axis first, flattened to (n_p, R); sizes as int64)."""
    mts = tuple(
        np.ascontiguousarray(np.moveaxis(np.asarray(m, dtype=np.float64), p, 0)).reshape(m.shape[p], -1)
        for p, m in enumerate(payoffs)
    )
    return mts, np.asarray(payoffs[0].shape, dtype=np.int64)


def unpad(rows: np.ndarray, sizes) -> list[np.ndarray]:
    return [rows[p, : int(n)].copy() for p, n in enumerate(sizes)]
