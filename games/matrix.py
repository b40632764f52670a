"""Normal-form games and PSRO meta-games as lists of payoff tensors.

An N-player normal-form game is ``payoffs = [M_0, ..., M_{N-1}]``, each of shape
(n_0, ..., n_{N-1}), ``M_p[j_0, ..., j_{N-1}]`` the payoff to player p. Every meta-solver of
:mod:`solvers.psro.meta_solvers` works on this representation, with any array namespace ``xp``
(NumPy or CuPy).

A :class:`FactoredGame` is the same game stored as a sum of product terms (the form of a PSRO
meta-game, whose entries are sums over terminal histories of products of realization weights);
it behaves as the list of its dense tensors, built only when an entry is first asked for, while
:func:`utilities` contracts it without ever building them.
"""

from __future__ import annotations

import numpy as np

from gtlearn.core.backend import namespace


def contract_others(tensor, strategies, player: int):
    """u_p(.|sigma_-p): ``tensor`` contracted with ``strategies[q]`` along axis q for every
    q != ``player``, from the highest axis to the lowest so the axis numbers stay valid
    (docs/psro.md). Returns a vector of length ``tensor.shape[player]``."""
    xp = namespace(tensor)
    out = tensor
    for q in range(tensor.ndim - 1, -1, -1):
        if q == player:
            continue
        if q == out.ndim - 1:
            out = out @ strategies[q]
        elif q == 0:
            out = (strategies[q] @ out.reshape(out.shape[0], -1)).reshape(out.shape[1:])
        else:
            out = xp.tensordot(out, strategies[q], axes=([q], [0]))
    return out


# The Kronecker block of :func:`multilinear` is built whole while it fits in this many bytes
# (every meta-game of the test suites and of the committed sweeps does, so their numbers stay
# bit for bit what they were); past it the contraction is reordered and built in row blocks.
KRONECKER_BLOCK_BYTES = 256 * 2**20


