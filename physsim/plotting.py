"""Figures: every function takes results and returns a :class:`matplotlib.figure.Figure`.

Nothing here computes physics; it only draws what simulations, RHEL runs,
training runs and sweeps produced.  Figures are made with the object API (no
global pyplot state), so they work headless and in notebooks alike.
"""

from __future__ import annotations

import dataclasses
import os
import warnings
from collections.abc import Mapping, Sequence
from pathlib import Path

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
    ax[0, 0].set_title(f"{type(trajectory.system).__name__}: positions"
                       f"{_shown_dofs(dofs, q.shape[1])}")
    ax[0, 0].legend(ncol=4, fontsize="small")
    return fig


def _shown_dofs(dofs: Sequence[int], n: int) -> str:
    """`` (showing 4 of 6 degrees of freedom: 1-4)`` when not every one is drawn, else ``""``."""
    if len(dofs) == n and sorted(dofs) == list(range(n)):
        return ""
    numbers = [i + 1 for i in dofs]
    consecutive = numbers == list(range(numbers[0], numbers[0] + len(numbers))) if numbers \
        else False
    which = f"{numbers[0]}-{numbers[-1]}" if consecutive and len(numbers) > 2 \
        else ", ".join(map(str, numbers))
    return f" (showing {len(dofs)} of {n} degrees of freedom: {which})"


def plot_energy_error(trajectory, *, driven: bool | None, hardware=None,
                      trajectory_index: int = 0) -> Figure:
    """Relative energy change ``(H(t) - H(0)) / |H(0)|`` over time.

    Only a run without drive on an ideal device conserves energy; then the
    figure is titled an energy conservation check.  Otherwise the title says
    why the energy changes (the work of the drive, the hardware model), so
    the curve is not read as an integration error.

    Parameters
    ----------
    trajectory : Trajectory
        Must have recorded energy.
    driven : bool or None
        True if inputs drove the system (nonzero ``u``), False if not, None
        if unknown (the title then says when energy is conserved).
    hardware : HardwareModel, str or None
        The hardware model (or preset name) the run used; None is the ideal
        device.  A non-ideal one (noise, damping, quantisation) is named in the
        title as a source of energy change.
    trajectory_index : int
        Which trajectory of the batch.
    """
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
    run = f"{trajectory.integrator}, dt={trajectory.dt:g}"
    from .hardware import resolve_hardware  # noqa: PLC0415 (figures need it only here)

    model = resolve_hardware(hardware)
    if driven is False and model.is_ideal:
        ax[0, 0].set_title(f"energy conservation ({run})")
        return fig
    if driven:
        why = "driven system: energy not conserved, it changes by the work of the drive"
    elif driven is None:
        why = "energy change (conserved only without drive on an ideal device)"
    else:
        why = "energy change (no drive)"
    if not model.is_ideal:
        why += (f"; the hardware model {type(model).__name__} (non-ideal) may add or remove "
                "energy")
    ax[0, 0].set_title(f"{why}\n({run})", fontsize="medium")
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
        ax[0, 0].plot(q[:, i], p[:, i], lw=0.8, label=f"dof {i + 1} (q{i + 1}, p{i + 1})")
    ax[0, 0].set_xlabel("position q")
    ax[0, 0].set_ylabel("momentum p")
    ax[0, 0].set_title("phase portrait" + _shown_dofs(dofs, q.shape[1]), fontsize="medium")
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
    xlabel = f"forward time{f' [{time_unit}]' if time_unit else ''}"
    a.set_xlabel(xlabel)
    a.set_ylabel(f"position of dof {dof + 1}")
    a.set_title("RHEL passes (echoes shown against the forward time they retrace)")
    a.legend(fontsize="small", ncol=2)
    b = ax[1, 0]
    if minus is not None:
        gap = (plus - minus[trajectory_index, :, dof])[::-1]
        b.plot(t, gap, color="tab:purple", lw=1.0, label="echo(+) - echo(-)")
    else:
        b.plot(t, plus[::-1] - fwd, color="tab:purple", lw=1.0, label="echo(+) - forward")
    b.set_xlabel(xlabel)
    b.set_ylabel("symmetry-breaking gap")
    b.legend(fontsize="small")
    return fig


