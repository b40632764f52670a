"""The backend interface: ``complete(messages, *, model, temperature, max_tokens, seed)``."""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass


@dataclass
class Completion:
    text: str
    tokens_in: int = 0
    tokens_out: int = 0
    cost_usd: float | None = None
    latency_s: float = 0.0


class LLMError(Exception):
    pass


class Backend:
    name = "backend"

    def complete(self, messages: list[dict], *, model: str, temperature: float, max_tokens: int, seed: int,
                 context: dict | None = None) -> Completion:
        """``context`` carries structured data (parent code, inspirations, item_seq) that only the
        non-LLM backends use; an LLM sees the messages alone."""
        raise NotImplementedError


def prompt_sha(messages: list[dict]) -> str:
    return hashlib.sha256(json.dumps(messages, sort_keys=True, separators=(",", ":")).encode()).hexdigest()


def approx_tokens(text: str) -> int:
    """Token estimate for backends that report none (about 4 characters per token)."""
    return max(1, len(text) // 4)
