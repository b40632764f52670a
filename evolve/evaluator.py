"""One evaluation job: the cascade for one candidate in one fresh sandbox, scored in trusted code
(docs/evolve.md, Evaluation cascade).

This runs in an executor slot (a local worker process, or a Ray task on any node). It never
touches the database: it returns a plain dict that the controller commits in one transaction.
Every task shares the cascade skeleton of :class:`Cascade`; the task supplies what each stage
asks the sandbox and how the answer is scored.
"""

from __future__ import annotations

import hashlib
import math
import time
from pathlib import Path

from evolve.sandbox.launcher import Sandbox, SandboxCrash, SandboxLimits, SandboxStartError, SandboxTimeout
from evolve.scoring import InvalidPayload, untrusted
from evolve.tasks import TASKS
from evolve.tasks.base import Task

# The trusted evaluation code: its hash is stored per run and checked by remote workers.
_TRUSTED = ("evaluator.py", "scoring.py", "tasks/*.py", "sandbox/*.py")


def run_job(job: dict) -> dict:
    """A ``baselines`` job (trusted, no sandbox), or a ``cascade`` (stages 0-2) or ``heldout``
    (stage 3) evaluation of one candidate."""
    task = TASKS[job["task"]].cls()
    if job["kind"] == "baselines":
        return task.baselines(job["stages"])
    return Cascade(task, job).run()


class Cascade:
    """Stage 0 (property screen), stage 1 (quick screen, gated against the seed's own stage-1
    fitness), stage 2 (the public fitness); or the held-out stage 3 alone. The first failing
    stage ends the evaluation and is recorded invalid, with the reason."""

    def __init__(self, task: Task, job: dict):
        self.task, self.job = task, job
        self.heldout = job["kind"] != "cascade"
        self.wanted = [s for s in job["stages"] if (s["stage"] == 3 if self.heldout else s["stage"] in (1, 2))]
        self.records: list[dict] = []
        self.stage = 3 if self.heldout else 0  # the stage being run, for a failure's record

    def run(self) -> dict:
        t0, c0 = time.time(), time.thread_time()
        job = self.job
        sb = Sandbox(self.task.child_driver, job["code"], SandboxLimits(**job["limits"]),
                     init={"state_cap_mb": int(job.get("state_cap_mb", 64))}, hide=tuple(job.get("hide", ())),
                     scratch=job.get("scratch"))
        state, reason = "evaluated", None
        try:
            reason = self._stages(sb)
            if reason is not None:
                state = "failed"
        except SandboxTimeout as exc:
            state, reason = "timeout", str(exc)
        except SandboxStartError as exc:
            state, reason = "failed", f"sandbox could not start: {exc}"
        except (SandboxCrash, InvalidPayload) as exc:
            state, reason = "failed", str(exc)
        finally:
            sb.close()
        if state != "evaluated" and (not self.records or self.records[-1]["valid"]):
            self.records.append({"stage": self.stage, "valid": False, "wall_s": 0.0})
        last = self.records[-1]
        usage = sb.usage()
        last.update({k: usage[k] for k in ("peak_rss_mb", "exit_code")})
        # The evaluation's CPU: the child's (wait4) and the trusted engine's in this thread.
        last["child_cpu_s"] = usage["cpu_s"]
        last["cpu_s"] = round((usage["cpu_s"] or 0.0) + time.thread_time() - c0, 4)
        last["stderr_tail"] = (sb.stderr_tail or "")[-2000:]
        if reason:
            last["error"] = reason[:2000]
        return {"program_id": job["program_id"], "attempt": job["attempt"], "kind": job["kind"], "state": state,
                "reason": reason, "stages": self.records, "wall_s": time.time() - t0, "profile": sb.profile}

    def _stages(self, sb) -> str | None:
        """Run the stages; the gate's reason if stage 1 fails it (other failures raise)."""
        ready = sb.start()
        if not ready.get("ok"):
            raise InvalidPayload(f"{ready.get('stage', 'load')} failed: {untrusted(ready.get('error'))}")
        if not self.heldout:
            s0 = time.time()
            self.task.check_properties(sb, self.job["seed"])
            self.records.append({"stage": 0, "valid": True, "public": {"props": "pass"}, "wall_s": time.time() - s0})
        for s in self.wanted:
            self.stage = s["stage"]
            s0 = time.time()
            metrics = self.task.score_stage(sb, s, self.job)
            self.records.append({"stage": self.stage, "valid": True, "wall_s": time.time() - s0,
                                 "private" if self.stage == 3 else "public": metrics})
            if self.stage == 1:
                reason = self._gate(metrics["fitness"], float(s.get("epsilon", 1.0)))
                if reason is not None:
                    self.records[-1]["valid"] = False
                    return reason
        return None

    def _gate(self, fitness: float, epsilon: float) -> str | None:
        """Stage 1 passes unless the candidate is worse than the seed's own stage-1 fitness by
        more than a factor ``1 + epsilon`` in exploitability (the seed itself is not gated)."""
        if self.job.get("gate_ref") is None:
            return None
        gate = float(self.job["gate_ref"]) - math.log10(1.0 + epsilon)
        if fitness < gate:
            return f"stage 1 gate: fitness {fitness:.3f} < {gate:.3f} (worse than the seed by more than epsilon)"
        return None


def evaluator_sha() -> str:
    """Hash of the trusted evaluation code (sandbox, tasks, scoring); stored per run, and
    checked by remote workers so that every node scores with the same code."""
    root = Path(__file__).parent
    h = hashlib.sha256()
    for pattern in _TRUSTED:
        for p in sorted(root.glob(pattern)):
            h.update(str(p.relative_to(root)).encode() + b"\0" + p.read_bytes())
    return h.hexdigest()
