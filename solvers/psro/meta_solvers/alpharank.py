"""alpha-Rank meta-solver (Omidshafiei et al. 2019, "alpha-Rank: Multi-agent evaluation by
evolution"; used as a PSRO meta-solver by Muller et al. 2020, alpha-PSRO).

The Markov chain over joint pure profiles s: a unilateral deviation of player k from s to s'
has probability eta * rho(s -> s'), eta = 1 / sum_k (n_k - 1), with the fixation probability

    rho = (1 - exp(-alpha (f' - f))) / (1 - exp(-m alpha (f' - f)))   (1/m when f' = f),

f = M_k[s], f' = M_k[s']; the self-loop takes the rest. The meta-strategy of player k is
its marginal of the stationary distribution.

Choices (the paper of SHOR-PSRO does not state its alpha-Rank settings; docs/psro.md):
* payoffs are divided by the meta-game's largest absolute payoff before ranking, so that
  ``alpha`` is scale-free (chip-valued poker and win/loss games share one alpha);
* alpha = 100, m = 50 (OpenSpiel's default population size);
* the chain is perturbed to (1 - eps) P + eps / S (eps = 1e-8, S the number of profiles), which
  makes it irreducible and the stationary distribution unique, like the epsilon of OpenSpiel's
  ``sweep_pi_vs_epsilon``; OpenSpiel instead sweeps alpha upward, which is not done here.
The stationary distribution is computed by sparse power iteration from the uniform
distribution until the L1 change of one step is below ``tol`` = 1e-12, at most ``max_steps``
steps (a sparse LU factorisation suffers catastrophic fill-in on this "rook's graph" and a
dense S x S solve is infeasible). On PSRO meta-games the chain converges in a few hundred
steps; a call that hits ``max_steps`` returns the last iterate and is counted in
``state["not_converged"]`` (reported by the experiment scripts).

Payoff-identical strategies (PSRO populations repeat best responses) are merged first, which
lumps the chain exactly (:func:`alpharank`): the same iterates and stopping rule up to
summation order on a chain with one state per profile of classes. The lumped chain has
prod r_k states (r_k: player k's number of distinct strategies) and sum_k (r_k - 1)
transitions from each; meta-games whose lumped transition count exceeds ``max_transitions``
are refused with a clear error.
"""

from __future__ import annotations

import numpy as np

from games.matrix import FactoredGame, sizes_of
from gtlearn.core.backend import to_numpy
from gtlearn.core.errors import GtlearnError
from solvers.psro.meta_solvers.base import MetaSolver


def fixation_probability(delta: np.ndarray, alpha: float, m: int) -> np.ndarray:
    """rho for payoff differences f' - f, evaluated without overflow."""
    x = alpha * np.asarray(delta, dtype=np.float64)
    out = np.full(x.shape, 1.0 / m)
    pos = x > 0
    neg = x < 0
    with np.errstate(over="ignore", under="ignore", invalid="ignore"):
        out[pos] = np.expm1(-x[pos]) / np.expm1(-m * x[pos])
        xn = x[neg]  # multiply through by exp(m x): all exponents non-positive
        out[neg] = np.exp((m - 1) * xn) * np.expm1(xn) / np.expm1(m * xn)
    return out


