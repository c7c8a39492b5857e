"""An extended-precision reference gradient of the NonlinearHRU (for checks, not for speed).

Used by the tests and by ``benchmarks/bench_rhel.py`` to measure how close BPTT and RHEL
in float64 come to the gradient itself, independently of physsim's kernels.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np


@dataclass(frozen=True)
class _Extended:
    """The problem of batch 1 in ``np.longdouble``: parameters, inputs, targets, drive."""

    W: np.ndarray       # (P,)
    b: np.ndarray       # (P,)
    c: np.ndarray       # (P,)
    alpha: np.longdouble
    delta: np.longdouble
    B: np.ndarray       # (P, m) input matrix
    C: np.ndarray       # (k, P) read-out
    u: np.ndarray       # (L, m)
    y: np.ndarray       # (L, k)
    drive: np.ndarray   # (L, P) = u B^T

    @classmethod
    def of(cls, system, inputs, readout, targets) -> "_Extended":
        LD = np.longdouble
        B = np.asarray(system.input_matrix, LD)
        u = np.asarray(inputs, LD)[0]
        return cls(W=np.asarray(system.W, LD), b=np.asarray(system.b, LD),
                   c=np.asarray(system.c, LD), alpha=LD(system.alpha), delta=LD(system.step),
                   B=B, C=np.asarray(readout, LD), u=u, y=np.asarray(targets, LD)[0],
                   drive=u @ B.T)

    def trajectory(self) -> tuple[np.ndarray, np.ndarray]:
        """Positions and momenta (L + 1, P) of the leapfrog from rest (drift, kick, drift)."""
        LD, half = np.longdouble, np.longdouble(0.5)
        L, n = self.u.shape[0], self.W.size
        qs, ps = np.zeros((L + 1, n), LD), np.zeros((L + 1, n), LD)
        for k in range(L):
            q1 = qs[k] + half * self.delta * ps[k]
            force = self.alpha * q1 + self.c * np.tanh(self.W * q1 + self.drive[k] + self.b)
            ps[k + 1] = ps[k] - self.delta * force
            qs[k + 1] = q1 + half * self.delta * ps[k + 1]
        return qs, ps


def nonlinear_hru_gradient_longdouble(system, inputs, readout, targets) -> dict:
    """Gradient of ``0.5 sum_k |C q_k - y_k|^2 / L`` in extended precision (``np.longdouble``).

    An independent transcription, in plain numpy, of the NonlinearHRU's leapfrog
    (drift 1/2, kick at the half-step position, drift 1/2; the step ``delta`` inside H,
    unit time step) from rest, batch 1, and of its adjoint, derived by hand.  No physsim
    kernel is used: it checks the compiled loops, BPTT and RHEL, and measures how far
    float64 itself is from the gradient (on x86-64 ``np.longdouble`` is the 80-bit
    format, unit round-off 5e-20; elsewhere it may be float64 and the check weaker).
    Slow (a Python loop over steps): for L up to ~1e4.

    Parameters
    ----------
    system : NonlinearHRU
        The device (``W, b, c`` (P,), ``alpha``, ``step``, ``input_matrix`` (P, m)).
    inputs : array_like, shape (1, L, m)
        Inputs (system units), zero-order hold per step.
    readout : array_like, shape (k, P)
        Read-out matrix ``C`` of the positions.
    targets : array_like, shape (1, L, k)
        Targets ``y_k`` of the read-out after step k = 1..L.

    Returns
    -------
    dict of str to ndarray of np.longdouble
        ``W, b, c`` (P,), ``alpha`` (1,), ``step`` (1,), ``B`` (P, m): the gradient
        of the loss with the ``reduction="mean"`` of :class:`physsim.losses.MSEReadout`.
    """
    LD = np.longdouble
    x = _Extended.of(system, inputs, readout, targets)
    W, b, c, alpha, delta = x.W, x.b, x.c, x.alpha, x.delta
    Bm, C, U, y, drive = x.B, x.C, x.u, x.y, x.drive
    half = LD(0.5)
    L, n = U.shape[0], W.size
    qs, ps = x.trajectory()
    lq, lp = np.zeros(n, LD), np.zeros(n, LD)
    g = {name: np.zeros(n, LD) for name in ("W", "b", "c")}
    g_alpha, g_delta, g_B = LD(0), LD(0), np.zeros_like(Bm)
    for k in range(L - 1, -1, -1):
        lq = lq + ((C @ qs[k + 1] - y[k]) @ C) / LD(L)
        q1 = qs[k] + half * delta * ps[k]
        # q' = q1 + delta/2 p'
        g_delta += half * (ps[k + 1] @ lq)
        lp = lp + half * delta * lq
        # p' = p - delta (alpha q1 + c tanh(s)),  s = W q1 + d + b
        t = np.tanh(W * q1 + drive[k] + b)
        sech2 = 1 - t * t
        g_delta -= (alpha * q1 + c * t) @ lp
        g["W"] -= delta * c * sech2 * q1 * lp
        g["b"] -= delta * c * sech2 * lp
        g["c"] -= delta * t * lp
        g_alpha -= delta * (q1 @ lp)
        g_B += np.outer(-delta * c * sech2 * lp, U[k])
        lq = lq - delta * (alpha + c * W * sech2) * lp
        # q1 = q + delta/2 p
        g_delta += half * (ps[k] @ lq)
        lp = lp + half * delta * lq
    return {**g, "alpha": np.array([g_alpha]), "step": np.array([g_delta]), "B": g_B}


def nonlinear_hru_rhel_longdouble(system, inputs, readout, targets,
                                  relative_nudge: float = 1e-14) -> dict:
    """Centred RHEL of the same problem in extended precision, with paired echoes.

    The forward pass, the momentum flip and the two echoes nudged by ``+-eps``
    times the recorded cotangents, carried in mean / half-difference coordinates
    as in :mod:`physsim._kernels.paired`, with the differences taken by
    cancellation-free identities (``tanh a - tanh b = sinh(a - b) / (cosh a cosh b)``,
    ``log cosh a - log cosh b = log1p(2 sinh(m) sinh(h) / cosh b)`` for
    ``a, b = m +- h``), all in ``np.longdouble`` and written independently of the
    compiled kernels.  It shows what the estimator gives when the device's
    arithmetic is wider than float64: on a device that amplifies rounding, the
    float64 echoes cannot retrace the forward pass, these can.  The nudge follows
    the scaled rule of :func:`physsim.rhel.rhel_gradient`.  Slow: for L up to ~1e4.

    Parameters
    ----------
    system, inputs, readout, targets
        As in :func:`nonlinear_hru_gradient_longdouble`.
    relative_nudge : float
        Nudge as a fraction of the largest final momentum over the accumulated
        cotangent size.

    Returns
    -------
    dict of str to ndarray of np.longdouble
        The same tensors as :func:`nonlinear_hru_gradient_longdouble`.
    """
    LD = np.longdouble
    x = _Extended.of(system, inputs, readout, targets)
    W, b, c, alpha, delta = x.W, x.b, x.c, x.alpha, x.delta
    Bm, C, U, y, drive = x.B, x.C, x.u, x.y, x.drive
    half = LD(0.5)
    L, n = U.shape[0], W.size
    qs, ps = x.trajectory()
    q, p = qs[L], ps[L]
    cot = np.zeros((L + 1, n), LD)  # dL/dq_k of the state after step k
    cot[1:] = ((qs[1:] @ C.T - y) @ C) / LD(L)
    budget = np.sqrt(np.sum(np.max(np.abs(cot[1:]), axis=1) ** 2))
    eps = LD(relative_nudge) * np.max(np.abs(p)) / budget
    # the flipped final state is the pair's mean; the nudge before the first echo step
    qm, pm, qd, pd = q.copy(), -p, np.zeros(n, LD), eps * cot[L]
    g = {name: np.zeros(n, LD) for name in ("W", "b", "c")}
    g_alpha, g_delta, g_B = LD(0), LD(0), np.zeros_like(Bm)
    for j in range(1, L + 1):
        k = L - j  # echo step j replays forward step k
        for sub in range(2):  # drift 1/2, kick, drift 1/2; the kick after the first drift
            # drift read-out: dT/d delta = |p|^2 / 2, difference 2 pm.pd, weight 1/2
            g_delta += pm @ pd
            qm, qd = qm + half * delta * pm, qd + half * delta * pd
            if sub == 1:
                break
            sm, sd = W * qm + drive[k] + b, W * qd
            splus, sminus = sm + sd, sm - sd
            tanh_mean = half * (np.tanh(splus) + np.tanh(sminus))
            tanh_diff = np.sinh(2 * sd) / (np.cosh(splus) * np.cosh(sminus))
            logcosh_diff = np.log1p(2 * np.sinh(sm) * np.sinh(sd) / np.cosh(sminus))
            qq_diff = 4 * (qm @ qd)  # |q+|^2 - |q-|^2
            # read-outs of V = delta (alpha |q|^2 / 2 + sum c log cosh(s) / W), + minus -
            g["W"] += delta * c * ((tanh_diff * qm + tanh_mean * 2 * qd) / W
                                   - logcosh_diff / (W * W))
            g["b"] += delta * c * tanh_diff / W
            g["c"] += delta * logcosh_diff / W
            g_alpha += delta * half * qq_diff
            g_delta += alpha * half * qq_diff + np.sum(c * logcosh_diff / W)
            g_B += np.outer(delta * c * tanh_diff / W, U[k])
            pm = pm - delta * (alpha * qm + c * tanh_mean)
            pd = pd - delta * (alpha * qd + c * half * tanh_diff)
        if k >= 1:
            pd = pd + eps * cot[k]
    scale = -1 / (2 * eps)
    return {"W": scale * g["W"], "b": scale * g["b"], "c": scale * g["c"],
            "alpha": np.array([scale * g_alpha]), "step": np.array([scale * g_delta]),
            "B": scale * g_B}
