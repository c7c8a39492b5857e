"""Compiled time loops: free run, paired echo run, and the discrete adjoint.

All loops work on a range of steps (a *chunk*) of the sequence: the caller
(``physsim.passes``, ``physsim.bptt``) calls the loop and carries the state to
the next chunk.  The steps are grouped in *blocks* of a grid fixed by the step
indices (:mod:`physsim._blocks`); a chunk never crosses a block boundary.  The
drives of a block, ``d_k = B u_k``, are projected before the loop runs
(:func:`physsim._kernels.blocks.project_block`) and the loop reads its step's
row; the per-step drive read-out ``(h dH/dd)_k`` (float64) is written to a row
of the block's read-out buffer, from which the input-matrix read-out and the
input gradient are formed after the block (:mod:`physsim._kernels.blocks`).
So the loops do no O(nd x m) work per step, and nothing of length L is stored
unless asked for (recorded states, per-step input gradients).

Layouts (``B`` batch, ``n`` degrees of freedom, ``nd`` drive channels, ``nt``
packed parameters):

- ``Q, P``: (B, n) positions and momenta, advanced in place.
- ``drive``: (B or 1, rows, nd) drives of the block, state dtype; a leading 1
  means shared by the batch.  Row ``r`` holds the drive of forward step
  ``d_offset + r``.  ``driven=False`` means an undriven run (zero drive;
  ``drive`` unused).
- ``readout_drive``: (B, rows, nd) float64, row ``r`` receives the drive
  read-out of forward step ``r_offset + r`` (only in driven runs that read out).
- ``theta``: (nt,) packed system parameters (state dtype).
- gradient accumulators are float64.

Each loop is a :class:`TimeLoop`: nothing is compiled when physsim is imported.
The first run that needs a loop compiles it for that run's state dtype only
(or loads it from numba's disk cache, ``cache=True``), printing one line when
it really compiles; every system callback is typed by signature (see
:mod:`physsim._kernels.signatures`), so one compiled loop per dtype serves every
system, built-in or user-defined.
"""

from __future__ import annotations

import sys
import threading

import numba
import numpy as np
from numba import njit, prange, types
from numba.core import event
from numba.experimental.function_type import _get_wrapper_address

from .signatures import array, callback_types
from .precision import copy_between, work_array
from .steps import drive_buffers, kahan_add, load_drive, step, step_measured

i64 = types.int64
f64 = types.float64
b1 = types.boolean


