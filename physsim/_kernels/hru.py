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

Both units also offer the optional pair callbacks (``lin_pair_*``, ``nl_pair_*``)
of the paired echo loop (:mod:`physsim._kernels.paired`).
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


# ------------------------------------------------------------- linear HRU pairs
# Pair callbacks (physsim._kernels.signatures) of the linear HRU.  H is quadratic in
# the state, so the half-difference of a gradient is the Hessian-vector product with
# the half-difference (the drive cancels), and a read-out difference is twice the
# VJP at the mean along it: delta (p+^2 - p-^2) / 2 = 2 delta pm pd,
# A (q+^2 - q-^2) / 2 - d (q+ - q-) = 2 qd (A qm - d).  No difference of two
# evaluations.
@njit(cache=True)
def lin_pair_grad_kinetic(pm, pd, theta, out_mean, out_half):
    lin_grad_kinetic(pm, theta, out_mean)
    lin_hvp_kinetic(pm, theta, pd, out_half)


@njit(cache=True)
def lin_pair_theta_grad_kinetic(pm, pd, theta, w, out):
    lin_theta_vjp_kinetic(pm, theta, pd, 2.0 * w, out)


@njit(cache=True)
def lin_pair_grad_potential(qm, qd, d, theta, out_mean, out_half):
    lin_grad_potential(qm, d, theta, out_mean)
    lin_hvp_potential(qm, d, theta, qd, out_half)


@njit(cache=True)
def lin_pair_theta_grad_potential(qm, qd, d, theta, w, out):
    lin_theta_vjp_potential(qm, d, theta, qd, 2.0 * w, out)


@njit(cache=True)
def lin_pair_drive_grad_potential(qm, qd, d, theta, w, out):
    lin_drive_vjp_potential(qm, d, theta, qd, 2.0 * w, out)


# --------------------------------------------------------------- nonlinear HRU
@njit(cache=True)
def _logcosh(x):
    # log cosh x = |x| + log1p(exp(-2|x|)) - log 2, without overflow
    a = abs(x)
    return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)


# The packed parameters of P units are ``theta = [W (P), b (P), c (P), alpha, delta]``;
# a gradient with respect to theta has the same layout.  Every kernel names the blocks
# through ``_nl_params`` (values) and ``_nl_blocks`` (gradient blocks) instead of
# indexing with offsets such as ``3 * P + 1``.
@njit(cache=True, inline="always")
def _nl_blocks(theta):
    """``P``, the views ``W``, ``b``, ``c`` of ``theta`` and the indices of ``alpha``, ``delta``.

    ``theta`` may be the parameters or a gradient with respect to them (same layout).
    """
    P = (theta.shape[0] - 2) // 3
    return P, theta[:P], theta[P:2 * P], theta[2 * P:3 * P], 3 * P, 3 * P + 1


@njit(cache=True, inline="always")
def _nl_params(theta):
    """``P``, the views ``W``, ``b``, ``c`` and the scalars ``alpha``, ``delta`` of ``theta``."""
    P, W, b, c, i_alpha, i_delta = _nl_blocks(theta)
    return P, W, b, c, theta[i_alpha], theta[i_delta]


@njit(cache=True)
def nl_grad_kinetic(p, theta, out):
    _, _, _, _, _, delta = _nl_params(theta)
    for i in range(p.shape[0]):
        out[i] = delta * p[i]


@njit(cache=True)
def nl_kinetic(p, theta):
    _, _, _, _, _, delta = _nl_params(theta)
    s = 0.0
    for i in range(p.shape[0]):
        s += p[i] * p[i]
    return 0.5 * delta * s


@njit(cache=True)
def nl_theta_grad_kinetic(p, theta, w, out):
    _, _, _, _, _, i_delta = _nl_blocks(out)
    s = 0.0
    for i in range(p.shape[0]):
        s += p[i] * p[i]
    out[i_delta] += 0.5 * w * s


