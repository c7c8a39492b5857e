"""Compiled time loops: free run, paired echo run, and the discrete adjoint.

All loops work on one *chunk* of the sequence: the caller (``physsim.simulate``,
``physsim.rhel``, ``physsim.bptt``) projects a chunk of inputs onto drives with
BLAS, calls the loop, and carries the state to the next chunk.  That keeps
memory O(batch x state + chunk) whatever the sequence length.

Layouts (``B`` batch, ``C`` chunk steps, ``n`` degrees of freedom, ``nd``
drive channels, ``nt`` packed parameters):

- ``Q, P``: (B, n) positions and momenta, advanced in place.
- ``drives``: (B or 1, C, nd); a leading 1 means shared by the batch.
- ``theta``: (nt,) packed system parameters (state dtype).
- gradient accumulators are float64.

Loops are compiled eagerly for float64 and float32 states, with every system
callback typed by signature (see :mod:`physsim._kernels.signatures`), so they
are cached on disk once and shared by all systems.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange, types

from .signatures import SUPPORTED_DTYPES, array, callback_types
from .steps import kahan_add, step, step_measured

i64 = types.int64
f64 = types.float64
b1 = types.boolean


def _free_run_signature(dt):
    cb = callback_types(dt)
    cb64 = callback_types(f64)  # gradient read-outs are always evaluated in float64
    return types.void(
        array(i64, 1), array(dt, 1), dt,                       # kinds, coefs, h
        cb["grad_kinetic"], cb["grad_potential"], cb["kinetic"], cb["potential"],
        cb64["theta_grad_kinetic"], cb64["theta_grad_potential"], cb64["drive_grad_potential"],
        cb["hook"],
        array(dt, 1), array(f64, 1),                            # theta, theta64
        array(dt, 2), array(dt, 2), array(dt, 3),               # Q, P, drives
        i64, i64,                                               # k0, record_every
        array(dt, 3), array(dt, 3), array(dt, 2), b1,           # rec_q, rec_p, rec_e, want_e
        array(f64, 2), b1,                                      # position sums, want them
        b1, array(f64, 2), array(f64, 2), array(f64, 3),        # measure, g_acc, g_comp, g_drive
        array(f64, 1), array(i64, 1), dt, dt,                   # hw, key, q_quantum, p_quantum
    )


@njit([_free_run_signature(dt) for dt in SUPPORTED_DTYPES], cache=True, parallel=True)
def free_run(kinds, coefs, h, grad_kinetic, grad_potential, kinetic, potential,
             theta_grad_kinetic, theta_grad_potential, drive_grad_potential, hook,
             theta, theta64, Q, P, drives, k0, record_every, rec_q, rec_p, rec_e, want_energy,
             pos_sum, want_pos_sum, measure, g_acc, g_comp, g_drive, hw, key,
             q_quantum, p_quantum):
    """Advance a batch through one chunk of drives.

    Global step index of chunk step ``j`` is ``k0 + j``; after it, the state is
    state number ``k0 + j + 1`` and is recorded at row ``(k0 + j + 1) //
    record_every`` when ``record_every > 0`` divides that number.  With
    ``measure`` the half-step Hamiltonian gradients are accumulated (one-sided
    RHEL uses the free pass as its reference echo).
    """
    n_batch = Q.shape[0]
    n_steps = drives.shape[1]
    n = Q.shape[1]
    nt = theta.shape[0]
    nd = drives.shape[2]
    shared = drives.shape[0] == 1
    for b in prange(n_batch):
        q = Q[b]
        p = P[b]
        buf = np.empty(n, dtype=Q.dtype)
        q64 = np.empty(n)
        p64 = np.empty(n)
        d64 = np.empty(nd)
        gt = np.zeros(nt)
        gd = np.zeros(nd)
        bd = np.int64(0) if shared else np.int64(b)
        for j in range(n_steps):
            d = drives[bd, j]
            if measure:
                gt[:] = 0.0
                gd[:] = 0.0
                step_measured(kinds, coefs, h, q, p, d, theta, grad_kinetic, grad_potential,
                              theta_grad_kinetic, theta_grad_potential, drive_grad_potential,
                              buf, theta64, q64, p64, d64, gt, gd, q_quantum, p_quantum)
                kahan_add(g_acc[b], g_comp[b], gt)
                for i in range(nd):
                    g_drive[b, j, i] = gd[i]
            else:
                step(kinds, coefs, h, q, p, d, theta, grad_kinetic, grad_potential, buf,
                     q_quantum, p_quantum)
            kglob = k0 + j
            hook(q, p, hw, key, np.int64(b), kglob)
            if want_pos_sum:
                for i in range(n):
                    pos_sum[b, i] += q[i]
            if record_every > 0:
                idx = kglob + 1
                if idx % record_every == 0:
                    r = idx // record_every
                    rec_q[b, r, :] = q
                    rec_p[b, r, :] = p
                    if want_energy:
                        rec_e[b, r] = kinetic(p, theta) + potential(q, d, theta)


def _echo_signature(dt):
    cb = callback_types(dt)
    cb64 = callback_types(f64)
    return types.void(
        array(i64, 1), array(dt, 1), dt,
        cb["grad_kinetic"], cb["grad_potential"],
        cb64["theta_grad_kinetic"], cb64["theta_grad_potential"], cb64["drive_grad_potential"],
        cb["hook"], cb["cotangent"],
        array(dt, 1), array(f64, 1),                            # theta, theta64
        array(dt, 2), array(dt, 2), array(dt, 2), array(dt, 2),  # Qa, Pa, Qb, Pb
        array(dt, 3),                                           # reversed drives chunk
        i64, i64, dt, dt, b1,                                   # j0, L, nudge_a, nudge_b, two
        array(dt, 3), array(dt, 2),                             # aux, aux_shared
        array(f64, 2), array(f64, 2), array(f64, 3),            # g_acc, g_comp, g_drive
        array(f64, 1), array(i64, 1), array(i64, 1), dt, dt,    # hw, key_a, key_b, quanta
    )


@njit(cache=True)
def _nudge(q, p, k, scale, cotangent, aux, aux_shared, cot):
    """``p += scale * dL/dq_k`` with the cotangent source evaluated at the echo's own ``q``."""
    cotangent(q, k, aux, aux_shared, cot)
    for i in range(p.shape[0]):
        p[i] += scale * cot[i]


