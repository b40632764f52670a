"""Resolving a rule from a built-in id, a Rule instance, or a user file ``path.py:Name``."""

from __future__ import annotations

import importlib.util
import inspect
import sys
from pathlib import Path

from gtlearn.core.errors import GtlearnError
from solvers.cfr.rules import RULES, FunctionRule, Rule

_FUNCTIONS = ("update_regrets", "policy_from_regrets", "accumulate_average")


def load_object(spec: str, kind: str = "rule"):
    """Import ``NAME`` from the Python file in ``"path/to/file.py:NAME"``."""
    if ":" not in spec:
        raise GtlearnError(f"{kind} file must be given as path/to/file.py:Name, got {spec!r}")
    path_str, name = spec.rsplit(":", 1)
    path = Path(path_str)
    if not path.is_file():
        raise GtlearnError(f"{kind} file {path} does not exist")
    module_name = f"gtlearn_user_{kind}_{abs(hash(path.resolve()))}"
    loader_spec = importlib.util.spec_from_file_location(module_name, path)
    if loader_spec is None or loader_spec.loader is None:
        raise GtlearnError(f"cannot import {path} as a Python module")
    module = importlib.util.module_from_spec(loader_spec)
    sys.modules[module_name] = module
    try:
        loader_spec.loader.exec_module(module)
    except Exception as exc:
        raise GtlearnError(f"importing {path} failed: {type(exc).__name__}: {exc}") from exc
    if not hasattr(module, name):
        raise GtlearnError(f"{path} defines no {name!r}")
    return getattr(module, name), module


def make_rule(rule: str | Rule | type, **kwargs) -> Rule:
    """A Rule from an id in RULES, a ``file.py:Name`` spec, a Rule class or a Rule instance.

    A user ``Name`` may be a Rule subclass (instantiated with ``kwargs``), an instance with the
    three methods, or a module-level namespace (class/object) exposing the three functions.
    """
    if isinstance(rule, Rule):
        return rule
    if inspect.isclass(rule) and issubclass(rule, Rule):
        return rule(**kwargs)
    if isinstance(rule, str):
        key = rule.strip().lower()
        if key in RULES:
            try:
                return RULES[key](**kwargs)
            except TypeError as exc:
                raise GtlearnError(f"bad parameters for rule {key!r}: {exc}") from exc
        if ":" in rule and rule.split(":", 1)[0].endswith(".py"):
            obj, _ = load_object(rule, "rule")
            if inspect.isclass(obj):
                if issubclass(obj, Rule):
                    return obj(**kwargs)
                obj = obj(**kwargs) if not all(hasattr(obj, f) for f in _FUNCTIONS) else obj
            if isinstance(obj, Rule):
                return obj
            if all(callable(getattr(obj, f, None)) for f in _FUNCTIONS):
                return FunctionRule(*(getattr(obj, f) for f in _FUNCTIONS), name=rule.rsplit(":", 1)[1])
            raise GtlearnError(f"{rule} is not a rule: it must define {', '.join(_FUNCTIONS)}")
        raise GtlearnError(
            f"unknown rule {rule!r}; built-in rules: {', '.join(RULES)}, vad-cfr-reference; or give path/to/file.py:Name"
        )
    raise GtlearnError(f"cannot make a rule from {rule!r}")
