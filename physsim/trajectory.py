"""The result of a free run: :class:`Trajectory`."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .systems.base import HamiltonianSystem


@dataclass
class Trajectory:
    """Result of :func:`physsim.simulate`.

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