@njit(cache=True)
def nl_grad_potential(q, d, theta, out):
    P, W, b, c, alpha, delta = _nl_params(theta)
    for i in range(P):
        s = W[i] * q[i] + d[i] + b[i]
        out[i] = delta * (alpha * q[i] + c[i] * np.tanh(s))


@njit(cache=True)
def nl_potential(q, d, theta):
    P, W, b, c, alpha, delta = _nl_params(theta)
    acc = 0.0
    for i in range(P):
        s = W[i] * q[i] + d[i] + b[i]
        acc += 0.5 * alpha * q[i] * q[i] + c[i] * _logcosh(s) / W[i]
    return delta * acc


@njit(cache=True)
def nl_theta_grad_potential(q, d, theta, w, out):
    P, W, b, c, alpha, delta = _nl_params(theta)
    _, g_W, g_b, g_c, i_alpha, i_delta = _nl_blocks(out)
    sq = 0.0
    vsum = 0.0
    for i in range(P):
        s = W[i] * q[i] + d[i] + b[i]
        t = np.tanh(s)
        lc = _logcosh(s)
        g_W[i] += w * delta * c[i] * (t * q[i] / W[i] - lc / (W[i] * W[i]))
        g_b[i] += w * delta * c[i] * t / W[i]
        g_c[i] += w * delta * lc / W[i]
        sq += q[i] * q[i]
        vsum += 0.5 * alpha * q[i] * q[i] + c[i] * lc / W[i]
    out[i_alpha] += w * delta * 0.5 * sq
    out[i_delta] += w * vsum


@njit(cache=True)
def nl_drive_grad_potential(q, d, theta, w, out):
    P, W, b, c, _, delta = _nl_params(theta)
    for i in range(P):
        s = W[i] * q[i] + d[i] + b[i]
        out[i] += w * delta * c[i] * np.tanh(s) / W[i]


@njit(cache=True)
def nl_hvp_kinetic(p, theta, v, out):
    _, _, _, _, _, delta = _nl_params(theta)
    for i in range(p.shape[0]):
        out[i] = delta * v[i]


@njit(cache=True)
def nl_hvp_potential(q, d, theta, v, out):
    P, W, b, c, alpha, delta = _nl_params(theta)
    for i in range(P):
        s = W[i] * q[i] + d[i] + b[i]
        t = np.tanh(s)
        out[i] = delta * (alpha + c[i] * W[i] * (1.0 - t * t)) * v[i]


@njit(cache=True)
def nl_theta_vjp_kinetic(p, theta, v, w, out):
    _, _, _, _, _, i_delta = _nl_blocks(out)
    s = 0.0
    for i in range(p.shape[0]):
        s += v[i] * p[i]
    out[i_delta] += w * s


@njit(cache=True)
def nl_theta_vjp_potential(q, d, theta, v, w, out):
    P, W, b, c, alpha, delta = _nl_params(theta)
    _, g_W, g_b, g_c, i_alpha, i_delta = _nl_blocks(out)
    vq = 0.0
    vf = 0.0
    for i in range(P):
        s = W[i] * q[i] + d[i] + b[i]
        t = np.tanh(s)
        sech2 = 1.0 - t * t
        g_W[i] += w * v[i] * delta * c[i] * sech2 * q[i]
        g_b[i] += w * v[i] * delta * c[i] * sech2
        g_c[i] += w * v[i] * delta * t
        vq += v[i] * q[i]
        vf += v[i] * (alpha * q[i] + c[i] * t)
    out[i_alpha] += w * delta * vq
    out[i_delta] += w * vf


@njit(cache=True)
def nl_drive_vjp_potential(q, d, theta, v, w, out):
    P, W, b, c, _, delta = _nl_params(theta)
    for i in range(P):
        s = W[i] * q[i] + d[i] + b[i]
        t = np.tanh(s)
        out[i] += w * v[i] * delta * c[i] * (1.0 - t * t)


