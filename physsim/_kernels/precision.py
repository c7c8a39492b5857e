"""Float64 work arrays that cost nothing when the state already is float64.

The loops keep the state in its own dtype but evaluate read-outs and sums in
float64.  In a float64 run the float64 "copy" of an array is the array
itself; in a float32 run it is a separate buffer that must be filled.  These
two helpers make that choice at compile time (numba overloads on the array
types), so the float64 loops contain no copies at all:

- ``work_array(x, dtype)``: ``x`` itself if it already has ``dtype``, else a
  new empty array of ``dtype`` and ``x``'s length;
- ``copy_between(src, dst)``: nothing when ``src`` and ``dst`` have the same
  dtype (then, by construction with :func:`work_array`, they are the same
  array), else ``dst[:] = src`` (a rounding or a widening).

Both are meant for numba code; their Python versions only mirror them.
"""

from __future__ import annotations

import numpy as np
from numba import types
from numba.extending import overload


def work_array(x, dtype):
    """``x`` if its dtype is ``dtype``, else a new empty 1-D array of ``dtype``."""
    return x if x.dtype == np.dtype(dtype) else np.empty(x.shape[0], dtype)


def copy_between(src, dst):
    """``dst[:] = src`` unless both have the same dtype (then they are the same array)."""
    if src.dtype != dst.dtype:
        dst[:] = src


def _numba_dtype(dtype):
    if isinstance(dtype, types.NumberClass):
        return dtype.instance_type
    if isinstance(dtype, types.DType):
        return dtype.dtype
    raise TypeError(f"work_array needs a dtype, got {dtype}")


@overload(work_array, inline="always")
def _work_array(x, dtype):
    if x.dtype == _numba_dtype(dtype):
        return lambda x, dtype: x
    return lambda x, dtype: np.empty(x.shape[0], dtype)


@overload(copy_between, inline="always")
def _copy_between(src, dst):
    if src.dtype == dst.dtype:
        return lambda src, dst: None

    def impl(src, dst):
        for i in range(dst.shape[0]):
            dst[i] = src[i]
    return impl
