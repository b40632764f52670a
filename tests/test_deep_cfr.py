"""Deep CFR (PyTorch): it learns on Kuhn poker, its buffers are reservoirs, and measuring the
gap never changes the run."""

import numpy as np
import pytest

from games.tree import compile_game
from gtlearn.core.driver import drive

torch = pytest.importorskip("torch")
from solvers.deep_cfr import DeepCFRConfig  # noqa: E402
from solvers.deep_cfr.buffers import ReservoirBuffer  # noqa: E402
from solvers.deep_cfr.solver import DeepCFRSolver  # noqa: E402


@pytest.fixture(autouse=True)
def one_torch_thread():
    """The networks are tiny: on a shared 2-core machine a second PyTorch thread only waits
    (8x slower wall time measured under load)."""
    before = torch.get_num_threads()
    torch.set_num_threads(1)
    yield
    torch.set_num_threads(before)


SMALL = dict(traversals=20, advantage_layers=[16, 16], policy_layers=[32, 32], advantage_train_steps=40,
             policy_train_steps=150, batch_size_advantage=128, batch_size_strategy=256, seed=0)


def test_improves_on_kuhn():
    tree = compile_game("kuhn_poker")
    solver = DeepCFRSolver("kuhn_poker", DeepCFRConfig(**SMALL), tree=tree)
    start = solver.gap().gap
    result = drive(solver, 12, eval_every=12)
    assert result.final_gap < 0.5 * start, (start, result.final_gap)
    policy = solver.average_policy()
    assert policy.shape == tree.legal.shape and np.allclose(policy.sum(axis=1), 1.0)
    assert np.all(policy[~tree.legal] == 0)
    current = solver.current_policy()
    assert np.allclose(current.sum(axis=1), 1.0)


def test_measuring_does_not_change_the_run():
    tree = compile_game("kuhn_poker")
    cfg = DeepCFRConfig(**dict(SMALL, traversals=5, advantage_train_steps=5, policy_train_steps=5))
    a = DeepCFRSolver("kuhn_poker", cfg, tree=tree)
    b = DeepCFRSolver("kuhn_poker", cfg, tree=tree)
    for _ in range(3):
        a.step()
        a.gap()
        b.step()
    sa, sb = a.state_dict(), b.state_dict()
    for key in sa:
        assert np.array_equal(sa[key], sb[key]), key


def test_reservoir_keeps_a_uniform_sample():
    rng = np.random.default_rng(0)
    counts = np.zeros(100)
    for _ in range(300):
        buf = ReservoirBuffer(10, 1, 1)
        items = np.arange(100, dtype=np.float32)[:, None]
        buf.extend(items, 1, items, rng)
        assert len(buf) == 10 and buf.add_calls == 100
        counts[buf.info_state[:, 0].astype(int)] += 1
    assert counts.min() > 5 and counts.max() < 60  # each item kept with probability 1/10


def test_without_a_tree_reports_the_advantage_loss():
    solver = DeepCFRSolver("kuhn_poker", DeepCFRConfig(**dict(SMALL, traversals=3, advantage_train_steps=2,
                                                             policy_train_steps=2)))
    solver.step()
    record = solver.gap()
    assert record.gap_name == "advantage_loss" and np.isfinite(record.gap)
    assert solver.average_policy().shape[1] == 3 - 1 or solver.average_policy().shape[1] == 2


def test_cli_deep_cfr_resumes_exactly(tmp_path):
    import json

    from gtlearn.cli import main

    common = ["solve", "kuhn_poker", "--algo", "deep-cfr", "--eval-every", "2", "--quiet", "--seed", "1",
              "-p", "traversals=4", "-p", "advantage_layers=8", "-p", "policy_layers=8,8", "-p", "advantage_train_steps=3",
              "-p", "policy_train_steps=3", "-p", "batch_size_advantage=16", "-p", "batch_size_strategy=16"]
    a, b = tmp_path / "a", tmp_path / "b"
    assert main([*common, "-n", "4", "--out", str(a)]) == 0
    assert main([*common, "-n", "2", "--out", str(b)]) == 0
    assert main([*common, "-n", "4", "--out", str(b), "--resume"]) == 0
    rows_a = [json.loads(x) for x in (a / "metrics.jsonl").read_text().splitlines()]
    rows_b = [json.loads(x) for x in (b / "metrics.jsonl").read_text().splitlines()]
    assert [r["gap"] for r in rows_a] == [r["gap"] for r in rows_b] and rows_a[-1]["iteration"] == 4
