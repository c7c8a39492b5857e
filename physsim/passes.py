"""The physical passes of a device: forward pass, momentum flip and (nudged) echoes.

Every user of the device's dynamics goes through these functions: the free run
:func:`physsim.simulate`, the RHEL controller (:mod:`physsim.rhel`), the BPTT
reference, the sweep metrics and the in-situ training loop.  They take a
:class:`~physsim.device_run.PreparedRun` (the device, integrator, dtype and
hardware model, from :func:`~physsim.device_run.prepare_run`) and the states
and inputs of a batch (:func:`~physsim.device_run.prepare_batch`), and return
typed results:

:func:`forward_pass`
    A free run through the input sequence: final :class:`State`, recorded
    states, position sums and, on request, the half-step read-out of
    ``dH/dtheta`` (:class:`Readout`; the reference of one-sided RHEL).
:func:`flip`
    The momentum reversal, through the hardware model.
:func:`echo_passes`
    One echo, or two echoes nudged by different amounts, over the reversed
    inputs from one (flipped) start state, with the half-step read-out of
    ``dH/dtheta``: the difference of the two (:class:`EchoMeasurement`).
    When the hardware model lets the device drift between passes, each echo
    runs on its own device instance (:func:`run_for_pass`), one after the other.
    A centred pair ``(e, -e)`` on the ideal device of a system with pair
    callbacks runs as one pair in mean / half-difference coordinates
    (:mod:`physsim._kernels.paired`), whose difference carries no round-off
    of the two echo states (:func:`paired_echo_unavailable` says when not).

What the passes measure is physics; how a gradient is read from it (the
nudge size, the sign and scale of the difference, the loss) is the learning
rule's business (:mod:`physsim.rhel`).

The passes work chunk by chunk (``chunk_size`` steps per compiled call), on a
grid of blocks of steps fixed by the step indices (:mod:`physsim._blocks`):
the drives ``d = B u`` of a block are projected before the compiled loops run
through it, and its input-matrix read-out and per-step input gradients are
formed after, by parallel kernels that keep the per-step order of every sum.
No drive array of the sequence is stored: memory is O(batch x state) plus a
block's buffers and what is asked for (recorded states, per-step drive
read-outs for input gradients), and the inputs are read in place unless the
hardware model writes them (then block by block).  The passes never write
their start states.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Callable

import numpy as np

from ._blocks import DriveBlocks, UnitLayout
from ._kernels import loops, paired
from ._kernels.steps import START_KICK
from ._memory import isolated_copy, isolated_zeros
from .device_run import InputSequence, PreparedRun, State
from .hardware import ECHO_MINUS_PASS, ECHO_PLUS_PASS, FORWARD_PASS
from .losses import constant_cotangent, recorded_cotangent
from .validation import available_memory, check_fits_in_memory

#: Steps per compiled call.  The loops keep nothing per chunk, except the inputs a
#: hardware model writes (B x chunk x m float64); a call costs about a millisecond of
#: dispatch, so chunks are long.
DEFAULT_CHUNK = 16384


# ---------------------------------------------------------------------- results
@dataclass
class Readout:
    """Half-step read-outs of ``h dH/dtheta`` summed over a pass (or a difference of two).

    Attributes
    ----------
    theta : ndarray, shape (batch, n_theta), float64
        Sum over the pass's steps of the half-step ``h * dH/dtheta`` (packed
        parameters), compensated summation.
    input_matrix : ndarray, shape (batch, n_drive, n_inputs), float64
        ``sum_k (h dH/dd)_k outer u_k``: the input-matrix read-out,
        accumulated step by step in the loop (the same bits for any chunking).
        ``u_k`` are the *nominal* inputs, not the values a hardware model's
        DAC wrote (:meth:`~physsim.hardware.HardwareModel.write_inputs`): with
        a DAC gain ``g`` the read-out is ``1/g`` times the gradient of ``B``
        on the device driven by ``g u`` (the device's own ``dH/dd`` is read in
        both cases).
    inputs : ndarray, shape (batch, L, n_inputs), float64, or None
        Per step, ``h dH/dd`` projected onto the inputs (``B^T``), indexed by
        the *forward* step whose drive was consumed; None unless kept.
    """

    theta: np.ndarray
    input_matrix: np.ndarray
    inputs: np.ndarray | None


@dataclass
class ForwardResult:
    """What :func:`forward_pass` returns.

    Attributes
    ----------
    final : State
        State after the last step, (batch, n_dof) of the run's dtype.
    positions, momenta : ndarray, shape (batch, n_records, n_dof), or None
        Recorded states (every ``record_every``-th, the initial one first).
    energy : ndarray, shape (batch, n_records), or None
        Total energy at the recorded states, when asked for.
    position_sum : ndarray, shape (batch, n_dof), float64, or None
        Sum of the positions over steps 1..L, when asked for.
    readout : Readout or None
        The half-step read-out of the pass, when asked for.
    n_steps : int
        Steps taken L.
    record_every : int
        Recording stride (0: nothing recorded).
    hardware_report : dict
        What the hardware model's per-step hook counted during the pass.
    """

    final: State
    positions: np.ndarray | None
    momenta: np.ndarray | None
    energy: np.ndarray | None
    position_sum: np.ndarray | None
    readout: Readout | None
    n_steps: int
    record_every: int
    hardware_report: dict[str, Any] = field(default_factory=dict)


@dataclass
class EchoMeasurement:
    """What :func:`echo_passes` measures.

    Attributes
    ----------
    readout : Readout
        The read-out of the first echo minus that of the second (or of the
        first alone, for a single echo).
    final : tuple of State
        Final state of each echo, (batch, n_dof) of the run's dtype.
    hardware_reports : tuple of dict
        What the hardware model's per-step hook counted: one report per
        compiled echo run (one for a single echo or for two echoes in
        lock-step, two when drift ran them one after the other).
    final_difference : State or None
        First echo's final state minus the second's, (batch, n_dof) float64,
        for two echoes (None for one).  Paired echoes carry it exactly (twice
        the half-difference), where ``final[0] - final[1]`` has lost it to the
        rounding of the two states; otherwise it is that plain difference.
    paired : bool
        The two echoes ran as one pair in mean / half-difference coordinates.
    """

    readout: Readout
    final: tuple[State, ...]
    hardware_reports: tuple[dict[str, Any], ...] = ()
    final_difference: State | None = None
    paired: bool = False


@dataclass(frozen=True)
class NudgeSource:
    """Where an echo's momentum forcing comes from: a compiled cotangent function and its data.

    After each echo step that reconstructs forward state ``k >= 1`` (and before
    the first step, for ``k = L``), the echo adds ``nudge * cotangent(q, k)``
    to its momenta.

    Attributes
    ----------
    cotangent : numba function
        ``cotangent(q, k, data_b, shared, out)`` writes ``dL/dq_k`` into ``out``
        (see :mod:`physsim.losses`).
    data : ndarray, shape (B|1, rows, cols)
        Per-trajectory data of the source (e.g. the recorded cotangents).
    shared : ndarray, shape (rows, cols)
        Data shared by the batch (e.g. a read-out matrix).
    """

    cotangent: Callable
    data: np.ndarray
    shared: np.ndarray

    @property
    def fixed(self) -> bool:
        """True if the cotangents do not depend on the echo's state (recorded or constant)."""
        return self.cotangent in (recorded_cotangent, constant_cotangent)

    @classmethod
    def zero(cls, n_dof: int) -> NudgeSource:
        """A source of zero cotangents (un-nudged echoes)."""
        return cls(constant_cotangent, np.zeros((1, 1, n_dof)), np.zeros((1, 1)))


