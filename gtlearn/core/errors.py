"""User-facing errors.

A :class:`GtlearnError` is a problem with the user's input (unknown game, bad parameter, game
too large, malformed config). The CLI prints its message as one line and exits with status 2;
anything else is a bug and keeps its traceback.
"""


class GtlearnError(Exception):
    """An error caused by user input; its message is one complete sentence."""


class GameTooLargeError(GtlearnError):
    """The game tree is estimated (or found) to exceed the configured node limit."""


class InvalidRuleOutput(GtlearnError):
    """A CFR rule (built-in, user-written or evolved) returned arrays that break the contract."""
