"""Figures of netlist transient runs (node voltages, and physsim against a reference)."""

from __future__ import annotations

import numpy as np
from matplotlib.figure import Figure

from .ngspice import NgspiceRun
from .run import TransientRun


def plot_node_voltages(run: TransientRun, reference: NgspiceRun | None = None) -> Figure:
    """Node voltages against time; with a reference, also the difference to it.

    Parameters
    ----------
    run : TransientRun
        physsim's run.
    reference : NgspiceRun, optional
        An ngspice run of the same netlist on the same time grid.

    Returns
    -------
    matplotlib.figure.Figure
    """
    rows = 1 if reference is None else 2
    fig = Figure(figsize=(8.0, 2.8 * rows), layout="constrained")
    axes = fig.subplots(rows, 1, sharex=True, squeeze=False)[:, 0]
    t_ns = run.times * 1e9
    for i, name in enumerate(run.node_names):
        axes[0].plot(t_ns, run.node_voltages[:, i] * 1e3, lw=1.0, label=f"V({name})")
    axes[0].set_ylabel("node voltage (mV)")
    axes[0].legend(loc="upper right", fontsize="small", ncol=min(4, len(run.node_names)))
    if reference is not None:
        amplitude = np.max(np.abs(reference.node_voltages))
        for i, name in enumerate(reference.node_names):
            column = run.node_names.index(name)
            axes[1].plot(reference.times * 1e9,
                         (run.node_voltages[:, column] - reference.node_voltages[:, i])
                         / amplitude, lw=1.0, label=name)
        axes[1].set_ylabel("(physsim - ngspice) / amplitude")
    axes[-1].set_xlabel("time (ns)")
    return fig
