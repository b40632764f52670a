"""The LM trainers' registry: a name -> the trainer class and its config class.

Each algorithm module registers its trainer (``@TRAINERS.register("inpo", INPOTrainerConfig)``);
importing :mod:`alignment.trainers` imports them all.
"""

from __future__ import annotations

from gtlearn.core.registry import Registry

TRAINERS = Registry("trainer")

__all__ = ["TRAINERS"]
