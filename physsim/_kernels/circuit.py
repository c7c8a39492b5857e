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
# The drive enters only the linear term -d.q, as in the quadratic potential.
drive_grad_potential = qk.drive_grad_potential
drive_vjp_potential = qk.drive_vjp_potential


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
