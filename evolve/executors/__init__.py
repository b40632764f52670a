"""Evaluation executors: ``local`` (process pool on this host) and ``ray`` (a Ray cluster)."""


def make_executor(cfg: dict):
    ex = cfg["executor"]
    if ex["kind"] == "ray":
        from evolve.executors.ray import RayExecutor

        return RayExecutor(int(ex["slots"]), ex.get("ray_address"))
    from evolve.executors.local import LocalExecutor

    return LocalExecutor(int(ex["slots"]), bool(ex.get("processes", True)))
