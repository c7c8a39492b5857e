"""Drift and kick primitives, and one integrator step built from them.

An integrator step is a table of operations (``kinds``, ``coefs``): each entry
is either a *drift* ``q += c h dT/dp(p)`` or a *kick* ``p -= c h dV/dq(q, d)``.
Every symmetric splitting (Stormer-Verlet, velocity Verlet, Yoshida) is such a
table; see :mod:`physsim.integrators`.  A third kind, the *start kick*
``p -= c h dV/dq(q_start, d)``, evaluates the force at the position the step
started from; it exists only to reproduce the official NonlinHRU code's step,
which is neither symplectic nor time-reversible.

Optional *reversible rounding*: with ``q_quantum > 0`` (``p_quantum > 0``) each
drift (kick) increment is rounded to a multiple of the quantum before it is
added.  Rounding is odd (``round(-x) = -round(x)``), so a step followed by a
momentum flip, the same step and another flip lands exactly back on the
grid point it started from (Levesque & Verlet, J. Stat. Phys. 72, 519, 1993).

The drive of a step is projected by :func:`project_drive` from its input row,
for a block of steps at a time (:func:`physsim._kernels.blocks.project_block`),
and the time loops read it with :func:`load_drive`: no drive array of the
whole sequence is ever stored.

No ``fastmath`` anywhere: reassociation would break bitwise reversibility.
"""

from __future__ import annotations

import numpy as np
from numba import njit

from .linalg import combine_rows
from .precision import copy_between, work_array

DRIFT = 0
KICK = 1
START_KICK = 2


@njit(cache=True, inline="always")
def drive_buffers(n_drive, like):
    """Zeroed drive buffers of a trajectory: ``(d64, d)``, float64 and the dtype of ``like``.

    In a float64 run ``d`` is ``d64`` (see :mod:`physsim._kernels.precision`).
    """
    d64 = np.zeros(n_drive)
    d = work_array(d64, like.dtype)
    d[:] = 0.0
    return d64, d


@njit(cache=True, inline="always")
def project_drive(u, bt, d64, d):
    """Drive of one step, ``B u``, in float64 and in the state dtype.

    ``d64 = B u`` is computed in float64 from the input row ``u`` (m,) and
    ``bt = B^T`` (m, n_drive) by :func:`physsim._kernels.linalg.combine_rows`;
    ``d`` (from :func:`drive_buffers`) receives it in the state dtype, and
    ``d64`` is then reset to exactly that rounded value, so the float64
    read-outs see the drive the dynamics used.  In float64 ``d`` is ``d64``.
    Every drive of every pass (free run, echoes, adjoint) is projected by this
    one function, so they all see bit-identical drives.
    """
    combine_rows(bt, u, d64)
    copy_between(d64, d)
    copy_between(d, d64)


@njit(cache=True, inline="always")
def load_drive(row, d64, d):
    """Load a projected drive ``row`` (n_drive,) of the state dtype into the buffers.

    ``d`` (state dtype) receives ``row``, ``d64`` its float64 value, as
    :func:`project_drive` leaves them (in float64 ``d`` is ``d64``).
    """
    d[:] = row
    copy_between(d, d64)


@njit(cache=True, inline="always")
def _add_scaled(x, c, inc, quantum):
    """``x += c * inc``; the increment rounded to ``quantum`` when it is positive."""
    if quantum > 0.0:
        for i in range(x.shape[0]):
            x[i] += np.round(c * inc[i] / quantum) * quantum
    else:
        for i in range(x.shape[0]):
            x[i] += c * inc[i]


@njit(cache=True, inline="always")
def drift(q, p, theta, c, grad_kinetic, buf, q_quantum):
    """Position drift ``q += c dT/dp(p)`` (``c`` is coefficient times step)."""
    grad_kinetic(p, theta, buf)
    _add_scaled(q, c, buf, q_quantum)