# ------------------------------------------------------------------ spreads
SPREADS = ("std", "minmax", "none")


def _mean_and_band(y: np.ndarray, spread: str) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Mean over the last axis (NaN-aware) and the band drawn around it."""
    if spread not in SPREADS:
        raise ValueError(f"unknown spread {spread!r}; valid names are: {', '.join(SPREADS)}")
    y = np.asarray(y, float)
    if y.ndim == 1:
        y = y[:, None]
    with np.errstate(all="ignore"), warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows (failed points)
        mean = np.nanmean(y, axis=1)
        if spread == "std":
            sd = np.nanstd(y, axis=1)
            return mean, mean - sd, mean + sd
        if spread == "minmax":
            return mean, np.nanmin(y, axis=1), np.nanmax(y, axis=1)
    return mean, mean, mean


def _draw_series(ax, x, y, label, spread, *, color=None, style="-", marker="o",
                 one_minus=False, saturated=None, lw=1.2, alpha=1.0, zorder=2):
    """Mean line with its band; ``saturated`` (n_x,) bool marks points with clipped data."""
    y = np.asarray(y, float)
    if one_minus:
        y = 1.0 - y
    mean, lo, hi = _mean_and_band(y, spread)
    (line,) = ax.plot(x, mean, style, marker=marker, ms=3.5, lw=lw, label=label, color=color,
                      alpha=alpha, zorder=zorder)
    if spread != "none" and y.ndim == 2 and y.shape[1] > 1:
        ax.fill_between(x, lo, hi, color=line.get_color(), alpha=0.2, lw=0)
    if saturated is not None and np.any(saturated):
        labels = ax.get_legend_handles_labels()[1]
        ax.plot(np.asarray(x)[saturated], mean[saturated], ls="none", marker="x", ms=8, mew=1.8,
                color="tab:red", zorder=4,
                label=f"_{SATURATED_LABEL}" if SATURATED_LABEL in labels else SATURATED_LABEL)
    return line


#: Legend entry of the marks on sweep points whose data saturated (clipped) in a converter.
SATURATED_LABEL = "saturated (values from clipped data)"


def _saturated_series(res, axis_i: int, where) -> np.ndarray:
    """For the points of ``res.series(..., axis_i, where)``: did any seed saturate? (n_x,)."""
    flags = dataclasses.replace(res, columns=["saturated"],
                                values=res.saturated[:, None].astype(float))
    _, grid = flags.series("saturated", axis_i, where)
    return np.nan_to_num(grid, nan=0.0).sum(axis=1) > 0


def _saturated_groups(res, axis, where) -> set[str]:
    """Labels of ``res.curve_groups(..., axis, where)`` whose point saturated for any seed."""
    flags = dataclasses.replace(res, curves={"saturated": res.saturated[:, None].astype(float)})
    return {label for label, rows in flags.curve_groups("saturated", axis, where).items()
            if np.nansum(rows) > 0}


#: Curves whose largest relative difference is below this are drawn as coinciding: a
#: 1.2 pt line on a log axis of two decades over ~300 pt covers a ratio of ~2 %, so closer
#: curves hide one another (the note on the figure gives the actual difference).
COINCIDE_RTOL = 1e-2


def _coincidences(curves: Mapping[str, np.ndarray]) -> dict[str, tuple[str, float]]:
    """``label -> (earlier label, max relative difference)`` for curves hidden under another.

    Parameters
    ----------
    curves : mapping of str to ndarray, shape (n,)
        The drawn (mean) curves, in drawing order.
    """
    found: dict[str, tuple[str, float]] = {}
    labels = list(curves)
    for k, b in enumerate(labels):
        for a in labels[:k]:
            ya, yb = np.asarray(curves[a], float), np.asarray(curves[b], float)
            if a in found or ya.shape != yb.shape or ya.size == 0:
                continue
            finite = np.isfinite(ya) & np.isfinite(yb)
            if not finite.any() or np.any(np.isfinite(ya) != np.isfinite(yb)):
                continue
            scale = np.maximum(np.abs(ya[finite]), np.abs(yb[finite]))
            gap = np.abs(ya[finite] - yb[finite])
            diff = float(np.max(np.where(scale > 0, gap / np.where(scale > 0, scale, 1.0), 0.0)))
            if diff <= COINCIDE_RTOL:
                found[b] = (a, diff)
                break
    return found


def _coincide_notes(hidden: Mapping[str, tuple[str, float]]) -> str:
    """One line per group of coinciding curves, e.g. ``"RHEL and BPTT coincide to 3e-09 ..."``."""
    groups: dict[str, list[tuple[str, float]]] = {}
    for label, (base, diff) in hidden.items():
        groups.setdefault(base, []).append((label, diff))
    lines = []
    for base, members in groups.items():
        names = [base] + [label for label, _ in members]
        together = " and ".join([", ".join(names[:-1]), names[-1]])
        diff = max(d for _, d in members)
        lines.append(f"{together} coincide exactly" if diff == 0.0 else
                     f"{together} coincide to {diff:.0e} (max relative difference)")
    return "\n".join(lines)


def _as_mapping(results) -> dict:
    """A single result object becomes ``{"": results}``; mappings pass through."""
    if isinstance(results, Mapping):
        if not results:
            raise ValueError("no results to plot")
        return dict(results)
    return {"": results}


def _default_axis(res, axis):
    if axis is not None:
        return res.axis_index(axis)
    if len(res.axes) == 1:
        return 0
    raise ValueError(f"the sweep has {len(res.axes)} axes; choose one with axis= "
                     f"({', '.join(a.label for a in res.axes)})")


def _setup_x(ax, axis, logx):
    """Label the x axis after a sweep axis (log scale, category names)."""
    if axis.categorical:
        ax.set_xticks(range(len(axis.values)))
        ax.set_xticklabels([str(v) for v in axis.values], rotation=30, ha="right",
                           fontsize="small")
    elif (axis.scale == "log") if logx is None else logx:
        ax.set_xscale("log")
    ax.set_xlabel(axis.label if axis.label == axis.field else f"{axis.label} ({axis.field})")


def _tensor_columns(res, metric: str) -> list[str]:
    cols = [c for c in res.columns if c.startswith(metric + "/")]
    if not cols:
        raise ValueError(f"no per-tensor columns {metric}/<tensor> in the sweep; columns are: "
                         f"{', '.join(res.columns)}")
    return cols


def _sweep_lines(ax, res, metric, axis_i, lines, where, spread, one_minus, tag="",
                 color=None):
    """Draw one sweep's lines for one x axis; returns the number of lines."""
    n = 0
    prefix = f"{tag}: " if tag else ""
    if lines == "tensor":
        saturated = _saturated_series(res, axis_i, where)
        for col in _tensor_columns(res, metric):
            x, y = res.series(col, axis_i, where)
            tensor = col.split("/", 1)[1]
            style = "--" if tensor == "all" else "-"
            _draw_series(ax, x, y, f"{prefix}{tensor}", spread, style=style,
                         color="k" if tensor == "all" else None, one_minus=one_minus,
                         saturated=saturated)
            n += 1
    elif lines is not None:
        j = res.axis_index(lines)
        if j == axis_i:
            raise ValueError("lines= must name another axis than the x axis")
        for value in res.axes[j].values:
            held = {**(where or {}), j: value}
            x, y = res.series(metric, axis_i, held)
            _draw_series(ax, x, y, f"{prefix}{res.axes[j].label} = {value}", spread,
                         one_minus=one_minus, saturated=_saturated_series(res, axis_i, held))
            n += 1
    else:
        x, y = res.series(metric, axis_i, where)
        _draw_series(ax, x, y, tag or None, spread, color=color, one_minus=one_minus,
                     saturated=_saturated_series(res, axis_i, where))
        n += 1
    return n


