"""Unit blocks (issue 15): independent HRU units run on several threads for a batch of one.

Independent references:

- the block layout of each HRU against the whole system's callbacks: a
  block's callbacks (on its entries of the state, drive and parameters) give
  exactly the block's entries of the whole system's (the units are independent);
- the passes on unit blocks against the same passes on the whole system (the
  same HRU with ``n_independent_units = 0``, which runs the unsplit loops):
  states, records and per-unit read-outs bit-identical (each unit's
  arithmetic is the same), read-outs of the shared ``alpha``, ``delta``
  (summed over blocks) to round-off;
- RHEL on unit blocks against BPTT (physsim's discrete adjoint, held against
  finite differences in tests/test_rhel.py).

And results bit-identical for 1 and 2 numba threads and for any chunk size.
"""

from __future__ import annotations

import dataclasses

import numba
import numpy as np
import pytest

from physsim import LinearHRU, NonlinearHRU
from physsim._blocks import UNITS_PER_BLOCK, UnitLayout, unit_block_count
from physsim._kernels import loops, paired
from physsim.bptt import bptt_gradient
from physsim.device_run import prepare_batch, prepare_run
from physsim.hardware import HardwareModel
from physsim.losses import MSEReadout, recorded_cotangent
from physsim.passes import NudgeSource, echo_passes, flip, forward_pass
from physsim.rhel import rhel_gradient
from physsim.systems import HamiltonianSystem

L_STEPS = 300


class CopyingDAC(HardwareModel):
    """An exact DAC that returns a copy: not the ideal device, so no unit blocks."""

    def write_inputs(self, inputs, seed, pass_index, step_offset):
        return np.array(inputs, dtype=float, copy=True)


@dataclasses.dataclass(frozen=True, eq=False)
class WholeLinearHRU(LinearHRU):
    """A LinearHRU that does not declare its units independent: the unsplit loops run."""

    @property
    def n_independent_units(self) -> int:
        return 0


@dataclasses.dataclass(frozen=True, eq=False)
class WholeNonlinearHRU(NonlinearHRU):
    """A NonlinearHRU that does not declare its units independent."""

    @property
    def n_independent_units(self) -> int:
        return 0


def _systems(n_units: int):
    """(split, whole) pairs: complex linear and nonlinear HRUs with the same parameters."""
    lin = LinearHRU.random(n_units, 8, complex=True, rng=1)
    nl = NonlinearHRU.random(n_units, 8, step=0.1, rng=2)
    return [(lin, WholeLinearHRU(**lin.constructor_fields())),
            (nl, WholeNonlinearHRU(**nl.constructor_fields()))]


# -------------------------------------------------------------------- layout
@pytest.mark.parametrize("system", [LinearHRU.random(10, 3, rng=0),
                                    LinearHRU.random(10, 3, complex=True, rng=0),
                                    NonlinearHRU.random(10, 3, step=0.1, rng=0)],
                         ids=["linear", "complex", "nonlinear"])
def test_block_callbacks_give_the_blocks_entries(system):
    """Every callback on a block's arrays equals the block's entries of the whole system's."""
    rng = np.random.default_rng(3)
    k = system.kernels
    theta = system.pack_theta(np.float64)
    n, nd = system.n_dof, system.n_drive
    q, p, v = (rng.standard_normal(n) for _ in range(3))
    d = rng.standard_normal(nd)
    block = system.unit_block(3, 7)
    th, qb, pb, vb, db = theta[block.theta], q[block.state], p[block.state], v[block.state], \
        d[block.drive]
    whole, part = np.empty(n), np.empty(block.state.size)
    for name, args_whole, args_part in (("grad_kinetic", (p, theta), (pb, th)),
                                        ("grad_potential", (q, d, theta), (qb, db, th)),
                                        ("hvp_potential", (q, d, theta, v), (qb, db, th, vb))):
        getattr(k, name)(*args_whole, whole)
        getattr(k, name)(*args_part, part)
        np.testing.assert_array_equal(part, whole[block.state], err_msg=name)
    # NonlinearHRU: alpha, delta (the last two of a block) are shared, summed over blocks
    shared = [th.size - 2, th.size - 1] if isinstance(system, NonlinearHRU) else []
    for name, args_whole, args_part in (
            ("theta_grad_kinetic", (p, theta, 0.5), (pb, th, 0.5)),
            ("theta_grad_potential", (q, d, theta, 0.5), (qb, db, th, 0.5))):
        g_whole, g_part = np.zeros(theta.size), np.zeros(th.size)
        getattr(k, name)(*args_whole, g_whole)
        getattr(k, name)(*args_part, g_part)
        own = [i for i in range(th.size) if i not in shared]
        np.testing.assert_array_equal(g_part[own], g_whole[block.theta[own]], err_msg=name)
    g_whole, g_part = np.zeros(nd), np.zeros(block.drive.size)
    k.drive_grad_potential(q, d, theta, 0.5, g_whole)
    k.drive_grad_potential(qb, db, th, 0.5, g_part)
    np.testing.assert_array_equal(g_part, g_whole[block.drive])


