"""The compiled loops and their helpers against independent references.

- ``combine_rows`` (drive projection, symmetric matrix-vector product) against
  a scalar Python loop with the documented order and precision, bit for bit;
- the LinearHRU callbacks, which walk the banks one at a time, against numpy
  formulas on the tiled parameters, bit for bit.
"""

from __future__ import annotations

import numpy as np
import pytest

from physsim._kernels import hru as hk
from physsim._kernels import quadratic as qk
from physsim._kernels.linalg import combine_rows

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