class TimeLoop:
    """A time-loop kernel compiled for one state dtype at a time, on first use.

    Nothing is compiled when the module is imported.  The first call (or
    :meth:`compiled`) for a dtype compiles the loop for exactly the signature
    of that dtype, or loads it from numba's disk cache; then compilation at
    call time is switched off, so passing another system's callbacks (typed
    by signature) reuses the same machine code instead of building a
    specialisation per system.  A real compilation (not a cache load) prints
    one line to stderr first, since it takes tens of seconds.

    Parameters
    ----------
    py_func : function
        The loop's Python source (numba compiles it with ``parallel=True``,
        ``cache=True``, no ``fastmath``).
    signature : callable
        ``signature(numba_dtype)`` -> the loop's numba signature for that
        state dtype.
    label : str
        What the loop is, for the compile notice.
    typical_seconds : float
        Measured compile time on a 2-core machine, quoted in the notice.

    Attributes
    ----------
    dispatcher : numba.core.registry.CPUDispatcher
        The numba dispatcher; its ``signatures`` list the dtypes compiled or
        loaded so far in this process.
    """

    _lock = threading.Lock()  # one compilation at a time, also across loops

    def __init__(self, py_func, signature, label: str, typical_seconds: float) -> None:
        self.dispatcher = njit(cache=True, parallel=True)(py_func)
        self.signature = signature
        self.label = label
        self.typical_seconds = typical_seconds
        self._ready: set = set()
        self._formal: dict = {}  # state dtype -> the compiled signature's argument types
        self.__doc__ = py_func.__doc__
        self.__name__ = py_func.__name__

    @classmethod
    def define(cls, signature, label: str, *, typical_seconds: float):
        """Decorator form: ``@TimeLoop.define(signature, label, typical_seconds=...)``."""
        return lambda py_func: cls(py_func, signature, label, typical_seconds)

    def __call__(self, *args):
        """Run the loop; the second argument (``coefs``) has the state dtype.

        Callback arguments (numba dispatchers) are handed over as
        :class:`_ResolvedCallback` objects, whose machine-code address is looked
        up once per process, not on every call.
        """
        dtype = args[1].dtype
        dispatcher = self.compiled(dtype)
        formal = self._formal.get(dtype)
        if formal is None:
            formal = self._formal[dtype] = self.signature(numba.from_dtype(np.dtype(dtype))).args
        args = tuple(_ResolvedCallback.of(a, f.signature)
                     if isinstance(a, numba.core.registry.CPUDispatcher) else a
                     for a, f in zip(args, formal))
        return dispatcher(*args)

    def compiled(self, dtype) -> numba.core.registry.CPUDispatcher:
        """The dispatcher, with the loop compiled (or loaded) for state dtype ``dtype``.

        Parameters
        ----------
        dtype : numpy dtype or scalar type
            ``float64`` or ``float32``.

        Returns
        -------
        numba.core.registry.CPUDispatcher
            :attr:`dispatcher`, ready to be called with arrays of ``dtype``.
        """
        nb_dtype = numba.from_dtype(np.dtype(dtype))
        if nb_dtype not in self._ready:
            with self._lock:
                if nb_dtype not in self._ready:
                    self._compile(nb_dtype)
                    self._ready.add(nb_dtype)
        return self.dispatcher

    def _compile(self, nb_dtype) -> None:
        notice = _CompileNotice(self, nb_dtype)
        self.dispatcher.disable_compile(False)
        try:
            with event.install_listener("numba:compile", notice):
                self.dispatcher.compile(self.signature(nb_dtype))
        finally:
            if self.dispatcher.signatures:  # numba refuses to disable compiling with none
                self.dispatcher.disable_compile(True)


class _ResolvedCallback(types.WrapperAddressProtocol):
    """A compiled callback with its address looked up once (numba's wrapper address protocol).

    Passed to a loop as a numba dispatcher, a callback typed as a first-class
    function is resolved to its machine-code address on every call of the
    loop (about 60 us for each of a loop's ~16 callbacks); the loops are called
    once per block of steps, so the lookup is cached here, per callback and
    signature.  The object keeps its dispatcher alive, and with it the address.
    """

    _cache: dict = {}

    def __init__(self, dispatcher, signature) -> None:
        self.dispatcher = dispatcher
        self._signature = signature
        self._address = _get_wrapper_address(dispatcher, signature)

    @classmethod
    def of(cls, dispatcher, signature) -> "_ResolvedCallback":
        """The (cached) resolved form of ``dispatcher`` for ``signature``."""
        key = (id(dispatcher), signature)
        found = cls._cache.get(key)
        if found is None or found.dispatcher is not dispatcher:
            found = cls._cache[key] = cls(dispatcher, signature)
        return found

    def __wrapper_address__(self) -> int:
        return self._address

    def signature(self):
        return self._signature


class _CompileNotice(event.Listener):
    """Prints the one-line notice when numba starts compiling a time loop (a cache miss)."""

    def __init__(self, loop: TimeLoop, nb_dtype) -> None:
        self.loop = loop
        self.nb_dtype = nb_dtype

    def on_start(self, ev) -> None:
        if ev.data["dispatcher"] is not self.loop.dispatcher:
            return  # a function the loop calls
        _notify(f"physsim: compiling the {self.loop.label} for {self.nb_dtype} states, once "
                f"(numba caches it on disk for later runs); about "
                f"{self.loop.typical_seconds:.0f} s on 2 cores")

    def on_end(self, ev) -> None:
        pass