def test_shared_parameters_are_summed_over_blocks():
    """NonlinearHRU: alpha and delta appear in every block; the blocks' read-outs sum to the
    whole system's (to round-off)."""
    system = NonlinearHRU.random(12, 3, step=0.1, rng=0)
    rng = np.random.default_rng(4)
    theta = system.pack_theta(np.float64)
    q, d = rng.standard_normal(12), rng.standard_normal(12)
    whole = np.zeros(theta.size)
    system.kernels.theta_grad_potential(q, d, theta, 1.0, whole)
    total = np.zeros(theta.size)
    for lo, hi in ((0, 5), (5, 12)):
        block = system.unit_block(lo, hi)
        g = np.zeros(block.theta.size)
        system.kernels.theta_grad_potential(q[block.state], d[block.drive], theta[block.theta],
                                            1.0, g)
        total[block.theta] += g
    np.testing.assert_allclose(total, whole, rtol=1e-14, atol=0)


def test_layout_and_refusals():
    assert unit_block_count(UNITS_PER_BLOCK) == 1
    assert unit_block_count(100) == 100 // UNITS_PER_BLOCK
    assert unit_block_count(10**6) == 8
    lin = LinearHRU.random(100, 3, complex=True, rng=0)
    layout = UnitLayout.of(prepare_run(lin))
    n_blocks = unit_block_count(100)
    assert layout.sizes.shape == (n_blocks, 3)
    # every unit in exactly one block; the ragged split covers the 2 banks
    states = np.concatenate([layout.state_idx[u, :layout.sizes[u, 0]] for u in range(n_blocks)])
    assert sorted(states) == list(range(200))
    assert UnitLayout.of(prepare_run(WholeLinearHRU(**lin.constructor_fields()))) is None
    assert UnitLayout.of(prepare_run(LinearHRU.random(UNITS_PER_BLOCK, 3, rng=0))) is None
    assert UnitLayout.of(prepare_run(lin, hardware=CopyingDAC())) is None
    with pytest.raises(ValueError, match="unit range"):
        lin.unit_block(5, 5)
    with pytest.raises(NotImplementedError, match="independent units"):
        HamiltonianSystem.unit_block(lin, 0, 1)


# -------------------------------------------------------------------- passes
def _problem(system, rng, batch=1):
    run = prepare_run(system)
    u = rng.standard_normal((batch, L_STEPS, system.n_inputs))
    q0 = 0.3 * rng.standard_normal((batch, system.n_dof))
    return run, prepare_batch(run, q0, None, u, None)


def _passes(system, *, chunk_size=16384, seed=0, batch=1):
    """Forward pass with read-out and records, then a centred paired echo pair."""
    run, b = _problem(system, np.random.default_rng(seed), batch)
    fwd = forward_pass(run, b.start, b.inputs, record_every=1, sum_positions=True,
                       readout=True, keep_drive=True, chunk_size=chunk_size)
    rng = np.random.default_rng(seed + 1)
    aux = np.ascontiguousarray(0.1 * fwd.positions[:, 1:]
                               + 0.01 * rng.standard_normal(fwd.positions[:, 1:].shape))
    source = NudgeSource(recorded_cotangent, aux, np.zeros((1, 1)))
    echo = echo_passes(run, flip(run, fwd.final), b.inputs, nudges=(1e-6, -1e-6),
                       nudge_source=source, keep_drive=True, chunk_size=chunk_size)
    assert echo.paired
    return fwd, echo