@njit(cache=True, inline="always")
def kick(q, p, d, theta, c, grad_potential, buf, p_quantum):
    """Momentum kick ``p -= c dV/dq(q, d)`` (``c`` is coefficient times step)."""
    grad_potential(q, d, theta, buf)
    _add_scaled(p, -c, buf, p_quantum)


@njit(cache=True, inline="always")
def step(kinds, coefs, h, q, p, d, theta, grad_kinetic, grad_potential, buf, q_quantum,
         p_quantum):
    """Advance ``(q, p)`` in place by one integrator step of size ``h`` with drive ``d``."""
    q_start = start_copy(kinds, q)
    for j in range(kinds.shape[0]):
        c = coefs[j] * h
        if kinds[j] == DRIFT:
            drift(q, p, theta, c, grad_kinetic, buf, q_quantum)
        elif kinds[j] == KICK:
            kick(q, p, d, theta, c, grad_potential, buf, p_quantum)
        else:
            kick(q_start, p, d, theta, c, grad_potential, buf, p_quantum)


@njit(cache=True, inline="always")
def start_copy(kinds, q):
    """A copy of ``q`` if the table has a start kick, else ``q`` itself (nothing copied)."""
    for j in range(kinds.shape[0]):
        if kinds[j] == START_KICK:
            return q.copy()
    return q


@njit(cache=True, inline="always")
def step_measured(kinds, coefs, h, q, p, d, theta, grad_kinetic, grad_potential,
                  theta_grad_kinetic, theta_grad_potential, drive_grad_potential, buf,
                  theta64, q64, p64, d64, g_theta, g_drive, q_quantum, p_quantum):
    """One step that also accumulates ``sum_j c_j dH_j/dtheta`` and ``dH/dd`` in float64.

    Each drift contributes ``c dT/dtheta`` at the momentum it used and each kick
    ``c dV/dtheta`` (and ``c dV/dd``) at the position it used: for the
    position-velocity-position leapfrog this is ``h`` times the half-step
    Hamiltonian gradient of RHEL (Pourcel & Ernoult 2025, Eq. 14), and for a
    composition it is the sum of the same over its sub-steps.

    The read-out callbacks are the float64 versions, evaluated on float64
    copies of the state (``q64, p64``, ``theta64``, and ``d64``, the float64
    value of the drive from :func:`project_drive`): the dynamics keep the
    state's precision, but the measured gradients of the two echoes, large and
    nearly equal, are not rounded to it before they are differenced.  ``q64``
    and ``p64`` come from ``work_array(q, np.float64)``: in a float64 run they
    are ``q`` and ``p`` themselves and nothing is copied.  ``g_theta`` and
    ``g_drive`` (float64) are accumulated into.
    """
    q_start = start_copy(kinds, q)
    for j in range(kinds.shape[0]):
        c = coefs[j] * h
        c64 = np.float64(coefs[j]) * np.float64(h)
        if kinds[j] == DRIFT:
            copy_between(p, p64)
            theta_grad_kinetic(p64, theta64, c64, g_theta)
            drift(q, p, theta, c, grad_kinetic, buf, q_quantum)
        elif kinds[j] == KICK:
            copy_between(q, q64)
            theta_grad_potential(q64, d64, theta64, c64, g_theta)
            drive_grad_potential(q64, d64, theta64, c64, g_drive)
            kick(q, p, d, theta, c, grad_potential, buf, p_quantum)
        else:
            # no read-out: only RHEL reads out, and it refuses a table with start kicks
            # (not time-reversible); ``q64`` may alias ``q``, so it is not touched here
            kick(q_start, p, d, theta, c, grad_potential, buf, p_quantum)


@njit(cache=True, inline="always")
def kahan_add(acc, comp, x):
    """Compensated (Kahan-Babuska) ``acc += x`` elementwise, ``comp`` holds the lost bits."""
    for i in range(acc.shape[0]):
        t = acc[i] + x[i]
        if abs(acc[i]) >= abs(x[i]):
            comp[i] += (acc[i] - t) + x[i]
        else:
            comp[i] += (x[i] - t) + acc[i]
        acc[i] = t
