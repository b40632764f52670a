"""The LSPO training loop (Xu et al., ICML 2025, arXiv 2502.04686, Algorithm 1; docs/lspo.md).

::

    for it in 1..iterations:
        D = self_play(policy, games, candidates_per_turn=3)            # selfplay.py
        Z[role] = kmeans(embed(D.statements[role]), k[role] + it - 1)  # cluster.py
        A = abstract_game(engine, Z)                                  # abstraction.py
        S = mccfr(A)                                                   # mccfr.py (through drive)
        P = preference_pairs(D, Z, S)                                  # preferences.py
        policy = dpo(policy, P, beta=0.1, epochs=2, batch=64)          # policies/template.py, policies/hf.py

Each iteration writes ``iter_<k>/``: ``selfplay.jsonl``, ``obs_vectors.npy``, per-role
embeddings ``emb_<role>.npy``, centroids (``.npy``) and exemplars (``latent.json``), the solver
tables ``solver.npz``, ``prefs.jsonl``, the policy (``template_logits.json`` or HF weights),
``summary.json`` and last ``done.json``. The run directory is a :class:`gtlearn.core.run.Run`:
``config.json`` holds the :class:`LSPOConfig` and ``metrics.jsonl`` one record per finished
iteration (the MCCFR solver's approximate gap, ``avg_regret_per_infoset``, and the iteration's
counts). A rerun with ``resume=True`` (the Run's resume: same config, ``iterations`` may grow)
skips finished iterations and redoes an unfinished one from an emptied ``iter_<k>/``; the resume
granularity is one iteration, not one stage (documented deviation). Seeds derive from
``(seed, iteration, stage)``, so a run stopped anywhere (even by kill -9) and resumed ends with
the same files as one run in one go.

Deviations (documented): the solver is tabular external-sampling MCCFR instead of the paper's
Deep CFR; the template policy's DPO uses learning rate 0.1;
the discussion record of the abstracted game is a public label (see ``cluster.py``).
"""

from __future__ import annotations

import json
import re
import shutil
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numpy as np

from alignment.lspo.abstraction import CFRActor, PublicLabeler, abstract_game
from alignment.lspo.agents import LanguageAgent
from alignment.lspo.cfr_policy import MCCFRPolicy
from alignment.lspo.cluster import LatentSpace, cluster_schedule, fit_latent_space
from alignment.lspo.config import LLM_MODULES, LSPOConfig, require, require_embedder, stage_seed
from alignment.lspo.embed import CachedEmbedder, load_embedder, make_embedder
from alignment.lspo.mccfr import MCCFRConfig, MCCFRSolver
from alignment.lspo.policies.template import TemplatePolicy
from alignment.lspo.preferences import preference_pairs
from alignment.lspo.selfplay import self_play
from gtlearn.core.driver import drive
from gtlearn.core.errors import GtlearnError
from gtlearn.core.io import atomic_write_bytes, atomic_write_json
from gtlearn.core.metrics import Metrics
from gtlearn.core.run import Run


@dataclass
class IterationArtifacts:
    iteration: int
    policy: object
    latent: LatentSpace
    solver_policy: object
    embedder: object
    summary: dict


def _jsonl(path: Path, rows: list[dict]) -> None:
    atomic_write_bytes(path, "".join(json.dumps(r) + "\n" for r in rows).encode())


def _npy(path: Path, arr: np.ndarray) -> None:
    import io

    buf = io.BytesIO()
    np.save(buf, arr, allow_pickle=False)
    atomic_write_bytes(path, buf.getvalue())


def make_policy(config: LSPOConfig, hf_policy=None):
    if config.policy == "template":
        return TemplatePolicy(seed=config.seed)
    if hf_policy is not None:
        return hf_policy
    from alignment.lspo.policies.hf import HFPolicy

    return HFPolicy.from_path(config.model_path)


def load_policy(config: LSPOConfig, directory: Path):
    if config.policy == "template":
        return TemplatePolicy.load(directory)
    from alignment.lspo.policies.hf import HFPolicy

    return HFPolicy.from_path(str(directory / "policy"))


