"""Callbacks of the Hamiltonian Recurrent Units of Pourcel & Ernoult (2025).

Both units put their step size inside the Hamiltonian and are integrated with
unit step: leapfrog with step ``delta`` on ``H`` equals leapfrog with step 1 on
``delta * H``.  The step then is an ordinary parameter with an exact gradient
under every learning rule (RHEL, BPTT, finite differences alike).

Linear HRU (one bank of P oscillators, or two banks for complex inputs)::

    H = sum_i delta_i (z_i^2 / 2 + A_i y_i^2 / 2 - d_i y_i)
    theta = [A (P), delta (P)];  state of n = P * banks, oscillator i uses index i % P

Nonlinear HRU (log-cosh potential, RHEL paper Eq. 18)::

    H = delta (|z|^2 / 2 + alpha |y|^2 / 2 + sum_i c_i log cosh(s_i) / W_i),
    s_i = W_i y_i + d_i + b_i
    theta = [W (P), b (P), c (P), alpha (1), delta (1)]
"""

from __future__ import annotations

import numpy as np
from numba import njit


# ------------------------------------------------------------------ linear HRU
@njit(cache=True)
def lin_grad_kinetic(p, theta, out):
    P = theta.shape[0] // 2
    for i in range(p.shape[0]):
        out[i] = theta[P + i % P] * p[i]


@njit(cache=True)
def lin_kinetic(p, theta):
    P = theta.shape[0] // 2
    s = 0.0
    for i in range(p.shape[0]):
        s += theta[P + i % P] * p[i] * p[i]
    return 0.5 * s


@njit(cache=True)
def lin_theta_grad_kinetic(p, theta, w, out):
    P = theta.shape[0] // 2
    for i in range(p.shape[0]):
        out[P + i % P] += 0.5 * w * p[i] * p[i]


@njit(cache=True)
def lin_grad_potential(q, d, theta, out):
    P = theta.shape[0] // 2
    for i in range(q.shape[0]):
        k = i % P
        out[i] = theta[P + k] * (theta[k] * q[i] - d[i])


@njit(cache=True)
def lin_potential(q, d, theta):
    P = theta.shape[0] // 2
    s = 0.0
    for i in range(q.shape[0]):
        k = i % P
        s += theta[P + k] * (0.5 * theta[k] * q[i] * q[i] - d[i] * q[i])
    return s


@njit(cache=True)
def lin_theta_grad_potential(q, d, theta, w, out):
    P = theta.shape[0] // 2
    for i in range(q.shape[0]):
        k = i % P
        out[k] += w * 0.5 * theta[P + k] * q[i] * q[i]
        out[P + k] += w * (0.5 * theta[k] * q[i] * q[i] - d[i] * q[i])


@njit(cache=True)
def lin_drive_grad_potential(q, d, theta, w, out):
    P = theta.shape[0] // 2
    for i in range(q.shape[0]):
        out[i] -= w * theta[P + i % P] * q[i]


@njit(cache=True)
def lin_hvp_kinetic(p, theta, v, out):
    P = theta.shape[0] // 2
    for i in range(p.shape[0]):
        out[i] = theta[P + i % P] * v[i]


@njit(cache=True)
def lin_hvp_potential(q, d, theta, v, out):
    P = theta.shape[0] // 2
    for i in range(q.shape[0]):
        k = i % P
        out[i] = theta[P + k] * theta[k] * v[i]


@njit(cache=True)
def lin_theta_vjp_kinetic(p, theta, v, w, out):
    P = theta.shape[0] // 2
    for i in range(p.shape[0]):
        out[P + i % P] += w * v[i] * p[i]


@njit(cache=True)
def lin_theta_vjp_potential(q, d, theta, v, w, out):
    P = theta.shape[0] // 2
    for i in range(q.shape[0]):
        k = i % P
        out[k] += w * v[i] * theta[P + k] * q[i]
        out[P + k] += w * v[i] * (theta[k] * q[i] - d[i])


@njit(cache=True)
def lin_drive_vjp_potential(q, d, theta, v, w, out):
    P = theta.shape[0] // 2
    for i in range(q.shape[0]):
        out[i] -= w * theta[P + i % P] * v[i]


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
