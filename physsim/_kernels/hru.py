"""Callbacks of the Hamiltonian Recurrent Units of Pourcel & Ernoult (2025).

Both units put their step size inside the Hamiltonian and are integrated with
unit step: leapfrog with step ``delta`` on ``H`` equals leapfrog with step 1 on
``delta * H``.  The step then is an ordinary parameter with an exact gradient
under every learning rule (RHEL, BPTT, finite differences alike).

Linear HRU (one bank of P oscillators, or two banks for complex inputs)::

    H = sum_i delta_i (z_i^2 / 2 + A_i y_i^2 / 2 - d_i y_i)
    theta = [A (P), delta (P)];  state of n = P * banks, bank by bank

Nonlinear HRU (log-cosh potential, RHEL paper Eq. 18)::

    H = delta (|z|^2 / 2 + alpha |y|^2 / 2 + sum_i c_i log cosh(s_i) / W_i),
    s_i = W_i y_i + d_i + b_i
    theta = [W (P), b (P), c (P), alpha (1), delta (1)]
"""

from __future__ import annotations

import numpy as np
from numba import njit


# ------------------------------------------------------------------ linear HRU
# The state is one or two banks of P oscillators sharing ``A = theta[:P]`` and
# ``delta = theta[P:]``.  Every kernel walks the banks one at a time on slices,
# so the inner loops index with a plain ``range(P)`` counter: no ``i % P`` and no
# offset arithmetic, which lets LLVM drop numba's negative-index checks and
# vectorise (about 4x faster than indexing with ``i % P``).  The arithmetic per
# element and the order of every sum (bank 0 then bank 1) are unchanged.
@njit(cache=True, inline="always")
def _lin_blocks(theta, out_theta):
    """``P``, the views ``A``, ``delta`` of ``theta`` and ``dA``, ``d delta`` of a gradient."""
    P = theta.shape[0] // 2
    return P, theta[:P], theta[P:], out_theta[:P], out_theta[P:2 * P]


@njit(cache=True)
def lin_grad_kinetic(p, theta, out):
    P, _, delta, _, _ = _lin_blocks(theta, theta)
    for b0 in range(0, p.shape[0], P):
        pb = p[b0:b0 + P]
        ob = out[b0:b0 + P]
        for k in range(P):
            ob[k] = delta[k] * pb[k]


@njit(cache=True)
def lin_kinetic(p, theta):
    P, _, delta, _, _ = _lin_blocks(theta, theta)
    s = 0.0
    for b0 in range(0, p.shape[0], P):
        pb = p[b0:b0 + P]
        for k in range(P):
            s += delta[k] * pb[k] * pb[k]
    return 0.5 * s


@njit(cache=True)
def lin_theta_grad_kinetic(p, theta, w, out):
    P, _, _, _, g_delta = _lin_blocks(theta, out)
    for b0 in range(0, p.shape[0], P):
        pb = p[b0:b0 + P]
        for k in range(P):
            g_delta[k] += 0.5 * w * pb[k] * pb[k]


@njit(cache=True)
def lin_grad_potential(q, d, theta, out):
    P, a, delta, _, _ = _lin_blocks(theta, theta)
    for b0 in range(0, q.shape[0], P):
        qb = q[b0:b0 + P]
        db = d[b0:b0 + P]
        ob = out[b0:b0 + P]
        for k in range(P):
            ob[k] = delta[k] * (a[k] * qb[k] - db[k])


@njit(cache=True)
def lin_potential(q, d, theta):
    P, a, delta, _, _ = _lin_blocks(theta, theta)
    s = 0.0
    for b0 in range(0, q.shape[0], P):
        qb = q[b0:b0 + P]
        db = d[b0:b0 + P]
        for k in range(P):
            s += delta[k] * (0.5 * a[k] * qb[k] * qb[k] - db[k] * qb[k])
    return s


@njit(cache=True)
def lin_theta_grad_potential(q, d, theta, w, out):
    P, a, delta, g_a, g_delta = _lin_blocks(theta, out)
    for b0 in range(0, q.shape[0], P):
        qb = q[b0:b0 + P]
        db = d[b0:b0 + P]
        for k in range(P):
            g_a[k] += w * 0.5 * delta[k] * qb[k] * qb[k]
            g_delta[k] += w * (0.5 * a[k] * qb[k] * qb[k] - db[k] * qb[k])


@njit(cache=True)
def lin_drive_grad_potential(q, d, theta, w, out):
    P, _, delta, _, _ = _lin_blocks(theta, theta)
    for b0 in range(0, q.shape[0], P):
        qb = q[b0:b0 + P]
        ob = out[b0:b0 + P]
        for k in range(P):
            ob[k] -= w * delta[k] * qb[k]


@njit(cache=True)
def lin_hvp_kinetic(p, theta, v, out):
    # T is quadratic in p: T''(p) v = dT/dp at v
    lin_grad_kinetic(v, theta, out)


@njit(cache=True)
def lin_hvp_potential(q, d, theta, v, out):
    P, a, delta, _, _ = _lin_blocks(theta, theta)
    for b0 in range(0, q.shape[0], P):
        vb = v[b0:b0 + P]
        ob = out[b0:b0 + P]
        for k in range(P):
            ob[k] = delta[k] * a[k] * vb[k]


@njit(cache=True)
def lin_theta_vjp_kinetic(p, theta, v, w, out):
    P, _, _, _, g_delta = _lin_blocks(theta, out)
    for b0 in range(0, p.shape[0], P):
        pb = p[b0:b0 + P]
        vb = v[b0:b0 + P]
        for k in range(P):
            g_delta[k] += w * vb[k] * pb[k]


