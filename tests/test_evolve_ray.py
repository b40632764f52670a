"""The Ray executor on a local Ray instance with 2 workers: same results as the local path."""


import pytest

ray = pytest.importorskip("ray")

from _evolve_helpers import job, tiny_cfg, with_update  # noqa: E402

from evolve.evaluator import evaluator_sha, run_job  # noqa: E402
from evolve.tasks.cfr import SEED  # noqa: E402


def test_ray_executor_two_workers_matches_local(tmp_path):
    from evolve.executors.ray import RayExecutor

    cfg = tiny_cfg(cascade={"heldout": {"games": []}})
    base = run_job({"kind": "baselines", "task": "cfr", "stages": job(SEED, cfg, None)["stages"]})
    progs = [SEED, SEED.replace("t * reach", "t ** 2 * reach"), with_update("return np.full(cum_regret.shape, np.nan)")]
    jobs = [dict(job(p, cfg, base, seed=3), program_id=i, evaluator_sha=evaluator_sha()) for i, p in enumerate(progs)]
    ex = RayExecutor(2, num_cpus=2)
    try:
        assert ray.cluster_resources().get("CPU") == 2
        futs = [ex.submit(j) for j in jobs]
        remote = [f.result(timeout=300) for f in futs]
        bad = ex.submit(dict(jobs[0], evaluator_sha="0" * 64))
        with pytest.raises(Exception, match="evaluator_sha mismatch"):
            bad.result(timeout=300)
    finally:
        ray.shutdown()
    local = [run_job(j) for j in jobs]
    assert [r["state"] for r in remote] == ["evaluated", "evaluated", "failed"]
    for r, l in zip(remote, local):
        assert r["state"] == l["state"]
        assert [s.get("public") for s in r["stages"]] == [s.get("public") for s in l["stages"]]
