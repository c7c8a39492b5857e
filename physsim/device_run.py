"""A device prepared for the compiled loops, and the batch of states and inputs it runs.

:func:`prepare_run` checks the settings of a run (integrator, step, dtype,
hardware model, seed), realises the device instance and builds the arrays the
compiled loops read at every step: a :class:`PreparedRun`.  :func:`prepare_batch`
checks and shapes the initial states and the input sequence of a batch: a
:class:`RunBatch`.  The passes of :mod:`physsim.passes` take both.
"""

from __future__ import annotations

from dataclasses import dataclass
from functools import cached_property
from typing import Any, Callable, NamedTuple

import numpy as np

from ._kernels import steps
from ._memory import isolated_copy
from .validation import as_finite_array, check_positive
from .hardware import HardwareModel, resolve_hardware
from .integrators import Integrator, get_integrator
from .systems.base import HamiltonianSystem, SystemKernels

_DTYPES = {np.dtype(np.float64): np.float64, np.dtype(np.float32): np.float32}


def resolve_dtype(dtype) -> Any:
    """The numpy scalar type of a state precision: ``np.float64`` or ``np.float32``.

    Raises
    ------
    ValueError
        For any other dtype.
    """
    try:
        return _DTYPES[np.dtype(dtype)]
    except (KeyError, TypeError):
        raise ValueError(f"dtype must be float64 or float32, got {dtype!r}") from None


@dataclass(frozen=True)
class State:
    """Positions and momenta of a batch of devices.

    Attributes
    ----------
    q, p : ndarray, shape (batch, n_dof)
        Positions and momenta, in the system's units, of the run's dtype.
    """

    q: np.ndarray
    p: np.ndarray

    @property
    def batch_size(self) -> int:
        """Number of trajectories."""
        return int(self.q.shape[0])


@dataclass(frozen=True)
class InputSequence:
    """The input sequence of a batch of runs (zero-order hold, one row per step).

    Attributes
    ----------
    values : ndarray, shape (B|1, L, n_inputs), float64, or None
        Inputs (a batch of 1 is shared by every trajectory); None for an
        undriven run.
    n_steps : int
        Sequence length L.
    """

    values: np.ndarray | None
    n_steps: int


@dataclass(frozen=True)
class RunBatch:
    """Checked initial states and inputs of a batch (see :func:`prepare_batch`).

    Attributes
    ----------
    start : State
        Initial states, (B, n_dof) of the run's dtype; the passes copy them
        and never write them.
    inputs : InputSequence
        The input sequence.
    """

    start: State
    inputs: InputSequence

    @property
    def batch_size(self) -> int:
        """Number of trajectories B."""
        return self.start.batch_size


class InputRows(NamedTuple):
    """Input rows the compiled loops project for a chunk of forward steps.

    Attributes
    ----------
    rows : ndarray, shape (B|1, Lu, n_inputs), float64
        The whole input sequence, read in place, when the hardware model's DAC
        returns the chunk untouched (the ideal device); otherwise the chunk it
        wrote.  Empty for an undriven run.
    offset : int
        Forward step of ``rows[:, 0]`` (0 or the chunk's first step).
    driven : bool
        False for an undriven run (zero drive).
    """

    rows: np.ndarray
    offset: int
    driven: bool


