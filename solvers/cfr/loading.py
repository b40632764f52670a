"""Resolving a rule from a built-in id, a Rule instance, or a user file ``path.py:Name``."""

from __future__ import annotations

import inspect

from gtlearn.core.errors import GtlearnError
from gtlearn.core.loading import load_object
from solvers.cfr.rules import RULES, FunctionRule, Rule

_FUNCTIONS = ("update_regrets", "policy_from_regrets", "accumulate_average")


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
        if rule in RULES:
            entry = RULES[rule]
            try:
                return entry.cls(**kwargs)
            except (TypeError, ValueError) as exc:
                raise GtlearnError(f"bad parameters for rule {entry.name!r}: {exc}") from exc
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
        try:
            RULES.resolve(rule)
        except GtlearnError as exc:  # the registry's message lists the built-in ids
            raise GtlearnError(f"{exc}, vad-cfr-reference; or give path/to/file.py:Name") from None
    raise GtlearnError(f"cannot make a rule from {rule!r}")
