"""The LSPO training loop (Xu et al., ICML 2025, arXiv 2502.04686, Algorithm 1; spec §3).

::

    for it in 1..iterations:
        D = self_play(policy, games, candidates_per_turn=3)            # selfplay.py
        Z[role] = kmeans(embed(D.statements[role]), k[role] + it - 1)  # cluster.py
        A = abstract_game(engine, Z)                                  # agent.py / solvers/mccfr.py
        S = mccfr(A)                                                   # solvers/mccfr.py
        P = preference_pairs(D, Z, S)                                  # preferences.py
        policy = dpo(policy, P, beta=0.1, epochs=2, batch=64)          # policies/template.py, policies/hf.py

Each iteration writes ``iter_<k>/``: ``selfplay.jsonl``, ``obs_vectors.npy``, per-role
embeddings ``emb_<role>.npy``, centroids (``.npy``) and exemplars (``latent.json``), the solver
tables ``solver.npz``, ``prefs.jsonl``, the policy (``template_logits.json`` or HF weights),
``summary.json`` and last ``done.json``; a rerun with ``resume=True`` skips finished iterations
(the resume granularity is one iteration, not one stage -- documented deviation from spec §7).
Seeds derive from ``(seed, iteration, stage)``.

Deviations (documented): the solver is tabular external-sampling MCCFR (the spec's default)
instead of the paper's Deep CFR; the template policy's DPO uses learning rate 0.1 (spec §3.5);
the discussion record of the abstracted game is a public label (see ``cluster.py``).
"""

from __future__ import annotations

import json
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path

import numpy as np

from alignment.lspo.cluster import (
    BASE_K,
    LatentSpace,
    cluster_schedule,
    fit_latent_space,
)
from gtlearn.core.errors import GtlearnError
from gtlearn.core.io import atomic_write_bytes, atomic_write_json

PRESETS = {
    # CI smoke: 3 iterations of 40 games (spec §7).
    "ci": {"games": 40, "traversals": 600},
    # The CPU offline preset: 200 games per iteration (spec §3.1).
    "cpu": {"games": 200, "traversals": 4000},
    # The paper's data volume.
    "paper": {"games": 1000, "traversals": 20000},
}


@dataclass
class LSPOConfig:
    iterations: int = 3
    games: int = 200
    candidates: int = 3
    embedder: str = "hashing"  # auto | minilm | tfidf | hashing
    base_k: dict = field(default_factory=lambda: dict(BASE_K))
    k_public: int | None = None
    kmeans_weighted: bool = False
    solver: str = "mccfr"
    traversals: int = 4000
    utility: str = "shaped"
    actions_from: str = "cfr"  # who takes secret/vote actions in self-play from iteration 2
    delta: float = 0.0
    beta: float = 0.1
    learning_rate: float | None = None  # None: 0.1 for the template policy, 1e-6 for hf
    epochs: int = 2
    batch_size: int = 64
    policy: str = "template"  # template | hf
    model_path: str | None = None
    lora: bool = False
    dpo_max_length: int = 512  # hf: prompt + completion tokens kept by TRL
    seed: int = 0

    @classmethod
    def preset(cls, name: str, **overrides) -> LSPOConfig:
        if name not in PRESETS:
            raise GtlearnError(f"unknown preset {name!r}; choose one of {sorted(PRESETS)}")
        return cls(**{**PRESETS[name], **{k: v for k, v in overrides.items() if v is not None}})

    def validate(self, have_policy: bool = False) -> None:
        if self.iterations < 1:
            raise GtlearnError("iterations must be at least 1")
        if self.games < 1:
            raise GtlearnError("games must be at least 1")
        if self.candidates < 2:
            raise GtlearnError("candidates must be at least 2 (pairs need two candidates)")
        if self.solver != "mccfr":
            raise GtlearnError(f"solver {self.solver!r} is not available; the implemented solver is mccfr")
        if self.policy not in ("template", "hf"):
            raise GtlearnError(f"unknown policy {self.policy!r}; use template or hf")
        if self.policy == "hf" and not self.model_path and not have_policy:
            raise GtlearnError("policy hf needs --model-path to a local causal LM")
        if self.actions_from not in ("cfr", "policy"):
            raise GtlearnError(f"unknown actions_from {self.actions_from!r}; use cfr or policy")

    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 0.1 if self.policy == "template" else 1e-6


def stage_seed(seed: int, iteration: int, stage: int) -> int:
    return (seed * 1000 + iteration) * 100 + stage


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
        from alignment.lspo.policies.template import TemplatePolicy

        return TemplatePolicy(seed=config.seed)
    if hf_policy is not None:
        return hf_policy
    from alignment.lspo.policies.hf import HFPolicy

    return HFPolicy.from_path(config.model_path)


def load_policy(config: LSPOConfig, directory: Path):
    if config.policy == "template":
        from alignment.lspo.policies.template import TemplatePolicy

        return TemplatePolicy.load(directory)
    from alignment.lspo.policies.hf import HFPolicy

    return HFPolicy.from_path(str(directory / "policy"))


