"""The public free run: :func:`simulate` a batch of devices through an input sequence.

A thin wrapper over :func:`physsim.passes.forward_pass`: it prepares the device
(:func:`physsim.device_run.prepare_run`) and the batch
(:func:`physsim.device_run.prepare_batch`), runs the forward pass and returns a
:class:`~physsim.trajectory.Trajectory`.
"""

from __future__ import annotations

import numpy as np

from .device_run import prepare_batch, prepare_run
from .hardware import HardwareModel
from .integrators import Integrator
from .passes import DEFAULT_CHUNK, forward_pass
from .systems.base import HamiltonianSystem
from .trajectory import Trajectory


def simulate(system: HamiltonianSystem, q0, p0=None, inputs=None, *, n_steps: int | None = None,
             dt: float | None = None, integrator: str | Integrator = "leapfrog",
             record_every: int = 0, record_energy: bool = False, sum_positions: bool = False,
             hardware: HardwareModel | str | None = None, seed: int = 0, dtype=np.float64,
             chunk_size: int = DEFAULT_CHUNK, check_stability: bool = True,
             progress: bool = False) -> Trajectory:
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
    record_every, record_energy, sum_positions
        What to keep besides the final state, as in
        :func:`physsim.passes.forward_pass`: every n-th state (0: none, so
        memory does not grow with L), the energy at those states, the sum of
        positions over steps 1..L (for pooled read-outs).
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
    FloatingPointError
        If the state became NaN or infinite.
    """
    run = prepare_run(system, dt=dt, integrator=integrator, dtype=dtype, hardware=hardware,
                      seed=seed, check_stability=check_stability)
    batch = prepare_batch(run, q0, p0, inputs, n_steps)
    fwd = forward_pass(run, batch.start, batch.inputs, record_every=record_every,
                       record_energy=record_energy, sum_positions=sum_positions,
                       chunk_size=chunk_size, progress=progress)
    n_rec = 0 if fwd.positions is None else fwd.positions.shape[1]
    times = np.arange(n_rec) * record_every * float(run.h) if n_rec else np.zeros(0)
    return Trajectory(times=times, positions=fwd.positions, momenta=fwd.momenta,
                      energy=fwd.energy, final_positions=fwd.final.q,
                      final_momenta=fwd.final.p, position_sum=fwd.position_sum,
                      dt=float(run.h), n_steps=fwd.n_steps, record_every=fwd.record_every,
                      integrator=run.integrator.name, system=run.system, seed=run.seed,
                      hardware=run.hardware.describe(), hardware_report=fwd.hardware_report)