def alpharank(payoffs, alpha=100.0, m=50, eps=1e-8, max_transitions=30_000_000, tol=1e-12, max_steps=20_000,
              normalise_payoffs=True, info=None, lump=None):
    """Per-player marginals of the alpha-Rank stationary distribution. ``info`` (a dict), if
    given, receives ``steps``, ``converged`` and ``states`` (of the lumped chain).

    Payoff-identical strategies are merged first (``lump``, default
    :data:`solvers.psro.meta_solvers._fast.LUMP`): swapping two of them is a symmetry of the
    chain, so the uniform start, every power-iteration iterate and the stationary distribution are
    uniform over each block of profiles that differ only by such swaps, and the chain lumps
    exactly. The lumped chain has one state per class profile c; a deviation of player k to class
    d has probability eta * |d| * rho (|d| the class size), deviations to a duplicate of the
    current strategy are self-loops, the perturbation gives eps |c| / S with |c| the block size
    and S the original profile count, the start is |c| / S, and the L1 change of one step equals
    the original one; eta and S are those of the original chain. The marginal of a strategy is
    its class marginal divided by the class size. Same iterates up to summation order, same
    stopping rule; ``max_transitions`` bounds the chain actually built."""
    import scipy.sparse as sp

    from solvers.psro.meta_solvers._fast import lump as lump_duplicates

    full_shape = sizes_of(payoffs)
    num_full = int(np.prod(full_shape))
    eta = 1.0 / max(1, sum(n - 1 for n in full_shape))
    if not isinstance(payoffs, FactoredGame):
        payoffs = [np.asarray(to_numpy(t), dtype=np.float64) for t in payoffs]
    lumped, classes, counts = lump_duplicates(payoffs, lump)  # before a factored game builds dense tensors
    shape = tuple(len(c) for c in counts)
    num_profiles = int(np.prod(shape))
    transitions = num_profiles * sum(n - 1 for n in shape)
    if transitions > max_transitions:
        raise GtlearnError(
            f"alpha-rank over {num_profiles:,} joint profiles (payoff-identical strategies merged; {num_full:,} "
            f"before) needs {transitions:,} transitions, more than max_transitions={max_transitions:,} (the Markov "
            f"chain has one state per joint profile)"
        )
    tensors = [np.asarray(to_numpy(t), dtype=np.float64) for t in lumped]
    scale = max(float(np.max(np.abs(t))) for t in tensors) if normalise_payoffs else 1.0
    scale = scale if scale > 0 else 1.0
    ndim = len(shape)
    mults = [np.asarray(c, dtype=np.float64).reshape([-1 if q == k else 1 for q in range(ndim)])
             for k, c in enumerate(counts)]
    block = np.ones(shape)
    for mk in mults:
        block = block * mk  # |c|: profiles of the original chain in each lumped state
    idx = np.arange(num_profiles).reshape(shape)
    rows, cols, vals = [], [], []
    for k, n_k in enumerate(shape):
        if n_k < 2:
            continue
        f = tensors[k] / scale
        mk = np.broadcast_to(mults[k], shape)
        for shift in range(1, n_k):
            # s' = s with player k's class replaced by (s_k + shift) mod n_k
            f_new = np.roll(f, -shift, axis=k)
            dest = np.roll(idx, -shift, axis=k)
            rows.append(idx.reshape(-1))
            cols.append(dest.reshape(-1))
            size = np.roll(mk, -shift, axis=k)
            vals.append((eta * size * fixation_probability(f_new - f, alpha, m)).reshape(-1))
    if not rows:  # every player has a single class of strategies
        if info is not None:
            info.update(steps=0, converged=True, states=num_profiles)
        return [np.ones(n) for n in full_shape]
    rows, cols, vals = np.concatenate(rows), np.concatenate(cols), np.concatenate(vals)
    out_prob = np.bincount(rows, weights=vals, minlength=num_profiles)
    # P^T, so that one step is pi <- (1 - eps) P^T pi + eps |c| / S
    pt = sp.coo_matrix((vals, (cols, rows)), shape=(num_profiles, num_profiles)).tocsr()
    self_loop = 1.0 - out_prob
    block = block.reshape(-1)
    noise = eps * block / num_full
    pi = block / num_full
    converged, step = False, 0
    for step in range(1, max_steps + 1):
        new = (1.0 - eps) * (pt @ pi + self_loop * pi) + noise
        new /= new.sum()
        change = np.abs(new - pi).sum()
        pi = new
        if change < tol:
            converged = True
            break
    if info is not None:
        info.update(steps=step, converged=converged, states=num_profiles)
    pi = pi.reshape(shape)
    out = []
    for k in range(ndim):
        marginal = pi.sum(axis=tuple(q for q in range(ndim) if q != k)) / counts[k]
        out.append(marginal[classes[k]])
    return out


class AlphaRank(MetaSolver):
    name = "alpharank"
    stateless = True

    def __init__(self, alpha: float = 100.0, m: int = 50, eps: float = 1e-8, max_transitions: int = 30_000_000,
                 tol: float = 1e-12, max_steps: int = 20_000) -> None:
        super().__init__()
        self.alpha, self.m, self.eps = alpha, int(m), eps
        self.max_transitions, self.tol, self.max_steps = int(max_transitions), tol, int(max_steps)

    def solve(self, payoffs, t=None):
        info: dict = {}
        out = alpharank(payoffs, self.alpha, self.m, self.eps, self.max_transitions, self.tol, self.max_steps, info=info)
        if not info["converged"]:  # diagnostics only; the output depends on the meta-game alone
            self.state["not_converged"] = self.state.get("not_converged", 0) + 1
        return out
