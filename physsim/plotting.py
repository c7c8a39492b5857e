"""Figures: every function takes results and returns a :class:`matplotlib.figure.Figure`.

Nothing here computes physics; it only draws what simulations, RHEL runs,
training runs and sweeps produced.  Figures are made with the object API (no
global pyplot state), so they work headless and in notebooks alike.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence

import numpy as np
from matplotlib.figure import Figure


def _fig(nrows: int = 1, ncols: int = 1, size=(7.0, 4.0)):
    fig = Figure(figsize=size, layout="constrained")
    axes = fig.subplots(nrows, ncols, squeeze=False)
    return fig, axes


def plot_positions(trajectory, *, trajectory_index: int = 0, dofs: Sequence[int] | None = None,
                   unit: str = "") -> Figure:
    """Positions over time of one trajectory of a :class:`~physsim.Trajectory`.

    Parameters
    ----------
    trajectory : Trajectory
        Must have recorded positions.
    trajectory_index : int
        Which trajectory of the batch.
    dofs : sequence of int, optional
        Degrees of freedom to draw (default: all, up to 8).
    unit : str
        Unit of the positions for the axis label.
    """
    if trajectory.positions is None:
        raise ValueError("the trajectory has no recorded positions (use record_every > 0)")
    q = trajectory.positions[trajectory_index]
    dofs = list(range(min(q.shape[1], 8))) if dofs is None else list(dofs)
    fig, ax = _fig()
    for i in dofs:
        ax[0, 0].plot(trajectory.times, q[:, i], lw=1.0, label=f"q{i + 1}")
    ax[0, 0].set_xlabel(f"time [{trajectory.system.time_unit}]")
    ax[0, 0].set_ylabel(f"position{f' [{unit}]' if unit else ''}")
    ax[0, 0].set_title(f"{type(trajectory.system).__name__}: positions")
    ax[0, 0].legend(ncol=4, fontsize="small")
    return fig


def plot_energy_error(trajectory, *, trajectory_index: int = 0) -> Figure:
    """Relative energy error ``(H(t) - H(0)) / |H(0)|`` over time."""
    if trajectory.energy is None:
        raise ValueError("the trajectory has no recorded energy (use record_energy=True)")
    e = trajectory.energy[trajectory_index].astype(float)
    # a run that starts at rest has H(0) = 0: measure against the largest |H| instead
    big = float(np.max(np.abs(e))) or 1.0
    denom, ref = (abs(e[0]), "|H(0)|") if abs(e[0]) > 1e-9 * big else (big, "max|H|")
    fig, ax = _fig()
    ax[0, 0].plot(trajectory.times, (e - e[0]) / denom, lw=0.8)
    ax[0, 0].set_xlabel(f"time [{trajectory.system.time_unit}]")
    ax[0, 0].set_ylabel(f"(H(t) - H(0)) / {ref}")
    ax[0, 0].set_title(f"energy conservation ({trajectory.integrator}, dt={trajectory.dt:g})")
    return fig


def plot_phase_portrait(trajectory, *, trajectory_index: int = 0,
                        dofs: Sequence[int] | None = None) -> Figure:
    """Momentum against position for a few degrees of freedom."""
    if trajectory.positions is None:
        raise ValueError("the trajectory has no recorded states (use record_every > 0)")
    q = trajectory.positions[trajectory_index]
    p = trajectory.momenta[trajectory_index]
    dofs = list(range(min(q.shape[1], 4))) if dofs is None else list(dofs)
    fig, ax = _fig(size=(5.0, 4.5))
    for i in dofs:
        ax[0, 0].plot(q[:, i], p[:, i], lw=0.8, label=f"dof {i + 1}")
    ax[0, 0].set_xlabel("position q")
    ax[0, 0].set_ylabel("momentum p")
    ax[0, 0].set_title("phase portrait")
    ax[0, 0].legend(fontsize="small")
    return fig


def plot_echo_trajectories(echo_positions: Mapping[str, np.ndarray], *, dof: int = 0,
                           trajectory_index: int = 0, dt: float = 1.0,
                           time_unit: str = "") -> Figure:
    """Forward pass, both echoes and the time-reversed forward pass, plus the echo gap.

    Parameters
    ----------
    echo_positions : mapping
        ``info["echo_positions"]`` of :func:`physsim.rhel.rhel_gradient` with
        ``record_echoes=True``: ``forward``, ``plus``, ``minus`` of shape (B, L+1, n).
    dof : int
        Degree of freedom to draw.
    dt : float
        Step, for the time axis.
    time_unit : str
        Unit of time for the axis label.
    """
    fwd = echo_positions["forward"][trajectory_index, :, dof]
    plus = echo_positions["plus"][trajectory_index, :, dof]
    minus = echo_positions.get("minus")
    L = fwd.size - 1
    t = np.arange(L + 1) * dt
    fig, ax = _fig(2, 1, size=(7.5, 5.5))
    a = ax[0, 0]
    a.plot(t, fwd, color="k", lw=1.2, label="forward")
    # echo step j mirrors forward state L - j: draw the echoes on the forward time axis
    a.plot(t, plus[::-1], color="tab:red", lw=1.0, label="echo (+eps)")
    if minus is not None:
        a.plot(t, minus[trajectory_index, :, dof][::-1], color="tab:blue", lw=1.0,
               label="echo (-eps)")
    a.plot(t, fwd, color="0.6", lw=3.0, alpha=0.35, zorder=0, label="time-reversed forward")
    a.set_ylabel(f"position of dof {dof + 1}")
    a.set_title("RHEL passes (echoes shown against the forward time they retrace)")
    a.legend(fontsize="small", ncol=2)
    b = ax[1, 0]
    if minus is not None:
        gap = (plus - minus[trajectory_index, :, dof])[::-1]
        b.plot(t, gap, color="tab:purple", lw=1.0, label="echo(+) - echo(-)")
    else:
        b.plot(t, plus[::-1] - fwd, color="tab:purple", lw=1.0, label="echo(+) - forward")
    b.set_xlabel(f"forward time{f' [{time_unit}]' if time_unit else ''}")
    b.set_ylabel("symmetry-breaking gap")
    b.legend(fontsize="small")
    return fig


def plot_learning_curves(histories: Mapping[str, Sequence[float]], *, ylabel: str = "loss",
                         logy: bool = True, xlabel: str = "training step") -> Figure:
    """One line per run: e.g. ``{"RHEL, ideal": [...], "RHEL, noisy": [...], "BPTT": [...]}``."""
    fig, ax = _fig()
    for label, values in histories.items():
        ax[0, 0].plot(np.arange(len(values)), values, lw=1.2, label=label)
    if logy:
        ax[0, 0].set_yscale("log")
    ax[0, 0].set_xlabel(xlabel)
    ax[0, 0].set_ylabel(ylabel)
    ax[0, 0].set_title("learning curves")
    ax[0, 0].legend(fontsize="small")
    return fig


def save_figure(fig: Figure, path, dpi: int = 110) -> None:
    """Write a figure to ``path`` (PNG by extension)."""
    fig.savefig(path, dpi=dpi)
