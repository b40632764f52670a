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

Duplicate strategies are merged first (``LUMP``, on by default): PSRO populations repeat best
responses (3-player Kuhn keeps 9-14 distinct policies out of 101), and strategies of one player
whose payoff slices are identical in every player's tensor (dense form) or whose rows of the
realization-weight factor are identical (factored form) start equal and receive identical
utilities, so every one of these dynamics keeps them equal forever. The kernels run on one
representative per class with its multiplicity ``mult`` (opponents see mult * x; sums over a
player's strategies are multiplicity-weighted; the uniform start and the 1/n terms use the true
population size), which is the same algorithm up to summation order; the output is expanded back.
PRD, SHOR and alpha-Rank merge; RM does not: its 100,000-step trajectory amplifies round-off (a
3e-15 change of one call's input summation order moved its output by 1e-2 on the 2-player Kuhn
meta-game after 5 PSRO iterations), so only the unmerged loop reproduces its reference numbers.

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
def _factored_utilities_all(w, idx, bs, ys, sizes, cols, g, u):
    """u[p] = u_p(.|x_-p) for every p in one pass over the terms (Jacobi steps): each term's
    column values are gathered once instead of once per player. Per player the products are
    formed in the order of :func:`_factored_utilities` (w[k, p] times ys[q] for ascending
    q != p) and scattered in the same term order, so the result is bit-for-bit the same."""
    n_players = sizes.shape[0]
    for p in range(n_players):
        for s in range(bs[p].shape[1]):
            cols[p, s] = 0.0
    for k in range(w.shape[0]):
        for q in range(n_players):
            g[q] = ys[q, idx[k, q]]
        for p in range(n_players):
            v = w[k, p]
            for q in range(n_players):
                if q != p:
                    v *= g[q]
            cols[p, idx[k, p]] += v
    for p in range(n_players):
        _matvec(bs[p], cols[p], sizes[p], u[p])


@_jit(fastmath={"reassoc", "contract"})
def _matvec(b, col, n, out):
    for i in range(n):
        acc = 0.0
        for s in range(b.shape[1]):
            acc += b[i, s] * col[s]
        out[i] = acc


@_jit
def _jacobi_utilities(form, mts, w, idx, bs, ys, col, cols, g, x, sizes, wbuf, u):
    """Every player's utilities against the same iterate (PRD and RM steps)."""
    if form == 1:
        _factored_utilities_all(w, idx, bs, ys, sizes, cols, g, u)
    else:
        for p in range(sizes.shape[0]):
            _utilities(form, mts, w, idx, bs, ys, col, x, sizes, p, wbuf, u[p])


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
def _frozen_signs(level, drift, mult, n):
    """Adding ``drift`` forever keeps the positive part of ``level`` fixed up to scale: entries
    <= 0 never rise (drift <= 0), a single positive entry never falls (drift >= 0), several
    positive entries stay exactly equal (drift = 0). Merged duplicates count ``mult`` times."""
    positive = 0.0
    for i in range(n):
        if level[i] > 0:
            positive += mult[i]
        elif drift[i] > 0:
            return False
    for i in range(n):
        if level[i] > 0 and (drift[i] < 0 or (positive > 1 and drift[i] != 0)):
            return False
    return True


@_jit
def _start(mult, sizes, value):
    """Per player: the true population size (sum of multiplicities), and the padded array
    with ``value`` / n_p (value 1: the uniform strategy) on the classes."""
    n_players = sizes.shape[0]
    ntot = np.zeros(n_players)
    out = np.zeros((n_players, sizes.max()))
    for p in range(n_players):
        for i in range(sizes[p]):
            ntot[p] += mult[p, i]
        for i in range(sizes[p]):
            out[p, i] = value / ntot[p]
    return ntot, out