def read_config(run_dir: str | Path) -> LSPOConfig:
    """The :class:`LSPOConfig` of the run in ``run_dir``; one-line error when there is none."""
    path = Path(run_dir) / "config.json"
    if not path.is_file():
        raise GtlearnError(f"{run_dir} is not an LSPO run directory (no config.json)")
    try:
        return LSPOConfig(**json.loads(path.read_text()))
    except (ValueError, TypeError) as exc:
        raise GtlearnError(f"{path} is not an LSPO run config ({exc})") from None


def finished_iterations(run_dir: str | Path) -> list[int]:
    """The iterations of the run in ``run_dir`` that finished (their ``done.json`` written)."""
    found = (re.fullmatch(r"iter_(\d+)", p.name) for p in Path(run_dir).glob("iter_*"))
    return sorted(int(m[1]) for m in found if m and (Path(run_dir) / m[0] / "done.json").is_file())


def check_iteration(run_dir: str | Path, iteration: int) -> None:
    """Iteration ``iteration`` of the run in ``run_dir`` is finished and the packages its agent
    needs (embedder, LM policy) are installed, so loading it cannot fail half-way."""
    cfg = read_config(run_dir)
    d = Path(run_dir) / f"iter_{iteration}"
    if iteration not in finished_iterations(run_dir):
        raise GtlearnError(f"{d} holds no finished LSPO iteration")
    try:
        kind = json.loads((d / "latent.json").read_text()).get("embedder", {}).get("name", cfg.embedder)
    except (OSError, ValueError, AttributeError) as exc:
        raise GtlearnError(f"{d}/latent.json is unreadable ({exc}); delete {d}/done.json and resume the run "
                           "to redo the iteration") from None
    require_embedder(kind)
    if cfg.policy == "hf":
        require(LLM_MODULES, "llm", "an LSPO agent with an hf policy")


def load_iteration(run_dir: str | Path, iteration: int) -> IterationArtifacts:
    """Reload a finished iteration (policy after its DPO step, latent space, CFR policy)."""
    run_dir = Path(run_dir)
    cfg = read_config(run_dir)
    d = run_dir / f"iter_{iteration}"
    if not (d / "done.json").exists():
        raise GtlearnError(f"{d} holds no finished LSPO iteration")
    latent = LatentSpace.load(d)
    embedder = CachedEmbedder(load_embedder(latent.embedder_manifest.get("name", cfg.embedder), d))
    return IterationArtifacts(
        iteration=iteration,
        policy=load_policy(cfg, d),
        latent=latent,
        solver_policy=MCCFRPolicy.load(d / "solver.npz"),
        embedder=embedder,
        summary=json.loads((d / "summary.json").read_text()),
    )


