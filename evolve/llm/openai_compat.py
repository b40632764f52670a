"""OpenAI-compatible chat-completions over HTTP (vLLM, llama.cpp server, Ollama, hosted APIs).

A hard request timeout, bounded retries with jittered exponential backoff, and usage read
from the response. The API key is read from the environment variable named in the config
(``api_key_env``) in the controller only; it is never passed to a sandbox.
"""

from __future__ import annotations

import json
import os
import random
import time
import urllib.error
import urllib.request

from evolve.llm.base import Backend, Completion, LLMError, approx_tokens


class OpenAICompatBackend(Backend):
    name = "openai_compat"

    def __init__(self, base_url: str, api_key_env: str | None = None, timeout_s: float = 120.0, retries: int = 2):
        if not base_url:
            raise LLMError("openai_compat needs a base_url")
        self.url = base_url.rstrip("/") + "/chat/completions"
        self.key = os.environ.get(api_key_env) if api_key_env else None
        self.timeout_s, self.retries = float(timeout_s), int(retries)

    def complete(self, messages, *, model, temperature, max_tokens, seed, context=None):
        body = {"model": model, "messages": messages, "temperature": temperature, "max_tokens": max_tokens, "seed": seed}
        headers = {"Content-Type": "application/json"}
        if self.key:
            headers["Authorization"] = f"Bearer {self.key}"
        last = None
        rng = random.Random(seed)
        for attempt in range(self.retries + 1):
            t0 = time.monotonic()
            try:
                req = urllib.request.Request(self.url, data=json.dumps(body).encode(), headers=headers, method="POST")
                with urllib.request.urlopen(req, timeout=self.timeout_s) as resp:  # noqa: S310 - configured URL
                    data = json.loads(resp.read(32 << 20))
                text = data["choices"][0]["message"]["content"] or ""
                usage = data.get("usage") or {}
                return Completion(
                    text,
                    int(usage.get("prompt_tokens") or approx_tokens("".join(m["content"] for m in messages))),
                    int(usage.get("completion_tokens") or approx_tokens(text)),
                    None,
                    time.monotonic() - t0,
                )
            except (urllib.error.URLError, OSError, ValueError, KeyError, IndexError, TypeError) as exc:
                last = exc
                retriable = not (isinstance(exc, urllib.error.HTTPError) and 400 <= exc.code < 500 and exc.code != 429)
                if attempt == self.retries or not retriable:
                    break
                time.sleep(min(8.0, 0.25 * 2**attempt) * (0.5 + rng.random()))
        raise LLMError(f"chat-completions request failed: {type(last).__name__}: {last}")
