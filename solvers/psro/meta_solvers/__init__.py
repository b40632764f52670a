"""Built-in PSRO meta-solvers and the loader for user meta-solver files (docs/psro.md).

``make_meta_solver(spec, slot)`` accepts a built-in id (``uniform``, ``nash``, ``prd``, ``rm``,
``alpharank``, ``shor-train``, ``shor-eval``; ``shor`` means the SHOR solver of the slot), a
``path/to/file.py:Name`` spec, a :class:`MetaSolver` class or an instance. A user ``Name`` may
be a MetaSolver subclass, an instance, or a plain function with the spec's signature:
``train(payoffs, t, state)`` for the training slot, ``evaluate(payoffs, state)`` for the
evaluation slot.
"""

from __future__ import annotations

import inspect

from gtlearn.core.errors import GtlearnError
from gtlearn.core.loading import load_object
from gtlearn.core.registry import Registry
from solvers.psro.meta_solvers.alpharank import AlphaRank
from solvers.psro.meta_solvers.base import FunctionMetaSolver, MetaSolver, normalise
from solvers.psro.meta_solvers.nash import Nash
from solvers.psro.meta_solvers.prd import PRD
from solvers.psro.meta_solvers.rm import RM
from solvers.psro.meta_solvers.shor import SHOREval, SHORTrain
from solvers.psro.meta_solvers.uniform import Uniform

# meta-solver id -> Entry(cls); parameters are constructor keywords (docs/psro.md).
META_SOLVERS = Registry("meta-solver")
for _name, _cls, _aliases in (
    ("uniform", Uniform, ()),
    ("nash", Nash, ()),
    ("prd", PRD, ()),
    ("rm", RM, ()),
    ("alpharank", AlphaRank, ("alpha-rank", "alpha_rank")),
    ("shor-train", SHORTrain, ()),
    ("shor-eval", SHOREval, ()),
):
    META_SOLVERS.add(_name, _cls, aliases=_aliases)

__all__ = [
    "META_SOLVERS",
    "PRD",
    "RM",
    "AlphaRank",
    "FunctionMetaSolver",
    "MetaSolver",
    "Nash",
    "SHOREval",
    "SHORTrain",
    "Uniform",
    "make_meta_solver",
    "normalise",
]


def make_meta_solver(spec, slot: str, **kwargs) -> MetaSolver:
    if slot not in ("train", "eval"):
        raise GtlearnError(f"slot must be 'train' or 'eval', not {slot!r}")
    if isinstance(spec, MetaSolver):
        solver = spec
    elif inspect.isclass(spec) and issubclass(spec, MetaSolver):
        solver = spec(**kwargs)
    elif isinstance(spec, str):
        key = spec.strip().lower()
        if key == "shor":
            key = f"shor-{slot}"
        if key in META_SOLVERS:
            entry = META_SOLVERS[key]
            try:
                solver = entry.cls(**kwargs)
            except (TypeError, ValueError) as exc:
                raise GtlearnError(f"bad parameters for meta-solver {entry.name!r}: {exc}") from exc
        elif ":" in spec and spec.split(":", 1)[0].endswith(".py"):
            obj, _ = load_object(spec, "meta-solver")
            name = spec.rsplit(":", 1)[1]
            if inspect.isclass(obj) and issubclass(obj, MetaSolver):
                solver = obj(**kwargs)
            elif isinstance(obj, MetaSolver):
                solver = obj
            elif callable(obj):
                solver = FunctionMetaSolver(obj, slot, name=name)
            else:
                raise GtlearnError(f"{spec} is neither a MetaSolver nor a function")
        else:
            try:
                META_SOLVERS.resolve(spec)
            except GtlearnError as exc:  # the registry's message lists the built-in ids
                raise GtlearnError(f"{exc}, shor; or give path/to/file.py:Name") from None
    else:
        raise GtlearnError(f"cannot make a meta-solver from {spec!r}")
    if slot not in solver.slots:
        raise GtlearnError(f"meta-solver {solver.name!r} cannot be used in the {slot} slot")
    return solver