@_jit
def _scratch(form, sizes, bs):
    n_players = sizes.shape[0]
    wbuf = np.empty(max(1, np.prod(sizes) // sizes.min()) if form == 0 else 1)
    smax = 1
    if form == 1:
        for q in range(n_players):
            smax = max(smax, bs[q].shape[1])
    return wbuf, np.zeros((n_players, smax)), np.zeros(smax), np.zeros((n_players, smax)), np.zeros(n_players)


@_jit
def prd(form, mts, w, idx, bs, sizes, mult, iterations, dt, gamma, early_stop, check_every):
    n_players = sizes.shape[0]
    nmax = sizes.max()
    _, x = _start(mult, sizes, 1.0)
    xm = x * mult  # what the opponents see: the class total
    acc = np.zeros((n_players, nmax))
    u = np.zeros((n_players, nmax))
    before = x.copy()
    wbuf, ys, col, cols, g = _scratch(form, sizes, bs)
    steps = 0
    for _ in range(iterations):
        check = early_stop and (steps + 1) % check_every == 0
        if check:
            before[:] = x
        for p in range(n_players):
            _refresh(form, bs, xm, sizes, p, ys)
        _jacobi_utilities(form, mts, w, idx, bs, ys, col, cols, g, xm, sizes, wbuf, u)  # Jacobi: previous iterate
        for p in range(n_players):
            n = sizes[p]
            r = 0.0
            for i in range(n):
                r += u[p, i] * xm[p, i]
            s = 0.0
            for i in range(n):
                y = x[p, i] + dt * (x[p, i] * (u[p, i] - r))
                y = max(y, gamma)
                x[p, i] = y
                s += mult[p, i] * y
            for i in range(n):
                x[p, i] = x[p, i] / s
                xm[p, i] = x[p, i] * mult[p, i]
                acc[p, i] += x[p, i]
        steps += 1
        # A step that (to round-off) changed nothing has reached a fixed point.
        if check and steps < iterations and _same(x, before, sizes):
            acc += (iterations - steps) * x
            break
    return acc / iterations, steps


@_jit
def rm(form, mts, w, idx, bs, sizes, mult, iterations, gamma, initial_regret, early_stop, check_every):
    n_players = sizes.shape[0]
    nmax = sizes.max()
    ntot, x = _start(mult, sizes, 1.0)
    xm = x * mult
    reg = np.zeros((n_players, nmax))
    for p in range(n_players):
        reg[p, : sizes[p]] = initial_regret
    acc = np.zeros((n_players, nmax))
    u = np.zeros((n_players, nmax))
    drift = np.zeros((n_players, nmax))
    before = x.copy()
    wbuf, ys, col, cols, g = _scratch(form, sizes, bs)
    steps = 0
    for _ in range(iterations):
        check = early_stop and (steps + 1) % check_every == 0
        if check:
            before[:] = x
        for p in range(n_players):
            _refresh(form, bs, xm, sizes, p, ys)
        _jacobi_utilities(form, mts, w, idx, bs, ys, col, cols, g, xm, sizes, wbuf, u)
        for p in range(n_players):
            n = sizes[p]
            v = 0.0
            for i in range(n):
                v += u[p, i] * xm[p, i]
            s = 0.0
            for i in range(n):
                drift[p, i] = u[p, i] - v
                reg[p, i] += drift[p, i]
                if reg[p, i] > 0:
                    s += mult[p, i] * reg[p, i]
            for i in range(n):
                if s > 0:
                    pos = reg[p, i] if reg[p, i] > 0 else 0.0
                    x[p, i] = gamma * (1.0 / ntot[p]) + (1.0 - gamma) * (pos / s)
                else:
                    x[p, i] = 1.0 / ntot[p]
                xm[p, i] = x[p, i] * mult[p, i]
                acc[p, i] += x[p, i]
        steps += 1
        # Unchanged iterate -> unchanged utilities -> the regrets move by the same drift every
        # step; if that drift cannot change which regrets are positive (or their ratios), the
        # iterate stays exactly where it is.
        if check and steps < iterations and _same(x, before, sizes):
            frozen = True
            for p in range(n_players):
                frozen = frozen and _frozen_signs(reg[p], drift[p], mult[p], sizes[p])
            if frozen:
                acc += (iterations - steps) * x
                break
    return acc / iterations, steps


@_jit
def shor(form, mts, w, idx, bs, sizes, mult, iterations, lam, tau, mu, c, norm, avg, early_stop, check_every):
    n_players = sizes.shape[0]
    nmax = sizes.max()
    ntot, sigma = _start(mult, sizes, 1.0)
    xm = sigma * mult
    q = np.zeros((n_players, nmax))
    ghat = np.zeros((n_players, nmax))
    acc = np.zeros((n_players, nmax))
    u = np.zeros(nmax)
    h = np.zeros(nmax)
    z = np.zeros(nmax)
    drift = np.zeros((n_players, nmax))
    before = sigma.copy()
    wbuf, ys, col, cols, g = _scratch(form, sizes, bs)
    for p in range(n_players):
        _refresh(form, bs, xm, sizes, p, ys)
    steps = 0
    for _ in range(iterations):
        check = early_stop and (steps + 1) % check_every == 0
        if check:
            before[:] = sigma
        same_gain = True
        for p in range(n_players):  # Gauss-Seidel: p sees the players already updated
            n = sizes[p]
            _utilities(form, mts, w, idx, bs, ys, col, xm, sizes, p, wbuf, u)
            total = 0.0
            umax = -np.inf
            for j in range(n):
                total += mult[p, j] * u[j]
                umax = max(umax, u[j])
            mean = total / ntot[p]
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
                qs += mult[p, j] * q[p, j]
                z[j] = math.exp((u[j] - umax) / tau)
                zs += mult[p, j] * z[j]
            same_gain = same_gain and qs > 1e-12
            for j in range(n):
                rho = q[p, j] / qs if qs > 1e-12 else 1.0 / ntot[p]
                b = z[j] / zs if zs > 1e-12 else 1.0 / ntot[p]
                sigma[p, j] = (1.0 - lam) * rho + lam * b
                xm[p, j] = sigma[p, j] * mult[p, j]
            _refresh(form, bs, xm, sizes, p, ys)
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
                frozen = frozen and _frozen_signs(q[p], drift[p], mult[p], sizes[p])
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

# Merge strategies with identical payoffs before running a kernel (exact: see the module
# docstring). A switch for tests that compare against the unmerged kernels.
LUMP = True


def duplicate_classes(rows: np.ndarray):
    """Classes of identical rows of a 2-D array, numbered by first appearance: (reps, cls,
    counts) with ``reps`` the first row of each class, ``cls[j]`` the class of row j and
    ``counts`` the class sizes."""
    n = rows.shape[0]
    if n <= 1 or rows.shape[1] == 0:
        return np.arange(min(n, 1)), np.zeros(n, dtype=np.int64), np.array([n] if n else [], dtype=np.int64)
    _, first, inverse = np.unique(rows, axis=0, return_index=True, return_inverse=True)
    order = np.argsort(first)
    rank = np.empty_like(order)
    rank[order] = np.arange(len(order))
    cls = rank[np.asarray(inverse).reshape(-1)].astype(np.int64)
    return first[order].astype(np.int64), cls, np.bincount(cls, minlength=len(order)).astype(np.int64)


def lump(payoffs, enabled: bool | None = None):
    """``(lumped, classes, counts)``: the meta-game restricted to one representative per class
    of payoff-identical strategies (a :class:`FactoredGame` stays factored; dense tensors are
    indexed), the class of every original strategy and the class sizes, per player. Factored:
    identical rows of a player's realization-weight factor; dense: identical payoff slices along
    the player's axis in every tensor. With ``enabled`` False (default: ``LUMP``) every strategy
    is its own class and the meta-game is returned as it is."""
    enabled = LUMP if enabled is None else enabled
    if isinstance(payoffs, FactoredGame):
        if not enabled:
            return payoffs, [np.arange(n) for n in payoffs.sizes], [np.ones(n, dtype=np.int64) for n in payoffs.sizes]
        parts = [duplicate_classes(f) for f in payoffs.factors]
        if all(len(r) == f.shape[0] for (r, _, _), f in zip(parts, payoffs.factors)):
            return payoffs, [c for _, c, _ in parts], [k for _, _, k in parts]
        lumped = FactoredGame(payoffs.weights, payoffs.index, [f[r] for (r, _, _), f in zip(parts, payoffs.factors)])
        return lumped, [c for _, c, _ in parts], [k for _, _, k in parts]
    tensors = [np.asarray(m, dtype=np.float64) for m in payoffs]
    shape = tensors[0].shape
    if not enabled:
        return tensors, [np.arange(n) for n in shape], [np.ones(n, dtype=np.int64) for n in shape]
    parts = []
    for k, n in enumerate(shape):
        rows = np.concatenate([np.moveaxis(m, k, 0).reshape(n, -1) for m in tensors], axis=1)
        parts.append(duplicate_classes(rows))
    if all(len(r) == n for (r, _, _), n in zip(parts, shape)):
        return tensors, [c for _, c, _ in parts], [k for _, _, k in parts]
    reps = np.ix_(*[r for r, _, _ in parts])
    return [m[reps] for m in tensors], [c for _, c, _ in parts], [k for _, _, k in parts]


DENSE_LIMIT = 2_000_000  # entries per tensor


def _dense_is_cheaper(game: FactoredGame) -> bool:
    """The cost model of ``solvers.psro.loop.choose_form`` at the merged sizes, within a memory
    limit on the dense tensors and on ``FactoredGame.dense()``'s intermediate."""
    dense_cost, factored_cost = game.contraction_costs()
    entries = float(np.prod(game.sizes))
    build = float(np.prod(game.sizes[:-1])) * game.weights.shape[0]
    return entries <= DENSE_LIMIT and build <= 10 * DENSE_LIMIT and dense_cost < factored_cost


def prepare(payoffs, merge: bool | None = None):
    """The kernel arguments (form, mts, w, idx, bs, sizes, mult) of a dense or factored meta-game
    after merging duplicates (:func:`lump`, unless ``merge`` is False; ``sizes`` are the class counts, ``mult`` the padded
    class sizes), and the classes for :func:`unpad`. Dense: M_p with p's axis first, flattened
    to (n_p, R)."""
    lumped, classes, counts = lump(payoffs, merge)
    if isinstance(lumped, FactoredGame) and lumped is not payoffs and _dense_is_cheaper(lumped):
        lumped = lumped.dense()  # few distinct strategies: the small dense tensors beat the terms
    sizes = np.asarray([len(k) for k in counts], dtype=np.int64)
    mult = np.zeros((len(counts), int(sizes.max())))
    for p, k in enumerate(counts):
        mult[p, : len(k)] = k
    if isinstance(lumped, FactoredGame):
        n = len(lumped)
        return (1, (_EMPTY_2D,) * n, lumped.weights, lumped.index, tuple(lumped.factors), sizes, mult), classes
    mts = tuple(np.ascontiguousarray(np.moveaxis(m, p, 0)).reshape(m.shape[p], -1) for p, m in enumerate(lumped))
    n = len(mts)
    return (0, mts, np.zeros((0, n)), np.zeros((0, n), dtype=np.int64), (_EMPTY_2D,) * n, sizes, mult), classes


def unpad(rows: np.ndarray, classes) -> list[np.ndarray]:
    """Per player, the kernel's class values expanded to the original strategies."""
    return [rows[p, : int(c.max()) + 1][c] for p, c in enumerate(classes)]
