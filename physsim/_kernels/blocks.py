"""Block kernels: the per-step dense work of the time loops, done once per block of steps.

The time loops (:mod:`physsim._kernels.loops`) leave the O(n_drive x n_inputs)
work of every step to these kernels, which run once per block of steps between
loop calls (:mod:`physsim._blocks`): the drive projection before a block
(:func:`project_block`), the input-matrix read-out (:func:`add_input_matrix_readout`)
and the per-step input gradient (:func:`project_readout`) after it.  Each is
parallel over (trajectory, tile) pairs of a partition fixed by the array
shapes, never by the thread count, and computes every output element in the
same order as a per-step loop would, so results are bit-identical for any
number of threads, any block or chunk size, and to the per-step form.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .linalg import combine_rows
from .steps import drive_buffers, project_drive

#: Rows (steps) per parallel work item.
ROW_TILE = 64


@njit(cache=True, inline="always")
def _tiles(n_rows, tile):
    return (n_rows + tile - 1) // tile


@njit(cache=True, parallel=True)
def project_block(inputs, first_row, n_rows, bt, drive):
    """Drives of a block of steps: ``drive[b, r] = B inputs[b, first_row + r]``, r < n_rows.

    Each row is :func:`physsim._kernels.steps.project_drive` of its input row:
    the float64 sum of :func:`combine_rows`, rounded once to ``drive``'s dtype.

    Parameters
    ----------
    inputs : ndarray, shape (Bu, Lu, m), float64
        Input rows.
    first_row, n_rows : int
        Rows ``first_row .. first_row + n_rows - 1`` of ``inputs`` are projected.
    bt : ndarray, shape (m, n_drive), float64
        ``B^T``.
    drive : ndarray, shape (Bu, >= n_rows, n_drive), state dtype
        Rows ``0 .. n_rows - 1`` are overwritten.
    """
    n_batch = drive.shape[0]
    nd = drive.shape[2]
    n_tiles = _tiles(n_rows, ROW_TILE)
    for t in prange(n_batch * n_tiles):
        b = t // n_tiles
        r0 = (t % n_tiles) * ROW_TILE
        d64, d = drive_buffers(nd, drive[b, r0])
        for r in range(r0, min(n_rows, r0 + ROW_TILE)):
            project_drive(inputs[b, first_row + r], bt, d64, d)
            drive[b, r, :] = d


@njit(cache=True, parallel=True)
def add_input_matrix_readout(u_read, first_step, n_rows, readout, descending, g_input_t):
    """``g_input_t[b, j, i] += sum_r u_read[b, first_step + r, j] * readout[b, r, i]``.

    The sum over the block's rows runs in the order the steps were taken
    (``descending``: last row first, as in the echoes and the adjoint), one
    rounded product added at a time: the same bits as adding the rank-one
    update ``u_k outer g_k`` after every step (:func:`add_outer`).

    Parameters
    ----------
    u_read : ndarray, shape (B|1, L, m), float64
        Nominal inputs, indexed by step.
    first_step, n_rows : int
        Row ``r`` of ``readout`` belongs to step ``first_step + r``.
    readout : ndarray, shape (B, >= n_rows, n_drive), float64
        Per-step drive read-outs ``(h dH/dd)_k``.
    descending : bool
        Add the rows from last to first.
    g_input_t : ndarray, shape (B, m, n_drive), float64
        Transposed input-matrix read-out, accumulated into.
    """
    n_batch = g_input_t.shape[0]
    m = g_input_t.shape[1]
    nd = g_input_t.shape[2]
    shared = u_read.shape[0] == 1
    n_tiles = _tiles(m, 4)
    for t in prange(n_batch * n_tiles):
        b = t // n_tiles
        j0 = (t % n_tiles) * 4
        bu = 0 if shared else b
        u = u_read[bu]
        g = g_input_t[b]
        for s in range(n_rows):
            r = n_rows - 1 - s if descending else s
            k = first_step + r
            row = readout[b, r]
            if j0 + 4 <= m:
                # four rows of g per pass over the read-out row; each entry still gets
                # exactly one product added per step
                u0 = u[k, j0]
                u1 = u[k, j0 + 1]
                u2 = u[k, j0 + 2]
                u3 = u[k, j0 + 3]
                g0 = g[j0]
                g1 = g[j0 + 1]
                g2 = g[j0 + 2]
                g3 = g[j0 + 3]
                for i in range(nd):
                    x = row[i]
                    g0[i] += u0 * x
                    g1[i] += u1 * x
                    g2[i] += u2 * x
                    g3[i] += u3 * x
            else:
                for j in range(j0, m):
                    uj = u[k, j]
                    gj = g[j]
                    for i in range(nd):
                        gj[i] += uj * row[i]


@njit(cache=True, parallel=True)
def project_readout(readout, n_rows, input_matrix, first_step, subtract, g_inputs):
    """Drive read-outs onto the inputs: ``g_inputs[b, first_step + r] = B^T readout[b, r]``.

    Each row by :func:`combine_rows` (``rows = B``); with ``subtract`` the
    projection is subtracted from the row instead of written to it.

    Parameters
    ----------
    readout : ndarray, shape (B, >= n_rows, n_drive), float64
    n_rows, first_step : int
    input_matrix : ndarray, shape (n_drive, m), float64
        ``B``.
    subtract : bool
    g_inputs : ndarray, shape (B, L, m), float64
        Rows ``first_step .. first_step + n_rows - 1`` are written.
    """
    n_batch = g_inputs.shape[0]
    m = g_inputs.shape[2]
    n_tiles = _tiles(n_rows, ROW_TILE)
    for t in prange(n_batch * n_tiles):
        b = t // n_tiles
        r0 = (t % n_tiles) * ROW_TILE
        gu = np.empty(m)
        for r in range(r0, min(n_rows, r0 + ROW_TILE)):
            out = g_inputs[b, first_step + r]
            if subtract:
                combine_rows(input_matrix, readout[b, r], gu)
                for j in range(m):
                    out[j] -= gu[j]
            else:
                combine_rows(input_matrix, readout[b, r], out)
