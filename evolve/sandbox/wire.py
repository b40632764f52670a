"""The wire format between the parent and the sandbox child: length-prefixed frames of a JSON
header and raw array bytes (docs/evolve.md, Sandbox).

A frame is ``<u32 header length><u32 payload length><header JSON><payload>``. The header is a
JSON object; its ``"arrays"`` entry lists ``[dtype, shape]`` for each array of the payload, in
order. The parent decodes what a child sends with :func:`decode_header` and :func:`split`, which
accept only the listed dtypes, exact byte counts and bounded sizes; every frame is read into a
buffer of its own, which its arrays view. Nothing is ever unpickled.
"""

from __future__ import annotations

import json
import os
import struct

import numpy as np

HEAD = struct.Struct("<II")
MAX_HEADER = 1 << 20
MAX_PAYLOAD = 16 << 20
DTYPES = {"<f8": np.dtype("<f8"), "|b1": np.dtype("|b1"), "<i8": np.dtype("<i8")}
_NAMES = {v: k for k, v in DTYPES.items()}


class WireError(Exception):
    """A frame that breaks the format (the child's fault, never repaired)."""


def encode(header: dict, arrays=()) -> list:
    """One frame as a list of buffers for :func:`write_all` (the arrays are not copied; other
    dtypes are sent as float64)."""
    arrs = []
    for a in arrays:
        a = np.ascontiguousarray(a)
        if a.dtype not in _NAMES:
            a = a.astype(np.float64)
        arrs.append(a)
    head = dict(header, arrays=[[_NAMES[a.dtype], list(a.shape)] for a in arrs])
    raw = json.dumps(head, allow_nan=True).encode()
    views = [memoryview(a).cast("B") for a in arrs if a.nbytes]
    return [HEAD.pack(len(raw), sum(v.nbytes for v in views)) + raw, *views]


def write_all(fd: int, parts: list) -> None:
    """Write every buffer of ``parts`` to ``fd`` (``writev``, resumed after partial writes)."""
    parts = [memoryview(p).cast("B") for p in parts]
    while parts:
        n = os.writev(fd, parts)
        while parts and n >= parts[0].nbytes:
            n -= parts[0].nbytes
            parts.pop(0)
        if parts and n:
            parts[0] = parts[0][n:]


def read_into(fd: int, buf: bytearray, start: int = 0, wait=None) -> int:
    """Fill ``buf[start:]`` from ``fd``; ``wait()`` (if given) is called before each read and
    may raise. Returns how many bytes arrived (less than asked: end of file)."""
    view, got = memoryview(buf), start
    while got < len(buf):
        if wait is not None and not wait():
            break
        n = os.readv(fd, [view[got:]])
        if n == 0:
            break
        got += n
    return got - start


def sizes(prefix: bytes) -> tuple[int, int]:
    """(header length, payload length) of a frame's 8-byte prefix, within the caps."""
    n_head, n_payload = HEAD.unpack(prefix)
    if n_head > MAX_HEADER or n_payload > MAX_PAYLOAD:
        raise WireError(f"frame over the size caps (header {n_head} B, payload {n_payload} B)")
    return n_head, n_payload


def decode_header(raw: bytes) -> dict:
    """The header object; a hostile one (not JSON, nested too deep, not an object) is a WireError."""
    try:
        head = json.loads(raw)
    except (ValueError, RecursionError):
        raise WireError("header is not JSON") from None
    if not isinstance(head, dict):
        raise WireError("header is not a JSON object")
    return head


def split(head: dict, payload) -> list[np.ndarray]:
    """The payload's arrays as listed in the header, exact sizes or a WireError. They are views
    of ``payload``: pass a buffer that nothing else writes to (each frame is read into its own)."""
    specs = head.get("arrays", [])
    if not isinstance(specs, list):
        raise WireError("header 'arrays' is not a list")
    out, offset = [], 0
    for spec in specs:
        if not (isinstance(spec, list) and len(spec) == 2 and spec[0] in DTYPES and isinstance(spec[1], list)
                and all(type(s) is int and 0 <= s <= MAX_PAYLOAD for s in spec[1])):
            raise WireError(f"bad array spec {str(spec)[:80]}")
        dt = DTYPES[spec[0]]
        n = 1
        for s in spec[1]:
            n *= s
        nbytes = n * dt.itemsize
        if offset + nbytes > len(payload):
            raise WireError("payload shorter than its arrays")
        out.append(np.frombuffer(payload, dtype=dt, count=n, offset=offset).reshape(spec[1]))
        offset += nbytes
    if offset != len(payload):
        raise WireError("payload longer than its arrays")
    return out