class LSPOTrainer:
    """Runs the loop in the run directory ``out_dir``; ``train()`` returns the per-iteration
    summaries."""

    def __init__(self, config: LSPOConfig, out_dir: str | Path, *, resume: bool = False, overwrite: bool = False,
                 hf_policy=None, log=print) -> None:
        config.validate(have_policy=hf_policy is not None)
        self.config = config
        self.dir = Path(out_dir)
        self.hf_policy = hf_policy
        self.log = log or (lambda *a, **k: None)
        if resume:
            if not (self.dir / "config.json").is_file():
                raise GtlearnError(f"cannot resume: {self.dir} holds no LSPO run; start it without --resume")
            if self._finished() > config.iterations:
                raise GtlearnError(f"{self.dir} already holds {self._finished()} finished iterations; ask for at "
                                   f"least that many to continue it ({config.iterations} given)")
        self.run = Run(self.dir, asdict(config), resume=resume, overwrite=overwrite)
        if overwrite:
            for sub in self.dir.glob("iter_*"):
                shutil.rmtree(sub)

    def _finished(self) -> int:
        """How many iterations, from the first, are finished (their ``done.json`` written)."""
        n = 0
        while (self.dir / f"iter_{n + 1}" / "done.json").exists():
            n += 1
        return n

    def train(self) -> list[dict]:
        cfg = self.config
        finished = self._finished()
        self.run.truncate_metrics(finished)  # records of an iteration that did not finish are dropped
        policy = make_policy(cfg, self.hf_policy)
        actor = None
        summaries = []
        for it in range(1, cfg.iterations + 1):
            if it <= finished:
                art = load_iteration(self.dir, it)
                if cfg.policy == "template" or self.hf_policy is None:
                    policy = art.policy
                actor = self._actor(art.solver_policy, art.latent, art.embedder)
                summaries.append(art.summary)
                self.log(f"iteration {it}: already done, loaded")
                continue
            summary, solver_policy, latent, embed = self._iteration(it, policy, actor)
            actor = self._actor(solver_policy, latent, embed)
            summaries.append(summary)
        return summaries

    def _iteration(self, it: int, policy, actor) -> tuple[dict, MCCFRPolicy, LatentSpace, CachedEmbedder]:
        """One LSPO iteration in ``iter_<it>/``; the metric record is logged before ``done.json``
        so that a finished iteration always has its record."""
        d = self.dir / f"iter_{it}"
        if d.exists():  # left by a run stopped inside this iteration (temp files included): redo it clean
            shutil.rmtree(d)
        d.mkdir(parents=True)
        summary: dict = {"iteration": it}
        times: dict[str, float] = {}
        cpu0 = time.process_time()
        t0 = time.perf_counter()
        turns = self._selfplay(it, d, policy, actor, summary)
        times["selfplay"] = time.perf_counter() - t0
        self.log(f"iteration {it}: self-play {summary['selfplay']['games']} games, {summary['selfplay']['turns']} "
                 f"turns ({times['selfplay']:.1f}s)")
        t0 = time.perf_counter()
        latent, embed = self._cluster(it, d, turns, summary)
        times["cluster"] = time.perf_counter() - t0
        t0 = time.perf_counter()
        solver_policy, record = self._cfr(it, d, latent, summary)
        times["cfr"] = time.perf_counter() - t0
        self.log(f"iteration {it}: MCCFR {summary['cfr']['traversals']} traversals, {summary['cfr']['nodes']} nodes "
                 f"({times['cfr']:.1f}s)")
        t0 = time.perf_counter()
        self._dpo(it, d, turns, latent, embed, solver_policy, policy, summary)
        times["dpo"] = time.perf_counter() - t0
        summary["seconds"] = times
        # CPU time of this process (the machine may be shared; wall time then overstates cost)
        summary["cpu_seconds"] = time.process_time() - cpu0
        self.log(f"iteration {it}: {summary['preferences']['pairs']} pairs, DPO {summary['dpo']} ({times['dpo']:.1f}s)")
        atomic_write_json(d / "summary.json", summary)
        self.run.log(Metrics(iteration=it, gap=record.gap, gap_name=record.gap_name, extra={
            "selfplay_turns": summary["selfplay"]["turns"], "pairs": summary["preferences"]["pairs"],
            **{f"cfr_{k}": v for k, v in record.extra.items()}}))
        atomic_write_json(d / "done.json", {"iteration": it})
        return summary, solver_policy, latent, embed

    def _selfplay(self, it: int, d: Path, policy, actor, summary: dict) -> list[dict]:
        """1. Self-play: candidates per turn, the executed one, observation vectors."""
        cfg = self.config
        use_cfr = it > 1 and cfg.actions_from == "cfr"
        agent = LanguageAgent(policy, action_policy=actor if use_cfr else None)
        turns, vecs, stats = self_play(agent, cfg.games, stage_seed(cfg.seed, it, 1), cfg.candidates)
        stats["fallbacks"] = dict(agent.fallbacks)
        stats["actions_from"] = "cfr" if use_cfr else "policy"
        _jsonl(d / "selfplay.jsonl", turns)
        _npy(d / "obs_vectors.npy", vecs)
        summary["selfplay"] = stats
        return turns

    def _cluster(self, it: int, d: Path, turns: list[dict], summary: dict) -> tuple[LatentSpace, CachedEmbedder]:
        """2. Embeddings and per-role k-means: the latent space of this iteration."""
        cfg = self.config
        by_role: dict[str, list[str]] = {}
        for t in turns:
            by_role.setdefault(t["role"], []).extend(c["statement"] for c in t["candidates"])
        raw_embedder = make_embedder(cfg.embedder)
        raw_embedder.fit([s for v in by_role.values() for s in v])
        embed = CachedEmbedder(raw_embedder)
        for role, texts in by_role.items():
            _npy(d / f"emb_{role}.npy", embed(texts))
        ks = cluster_schedule(it, cfg.base_k)
        latent = fit_latent_space(by_role, embed, ks, stage_seed(cfg.seed, it, 2), cfg.k_public,
                                  embedder_manifest=raw_embedder.manifest(), weighted=cfg.kmeans_weighted)
        latent.save(d)
        raw_embedder.save(d)
        summary.update(k=latent.ks, k_scheduled=ks, k_public=latent.k_public, cluster_sizes=latent.sizes,
                       embedder=raw_embedder.manifest())
        return latent, embed

    def _cfr(self, it: int, d: Path, latent: LatentSpace, summary: dict) -> tuple[MCCFRPolicy, Metrics]:
        """3. MCCFR on the abstracted game, run by the driver; its gap is measured at the end."""
        cfg = self.config
        solver = MCCFRSolver(abstract_game(latent),
                             MCCFRConfig(traversals=cfg.traversals, utility=cfg.utility, seed=stage_seed(cfg.seed, it, 3)))
        record = drive(solver, cfg.traversals, eval_every=cfg.traversals).records[-1]
        solver_policy = solver.average_policy()
        solver_policy.save(d / "solver.npz")
        summary["cfr"] = {"traversals": solver.iteration, "nodes": solver.nodes,
                          "discussion_keys": len(solver_policy.disc_avg), "target_keys": len(solver_policy.tgt_avg),
                          "q_keys": len(solver_policy.q), record.gap_name: record.gap}
        return solver_policy, record

    def _dpo(self, it: int, d: Path, turns: list[dict], latent: LatentSpace, embed: CachedEmbedder,
             solver_policy: MCCFRPolicy, policy, summary: dict) -> None:
        """4. Preference pairs from the CFR values and a DPO step of the statement policy."""
        cfg = self.config
        pairs, pstats = preference_pairs(turns, latent, embed, solver_policy, cfg.delta)
        _jsonl(d / "prefs.jsonl", pairs)
        summary["preferences"] = pstats
        if cfg.policy == "template":
            before = float(np.mean([policy.log_ratio(p) for p in pairs])) if pairs else 0.0
            dstats = policy.dpo_update(pairs, beta=cfg.beta, lr=cfg.lr(), epochs=cfg.epochs,
                                       batch_size=cfg.batch_size, seed=stage_seed(cfg.seed, it, 4))
            after = float(np.mean([policy.log_ratio(p) for p in pairs])) if pairs else 0.0
            dstats.update({"mean_log_ratio_before": before, "mean_log_ratio_after": after})
            policy.save(d)
        else:
            from alignment.lspo.policies.hf import DPOSettings, dpo_hf

            dstats = dpo_hf(policy, pairs, DPOSettings(beta=cfg.beta, learning_rate=cfg.lr(), epochs=cfg.epochs,
                                                       batch_size=cfg.batch_size, lora=cfg.lora,
                                                       max_length=cfg.dpo_max_length,
                                                       seed=stage_seed(cfg.seed, it, 4)), str(d / "dpo_tmp"))
            policy.save(d / "policy")
        summary["dpo"] = dstats

    @staticmethod
    def _actor(solver_policy: MCCFRPolicy, latent: LatentSpace, embed) -> CFRActor:
        return CFRActor(solver_policy, PublicLabeler(latent, embed))
