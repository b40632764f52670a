"""A local price table (USD per million tokens, input/output). Snapshotted into each run; a
model missing from it is *unpriced* (cost NULL, never $0)."""

PRICES = {
    "mutation": (0.0, 0.0),
    "scripted": (0.0, 0.0),
    "gpt-4o": (2.5, 10.0),
    "gpt-4o-mini": (0.15, 0.6),
    "gpt-4.1": (2.0, 8.0),
    "gpt-4.1-mini": (0.4, 1.6),
    "claude-3-5-sonnet": (3.0, 15.0),
    "gemini-2.0-flash": (0.1, 0.4),
    "deepseek-chat": (0.27, 1.1),
    # Self-hosted models cost no API money; their GPU time is ledgered separately.
    "qwen2.5-coder-32b": (0.0, 0.0),
    "local": (0.0, 0.0),
}


def price(model: str, table: dict | None = None):
    t = PRICES if table is None else table
    p = t.get(model)
    return None if p is None else tuple(p)


def cost(model: str, tokens_in: int, tokens_out: int, table: dict | None = None) -> float | None:
    p = price(model, table)
    if p is None:
        return None
    return (tokens_in * p[0] + tokens_out * p[1]) / 1e6
