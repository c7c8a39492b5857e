"""The compiled loops and their helpers against independent references.

- ``combine_rows`` (drive projection, symmetric matrix-vector product) against
  a scalar Python loop with the documented order and precision, bit for bit;
- the LinearHRU callbacks, which walk the banks one at a time, against numpy
  formulas on the tiled parameters, bit for bit;
- the two ways the loops read inputs (the sequence in place, or chunks that a
  hardware model wrote) and every chunk size: the same bits for simulation,
  RHEL (both estimators, input gradients) and BPTT.
"""

from __future__ import annotations

import numpy as np
import pytest

import physsim
from physsim import CoupledOscillators, LinearHRU
from physsim._kernels import hru as hk
from physsim._kernels import quadratic as qk
from physsim._kernels.linalg import combine_rows
from physsim.bptt import bptt_gradient
from physsim.hardware import HardwareModel
from physsim.losses import MSEReadout, PooledCrossEntropy
from physsim.rhel import rhel_gradient

DTYPES = [np.float64, np.float32]


def scalar_combine(rows, x, dtype):
    """``out[i] = sum_j rows[j, i] x[j]``: products in ``dtype``, sum in float64 from 0."""
    out = np.empty(rows.shape[1], dtype)
    for i in range(rows.shape[1]):
        s = np.float64(0.0)
        for j in range(rows.shape[0]):
            s = s + np.float64(dtype(rows[j, i]) * dtype(x[j]))
        out[i] = s
    return out


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("m", [1, 3, 4, 5, 8, 17])
@pytest.mark.parametrize("n", [1, 6, 64])
def test_combine_rows_is_the_ordered_scalar_sum(rng, dtype, m, n):
    rows = rng.standard_normal((m, n)).astype(dtype)
    x = rng.standard_normal(m).astype(dtype)
    out = np.full(n, np.nan, dtype)
    combine_rows(rows, x, out)
    np.testing.assert_array_equal(out, scalar_combine(rows, x, dtype))


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("n", [1, 7, 33])
def test_sym_matvec_equals_the_row_by_row_product(rng, dtype, n):
    """Column-wise on a symmetric block: the same bits as row times vector."""
    k = rng.standard_normal((n, n))
    k = 0.5 * (k + k.T)
    offset = 3
    theta = np.concatenate([rng.standard_normal(offset), k.ravel()]).astype(dtype)
    v = rng.standard_normal(n).astype(dtype)
    out = np.zeros(n, dtype)
    qk.sym_matvec(theta, offset, v, out)
    block = theta[offset:].reshape(n, n)
    # rows of the block are its columns (symmetric): row i . v in order j = 0, 1, ...
    np.testing.assert_array_equal(out, scalar_combine(block.T, v, dtype))
    tol = 1e-5 if dtype == np.float32 else 1e-12
    np.testing.assert_allclose(out, k.astype(dtype) @ v, rtol=tol, atol=tol)


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("banks", [1, 2])
def test_linear_hru_callbacks_against_tiled_numpy(rng, dtype, banks):
    P = 9
    n = P * banks
    a = rng.uniform(0, 1, P).astype(dtype)
    delta = rng.uniform(0.5, 0.8, P).astype(dtype)
    theta = np.concatenate([a, delta])
    at, dt = np.tile(a, banks), np.tile(delta, banks)
    q, p, d, v = (rng.standard_normal(n).astype(dtype) for _ in range(4))
    w = dtype(0.7)

    def call(kernel, *args, size=n, start=None):
        out = np.ones(size, dtype) if start is None else start.copy()
        kernel(*args, out)
        return out

    np.testing.assert_array_equal(call(hk.lin_grad_kinetic, p, theta), dt * p)
    np.testing.assert_array_equal(call(hk.lin_hvp_kinetic, p, theta, v), dt * v)
    np.testing.assert_array_equal(call(hk.lin_grad_potential, q, d, theta), dt * (at * q - d))
    np.testing.assert_array_equal(call(hk.lin_hvp_potential, q, d, theta, v), dt * at * v)
    one = np.ones(n, dtype)
    np.testing.assert_array_equal(call(hk.lin_drive_grad_potential, q, d, theta, w),
                                  one - w * dt * q)
    np.testing.assert_array_equal(call(hk.lin_drive_vjp_potential, q, d, theta, v, w),
                                  one - w * dt * v)
    # parameter gradients: the banks add into the same P entries, bank 0 first.  The kernels'
    # literal 0.5 is a float64, so in float32 they sum in float64: compare with a float64
    # reference there, bit for bit in float64.
    g0 = rng.standard_normal(2 * P).astype(dtype)
    q6, p6, d6, v6, a6, delta6, w6 = (np.asarray(x, np.float64) for x in (q, p, d, v, a, delta, w))

    def banked(per_bank_a, per_bank_delta):
        ga, gd = g0[:P].astype(np.float64), g0[P:].astype(np.float64)
        for b in range(banks):
            sl = slice(b * P, (b + 1) * P)
            if per_bank_a is not None:
                ga = ga + per_bank_a(sl)
            gd = gd + per_bank_delta(sl)
        return np.concatenate([ga, gd])

    check = np.testing.assert_array_equal if dtype == np.float64 else \
        (lambda x, y: np.testing.assert_allclose(x, y, rtol=2e-6, atol=2e-6))
    check(call(hk.lin_theta_grad_kinetic, p, theta, w, start=g0),
          banked(None, lambda s: 0.5 * w6 * p6[s] * p6[s]))
    check(call(hk.lin_theta_grad_potential, q, d, theta, w, start=g0),
          banked(lambda s: w6 * 0.5 * delta6 * q6[s] * q6[s],
                 lambda s: w6 * (0.5 * a6 * q6[s] * q6[s] - d6[s] * q6[s])))
    check(call(hk.lin_theta_vjp_kinetic, p, theta, v, w, start=g0),
          banked(None, lambda s: w6 * v6[s] * p6[s]))
    check(call(hk.lin_theta_vjp_potential, q, d, theta, v, w, start=g0),
          banked(lambda s: w6 * v6[s] * delta6 * q6[s],
                 lambda s: w6 * v6[s] * (a6 * q6[s] - d6[s])))
    assert hk.lin_kinetic(p, theta) == pytest.approx(0.5 * np.sum(dt * p * p), rel=1e-6)
    assert hk.lin_potential(q, d, theta) == pytest.approx(
        np.sum(dt * (0.5 * at * q * q - d * q)), rel=1e-5)


