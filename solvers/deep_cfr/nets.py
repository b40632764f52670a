"""The networks of Deep CFR and their seeded (re)initialization.

:class:`MLP` is OpenSpiel's PyTorch Deep CFR network (``open_spiel.python.pytorch.deep_cfr``):
Linear+ReLU blocks, a LayerNorm, a linear output, an optional final activation (softmax for the
average-policy network). Initialization draws from a ``torch.Generator`` seeded by the caller
(PyTorch's default Linear init: Kaiming-uniform weights with a = sqrt(5), uniform biases in
+-1/sqrt(fan_in)), so re-initializing for iteration t never touches the global RNG and gives
the same weights in any process.
"""

from __future__ import annotations

import math

import numpy as np
import torch
from torch import nn


class MLP(nn.Module):
    def __init__(self, input_size: int, hidden_sizes, output_size: int, softmax: bool = False) -> None:
        super().__init__()
        layers: list[nn.Module] = []
        for size in hidden_sizes:
            layers += [nn.Linear(input_size, size), nn.ReLU()]
            input_size = size
        layers += [nn.LayerNorm(input_size), nn.Linear(input_size, output_size)]
        if softmax:
            layers.append(nn.Softmax(dim=-1))
        self.model = nn.Sequential(*layers)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        return self.model(x)

    @torch.no_grad()
    def reset(self, seed: int) -> None:
        """Fresh weights from a generator seeded with ``seed``."""
        gen = torch.Generator().manual_seed(int(seed) % (2**63))
        for module in self.model:
            if isinstance(module, nn.Linear):
                nn.init.kaiming_uniform_(module.weight, a=math.sqrt(5), generator=gen)
                bound = 1.0 / math.sqrt(module.weight.shape[1])
                nn.init.uniform_(module.bias, -bound, bound, generator=gen)
            elif isinstance(module, nn.LayerNorm):
                module.reset_parameters()


def weights(net: nn.Module, prefix: str) -> dict[str, np.ndarray]:
    """The parameters as NumPy arrays keyed ``prefix/name``."""
    return {f"{prefix}/{k}": v.detach().cpu().numpy().copy() for k, v in net.state_dict().items()}


def load_weights(net: nn.Module, data: dict, prefix: str) -> None:
    state = {k[len(prefix) + 1:]: torch.from_numpy(np.array(v)) for k, v in data.items() if k.startswith(prefix + "/")}
    net.load_state_dict(state)
