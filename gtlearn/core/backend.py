"""Array backends: NumPy on the CPU, CuPy on CUDA devices.

Kernels are written against an array namespace ``xp`` so that one code path serves both.
CuPy is imported lazily and only when ``device="cuda"`` is asked for.
"""

from __future__ import annotations

import numpy as np

from gtlearn.core.errors import GtlearnError

DEVICES = ("cpu", "cuda")


def get_xp(device: str = "cpu"):
    """Return the array module for ``device`` ("cpu" -> numpy, "cuda" -> cupy)."""
    if device == "cpu":
        return np
    if device == "cuda":
        try:
            import cupy  # noqa: PLC0415 - optional dependency
        except ImportError as exc:  # pragma: no cover - depends on the machine
            raise GtlearnError(
                "device 'cuda' needs CuPy: install it with `pip install gtlearn[gpu]`"
            ) from exc
        try:
            if cupy.cuda.runtime.getDeviceCount() < 1:
                raise GtlearnError("device 'cuda' asked for, but no CUDA device is visible")
        except cupy.cuda.runtime.CUDARuntimeError as exc:  # pragma: no cover
            raise GtlearnError(f"device 'cuda' asked for, but CUDA is unusable: {exc}") from exc
        return cupy
    raise GtlearnError(f"unknown device {device!r}; choose one of {', '.join(DEVICES)}")


def namespace(array):
    """The array module an array belongs to (numpy for NumPy arrays and Python scalars)."""
    module = type(array).__module__
    if module.startswith("cupy"):
        import cupy  # noqa: PLC0415

        return cupy
    return np


def to_numpy(array) -> np.ndarray:
    """Copy an array of any backend to host memory as a NumPy array."""
    if namespace(array) is np:
        return np.asarray(array)
    return array.get()
