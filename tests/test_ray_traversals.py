"""Traversals on Ray actors: two workers give the numbers of one local process (same seeds).
The MCCFR case runs by default (~20 s with Ray's start-up); the Deep CFR case is slow-marked."""

import numpy as np
import pytest

from solvers.mccfr import MCCFRConfig, MCCFRSolver

ray = pytest.importorskip("ray")


@pytest.fixture(scope="module", autouse=True)
def local_ray():
    if not ray.is_initialized():
        ray.init(num_cpus=2, include_dashboard=False, log_to_driver=False)
    yield
    ray.shutdown()


def _same_state(a, b):
    sa, sb = a.state_dict(), b.state_dict()
    for key in sa:
        if key != "config":
            assert np.array_equal(sa[key], sb[key]), key


@pytest.mark.parametrize("sampler", ["external", "outcome"])
def test_mccfr_two_workers_equal_local(sampler):
    local = MCCFRSolver("leduc_poker", MCCFRConfig(sampler=sampler, seed=7, traversals=6, rule="cfr+"))
    remote = MCCFRSolver("leduc_poker", MCCFRConfig(sampler=sampler, seed=7, traversals=6, rule="cfr+", workers=2))
    for _ in range(4):
        local.step()
        remote.step()
    _same_state(local, remote)
    remote.close()  # frees the two CPUs of this local Ray for the next pool
    # a resumed distributed run re-syncs its actors' replicas
    again = MCCFRSolver("leduc_poker", MCCFRConfig(sampler=sampler, seed=7, traversals=6, rule="cfr+", workers=2))
    again.load_state_dict(remote.state_dict())
    local.step()
    again.step()
    _same_state(local, again)
    again.close()


@pytest.mark.slow  # ~25 s on a loaded 2-core machine (two actors each load PyTorch)
def test_deep_cfr_two_workers_equal_local():
    pytest.importorskip("torch")
    from solvers.deep_cfr import DeepCFRConfig
    from solvers.deep_cfr.solver import DeepCFRSolver

    cfg = dict(traversals=6, advantage_layers=[8], policy_layers=[8], advantage_train_steps=3, policy_train_steps=3,
               batch_size_advantage=16, batch_size_strategy=16, seed=5)
    local = DeepCFRSolver("kuhn_poker", DeepCFRConfig(**cfg))
    remote = DeepCFRSolver("kuhn_poker", DeepCFRConfig(**cfg, workers=2))
    for _ in range(2):
        local.step()
        remote.step()
    _same_state(local, remote)
    remote.close()