def multilinear(weights: np.ndarray, mats: list[np.ndarray], block_bytes: int = KRONECKER_BLOCK_BYTES) -> np.ndarray:
    """T_p[i_0, ..., i_{N-1}] = sum_z weights[z, p] prod_r mats[r][i_r, z] for every column p of
    ``weights`` (Z, P); ``mats[r]`` is (k_r, Z). Returns shape (P, k_0, ..., k_{N-1}).

    The players but the last form one Kronecker block (rows = their index tuples, columns = z),
    and one matrix product with the last factor finishes each p. That block has
    prod_{r<N-1} k_r * Z entries: on a 3-player meta-game whose newest policy is the last
    player's it is (k-1)^2 x Z, which reached 20+ GB at k = 94 on 3-player Leduc (10^6
    terminals). When it would exceed ``block_bytes`` the factors are taken in increasing size
    instead -- the largest one closes the matrix product, so the block has the smaller sizes'
    product as rows, (k-1) on that example, and the product runs as one BLAS-3 call instead of
    a matrix-vector one -- and the block is built over row slices of the first factor that fit
    ``block_bytes``. Both paths give the same numbers up to summation order."""
    sizes = [m.shape[0] for m in mats]
    z = weights.shape[0]
    out = np.empty((weights.shape[1], *sizes))
    if min(sizes) == 0:
        return out
    order = list(range(len(mats)))
    whole = int(np.prod(sizes[:-1], dtype=np.int64)) * z * 8 <= block_bytes
    if not whole:
        order.sort(key=lambda r: sizes[r])  # stable: ties keep player order
    first, middle, last = mats[order[0]], [mats[r] for r in order[1:-1]], mats[order[-1]]
    inner = [m.shape[0] for m in middle]
    # One slice when the whole block fits (the order the committed results were computed in).
    rows = first.shape[0] if whole else max(1, block_bytes // max(int(np.prod(inner, dtype=np.int64)) * z * 8, 1))
    identity = order == sorted(order)
    permuted = out if identity else np.empty((weights.shape[1], *(sizes[r] for r in order)))
    for lo in range(0, first.shape[0], rows):
        b = first[lo:lo + rows]
        for m in middle:
            b = (b[:, None, :] * m[None, :, :]).reshape(-1, z)
        for p in range(weights.shape[1]):
            permuted[p, lo:lo + rows] = ((b * weights[:, p]) @ last.T).reshape(-1, *inner, last.shape[0])
    if not identity:
        out[...] = permuted.transpose(0, *(1 + order.index(r) for r in range(len(mats))))
    return out


FACTORED_OP_COST = 3.0  # measured: a factored multiply-add (gathers) costs 2-3 dense ones (SIMD)


class FactoredGame:
    """M_p[j_0, ..., j_{N-1}] = sum_k weights[k, p] prod_q factors[q][j_q, index[k, q]].

    ``weights``: (K, N); ``index``: (K, N) integer columns into the ``factors``; ``factors[q]``:
    (n_q, S_q). Contracting all players but p costs O(sum_q n_q S_q + N K) instead of the
    prod_q n_q of a dense tensor. Indexing or iterating gives the dense tensors (NumPy), built
    once on first use."""

    def __init__(self, weights, index, factors) -> None:
        self.weights = np.ascontiguousarray(weights, dtype=np.float64)
        self.index = np.ascontiguousarray(index, dtype=np.int64)
        self.factors = [np.ascontiguousarray(f, dtype=np.float64) for f in factors]
        self._dense = None

    @property
    def sizes(self) -> tuple[int, ...]:
        return tuple(f.shape[0] for f in self.factors)

    def contraction_costs(self, sizes=None) -> tuple[float, float]:
        """(dense, factored) multiply-adds of one all-players utility step with ``sizes``
        strategies per player (default: this game's): N prod_q n_q for the dense tensors,
        FACTORED_OP_COST (2 sum_q n_q S_q + N^2 K) for the terms."""
        sizes = self.sizes if sizes is None else sizes
        n = len(sizes)
        dense = n * float(np.prod(np.asarray(sizes, dtype=np.float64)))
        terms = 2.0 * sum(r * f.shape[1] for r, f in zip(sizes, self.factors)) + n * n * self.weights.shape[0]
        return dense, FACTORED_OP_COST * terms

    def __len__(self) -> int:
        return len(self.factors)

    def __getitem__(self, p):
        return self.dense()[p]

    def __iter__(self):
        return iter(self.dense())

    def dense(self) -> list[np.ndarray]:
        if self._dense is None:
            n = len(self.factors)
            mats = [self.factors[q][:, self.index[:, q]] for q in range(n)]  # (n_q, K)
            self._dense = list(multilinear(self.weights, mats))
        return self._dense

    def utilities(self, strategies, player: int) -> np.ndarray:
        """u_p(.|sigma_-p) without the dense tensor."""
        prod = self.weights[:, player].copy()
        for q, f in enumerate(self.factors):
            if q != player:
                prod *= (strategies[q] @ f)[self.index[:, q]]
        per_column = np.bincount(self.index[:, player], weights=prod, minlength=self.factors[player].shape[1])
        return self.factors[player] @ per_column


def sizes_of(payoffs) -> tuple[int, ...]:
    """Population sizes of a meta-game given as tensors or as a :class:`FactoredGame`."""
    return payoffs.sizes if isinstance(payoffs, FactoredGame) else tuple(payoffs[0].shape)


def array_module(payoffs):
    """The array namespace of a meta-game (a factored one is NumPy)."""
    return np if isinstance(payoffs, FactoredGame) else namespace(payoffs[0])


def utilities(payoffs, strategies, player: int):
    """u_p(.|sigma_-p) of a meta-game given as tensors or as a :class:`FactoredGame`."""
    if isinstance(payoffs, FactoredGame):
        return payoffs.utilities(strategies, player)
    return contract_others(payoffs[player], strategies, player)


def expected_payoffs(payoffs, strategies) -> np.ndarray:
    """Expected payoff of every player under the product of the mixed ``strategies``."""
    out = []
    for p, m in enumerate(payoffs):
        out.append(float(contract_others(m, strategies, p) @ strategies[p]))
    return np.array(out)


def nash_conv(payoffs, strategies) -> float:
    """Sum over players of the best pure deviation gain against the mixed profile."""
    total = 0.0
    for p, m in enumerate(payoffs):
        u = contract_others(m, strategies, p)
        total += float(u.max() - u @ strategies[p])
    return total


def rock_paper_scissors() -> list[np.ndarray]:
    m = np.array([[0.0, -1.0, 1.0], [1.0, 0.0, -1.0], [-1.0, 1.0, 0.0]])
    return [m, -m]


def random_zero_sum(rows: int, cols: int, seed: int = 0) -> list[np.ndarray]:
    m = np.random.default_rng(seed).uniform(-1.0, 1.0, size=(rows, cols))
    return [m, -m]


def random_game(shape: tuple[int, ...], seed: int = 0) -> list[np.ndarray]:
    """A general-sum game with i.i.d. uniform(-1, 1) payoffs, one tensor per player."""
    rng = np.random.default_rng(seed)
    return [rng.uniform(-1.0, 1.0, size=shape) for _ in shape]
