"""What every statement policy returns: candidates carrying what DPO needs."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any


@dataclass
class Candidate:
    """One candidate statement.

    ``statement`` is the public text; ``completion`` the policy's raw output (the JSON with the
    private reasoning) that DPO scores; ``prompt`` what it was conditioned on; ``meta`` the
    template policy's (bucket, intent) so that its DPO update knows which logits to move.
    """

    statement: str
    completion: str
    prompt: str = ""
    meta: dict[str, Any] = field(default_factory=dict)
