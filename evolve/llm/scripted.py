"""Scripted backend for tests: canned responses (valid diffs, malformed ones, out-of-block
edits, signature changes, attacks). Response ``i`` answers the proposal with ``sample_idx == i + 1``
(item 0 is the seed; cycling), so a resumed campaign gets the same answer for the same item."""

from __future__ import annotations

import json
from pathlib import Path

from evolve.llm.base import Backend, Completion, approx_tokens


def load_script(script) -> list[str]:
    if isinstance(script, (list, tuple)):
        return [str(s) for s in script]
    p = Path(script)
    if p.suffix in (".yaml", ".yml"):
        import yaml

        return [str(s) for s in yaml.safe_load(p.read_text())]
    return [str(s) for s in json.loads(p.read_text())]


class ScriptedBackend(Backend):
    name = "scripted"

    def __init__(self, script):
        self.script = load_script(script)

    def complete(self, messages, *, model, temperature, max_tokens, seed, context=None):
        idx = int((context or {}).get("sample_idx", 0))
        text = self.script[(idx - 1) % len(self.script)]
        return Completion(text, approx_tokens("".join(m["content"] for m in messages)), approx_tokens(text), 0.0, 0.0)
