"""``physsim sweep`` and ``physsim plot``, and the standard figures of run and sweep files."""

from __future__ import annotations

import argparse
import signal
import sys
from pathlib import Path
from typing import Callable

import numpy as np

from ..storage.sweep_file import DONE, FAILED, PENDING
from .executors import DEFAULT_CONNECT_TIMEOUT

#: Exit status of a sweep stopped by Ctrl-C or SIGTERM (as a shell reports SIGINT).
EXIT_INTERRUPTED = 130


# --------------------------------------------------------------- standard figures
def _sweep_figures(path: Path) -> dict:
    from .. import plotting as pl  # noqa: PLC0415
    from .results import load_sweep  # noqa: PLC0415

    res = load_sweep(path)
    figs = {}
    metrics = res.metrics
    if res.n_done == 0:
        raise ValueError(f"{path}: no finished task to plot yet ({res.n_failed} failed, "
                         f"{int(np.count_nonzero(res.status == PENDING))} pending)")
    if res.axes:
        if "gradient_fidelity" in metrics:
            figs["gradient_cosine"] = pl.plot_sweep_overview(res, "cosine", lines="tensor",
                                                             threshold=0.99)
            figs["gradient_norm_ratio"] = pl.plot_sweep_overview(res, "norm_ratio",
                                                                 lines="tensor", threshold=1.0)
        if "echo_return_error" in metrics:
            figs["echo_return_error"] = pl.plot_sweep_overview(res, "echo_return_error_relative",
                                                               logy=True)
        if "energy_drift" in metrics:
            figs["energy_drift"] = pl.plot_sweep_overview(res, "energy_drift_max", logy=True)
        if "training" in metrics:
            figs["training_final_loss"] = pl.plot_sweep_overview(res, "train_loss_final",
                                                                 logy=True)
    if "train_loss" in res.curves:
        axes = range(len(res.axes)) if res.axes else [None]
        for i in axes:
            where = None
            if i is not None and res.mode != "one_at_a_time":
                where = {j: a.values[0] for j, a in enumerate(res.axes) if j != i}
            name = "training_curves" if i is None else f"training_curves_{res.axes[i].name}_{i}"
            figs[name] = pl.plot_training_curves(res, axis=i, where=where)
    return figs


def _trajectory_figures(path: Path) -> dict:
    from .. import plotting as pl  # noqa: PLC0415
    from ..storage import load_hardware_model, load_trajectory  # noqa: PLC0415

    traj = load_trajectory(path)
    figs = {}
    if traj.positions is not None:
        figs["positions"] = pl.plot_positions(traj)
        figs["phase_portrait"] = pl.plot_phase_portrait(traj)
    if traj.energy is not None:
        figs["energy"] = pl.plot_energy(traj.times, traj.energy,
                                        time_unit=traj.system.time_unit)
        figs["energy_error"] = pl.plot_energy_error(traj, driven=_driven(path),
                                                    hardware=load_hardware_model(path))
    if not figs:
        raise ValueError(f"{path}: the trajectory recorded only its final state; nothing to plot")
    return figs


def _driven(path: Path) -> bool | None:
    """Did inputs drive the run of a trajectory file? (from its stored config; None: unknown)."""
    import json  # noqa: PLC0415

    from ..storage import attribute, open_for_reading  # noqa: PLC0415

    with open_for_reading(path, None) as f:
        config = json.loads(attribute(f, "config") or "{}")
    if "system" not in config:  # not a TOML device config (e.g. a netlist run)
        return None
    inputs = config.get("inputs", {})
    return inputs.get("kind", "zeros") != "zeros" and inputs.get("amplitude", 1.0) != 0


