"""Registries of one shape for every family: a name -> an :class:`Entry` (class + config class).

The CFR rules, the PSRO meta-solvers, the tabular preference-learning algorithms, the LM
trainers and the evolve tasks each keep one :class:`Registry`. Lookups of unknown names raise a
one-line :class:`~gtlearn.core.errors.GtlearnError` that lists the known names and suggests the
closest one.
"""

from __future__ import annotations

import difflib
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from typing import Any

from gtlearn.core.errors import GtlearnError


@dataclass(frozen=True)
class Entry:
    """A registered member: its name, its class and the dataclass that configures it (or None)."""

    name: str
    cls: type
    config_cls: type | None = None


class Registry:
    """``name -> Entry`` for one family (``family`` names it in error messages)."""

    def __init__(self, family: str) -> None:
        self.family = family
        self._entries: dict[str, Entry] = {}
        self._aliases: dict[str, str] = {}

    def register(self, name: str, config_cls: type | None = None, *, aliases: tuple[str, ...] = ()) -> Callable[[type], type]:
        """Class decorator: ``@REGISTRY.register("name", NameConfig)``."""

        def add(cls: type) -> type:
            self.add(name, cls, config_cls, aliases=aliases)
            return cls

        return add

    def add(self, name: str, cls: type, config_cls: type | None = None, *, aliases: tuple[str, ...] = ()) -> None:
        key = name.lower()
        if key in self._entries or key in self._aliases:
            raise ValueError(f"{self.family} {name!r} is registered twice")
        self._entries[key] = Entry(key, cls, config_cls)
        for alias in aliases:
            self._aliases[alias.lower()] = key

    def resolve(self, name: str) -> str:
        """The canonical name of ``name`` (case-insensitive, aliases followed)."""
        key = str(name).strip().lower()
        key = self._aliases.get(key, key)
        if key not in self._entries:
            known = list(self._entries)
            close = difflib.get_close_matches(key, known + list(self._aliases), n=1)
            hint = f" (did you mean {close[0]!r}?)" if close else ""
            raise GtlearnError(f"unknown {self.family} {name!r}{hint}; known: {', '.join(known)}")
        return key

    def __getitem__(self, name: str) -> Entry:
        return self._entries[self.resolve(name)]

    def __contains__(self, name: object) -> bool:
        key = str(name).strip().lower()
        return self._aliases.get(key, key) in self._entries

    def __iter__(self) -> Iterator[str]:
        return iter(self._entries)

    def __len__(self) -> int:
        return len(self._entries)

    def names(self) -> list[str]:
        return list(self._entries)

    def aliases(self) -> dict[str, str]:
        return dict(self._aliases)

    def make_config(self, name: str, **fields: Any) -> Any:
        """The config dataclass of ``name`` from keyword fields; unknown fields are one-line errors."""
        entry = self[name]
        if entry.config_cls is None:
            if fields:
                raise GtlearnError(f"{self.family} {entry.name!r} takes no parameters, got {sorted(fields)}")
            return None
        import dataclasses

        known = {f.name for f in dataclasses.fields(entry.config_cls)}
        unknown = sorted(set(fields) - known)
        if unknown:
            raise GtlearnError(f"unknown parameter(s) {unknown} for {self.family} {entry.name!r}; known: {sorted(known)}")
        try:
            return entry.config_cls(**fields)
        except (TypeError, ValueError) as exc:
            raise GtlearnError(f"bad parameters for {self.family} {entry.name!r}: {exc}") from exc
