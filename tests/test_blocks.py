"""The block grid of the passes and the block kernels, against independent references.

- :func:`physsim._blocks.plan`: every step exactly once, in the pass's order,
  blocks on the fixed grid, chunks closed where the caller's chunks end;
- the block kernels against per-step references, bit for bit: the drive of
  every row is ``project_drive`` of its input row; the input-matrix read-out is
  the per-step sum of rank-one updates ``u_k outer r_k`` in the order the steps were
  taken; the input gradient of every row is ``combine_rows``; and all three
  against plain numpy sums (to rounding);
- whole passes (forward read-out, two echoes, paired echoes, the adjoint) give
  the same bits for any block size, chunk size and number of threads.
"""

from __future__ import annotations

import numba
import numpy as np
import pytest

from physsim import LinearHRU, NonlinearHRU, _blocks
from physsim._blocks import BLOCK_BYTES, DRIVE_BLOCK, MIN_BLOCK, DriveBlocks, block_steps, plan
from physsim._kernels import blocks
from physsim._kernels.linalg import combine_rows
from physsim._kernels.steps import project_drive
from physsim.bptt import bptt_gradient
from physsim.device_run import prepare_batch, prepare_run
from physsim.losses import CotangentSequence, recorded_cotangent
from physsim.passes import NudgeSource, echo_passes, flip, forward_pass

DTYPES = [np.float64, np.float32]


# ---------------------------------------------------------------------- plan
@pytest.mark.parametrize("order", ["forward", "echo", "adjoint"])
@pytest.mark.parametrize("block", [64, DRIVE_BLOCK])
@pytest.mark.parametrize("n_steps, chunk", [(1, 1), (5, 3), (2 * DRIVE_BLOCK + 5, 1000),
                                            (DRIVE_BLOCK, DRIVE_BLOCK), (3000, 16384)])
def test_plan_walks_every_step_once_on_the_fixed_grid(order, block, n_steps, chunk):
    blocks_ = list(plan(n_steps, chunk, order, block))
    steps = [k for b in blocks_ for s in b.segments
             for k in (range(s.lo, s.hi) if order == "forward" else range(s.hi - 1, s.lo - 1, -1))]
    expected = list(range(n_steps)) if order == "forward" else list(range(n_steps - 1, -1, -1))
    assert steps == expected
    for b in blocks_:
        assert b.lo % block == 0 and b.hi - b.lo <= block
        assert all(b.lo <= s.lo < s.hi <= b.hi for s in b.segments)
    # the caller's chunks end exactly where the segments say so
    if order == "forward":
        ends = {s.hi for b in blocks_ for s in b.segments if s.closes_chunk}
        assert ends == set(range(chunk, n_steps, chunk)) | {n_steps}
    elif order == "echo":
        done = {n_steps - s.lo for b in blocks_ for s in b.segments if s.closes_chunk}
        assert done == set(range(chunk, n_steps, chunk)) | {n_steps}


def test_plan_refuses_an_unknown_order():
    with pytest.raises(ValueError, match="order must be one of"):
        next(plan(10, 3, "sideways", 64))


