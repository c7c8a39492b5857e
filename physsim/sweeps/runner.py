"""Running a sweep: plan the tasks, skip finished ones, execute, write each result at once."""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from ..storage.paths import check_writable
from ..storage.sweep_file import DONE, FAILED, PENDING, SweepWriter
from .config import SweepConfig, load_sweep_config
from .executors import (DEFAULT_CONNECT_TIMEOUT, DaskExecutor, LocalExecutor, SerialExecutor,
                        default_workers)
from .metrics import layout
from .problem import build_problem
from .tasks import WorkSpec


@dataclass(frozen=True)
class SweepSummary:
    """What a call of :func:`run_sweep` did.

    Attributes
    ----------
    path : Path
        The results file.
    n_tasks : int
        Tasks of the sweep (points x seeds).
    n_done, n_failed, n_pending : int
        Tasks in each state when the call returned.
    n_run : int
        Tasks computed by this call (the others were already in the file).
    seconds : float
        Wall time of the call.
    interrupted : bool
        True if the call was stopped (Ctrl-C) before all tasks finished.
    recovered : bool
        True if the file had been left open by a killed run and was repaired.
    executor : str
        Where the tasks ran.
    """

    path: Path
    n_tasks: int
    n_done: int
    n_failed: int
    n_pending: int
    n_run: int
    seconds: float
    interrupted: bool
    recovered: bool
    executor: str


def _executor(workers: int | None, scheduler: str | None, connect_timeout: float):
    if scheduler is not None:
        if workers is not None:
            raise ValueError("give workers (local processes) or scheduler (a Dask cluster), "
                             "not both")
        return DaskExecutor(scheduler, connect_timeout)
    if workers is None:
        workers = default_workers()
    if not isinstance(workers, int) or workers < 0:
        raise ValueError(f"workers must be a non-negative integer (0: run in this process), "
                         f"got {workers!r}")
    return SerialExecutor() if workers == 0 else LocalExecutor(workers)


def run_sweep(config: SweepConfig | str | Path, *, output: str | Path | None = None,
              workers: int | None = None, scheduler: str | None = None,
              retry_failed: bool = False, overwrite: bool = False,
              progress: bool = True,
              connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> SweepSummary:
    """Run (or resume) a sweep and write every finished task to its HDF5 file at once.

    Parameters
    ----------
    config : SweepConfig, or path of a TOML file
        The sweep.
    output : str or Path, optional
        Results file (default: the config's ``[sweep] output``).
    workers : int, optional
        Local worker processes (default: all cores; 0 runs in this process).
    scheduler : str, optional
        Address of a ``dask.distributed`` scheduler; tasks then run on that
        cluster (needs the ``dask`` extra).
    retry_failed : bool
        Compute again the tasks recorded as failed.
    overwrite : bool
        Discard an existing results file and start afresh.
    progress : bool
        Show a progress bar (points done, time left).
    connect_timeout : float
        Seconds to wait for the Dask scheduler to answer.

    Returns
    -------
    SweepSummary

    Raises
    ------
    physsim.storage.OutputError
        Before any work, if the results file cannot be written (one line
        naming the path and the cause).
    ConnectionError
        Before the results file is opened, if the Dask scheduler does not
        answer within ``connect_timeout``.

    Notes
    -----
    Re-running the same call after an interruption (Ctrl-C, a killed process)
    computes only the tasks not yet in the file.  A task whose metrics fail is
    recorded with its error and the sweep goes on.  Results do not depend on
    the executor or the number of workers: each task carries its seed.
    """
    t0 = time.perf_counter()
    if not isinstance(config, SweepConfig):
        config = load_sweep_config(config)
    path = check_writable(output if output is not None else config.output)
    problem = build_problem(config.problem)
    columns, curves = layout(problem, config.metrics, config.metric_options)
    tasks = config.tasks()
    # reach the cluster before the file is touched: an unreachable scheduler leaves nothing
    executor = _executor(workers, scheduler, connect_timeout)
    try:
        writer = SweepWriter.open(path, config, columns, curves, overwrite=overwrite)
    except BaseException:
        executor.shutdown()
        raise
    interrupted = False
    n_run = 0
    bar = None
    try:
        status = writer.status()
        if retry_failed:
            writer.reset(np.nonzero(status == FAILED)[0])
            status = writer.status()
        todo = [t for t in tasks if status[t.task_id] == PENDING]
        spec = WorkSpec(key=config.config_hash, problem=config.problem, hardware=config.hardware,
                        metrics=config.metrics, metric_options=config.metric_options)
        if progress and todo:
            from tqdm.auto import tqdm  # noqa: PLC0415

            bar = tqdm(total=len(tasks), initial=len(tasks) - len(todo), unit="task",
                       desc=f"sweep {config.name}", smoothing=0.1)
        n_failed = int(np.count_nonzero(status == FAILED))
        try:
            for result in executor.run(spec, todo):
                writer.write(result)
                n_run += 1
                n_failed += not result.ok
                if bar is not None:
                    bar.update(1)
                    if n_failed:
                        bar.set_postfix(failed=n_failed)
        except KeyboardInterrupt:
            interrupted = True
        status = writer.status()
    finally:
        if bar is not None:
            bar.close()
        executor.shutdown(wait=not interrupted)
        writer.close()
    return SweepSummary(path=path, n_tasks=len(tasks),
                        n_done=int(np.count_nonzero(status == DONE)),
                        n_failed=int(np.count_nonzero(status == FAILED)),
                        n_pending=int(np.count_nonzero(status == PENDING)), n_run=n_run,
                        seconds=time.perf_counter() - t0, interrupted=interrupted,
                        recovered=writer.recovered, executor=executor.description)
