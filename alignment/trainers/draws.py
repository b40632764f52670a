"""What a trainer draws at random — completions and preference labels — and from where
(docs/trainers.md, "Generation" and "Multi-process").

Under ``sampling_rng="keyed"`` a draw is keyed by ``(seed, *key, global index)``: the key names
what is drawn (step, micro-batch, role, round) and the global index places the row or prompt in
the batch of *all* processes, so a run split over processes draws exactly what one process with
the same global batch draws. Completions of the policy come from the local model or, with
``generation_backend="server"``, from an OpenAI-compatible endpoint; other models (anchors,
mixtures, proposals) always sample locally.
"""

from __future__ import annotations

from typing import Sequence

import torch

from alignment.trainers.distributed import world
from alignment.trainers.logprobs import Completions
from alignment.trainers.models import is_sharded
from alignment.trainers.rng import keyed_generator, keyed_uniform, row_seeds
from alignment.trainers.sampling import generate
from alignment.trainers.server import server_for

# Roles in a draw's key.
POLICY, OPPONENT, LABELS, PAIRS = 0, 1, 2, 3


class DrawsMixin:
    """Keyed draws for a ``transformers.Trainer`` whose ``args`` is a
    :class:`~alignment.trainers.config.TrainerConfig`."""

    _server = None

    @property
    def keyed(self) -> bool:
        return self.args.sampling_rng == "keyed"

    @property
    def server(self):
        if self._server is None:
            self._server = server_for(self.args)
        return self._server

    def draw_seeds(self, key: Sequence[int], n: int, start: int | None = None) -> list[int] | None:
        """Seeds of this process's ``n`` items, global indices ``start …`` (default: this
        process's block when every process draws ``n``); None unless keyed."""
        if not self.keyed:
            return None
        if start is None:
            start = world()[0] * n
        return row_seeds((int(self.args.seed), *key), start, n)

    def draw_completions(self, model, prompts: list, key: Sequence[int], *, num_samples: int = 1, policy: bool = True,
                         start: int | None = None) -> Completions:
        """``num_samples`` completions per prompt from ``model`` (or the server, for the policy)."""
        args = self.args
        seeds = self.draw_seeds(key, len(prompts), start)
        if policy and self.server is not None:
            return self.server.generate(self.processing_class, prompts, num_samples=num_samples, seeds=seeds,
                                        device=args.device, **args.generation_kwargs())
        return generate(model, self.processing_class, prompts, num_samples=num_samples, seeds=seeds,
                        synced=is_sharded(model), **args.generation_kwargs())

    def draw_labels(self, p: torch.Tensor, key: Sequence[int]) -> torch.Tensor:
        """Bernoulli(p) labels, 1.0 where the first completion wins."""
        if self.keyed:
            u = keyed_uniform(self.draw_seeds(key, len(p)), 1)[:, 0]
        else:
            u = torch.rand(p.shape, device="cpu")
        return (u.to(device=p.device, dtype=p.dtype) < p).float()

    def pair_generator(self, key: Sequence[int], index: int) -> torch.Generator | None:
        """The generator of one prompt's pairing draws (None: torch's global one)."""
        return keyed_generator(int(self.args.seed), *key, index) if self.keyed else None


__all__ = ["DrawsMixin", "POLICY", "OPPONENT", "LABELS", "PAIRS"]