@njit([_echo_signature(dt) for dt in SUPPORTED_DTYPES], cache=True, parallel=True)
def echo_run(kinds, coefs, h, grad_kinetic, grad_potential, theta_grad_kinetic,
             theta_grad_potential, drive_grad_potential, hook, cotangent, theta, theta64,
             Qa, Pa, Qb, Pb, drives_rev, j0, n_total, nudge_a, nudge_b, two,
             aux, aux_shared, g_acc, g_comp, g_drive, hw, key_a, key_b, q_quantum, p_quantum):
    """Run one or two nudged echoes in lock-step through one chunk of reversed drives.

    Echo step ``j`` (1-based, global ``j0 + jj + 1``) consumes the drive of
    forward step ``n_total - j`` (the chunk is passed already reversed) and
    reconstructs forward state ``k = n_total - j``; after it the momentum is
    nudged by ``nudge * dL/dq_k`` when ``k >= 1``.  Before the very first step
    (``j0 == 0``) the flipped final state is nudged with ``dL/dq_L``.

    Per step the difference of the two echoes' half-step gradients (echo a
    minus echo b, or echo a alone when ``two`` is false) is added to
    ``g_acc``/``g_comp`` with compensated summation, and the per-step drive
    gradient difference is written to ``g_drive[b, jj]``.
    """
    n_batch = Qa.shape[0]
    n_steps = drives_rev.shape[1]
    n = Qa.shape[1]
    nt = theta.shape[0]
    nd = drives_rev.shape[2]
    shared = drives_rev.shape[0] == 1
    aux_shared_b = aux.shape[0] == 1
    for b in prange(n_batch):
        qa = Qa[b]
        pa = Pa[b]
        qb = Qb[b]
        pb = Pb[b]
        buf = np.empty(n, dtype=Qa.dtype)
        cot = np.empty(n, dtype=Qa.dtype)
        q64 = np.empty(n)
        p64 = np.empty(n)
        d64 = np.empty(nd)
        gta = np.zeros(nt)
        gtb = np.zeros(nt)
        gda = np.zeros(nd)
        gdb = np.zeros(nd)
        diff = np.zeros(nt, dtype=np.float64)
        bd = np.int64(0) if shared else np.int64(b)
        ab = aux[0] if aux_shared_b else aux[np.int64(b)]
        if j0 == 0:
            _nudge(qa, pa, n_total, nudge_a, cotangent, ab, aux_shared, cot)
            if two:
                _nudge(qb, pb, n_total, nudge_b, cotangent, ab, aux_shared, cot)
        for jj in range(n_steps):
            d = drives_rev[bd, jj]
            jglob = j0 + jj + 1
            k = n_total - jglob
            gta[:] = 0.0
            gda[:] = 0.0
            step_measured(kinds, coefs, h, qa, pa, d, theta, grad_kinetic, grad_potential,
                          theta_grad_kinetic, theta_grad_potential, drive_grad_potential,
                          buf, theta64, q64, p64, d64, gta, gda, q_quantum, p_quantum)
            hook(qa, pa, hw, key_a, np.int64(b), jglob - 1)
            if two:
                gtb[:] = 0.0
                gdb[:] = 0.0
                step_measured(kinds, coefs, h, qb, pb, d, theta, grad_kinetic, grad_potential,
                              theta_grad_kinetic, theta_grad_potential, drive_grad_potential,
                              buf, theta64, q64, p64, d64, gtb, gdb, q_quantum, p_quantum)
                hook(qb, pb, hw, key_b, np.int64(b), jglob - 1)
            # per-step differencing before the long sum keeps float32 usable
            for i in range(nt):
                diff[i] = gta[i] - gtb[i] if two else gta[i]
            kahan_add(g_acc[b], g_comp[b], diff)
            for i in range(nd):
                if two:
                    g_drive[b, jj, i] = gda[i] - gdb[i]
                else:
                    g_drive[b, jj, i] = gda[i]
            if k >= 1:
                _nudge(qa, pa, k, nudge_a, cotangent, ab, aux_shared, cot)
                if two:
                    _nudge(qb, pb, k, nudge_b, cotangent, ab, aux_shared, cot)