def _notify(line: str) -> None:
    """Write a line to stderr, above any progress bar that is being drawn."""
    tqdm = sys.modules.get("tqdm")
    if tqdm is not None:
        tqdm.tqdm.write(line, file=sys.stderr)
    else:
        print(line, file=sys.stderr, flush=True)


def _free_run_signature(dt):
    cb = callback_types(dt)
    cb64 = callback_types(f64)  # gradient read-outs are always evaluated in float64
    return types.void(
        array(i64, 1), array(dt, 1), dt,                       # kinds, coefs, h
        cb["grad_kinetic"], cb["grad_potential"], cb["kinetic"], cb["potential"],
        cb64["theta_grad_kinetic"], cb64["theta_grad_potential"], cb64["drive_grad_potential"],
        cb["hook"],
        array(dt, 1), array(f64, 1),                            # theta, theta64
        array(dt, 2), array(dt, 2),                             # Q, P
        array(dt, 3), b1, i64,                                  # drive, driven, d_offset
        i64, i64, i64,                                          # k0, n_steps, record_every
        array(dt, 3), array(dt, 3), b1, array(dt, 2), b1,       # rec_q, rec_p, want_p, rec_e,
        array(f64, 2), b1,                                      # want_e; position sums, want
        b1, array(f64, 2), array(f64, 2),                       # measure, g_acc, g_comp
        array(f64, 3), i64,                                     # readout_drive, r_offset
        array(f64, 1), array(i64, 1), dt, dt,                   # hw, key, q_quantum, p_quantum
    )


@TimeLoop.define(_free_run_signature, "forward time loop (simulate, forward pass)",
                 typical_seconds=8)
def free_run(kinds, coefs, h, grad_kinetic, grad_potential, kinetic, potential,
             theta_grad_kinetic, theta_grad_potential, drive_grad_potential, hook,
             theta, theta64, Q, P, drive, driven, d_offset, k0, n_steps, record_every,
             rec_q, rec_p, want_momenta, rec_e, want_energy, pos_sum, want_pos_sum, measure,
             g_acc, g_comp, readout_drive, r_offset, hw, key, q_quantum, p_quantum):
    """Advance a batch through forward steps ``k0 .. k0 + n_steps - 1``.

    Global step index of chunk step ``j`` is ``k0 + j``; its drive is row
    ``k0 + j - d_offset`` of ``drive``.  After it, the state is state number
    ``k0 + j + 1`` and is recorded at row ``(k0 + j + 1) // record_every`` when
    ``record_every > 0`` divides that number (the momenta only with
    ``want_momenta``).  With ``measure`` the half-step Hamiltonian gradients
    are accumulated (one-sided RHEL uses the free pass as its reference
    echo): the parameter part into ``g_acc``/``g_comp``, and the drive part of
    step k into row ``k - r_offset`` of ``readout_drive`` (when driven).
    """
    n_batch = Q.shape[0]
    n = Q.shape[1]
    nt = theta.shape[0]
    nd = drive.shape[2]
    shared = drive.shape[0] == 1
    for b in prange(n_batch):
        q = Q[b]
        p = P[b]
        buf = np.empty(n, dtype=Q.dtype)
        q64 = work_array(q, np.float64)  # q itself in float64
        p64 = work_array(p, np.float64)
        d64, d = drive_buffers(nd, buf)
        gt = np.zeros(nt)
        gd = np.zeros(nd)
        bu = np.int64(0) if shared else np.int64(b)
        for j in range(n_steps):
            kglob = k0 + j
            if driven:
                load_drive(drive[bu, kglob - d_offset], d64, d)
            if measure:
                gt[:] = 0.0
                gd[:] = 0.0
                step_measured(kinds, coefs, h, q, p, d, theta, grad_kinetic, grad_potential,
                              theta_grad_kinetic, theta_grad_potential, drive_grad_potential,
                              buf, theta64, q64, p64, d64, gt, gd, q_quantum, p_quantum)
                kahan_add(g_acc[b], g_comp[b], gt)
                if driven:
                    readout_drive[b, kglob - r_offset, :] = gd
            else:
                step(kinds, coefs, h, q, p, d, theta, grad_kinetic, grad_potential, buf,
                     q_quantum, p_quantum)
            hook(q, p, hw, key, np.int64(b), kglob)
            if want_pos_sum:
                for i in range(n):
                    pos_sum[b, i] += q[i]
            if record_every > 0:
                idx = kglob + 1
                if idx % record_every == 0:
                    r = idx // record_every
                    rec_q[b, r, :] = q
                    if want_momenta:
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
        array(dt, 3), b1, i64,                                  # drive, driven, d_offset
        i64, i64, i64, dt, dt, b1,                              # j0, n_steps, L, nudges, two
        array(dt, 3), array(dt, 2),                             # aux, aux_shared
        array(f64, 2), array(f64, 2),                           # g_acc, g_comp
        array(f64, 3), i64,                                     # readout_drive, r_offset
        array(f64, 1), array(i64, 1), array(i64, 1), dt, dt,    # hw, key_a, key_b, quanta
    )


