"""Arrays carried between pipeline stages as one binary cell.

A stage's output arrays (a clip's landmarks, its audio) travel to the next stage inside Ray Data blocks. As Arrow
lists of floats they would cost a Python float object per value on every `to_pylist`; as one `.npz` byte string
per row they cost one copy. The write stage unpacks them into the tables' typed columns. No pickle: only plain
numeric arrays are allowed in and out.
"""

from __future__ import annotations

import io

import numpy as np

__all__ = ["pack_arrays", "unpack_arrays"]


def pack_arrays(**arrays) -> bytes:
    """Named numeric arrays -> bytes (an uncompressed .npz: the values are mostly incompressible floats)."""
    buffer = io.BytesIO()
    np.savez(buffer, **{k: np.asarray(v) for k, v in arrays.items()})
    return buffer.getvalue()


def unpack_arrays(blob: bytes) -> dict[str, np.ndarray]:
    """The arrays of `pack_arrays`, by name."""
    with np.load(io.BytesIO(blob), allow_pickle=False) as data:
        return {k: data[k] for k in data.files}
