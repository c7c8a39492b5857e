"""Callbacks of quadratic Hamiltonians: T = p.Minv.p/2, V = q.K.q/2 - d.q.

Packed parameters: ``theta = [Minv, K]`` where ``Minv`` is the inverse mass,
either diagonal (n values) or dense symmetric (n*n values, row-major), and
``K`` is the dense symmetric stiffness (n*n values).  The drive ``d`` has n
entries (the system's input matrix maps inputs onto every degree of freedom).

The potential callbacks carry the plain callback names; the kinetic ones exist for
both mass layouts as ``diag_<callback>`` and ``dense_<callback>``.

Pair callbacks (``pair_*``, ``diag_pair_*``, ``dense_pair_*``; see
:mod:`physsim._kernels.signatures`) of the paired echo loop take two states
``x+- = xm +- xd`` at once.  The energies are quadratic, so the half-difference of
a gradient is the Hessian-vector product with ``xd`` (``K qd``, ``Minv pd``: the
drive cancels) and a read-out difference is twice the VJP at the mean along
``xd`` (e.g. ``q+ q+^T - q- q-^T = 2 (qm qd^T + qd qm^T)``, ``q+ - q- = 2 qd``):
no term is a difference of two evaluations.

Matrix entries are treated as independent parameters of a *symmetric* matrix,
so the VJPs return the symmetrised outer products; this matches the RHEL
estimator, whose dH/dK = q q^T / 2 is symmetric by construction.
"""

from __future__ import annotations

from numba import njit

from .linalg import combine_rows


@njit(cache=True)
def sym_matvec(theta, offset, v, out):
    """``out = M v`` for the symmetric n-by-n block of ``theta`` starting at ``offset``.

    Column by column (``out += M[:, j] v_j``, reading column j as the
    contiguous row j of the symmetric block), which vectorises; the sum per
    entry runs over j in the same order as a row-times-vector product, so for
    an exactly symmetric block (the systems store ``(K + K^T) / 2``) the result
    is bit-identical to it (see :mod:`physsim._kernels.linalg`).
    """
    n = v.shape[0]
    combine_rows(theta[offset:offset + n * n].reshape((n, n)), v, out)


@njit(cache=True)
def sym_quad(theta, offset, v):
    """``v.M.v`` for the n-by-n block of ``theta`` starting at ``offset``."""
    n = v.shape[0]
    s = 0.0
    for i in range(n):
        base = offset + i * n
        r = 0.0
        for j in range(n):
            r += theta[base + j] * v[j]
        s += v[i] * r
    return s


@njit(cache=True)
def add_outer_sym(out, offset, a, b, w):
    """``out[M] += w (a b^T + b a^T) / 2`` for the n-by-n block at ``offset``."""
    n = a.shape[0]
    hw = 0.5 * w
    for i in range(n):
        base = offset + i * n
        for j in range(n):
            out[base + j] += hw * (a[i] * b[j] + b[i] * a[j])


# The inverse mass is the first block of theta; K is the last n*n block whatever the
# mass layout (n diagonal entries or an n*n matrix before it).
_MINV_OFFSET = 0


# ---------------------------------------------------------------- potential (shared)
@njit(cache=True)
def _k_offset(theta, n):
    """Offset of the stiffness block ``K`` in ``theta`` for ``n`` degrees of freedom."""
    return theta.shape[0] - n * n


@njit(cache=True)
def grad_potential(q, d, theta, out):
    sym_matvec(theta, _k_offset(theta, q.shape[0]), q, out)
    for i in range(q.shape[0]):
        out[i] -= d[i]


@njit(cache=True)
def potential(q, d, theta):
    s = 0.5 * sym_quad(theta, _k_offset(theta, q.shape[0]), q)
    for i in range(q.shape[0]):
        s -= d[i] * q[i]
    return s


@njit(cache=True)
def theta_grad_potential(q, d, theta, w, out):
    add_outer_sym(out, _k_offset(theta, q.shape[0]), q, q, 0.5 * w)


@njit(cache=True)
def drive_grad_potential(q, d, theta, w, out):
    for i in range(q.shape[0]):
        out[i] -= w * q[i]


