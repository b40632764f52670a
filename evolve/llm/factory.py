"""The LLM backend a campaign config asks for (docs/evolve.md, LLM backends, ledger and budgets)."""

from __future__ import annotations

from evolve.llm.base import Backend
from evolve.llm.hf_local import HFLocalBackend
from evolve.llm.mutation import MutationBackend
from evolve.llm.openai_compat import OpenAICompatBackend
from evolve.llm.replay import ReplayBackend
from evolve.llm.scripted import ScriptedBackend
from gtlearn.core.errors import GtlearnError


def make_backend(cfg: dict) -> Backend:
    """``llm.backend``: mutation (offline AST operators), scripted (canned answers), openai_compat
    (any chat-completions server), transformers (a local model) or replay (a cassette)."""
    llm = cfg["llm"]
    kind = llm["backend"]
    if kind == "mutation":
        return MutationBackend(cfg["search"]["patch_mix"])
    if kind == "scripted":
        return ScriptedBackend(llm["script"])
    if kind == "openai_compat":
        m = llm["models"][0]
        return OpenAICompatBackend(m["base_url"], m.get("api_key_env"), llm["timeout_s"], llm["retries"])
    if kind == "transformers":
        return HFLocalBackend(llm["models"][0].get("path"))
    if kind == "replay":
        if not llm["cassette"]:
            raise GtlearnError("llm.backend=replay needs llm.cassette (a campaign.db or an exported .jsonl)")
        return ReplayBackend(llm["cassette"], llm.get("record") or "openai_compat", None, bool(llm["strict"]))
    raise GtlearnError(f"unknown backend {kind!r}")
