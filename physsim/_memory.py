"""Arrays that own their cache lines, so that threads do not share lines by accident.

The compiled loops run the trajectories of a batch on several threads.  Small
arrays that every thread reads at every step (packed parameters, the input
matrix, the hardware model's parameter vector and noise key) are allocated by
the main thread, and ``malloc`` may put them on the same cache line as a
buffer that the main thread, which is also the first worker, writes at every
step.  The other core then loses that line at every step (false sharing).  In
``benchmarks/bench_hardware.py`` this made a thermal-noise simulation about
30% slower in some processes and not in others, depending only on where
``malloc`` happened to put things.  The copies made here start on a line
boundary and are padded to whole lines, so no other allocation can share them.
Small arrays the threads write at every step (states, accumulators, position
sums) get the same layout; arrays of O(L) size are left to ``np.zeros``, whose
large allocations are page-aligned mappings with no neighbours.
"""

from __future__ import annotations

import numpy as np

#: Bytes per isolated block: a cache line is 64 bytes on x86-64 and most ARM
#: cores and 128 on Apple M-series; x86 also prefetches lines in 128-byte pairs.
CACHE_BLOCK = 128


def isolated_empty(shape, dtype=np.float64) -> np.ndarray:
    """An uninitialised C-contiguous array on cache lines of its own.

    Parameters
    ----------
    shape : int or tuple of int
        Array shape.
    dtype : numpy dtype
        Element type.

    Returns
    -------
    ndarray
        Writeable, C-contiguous; its data start on a :data:`CACHE_BLOCK`
        boundary and the block after its last byte belongs to no other array.
    """
    dtype = np.dtype(dtype)
    shape = (int(shape),) if np.isscalar(shape) else tuple(int(s) for s in shape)
    nbytes = int(np.prod(shape, dtype=np.int64)) * dtype.itemsize
    padded = -(-max(nbytes, 1) // CACHE_BLOCK) * CACHE_BLOCK
    raw = np.empty(padded + CACHE_BLOCK, dtype=np.uint8)
    start = -raw.ctypes.data % CACHE_BLOCK
    return raw[start:start + nbytes].view(dtype).reshape(shape)


def isolated_copy(values, dtype=None) -> np.ndarray:
    """A C-contiguous copy of ``values`` (as ``dtype``) on cache lines of its own.

    Parameters
    ----------
    values : array_like
        Values to copy.
    dtype : numpy dtype, optional
        Element type of the copy (default: that of ``values``).

    Returns
    -------
    ndarray
        Writeable copy with the layout of :func:`isolated_empty`.
    """
    values = np.asarray(values)
    out = isolated_empty(values.shape, values.dtype if dtype is None else dtype)
    out[...] = values  # converts while copying: no intermediate array
    return out


def isolated_zeros(shape, dtype=np.float64) -> np.ndarray:
    """Zeros, with the layout of :func:`isolated_empty`."""
    out = isolated_empty(shape, dtype)
    out[...] = 0
    return out