def _demo_figures(path: Path) -> dict:
    from .. import plotting as pl  # noqa: PLC0415
    from ..storage import read_demo_run  # noqa: PLC0415
    from ..trajectory import Trajectory  # noqa: PLC0415

    run = read_demo_run(path)
    system, dt = run.device, float(run.settings["dt"])
    q, energy, times = (run.simulation[k] for k in ("positions", "energy", "times"))
    traj = Trajectory(times=times, positions=q[None], momenta=None, energy=energy[None],
                      final_positions=q[None, -1], final_momenta=np.zeros_like(q[None, -1]),
                      position_sum=None, dt=dt, n_steps=q.shape[0] - 1, record_every=1,
                      integrator="leapfrog", system=system)
    figs = {"positions": pl.plot_positions(traj),
            "energy": pl.plot_energy(times, energy, time_unit=system.time_unit)}
    if run.echo_positions:
        echo = {k: v[None] for k, v in run.echo_positions.items()}
        figs["echo_trajectories"] = pl.plot_echo_trajectories(
            echo, dof=int(np.argmax(np.ptp(q, axis=0))), dt=dt, time_unit=system.time_unit)
    if run.training:
        from ..demo import learning_curves_figure  # noqa: PLC0415

        figs["learning_curves"] = learning_curves_figure(
            {label: t.loss for label, t in run.training.items()})
    return figs


def _hssm_figures(path: Path) -> dict:
    """Loss and metric of an HSSM training run (``physsim train``) over the steps."""
    from .. import plotting as pl  # noqa: PLC0415
    from ..storage import read_run  # noqa: PLC0415

    run = read_run(path)
    h = run.history
    metric = str(run.attrs.get("metric", "metric"))
    figs = {}
    tr, ev = h.get("train", {}), h.get("eval", {})
    if "loss" not in tr or not len(tr["loss"]):
        raise ValueError(f"{path}: the run has no training steps yet")
    losses = {"train (per step)": tr["loss"]}
    steps = {"train (per step)": tr["step"]}
    for key, label in (("train_loss", "train (evaluation)"), ("val_loss", "validation")):
        if key in ev and len(ev[key]):
            losses[label], steps[label] = ev[key], ev["step"]
    figs["loss"] = pl.plot_training_curves(losses, steps=steps, spread="none",
                                           ylabel="loss")
    curves, where = {}, {}
    for group, key, label in (("eval", "train_metric", "train"), ("eval", "val_metric",
                                                                  "validation"),
                              ("test", "test_metric", "test (at best validation)")):
        g = h.get(group, {})
        if key in g and len(g[key]):
            curves[label], where[label] = g[key], g["step"]
    if curves:
        figs["metric"] = pl.plot_training_curves(curves, steps=where, spread="none",
                                                 ylabel=metric, logy=metric == "mse")
    return figs


#: Standard figures by the ``kind`` attribute of a file.
FIGURE_KINDS: dict[str, Callable[[Path], dict]] = {
    "sweep": _sweep_figures,
    "trajectory": _trajectory_figures,
    "demo": _demo_figures,
    "hssm_run": _hssm_figures,
}


def standard_figures(path: str | Path) -> dict:
    """The standard figures of a physsim run or sweep file.

    Parameters
    ----------
    path : str or Path
        A sweep file, a trajectory file (``physsim simulate``), a demo run
        file (``physsim demo``), or an HSSM training run file (``physsim train``).

    Returns
    -------
    dict of str to Figure
        Figures by name.

    Raises
    ------
    ValueError
        For a file of an unknown kind (the message lists the known ones), and
        :class:`physsim.storage.StorageError` (a ValueError) for a missing,
        truncated or damaged file.
    """
    path = Path(path)
    kind = _file_kind(path)
    if kind in FIGURE_KINDS:
        return FIGURE_KINDS[kind](path)
    raise ValueError(f"{path}: no standard figures for a file of kind {kind!r}; known kinds "
                     f"are: {', '.join(FIGURE_KINDS)}")