@njit(cache=True, inline="always")
def _nudge(q, p, k, scale, cotangent, aux, aux_shared, cot):
    """``p += scale * dL/dq_k`` with the cotangent source evaluated at the echo's own ``q``."""
    cotangent(q, k, aux, aux_shared, cot)
    for i in range(p.shape[0]):
        p[i] += scale * cot[i]


@TimeLoop.define(_echo_signature, "echo time loop (RHEL echoes)",
                 typical_seconds=10)
def echo_run(kinds, coefs, h, grad_kinetic, grad_potential, theta_grad_kinetic,
             theta_grad_potential, drive_grad_potential, hook, cotangent, theta, theta64,
             Qa, Pa, Qb, Pb, drive, driven, d_offset, j0, n_steps, n_total, nudge_a, nudge_b,
             two, aux, aux_shared, g_acc, g_comp, readout_drive, r_offset, hw, key_a, key_b,
             q_quantum, p_quantum):
    """Run one or two nudged echoes in lock-step through echo steps ``j0 + 1 .. j0 + n_steps``.

    Echo step ``j`` (1-based, global ``j0 + jj + 1``) consumes the drive of
    forward step ``k = n_total - j`` (row ``k - d_offset`` of ``drive``; both
    echoes use the same drive) and reconstructs forward state ``k``; after it the
    momentum is nudged by ``nudge * dL/dq_k`` when ``k >= 1``.  Before the very
    first step (``j0 == 0``) the flipped final state is nudged with ``dL/dq_L``.

    Per step the difference of the two echoes' half-step gradients (echo a
    minus echo b, or echo a alone when ``two`` is false) is added to
    ``g_acc``/``g_comp`` with compensated summation; its drive part is written
    to row ``k - r_offset`` of ``readout_drive`` (when driven).
    """
    n_batch = Qa.shape[0]
    n = Qa.shape[1]
    nt = theta.shape[0]
    nd = drive.shape[2]
    shared = drive.shape[0] == 1
    aux_shared_b = aux.shape[0] == 1
    for b in prange(n_batch):
        qa = Qa[b]
        pa = Pa[b]
        qb = Qb[b]
        pb = Pb[b]
        buf = np.empty(n, dtype=Qa.dtype)
        cot = np.empty(n, dtype=Qa.dtype)
        qa64 = work_array(qa, np.float64)  # the echo states themselves in float64
        pa64 = work_array(pa, np.float64)
        qb64 = work_array(qb, np.float64)
        pb64 = work_array(pb, np.float64)
        d64, d = drive_buffers(nd, buf)
        gta = np.zeros(nt)
        gtb = np.zeros(nt)
        gda = np.zeros(nd)
        gdb = np.zeros(nd)
        bu = np.int64(0) if shared else np.int64(b)
        ab = aux[0] if aux_shared_b else aux[np.int64(b)]
        if j0 == 0:
            _nudge(qa, pa, n_total, nudge_a, cotangent, ab, aux_shared, cot)
            if two:
                _nudge(qb, pb, n_total, nudge_b, cotangent, ab, aux_shared, cot)
        for jj in range(n_steps):
            jglob = j0 + jj + 1
            k = n_total - jglob
            if driven:
                load_drive(drive[bu, k - d_offset], d64, d)
            gta[:] = 0.0
            gda[:] = 0.0
            step_measured(kinds, coefs, h, qa, pa, d, theta, grad_kinetic, grad_potential,
                          theta_grad_kinetic, theta_grad_potential, drive_grad_potential,
                          buf, theta64, qa64, pa64, d64, gta, gda, q_quantum, p_quantum)
            hook(qa, pa, hw, key_a, np.int64(b), jglob - 1)
            if two:
                gtb[:] = 0.0
                gdb[:] = 0.0
                step_measured(kinds, coefs, h, qb, pb, d, theta, grad_kinetic, grad_potential,
                              theta_grad_kinetic, theta_grad_potential, drive_grad_potential,
                              buf, theta64, qb64, pb64, d64, gtb, gdb, q_quantum, p_quantum)
                hook(qb, pb, hw, key_b, np.int64(b), jglob - 1)
                # per-step differencing before the long sums keeps float32 usable
                for i in range(nt):
                    gta[i] -= gtb[i]
                for i in range(nd):
                    gda[i] -= gdb[i]
            kahan_add(g_acc[b], g_comp[b], gta)
            if driven:
                readout_drive[b, k - r_offset, :] = gda
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
        array(dt, 3), array(dt, 3),                   # recorded states q, p: (B, L+1, n)
        array(dt, 3), b1, i64,                        # drive, driven, d_offset
        array(dt, 3),                                 # cotangents (B|1, L, n)
        i64, i64,                                     # k0, n_steps of the chunk
        array(dt, 2), array(dt, 2),                   # lam_q, lam_p (B, n)
        array(f64, 2),                                # g_theta (B, nt)
        array(f64, 3), i64,                           # readout_drive, r_offset
    )