# ---------------------------------------------------------- nonlinear HRU pairs
# Pair callbacks (physsim._kernels.signatures) of the nonlinear HRU: two states
# q+- = qm +- qd (p+- = pm +- pd) at once, every difference by a formula that does
# not cancel, so it is accurate relative to its own size however small qd is.  With
# s+- = sm +- sd, sm = W qm + d + b and sd = W qd (the drive is common and cancels).
# The arithmetic is float64 in every precision (float32 outputs are rounded once).
@njit(cache=True, inline="always")
def _tanh_pair(sm, sd):
    """``tanh(sm + sd) + tanh(sm - sd)`` and ``tanh(sm + sd) - tanh(sm - sd)`` (float64).

    The difference is ``4 e^{-2S} sinh(2 sd) / ((1 + e^{-2(S + sd)})(1 + e^{-2(S - sd)}))``
    with ``S = |sm|`` (it is even in ``sm`` and odd in ``sd``), the identity
    ``tanh a - tanh b = sinh(a - b) / (cosh a cosh b)`` with no exponential that can
    overflow while ``|sd| <= S``.  Two exponentials serve both outputs:
    ``x = e^{-2S}`` and ``E = expm1(2|sd|)``, with ``e^{-2(S +- |sd|)} = x / (1 + E),
    x (1 + E)`` and ``sinh(2|sd|) = E (E + 2) / (2 (1 + E))``; the sum is
    ``sign(sm)`` times that of ``(1 - y) / (1 + y)`` over those two ``y``.  Beyond
    ``S = 300`` (where ``x`` would underflow) ``e^{-2S} e^{2|sd|}`` is formed as
    ``(e^{-S/2} e^{|sd|/2})^4``.  When ``|sd| > S`` the two tanh have opposite signs
    and their plain difference does not cancel.
    """
    big = abs(sm)
    small = abs(sd)
    if small > big:
        ta = np.tanh(sm + sd)
        tb = np.tanh(sm - sd)
        return ta + tb, ta - tb
    if big <= 300.0:
        x = np.exp(-2.0 * big)
        e = np.expm1(2.0 * small)
        y_plus = x / (1.0 + e)   # e^{-2(S + |sd|)}
        y_minus = x * (1.0 + e)  # e^{-2(S - |sd|)} <= 1
        total = (1.0 - y_plus) / (1.0 + y_plus) + (1.0 - y_minus) / (1.0 + y_minus)
        diff = 2.0 * x * e * ((e + 2.0) / (1.0 + e)) / ((1.0 + y_plus) * (1.0 + y_minus))
    else:
        total = np.tanh(big + small) + np.tanh(big - small)
        t = np.exp(-0.5 * big) * np.exp(0.5 * small)
        t2 = t * t
        den = (1.0 + np.exp(-2.0 * (big + small))) * (1.0 + np.exp(-2.0 * (big - small)))
        diff = 2.0 * (t2 * t2) * -np.expm1(-4.0 * small) / den
    return (total if sm >= 0.0 else -total), (diff if sd >= 0.0 else -diff)


@njit(cache=True, inline="always")
def _logcosh_difference(sm, sd):
    """``log cosh(sm + sd) - log cosh(sm - sd)`` without cancellation (float64).

    With ``a, b = sm +- sd``: ``log1p((cosh a - cosh b) / cosh b)`` and
    ``cosh a - cosh b = 2 sinh(sm) sinh(sd)``, the log1p argument kept non-negative
    (cancellation-free) by swapping the roles of ``a`` and ``b``.  Overflow guard: when
    both ``|a|, |b| > 20``, ``log cosh x = |x| - log 2`` to below an ulp of the
    difference (the neglected terms differ by at most ``2 e^{-40}`` times it), so the
    difference is ``|a| - |b| = 2 sign(sm) sign(sd) min(|sm|, |sd|)``, exact; when one is
    below 20 and the other above 300, the difference is large and the plain one is exact
    to an ulp.
    """
    a = sm + sd
    b = sm - sd
    if min(abs(a), abs(b)) > 20.0:
        return 2.0 * np.sign(sm) * np.sign(sd) * min(abs(sm), abs(sd))
    if max(abs(a), abs(b)) > 300.0:
        return _logcosh(a) - _logcosh(b)
    num = 2.0 * np.sinh(sm) * np.sinh(sd)  # cosh a - cosh b
    if num >= 0.0:
        return np.log1p(num / np.cosh(b))
    return -np.log1p(-num / np.cosh(a))


