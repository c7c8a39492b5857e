"""Independent checks of a system's callbacks: numba vs .py_func, and derivatives vs finite
differences.
"""

from __future__ import annotations

import numpy as np

from physsim.systems.base import HamiltonianSystem


def _central(f, x, h=1e-6):
    g = np.zeros_like(x)
    for i in range(x.size):
        e = np.zeros_like(x)
        e[i] = h
        g[i] = (f(x + e) - f(x - e)) / (2 * h)
    return g


def _symmetrise(system, g):
    """Project a gradient on independent theta entries onto the symmetric blocks."""
    g = g.copy()
    offset = 0
    for blk in system.theta_layout:
        if blk.symmetric:
            m = g[offset:offset + blk.size].reshape(blk.shape)
            g[offset:offset + blk.size] = (0.5 * (m + m.T)).ravel()
        offset += blk.size
    return g


def check_callbacks(system: HamiltonianSystem, rng: np.random.Generator, rtol: float = 1e-6):
    """Assert every callback equals its py_func and the finite-difference derivative it claims
    to be.
    """
    k = system.kernels
    n, nd = system.n_dof, system.n_drive
    theta = system.pack_theta()
    q, p = rng.standard_normal(n), rng.standard_normal(n)
    d, v = rng.standard_normal(nd), rng.standard_normal(n)
    w = 0.7

    def call(fn, *args, out_size=None, accumulate=False):
        res = []
        for f in (fn, fn.py_func):
            if out_size is None:
                res.append(f(*args))
            else:
                out = np.zeros(out_size) if accumulate else np.full(out_size, np.nan)
                f(*args, out)
                res.append(out)
        np.testing.assert_allclose(res[0], res[1], rtol=1e-12, atol=1e-14,
                                   err_msg=f"{fn.__name__}: numba and py_func differ")
        return res[0]

    def close(a, b, what):
        scale = max(np.max(np.abs(b)), 1e-8)
        assert np.max(np.abs(a - b)) <= rtol * scale + 1e-9, f"{what}: {a} vs {b}"

    T = lambda pp: k.kinetic(pp, theta)  # noqa: E731
    V = lambda qq: k.potential(qq, d, theta)  # noqa: E731
    call(k.kinetic, p, theta)
    call(k.potential, q, d, theta)
    close(call(k.grad_kinetic, p, theta, out_size=n), _central(T, p), "dT/dp")
    close(call(k.grad_potential, q, d, theta, out_size=n), _central(V, q), "dV/dq")
    nt = theta.size
    close(call(k.theta_grad_kinetic, p, theta, w, out_size=nt, accumulate=True),
          w * _central(lambda th: k.kinetic(p, th), theta), "dT/dtheta")
    close(call(k.theta_grad_potential, q, d, theta, w, out_size=nt, accumulate=True),
          w * _central(lambda th: k.potential(q, d, th), theta), "dV/dtheta")
    close(call(k.drive_grad_potential, q, d, theta, w, out_size=nd, accumulate=True),
          w * _central(lambda dd: k.potential(q, dd, theta), d), "dV/dd")
    if not k.has_adjoint:
        return

    def gT(pp, th=theta):
        out = np.empty(n)
        k.grad_kinetic(pp, th, out)
        return out

    def gV(qq, dd=d, th=theta):
        out = np.empty(n)
        k.grad_potential(qq, dd, th, out)
        return out

    close(call(k.hvp_kinetic, p, theta, v, out_size=n), _central(lambda pp: v @ gT(pp), p),
          "T'' v")
    close(call(k.hvp_potential, q, d, theta, v, out_size=n), _central(lambda qq: v @ gV(qq), q),
          "V'' v")
    close(call(k.theta_vjp_kinetic, p, theta, v, w, out_size=nt, accumulate=True),
          w * _symmetrise(system, _central(lambda th: v @ gT(p, th), theta)), "d(v.dT/dp)/dtheta")
    close(call(k.theta_vjp_potential, q, d, theta, v, w, out_size=nt, accumulate=True),
          w * _symmetrise(system, _central(lambda th: v @ gV(q, d, th), theta)),
          "d(v.dV/dq)/dtheta")
    close(call(k.drive_vjp_potential, q, d, theta, v, w, out_size=nd, accumulate=True),
          w * _central(lambda dd: v @ gV(q, dd), d), "d(v.dV/dq)/dd")