@TimeLoop.define(_adjoint_signature, "adjoint time loop (BPTT reference)",
                 typical_seconds=6)
def adjoint_run(kinds, coefs, h, grad_kinetic, grad_potential, hvp_kinetic, hvp_potential,
                theta_vjp_kinetic, theta_vjp_potential, drive_vjp_potential, theta,
                states_q, states_p, drive, driven, d_offset, cots, k0, n_steps,
                lam_q, lam_p, g_theta, readout_drive, r_offset):
    """Discrete adjoint (reverse-mode) of forward steps ``k0 .. k0 + n_steps - 1``.

    ``states_q[b, k]`` is the state before forward step ``k`` (the recorded
    trajectory).  ``cots[b, k]`` is dL/dq of the state after step ``k``; it is
    added to ``lam_q`` before back-propagating through that step.  The drive of
    step ``k`` is row ``k - d_offset`` of ``drive``, the same as in the forward
    run.  Its gradient ``g`` (n_drive,), in float64, is written to row
    ``k - r_offset`` of ``readout_drive`` (when driven): the input-matrix and
    input gradients follow from it.  On return ``lam_q, lam_p`` hold the
    adjoint of the state before step ``k0``.
    """
    n_batch = states_q.shape[0]
    n = states_q.shape[2]
    n_ops = kinds.shape[0]
    nt = theta.shape[0]
    nd = drive.shape[2]
    shared = drive.shape[0] == 1
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
        d64, d = drive_buffers(nd, buf)
        lq_start = np.zeros(n, dtype=lam_q.dtype)  # adjoint of start kicks' position
        has_start_kick = False
        for o in range(n_ops):
            has_start_kick = has_start_kick or kinds[o] == 2
        bu = np.int64(0) if shared else np.int64(b)
        bc = np.int64(0) if shared_cot else np.int64(b)
        for j in range(n_steps - 1, -1, -1):
            k = k0 + j
            if driven:
                load_drive(drive[bu, k - d_offset], d64, d)
            for i in range(n):
                lq[i] += cots[bc, k, i]
            # recompute the sub-step states of this step from its start state
            q[:] = states_q[b, k]
            p[:] = states_p[b, k]
            for o in range(n_ops):
                op_q[o, :] = q
                op_p[o, :] = p
                c = coefs[o] * h
                if kinds[o] == 0:
                    grad_kinetic(p, theta, buf)
                    for i in range(n):
                        q[i] += c * buf[i]
                else:
                    # kind 2 (start kick): the force at the step's start position op_q[0]
                    grad_potential(q if kinds[o] == 1 else op_q[0], d, theta, buf)
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
                elif kinds[o] == 1:
                    # p' = p - c dV/dq(q, d): lam_q -= c V''(q) lam_p
                    hvp_potential(op_q[o], d, theta, lp, buf)
                    theta_vjp_potential(op_q[o], d, theta, lp, -c, gt)
                    drive_vjp_potential(op_q[o], d, theta, lp, -c, gd)
                    for i in range(n):
                        lq[i] -= c * buf[i]
                else:
                    # start kick p' = p - c dV/dq(q_start, d): its position adjoint
                    # belongs to the step's start state, added once all ops are undone
                    hvp_potential(op_q[0], d, theta, lp, buf)
                    theta_vjp_potential(op_q[0], d, theta, lp, -c, gt)
                    drive_vjp_potential(op_q[0], d, theta, lp, -c, gd)
                    for i in range(n):
                        lq_start[i] -= c * buf[i]
            if has_start_kick:
                for i in range(n):
                    lq[i] += lq_start[i]
                    lq_start[i] = 0.0
            for i in range(nt):
                g_theta[b, i] += gt[i]
            if driven:
                readout_drive[b, k - r_offset, :] = gd


