"""The modern rules on the engine: registry, convergence to Kuhn's known value, checkpoints,
equivariance, and valid output on every benchmark game family."""

import numpy as np
import pytest

from games.tree import compile_game
from solvers.best_response import expected_values
from solvers.cfr import CFRSolver
from solvers.cfr.rules import CFR, DCFR, LCFR, RULES, CFRPlus

NEW = ["pcfr+", "pdcfr+", "hs-pcfr+", "vad-cfr", "aod-cfr"]


def test_registry():
    assert RULES["cfr"].cls is CFR and RULES["cfr+"].cls is CFRPlus and RULES["lcfr"].cls is LCFR and RULES["dcfr"].cls is DCFR
    for name in NEW:
        assert name in RULES and RULES[name].cls().name == name
    assert RULES["dpcfr+"] is RULES["pdcfr+"]
    assert RULES["pdcfr+"].cls().params() == {"alpha": 2.3, "gamma": 5.0}
    assert RULES["pcfr+"].cls().params() == {"gamma": 2.0}
    assert RULES["hs-pcfr+"].cls().gamma0 == 30.0 and RULES["hs-pcfr+"].cls().horizon == 1000


@pytest.mark.parametrize("rule", NEW)
def test_converges_to_kuhn_value(rule):
    """2p Kuhn: game value -1/18 for player 0 (closed form, Kuhn 1950)."""
    tree = compile_game("kuhn_poker")
    solver = CFRSolver(tree, rule=rule)
    for _ in range(1000):
        solver.step()
    assert solver.exploitability() < 1e-4
    assert expected_values(tree, solver.average_policy())[0] == pytest.approx(-1 / 18, abs=1e-3)


@pytest.mark.parametrize("rule", NEW)
def test_checkpoint_resumes_identically(rule):
    tree = compile_game("kuhn_poker(players=3)")
    a = CFRSolver(tree, rule=rule, rule_kwargs={"warmup": 3} if rule == "vad-cfr" else None)
    for _ in range(7):
        a.step()
    b = CFRSolver(tree, rule=rule, rule_kwargs={"warmup": 3} if rule == "vad-cfr" else None)
    # copies, as a checkpoint file gives (state_dict returns the live arrays, not copies)
    b.load_state_dict({k: np.array(v, copy=True) for k, v in a.state_dict().items()})
    for _ in range(5):
        a.step()
    for _ in range(5):
        b.step()
    np.testing.assert_array_equal(a.average_policy(), b.average_policy())
    np.testing.assert_array_equal(a.current_policy(), b.current_policy())


@pytest.mark.parametrize("rule", NEW)
def test_permutation_equivariant(rule):
    """Permuting infoset rows and the actions within rows permutes every output the same way."""
    rng = np.random.default_rng(0)
    I, A = 6, 4
    legal = rng.random((I, A)) < 0.7
    legal[:, 0] = True
    R = np.where(legal, rng.normal(size=(I, A)), 0.0)
    r = np.where(legal, rng.normal(size=(I, A)), 0.0)
    S = np.where(legal, rng.random((I, A)), 0.0)
    sigma = np.where(legal, rng.random((I, A)), 0.0)
    sigma /= sigma.sum(axis=1, keepdims=True)
    reach = rng.random(I)
    rows, cols = rng.permutation(I), rng.permutation(A)

    def run(perm_r, perm_c):
        rule_obj = RULES[rule].cls(warmup=0) if rule == "vad-cfr" else RULES[rule].cls()
        state, out = {}, []
        sub = lambda x: x[perm_r][:, perm_c]  # noqa: E731
        Rn, Sn = sub(R), sub(S)
        for t in (1, 2, 3):
            Rn = rule_obj.update_regrets(Rn, sub(r) * t, sub(legal), t, state)
            Sn = rule_obj.accumulate_average(Sn, sub(sigma), reach[perm_r], sub(legal), t, state)
            out += [Rn, Sn, rule_obj.policy_from_regrets(Rn, sub(legal), t, state)]
        return out

    base = run(np.arange(I), np.arange(A))
    perm = run(rows, cols)
    for x, y in zip(base, perm):
        np.testing.assert_allclose(x[rows][:, cols], y, rtol=1e-12, atol=1e-14)


@pytest.mark.parametrize("game", ["turn_based_simultaneous_game(game=goofspiel(imp_info=True,num_cards=3,"
                                  "points_order=descending,returns_type=win_loss))", "liars_dice(dice_sides=3)",
                                  "leduc_poker"])
def test_valid_outputs_on_benchmark_families(game):
    tree = compile_game(game)
    for rule in NEW:
        solver = CFRSolver(tree, rule=rule, rule_kwargs={"warmup": 5} if rule == "vad-cfr" else None)
        for _ in range(15):  # the engine validates every rule output (finite, 0 on illegal, rows sum to 1)
            solver.step()
        first = solver.exploitability()
        assert np.isfinite(first) and first < CFRSolver(tree, rule=rule).exploitability()