# ------------------------------------------------------------ input paths
class CopyingDAC(HardwareModel):
    """An exact DAC that returns a copy: the loops then read the inputs it wrote, chunk by chunk."""

    def write_inputs(self, inputs, seed, pass_index, step_offset):
        return np.array(inputs, dtype=float, copy=True)


def _systems(rng):
    k = rng.uniform(0.0, 0.2, (5, 5))
    dense = CoupledOscillators(mass=rng.uniform(0.5, 2.0, 5),
                               stiffness=np.diag(rng.uniform(2.0, 3.0, 5)) + k + k.T,
                               input_matrix=rng.standard_normal((5, 3)))
    return {"linear_hru_complex": (LinearHRU.random(6, 3, complex=True, rng=rng), None),
            "coupled_dense": (dense, 0.05)}


@pytest.mark.parametrize("dtype", DTYPES)
@pytest.mark.parametrize("name", ["linear_hru_complex", "coupled_dense"])
def test_inputs_in_place_and_written_chunks_give_the_same_bits(rng, dtype, name):
    system, dt = _systems(rng)[name]
    B, L = 3, 120
    u = rng.standard_normal((B, L, system.n_inputs))
    q0 = 0.1 * rng.standard_normal((B, system.n_dof))
    runs = [physsim.simulate(system, q0, None, u, dt=dt, dtype=dtype, record_every=1,
                             record_energy=True, hardware=hw, chunk_size=chunk)
            for hw, chunk in ((None, 10_000), (CopyingDAC(), 7), (None, 13))]
    for other in runs[1:]:
        for field in ("positions", "momenta", "energy"):
            np.testing.assert_array_equal(getattr(other, field), getattr(runs[0], field))
    # the energy of the initial state uses the drive of step 0, B u_0 (numpy reference)
    np.testing.assert_allclose(runs[0].energy[:, 0], system.energy(q0, np.zeros_like(q0), u[:, 0]),
                               rtol=1e-5 if dtype == np.float32 else 1e-12)

    readout = rng.standard_normal((2, system.n_dof))
    loss = MSEReadout(readout, rng.standard_normal((B, L, 2)))
    grads = {}
    for estimator in ("centred", "one_sided"):
        # separate echoes throughout: the CopyingDAC device is not ideal, so it cannot run
        # paired echoes, and the paired loop gives other bits
        for hw, chunk in ((None, 10_000), (CopyingDAC(), 7), (None, 50)):
            grads[estimator, chunk] = rhel_gradient(system, q0, None, u, loss, dt=dt, dtype=dtype,
                                                    estimator=estimator, hardware=hw,
                                                    chunk_size=chunk, eps=1e-3, paired=False)
    for chunk in (10_000, 7):  # paired echoes (ideal device): in place, any chunk size
        grads["paired", chunk] = rhel_gradient(system, q0, None, u, loss, dt=dt, dtype=dtype,
                                               chunk_size=chunk, eps=1e-3, paired=True)
    if dtype == np.float64:
        for hw, chunk in ((None, 10_000), (CopyingDAC(), 7)):
            grads["bptt", chunk] = bptt_gradient(system, q0, None, u, loss, dt=dt,
                                                 hardware=hw, chunk_size=chunk)
    for (method, chunk), g in grads.items():
        ref = grads[method, 10_000]
        for key in g.params:
            np.testing.assert_array_equal(g.params[key], ref.params[key], err_msg=key)
        np.testing.assert_array_equal(g.input_gradient, ref.input_gradient)
        np.testing.assert_array_equal(g.initial_position_gradient, ref.initial_position_gradient)


def test_rhel_equals_bptt_through_the_in_loop_read_outs(rng):
    """Input-matrix and input gradients accumulated in the loops: RHEL = BPTT (linear system).

    Centred: every gradient exact.  One-sided: the read-outs linear in the state
    (input matrix, inputs) are exact for any nudge; the quadratic ones (A, step)
    have an O(eps) bias and are not compared.
    """
    system = LinearHRU.random(16, 4, rng=rng)
    B, L = 4, 300
    u = rng.standard_normal((B, L, 4))
    q0 = rng.standard_normal((B, 16))
    loss = PooledCrossEntropy(rng.standard_normal((3, 16)) / 4, rng.integers(0, 3, B))
    ref = bptt_gradient(system, q0, None, u, loss)
    for estimator, keys in (("centred", ("A", "step", "B_re")), ("one_sided", ("B_re",))):
        got = rhel_gradient(system, q0, None, u, loss, estimator=estimator)
        for key in keys:
            np.testing.assert_allclose(got.params[key], ref.params[key], rtol=1e-9,
                                       atol=1e-9 * np.abs(ref.params[key]).max())
        np.testing.assert_allclose(got.input_gradient, ref.input_gradient, rtol=1e-9,
                                   atol=1e-9 * np.abs(ref.input_gradient).max())