def _free_run_units_signature(dt):
    cb = callback_types(dt)
    cb64 = callback_types(f64)
    return types.void(
        array(i64, 1), array(dt, 1), dt,                        # kinds, coefs, h
        cb["grad_kinetic"], cb["grad_potential"],
        cb64["theta_grad_kinetic"], cb64["theta_grad_potential"], cb64["drive_grad_potential"],
        array(i64, 2), array(i64, 2), array(i64, 2),            # sizes, state_idx, drive_idx
        array(dt, 2), array(f64, 2),                            # theta, theta64 of each block
        array(dt, 2), array(dt, 2),                             # Q, P
        array(dt, 3), b1, i64,                                  # drive, driven, d_offset
        i64, i64, i64,                                          # k0, n_steps, record_every
        array(dt, 3), array(dt, 3), b1,                         # rec_q, rec_p, want_p
        array(f64, 2), b1,                                      # position sums, want
        b1, array(f64, 3), array(f64, 3),                       # measure, g_acc, g_comp
        array(f64, 3), i64, dt,                                 # readout_drive, r_offset, zero
    )


@njit(cache=True, inline="always")
def gather(src, idx, out):
    """``out[i] = src[idx[i]]``."""
    for i in range(idx.shape[0]):
        out[i] = src[idx[i]]


@njit(cache=True, inline="always")
def scatter(src, idx, out):
    """``out[idx[i]] = src[i]``."""
    for i in range(idx.shape[0]):
        out[idx[i]] = src[i]


@njit(cache=True, inline="always")
def unit_task(task, sizes, state_idx, drive_idx, theta_blocks, theta64_blocks):
    """Trajectory ``b``, unit block ``u`` of a task, and the block's indices and parameters.

    Tasks run trajectory by trajectory, block by block (``task = b n_blocks + u``).
    Returns ``b, u``, the state and drive indices and the parameters (state
    dtype and float64) of block ``u`` (views of the padded layout arrays).
    """
    n_blocks = sizes.shape[0]
    b = task // n_blocks
    u = task - b * n_blocks
    return (b, u, state_idx[u, :sizes[u, 0]], drive_idx[u, :sizes[u, 1]],
            theta_blocks[u, :sizes[u, 2]], theta64_blocks[u, :sizes[u, 2]])


