"""Ray executor: evaluation across machines (docs/evolve.md, Executors).

Each job is a Ray task with ``max_retries=0``: retries happen only through the controller's
lease expiry and ``attempt`` counter, which keeps the committed effect exactly-once. The task
runs the same sandbox launcher on its node and scores in the Ray worker process (outside the
candidate's subprocess). A worker refuses a job whose ``evaluator_sha`` differs from the code
it has installed. The controller stays the only database writer.

Pointing a campaign at a cluster: start Ray on the nodes (``ray start --head`` on one,
``ray start --address=HEAD:6379`` on the others, each with gtlearn installed at the same
version), then set ``executor: {kind: ray, ray_address: "HEAD:6379", slots: N}``. With no
address a local Ray instance is started. ``runtime_env`` carries no environment variables,
so no secret reaches a worker.
"""

from __future__ import annotations

import concurrent.futures as cf


def _remote_eval(job: dict) -> dict:
    from evolve.evaluator import evaluator_sha, run_job

    want = job.get("evaluator_sha")
    if want and want != evaluator_sha():
        raise RuntimeError(f"evaluator_sha mismatch: worker has {evaluator_sha()[:12]}, job wants {want[:12]}")
    return run_job(job)


class RayExecutor:
    def __init__(self, slots: int, address: str | None = None, num_cpus: int | None = None):
        try:
            import ray
        except ImportError as exc:
            from gtlearn.core.errors import GtlearnError

            raise GtlearnError("executor.kind=ray needs ray: pip install 'gtlearn[distributed]'") from exc
        self.ray = ray
        self.slots = slots
        if not ray.is_initialized():
            if address:
                ray.init(address=address, runtime_env={}, log_to_driver=False)
            else:
                ray.init(num_cpus=num_cpus or slots, include_dashboard=False, log_to_driver=False,
                         runtime_env={}, configure_logging=False)
        self._fn = ray.remote(max_retries=0, num_cpus=1)(_remote_eval)
        self._refs: dict = {}

    def submit(self, job: dict) -> cf.Future:
        ref = self._fn.remote(job)
        fut = ref.future()
        self._refs[fut] = ref
        fut.add_done_callback(lambda f: self._refs.pop(f, None))
        return fut

    def abandon(self, fut: cf.Future) -> bool:
        """Give up on a job whose lease expired: cancel its Ray task, force-killing the worker."""
        ref = self._refs.pop(fut, None)
        if ref is None:
            return False
        self.ray.cancel(ref, force=True)
        return True

    def shutdown(self) -> None:
        pass
