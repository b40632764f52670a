"""The CUDA kernel source of solvers/fast/cuda.py, compiled as host C++ and run sequentially.

No GPU is needed: each kernel is called once per (block, thread) in a loop, in the launch order
of :meth:`solvers.fast.cuda.CudaTree.cfr_regrets`. This checks the kernels' index arithmetic
and the per-level algorithm against the NumPy reference; the real concurrent run (atomics) is
checked by tests/test_gpu_backend.py on a GPU.
"""

import ctypes
import shutil
import subprocess

import numpy as np
import pytest

from games.tree import TERMINAL, compile_game
from solvers.cfr.engine import CFRSolver
from solvers.fast.cuda import _SOURCE

PRELUDE = r"""
#include <cmath>
#define __global__ static
struct D3 { unsigned x, y, z; };
static D3 blockIdx, blockDim, threadIdx;
static double atomicAdd(double* a, double v) { double o = *a; *a += v; return o; }
static int atomicOr(int* a, int v) { int o = *a; *a |= v; return o; }
using std::isfinite; using std::fabs;
"""
WRAPPERS = r"""
#define LOOP(nb, call) blockDim.x = 256; \
  for (unsigned b = 0; b < (unsigned)(nb); ++b) { blockIdx.x = b; \
    for (unsigned t = 0; t < 256; ++t) { threadIdx.x = t; call; } }
extern "C" {
void h_forward(int nb, long long lo, long long hi, const int* par, const signed char* pp, const int* es,
               const double* cp, const double* pol, int pl, double* opp, double* own)
{ LOOP(nb, forward_level(lo, hi, par, pp, es, cp, pol, pl, opp, own)) }
void h_backward(int nb, long long lo, long long hi, const int* par, const signed char* pp, const int* es,
                const double* cp, const int* term, const double* pay, int npl, const double* pol, int pl,
                long long ss, const double* opp, double* v, double* q)
{ LOOP(nb, backward_level(lo, hi, par, pp, es, cp, term, pay, npl, pol, pl, ss, opp, v, q)) }
void h_regrets(int nb, long long ni, int na, const double* q, const double* sig, const bool* legal,
               const long long* rep, const double* own, double* reg, double* reach)
{ LOOP(nb, regrets(ni, na, q, sig, legal, rep, own, reg, reach)) }
void h_check(int nb, long long ni, int na, const double* arr, const bool* legal, int cum, int slot, int* flags)
{ LOOP(nb, check_output(ni, na, arr, legal, cum, slot, flags)) }
}
"""


@pytest.fixture(scope="module")
def lib(tmp_path_factory):
    cxx = shutil.which("g++") or shutil.which("c++")
    if cxx is None:
        pytest.skip("no C++ compiler")
    d = tmp_path_factory.mktemp("cuda_host")
    (d / "k.cpp").write_text(PRELUDE + _SOURCE.replace('extern "C" __global__', "__global__") + WRAPPERS)
    subprocess.run([cxx, "-O1", "-std=c++14", "-shared", "-fPIC", str(d / "k.cpp"), "-o", str(d / "k.so")], check=True)
    return ctypes.CDLL(str(d / "k.so"))


def _ptr(a):
    return a.ctypes.data_as(ctypes.c_void_p)


def _nb(n):
    return max(1, (n + 255) // 256)


def host_pass(lib, tree, policy, player):
    ll, i = ctypes.c_longlong, ctypes.c_int
    parent = tree.parent.astype(np.int32)
    pp = tree.player[np.maximum(tree.parent, 0)].astype(np.int8)
    pp[tree.parent < 0] = TERMINAL
    es, cp = tree.edge_slot.astype(np.int32), tree.chance_prob.astype(np.float64)
    term, pay = tree.terminal.astype(np.int32), np.ascontiguousarray(tree.payoffs)
    levels = [(int(a), int(b)) for a, b in zip(tree.level_ptr[:-1], tree.level_ptr[1:])]
    n, A, b = tree.num_nodes, tree.max_actions, tree.infosets_of(player)
    ni = b.stop - b.start
    opp, own, v, q = np.ones(n), np.ones(n), np.zeros(n), np.zeros(ni * A)
    flat = np.ascontiguousarray(policy).reshape(-1)
    for lo, hi in levels[1:]:
        lib.h_forward(_nb(hi - lo), ll(lo), ll(hi), _ptr(parent), _ptr(pp), _ptr(es), _ptr(cp), _ptr(flat), i(player), _ptr(opp), _ptr(own))
    for lo, hi in reversed(levels[1:]):
        lib.h_backward(_nb(hi - lo), ll(lo), ll(hi), _ptr(parent), _ptr(pp), _ptr(es), _ptr(cp), _ptr(term), _ptr(pay),
                       i(pay.shape[1]), _ptr(flat), i(player), ll(b.start * A), _ptr(opp), _ptr(v), _ptr(q))
    reg, reach = np.empty((ni, A)), np.empty(ni)
    sig, leg = np.ascontiguousarray(policy[b]), np.ascontiguousarray(tree.legal[b])
    rep = np.ascontiguousarray(tree.rep_node[b].astype(np.int64))
    lib.h_regrets(_nb(ni), ll(ni), i(A), _ptr(q), _ptr(sig), _ptr(leg), _ptr(rep), _ptr(own), _ptr(reg), _ptr(reach))
    return reg, reach


GOOF4 = "turn_based_simultaneous_game(game=goofspiel(imp_info=True,num_cards=4,points_order=descending))"


@pytest.mark.parametrize("game_string", ["kuhn_poker(players=3)", "leduc_poker", "liars_dice(dice_sides=4)", GOOF4])
def test_cuda_pass_kernels_match_reference(lib, game_string):
    tree = compile_game(game_string)
    ref = CFRSolver(tree, rule="cfr+", backend="numpy")
    rng = np.random.default_rng(0)
    policy = rng.random(tree.legal.shape) ** 3 * tree.legal
    policy /= policy.sum(axis=1, keepdims=True)
    for p in range(tree.num_players):
        r_host, x_host = host_pass(lib, tree, policy, p)
        r_ref, x_ref = ref.instantaneous_regrets(p, policy)
        np.testing.assert_allclose(r_host, r_ref, rtol=0, atol=1e-12)
        np.testing.assert_allclose(x_host, x_ref, rtol=0, atol=1e-12)


def test_cuda_check_kernel_flags(lib):
    tree = compile_game("leduc_poker")
    legal = np.ascontiguousarray(tree.legal[tree.infosets_of(0)])
    uniform = legal / legal.sum(axis=1, keepdims=True)
    nan = uniform.copy()
    nan[3, 0] = np.nan

    def flags(arr, cumulative):
        out = np.zeros(3, dtype=np.int32)
        lib.h_check(_nb(arr.shape[0]), ctypes.c_longlong(arr.shape[0]), ctypes.c_int(arr.shape[1]), _ptr(arr), _ptr(legal),
                    ctypes.c_int(int(cumulative)), ctypes.c_int(1), _ptr(out))
        assert out[0] == out[2] == 0
        return int(out[1])

    assert flags(uniform, False) == 0
    assert flags(nan, True) == 1
    assert flags(np.ascontiguousarray(uniform + ~legal), True) == 2
    assert flags(-uniform, False) == 4 | 8
    assert flags(uniform * 0.9, False) == 8
    assert flags(np.ascontiguousarray(uniform * 7.0), True) == 0  # cumulative arrays need not sum to 1