@pytest.mark.parametrize("batch, n_drive", [(1, 64), (1, 512), (8, 512), (256, 512)])
def test_block_buffers_stay_within_their_budget(batch, n_drive):
    steps = block_steps(batch, n_drive)
    assert MIN_BLOCK <= steps <= DRIVE_BLOCK
    if steps > MIN_BLOCK:  # only the floor may exceed the budget
        assert batch * steps * n_drive * 8 <= BLOCK_BYTES
    if steps < DRIVE_BLOCK:  # and the block is not shorter than the budget asks
        assert batch * 2 * steps * n_drive * 8 > BLOCK_BYTES or steps == MIN_BLOCK
    system = LinearHRU.random(n_drive // 2, 3, complex=True, rng=np.random.default_rng(0))
    run = prepare_run(system)
    drives = DriveBlocks(run, np.zeros((batch, 100_000, 3)), batch, 100_000, 0, reads_out=True)
    assert drives.readout.nbytes == batch * steps * n_drive * 8


# ------------------------------------------------------------- block kernels
@pytest.mark.parametrize("dtype", DTYPES)
def test_project_block_is_project_drive_of_every_row(rng, dtype):
    inputs = rng.standard_normal((2, 50, 5))
    bt = rng.standard_normal((5, 7))
    drive = np.full((2, 40, 7), np.nan, dtype)
    blocks.project_block(inputs, 3, 37, bt, drive)
    for b in range(2):
        for r in range(37):
            d64, d = np.zeros(7), np.zeros(7, dtype)
            project_drive(inputs[b, 3 + r], bt, d64, d if dtype == np.float32 else d64)
            np.testing.assert_array_equal(drive[b, r], d if dtype == np.float32 else d64)
    np.testing.assert_allclose(drive[:, :37], inputs[:, 3:40] @ bt,
                               rtol=1e-6 if dtype == np.float32 else 1e-13, atol=1e-6)
    assert np.all(np.isnan(drive[:, 37:]))  # rows past n_rows untouched


@pytest.mark.parametrize("want_inputs", [False, True])
@pytest.mark.parametrize("descending", [False, True])
@pytest.mark.parametrize("m", [3, 4, 9])
def test_input_matrix_readout_is_the_ordered_sum_of_outer_products(rng, descending, m,
                                                                   want_inputs):
    B, L, nd, first, n_rows = 2, 200, 6, 11, 150
    u = rng.standard_normal((1, L, m))  # shared by the batch
    readout = rng.standard_normal((B, 160, nd))
    start = rng.standard_normal((B, m, nd))
    got = start.copy()
    g_inputs = np.zeros((B, L if want_inputs else 0, m))
    blocks.finish_block(u, first, n_rows, readout, descending, got,
                        rng.standard_normal((nd, m)), want_inputs, False, g_inputs)
    rows = range(n_rows - 1, -1, -1) if descending else range(n_rows)
    for b in range(B):
        ref = start[b].copy()
        for r in rows:
            ref += np.outer(u[0, first + r], readout[b, r])  # one rounded product each
        np.testing.assert_array_equal(got[b], ref)
        np.testing.assert_allclose(got[b], start[b] + u[0, first:first + n_rows].T
                                   @ readout[b, :n_rows], rtol=1e-12, atol=1e-12)


@pytest.mark.parametrize("subtract", [False, True])
def test_input_gradient_is_combine_rows_of_every_row(rng, subtract):
    B, L, nd, m, first, n_rows = 2, 200, 6, 5, 8, 150  # more rows than one tile
    readout = rng.standard_normal((B, 160, nd))
    input_matrix = rng.standard_normal((nd, m))
    start = rng.standard_normal((B, L, m))
    got = start.copy()
    blocks.finish_block(rng.standard_normal((B, L, m)), first, n_rows, readout, True,
                        np.zeros((B, m, nd)), input_matrix, True, subtract, got)
    rows = slice(first, first + n_rows)
    for b in range(B):
        for r in range(n_rows):
            row = np.empty(m)
            combine_rows(input_matrix, readout[b, r], row)
            expected = start[b, first + r] - row if subtract else row
            np.testing.assert_array_equal(got[b, first + r], expected)
        np.testing.assert_allclose(got[b, rows], (start[b, rows] if subtract else 0.0)
                                   + (-1 if subtract else 1) * readout[b, :n_rows] @ input_matrix,
                                   rtol=1e-12, atol=1e-12)
    untouched = np.ones(L, bool)
    untouched[rows] = False
    np.testing.assert_array_equal(got[:, untouched], start[:, untouched])


# ------------------------------------------------------------- whole passes
def _passes(system, dtype, chunk):
    """Forward read-out, two echoes, paired echoes (where they run) and BPTT of one task."""
    rng = np.random.default_rng(5)
    B, L = 2, 150
    u = rng.standard_normal((B, L, system.n_inputs))
    q0 = 0.1 * rng.standard_normal((B, system.n_dof))
    run = prepare_run(system, dtype=dtype)
    batch = prepare_batch(run, q0, None, u)
    fwd = forward_pass(run, batch.start, batch.inputs, record_every=1, readout=True,
                       keep_drive=True, chunk_size=chunk)
    cot = 0.01 * rng.standard_normal((B, L, system.n_dof))
    source = NudgeSource(recorded_cotangent, cot, np.zeros((1, 1)))
    start = flip(run, fwd.final)
    out = {"forward": fwd.readout}
    for paired in (False, None):
        echoes = echo_passes(run, start, batch.inputs, nudges=(1e-3, -1e-3),
                             nudge_source=source, keep_drive=True, chunk_size=chunk,
                             paired=paired)
        out[f"echoes paired={paired}"] = echoes.readout
    grad = bptt_gradient(system, q0, None, u, CotangentSequence(cot), dtype=dtype,
                         chunk_size=chunk)
    return out, grad


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("kind", ["linear", "nonlinear"])
def test_passes_give_the_same_bits_for_any_block_size_chunk_size_and_threads(
        monkeypatch, dtype, kind):
    rng = np.random.default_rng(4)
    system = (LinearHRU.random(5, 3, complex=True, rng=rng) if kind == "linear"
              else NonlinearHRU.random(5, 3, step=0.05, rng=rng))
    ref, ref_grad = _passes(system, dtype, 16384)
    threads = numba.get_num_threads()
    cases = [(7, 16384, threads), (32, 5, threads), (64, 1, threads), (DRIVE_BLOCK, 16384, 1)]
    try:
        for block, chunk, n_threads in cases:
            monkeypatch.setattr(_blocks, "DRIVE_BLOCK", block)
            numba.set_num_threads(n_threads)
            got, grad = _passes(system, dtype, chunk)
            for name, readout in ref.items():
                for field in ("theta", "input_matrix", "inputs"):
                    np.testing.assert_array_equal(getattr(got[name], field),
                                                  getattr(readout, field),
                                                  err_msg=f"{name} {field} block {block}")
            for key in ref_grad.params:
                np.testing.assert_array_equal(grad.params[key], ref_grad.params[key])
            np.testing.assert_array_equal(grad.input_gradient, ref_grad.input_gradient)
    finally:
        numba.set_num_threads(threads)
