"""Driving a batch of devices through input sequences: free runs and nudged echo runs.

:func:`simulate` is the public free run.  :func:`run_echoes` runs one or two
copies of a device from given states, with momentum forcing (the nudges) and
the half-step read-out of dH/dtheta that RHEL measures; it is the physical
operation the RHEL controller (:mod:`physsim.rhel`) is built on.

Both work chunk by chunk (``chunk_size`` steps per compiled call).  The drive
of every step (``d = B u``) is projected inside the compiled loops from the
step's input row, and the input-matrix read-out is accumulated there step by
step, so no drive array is stored: memory is O(batch x state) plus what is
asked for (recorded states, per-step drive gradients for input gradients),
and the inputs are read in place unless the hardware model writes them (then
chunk by chunk).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from functools import cached_property
from typing import Any, Callable

import numpy as np

from . import hardware as hw_plug
from ._kernels import loops, steps
from ._memory import isolated_copy, isolated_zeros
from .validation import as_finite_array, check_positive
from .hardware import HardwareModel, resolve_hardware
from .integrators import Integrator, get_integrator
from .systems.base import HamiltonianSystem, SystemKernels

_DTYPES = {np.dtype(np.float64): np.float64, np.dtype(np.float32): np.float32}
#: Steps per compiled call.  The loops keep nothing per chunk, except the inputs a
#: hardware model writes (B x chunk x m float64); a call costs about a millisecond of
#: dispatch, so chunks are long.
DEFAULT_CHUNK = 16384


@dataclass
class Trajectory:
    """Result of :func:`simulate`.

    Attributes
    ----------
    times : ndarray, shape (n_records,)
        Times of the recorded states, in the system's time unit (``k * dt``).
    positions, momenta : ndarray, shape (batch, n_records, n_dof), or None
        Recorded states (None when nothing was recorded).
    energy : ndarray, shape (batch, n_records), or None
        Total energy at the recorded states (with the drive of the step that
        produced them), when asked for.
    final_positions, final_momenta : ndarray, shape (batch, n_dof)
        State after the last step.
    position_sum : ndarray, shape (batch, n_dof), or None
        Sum over steps 1..L of the positions (float64), when asked for; used
        for mean-pooled read-outs without storing the trajectory.
    dt : float
        Step size.
    n_steps : int
        Number of steps taken.
    record_every : int
        Recording stride (0: nothing recorded).
    integrator : str
        Integrator name.
    system : HamiltonianSystem
        The (realised) device that was simulated.
    seed : int
        Seed of the hardware model's randomness.
    hardware : dict
        Description of the hardware model.
    hardware_report : dict
        What the hardware model's per-step hook counted during the run
        (e.g. saturations); empty for the ideal device.
    """

    times: np.ndarray
    positions: np.ndarray | None
    momenta: np.ndarray | None
    energy: np.ndarray | None
    final_positions: np.ndarray
    final_momenta: np.ndarray
    position_sum: np.ndarray | None
    dt: float
    n_steps: int
    record_every: int
    integrator: str
    system: HamiltonianSystem
    seed: int = 0
    hardware: dict[str, Any] = field(default_factory=dict)
    hardware_report: dict[str, Any] = field(default_factory=dict)

    @property
    def batch_size(self) -> int:
        """Number of trajectories."""
        return int(self.final_positions.shape[0])


# ----------------------------------------------------------------- preparation
@dataclass
class _Run:
    """Everything the compiled loops need for one device, integrator and dtype."""

    system: HamiltonianSystem
    integrator: Integrator
    dtype: Any
    h: Any
    kinds: np.ndarray
    coefs: np.ndarray
    theta: np.ndarray
    theta64: np.ndarray
    input_matrix: np.ndarray
    hardware: HardwareModel
    hook: Callable
    hw_params: np.ndarray
    kernels: SystemKernels
    q_quantum: Any
    p_quantum: Any
    seed: int

    def key(self, pass_index: int) -> np.ndarray:
        # read by every thread at every step: on cache lines of its own (see _memory)
        return isolated_copy([self.seed, pass_index], dtype=np.int64)

    @cached_property
    def input_matrix_t(self) -> np.ndarray:
        """``B^T``, shape (n_inputs, n_drive), float64, C-contiguous: as the loops take it."""
        return isolated_copy(self.input_matrix.T, dtype=np.float64)

    def input_rows(self, inputs: np.ndarray | None, start: int, stop: int, batch_in: int,
                   pass_index: int) -> tuple[np.ndarray, int, bool]:
        """Input rows the loops project for forward steps [start, stop).

        Returns
        -------
        rows : ndarray, shape (B|1, Lu, n_inputs), float64
            The whole input sequence, read in place, when the hardware model's
            DAC returns the chunk untouched (the ideal device); otherwise the
            chunk it wrote.  Empty for an undriven run.
        u_offset : int
            Forward step of ``rows[:, 0]`` (0 or ``start``).
        driven : bool
            False for an undriven run (zero drive).
        """
        if inputs is None:
            return np.zeros((1, 0, self.system.n_inputs)), 0, False
        chunk = inputs[:, start:stop]
        if self.hardware.per_trajectory_inputs and chunk.shape[0] != batch_in:
            chunk = np.broadcast_to(chunk, (batch_in,) + chunk.shape[1:])
        written = self.hardware.write_inputs(chunk, self.seed, pass_index, start)
        if written is chunk:
            return np.ascontiguousarray(inputs, dtype=np.float64), 0, True
        return np.ascontiguousarray(written, dtype=np.float64), start, True

    def drive(self, rows: np.ndarray, u_offset: int, driven: bool, step: int,
              trajectory: int) -> np.ndarray:
        """Drive of forward step ``step`` for one trajectory, (n_drive,) of the state dtype.

        Projected by the same compiled function as in the loops, so it is
        bit-identical to the drive they use.
        """
        d64 = np.zeros(self.system.n_drive)
        # as in the loops (precision.work_array): the float64 drive is the state's drive itself
        d = d64 if self.dtype is np.float64 else np.zeros(d64.size, dtype=self.dtype)
        if driven:
            row = rows[0 if rows.shape[0] == 1 else trajectory, step - u_offset]
            steps.project_drive(row, self.input_matrix_t, d64, d)
        return d


def _resolve_dtype(dtype) -> Any:
    try:
        return _DTYPES[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise ValueError(f"dtype must be float64 or float32, got {dtype!r}") from None


def prepare_run(system: HamiltonianSystem, *, dt: float | None, integrator, dtype, hardware,
                seed: int, check_stability: bool = True, realize: bool = True) -> _Run:
    """Validate settings and build the arrays the loops need (internal helper)."""
    if not isinstance(system, HamiltonianSystem):
        raise TypeError(f"system must be a HamiltonianSystem, got {type(system).__name__}")
    integ = get_integrator(integrator)
    dtype = _resolve_dtype(dtype)
    if dt is None:
        if system.default_dt is None:
            raise ValueError(f"{type(system).__name__} has no default time step; pass dt "
                             f"(in {system.time_unit})")
        dt = system.default_dt
    dt = check_positive("dt", dt)
    hw = resolve_hardware(hardware)
    if not isinstance(seed, (int, np.integer)) or seed < 0:
        raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
    device = hw.realize(system, int(seed)) if realize else system
    if check_stability:
        omega = device.max_frequency()
        if dt * omega >= integ.stability_limit:
            raise ValueError(
                f"time step dt={dt:.6g} is beyond the linear stability limit of {integ.name}: "
                f"dt*omega_max = {dt * omega:.4g} >= {integ.stability_limit} "
                f"(omega_max = {omega:.6g} rad per {system.time_unit}); "
                f"use dt < {integ.stability_limit / omega:.6g}")
    kinds, coefs = integ.tables(dtype)
    hook, hw_params = hw.step_hook(device, dtype, dt)
    qq, pq = hw.quanta(device)
    # every thread reads these at every step: each on cache lines of its own, or a
    # buffer the main thread writes may share a line with them (see physsim._memory)
    return _Run(system=device, integrator=integ, dtype=dtype, h=dtype(dt),
                kinds=isolated_copy(kinds), coefs=isolated_copy(coefs),
                theta=isolated_copy(device.pack_theta(dtype)),
                theta64=isolated_copy(device.pack_theta(np.float64)),
                input_matrix=isolated_copy(device.input_matrix, dtype=np.float64),
                hardware=hw, hook=hook, hw_params=isolated_copy(hw_params, dtype=np.float64),
                kernels=device.kernels.typed(dtype),
                q_quantum=dtype(qq), p_quantum=dtype(pq), seed=int(seed))


def as_batch_states(system: HamiltonianSystem, q0, p0, dtype) -> tuple[np.ndarray, np.ndarray]:
    """Initial states as (B, n) arrays of ``dtype``; ``p0=None`` means zero momenta."""
    n = system.n_dof
    q = as_finite_array("q0", q0, ndim=(1, 2))
    if q.shape[-1] != n:
        raise ValueError(f"q0 must have shape ({n},) or (batch, {n}), got {q.shape}")
    q = q.reshape(-1, n)
    if p0 is None:
        p = np.zeros_like(q)
    else:
        p = as_finite_array("p0", p0, ndim=(1, 2))
        if p.shape[-1] != n:
            raise ValueError(f"p0 must have shape ({n},) or (batch, {n}), got {p.shape}")
        p = p.reshape(-1, n)
        if p.shape[0] != q.shape[0]:
            if q.shape[0] == 1:
                q = np.repeat(q, p.shape[0], axis=0)
            elif p.shape[0] == 1:
                p = np.repeat(p, q.shape[0], axis=0)
            else:
                raise ValueError(f"q0 and p0 have different batch sizes: {q.shape[0]} and "
                                 f"{p.shape[0]}")
    # copies: the loops advance these arrays in place
    return isolated_copy(q, dtype=dtype), isolated_copy(p, dtype=dtype)


def as_input_sequence(system: HamiltonianSystem, inputs, n_steps: int | None, batch: int
                      ) -> tuple[np.ndarray | None, int]:
    """Inputs as (B|1, L, m) float64 (or None for an undriven run) and the number of steps."""
    m = system.n_inputs
    if inputs is None:
        if n_steps is None:
            raise ValueError("give inputs of shape (L, m) or (batch, L, m), or n_steps for an "
                             "undriven run")
        n = int(n_steps)
        if n < 1:
            raise ValueError(f"n_steps must be a positive integer, got {n_steps!r}")
        return None, n
    u = as_finite_array("inputs", inputs, ndim=(2, 3))
    if u.shape[-1] != m:
        raise ValueError(f"inputs must have shape (L, {m}) or (batch, L, {m}) for a system "
                         f"with {m} input channel(s), got {u.shape}")
    if u.ndim == 2:
        u = u[None]
    if u.shape[0] not in (1, batch) and batch != 1:
        raise ValueError(f"inputs have batch size {u.shape[0]} but the initial states have "
                         f"{batch}")
    if n_steps is not None and int(n_steps) != u.shape[1]:
        raise ValueError(f"n_steps={n_steps} does not match the input length {u.shape[1]}")
    if u.shape[1] < 1:
        raise ValueError("inputs must have at least one time step")
    return u, int(u.shape[1])


def _progress(total: int, enabled: bool, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm  # noqa: PLC0415 (only when asked)

    return tqdm(total=total, desc=desc, unit="step")


# ------------------------------------------------------------------- free run
def simulate(system: HamiltonianSystem, q0, p0=None, inputs=None, *, n_steps: int | None = None,
             dt: float | None = None, integrator: str | Integrator = "leapfrog",
             record_every: int = 0, record_energy: bool = False, sum_positions: bool = False,
             hardware: HardwareModel | str | None = None, seed: int = 0, dtype=np.float64,
             chunk_size: int = DEFAULT_CHUNK, check_stability: bool = True,
             progress: bool = False, _run: _Run | None = None, _pass_index: int = 0,
             _measure: dict | None = None) -> Trajectory:
    """Integrate a batch of initial states through an input sequence.

    Parameters
    ----------
    system : HamiltonianSystem
        The device.
    q0 : array_like, shape (n_dof,) or (batch, n_dof)
        Initial positions.
    p0 : array_like, shape (n_dof,) or (batch, n_dof), optional
        Initial momenta (zero if omitted).
    inputs : array_like, shape (L, m) or (batch, L, m), optional
        Input sequence, held constant during each step (zero-order hold);
        shared by the batch when 2-D.  Omit for an undriven run of ``n_steps``.
    n_steps : int, optional
        Number of steps of an undriven run.
    dt : float, optional
        Step size in the system's time unit (seconds for physical systems;
        1 for HRUs, whose step lives in the Hamiltonian).
    integrator : str or Integrator
        ``"leapfrog"`` (default), ``"velocity_verlet"``, ``"yoshida4"`` or
        ``"symplectic_euler"``, or an instance.
    record_every : int
        Record every n-th state (including the initial one); 0 records nothing
        but the final state, so memory does not grow with L.
    record_energy : bool
        Also record the total energy at the recorded states.
    sum_positions : bool
        Accumulate the sum of positions over steps 1..L (for pooled read-outs).
    hardware : HardwareModel or str, optional
        Hardware model or preset name (None: ideal).
    seed : int
        Seed of the hardware model's randomness.
    dtype : float64 or float32
        Arithmetic precision of the state.
    chunk_size : int
        Steps per compiled call (the memory of the inputs the hardware model
        writes, and of progress updates).
    check_stability : bool
        Refuse ``dt`` beyond the integrator's linear stability limit.
    progress : bool
        Show a progress bar.

    Returns
    -------
    Trajectory
        Final state, and the recorded states if asked.

    Raises
    ------
    ValueError
        On wrong shapes, NaN/inf, a non-positive or unstable step, or unknown names.
    """
    if not isinstance(record_every, (int, np.integer)) or record_every < 0:
        raise ValueError(f"record_every must be a non-negative integer, got {record_every!r}")
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")
    run = _run or prepare_run(system, dt=dt, integrator=integrator, dtype=dtype,
                              hardware=hardware, seed=seed, check_stability=check_stability)
    Q, P = as_batch_states(run.system, q0, p0, run.dtype)
    u, L = as_input_sequence(run.system, inputs, n_steps, Q.shape[0])
    if u is not None and u.shape[0] > 1 and Q.shape[0] == 1:
        Q = isolated_copy(np.repeat(Q, u.shape[0], axis=0))
        P = isolated_copy(np.repeat(P, u.shape[0], axis=0))
    B, n = Q.shape
    n_rec = (L // record_every + 1) if record_every else 0
    rec_q = np.zeros((B, n_rec, n), dtype=run.dtype)
    rec_p = np.zeros((B, n_rec, n), dtype=run.dtype)
    rec_e = np.zeros((B, n_rec if record_energy else 0), dtype=run.dtype)
    if record_energy and not record_every:
        raise ValueError("record_energy needs record_every > 0")
    if n_rec:
        rec_q[:, 0] = Q
        rec_p[:, 0] = P
    pos_sum = isolated_zeros((B, n if sum_positions else 0))  # written at every step
    measure = _measure is not None
    nt, nd, m = run.theta.size, run.system.n_drive, run.system.n_inputs
    g_acc = isolated_zeros((B, nt if measure else 0))
    g_comp = isolated_zeros(g_acc.shape)
    # one-sided RHEL reference: input-matrix read-out (transposed) and, for input
    # gradients, the per-step drive read-out projected onto the inputs (B, L, m)
    g_input_t = isolated_zeros((B, m, nd) if measure else (B, 0, 0))
    keep_drive = measure and bool(_measure.get("keep_drive", False)) and u is not None
    g_inputs = np.zeros((B, L if keep_drive else 0, m))
    u_read = u if u is not None else np.zeros((1, 0, m))
    bar = _progress(L, progress, f"simulate {type(run.system).__name__}")
    bt = run.input_matrix_t
    k = run.kernels
    rows = None
    for start in range(0, L, chunk_size):
        del rows  # the previous chunk's written inputs, if any, before the next are made
        stop = min(L, start + chunk_size)
        rows, u_offset, driven = run.input_rows(u, start, stop, B, _pass_index)
        if start == 0 and record_energy:
            for b in range(B):
                d0 = run.drive(rows, u_offset, driven, 0, b)
                rec_e[b, 0] = k.kinetic(P[b], run.theta) + k.potential(Q[b], d0, run.theta)
        loops.free_run(run.kinds, run.coefs, run.h, k.grad_kinetic, k.grad_potential, k.kinetic,
                       k.potential, k.theta_grad_kinetic, k.theta_grad_potential,
                       k.drive_grad_potential, run.hook, run.theta, run.theta64, Q, P, rows, bt,
                       driven, u_offset, start, stop - start, record_every, rec_q, rec_p, rec_e,
                       record_energy, pos_sum, sum_positions, measure, g_acc, g_comp, u_read,
                       g_input_t, keep_drive, g_inputs, run.input_matrix, run.hw_params,
                       run.key(_pass_index),
                       run.q_quantum, run.p_quantum)
        if bar is not None:
            bar.update(stop - start)
    if bar is not None:
        bar.close()
    report = run.hardware.end_of_pass(run.hw_params, _pass_index)
    if measure:
        _measure["theta"] = g_acc + g_comp
        _measure["input_matrix"] = np.ascontiguousarray(g_input_t.transpose(0, 2, 1))
        _measure["inputs"] = g_inputs if keep_drive else None
    if not (np.all(np.isfinite(Q)) and np.all(np.isfinite(P))):
        raise FloatingPointError("the state became NaN or infinite during the run; the step is "
                                 "likely unstable for this (nonlinear) system, or the drive too "
                                 "large")
    times = (np.arange(n_rec) * record_every * float(run.h)) if n_rec else np.zeros(0)
    return Trajectory(times=times, positions=rec_q if n_rec else None,
                      momenta=rec_p if n_rec else None, energy=rec_e if record_energy else None,
                      final_positions=Q, final_momenta=P,
                      position_sum=pos_sum if sum_positions else None, dt=float(run.h),
                      n_steps=L, record_every=int(record_every), integrator=run.integrator.name,
                      system=run.system, seed=run.seed, hardware=run.hardware.describe(),
                      hardware_report=report)


# ------------------------------------------------------------------ echo runs
@dataclass
class EchoMeasurement:
    """What :func:`run_echoes` measures.

    Attributes
    ----------
    theta_difference : ndarray, shape (batch, n_theta)
        Sum over echo steps of the half-step ``h * dH/dtheta`` of echo a minus
        that of echo b (or of echo a alone), float64, compensated summation.
    input_difference : ndarray, shape (batch, L, n_inputs)
        Per echo step, the same difference for ``h * dH/dd`` projected onto the
        inputs (``B^T``, in the loop: O(L m) memory, not O(L n_drive)), indexed
        by the *forward* step whose drive the echo step consumed; None when not
        kept.
    input_matrix_difference : ndarray, shape (batch, n_drive, n_inputs)
        ``sum_k (h dH/dd)_k outer u_k``: the input-matrix read-out, accumulated
        step by step in the loop (the same bits for any chunking).
    final_a, final_b : tuple of ndarray (q, p), each (batch, n_dof)
        Final states of the echoes (b is None for a single echo).
    hardware_report : dict
        What the hardware model's per-step hook counted during the echoes.
    """

    theta_difference: np.ndarray
    input_difference: np.ndarray | None
    input_matrix_difference: np.ndarray
    final_a: tuple[np.ndarray, np.ndarray]
    final_b: tuple[np.ndarray, np.ndarray] | None
    hardware_report: dict[str, Any] = field(default_factory=dict)


def run_echoes(run: _Run, start_a: tuple[np.ndarray, np.ndarray],
               start_b: tuple[np.ndarray, np.ndarray] | None, inputs: np.ndarray | None,
               n_steps: int, *, nudge_a: float, nudge_b: float, cotangent: Callable,
               aux: np.ndarray, aux_shared: np.ndarray, keep_drive: bool,
               pass_a: int = hw_plug.ECHO_PLUS_PASS, pass_b: int = hw_plug.ECHO_MINUS_PASS,
               chunk_size: int = DEFAULT_CHUNK, progress: bool = False,
               on_chunk: Callable | None = None,
               subtract_drive_from: np.ndarray | None = None) -> EchoMeasurement:
    """Run one or two nudged echoes in lock-step over the reversed inputs.

    Parameters
    ----------
    run : _Run
        Prepared device (see :func:`prepare_run`).
    start_a, start_b : tuple (q, p) of ndarray (batch, n_dof)
        Start states (already flipped); ``start_b=None`` runs a single echo.
    inputs : ndarray (B|1, L, m) or None
        The forward input sequence; the echoes replay it last to first.
    n_steps : int
        Sequence length L.
    nudge_a, nudge_b : float
        Momentum-forcing scales: after each echo step that reconstructs
        forward state k >= 1 (and before the first step, for k = L),
        ``p += nudge * cotangent(q, k)``.
    cotangent : numba function
        ``cotangent(q, k, aux_b, aux_shared, out)`` writes dL/dq_k.
    aux, aux_shared : ndarray
        Data of the cotangent source: (B|1, rows, cols) and (rows, cols).
    keep_drive : bool
        Keep the per-step drive differences, projected onto the inputs (O(L m)
        memory), for input gradients.
    on_chunk : callable, optional
        ``on_chunk(n_done, (qa, pa), (qb, pb) or None)`` after each chunk, with
        the echo steps done so far (for figures: ``chunk_size=1`` records every step).
    subtract_drive_from : ndarray (B, L, n_inputs), optional
        With ``keep_drive``: the ``input_difference`` of a single echo run
        earlier; this echo's is subtracted from it in place, and it is returned
        as ``input_difference`` (two echoes run one after the other need one
        O(L) array, not two).

    Returns
    -------
    EchoMeasurement
    """
    # copies: the loops advance the echo states in place, and callers reuse the start states
    qa, pa = (isolated_copy(x, dtype=run.dtype) for x in start_a)
    two = start_b is not None
    if two:
        qb, pb = (isolated_copy(x, dtype=run.dtype) for x in start_b)
    else:
        qb, pb = isolated_zeros(qa.shape, qa.dtype), isolated_zeros(pa.shape, pa.dtype)
    B = qa.shape[0]
    nt = run.theta.size
    nd, m = run.system.n_drive, run.system.n_inputs
    g_acc = isolated_zeros((B, nt))
    g_comp = isolated_zeros((B, nt))
    g_input_t = isolated_zeros((B, m, nd))  # stays zero for an undriven run
    keep_drive = keep_drive and inputs is not None
    subtract_drive = subtract_drive_from is not None and keep_drive
    if subtract_drive:
        if two or subtract_drive_from.shape != (B, n_steps, m):
            raise ValueError(f"subtract_drive_from must be a ({B}, {n_steps}, {m}) array of a "
                             f"single echo, got shape {subtract_drive_from.shape}")
        inputs_all = subtract_drive_from
    else:
        inputs_all = np.zeros((B, n_steps if keep_drive else 0, m))
    u_read = inputs if inputs is not None else np.zeros((1, 0, m))
    k = run.kernels
    dt = run.dtype
    # writeable C arrays: the compiled signature does not accept read-only (broadcast) views
    aux = np.require(aux, dtype=dt, requirements=["C", "W"])
    aux_shared = isolated_copy(aux_shared, dtype=dt)  # read by every thread at every step
    bar = _progress(n_steps, progress, "echo")
    bt = run.input_matrix_t
    rows = None
    for j0 in range(0, n_steps, chunk_size):
        del rows  # the previous chunk's written inputs, if any, before the next are made
        j1 = min(n_steps, j0 + chunk_size)
        # echo steps j0+1..j1 consume forward steps L-j0-1 down to L-j1
        fstart, fstop = n_steps - j1, n_steps - j0
        rows, u_offset, driven = run.input_rows(inputs, fstart, fstop, B, pass_a)
        loops.echo_run(run.kinds, run.coefs, run.h, k.grad_kinetic, k.grad_potential,
                       k.theta_grad_kinetic, k.theta_grad_potential, k.drive_grad_potential,
                       run.hook, cotangent, run.theta, run.theta64, qa, pa, qb, pb, rows, bt,
                       driven, u_offset, j0, j1 - j0, n_steps, dt(nudge_a), dt(nudge_b), two,
                       aux, aux_shared, g_acc, g_comp, u_read, g_input_t, keep_drive, inputs_all,
                       run.input_matrix, subtract_drive, run.hw_params, run.key(pass_a),
                       run.key(pass_b), run.q_quantum, run.p_quantum)
        if bar is not None:
            bar.update(j1 - j0)
        if on_chunk is not None:
            on_chunk(j1, (qa, pa), (qb, pb) if two else None)
    if bar is not None:
        bar.close()
    g_b = np.ascontiguousarray(g_input_t.transpose(0, 2, 1))
    report = run.hardware.end_of_pass(run.hw_params, pass_a)
    if not (np.all(np.isfinite(qa)) and np.all(np.isfinite(pa))):
        raise FloatingPointError("an echo became NaN or infinite; check the nudge size and step")
    return EchoMeasurement(theta_difference=g_acc + g_comp,
                           input_difference=inputs_all if keep_drive else None,
                           input_matrix_difference=g_b, final_a=(qa, pa),
                           final_b=(qb, pb) if two else None, hardware_report=report)
