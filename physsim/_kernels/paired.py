"""The paired echo loop: two centred echoes in mean / half-difference coordinates.

Centred RHEL runs two echoes from the same flipped state, nudged by ``+eps``
and ``-eps``, and reads the gradient from the per-step difference of their
half-step read-outs.  Carried as two trajectories, each echo state is rounded
to ``u |x|`` per step and the difference, of size ``~eps``, drowns in that
round-off unless ``eps`` is large.  This loop carries the pair as

    xm = (x+ + x-) / 2,    xd = (x+ - x-) / 2        (x = q and p)

and takes every difference the dynamics and the read-outs need from the
system's *pair callbacks* (:data:`physsim._kernels.signatures.PAIR_CALLBACKS`),
which evaluate them by formulas that do not cancel.  ``xd`` then carries a
relative error ``~u`` whatever its size.  The two echoes are mathematically
those of :func:`physsim._kernels.loops.echo_run` (same start, nudges, drive,
integrator): only the arithmetic differs.  Ideal device only: the per-step
hardware hook and reversible rounding act on each echo separately, so noisy or
quantised devices keep the two-trajectory loop.

Step indexing, the drive (the block of drives projected for every pass, see
:mod:`physsim._blocks`, so it has the same bits as in the forward pass), the
nudge times and the read-out accumulators are those of :func:`~physsim._kernels.loops.echo_run` (see
:mod:`physsim._kernels.loops` for the layouts).  The nudge of the pair
``(+eps, -eps)`` moves only ``pd`` by ``eps * dL/dq_k`` when the cotangent does
not depend on the state (recorded or constant cotangents; ``fixed_cotangent``):
exact.  An online cotangent source is evaluated at ``qm + qd`` and ``qm - qd``
and its half-difference, which moves ``pm``, and mean are taken plainly, so its
state dependence is differenced with the old round-off.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types

from .loops import TimeLoop, gather, scatter, unit_task
from .precision import copy_between, work_array
from .signatures import array, callback_types
from .steps import DRIFT, drive_buffers, kahan_add, load_drive

i64 = types.int64
f64 = types.float64
b1 = types.boolean


@njit(cache=True, inline="always")
def _advance(xm, xd, c, inc_mean, inc_half):
    """``xm += c * inc_mean``, ``xd += c * inc_half``: a drift or kick of the pair."""
    for i in range(xm.shape[0]):
        xm[i] += c * inc_mean[i]
        xd[i] += c * inc_half[i]


@njit(cache=True, inline="always")
def pair_step_measured(kinds, coefs, h, qm, qd, pm, pd, d, theta, pair_grad_kinetic,
                       pair_grad_potential, pair_theta_grad_kinetic, pair_theta_grad_potential,
                       pair_drive_grad_potential, buf_mean, buf_half, theta64, qm64, qd64, pm64,
                       pd64, d64, g_theta, g_drive):
    """One step of the pair, accumulating the read-out differences (echo + minus echo -).

    The pair version of :func:`physsim._kernels.steps.step_measured`: each drift
    adds ``c [dT/dtheta(p+) - dT/dtheta(p-)]`` at the momenta it used, each kick
    ``c [dV/dtheta(q+) - dV/dtheta(q-)]`` and the same of ``dV/dd`` at the
    positions it used, in float64 on float64 copies (``qm64`` ... from
    ``work_array``: the state arrays themselves in a float64 run).  Drift and
    kick only: the callers refuse tables with start kicks.
    """
    for j in range(kinds.shape[0]):
        c = coefs[j] * h
        c64 = np.float64(coefs[j]) * np.float64(h)
        if kinds[j] == DRIFT:
            copy_between(pm, pm64)
            copy_between(pd, pd64)
            pair_theta_grad_kinetic(pm64, pd64, theta64, c64, g_theta)
            pair_grad_kinetic(pm, pd, theta, buf_mean, buf_half)
            _advance(qm, qd, c, buf_mean, buf_half)
        else:
            copy_between(qm, qm64)
            copy_between(qd, qd64)
            pair_theta_grad_potential(qm64, qd64, d64, theta64, c64, g_theta)
            pair_drive_grad_potential(qm64, qd64, d64, theta64, c64, g_drive)
            pair_grad_potential(qm, qd, d, theta, buf_mean, buf_half)
            _advance(pm, pd, -c, buf_mean, buf_half)


@njit(cache=True, inline="always")
def _pair_nudge(qm, qd, pm, pd, k, nudge, cotangent, fixed_cotangent, aux, aux_shared, cot,
                cot_minus, q_echo):
    """Nudge echo + by ``+nudge * dL/dq_k`` and echo - by ``-nudge * dL/dq_k``.

    A state-independent cotangent moves only ``pd`` (exactly); an online one is
    evaluated at each echo's position ``qm +- qd`` (``q_echo`` is scratch) and
    moves ``pm`` by ``nudge`` times its half-difference and ``pd`` by ``nudge``
    times its mean.
    """
    if fixed_cotangent:
        cotangent(qm, k, aux, aux_shared, cot)
        for i in range(pd.shape[0]):
            pd[i] += nudge * cot[i]
        return
    for i in range(q_echo.shape[0]):
        q_echo[i] = qm[i] + qd[i]
    cotangent(q_echo, k, aux, aux_shared, cot)
    for i in range(q_echo.shape[0]):
        q_echo[i] = qm[i] - qd[i]
    cotangent(q_echo, k, aux, aux_shared, cot_minus)
    for i in range(pd.shape[0]):
        pm[i] += nudge * (0.5 * (cot[i] - cot_minus[i]))
        pd[i] += nudge * (0.5 * (cot[i] + cot_minus[i]))


def _paired_signature(dt):
    cb = callback_types(dt)
    cb64 = callback_types(f64)  # read-outs are evaluated in float64
    return types.void(
        array(i64, 1), array(dt, 1), dt,                         # kinds, coefs, h
        cb["pair_grad_kinetic"], cb["pair_grad_potential"],
        cb64["pair_theta_grad_kinetic"], cb64["pair_theta_grad_potential"],
        cb64["pair_drive_grad_potential"],
        cb["cotangent"], b1,                                     # cotangent, fixed_cotangent
        array(dt, 1), array(f64, 1),                             # theta, theta64
        array(dt, 2), array(dt, 2), array(dt, 2), array(dt, 2),  # Qm, Qd, Pm, Pd
        array(dt, 3), b1, i64,                                   # drive, driven, d_offset
        i64, i64, i64, dt,                                       # j0, n_steps, L, nudge
        array(dt, 3), array(dt, 2),                              # aux, aux_shared
        array(f64, 2), array(f64, 2),                            # g_acc, g_comp
        array(f64, 3), i64,                                      # readout_drive, r_offset
    )


@TimeLoop.define(_paired_signature, "paired echo time loop (centred RHEL, ideal device)",
                 typical_seconds=12)
def paired_echo_run(kinds, coefs, h, pair_grad_kinetic, pair_grad_potential,
                    pair_theta_grad_kinetic, pair_theta_grad_potential, pair_drive_grad_potential,
                    cotangent, fixed_cotangent, theta, theta64, Qm, Qd, Pm, Pd, drive,
                    driven, d_offset, j0, n_steps, n_total, nudge, aux, aux_shared, g_acc,
                    g_comp, readout_drive, r_offset):
    """Run the echo pair ``(+nudge, -nudge)`` through echo steps ``j0 + 1 .. j0 + n_steps``.

    ``Qm, Pm`` hold the pair's mean and ``Qd, Pd`` its half-difference, (B, n),
    advanced in place (at the start of the echoes: the flipped state and
    zeros).  Echo step ``j`` (global ``j0 + jj + 1``) consumes the drive of
    forward step ``k = n_total - j`` (row ``k - d_offset`` of ``drive``) and
    reconstructs forward state ``k``; after it the pair is nudged with
    ``dL/dq_k`` when ``k >= 1``, and before the very first step (``j0 == 0``)
    with ``dL/dq_L``.  Per step the read-out difference (echo + minus echo -)
    is added to ``g_acc``/``g_comp`` with compensated summation, and its drive
    part is written to row ``k - r_offset`` of ``readout_drive`` (when driven;
    see :mod:`physsim._kernels.loops` for the block layouts).
    """
    n_batch = Qm.shape[0]
    n = Qm.shape[1]
    nt = theta.shape[0]
    nd = drive.shape[2]
    shared = drive.shape[0] == 1
    aux_shared_b = aux.shape[0] == 1
    for b in prange(n_batch):
        qm = Qm[b]
        qd = Qd[b]
        pm = Pm[b]
        pd = Pd[b]
        buf_mean = np.empty(n, dtype=Qm.dtype)
        buf_half = np.empty(n, dtype=Qm.dtype)
        cot = np.empty(n, dtype=Qm.dtype)
        cot_minus = np.empty(n, dtype=Qm.dtype)
        q_echo = np.empty(n, dtype=Qm.dtype)
        qm64 = work_array(qm, np.float64)  # the pair's arrays themselves in float64
        qd64 = work_array(qd, np.float64)
        pm64 = work_array(pm, np.float64)
        pd64 = work_array(pd, np.float64)
        d64, d = drive_buffers(nd, buf_mean)
        gt = np.zeros(nt)
        gd = np.zeros(nd)
        bu = np.int64(0) if shared else np.int64(b)
        ab = aux[0] if aux_shared_b else aux[np.int64(b)]
        if j0 == 0:
            _pair_nudge(qm, qd, pm, pd, n_total, nudge, cotangent, fixed_cotangent, ab,
                        aux_shared, cot, cot_minus, q_echo)
        for jj in range(n_steps):
            k = n_total - (j0 + jj + 1)
            if driven:
                load_drive(drive[bu, k - d_offset], d64, d)
            gt[:] = 0.0
            gd[:] = 0.0
            pair_step_measured(kinds, coefs, h, qm, qd, pm, pd, d, theta, pair_grad_kinetic,
                               pair_grad_potential, pair_theta_grad_kinetic,
                               pair_theta_grad_potential, pair_drive_grad_potential, buf_mean,
                               buf_half, theta64, qm64, qd64, pm64, pd64, d64, gt, gd)
            kahan_add(g_acc[b], g_comp[b], gt)
            if driven:
                readout_drive[b, k - r_offset, :] = gd
            if k >= 1:
                _pair_nudge(qm, qd, pm, pd, k, nudge, cotangent, fixed_cotangent, ab,
                            aux_shared, cot, cot_minus, q_echo)


def _paired_units_signature(dt):
    cb = callback_types(dt)
    cb64 = callback_types(f64)
    return types.void(
        array(i64, 1), array(dt, 1), dt,                         # kinds, coefs, h
        cb["pair_grad_kinetic"], cb["pair_grad_potential"],
        cb64["pair_theta_grad_kinetic"], cb64["pair_theta_grad_potential"],
        cb64["pair_drive_grad_potential"], b1,                   # ..., recorded
        array(i64, 2), array(i64, 2), array(i64, 2),             # sizes, state_idx, drive_idx
        array(dt, 2), array(f64, 2),                             # theta, theta64 of each block
        array(dt, 2), array(dt, 2), array(dt, 2), array(dt, 2),  # Qm, Qd, Pm, Pd
        array(dt, 3), b1, i64,                                   # drive, driven, d_offset
        i64, i64, i64, dt,                                       # j0, n_steps, L, nudge
        array(dt, 3),                                            # aux (cotangent rows)
        array(f64, 3), array(f64, 3),                            # g_acc, g_comp
        array(f64, 3), i64,                                      # readout_drive, r_offset
    )


@TimeLoop.define(_paired_units_signature,
                 "paired echo time loop over unit blocks (batch x independent units)",
                 typical_seconds=12)
def paired_echo_run_units(kinds, coefs, h, pair_grad_kinetic, pair_grad_potential,
                          pair_theta_grad_kinetic, pair_theta_grad_potential,
                          pair_drive_grad_potential, recorded, sizes, state_idx, drive_idx,
                          theta_blocks, theta64_blocks, Qm, Qd, Pm, Pd, drive, driven,
                          d_offset, j0, n_steps, n_total, nudge, aux, g_acc,
                          g_comp, readout_drive, r_offset):
    """:func:`paired_echo_run` for independent units, one task per (trajectory, unit block).

    The block layout (``sizes``, ``state_idx``, ``drive_idx``, ``theta_blocks``,
    ``theta64_blocks``) and the per-block accumulators ``g_acc[b, u]``,
    ``g_comp[b, u]`` are those of :func:`physsim._kernels.loops.free_run_units`.
    The cotangents are state-independent, read from ``aux`` as
    :func:`physsim.losses.recorded_cotangent` (``recorded``: ``dL/dq_k`` is row
    ``k - 1``) or :func:`physsim.losses.constant_cotangent` (row 0) write them,
    each block reading only its own entries; a nudge moves only ``pd``, as in
    :func:`paired_echo_run` with ``fixed_cotangent``.  Other arguments as in
    :func:`paired_echo_run`.
    """
    n_batch = Qm.shape[0]
    n_blocks = sizes.shape[0]
    shared = drive.shape[0] == 1
    aux_shared_b = aux.shape[0] == 1
    for task in prange(n_batch * n_blocks):
        b, u, sidx, didx, theta, theta64 = unit_task(task, sizes, state_idx, drive_idx,
                                                     theta_blocks, theta64_blocks)
        ns, nd, nt = sidx.shape[0], didx.shape[0], theta.shape[0]
        qm = np.empty(ns, dtype=Qm.dtype)
        qd = np.empty(ns, dtype=Qm.dtype)
        pm = np.empty(ns, dtype=Qm.dtype)
        pd = np.empty(ns, dtype=Qm.dtype)
        gather(Qm[b], sidx, qm)
        gather(Qd[b], sidx, qd)
        gather(Pm[b], sidx, pm)
        gather(Pd[b], sidx, pd)
        buf_mean = np.empty(ns, dtype=Qm.dtype)
        buf_half = np.empty(ns, dtype=Qm.dtype)
        qm64 = work_array(qm, np.float64)
        qd64 = work_array(qd, np.float64)
        pm64 = work_array(pm, np.float64)
        pd64 = work_array(pd, np.float64)
        d64, d = drive_buffers(nd, buf_mean)
        gt = np.zeros(nt)
        gd = np.zeros(nd)
        acc = g_acc[b, u, :nt]
        comp = g_comp[b, u, :nt]
        bu = np.int64(0) if shared else np.int64(b)
        ab = aux[0] if aux_shared_b else aux[np.int64(b)]
        if j0 == 0:
            _block_nudge(pd, nudge, ab[n_total - 1 if recorded else 0], sidx)
        for jj in range(n_steps):
            k = n_total - (j0 + jj + 1)
            if driven:
                gather(drive[bu, k - d_offset], didx, d)
                copy_between(d, d64)
            gt[:] = 0.0
            gd[:] = 0.0
            pair_step_measured(kinds, coefs, h, qm, qd, pm, pd, d, theta, pair_grad_kinetic,
                               pair_grad_potential, pair_theta_grad_kinetic,
                               pair_theta_grad_potential, pair_drive_grad_potential, buf_mean,
                               buf_half, theta64, qm64, qd64, pm64, pd64, d64, gt, gd)
            kahan_add(acc, comp, gt)
            if driven:
                scatter(gd, didx, readout_drive[b, k - r_offset])
            if k >= 1:
                _block_nudge(pd, nudge, ab[k - 1 if recorded else 0], sidx)
        scatter(qm, sidx, Qm[b])
        scatter(qd, sidx, Qd[b])
        scatter(pm, sidx, Pm[b])
        scatter(pd, sidx, Pd[b])


@njit(cache=True, inline="always")
def _block_nudge(pd, nudge, cot, sidx):
    """``pd += nudge * cot`` on a block's entries ``sidx`` of the cotangent row ``cot``."""
    for i in range(pd.shape[0]):
        pd[i] += nudge * cot[sidx[i]]