@njit(cache=True, inline="always")
def _nl_pair_arguments(qm, qd, d, W, b, i):
    """``sm = W_i qm_i + d_i + b_i`` and ``sd = W_i qd_i`` of unit ``i``, in float64."""
    w = np.float64(W[i])
    return w * np.float64(qm[i]) + np.float64(d[i]) + np.float64(b[i]), w * np.float64(qd[i])


@njit(cache=True, inline="always")
def _pair_dot(xm, xd):
    """``sum_i xm_i xd_i`` in float64 (``(|x+|^2 - |x-|^2) / 4``)."""
    s = 0.0
    for i in range(xm.shape[0]):
        s += np.float64(xm[i]) * np.float64(xd[i])
    return s


@njit(cache=True)
def nl_pair_grad_kinetic(pm, pd, theta, out_mean, out_half):
    _, _, _, _, _, delta = _nl_params(theta)
    for i in range(pm.shape[0]):
        out_mean[i] = delta * pm[i]
        out_half[i] = delta * pd[i]


@njit(cache=True)
def nl_pair_theta_grad_kinetic(pm, pd, theta, w, out):
    # delta |p+|^2 / 2 - delta |p-|^2 / 2 = 2 delta pm . pd
    _, _, _, _, _, i_delta = _nl_blocks(out)
    out[i_delta] += 2.0 * w * _pair_dot(pm, pd)


@njit(cache=True)
def nl_pair_grad_potential(qm, qd, d, theta, out_mean, out_half):
    P, W, b, c, alpha, delta = _nl_params(theta)
    for i in range(P):
        sm, sd = _nl_pair_arguments(qm, qd, d, W, b, i)
        t_sum, t_diff = _tanh_pair(sm, sd)
        out_mean[i] = delta * (alpha * np.float64(qm[i]) + c[i] * (0.5 * t_sum))
        out_half[i] = delta * (alpha * np.float64(qd[i]) + c[i] * (0.5 * t_diff))


@njit(cache=True)
def nl_pair_theta_grad_potential(qm, qd, d, theta, w, out):
    P, W, b, c, alpha, delta = _nl_params(theta)
    _, g_W, g_b, g_c, i_alpha, i_delta = _nl_blocks(out)
    v_diff = 0.0  # sum_i c_i [log cosh s+ - log cosh s-] / W_i
    for i in range(P):
        sm, sd = _nl_pair_arguments(qm, qd, d, W, b, i)
        t_sum, t_diff = _tanh_pair(sm, sd)
        lc_diff = _logcosh_difference(sm, sd)
        # t+ q+ - t- q- = (t+ - t-) qm + (t+ + t-) qd
        tq_diff = t_diff * qm[i] + t_sum * qd[i]
        g_W[i] += w * delta * c[i] * (tq_diff / W[i] - lc_diff / (W[i] * W[i]))
        g_b[i] += w * delta * c[i] * t_diff / W[i]
        g_c[i] += w * delta * lc_diff / W[i]
        v_diff += c[i] * lc_diff / W[i]
    # alpha |q+|^2 / 2 - alpha |q-|^2 / 2 = 2 alpha qm . qd
    q_dot = _pair_dot(qm, qd)
    out[i_alpha] += w * delta * 2.0 * q_dot
    out[i_delta] += w * (2.0 * alpha * q_dot + v_diff)


@njit(cache=True)
def nl_pair_drive_grad_potential(qm, qd, d, theta, w, out):
    P, W, b, c, _, delta = _nl_params(theta)
    for i in range(P):
        sm, sd = _nl_pair_arguments(qm, qd, d, W, b, i)
        _, t_diff = _tanh_pair(sm, sd)
        out[i] += w * delta * c[i] * t_diff / W[i]