def load_iteration(run_dir: str | Path, iteration: int) -> IterationArtifacts:
    """Reload a finished iteration (policy after its DPO step, latent space, CFR policy)."""
    from alignment.lspo.embed import CachedEmbedder, load_embedder
    from solvers.mccfr import MCCFRPolicy

    run_dir = Path(run_dir)
    cfg = LSPOConfig(**json.loads((run_dir / "lspo_config.json").read_text()))
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
    """Runs the loop; ``train()`` returns the per-iteration summaries."""

    def __init__(self, config: LSPOConfig, out_dir: str | Path, *, resume: bool = False, overwrite: bool = False,
                 hf_policy=None, show_progress: bool = False, log=print) -> None:
        config.validate(have_policy=hf_policy is not None)
        self.config = config
        self.dir = Path(out_dir)
        self.hf_policy = hf_policy
        self.show_progress = show_progress
        self.log = log or (lambda *a, **k: None)
        cfg_path = self.dir / "lspo_config.json"
        if cfg_path.exists() and not (resume or overwrite):
            raise GtlearnError(f"{self.dir} already holds an LSPO run; pass --resume or --overwrite")
        if resume and cfg_path.exists():
            old = json.loads(cfg_path.read_text())
            for key, value in asdict(config).items():
                if key != "iterations" and old.get(key) != json.loads(json.dumps(value)):
                    raise GtlearnError(f"cannot resume {self.dir}: {key!r} was {old.get(key)!r}, now {value!r}")
        if overwrite and self.dir.exists():
            import shutil

            for sub in self.dir.glob("iter_*"):
                shutil.rmtree(sub)
        self.dir.mkdir(parents=True, exist_ok=True)
        atomic_write_json(cfg_path, asdict(config))

    def train(self) -> list[dict]:
        from alignment.lspo.embed import CachedEmbedder, make_embedder

        cfg = self.config
        policy = make_policy(cfg, self.hf_policy)
        actor = None
        summaries = []
        for it in range(1, cfg.iterations + 1):
            d = self.dir / f"iter_{it}"
            if (d / "done.json").exists():
                art = load_iteration(self.dir, it)
                if cfg.policy == "template" or self.hf_policy is None:
                    policy = art.policy
                actor = self._actor(art.solver_policy, art.latent, art.embedder)
                summaries.append(art.summary)
                self.log(f"iteration {it}: already done, loaded")
                continue
            d.mkdir(parents=True, exist_ok=True)
            times = {}
            summary: dict = {"iteration": it}
            cpu0 = time.process_time()

            # 1. self-play
            t0 = time.perf_counter()
            from alignment.lspo.agents import LanguageAgent
            from alignment.lspo.selfplay import self_play

            use_cfr = it > 1 and cfg.actions_from == "cfr"
            agent = LanguageAgent(policy, action_policy=actor if use_cfr else None)
            turns, vecs, sp_stats = self_play(agent, cfg.games, stage_seed(cfg.seed, it, 1), cfg.candidates)
            sp_stats["fallbacks"] = dict(agent.fallbacks)
            sp_stats["actions_from"] = "cfr" if use_cfr else "policy"
            _jsonl(d / "selfplay.jsonl", turns)
            _npy(d / "obs_vectors.npy", vecs)
            times["selfplay"] = time.perf_counter() - t0
            summary["selfplay"] = sp_stats
            self.log(f"iteration {it}: self-play {sp_stats['games']} games, {sp_stats['turns']} turns "
                     f"({times['selfplay']:.1f}s)")

            # 2. embeddings and per-role k-means
            t0 = time.perf_counter()
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
            times["cluster"] = time.perf_counter() - t0
            summary["k"] = latent.ks
            summary["k_scheduled"] = ks
            summary["k_public"] = latent.k_public
            summary["cluster_sizes"] = latent.sizes
            summary["embedder"] = raw_embedder.manifest()

            # 3. MCCFR on the abstracted game
            t0 = time.perf_counter()
            from alignment.lspo.agent import abstract_game
            from solvers.mccfr import MCCFRConfig, MCCFRSolver

            solver = MCCFRSolver(abstract_game(latent),
                                 MCCFRConfig(traversals=cfg.traversals, utility=cfg.utility,
                                             seed=stage_seed(cfg.seed, it, 3)))
            solver_policy = solver.run()
            solver_policy.save(d / "solver.npz")
            times["cfr"] = time.perf_counter() - t0
            summary["cfr"] = {"traversals": solver.t, "nodes": solver.nodes,
                              "discussion_keys": len(solver_policy.disc_avg),
                              "target_keys": len(solver_policy.tgt_avg), "q_keys": len(solver_policy.q)}
            self.log(f"iteration {it}: MCCFR {solver.t} traversals, {solver.nodes} nodes ({times['cfr']:.1f}s)")

            # 4. preference pairs and DPO
            t0 = time.perf_counter()
            from alignment.lspo.preferences import preference_pairs

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
            times["dpo"] = time.perf_counter() - t0
            summary["dpo"] = dstats
            summary["seconds"] = times
            # CPU time of this process (the machine may be shared; wall time then overstates cost)
            summary["cpu_seconds"] = time.process_time() - cpu0
            self.log(f"iteration {it}: {pstats['pairs']} pairs, DPO {dstats} ({times['dpo']:.1f}s)")
            atomic_write_json(d / "summary.json", summary)
            atomic_write_json(d / "done.json", {"iteration": it})
            actor = self._actor(solver_policy, latent, embed)
            summaries.append(summary)
        return summaries

    @staticmethod
    def _actor(solver_policy, latent, embed):
        from alignment.lspo.agent import CFRActor, PublicLabeler

        return CFRActor(solver_policy, PublicLabeler(latent, embed))