@dataclass
class PreparedRun:
    """Everything the compiled loops need for one device, integrator and dtype.

    Made by :func:`prepare_run`.  The small arrays every thread reads at every
    step are on cache lines of their own (see :mod:`physsim._memory`).

    Attributes
    ----------
    system : HamiltonianSystem
        The device instance (realised by the hardware model).
    integrator : Integrator
        The integrator.
    dtype : type
        ``np.float64`` or ``np.float32``: the state precision.
    h : float of ``dtype``
        Step size (system time unit).
    kinds, coefs : ndarray
        The integrator's drift/kick table.
    theta, theta64 : ndarray, shape (n_theta,)
        Packed device parameters, in ``dtype`` and in float64.
    input_matrix : ndarray, shape (n_drive, n_inputs), float64
        The device's input matrix ``B``.
    hardware : HardwareModel
        The hardware model.
    hook : callable
        Its compiled per-step hook.
    hw_params : ndarray, float64
        The hook's parameter vector (and counters).
    kernels : SystemKernels
        The device's compiled kernels for ``dtype``.
    q_quantum, p_quantum : float of ``dtype``
        Grids of reversible rounding of the increments (0: off).
    seed : int
        Seed of the hardware model's randomness.
    """

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
        """Noise key ``[seed, pass_index]`` (int64) of a pass, as the per-step hook takes it."""
        # read by every thread at every step: on cache lines of its own (see _memory)
        return isolated_copy([self.seed, pass_index], dtype=np.int64)

    @cached_property
    def input_matrix_t(self) -> np.ndarray:
        """``B^T``, shape (n_inputs, n_drive), float64, C-contiguous: as the loops take it."""
        return isolated_copy(self.input_matrix.T, dtype=np.float64)

    def input_rows(self, inputs: np.ndarray | None, start: int, stop: int, batch_in: int,
                   pass_index: int) -> InputRows:
        """Input rows the loops project for forward steps [start, stop) of pass ``pass_index``.

        Parameters
        ----------
        inputs : ndarray, shape (B|1, L, n_inputs), or None
            The whole input sequence (None: undriven).
        start, stop : int
            Forward steps of the chunk.
        batch_in : int
            Batch size B of the run.
        pass_index : int
            Pass handed to the hardware model's DAC.

        Returns
        -------
        InputRows
        """
        if inputs is None:
            return InputRows(np.zeros((1, 0, self.system.n_inputs)), 0, False)
        chunk = inputs[:, start:stop]
        if self.hardware.per_trajectory_inputs and chunk.shape[0] != batch_in:
            chunk = np.broadcast_to(chunk, (batch_in,) + chunk.shape[1:])
        written = self.hardware.write_inputs(chunk, self.seed, pass_index, start)
        if written is chunk:
            return InputRows(np.ascontiguousarray(inputs, dtype=np.float64), 0, True)
        return InputRows(np.ascontiguousarray(written, dtype=np.float64), start, True)

    def drive(self, rows: InputRows, step: int, trajectory: int) -> np.ndarray:
        """Drive of forward step ``step`` for one trajectory, (n_drive,) of the state dtype.

        Projected by the same compiled function as in the loops, so it is
        bit-identical to the drive they use.
        """
        d64 = np.zeros(self.system.n_drive)
        # as in the loops (precision.work_array): the float64 drive is the state's drive itself
        d = d64 if self.dtype is np.float64 else np.zeros(d64.size, dtype=self.dtype)
        if rows.driven:
            row = rows.rows[0 if rows.rows.shape[0] == 1 else trajectory, step - rows.offset]
            steps.project_drive(row, self.input_matrix_t, d64, d)
        return d

    def on_device(self, device: HamiltonianSystem) -> PreparedRun:
        """This run on another instance of the same device (drift between passes).

        Returns ``self`` when ``device`` is this run's device; otherwise a run
        with the packed parameters and input matrix of ``device`` and every
        other setting (integrator, hook, seed) of this one.
        """
        if device is self.system:
            return self
        if type(device) is not type(self.system):
            raise TypeError(f"a drifted device must be a {type(self.system).__name__}, got "
                            f"{type(device).__name__}")
        return PreparedRun(system=device, integrator=self.integrator, dtype=self.dtype,
                           h=self.h, kinds=self.kinds, coefs=self.coefs,
                           theta=isolated_copy(device.pack_theta(self.dtype)),
                           theta64=isolated_copy(device.pack_theta(np.float64)),
                           input_matrix=isolated_copy(device.input_matrix, dtype=np.float64),
                           hardware=self.hardware, hook=self.hook, hw_params=self.hw_params,
                           kernels=self.kernels, q_quantum=self.q_quantum,
                           p_quantum=self.p_quantum, seed=self.seed)


