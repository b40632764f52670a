"""The configuration of Deep CFR (no PyTorch import: the CLI and registries read it cheaply)."""

from __future__ import annotations

from dataclasses import dataclass, field


@dataclass
class DeepCFRConfig:
    traversals: int = 20  # per player per iteration
    advantage_layers: list = field(default_factory=lambda: [128, 128])
    policy_layers: list = field(default_factory=lambda: [256, 256])
    learning_rate: float = 1e-3
    batch_size_advantage: int | None = 2048
    batch_size_strategy: int | None = 2048
    memory_capacity: int = 1_000_000
    advantage_train_steps: int = 100
    policy_train_steps: int = 500
    seed: int = 0
    workers: int = 0  # Ray actors running the traversals (0: in this process)

    def __post_init__(self) -> None:
        # Layer sizes as a list, or as "64,64" from the command line (-p advantage_layers=64,64).
        self.advantage_layers = _sizes(self.advantage_layers)
        self.policy_layers = _sizes(self.policy_layers)
        if self.traversals < 1 or self.memory_capacity < 1 or self.workers < 0:
            raise ValueError("traversals >= 1, memory_capacity >= 1 and workers >= 0 are required")


def _sizes(value) -> list[int]:
    if isinstance(value, (int, float)):
        return [int(value)]
    if isinstance(value, str):
        value = [v for v in value.replace(";", ",").split(",") if v.strip()]
    return [int(v) for v in value]