# ----------------------------------------------------------------------- passes
def forward_pass(run: PreparedRun, start: State, inputs: InputSequence, *,
                 record_every: int = 0, record_momenta: bool = True,
                 record_energy: bool = False, sum_positions: bool = False,
                 readout: bool = False, keep_drive: bool = False,
                 pass_index: int = FORWARD_PASS, chunk_size: int = DEFAULT_CHUNK,
                 progress: bool = False) -> ForwardResult:
    """Run a batch freely through its input sequence.

    Parameters
    ----------
    run : PreparedRun
        The prepared device.
    start : State
        Initial states, (B, n_dof) (copied, not written).
    inputs : InputSequence
        Inputs (B|1, L, m) or an undriven run of L steps.
    record_every : int
        Record every n-th state (including the initial one); 0 records nothing
        but the final state, so memory does not grow with L.
    record_momenta : bool
        Record the momenta with the positions (BPTT needs them, a read-out of
        the positions does not: False halves the record).
    record_energy : bool
        Also record the total energy at the recorded states.
    sum_positions : bool
        Accumulate the sum of positions over steps 1..L (for pooled read-outs).
    readout : bool
        Accumulate the half-step read-out of ``h dH/dtheta`` and of the
        input matrix (the reference echo of one-sided RHEL).
    keep_drive : bool
        With ``readout``: keep the per-step drive read-out projected onto the
        inputs (B, L, m), for input gradients.
    pass_index : int
        Pass handed to the hardware model's hooks (keys its noise).
    chunk_size : int
        Steps per compiled call.
    progress : bool
        Show a progress bar.

    Returns
    -------
    ForwardResult

    Raises
    ------
    ValueError
        On bad recording options, or start states and inputs of different batches.
    FloatingPointError
        If the state became NaN or infinite.
    """
    if not isinstance(record_every, (int, np.integer)) or record_every < 0:
        raise ValueError(f"record_every must be a non-negative integer, got {record_every!r}")
    _check_chunk_size(chunk_size)
    if record_energy and not record_every:
        raise ValueError("record_energy needs record_every > 0")
    u, L = inputs.values, inputs.n_steps
    # copies: the loops advance these arrays in place, on cache lines of their own
    Q = isolated_copy(start.q, dtype=run.dtype)
    P = isolated_copy(start.p, dtype=run.dtype)
    B, n = Q.shape
    _check_batch(u, B)
    n_rec = (L // record_every + 1) if record_every else 0
    if n_rec:
        per_state = (B * ((1 + bool(record_momenta)) * n + bool(record_energy))
                     * np.dtype(run.dtype).itemsize)
        fitting = max(available_memory() or 0, per_state) // (2 * per_state)
        check_fits_in_memory(
            n_rec * per_state,
            f"recording {n_rec} states of {B} x {n} ({np.dtype(run.dtype).name})",
            f"record fewer states: record_every >= {-(-L // max(fitting - 1, 1))} uses at most "
            f"half of it, record_every = 0 keeps only the final state")
    rec_q = np.zeros((B, n_rec, n), dtype=run.dtype)
    rec_p = np.zeros((B, n_rec if record_momenta else 0, n), dtype=run.dtype)
    rec_e = np.zeros((B, n_rec if record_energy else 0), dtype=run.dtype)
    if n_rec:
        rec_q[:, 0] = Q
        if record_momenta:
            rec_p[:, 0] = P
    pos_sum = isolated_zeros((B, n if sum_positions else 0))  # written at every step
    nt, nd, m = run.theta.size, run.system.n_drive, run.system.n_inputs
    # independent units run in blocks, one task per (trajectory, unit block)
    units = None if record_energy else UnitLayout.of(run)
    if units is None:
        g_acc = isolated_zeros((B, nt if readout else 0))
        g_comp = isolated_zeros(g_acc.shape)
    else:
        g_acc, g_comp = units.zeros(B), units.zeros(B)
    # input-matrix read-out (transposed) and, for input gradients, the per-step
    # drive read-out projected onto the inputs (B, L, m)
    g_input_t = isolated_zeros((B, m, nd) if readout else (B, 0, 0))
    keep_drive = readout and keep_drive and u is not None
    g_inputs = np.zeros((B, L if keep_drive else 0, m))
    drives = DriveBlocks(run, u, B, L, pass_index, reads_out=readout)
    bar = _progress(L, progress, f"forward pass {type(run.system).__name__}")
    k = run.kernels
    for block in drives.plan(chunk_size, "forward"):
        drive = drives.project(block)
        if block.lo == 0 and record_energy:
            for b in range(B):
                d0 = run.drive(drives.rows, 0, b)
                rec_e[b, 0] = k.kinetic(P[b], run.theta) + k.potential(Q[b], d0, run.theta)
        for seg in block.segments:
            if units is not None:
                loops.free_run_units(
                    run.kinds, run.coefs, run.h, k.grad_kinetic, k.grad_potential,
                    k.theta_grad_kinetic, k.theta_grad_potential, k.drive_grad_potential,
                    units.sizes, units.state_idx, units.drive_idx, units.theta, units.theta64,
                    Q, P, drive, drives.driven, block.lo, seg.lo, seg.hi - seg.lo,
                    record_every, rec_q, rec_p, record_momenta, pos_sum, sum_positions,
                    readout, g_acc, g_comp, drives.readout, block.lo, run.dtype(0))
            else:
                loops.free_run(run.kinds, run.coefs, run.h, k.grad_kinetic, k.grad_potential,
                               k.kinetic, k.potential, k.theta_grad_kinetic, k.theta_grad_potential,
                               k.drive_grad_potential, run.hook, run.theta, run.theta64, Q, P,
                               drive, drives.driven, block.lo, seg.lo, seg.hi - seg.lo,
                               record_every, rec_q, rec_p, record_momenta, rec_e, record_energy,
                               pos_sum, sum_positions, readout, g_acc, g_comp, drives.readout,
                               block.lo, run.hw_params, run.key(pass_index), run.q_quantum,
                               run.p_quantum)
            if bar is not None:
                bar.update(seg.hi - seg.lo)
        if readout:
            drives.read_out(block, descending=False, matrix_readout_t=g_input_t,
                            inputs_gradient=g_inputs if keep_drive else None)
    if bar is not None:
        bar.close()
    report = run.hardware.end_of_pass(run.hw_params, pass_index)
    if not (np.all(np.isfinite(Q)) and np.all(np.isfinite(P))):
        raise FloatingPointError("the state became NaN or infinite during the run; the step is "
                                 "likely unstable for this (nonlinear) system, or the drive too "
                                 "large")
    measured = None
    if readout:
        measured = Readout(theta=g_acc + g_comp if units is None else units.reduce(g_acc, g_comp),
                           input_matrix=np.ascontiguousarray(g_input_t.transpose(0, 2, 1)),
                           inputs=g_inputs if keep_drive else None)
    return ForwardResult(final=State(Q, P), positions=rec_q if n_rec else None,
                         momenta=rec_p if n_rec and record_momenta else None,
                         energy=rec_e if record_energy else None,
                         position_sum=pos_sum if sum_positions else None, readout=measured,
                         n_steps=L, record_every=int(record_every), hardware_report=report)


def flip(run: PreparedRun, state: State, pass_index: int = ECHO_PLUS_PASS) -> State:
    """The momentum reversal of a batch of states, through the hardware model.

    Parameters
    ----------
    run : PreparedRun
        The prepared device (its hardware model flips).
    state : State
        States to flip (not written).
    pass_index : int
        Pass handed to the hardware model (keys the flip's noise).

    Returns
    -------
    State
        ``(q, -p)`` on the ideal device.
    """
    q, p = run.hardware.flip(state.q.copy(), state.p.copy(), run.seed, pass_index)
    return State(q, p)


def run_for_pass(run: PreparedRun, pass_index: int) -> PreparedRun:
    """The run on the device as it is at the start of pass ``pass_index``.

    The hardware model may let the device drift between passes
    (:meth:`~physsim.hardware.HardwareModel.between_passes`); without drift
    this is ``run`` itself.
    """
    device = run.hardware.between_passes(run.system, run.seed, pass_index)
    return run.on_device(device)


def echo_passes(run: PreparedRun, start: State, inputs: InputSequence, *,
                nudges: tuple[float, ...], nudge_source: NudgeSource | None = None,
                keep_drive: bool = False, pass_indices: tuple[int, ...] | None = None,
                chunk_size: int = DEFAULT_CHUNK, progress: bool = False,
                on_chunk: Callable[[int, int, State], None] | None = None,
                paired: bool | None = None) -> EchoMeasurement:
    """Run one or two nudged echoes over the reversed inputs from one start state.

    Two echoes run in lock-step on the same device; when the hardware model
    lets the device drift between passes, each runs on its own instance
    (:func:`run_for_pass`), one after the other.  A centred pair, nudges
    ``(e, -e)``, runs as one pair in mean / half-difference coordinates when
    :func:`paired_echo_unavailable` has no objection: the same two echoes in
    exact arithmetic, but their difference (read-outs and end states) is
    computed without cancellation, so it stays accurate for any ``e``.  With a
    recorded or constant cotangent source the nudges are differenced exactly;
    an online source's state dependence is differenced plainly.

    Parameters
    ----------
    run : PreparedRun
        The prepared device (as after the forward pass).
    start : State
        Start state of every echo (already flipped; not written).
    inputs : InputSequence
        The forward input sequence; the echoes replay it last to first.
    nudges : tuple of one or two float
        Momentum-forcing scale of each echo: after each echo step that
        reconstructs forward state k >= 1 (and before the first step, for
        k = L), ``p += nudge * cotangent(q, k)``.
    nudge_source : NudgeSource, optional
        The cotangents; may be omitted only when every nudge is zero.
    keep_drive : bool
        Keep the per-step drive read-outs, projected onto the inputs (O(L m)
        memory), for input gradients.
    pass_indices : tuple of int, optional
        Pass of each echo handed to the hardware model (default: the
        ``ECHO_PLUS_PASS`` and ``ECHO_MINUS_PASS`` of :mod:`physsim.hardware`).
    chunk_size : int
        Steps per compiled call.
    progress : bool
        Show a progress bar.
    on_chunk : callable, optional
        ``on_chunk(echo, n_done, state)`` after each chunk of each echo
        (``echo`` 0 or 1, ``n_done`` echo steps done, the echo's current
        state, which the next chunk overwrites); with ``chunk_size=1`` it
        sees every step.  Paired echoes hand it ``qm + qd`` and ``qm - qd``.
    paired : bool, optional
        None: paired echoes whenever they can run; False: the two-trajectory
        loop (e.g. to compare); True: paired echoes or a ValueError saying why
        they cannot run.

    Returns
    -------
    EchoMeasurement

    Raises
    ------
    ValueError
        For a number of nudges other than 1 or 2, nudges without a source, or
        ``paired=True`` where paired echoes cannot run.
    FloatingPointError
        If an echo became NaN or infinite.
    """
    nudges = tuple(float(x) for x in nudges)
    if len(nudges) not in (1, 2):
        raise ValueError(f"nudges must hold one or two values, got {len(nudges)}")
    if pass_indices is None:
        pass_indices = (ECHO_PLUS_PASS, ECHO_MINUS_PASS)[:len(nudges)]
    if len(pass_indices) != len(nudges):
        raise ValueError(f"pass_indices must hold one pass per nudge ({len(nudges)}), got "
                         f"{len(pass_indices)}")
    if nudge_source is None:
        if any(x != 0.0 for x in nudges):
            raise ValueError("nudged echoes need a nudge_source")
        nudge_source = NudgeSource.zero(run.system.n_dof)
    _check_chunk_size(chunk_size)
    if paired not in (None, True, False):
        raise ValueError(f"paired must be None, True or False, got {paired!r}")
    runs = [run_for_pass(run, i) for i in pass_indices]
    options = dict(source=nudge_source, keep_drive=keep_drive, chunk_size=chunk_size,
                   progress=progress)
    if paired is not False:
        refusal = _centred_pair_refusal(nudges) or paired_echo_unavailable(run, pass_indices)
        if refusal is None:
            return _paired_echo_run(run, start, inputs, nudges[0], pass_indices[0],
                                    on_chunk=on_chunk, **options)
        if paired:
            raise ValueError(f"paired=True, but paired echoes cannot run: {refusal}")
    if len(nudges) == 1 or all(r is run for r in runs):
        measured = _echo_run(runs[0], start, len(nudges) == 2, inputs, nudges, pass_indices,
                             on_chunk=on_chunk, **options)
        if len(nudges) == 2:
            measured.final_difference = _difference(*measured.final)
        return measured
    # drift between passes: the echoes run on different devices, one at a time
    a = _echo_run(runs[0], start, False, inputs, nudges[:1], pass_indices[:1],
                  on_chunk=on_chunk, **options)
    second = None if on_chunk is None else (lambda _, done, state: on_chunk(1, done, state))
    b = _echo_run(runs[1], start, False, inputs, nudges[1:], pass_indices[1:],
                  on_chunk=second, subtract_drive_from=a.readout.inputs, **options)
    # the second echo subtracted its drive read-out from the first's, in place
    difference = Readout(theta=a.readout.theta - b.readout.theta,
                         input_matrix=a.readout.input_matrix - b.readout.input_matrix,
                         inputs=b.readout.inputs)
    return EchoMeasurement(readout=difference, final=a.final + b.final,
                           hardware_reports=a.hardware_reports + b.hardware_reports,
                           final_difference=_difference(a.final[0], b.final[0]))


def paired_echo_unavailable(run: PreparedRun,
                            pass_indices: tuple[int, ...] = (ECHO_PLUS_PASS, ECHO_MINUS_PASS)
                            ) -> str | None:
    """Why a centred echo pair cannot run as paired echoes on ``run`` (None: it can).

    Paired echoes (:mod:`physsim._kernels.paired`) need the ideal device (the
    per-step hook, reversible rounding and drift act on each echo separately),
    a system whose kernels offer the pair callbacks
    (:attr:`~physsim.systems.SystemKernels.has_pairs`) and an integrator of
    drifts and kicks only (no start kicks).  :func:`echo_passes` also needs the
    nudges to be equal and opposite.

    Parameters
    ----------
    run : PreparedRun
        The prepared device.
    pass_indices : tuple of int
        The echo passes (the device must not drift into them).

    Returns
    -------
    str or None
        A one-line reason, or None.
    """
    if not run.hardware.is_ideal:
        return f"the hardware model {type(run.hardware).__name__} is not the ideal device"
    if any(run_for_pass(run, i) is not run for i in pass_indices):
        return "the device drifts between passes"
    if not run.kernels.has_pairs:
        return (f"{type(run.system).__name__} offers no pair callbacks "
                f"(SystemKernels.has_pairs is false)")
    if np.any(run.kinds == START_KICK):
        return f"the integrator {run.integrator.name!r} has start kicks"
    return None


def _centred_pair_refusal(nudges: tuple[float, ...]) -> str | None:
    """Why ``nudges`` are not a centred pair ``(e, -e)`` (None: they are)."""
    if len(nudges) != 2 or nudges[1] != -nudges[0]:
        return f"the nudges must be a centred pair (e, -e), got {nudges}"
    return None


def _difference(a: State, b: State) -> State:
    """``a - b`` in float64."""
    return State(np.asarray(a.q, float) - np.asarray(b.q, float),
                 np.asarray(a.p, float) - np.asarray(b.p, float))


def _paired_echo_run(run: PreparedRun, start: State, inputs: InputSequence, nudge: float,
                     pass_index: int, *, source: NudgeSource, keep_drive: bool,
                     chunk_size: int, progress: bool,
                     on_chunk: Callable | None) -> EchoMeasurement:
    """The echoes nudged by ``+nudge`` and ``-nudge`` from ``start``, as one pair.

    The pair is carried as its mean ``(qm, pm)`` and half-difference
    ``(qd, pd)`` (:mod:`physsim._kernels.paired`); the read-out is echo + minus
    echo -, the end difference ``2 (qd, pd)``.  The ideal device has no per-step
    hook nor DAC, so ``pass_index`` only keys the (identity) input rows.
    """
    u, n_steps = inputs.values, inputs.n_steps
    qm, pm = isolated_copy(start.q, dtype=run.dtype), isolated_copy(start.p, dtype=run.dtype)
    qd, pd = isolated_zeros(qm.shape, qm.dtype), isolated_zeros(pm.shape, pm.dtype)
    B = qm.shape[0]
    _check_batch(u, B)
    nt, nd, m = run.theta.size, run.system.n_drive, run.system.n_inputs
    # independent units run in blocks (state-independent cotangents only)
    units = UnitLayout.of(run) if source.fixed else None
    if units is None:
        g_acc = isolated_zeros((B, nt))
        g_comp = isolated_zeros((B, nt))
    else:
        g_acc, g_comp = units.zeros(B), units.zeros(B)
    g_input_t = isolated_zeros((B, m, nd))  # stays zero for an undriven run
    keep_drive = keep_drive and u is not None
    g_inputs = np.zeros((B, n_steps if keep_drive else 0, m))
    drives = DriveBlocks(run, u, B, n_steps, pass_index, reads_out=True)
    k = run.kernels
    dt = run.dtype
    aux = np.require(source.data, dtype=dt, requirements=["C", "W"])
    aux_shared = isolated_copy(source.shared, dtype=dt)
    bar = _progress(n_steps, progress, "echo pair")
    for block in drives.plan(chunk_size, "echo"):
        drive = drives.project(block)
        for seg in block.segments:
            if units is not None:
                paired.paired_echo_run_units(
                    run.kinds, run.coefs, run.h, k.pair_grad_kinetic, k.pair_grad_potential,
                    k.pair_theta_grad_kinetic, k.pair_theta_grad_potential,
                    k.pair_drive_grad_potential, source.cotangent is recorded_cotangent,
                    units.sizes,
                    units.state_idx, units.drive_idx, units.theta, units.theta64, qm, qd, pm,
                    pd, drive, drives.driven, block.lo, n_steps - seg.hi, seg.hi - seg.lo,
                    n_steps, dt(nudge), aux, g_acc, g_comp, drives.readout, block.lo)
            else:
                paired.paired_echo_run(run.kinds, run.coefs, run.h, k.pair_grad_kinetic,
                                       k.pair_grad_potential, k.pair_theta_grad_kinetic,
                                       k.pair_theta_grad_potential, k.pair_drive_grad_potential,
                                       source.cotangent, source.fixed, run.theta, run.theta64, qm,
                                       qd, pm, pd, drive, drives.driven, block.lo, n_steps - seg.hi,
                                       seg.hi - seg.lo, n_steps, dt(nudge), aux, aux_shared, g_acc,
                                       g_comp, drives.readout, block.lo)
            if bar is not None:
                bar.update(seg.hi - seg.lo)
            if on_chunk is not None and seg.closes_chunk:
                on_chunk(0, n_steps - seg.lo, State(qm + qd, pm + pd))
                on_chunk(1, n_steps - seg.lo, State(qm - qd, pm - pd))
        drives.read_out(block, descending=True, matrix_readout_t=g_input_t,
                        inputs_gradient=g_inputs if keep_drive else None)
    if bar is not None:
        bar.close()
    report = run.hardware.end_of_pass(run.hw_params, pass_index)
    if not all(np.all(np.isfinite(x)) for x in (qm, qd, pm, pd)):
        raise FloatingPointError("an echo became NaN or infinite; check the nudge size and step")
    measured = Readout(theta=g_acc + g_comp if units is None else units.reduce(g_acc, g_comp),
                       input_matrix=np.ascontiguousarray(g_input_t.transpose(0, 2, 1)),
                       inputs=g_inputs if keep_drive else None)
    return EchoMeasurement(readout=measured,
                           final=(State(qm + qd, pm + pd), State(qm - qd, pm - pd)),
                           hardware_reports=(report,),
                           final_difference=State(2.0 * qd.astype(float), 2.0 * pd.astype(float)),
                           paired=True)


def _echo_run(run: PreparedRun, start: State, two: bool, inputs: InputSequence,
              nudges: tuple[float, ...], pass_indices: tuple[int, ...], *, source: NudgeSource,
              keep_drive: bool, chunk_size: int, progress: bool, on_chunk: Callable | None,
              subtract_drive_from: np.ndarray | None = None) -> EchoMeasurement:
    """One compiled echo run: one echo, or two in lock-step, from ``start``.

    ``subtract_drive_from`` (B, L, m): with ``keep_drive``, the per-step drive
    read-out of a single echo run earlier; this echo's is subtracted from it in
    place and it is returned as ``readout.inputs`` (two echoes run one after
    the other need one O(L) array, not two).
    """
    u, n_steps = inputs.values, inputs.n_steps
    # copies: the loops advance the echo states in place
    qa, pa = isolated_copy(start.q, dtype=run.dtype), isolated_copy(start.p, dtype=run.dtype)
    if two:
        qb, pb = isolated_copy(start.q, dtype=run.dtype), isolated_copy(start.p, dtype=run.dtype)
    else:
        qb, pb = isolated_zeros(qa.shape, qa.dtype), isolated_zeros(pa.shape, pa.dtype)
    B = qa.shape[0]
    _check_batch(u, B)
    nudge_a = nudges[0]
    nudge_b = nudges[1] if two else 0.0
    pass_a = pass_indices[0]
    pass_b = pass_indices[1] if two else ECHO_MINUS_PASS
    nt = run.theta.size
    nd, m = run.system.n_drive, run.system.n_inputs
    g_acc = isolated_zeros((B, nt))
    g_comp = isolated_zeros((B, nt))
    g_input_t = isolated_zeros((B, m, nd))  # stays zero for an undriven run
    keep_drive = keep_drive and u is not None
    subtract_drive = subtract_drive_from is not None and keep_drive
    if subtract_drive:
        if two or subtract_drive_from.shape != (B, n_steps, m):
            raise ValueError(f"subtract_drive_from must be a ({B}, {n_steps}, {m}) array of a "
                             f"single echo, got shape {subtract_drive_from.shape}")
        inputs_all = subtract_drive_from
    else:
        inputs_all = np.zeros((B, n_steps if keep_drive else 0, m))
    drives = DriveBlocks(run, u, B, n_steps, pass_a, reads_out=True)
    k = run.kernels
    dt = run.dtype
    # writeable C arrays: the compiled signature does not accept read-only (broadcast) views
    aux = np.require(source.data, dtype=dt, requirements=["C", "W"])
    aux_shared = isolated_copy(source.shared, dtype=dt)  # read by every thread at every step
    bar = _progress(n_steps, progress, "echo")
    for block in drives.plan(chunk_size, "echo"):
        drive = drives.project(block)
        for seg in block.segments:
            # echo steps L-hi+1 .. L-lo consume forward steps hi-1 down to lo
            loops.echo_run(run.kinds, run.coefs, run.h, k.grad_kinetic, k.grad_potential,
                           k.theta_grad_kinetic, k.theta_grad_potential,
                           k.drive_grad_potential, run.hook, source.cotangent, run.theta,
                           run.theta64, qa, pa, qb, pb, drive, drives.driven, block.lo,
                           n_steps - seg.hi, seg.hi - seg.lo, n_steps, dt(nudge_a),
                           dt(nudge_b), two, aux, aux_shared, g_acc, g_comp, drives.readout,
                           block.lo, run.hw_params, run.key(pass_a), run.key(pass_b),
                           run.q_quantum, run.p_quantum)
            if bar is not None:
                bar.update(seg.hi - seg.lo)
            if on_chunk is not None and seg.closes_chunk:
                on_chunk(0, n_steps - seg.lo, State(qa, pa))
                if two:
                    on_chunk(1, n_steps - seg.lo, State(qb, pb))
        drives.read_out(block, descending=True, matrix_readout_t=g_input_t,
                        inputs_gradient=inputs_all if keep_drive else None,
                        subtract=subtract_drive)
    if bar is not None:
        bar.close()
    report = run.hardware.end_of_pass(run.hw_params, pass_a)
    if not (np.all(np.isfinite(qa)) and np.all(np.isfinite(pa))):
        raise FloatingPointError("an echo became NaN or infinite; check the nudge size and step")
    measured = Readout(theta=g_acc + g_comp,
                       input_matrix=np.ascontiguousarray(g_input_t.transpose(0, 2, 1)),
                       inputs=inputs_all if keep_drive else None)
    final = (State(qa, pa), State(qb, pb)) if two else (State(qa, pa),)
    return EchoMeasurement(readout=measured, final=final, hardware_reports=(report,))


def _check_chunk_size(chunk_size) -> None:
    if not isinstance(chunk_size, (int, np.integer)) or chunk_size < 1:
        raise ValueError(f"chunk_size must be a positive integer, got {chunk_size!r}")


def _check_batch(inputs: np.ndarray | None, batch: int) -> None:
    if inputs is not None and inputs.shape[0] not in (1, batch):
        raise ValueError(f"inputs have batch size {inputs.shape[0]} but the states have {batch}; "
                         "use physsim.device_run.prepare_batch")


def _progress(total: int, enabled: bool, desc: str):
    if not enabled:
        return None
    from tqdm.auto import tqdm  # noqa: PLC0415 (only when asked)

    return tqdm(total=total, desc=desc, unit="step")