@TimeLoop.define(_free_run_units_signature,
                 "forward time loop over unit blocks (batch x independent units)",
                 typical_seconds=8)
def free_run_units(kinds, coefs, h, grad_kinetic, grad_potential, theta_grad_kinetic,
                   theta_grad_potential, drive_grad_potential, sizes, state_idx, drive_idx,
                   theta_blocks, theta64_blocks, Q, P, drive, driven, d_offset, k0, n_steps,
                   record_every, rec_q, rec_p, want_momenta, pos_sum, want_pos_sum, measure,
                   g_acc, g_comp, readout_drive, r_offset, zero):
    """:func:`free_run` for a system of independent units, one task per (trajectory, unit block).

    The units are split into blocks (:class:`physsim._blocks.UnitLayout`):
    block ``u`` has ``sizes[u] = (n_state, n_drive, n_theta)`` entries, its
    positions/momenta are ``state_idx[u, :n_state]`` of ``Q, P``, its drives
    ``drive_idx[u, :n_drive]`` of a drive row (and of a read-out row), and its
    parameters ``theta_blocks[u, :n_theta]``.  Each task gathers its block's
    state once, runs the system callbacks on the block's arrays through the
    chunk's steps (no synchronisation per step) and scatters the state back.
    The parameter read-out of block ``u`` is accumulated into
    ``g_acc[b, u]``/``g_comp[b, u]`` (the caller sums the blocks in a fixed
    order).  Ideal device only: no per-step hook, no reversible rounding
    (``zero`` is the quantum 0 of the state dtype), no energy record.
    Other arguments as in :func:`free_run`.
    """
    n_batch = Q.shape[0]
    n_blocks = sizes.shape[0]
    shared = drive.shape[0] == 1
    for task in prange(n_batch * n_blocks):
        b, u, sidx, didx, theta, theta64 = unit_task(task, sizes, state_idx, drive_idx,
                                                     theta_blocks, theta64_blocks)
        ns, nd, nt = sidx.shape[0], didx.shape[0], theta.shape[0]
        q = np.empty(ns, dtype=Q.dtype)
        p = np.empty(ns, dtype=Q.dtype)
        gather(Q[b], sidx, q)
        gather(P[b], sidx, p)
        buf = np.empty(ns, dtype=Q.dtype)
        q64 = work_array(q, np.float64)
        p64 = work_array(p, np.float64)
        d64, d = drive_buffers(nd, buf)
        gt = np.zeros(nt)
        gd = np.zeros(nd)
        acc = g_acc[b, u, :nt]
        comp = g_comp[b, u, :nt]
        bu = np.int64(0) if shared else np.int64(b)
        for j in range(n_steps):
            kglob = k0 + j
            if driven:
                gather(drive[bu, kglob - d_offset], didx, d)
                copy_between(d, d64)
            if measure:
                gt[:] = 0.0
                gd[:] = 0.0
                step_measured(kinds, coefs, h, q, p, d, theta, grad_kinetic, grad_potential,
                              theta_grad_kinetic, theta_grad_potential, drive_grad_potential,
                              buf, theta64, q64, p64, d64, gt, gd, zero, zero)
                kahan_add(acc, comp, gt)
                if driven:
                    scatter(gd, didx, readout_drive[b, kglob - r_offset])
            else:
                step(kinds, coefs, h, q, p, d, theta, grad_kinetic, grad_potential, buf,
                     zero, zero)
            if want_pos_sum:
                for i in range(ns):
                    pos_sum[b, sidx[i]] += q[i]
            if record_every > 0:
                idx = kglob + 1
                if idx % record_every == 0:
                    r = idx // record_every
                    scatter(q, sidx, rec_q[b, r])
                    if want_momenta:
                        scatter(p, sidx, rec_p[b, r])
        scatter(q, sidx, Q[b])
        scatter(p, sidx, P[b])
