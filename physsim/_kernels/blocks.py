"""Block kernels: the per-step dense work of the time loops, done once per block of steps.

The time loops (:mod:`physsim._kernels.loops`) leave the O(n_drive x n_inputs)
work of every step to these kernels, which run once per block of steps between
loop calls (:mod:`physsim._blocks`): the drive projection before a block
(:func:`project_block`), and after it the input-matrix read-out and the
per-step input gradient (:func:`finish_block`), one parallel region each.
Each is parallel over (trajectory, tile) pairs of a partition fixed by the
array shapes, never by the thread count, and computes every output element in the
same order as a per-step loop would, so results are bit-identical for any
number of threads, any block or chunk size, and to the per-step form.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .linalg import combine_rows
from .steps import drive_buffers, project_drive

#: Rows (steps) per parallel work item (and per cache-sized chunk of the read-out sums).
ROW_TILE = 64
#: Work items of an input-matrix read-out (groups of four of its rows): fixed, so the
#: partition does not depend on the number of threads.
MATRIX_GROUPS = 4


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


@njit(cache=True, inline="always")
def _add_matrix_tile(u, first_step, n_rows, s0, s1, readout, descending, g, j0):
    """Rows ``j0 .. j0 + 3`` (or to the end) of one trajectory's input-matrix read-out.

    Adds the read-out rows taken at positions ``s0 .. s1 - 1`` of the step order
    (row ``n_rows - 1 - s`` when ``descending``, else row ``s``).
    """
    m = g.shape[0]
    nd = g.shape[1]
    for s in range(s0, s1):
        r = n_rows - 1 - s if descending else s
        k = first_step + r
        row = readout[r]
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


@njit(cache=True, inline="always")
def _project_rows(readout, r0, r1, input_matrix, first_step, subtract, g_inputs, gu):
    """Rows ``r0 .. r1 - 1`` of one trajectory's input gradient (``gu``: (m,) work array)."""
    m = gu.shape[0]
    for r in range(r0, r1):
        out = g_inputs[first_step + r]
        if subtract:
            combine_rows(input_matrix, readout[r], gu)
            for j in range(m):
                out[j] -= gu[j]
        else:
            combine_rows(input_matrix, readout[r], out)


@njit(cache=True, inline="always")
def _interleaved(position, n_first, n_second):
    """Item at ``position`` when the ``n_first`` items are spread evenly among the others.

    Items ``0 .. n_first - 1`` (the heavier kind) take evenly spaced positions
    (a Bresenham spread), so that the contiguous ranges of positions numba
    gives each thread hold about as many of them.  A permutation of
    ``0 .. n_first + n_second - 1``.
    """
    total = n_first + n_second
    before = (position * n_first) // total  # first-kind items at positions < position
    if ((position + 1) * n_first) // total > before:
        return before
    return n_first + position - before


@njit(cache=True, parallel=True)
def finish_block(u_read, first_step, n_rows, readout, descending, g_input_t, input_matrix,
                 want_inputs, subtract, g_inputs):
    """The read-outs of a block of steps, in one parallel region.

    Input-matrix read-out: ``g_input_t[b, j, i] += sum_r u_read[b, first_step + r, j]
    * readout[b, r, i]``, the rows ``r`` added in the order the steps were taken
    (``descending``: last row first, as in the echoes and the adjoint), one
    rounded product at a time: the same bits as adding the rank-one update
    ``u_k outer g_k`` after every step.

    With ``want_inputs``, the input gradient of every step:
    ``g_inputs[b, first_step + r] = B^T readout[b, r]`` by
    :func:`physsim._kernels.linalg.combine_rows` (subtracted from the row with
    ``subtract``).

    Parameters
    ----------
    u_read : ndarray, shape (B|1, L, m), float64
        Nominal inputs, indexed by step.
    first_step, n_rows : int
        Row ``r`` of ``readout`` belongs to step ``first_step + r``.
    readout : ndarray, shape (B, >= n_rows, n_drive), float64
        Per-step drive read-outs ``(h dH/dd)_k``.
    descending : bool
        The steps were taken last to first.
    g_input_t : ndarray, shape (B, m, n_drive), float64
        Transposed input-matrix read-out, accumulated into.
    input_matrix : ndarray, shape (n_drive, m), float64
        ``B``.
    want_inputs, subtract : bool
    g_inputs : ndarray, shape (B, L, m), float64
        Rows ``first_step .. first_step + n_rows - 1`` are written (with ``want_inputs``).
    """
    n_batch = g_input_t.shape[0]
    m = g_input_t.shape[1]
    shared = u_read.shape[0] == 1
    tiles = _tiles(m, 4)
    groups = min(tiles, MATRIX_GROUPS)
    per_group = _tiles(tiles, groups)
    row_tiles = _tiles(n_rows, ROW_TILE) if want_inputs else 0
    per_trajectory = groups + row_tiles
    for t in prange(n_batch * per_trajectory):
        b = t // per_trajectory
        item = _interleaved(t % per_trajectory, groups, row_tiles)
        if item < groups:
            # the group's tiles take the read-out rows a chunk at a time, so that a chunk
            # is read from memory once, not once per tile; every entry still gets its
            # products in step order
            u = u_read[0 if shared else b]
            for s0 in range(0, n_rows, ROW_TILE):
                s1 = min(n_rows, s0 + ROW_TILE)
                for tile in range(item * per_group, min(tiles, (item + 1) * per_group)):
                    _add_matrix_tile(u, first_step, n_rows, s0, s1, readout[b], descending,
                                     g_input_t[b], 4 * tile)
        else:
            r0 = (item - groups) * ROW_TILE
            _project_rows(readout[b], r0, min(n_rows, r0 + ROW_TILE), input_matrix, first_step,
                          subtract, g_inputs[b], np.empty(m))
