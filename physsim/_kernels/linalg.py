"""Small dense linear algebra shared by the loops and the quadratic callbacks.

``combine_rows(rows, x, out)`` computes ``out = rows.T @ x``: the drive
projection ``d = B u`` (``rows = B.T``, one row per input channel) and the
symmetric matrix-vector product ``M v`` (``rows = M``, whose rows are its
columns).  It is written as a sequence of contiguous ``out += rows[j] x_j``
updates: those vectorise without ``fastmath``, where a row-times-vector dot
product is a serial reduction that LLVM may not reorder.

Every ``out[i]`` is the sum ``((0 + r_0i x_0) + r_1i x_1) + ...`` in the
order j = 0, 1, ..., each product rounded in the inputs' precision and the
sum carried in float64 (a float32 ``out`` receives the float64 sum rounded
once), exactly as the scalar loop ``s = 0.0; for j: s += r[j, i] * x[j]``.
The four-way unrolling below groups four updates per pass over ``out`` but
keeps that order (Python evaluates ``a + b + c`` left to right), so the result
does not depend on it.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .precision import copy_between, work_array


@njit(cache=True, inline="always")
def combine_rows(rows, x, out):
    """``out[i] = sum_j rows[j, i] * x[j]`` (see the module docstring for the order).

    Parameters
    ----------
    rows : ndarray, shape (m, n), C-contiguous
    x : ndarray, shape (m,)
    out : ndarray, shape (n,), float64 or float32
        Overwritten.
    """
    n = out.shape[0]
    m = x.shape[0]
    acc = work_array(out, np.float64)  # out itself in float64
    for i in range(n):
        acc[i] = 0.0
    m4 = m - m % 4
    for j in range(0, m4, 4):
        x0 = x[j]
        x1 = x[j + 1]
        x2 = x[j + 2]
        x3 = x[j + 3]
        r0 = rows[j]
        r1 = rows[j + 1]
        r2 = rows[j + 2]
        r3 = rows[j + 3]
        for i in range(n):
            acc[i] = acc[i] + r0[i] * x0 + r1[i] * x1 + r2[i] * x2 + r3[i] * x3
    for j in range(m4, m):
        xj = x[j]
        rj = rows[j]
        for i in range(n):
            acc[i] += rj[i] * xj
    copy_between(acc, out)