def _arrays(fwd, echo):
    return {"q": fwd.final.q, "p": fwd.final.p, "positions": fwd.positions,
            "momenta": fwd.momenta, "position_sum": fwd.position_sum,
            "fwd_theta": fwd.readout.theta, "fwd_matrix": fwd.readout.input_matrix,
            "fwd_inputs": fwd.readout.inputs, "echo_theta": echo.readout.theta,
            "echo_matrix": echo.readout.input_matrix, "echo_inputs": echo.readout.inputs,
            "dq": echo.final_difference.q, "dp": echo.final_difference.p}


@pytest.mark.parametrize("n_units", [100, 256])
def test_unit_blocks_against_the_whole_system(n_units, monkeypatch):
    """Same bits as the unsplit loops except the shared parameters' read-outs (round-off)."""
    for split, whole in _systems(n_units):
        calls = []
        for module, name in ((loops, "free_run_units"), (paired, "paired_echo_run_units")):
            original = getattr(module, name)
            monkeypatch.setattr(module, name,
                                lambda *a, _f=original, _n=name: calls.append(_n) or _f(*a))
        got = _arrays(*_passes(split))
        assert {"free_run_units", "paired_echo_run_units"} <= set(calls)
        calls.clear()
        ref = _arrays(*_passes(whole))
        assert not calls
        monkeypatch.undo()
        # NonlinearHRU: alpha and delta (the last two) are summed over the blocks
        n_shared = 2 if isinstance(split, NonlinearHRU) else 0
        for key in ref:
            a, b = got[key], ref[key]
            if key.endswith("_theta") and n_shared:
                np.testing.assert_array_equal(a[:, :-n_shared], b[:, :-n_shared], err_msg=key)
                np.testing.assert_allclose(a[:, -n_shared:], b[:, -n_shared:], rtol=1e-12,
                                           atol=1e-15 * np.max(np.abs(b)), err_msg=key)
            else:
                np.testing.assert_array_equal(a, b, err_msg=f"{type(split).__name__} {key}")


def test_bit_identical_across_threads_and_chunks():
    """1 or 2 numba threads, chunk sizes 7 and the default, batch of 3: the same bits."""
    for split, _ in _systems(100):
        threads = numba.get_num_threads()
        runs = {}
        try:
            for n_threads, chunk in ((1, 16384), (min(2, numba.config.NUMBA_NUM_THREADS), 16384),
                                     (1, 7), (threads, 7)):
                numba.set_num_threads(n_threads)
                runs[(n_threads, chunk)] = _arrays(*_passes(split, chunk_size=chunk, batch=3))
        finally:
            numba.set_num_threads(threads)
        first = runs[(1, 16384)]
        for key, arrays in runs.items():
            for name in first:
                np.testing.assert_array_equal(arrays[name], first[name],
                                              err_msg=f"{type(split).__name__} {key} {name}")
        # each trajectory of the batch gives the bits of its own run (no mixing of tasks)
        assert not np.array_equal(first["echo_theta"][0], first["echo_theta"][1])


# ---------------------------------------------------------------- RHEL = BPTT
@pytest.mark.parametrize("kind", ["linear", "nonlinear"])
def test_rhel_on_unit_blocks_matches_bptt(kind):
    """Centred paired RHEL (unit blocks) against BPTT on every tensor, 1e-9 relative."""
    rng = np.random.default_rng(7)
    n_units = 96
    system = (LinearHRU.random(n_units, 8, complex=True, rng=rng) if kind == "linear"
              else NonlinearHRU.random(n_units, 8, step=0.1, rng=rng))
    assert UnitLayout.of(prepare_run(system)) is not None
    u = rng.standard_normal((1, L_STEPS, 8))
    q0 = 0.2 * rng.standard_normal(system.n_dof)
    loss = MSEReadout(rng.standard_normal((3, system.n_dof)) / system.n_dof,
                      0.3 * rng.standard_normal((1, L_STEPS, 3)))
    ref = bptt_gradient(system, q0, None, u, loss)
    got = rhel_gradient(system, q0, None, u, loss, input_gradient=True)
    assert got.info["paired_echoes"]
    for name, r in ref.params.items():
        err = np.max(np.abs(got.params[name] - r)) / np.max(np.abs(r))
        assert err < 1e-9, f"{kind} {name}: {err:.1e}"
    err = np.max(np.abs(got.input_gradient - ref.input_gradient)) / np.max(
        np.abs(ref.input_gradient))
    assert err < 1e-9, f"{kind} inputs: {err:.1e}"
