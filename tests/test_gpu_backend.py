"""The CUDA backends (fused kernels "cuda", reference-on-CuPy "cupy") against the CPU paths.

Run on a machine with a CUDA GPU and CuPy: ``python -m pytest -m gpu tests/test_gpu_backend.py``.
"""

import numpy as np
import pytest

from games.tree import compile_game
from gtlearn.core.errors import GtlearnError, InvalidRuleOutput
from solvers.best_response import nash_conv
from solvers.cfr.engine import CFRSolver
from solvers.cfr.rules import RULES
from solvers.cfr.rules.base import FunctionRule

pytestmark = pytest.mark.gpu

GOOF4 = "turn_based_simultaneous_game(game=goofspiel(imp_info=True,num_cards=4,points_order=descending))"
GAMES = ["kuhn_poker(players=3)", "leduc_poker", "liars_dice(dice_sides=4)", GOOF4]
CUDA_BACKENDS = ["cuda", "cupy"]


@pytest.fixture(scope="module")
def cp():
    cupy = pytest.importorskip("cupy")
    try:
        if cupy.cuda.runtime.getDeviceCount() < 1:
            pytest.skip("no CUDA device")
    except cupy.cuda.runtime.CUDARuntimeError:
        pytest.skip("CUDA unusable")
    return cupy


def random_policy(tree, seed):
    rng = np.random.default_rng(seed)
    p = rng.random(tree.legal.shape) ** 3 * tree.legal
    return p / p.sum(axis=1, keepdims=True)


@pytest.mark.parametrize("backend", CUDA_BACKENDS)
@pytest.mark.parametrize("game_string", GAMES)
def test_pass_matches_cpu(cp, backend, game_string):
    tree = compile_game(game_string)
    gpu = CFRSolver(tree, rule="cfr+", device="cuda", backend=backend)
    cpu = CFRSolver(tree, rule="cfr+", backend="numpy")
    policy = random_policy(tree, 0)
    for p in range(tree.num_players):
        r_gpu, x_gpu = gpu.instantaneous_regrets(p, cp.asarray(policy))
        r_cpu, x_cpu = cpu.instantaneous_regrets(p, policy)
        assert type(r_gpu).__module__.startswith("cupy")
        np.testing.assert_allclose(cp.asnumpy(r_gpu), r_cpu, rtol=0, atol=1e-12)
        np.testing.assert_allclose(cp.asnumpy(x_gpu), x_cpu, rtol=0, atol=1e-12)


RULE_IDS = [r for r in ("cfr", "cfr+", "dcfr", "pcfr+", "vad-cfr") if r in RULES]


@pytest.mark.parametrize("backend", CUDA_BACKENDS)
@pytest.mark.parametrize("rule", RULE_IDS)
def test_trajectory_matches_cpu(cp, backend, rule):
    # The whole iteration on the device (regret updates included) against the compiled CPU path.
    tree = compile_game("leduc_poker")
    gpu = CFRSolver(tree, rule=rule, device="cuda", backend=backend)
    cpu = CFRSolver(tree, rule=rule, backend="numba")
    for _ in range(20):
        gpu.step()
        cpu.step()
    assert type(gpu.regrets[0]).__module__.startswith("cupy")
    np.testing.assert_allclose(gpu.average_policy(), cpu.average_policy(), rtol=0, atol=1e-9)
    np.testing.assert_allclose(gpu.current_policy(), cpu.current_policy(), rtol=0, atol=1e-9)
    assert gpu.exploitability() == pytest.approx(cpu.exploitability(), abs=1e-10)


def test_three_player_leduc_cfr_plus(cp):
    tree = compile_game("leduc_poker(players=3)")
    gpu = CFRSolver(tree, rule="cfr+", device="cuda")
    cpu = CFRSolver(tree, rule="cfr+", backend="numba")
    for _ in range(3):
        gpu.step()
        cpu.step()
    np.testing.assert_allclose(gpu.average_policy(), cpu.average_policy(), rtol=0, atol=1e-10)


def test_nash_conv_on_cupy_matches_numba(cp):
    tree = compile_game("leduc_poker")
    policy = random_policy(tree, 3)
    assert nash_conv(tree, policy, backend="cupy") == pytest.approx(nash_conv(tree, policy, backend="numba"), abs=1e-12)


def _xp_rule(kind):
    from gtlearn.core.backend import namespace

    def update(R, r, legal, t, s):
        xp = namespace(R)
        out = xp.where(legal, R + r, 0.0)
        if kind == "nan":
            out[0, 0] = xp.nan
        return out

    def policy(R, legal, t, s):
        p = legal / legal.sum(axis=1, keepdims=True)
        return p * 0.9 if kind == "rowsum" else p

    def average(S, sigma, x, legal, t, s):
        return S + x[:, None] * sigma

    return FunctionRule(update, policy, average, name=kind)


@pytest.mark.parametrize("backend", CUDA_BACKENDS)
@pytest.mark.parametrize("kind,message", [("nan", "non-finite"), ("rowsum", "sum to 1")])
def test_invalid_output_is_caught_on_device(cp, backend, kind, message):
    solver = CFRSolver(compile_game("kuhn_poker"), rule=_xp_rule(kind), device="cuda", backend=backend)
    with pytest.raises(InvalidRuleOutput, match=message):
        solver.step()


def test_checkpoint_moves_between_devices(cp):
    tree = compile_game("leduc_poker")
    gpu = CFRSolver(tree, rule="cfr+", device="cuda")
    for _ in range(5):
        gpu.step()
    cpu = CFRSolver(tree, rule="cfr+", backend="numba")
    cpu.load_state_dict(gpu.state_dict())
    for _ in range(5):
        gpu.step()
    for _ in range(5):
        cpu.step()
    np.testing.assert_allclose(gpu.average_policy(), cpu.average_policy(), rtol=0, atol=1e-10)


def test_backend_device_mismatch(cp):
    tree = compile_game("kuhn_poker")
    with pytest.raises(GtlearnError, match="runs on the CPU"):
        CFRSolver(tree, device="cuda", backend="numba")