def plot_sweep_curves(results, metric: str, *, axis: int | str | None = None,
                      lines: str | None = None, where: Mapping | None = None,
                      spread: str = "std", threshold: float | None = None,
                      logx: bool | None = None, logy: bool = False,
                      one_minus: bool = False) -> Figure:
    """A metric against one swept knob, with its spread across seeds.

    Parameters
    ----------
    results : SweepResults or mapping of str to SweepResults
        A sweep (:func:`physsim.sweeps.load_sweep`), or several (one line per
        sweep, labelled by the mapping's keys; e.g. one per device).
    metric : str
        A result column (e.g. ``"echo_return_error"``), or with
        ``lines="tensor"`` a per-tensor prefix (``"cosine"``, ``"norm_ratio"``).
    axis : int or str, optional
        The knob on the x axis (index, field or label); needed when the sweep
        has several axes.
    lines : str, optional
        ``"tensor"``: one line per parameter tensor (``all`` dashed); the name
        of another axis: one line per value of it (a grid sweep, e.g. over presets).
    where : mapping, optional
        Other axes of a grid sweep held at given values.
    spread : {"std", "minmax", "none"}
        Band around the mean over seeds: one standard deviation, or min to max.
    threshold : float, optional
        Draw a horizontal reference line (e.g. a cosine of 0.99).
    logx : bool, optional
        Log x scale (default: as the axis was generated).
    logy : bool
        Log y scale.
    one_minus : bool
        Plot ``1 - value`` (with ``logy``, resolves cosines close to 1).

    Returns
    -------
    Figure

    Notes
    -----
    Points where any seed saturated (a converter or register clipped, see
    :attr:`~physsim.sweeps.SweepResults.saturated`) are marked with a red x
    and the legend entry :data:`SATURATED_LABEL`.
    """
    fig, axs = _fig(size=(7.0, 4.2))
    ax = axs[0, 0]
    mapping = _as_mapping(results)
    first = next(iter(mapping.values()))
    axis_ref = None
    for tag, res in mapping.items():
        i = _default_axis(res, axis)
        axis_ref = axis_ref or res.axes[i]
        _sweep_lines(ax, res, metric, i, lines, where, spread, one_minus, tag)
    _setup_x(ax, axis_ref, logx)
    if threshold is not None:
        ax.axhline(1.0 - threshold if one_minus else threshold, color="0.4", lw=0.8, ls=":",
                   label=f"{'1 - ' if one_minus else ''}{threshold:g}")
    if logy:
        ax.set_yscale("log")
    ax.set_ylabel(f"1 - {metric}" if one_minus else metric)
    ax.set_title(f"{first.name}: {metric} vs {axis_ref.label} "
                 f"(mean{'' if spread == 'none' else ' and ' + spread} over "
                 f"{first.n_seeds} seed{'s' if first.n_seeds > 1 else ''})")
    if ax.get_legend_handles_labels()[0]:
        ax.legend(fontsize="small")
    return fig