def _adjoint_signature(dt):
    cb = callback_types(dt)
    return types.void(
        array(i64, 1), array(dt, 1), dt,
        cb["grad_kinetic"], cb["grad_potential"],
        cb["hvp_kinetic"], cb["hvp_potential"],
        cb["theta_vjp_kinetic"], cb["theta_vjp_potential"], cb["drive_vjp_potential"],
        array(dt, 1),                                 # theta
        array(dt, 3), array(dt, 3),                   # states q, p of the chunk: (B, C+1, n)
        array(dt, 3), array(dt, 3),                   # drives (B|1, C, nd), cotangents (B|1, C, n)
        array(dt, 2), array(dt, 2),                   # lam_q, lam_p (B, n)
        array(f64, 2), array(f64, 3),                 # g_theta (B, nt), g_drive (B, C, nd)
    )


@njit([_adjoint_signature(dt) for dt in SUPPORTED_DTYPES], cache=True, parallel=True)
def adjoint_run(kinds, coefs, h, grad_kinetic, grad_potential, hvp_kinetic, hvp_potential,
                theta_vjp_kinetic, theta_vjp_potential, drive_vjp_potential, theta,
                states_q, states_p, drives, cots, lam_q, lam_p, g_theta, g_drive):
    """Discrete adjoint (reverse-mode) of one chunk of integrator steps.

    ``states_q[b, j]`` is the state before chunk step ``j`` (``j = C`` the state
    after the last).  ``cots[b, j]`` is dL/dq of the state after chunk step
    ``j``; it is added to ``lam_q`` before back-propagating through that step.
    On return ``lam_q, lam_p`` hold the adjoint of the state before the chunk.
    """
    n_batch = states_q.shape[0]
    n_steps = drives.shape[1]
    n = states_q.shape[2]
    n_ops = kinds.shape[0]
    nt = theta.shape[0]
    nd = drives.shape[2]
    shared = drives.shape[0] == 1
    shared_cot = cots.shape[0] == 1
    for b in prange(n_batch):
        lq = lam_q[b]
        lp = lam_p[b]
        buf = np.empty(n, dtype=lam_q.dtype)
        op_q = np.empty((n_ops, n), dtype=lam_q.dtype)
        op_p = np.empty((n_ops, n), dtype=lam_q.dtype)
        q = np.empty(n, dtype=lam_q.dtype)
        p = np.empty(n, dtype=lam_q.dtype)
        gt = np.zeros(nt, dtype=lam_q.dtype)
        gd = np.zeros(nd, dtype=lam_q.dtype)
        bd = np.int64(0) if shared else np.int64(b)
        bc = np.int64(0) if shared_cot else np.int64(b)
        for j in range(n_steps - 1, -1, -1):
            d = drives[bd, j]
            for i in range(n):
                lq[i] += cots[bc, j, i]
            # recompute the sub-step states of this step from its start state
            q[:] = states_q[b, j]
            p[:] = states_p[b, j]
            for o in range(n_ops):
                op_q[o, :] = q
                op_p[o, :] = p
                c = coefs[o] * h
                if kinds[o] == 0:
                    grad_kinetic(p, theta, buf)
                    for i in range(n):
                        q[i] += c * buf[i]
                else:
                    grad_potential(q, d, theta, buf)
                    for i in range(n):
                        p[i] -= c * buf[i]
            gt[:] = 0.0
            gd[:] = 0.0
            for o in range(n_ops - 1, -1, -1):
                c = coefs[o] * h
                if kinds[o] == 0:
                    # q' = q + c dT/dp(p): lam_p += c T''(p) lam_q
                    hvp_kinetic(op_p[o], theta, lq, buf)
                    theta_vjp_kinetic(op_p[o], theta, lq, c, gt)
                    for i in range(n):
                        lp[i] += c * buf[i]
                else:
                    # p' = p - c dV/dq(q, d): lam_q -= c V''(q) lam_p
                    hvp_potential(op_q[o], d, theta, lp, buf)
                    theta_vjp_potential(op_q[o], d, theta, lp, -c, gt)
                    drive_vjp_potential(op_q[o], d, theta, lp, -c, gd)
                    for i in range(n):
                        lq[i] -= c * buf[i]
            for i in range(nt):
                g_theta[b, i] += gt[i]
            for i in range(nd):
                g_drive[b, j, i] = gd[i]
