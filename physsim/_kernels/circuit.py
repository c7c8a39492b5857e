"""Callbacks of superconducting circuits: linear LC network plus Josephson junctions.

Node fluxes ``q`` (n,) and node charges ``p`` (n,)::

    T = p.Cinv.p / 2
    V = q.K.q / 2 - d.q - sum_j E_j cos(kappa phi_j),   phi = D q

with ``Cinv`` the inverse capacitance matrix, ``K`` the inverse-inductance
Laplacian, ``E_j`` the Josephson energies, ``D`` the (nj, n) junction incidence
matrix (row j has +1 at the junction's first node and -1 at its second node,
nothing for ground) and ``kappa = 2 pi / Phi_0``.

Packed parameters (row-major matrices)::

    theta = [Cinv (n*n), kappa (1), E (nj), D (nj*n), K (n*n)]

``Cinv`` first and ``K`` last is the layout of the dense quadratic kernels in
:mod:`physsim._kernels.quadratic`, so the kinetic callbacks *are* those kernels
and the potential callbacks are the quadratic ones plus the junction terms.
The number of junctions is recovered from the sizes:
``nj = (n_theta - 2 n^2 - 1) / (n + 1)``.

Matrix blocks (Cinv, K) are parameters of symmetric matrices (symmetrised
gradients, see :mod:`physsim._kernels.quadratic`); ``kappa``, ``E`` and ``D``
are treated entry by entry.  The callbacks allocate nothing.

Pair callbacks (``pair_*``, see :mod:`physsim._kernels.signatures`): the quadratic
part is that of :mod:`physsim._kernels.quadratic`; a junction's terms at the two
phases ``a +- b``, with ``a = kappa (D qm)_j`` and ``b = kappa (D qd)_j``, follow
from ``sin(a + b) -+ sin(a - b) = 2 cos a sin b, 2 sin a cos b`` and
``cos(a + b) - cos(a - b) = -2 sin a sin b``.  Those are accurate relative to their
own size only if the sines and cosines of ``a`` and ``b`` are, also near their
zeros, where the rounding of the phase itself (``u |a|``, large for phases of
several periods) would dominate: each phase is therefore formed as an unevaluated
sum ``a_hi + a_lo`` (a compensated dot product and an exact product, in float64 in
every precision) and ``sin a = sin a_hi + cos a_hi a_lo``,
``cos a = cos a_hi - sin a_hi a_lo``.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from . import quadratic as qk

# The kinetic energy is exactly the dense quadratic one (Cinv at offset 0).
grad_kinetic = qk.dense_grad_kinetic
kinetic = qk.dense_kinetic
theta_grad_kinetic = qk.dense_theta_grad_kinetic
hvp_kinetic = qk.dense_hvp_kinetic
theta_vjp_kinetic = qk.dense_theta_vjp_kinetic
pair_grad_kinetic = qk.dense_pair_grad_kinetic
pair_theta_grad_kinetic = qk.dense_pair_theta_grad_kinetic
# The drive enters only the linear term -d.q, as in the quadratic potential.
drive_grad_potential = qk.drive_grad_potential
drive_vjp_potential = qk.drive_vjp_potential
pair_drive_grad_potential = qk.pair_drive_grad_potential


@njit(cache=True)
def junction_layout(theta, n):
    """Number of junctions and offsets of ``kappa``, ``E`` and ``D`` in ``theta``."""
    nn = n * n
    nj = (theta.shape[0] - 2 * nn - 1) // (n + 1)
    return nj, nn, nn + 1, nn + 1 + nj


@njit(cache=True)
def _phase(theta, d_off, j, n, x):
    """``(D x)_j``: the flux across junction ``j`` (or its projection of ``x``)."""
    s = 0.0
    base = d_off + j * n
    for k in range(n):
        s += theta[base + k] * x[k]
    return s


@njit(cache=True)
def grad_potential(q, d, theta, out):
    n = q.shape[0]
    qk.grad_potential(q, d, theta, out)
    nj, k_off, e_off, d_off = junction_layout(theta, n)
    kappa = theta[k_off]
    for j in range(nj):
        # junction current I_j = E_j kappa sin(kappa phi_j), pushed back onto its nodes
        f = theta[e_off + j] * kappa * np.sin(kappa * _phase(theta, d_off, j, n, q))
        base = d_off + j * n
        for k in range(n):
            out[k] += f * theta[base + k]


@njit(cache=True)
def potential(q, d, theta):
    n = q.shape[0]
    s = qk.potential(q, d, theta)
    nj, k_off, e_off, d_off = junction_layout(theta, n)
    kappa = theta[k_off]
    for j in range(nj):
        s -= theta[e_off + j] * np.cos(kappa * _phase(theta, d_off, j, n, q))
    return s


@njit(cache=True)
def theta_grad_potential(q, d, theta, w, out):
    n = q.shape[0]
    qk.theta_grad_potential(q, d, theta, w, out)
    nj, k_off, e_off, d_off = junction_layout(theta, n)
    kappa = theta[k_off]
    g_kappa = 0.0
    for j in range(nj):
        ej = theta[e_off + j]
        phi = _phase(theta, d_off, j, n, q)
        sn = np.sin(kappa * phi)
        out[e_off + j] -= w * np.cos(kappa * phi)
        f = w * ej * kappa * sn
        base = d_off + j * n
        for k in range(n):
            out[base + k] += f * q[k]
        g_kappa += ej * sn * phi
    out[k_off] += w * g_kappa


@njit(cache=True)
def hvp_potential(q, d, theta, v, out):
    n = q.shape[0]
    qk.hvp_potential(q, d, theta, v, out)
    nj, k_off, e_off, d_off = junction_layout(theta, n)
    kappa = theta[k_off]
    for j in range(nj):
        phi = _phase(theta, d_off, j, n, q)
        f = theta[e_off + j] * kappa * kappa * np.cos(kappa * phi) * _phase(theta, d_off, j, n, v)
        base = d_off + j * n
        for k in range(n):
            out[k] += f * theta[base + k]


@njit(cache=True)
def theta_vjp_potential(q, d, theta, v, w, out):
    # d/dtheta of v.dV/dq; junction part sum_j E_j kappa sin(kappa phi_j) psi_j, psi = D v
    n = q.shape[0]
    qk.theta_vjp_potential(q, d, theta, v, w, out)
    nj, k_off, e_off, d_off = junction_layout(theta, n)
    kappa = theta[k_off]
    g_kappa = 0.0
    for j in range(nj):
        ej = theta[e_off + j]
        phi = _phase(theta, d_off, j, n, q)
        psi = _phase(theta, d_off, j, n, v)
        sn = np.sin(kappa * phi)
        cs = np.cos(kappa * phi)
        out[e_off + j] += w * kappa * sn * psi
        a = w * ej * kappa * sn
        b = w * ej * kappa * kappa * cs * psi
        base = d_off + j * n
        for k in range(n):
            out[base + k] += a * v[k] + b * q[k]
        g_kappa += ej * psi * (sn + kappa * cs * phi)
    out[k_off] += w * g_kappa


# ------------------------------------------------------------------- junction pairs
# Error-free transformations (Ogita, Rump & Oishi, SIAM J. Sci. Comput. 26, 1955
# (2005)), float64, without fma: two_sum gives s + e = a + b exactly, two_product
# p + e = a b exactly (Dekker's split into 26-bit halves; |a|, |b| < 1e300).
_SPLITTER = 134217729.0  # 2**27 + 1


@njit(cache=True, inline="always")
def _two_sum(a, b):
    s = a + b
    z = s - a
    return s, (a - (s - z)) + (b - z)


@njit(cache=True, inline="always")
def _split(a):
    c = _SPLITTER * a
    hi = c - (c - a)
    return hi, a - hi


@njit(cache=True, inline="always")
def _two_product(a, b):
    p = a * b
    a_hi, a_lo = _split(a)
    b_hi, b_lo = _split(b)
    return p, a_lo * b_lo - (((p - a_hi * b_hi) - a_lo * b_hi) - a_hi * b_lo)


@njit(cache=True, inline="always")
def _phase_compensated(theta, d_off, j, n, x):
    """``(D x)_j`` as ``hi + lo`` (float64), as if summed in twice the working precision."""
    base = d_off + j * n
    hi, lo = _two_product(np.float64(theta[base]), np.float64(x[0]))
    for k in range(1, n):
        p, e_p = _two_product(np.float64(theta[base + k]), np.float64(x[k]))
        hi, e_s = _two_sum(hi, p)
        lo += e_p + e_s
    return _two_sum(hi, lo)


@njit(cache=True, inline="always")
def _sin_cos_compensated(kappa, flux_hi, flux_lo):
    """``sin x, cos x`` of ``x = kappa (flux_hi + flux_lo)``, with ``x`` itself carried as
    ``x_hi + x_lo`` (module docstring), accurate relative to their own size."""
    x_hi, x_lo = _two_product(kappa, flux_hi)
    x_lo += kappa * flux_lo
    sin_hi = np.sin(x_hi)
    cos_hi = np.cos(x_hi)
    return sin_hi + cos_hi * x_lo, cos_hi - sin_hi * x_lo


@njit(cache=True, inline="always")
def _junction_pair(theta, d_off, j, n, kappa, qm, qd):
    """Phases of junction ``j`` at ``qm +- qd``: the mean ``a`` and half-difference ``b``.

    Returns ``sin a, cos a, sin b, cos b`` and the fluxes ``(D qm)_j``, ``(D qd)_j``,
    in float64.  ``b`` needs the same care as ``a`` when ``qd`` is as large as ``qm``.
    """
    fm_hi, fm_lo = _phase_compensated(theta, d_off, j, n, qm)
    fd_hi, fd_lo = _phase_compensated(theta, d_off, j, n, qd)
    sin_a, cos_a = _sin_cos_compensated(kappa, fm_hi, fm_lo)
    sin_b, cos_b = _sin_cos_compensated(kappa, fd_hi, fd_lo)
    return sin_a, cos_a, sin_b, cos_b, fm_hi + fm_lo, fd_hi + fd_lo


@njit(cache=True)
def pair_grad_potential(qm, qd, d, theta, out_mean, out_half):
    n = qm.shape[0]
    qk.pair_grad_potential(qm, qd, d, theta, out_mean, out_half)
    nj, k_off, e_off, d_off = junction_layout(theta, n)
    kappa = np.float64(theta[k_off])
    for j in range(nj):
        sin_a, cos_a, sin_b, cos_b, _, _ = _junction_pair(theta, d_off, j, n, kappa, qm, qd)
        # junction currents E kappa sin(a +- b): mean E kappa sin a cos b, half E kappa cos a sin b
        current = np.float64(theta[e_off + j]) * kappa
        f_mean = current * sin_a * cos_b
        f_half = current * cos_a * sin_b
        base = d_off + j * n
        for k in range(n):
            out_mean[k] += f_mean * theta[base + k]
            out_half[k] += f_half * theta[base + k]


@njit(cache=True)
def pair_theta_grad_potential(qm, qd, d, theta, w, out):
    n = qm.shape[0]
    qk.pair_theta_grad_potential(qm, qd, d, theta, w, out)
    nj, k_off, e_off, d_off = junction_layout(theta, n)
    kappa = np.float64(theta[k_off])
    g_kappa = 0.0
    for j in range(nj):
        ej = np.float64(theta[e_off + j])
        sin_a, cos_a, sin_b, cos_b, phi_m, phi_d = _junction_pair(theta, d_off, j, n, kappa,
                                                                  qm, qd)
        # dV/dE_j = -cos(kappa phi_j): its difference is 2 sin a sin b
        out[e_off + j] += 2.0 * w * sin_a * sin_b
        # sin(a + b) -+ sin(a - b), and s+ x+ - s- x- = (s+ - s-) xm + (s+ + s-) xd
        s_diff = 2.0 * cos_a * sin_b
        s_sum = 2.0 * sin_a * cos_b
        f = w * ej * kappa
        base = d_off + j * n
        for k in range(n):
            out[base + k] += f * (s_diff * qm[k] + s_sum * qd[k])
        g_kappa += ej * (s_diff * phi_m + s_sum * phi_d)
    out[k_off] += w * g_kappa