def plot_sweep_overview(results, metric: str, *, axes: Sequence[int | str] | None = None,
                        lines: str | None = None, spread: str = "std",
                        threshold: float | None = None, logy: bool = False,
                        one_minus: bool = False, ncols: int = 4) -> Figure:
    """One panel per swept knob: a metric against each axis of a sweep.

    Made for ``one_at_a_time`` sweeps (every knob swept alone); for grid
    sweeps the other axes are held at their first value.

    Parameters
    ----------
    results : SweepResults or mapping of str to SweepResults
        One or several sweeps over the same knobs (one line per sweep).
    metric : str
        Result column, or per-tensor prefix with ``lines="tensor"``.
    axes : sequence, optional
        Axes to draw (default: all of the first sweep).
    lines, spread, threshold, logy, one_minus
        As in :func:`plot_sweep_curves`.
    ncols : int
        Panels per row.

    Returns
    -------
    Figure
    """
    mapping = _as_mapping(results)
    first = next(iter(mapping.values()))
    labels = [first.axes[first.axis_index(a)].label for a in axes] if axes is not None \
        else [a.label for a in first.axes]
    if not labels:
        raise ValueError("the sweep has no axes")
    ncols = max(1, min(ncols, len(labels)))
    nrows = -(-len(labels) // ncols)
    # at least 6.5 wide: the title (metric, seeds, band) must fit above a single panel
    fig, axs = _fig(nrows, ncols, size=(max(3.3 * ncols, 6.5), 2.7 * nrows))
    colors = {tag: f"C{k}" for k, tag in enumerate(mapping)}
    for k, label in enumerate(labels):
        ax = axs[k // ncols, k % ncols]
        axis_ref = None
        for tag, res in mapping.items():
            try:
                i = res.axis_index(label)
            except ValueError:
                continue  # this sweep did not vary that knob
            axis_ref = axis_ref or res.axes[i]
            where = None
            if res.mode != "one_at_a_time":
                where = {j: a.values[0] for j, a in enumerate(res.axes) if j != i
                         and (lines is None or lines == "tensor" or j != res.axis_index(lines))}
            _sweep_lines(ax, res, metric, i, lines, where, spread, one_minus,
                         tag if len(mapping) > 1 else "", color=colors[tag])
        _setup_x(ax, axis_ref, None)
        ax.xaxis.label.set_fontsize("small")
        if threshold is not None:
            ax.axhline(1.0 - threshold if one_minus else threshold, color="0.4", lw=0.8, ls=":")
        if logy:
            ax.set_yscale("log")
        ax.set_ylabel(f"1 - {metric}" if one_minus else metric, fontsize="small")
        ax.tick_params(labelsize="x-small")
    for k in range(len(labels), nrows * ncols):
        axs[k // ncols, k % ncols].set_visible(False)
    handles, names = [], []
    for ax in axs.flat:  # a saturation mark may appear in any panel
        for h, name in zip(*ax.get_legend_handles_labels()):
            if name not in names:
                handles.append(h)
                names.append(name)
    if handles:
        fig.legend(handles, names, loc="outside lower center", ncol=min(6, len(handles)),
                   fontsize="small")
    fig.suptitle(f"{metric}{' (1 - value)' if one_minus else ''} against each knob "
                 f"({first.n_seeds} seed{'s' if first.n_seeds > 1 else ''}; band: {spread})"
                 + (f"; dotted: {threshold:g}" if threshold is not None else ""))
    return fig


def plot_training_curves(runs, *, curve: str = "train_loss", axis: int | str | None = None,
                         where: Mapping | None = None, ylabel: str = "loss", logy: bool = True,
                         spread: str = "std", xlabel: str = "training step",
                         steps: Mapping[str, Sequence[float]] | None = None) -> Figure:
    """Loss (or any per-step quantity) against training step, with spread across seeds.

    Parameters
    ----------
    runs : mapping or SweepResults
        ``{label: values}`` with values of shape (n_steps,) or (n_seeds,
        n_steps); or a sweep with a ``training`` metric, drawn as one line per
        value of ``axis``.
    curve : str
        Curve name in a sweep.
    axis : int or str, optional
        Sweep axis whose values label the lines.
    where : mapping, optional
        Other axes of a grid sweep held at given values.
    ylabel, logy, spread, xlabel
        Labels, log y scale and band (see :func:`plot_sweep_curves`).
    steps : mapping of str to array, optional
        Step of every value per label (default ``1, 2, ...``), e.g. the
        steps at which a run was evaluated.

    Returns
    -------
    Figure

    Notes
    -----
    Curves that coincide to within :data:`COINCIDE_RTOL` (relative), such as
    RHEL and BPTT on an ideal device, would hide one another: the first is
    drawn wide and pale, the others dashed on top, and a note on the axes
    gives their largest relative difference.  For a sweep, the curve of a
    point whose data saturated ends with a red x (:data:`SATURATED_LABEL`).
    """
    saturated: set[str] = set()
    if hasattr(runs, "curves") and hasattr(runs, "series"):
        saturated = _saturated_groups(runs, axis, where)
        runs = runs.curve_groups(curve, axis, where)
    fig, axs = _fig()
    ax = axs[0, 0]
    table = {}
    for label, values in runs.items():
        v = np.asarray(values, float)
        v2 = v[None] if v.ndim == 1 else v
        x = np.arange(1, v2.shape[1] + 1) if steps is None or label not in steps \
            else np.asarray(steps[label], float)
        if x.shape != (v2.shape[1],):
            raise ValueError(f"steps of {label!r} have shape {x.shape}, values {v2.shape[1]}")
        table[label] = (x, v2)
    with warnings.catch_warnings():
        warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN steps (failed seeds)
        means = {label: np.concatenate([x, np.nanmean(v2, axis=0)])
                 for label, (x, v2) in table.items()}  # same steps and same values
    hidden = _coincidences(means)
    under = {a for a, _ in hidden.values()}
    for label, (x, v2) in table.items():
        marker = None if x.size > 30 else "o"
        # a point whose data saturated: an x at the end of its curve
        end = np.arange(x.size) == x.size - 1 if label in saturated else None
        if label in hidden:  # drawn dashed on top of the wide line it coincides with
            _draw_series(ax, x, v2.T, f"{label} (dashed, on {hidden[label][0]})", spread,
                         style="--", marker=marker, lw=1.3, zorder=3, saturated=end)
        elif label in under:
            _draw_series(ax, x, v2.T, label, spread, marker=marker, lw=4.0, alpha=0.45,
                         saturated=end)
        else:
            _draw_series(ax, x, v2.T, label, spread, marker=marker, saturated=end)
    if hidden:
        ax.text(0.02, 0.03, _coincide_notes(hidden), transform=ax.transAxes, fontsize="small",
                va="bottom", bbox={"boxstyle": "round", "facecolor": "white", "alpha": 0.8,
                                   "lw": 0.5})
    if logy:
        ax.set_yscale("log")
    ax.set_xlabel(xlabel)
    ax.set_ylabel(ylabel)
    band = "" if spread == "none" else f" (mean and {spread} over seeds)"
    ax.set_title("training curves" + band)
    if runs:
        ax.legend(fontsize="small")
    return fig


def plot_energy(times: np.ndarray, energy: np.ndarray, *, time_unit: str = "",
                energy_unit: str = "", labels: Sequence[str] | None = None) -> Figure:
    """Total energy over time of one or several trajectories (e.g. a damped device).

    Parameters
    ----------
    times : ndarray, shape (n_records,)
        Times [time unit].
    energy : ndarray, shape (n_records,) or (batch, n_records)
        Energy [energy unit].
    time_unit, energy_unit : str
        Units for the axis labels.
    labels : sequence of str, optional
        One label per trajectory.
    """
    e = np.atleast_2d(np.asarray(energy, float))
    fig, axs = _fig()
    ax = axs[0, 0]
    for b in range(e.shape[0]):
        ax.plot(times, e[b], lw=1.0, label=None if labels is None else labels[b])
    ax.set_xlabel(f"time{f' [{time_unit}]' if time_unit else ''}")
    ax.set_ylabel(f"energy H{f' [{energy_unit}]' if energy_unit else ''}")
    ax.set_title("energy over time")
    if labels is not None:
        ax.legend(fontsize="small")
    return fig


def save_figure(fig: Figure, path, dpi: int = 110) -> None:
    """Write a figure to ``path`` (format by extension), atomically.

    The figure is written under a temporary name next to ``path`` and renamed
    into place, so a failed write (a full disk) never leaves a half-written
    file nor destroys an existing one.
    """
    path = Path(path)
    tmp = path.with_name(f".{path.name}.partial")
    try:
        fig.savefig(tmp, dpi=dpi, format=path.suffix.lstrip(".") or "png")
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise
