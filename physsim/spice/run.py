"""Transient runs of a netlist device: node fluxes, charges and voltages against time."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..simulate import simulate
from ..systems.circuit import CircuitSystem
from ..trajectory import Trajectory
from .device import Device, node_voltages


@dataclass(frozen=True)
class TransientRun:
    """A recorded transient run, in SI units.

    Attributes
    ----------
    times : ndarray, shape (T,)
        Times of the recorded states (s), from 0.
    fluxes : ndarray, shape (T, n)
        Node fluxes (Wb).
    charges : ndarray, shape (T, n)
        Node charges (C).
    node_voltages : ndarray, shape (T, n)
        Node voltages ``C^-1 Q`` (V).
    node_names : tuple of str
        Column names of the three arrays above.
    inputs : ndarray, shape (n_steps, m)
        The input sequence that drove the run, in the system's units.
    system : CircuitSystem
        The system that ran.
    dt : float
        Step (s).
    trajectory : Trajectory
        The run in the system's own units (what :func:`physsim.storage.save_trajectory`
        stores).
    """

    times: np.ndarray
    fluxes: np.ndarray
    charges: np.ndarray
    node_voltages: np.ndarray
    node_names: tuple[str, ...]
    inputs: np.ndarray
    system: CircuitSystem
    dt: float
    trajectory: Trajectory


def simulate_device(device: Device, *, dt: float | None = None, n_steps: int | None = None,
                    units: str = "SI", time_scale: float = 1e-9, record_every: int = 1,
                    integrator: str = "leapfrog", **simulate_options: Any) -> TransientRun:
    """Run a device from rest through its source waveforms (its ``.tran`` by default).

    The state starts at zero flux and zero charge, which is ngspice's
    ``.tran ... uic`` without ``.ic``.

    Parameters
    ----------
    device : Device
    dt : float, optional
        Step (s); default the ``.tran`` step.
    n_steps : int, optional
        Number of steps; default the ``.tran`` duration over ``dt``.
    units : {"SI", "natural"}
        Units the system is built in (natural units suit float32).
    time_scale : float
        Seconds per time unit for natural units.
    record_every : int
        Record every n-th state (1: all).
    integrator : str
        Integrator name (see :data:`physsim.INTEGRATORS`).
    **simulate_options
        Passed to :func:`physsim.simulate` (e.g. ``hardware``, ``seed``, ``dtype``).

    Returns
    -------
    TransientRun
    """
    system = device.build(units=units, time_scale=time_scale)
    un = system.units
    step = device.time_step(system) if dt is None else dt / un.time
    u = device.inputs(system, dt=step, n_steps=n_steps)  # n_steps default: the .tran's
    traj = simulate(system, np.zeros(system.n_dof), None, u, dt=step, integrator=integrator,
                    record_every=record_every, **simulate_options)
    fluxes = traj.positions[0] * un.flux
    charges = traj.momenta[0] * un.charge
    return TransientRun(times=np.asarray(traj.times) * un.time, fluxes=fluxes, charges=charges,
                        node_voltages=node_voltages(system, traj.momenta[0]),
                        node_names=system.node_names, inputs=u, system=system,
                        dt=step * un.time, trajectory=traj)