def prepare_run(system: HamiltonianSystem, *, dt: float | None = None,
                integrator: str | Integrator = "leapfrog", dtype=np.float64,
                hardware: HardwareModel | str | None = None, seed: int = 0,
                check_stability: bool = True, realize: bool = True) -> PreparedRun:
    """Check the settings of a run and build the arrays the compiled loops need.

    Parameters
    ----------
    system : HamiltonianSystem
        The nominal device.
    dt : float, optional
        Step size in the system's time unit (default: the system's own).
    integrator : str or Integrator
        Integrator name or instance.
    dtype : float64 or float32
        State precision.
    hardware : HardwareModel or str, optional
        Hardware model or preset name (None: ideal).
    seed : int
        Seed of the hardware model's randomness (device instance and noise).
    check_stability : bool
        Refuse ``dt`` beyond the integrator's linear stability limit.
    realize : bool
        Let the hardware model realise the device instance (False: run the
        nominal device as given).

    Returns
    -------
    PreparedRun

    Raises
    ------
    ValueError
        For an unknown integrator or dtype, a non-positive or unstable step,
        a missing default step, or a negative seed.
    TypeError
        If ``system`` is not a HamiltonianSystem.
    """
    if not isinstance(system, HamiltonianSystem):
        raise TypeError(f"system must be a HamiltonianSystem, got {type(system).__name__}")
    integ = get_integrator(integrator)
    dtype = resolve_dtype(dtype)
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
    return PreparedRun(system=device, integrator=integ, dtype=dtype, h=dtype(dt),
                       kinds=isolated_copy(kinds), coefs=isolated_copy(coefs),
                       theta=isolated_copy(device.pack_theta(dtype)),
                       theta64=isolated_copy(device.pack_theta(np.float64)),
                       input_matrix=isolated_copy(device.input_matrix, dtype=np.float64),
                       hardware=hw, hook=hook,
                       hw_params=isolated_copy(hw_params, dtype=np.float64),
                       kernels=device.kernels.typed(dtype),
                       q_quantum=dtype(qq), p_quantum=dtype(pq), seed=int(seed))


def prepare_batch(run: PreparedRun, q0, p0=None, inputs=None, n_steps: int | None = None
                  ) -> RunBatch:
    """Check and shape the initial states and the inputs of a batch of runs.

    Parameters
    ----------
    run : PreparedRun
        The prepared device (gives n_dof, n_inputs and the dtype).
    q0 : array_like, shape (n_dof,) or (batch, n_dof)
        Initial positions.
    p0 : array_like, shape (n_dof,) or (batch, n_dof), optional
        Initial momenta (zero if omitted).
    inputs : array_like, shape (L, m) or (batch, L, m), optional
        Input sequence, shared by the batch when 2-D; omit for an undriven run.
    n_steps : int, optional
        Length of an undriven run (or, with inputs, their length).

    Returns
    -------
    RunBatch
        States of the run's dtype (broadcast to the inputs' batch when a
        single state is given), inputs (B|1, L, m) float64.

    Raises
    ------
    ValueError
        On wrong shapes, NaN/inf, mismatched batch sizes or lengths.
    """
    q, p = _batch_states(run.system, q0, p0)
    u, length = _input_sequence(run.system, inputs, n_steps, q.shape[0])
    if u is not None and u.shape[0] > 1 and q.shape[0] == 1:
        q, p = np.repeat(q, u.shape[0], axis=0), np.repeat(p, u.shape[0], axis=0)
    start = State(np.asarray(q, dtype=run.dtype), np.asarray(p, dtype=run.dtype))
    return RunBatch(start=start, inputs=InputSequence(u, length))


def _batch_states(system: HamiltonianSystem, q0, p0) -> tuple[np.ndarray, np.ndarray]:
    """Initial positions and momenta as (B, n) float64 arrays; ``p0=None``: zero momenta."""
    n = system.n_dof
    q = as_finite_array("q0", q0, ndim=(1, 2))
    if q.shape[-1] != n:
        raise ValueError(f"q0 must have shape ({n},) or (batch, {n}), got {q.shape}")
    q = q.reshape(-1, n)
    if p0 is None:
        return q, np.zeros_like(q)
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
    return q, p


def _input_sequence(system: HamiltonianSystem, inputs, n_steps: int | None, batch: int
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