@njit(cache=True)
def lin_theta_vjp_potential(q, d, theta, v, w, out):
    P, a, delta, g_a, g_delta = _lin_blocks(theta, out)
    for b0 in range(0, q.shape[0], P):
        qb = q[b0:b0 + P]
        db = d[b0:b0 + P]
        vb = v[b0:b0 + P]
        for k in range(P):
            g_a[k] += w * vb[k] * delta[k] * qb[k]
            g_delta[k] += w * vb[k] * (a[k] * qb[k] - db[k])


@njit(cache=True)
def lin_drive_vjp_potential(q, d, theta, v, w, out):
    # dV/dd = -delta * q is linear in q: d/dd (v . dV/dq) = -delta * v = dV/dd at q = v
    lin_drive_grad_potential(v, d, theta, w, out)


# --------------------------------------------------------------- nonlinear HRU
@njit(cache=True)
def _logcosh(x):
    # log cosh x = |x| + log1p(exp(-2|x|)) - log 2, without overflow
    a = abs(x)
    return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)


@njit(cache=True)
def nl_grad_kinetic(p, theta, out):
    delta = theta[theta.shape[0] - 1]
    for i in range(p.shape[0]):
        out[i] = delta * p[i]


@njit(cache=True)
def nl_kinetic(p, theta):
    delta = theta[theta.shape[0] - 1]
    s = 0.0
    for i in range(p.shape[0]):
        s += p[i] * p[i]
    return 0.5 * delta * s


@njit(cache=True)
def nl_theta_grad_kinetic(p, theta, w, out):
    s = 0.0
    for i in range(p.shape[0]):
        s += p[i] * p[i]
    out[theta.shape[0] - 1] += 0.5 * w * s


@njit(cache=True)
def nl_grad_potential(q, d, theta, out):
    P = q.shape[0]
    alpha = theta[3 * P]
    delta = theta[3 * P + 1]
    for i in range(P):
        s = theta[i] * q[i] + d[i] + theta[P + i]
        out[i] = delta * (alpha * q[i] + theta[2 * P + i] * np.tanh(s))


@njit(cache=True)
def nl_potential(q, d, theta):
    P = q.shape[0]
    alpha = theta[3 * P]
    delta = theta[3 * P + 1]
    acc = 0.0
    for i in range(P):
        s = theta[i] * q[i] + d[i] + theta[P + i]
        acc += 0.5 * alpha * q[i] * q[i] + theta[2 * P + i] * _logcosh(s) / theta[i]
    return delta * acc


@njit(cache=True)
def nl_theta_grad_potential(q, d, theta, w, out):
    P = q.shape[0]
    alpha = theta[3 * P]
    delta = theta[3 * P + 1]
    sq = 0.0
    vsum = 0.0
    for i in range(P):
        W = theta[i]
        c = theta[2 * P + i]
        s = W * q[i] + d[i] + theta[P + i]
        t = np.tanh(s)
        lc = _logcosh(s)
        out[i] += w * delta * c * (t * q[i] / W - lc / (W * W))
        out[P + i] += w * delta * c * t / W
        out[2 * P + i] += w * delta * lc / W
        sq += q[i] * q[i]
        vsum += 0.5 * alpha * q[i] * q[i] + c * lc / W
    out[3 * P] += w * delta * 0.5 * sq
    out[3 * P + 1] += w * vsum


@njit(cache=True)
def nl_drive_grad_potential(q, d, theta, w, out):
    P = q.shape[0]
    delta = theta[3 * P + 1]
    for i in range(P):
        W = theta[i]
        s = W * q[i] + d[i] + theta[P + i]
        out[i] += w * delta * theta[2 * P + i] * np.tanh(s) / W


@njit(cache=True)
def nl_hvp_kinetic(p, theta, v, out):
    delta = theta[theta.shape[0] - 1]
    for i in range(p.shape[0]):
        out[i] = delta * v[i]


@njit(cache=True)
def nl_hvp_potential(q, d, theta, v, out):
    P = q.shape[0]
    alpha = theta[3 * P]
    delta = theta[3 * P + 1]
    for i in range(P):
        W = theta[i]
        s = W * q[i] + d[i] + theta[P + i]
        t = np.tanh(s)
        out[i] = delta * (alpha + theta[2 * P + i] * W * (1.0 - t * t)) * v[i]


@njit(cache=True)
def nl_theta_vjp_kinetic(p, theta, v, w, out):
    s = 0.0
    for i in range(p.shape[0]):
        s += v[i] * p[i]
    out[theta.shape[0] - 1] += w * s


@njit(cache=True)
def nl_theta_vjp_potential(q, d, theta, v, w, out):
    P = q.shape[0]
    alpha = theta[3 * P]
    delta = theta[3 * P + 1]
    vq = 0.0
    vf = 0.0
    for i in range(P):
        W = theta[i]
        c = theta[2 * P + i]
        s = W * q[i] + d[i] + theta[P + i]
        t = np.tanh(s)
        sech2 = 1.0 - t * t
        out[i] += w * v[i] * delta * c * sech2 * q[i]
        out[P + i] += w * v[i] * delta * c * sech2
        out[2 * P + i] += w * v[i] * delta * t
        vq += v[i] * q[i]
        vf += v[i] * (alpha * q[i] + c * t)
    out[3 * P] += w * delta * vq
    out[3 * P + 1] += w * vf


@njit(cache=True)
def nl_drive_vjp_potential(q, d, theta, v, w, out):
    P = q.shape[0]
    delta = theta[3 * P + 1]
    for i in range(P):
        W = theta[i]
        s = W * q[i] + d[i] + theta[P + i]
        t = np.tanh(s)
        out[i] += w * v[i] * delta * theta[2 * P + i] * (1.0 - t * t)