# ------------------------------------------------------------------------- commands
def cli_plot(argv: list[str] | None = None) -> int:
    """``physsim plot FILE.h5 [--out DIR] [--format png]``: write the standard figures."""
    parser = argparse.ArgumentParser(prog="physsim plot",
                                     description="Draw the standard figures of a physsim run or "
                                                 "sweep file.")
    parser.add_argument("file", help="HDF5 run or sweep file")
    parser.add_argument("--out", help="output folder (default: <file stem>_figures next to it)")
    parser.add_argument("--format", default="png", choices=("png", "pdf", "svg"))
    parser.add_argument("--dpi", type=int, default=110)
    args = parser.parse_args(argv)
    from ..plotting import save_figure  # noqa: PLC0415

    from ..storage import check_writable, os_error_message  # noqa: PLC0415

    path = Path(args.file)
    out = Path(args.out) if args.out else path.with_name(f"{path.stem}_figures")
    try:
        check_writable(out, folder=True)
        figs = standard_figures(path)
        for name, fig in figs.items():
            target = out / f"{name}.{args.format}"
            save_figure(fig, target, dpi=args.dpi)
            print(f"figure: {target.resolve()}")
    except (ValueError, FileNotFoundError) as exc:
        print(f"physsim plot: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the disk filled up while writing a figure
        print(f"physsim plot: error: {os_error_message(exc)}", file=sys.stderr)
        return 1
    if _file_kind(path) == "sweep":
        print(status_legend(path))
    return 0


#: What the status of a sweep point (task) means; printed by ``physsim plot`` on a sweep file.
STATUS_MEANINGS = {
    PENDING: ("pending", "not computed yet (never started, or interrupted); run the same "
                         "`physsim sweep` command again to compute it"),
    DONE: ("done", "every metric was computed; its values are in the file"),
    FAILED: ("failed", "a metric raised an error, kept in the file (results/error); "
                       "`physsim sweep CONFIG --retry-failed` computes it again"),
}
#: Done points whose warnings report a saturation (a flag on top of the status).
SATURATED_MEANING = ("a converter (DAC/ADC) or state register clipped values during the point: "
                     "its values are kept but come from clipped data (warning in "
                     "results/warnings; marked x in the figures)")


def _file_kind(path: Path) -> str:
    """The ``kind`` a physsim HDF5 file records (``"sweep"``, ``"trajectory"``, ...)."""
    from ..storage import file_kind, open_for_reading  # noqa: PLC0415

    with open_for_reading(path, None) as f:
        return file_kind(f)


def status_legend(path: str | Path) -> str:
    """The status of every point of a sweep file, counted, with what each status means.

    Parameters
    ----------
    path : str or Path
        A sweep file.

    Returns
    -------
    str
        Several lines: one per status (code, name, count, meaning), then the
        saturated points among the done ones.
    """
    from .results import load_sweep  # noqa: PLC0415

    res = load_sweep(path)
    lines = [f"status of the {res.status.size} tasks (points x seeds) in results/status:"]
    for code, (name, meaning) in STATUS_MEANINGS.items():
        count = int(np.count_nonzero(res.status == code))
        lines.append(f"  {code} {name:<8}{count:>6}  {meaning}")
    lines.append(f"    saturated{int(res.saturated.sum()):>6}  (done) {SATURATED_MEANING}")
    return "\n".join(lines)


def _point_text(res, task: int) -> str:
    """``"input_range = 0.1, seed 0"``: the swept values and the seed of one task."""
    point = int(res.task_point[task])
    parts = []
    for i, axis in enumerate(res.axes):
        c = res.coordinates[point, i]
        if not np.isnan(c):
            value = axis.values[int(c)] if axis.categorical else f"{c:g}"
            parts.append(f"{axis.label} = {value}")
    return ", ".join(parts + [f"seed {int(res.task_seed[task])}"])


def _report_saturated(res) -> None:
    """Tell the user which finished points of a loaded sweep saturated (clipped data)."""
    tasks = np.nonzero(res.saturated)[0]
    if tasks.size:
        print(f"  {tasks.size} done task(s) saturated (values kept, computed on clipped data; "
              "marked x in `physsim plot` figures):")
        for t in tasks[:5]:
            first = res.warnings[t].splitlines()[0]
            print(f"    task {int(t)} ({_point_text(res, int(t))}): {first}")
        if tasks.size > 5:
            print(f"    ... and {tasks.size - 5} more (results/warnings in the file)")


def _raise_interrupt(signum, frame):  # pragma: no cover (signal handler)
    raise KeyboardInterrupt


def cli_sweep(argv: list[str] | None = None) -> int:
    """``physsim sweep CONFIG.toml [--workers N] [--scheduler ADDRESS]``: run or resume a sweep."""
    parser = argparse.ArgumentParser(
        prog="physsim sweep",
        description="Run a noise sweep described by a TOML file; re-run the same command to "
                    "resume after an interruption.")
    parser.add_argument("config", help="sweep TOML file (see physsim.sweeps)")
    parser.add_argument("--workers", type=int, default=None,
                        help="local worker processes (default: all cores; 0: this process)")
    parser.add_argument("--scheduler", default=None,
                        help="dask.distributed scheduler address (runs on that cluster)")
    parser.add_argument("--out", default=None, help="results file (default: [sweep] output)")
    parser.add_argument("--retry-failed", action="store_true",
                        help="compute again the points recorded as failed")
    parser.add_argument("--overwrite", action="store_true",
                        help="discard an existing results file and start afresh")
    parser.add_argument("--dry-run", action="store_true",
                        help="check the config, list the axes and the number of tasks, and stop")
    parser.add_argument("--connect-timeout", type=float, default=DEFAULT_CONNECT_TIMEOUT,
                        metavar="SECONDS",
                        help=f"wait this long for the Dask scheduler (default "
                             f"{DEFAULT_CONNECT_TIMEOUT:g})")
    parser.add_argument("--quiet", action="store_true", help="no progress bar")
    args = parser.parse_args(argv)
    from ..storage import os_error_message  # noqa: PLC0415
    from .config import load_sweep_config  # noqa: PLC0415
    from .runner import run_sweep  # noqa: PLC0415

    try:
        config = load_sweep_config(args.config)
    except (ValueError, FileNotFoundError) as exc:
        print(f"physsim sweep: error: {exc}", file=sys.stderr)
        return 1
    output = args.out or config.output
    n_points = len(config.points())
    print(f"sweep {config.name}: {n_points} points x {len(config.seeds)} seeds = "
          f"{n_points * len(config.seeds)} tasks, metrics: {', '.join(config.metrics)}")
    for a in config.axes:
        print(f"  {a.label:<28} {a.field:<34} {len(a.values):>3} values "
              f"[{a.values[0]!r} .. {a.values[-1]!r}]{' (log)' if a.scale == 'log' else ''}")
    if args.dry_run:
        return 0
    previous = signal.signal(signal.SIGTERM, _raise_interrupt)
    try:
        summary = run_sweep(config, output=output, workers=args.workers,
                            scheduler=args.scheduler, retry_failed=args.retry_failed,
                            overwrite=args.overwrite, progress=not args.quiet,
                            connect_timeout=args.connect_timeout)
    except (ValueError, FileNotFoundError, ImportError, ConnectionError) as exc:
        print(f"physsim sweep: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the disk filled up while writing a point
        print(f"physsim sweep: error: {os_error_message(exc)}", file=sys.stderr)
        return 1
    finally:
        signal.signal(signal.SIGTERM, previous)
    if summary.recovered:
        print("note: the results file had been left open by an interrupted run; it was "
              "recovered and the finished points kept")
    print(f"results: {summary.path.resolve()}")
    print(f"  {summary.n_done} done, {summary.n_failed} failed, {summary.n_pending} pending "
          f"({summary.n_run} computed now on {summary.executor}, {summary.seconds:.1f} s)")
    from .results import load_sweep  # noqa: PLC0415

    res = load_sweep(summary.path)
    _report_saturated(res)
    if summary.interrupted:
        print("interrupted: finished points are saved; run the same command again to resume",
              file=sys.stderr)
        return EXIT_INTERRUPTED
    if summary.n_failed:
        fails = res.failures()
        print(f"{len(fails)} task(s) failed; their errors are in the file. First:",
              file=sys.stderr)
        for task_id, err in fails[:3]:
            print(f"  task {task_id}: {err.splitlines()[0] if err else '?'}", file=sys.stderr)
        return 1
    return 0


def _main() -> int:  # pragma: no cover
    return cli_sweep(sys.argv[1:])


if __name__ == "__main__":  # pragma: no cover
    sys.exit(_main())


__all__ = ["cli_plot", "cli_sweep", "standard_figures", "status_legend", "FIGURE_KINDS",
           "STATUS_MEANINGS"]
