"""Record/replay cassettes keyed by ``(backend, model, prompt_sha, sample_idx)``.

Sources: another run's ``llm_calls`` table (a ``campaign.db``) or an exported JSONL file.
Strict mode fails on a miss; otherwise a miss falls through to the live backend (record mode;
the live answer is stored in this run's ``llm_calls`` like any call).
"""

from __future__ import annotations

import json
from pathlib import Path

from evolve.db import DB
from evolve.llm.base import Backend, Completion, LLMError, prompt_sha


def load_cassette(source) -> dict:
    p = Path(source)
    out = {}
    if p.suffix == ".jsonl":
        for line in p.read_text().splitlines():
            if line.strip():
                r = json.loads(line)
                out[(r["backend"], r["model"], r["prompt_sha"], int(r["sample_idx"]))] = r
        return out
    db = DB(p, readonly=True)
    for r in db.answered_llm_calls():
        out[(r["backend"], r["model"], r["prompt_sha"], int(r["sample_idx"]))] = r
    db.close()
    return out


def export_jsonl(db_path, dest) -> int:
    recs = load_cassette(db_path)
    with open(dest, "w") as fh:
        for r in recs.values():
            fh.write(json.dumps({k: r[k] for k in ("backend", "model", "prompt_sha", "sample_idx", "response", "tokens_in", "tokens_out", "cost_usd")}, sort_keys=True) + "\n")
    return len(recs)


class ReplayBackend(Backend):
    name = "replay"

    def __init__(self, source, recorded_backend: str, live: Backend | None = None, strict: bool = True):
        self.cassette = load_cassette(source)
        self.recorded_backend = recorded_backend
        self.live, self.strict = live, strict
        self.hits = self.misses = 0

    def complete(self, messages, *, model, temperature, max_tokens, seed, context=None):
        key = (self.recorded_backend, model, prompt_sha(messages), int((context or {}).get("sample_idx", 0)))
        r = self.cassette.get(key)
        if r is not None:
            self.hits += 1
            return Completion(r["response"], int(r["tokens_in"] or 0), int(r["tokens_out"] or 0), r.get("cost_usd"), 0.0)
        self.misses += 1
        if self.strict or self.live is None:
            raise LLMError(f"cassette miss for model {model!r}, prompt {key[2][:12]}, sample {key[3]} (strict replay)")
        return self.live.complete(messages, model=model, temperature=temperature, max_tokens=max_tokens, seed=seed, context=context)