@njit(cache=True)
def hvp_potential(q, d, theta, v, out):
    sym_matvec(theta, _k_offset(theta, q.shape[0]), v, out)


@njit(cache=True)
def theta_vjp_potential(q, d, theta, v, w, out):
    add_outer_sym(out, _k_offset(theta, q.shape[0]), v, q, w)


@njit(cache=True)
def drive_vjp_potential(q, d, theta, v, w, out):
    for i in range(q.shape[0]):
        out[i] -= w * v[i]


# ----------------------------------------------------------- potential pairs (shared)
# H is quadratic: the half-difference of a gradient is the Hessian times the half-
# difference, and a read-out difference is twice the VJP at the mean along it,
# dV/dtheta(qm + qd) - dV/dtheta(qm - qd) = 2 d/dtheta (qd . dV/dq(qm)).
@njit(cache=True)
def pair_grad_potential(qm, qd, d, theta, out_mean, out_half):
    grad_potential(qm, d, theta, out_mean)
    hvp_potential(qm, d, theta, qd, out_half)  # K qd: the drive cancels


@njit(cache=True)
def pair_theta_grad_potential(qm, qd, d, theta, w, out):
    theta_vjp_potential(qm, d, theta, qd, 2.0 * w, out)


@njit(cache=True)
def pair_drive_grad_potential(qm, qd, d, theta, w, out):
    drive_vjp_potential(qm, d, theta, qd, 2.0 * w, out)


# ------------------------------------------------------------ kinetic, diagonal mass
@njit(cache=True)
def diag_grad_kinetic(p, theta, out):
    for i in range(p.shape[0]):
        out[i] = theta[i] * p[i]


@njit(cache=True)
def diag_kinetic(p, theta):
    s = 0.0
    for i in range(p.shape[0]):
        s += theta[i] * p[i] * p[i]
    return 0.5 * s


@njit(cache=True)
def diag_theta_grad_kinetic(p, theta, w, out):
    for i in range(p.shape[0]):
        out[i] += 0.5 * w * p[i] * p[i]


@njit(cache=True)
def diag_hvp_kinetic(p, theta, v, out):
    for i in range(p.shape[0]):
        out[i] = theta[i] * v[i]


@njit(cache=True)
def diag_theta_vjp_kinetic(p, theta, v, w, out):
    for i in range(p.shape[0]):
        out[i] += w * v[i] * p[i]


@njit(cache=True)
def diag_pair_grad_kinetic(pm, pd, theta, out_mean, out_half):
    diag_grad_kinetic(pm, theta, out_mean)
    diag_hvp_kinetic(pm, theta, pd, out_half)


@njit(cache=True)
def diag_pair_theta_grad_kinetic(pm, pd, theta, w, out):
    diag_theta_vjp_kinetic(pm, theta, pd, 2.0 * w, out)


# --------------------------------------------------------------- kinetic, dense mass
@njit(cache=True)
def dense_grad_kinetic(p, theta, out):
    sym_matvec(theta, _MINV_OFFSET, p, out)


@njit(cache=True)
def dense_kinetic(p, theta):
    return 0.5 * sym_quad(theta, _MINV_OFFSET, p)


@njit(cache=True)
def dense_theta_grad_kinetic(p, theta, w, out):
    add_outer_sym(out, _MINV_OFFSET, p, p, 0.5 * w)


@njit(cache=True)
def dense_hvp_kinetic(p, theta, v, out):
    sym_matvec(theta, _MINV_OFFSET, v, out)


@njit(cache=True)
def dense_theta_vjp_kinetic(p, theta, v, w, out):
    add_outer_sym(out, _MINV_OFFSET, v, p, w)


@njit(cache=True)
def dense_pair_grad_kinetic(pm, pd, theta, out_mean, out_half):
    dense_grad_kinetic(pm, theta, out_mean)
    dense_hvp_kinetic(pm, theta, pd, out_half)


@njit(cache=True)
def dense_pair_theta_grad_kinetic(pm, pd, theta, w, out):
    dense_theta_vjp_kinetic(pm, theta, pd, 2.0 * w, out)
