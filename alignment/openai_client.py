"""A small client for OpenAI-compatible HTTP endpoints (stdlib ``urllib`` + ``json``, no client
package): the LLM judge posts to ``/chat/completions``, the server generation backend to
``/completions`` (docs/trainers.md, "Generation").
"""

from __future__ import annotations

import json
import os
import threading
import time
import urllib.error
import urllib.request
from typing import Any, Callable

from gtlearn.core.errors import GtlearnError

# What a retry may cure: the network, a server error (HTTPError is a URLError), a truncated or
# malformed reply.
RETRYABLE = (urllib.error.URLError, TimeoutError, OSError, KeyError, IndexError, TypeError, ValueError)


class OpenAIClient:
    """POST JSON to ``{base_url}{path}``; the key comes from ``api_key`` or the environment
    variable ``api_key_env`` (sent as a Bearer token when set). A failed request is retried
    ``retries`` times with a short back-off, then :class:`GtlearnError` is raised. ``requests``
    counts the successful requests."""

    def __init__(self, base_url: str, *, api_key: str | None = None, api_key_env: str = "OPENAI_API_KEY",
                 timeout: float = 60.0, retries: int = 2, name: str = "endpoint") -> None:
        self.base_url = base_url.rstrip("/")
        self.api_key = api_key if api_key is not None else os.environ.get(api_key_env)
        self.timeout = timeout
        self.retries = retries
        self.name = name
        self.requests = 0
        self._lock = threading.Lock()  # requests may run in threads (the server backend's pool)

    def post(self, path: str, body: dict[str, Any], parse: Callable[[dict], Any] = lambda reply: reply) -> Any:
        """``parse(reply)`` of the JSON reply; a reply that ``parse`` rejects (``KeyError``,
        ``IndexError``, ``TypeError``, ``ValueError``) is retried like a network failure."""
        data = json.dumps(body).encode()
        headers = {"Content-Type": "application/json"}
        if self.api_key:
            headers["Authorization"] = f"Bearer {self.api_key}"
        last: Exception | None = None
        for attempt in range(self.retries + 1):
            req = urllib.request.Request(self.base_url + path, data=data, headers=headers, method="POST")
            try:
                with urllib.request.urlopen(req, timeout=self.timeout) as resp:
                    out = parse(json.loads(resp.read().decode()))
                with self._lock:
                    self.requests += 1
                return out
            except RETRYABLE as exc:
                last = exc
                if attempt < self.retries:
                    time.sleep(min(2.0 ** attempt * 0.1, 2.0))
        raise GtlearnError(f"{self.name} at {self.base_url} failed after {self.retries + 1} tries: {last}")


__all__ = ["OpenAIClient"]
