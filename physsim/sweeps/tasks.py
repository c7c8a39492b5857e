"""Running a sweep's tasks: the work of one task and its outcome.

:func:`run_task` builds the problem of a sweep (once per process) and the
point's hardware model, runs every metric of the task
(:mod:`physsim.sweeps.metrics`) and returns a :class:`TaskResult`; it never
raises: a failing metric is recorded with its error and the remaining metrics
still run.  Executors (:mod:`physsim.sweeps.executors`) send a
:class:`WorkSpec` and tasks to wherever they run.
"""

from __future__ import annotations

import json
import os
import socket
import time
import traceback
import warnings
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from .metrics import PointContext, get_metric
from .problem import build_hardware, build_problem


@dataclass(frozen=True)
class WorkSpec:
    """Everything a worker needs besides the task (sent once per task, small).

    Attributes
    ----------
    key : str
        The sweep's config hash (keys the per-process cache).
    problem, hardware : dict
        Tables of the sweep config.
    metrics : tuple of str
        Metric names.
    metric_options : dict
        Per-metric options.
    """

    key: str
    problem: dict[str, Any]
    hardware: dict[str, Any]
    metrics: tuple[str, ...]
    metric_options: dict[str, dict[str, Any]]


@dataclass
class TaskResult:
    """Outcome of one task.

    Attributes
    ----------
    task_id : int
        Row in the sweep file.
    ok : bool
        True if every metric succeeded.
    values : dict of str to float
        Scalar outputs (of the metrics that succeeded).
    curves : dict of str to ndarray
        Curve outputs.
    error : str
        ``"metric: ExceptionType: message"`` lines of the failures ("" if none),
        followed by the traceback of the first.
    warnings : str
        Distinct warning messages raised during the task (e.g. converter
        saturation), one per line.
    seconds : float
        Wall time of the task.
    worker : str
        ``host:pid`` of the process that ran it.
    hardware : str
        Description of the point's hardware model (JSON).
    """

    task_id: int
    ok: bool
    values: dict[str, float] = field(default_factory=dict)
    curves: dict[str, np.ndarray] = field(default_factory=dict)
    error: str = ""
    warnings: str = ""
    seconds: float = 0.0
    worker: str = ""
    hardware: str = ""


_PROCESS_CACHE: dict[str, dict[str, Any]] = {}


def _limit_threads() -> None:
    """One numba thread per task: a sweep's parallelism is across tasks."""
    try:
        import numba  # noqa: PLC0415

        if numba.get_num_threads() != 1:
            numba.set_num_threads(1)
    except (ImportError, ValueError):  # pragma: no cover
        pass


def run_task(spec: WorkSpec, task, *, limit_threads: bool = True) -> TaskResult:
    """Run every metric of one task; failures are caught and recorded, never raised.

    Parameters
    ----------
    spec : WorkSpec
        The sweep's problem, hardware base and metrics.
    task : Task
        The point settings and seed.
    limit_threads : bool
        Use one numba thread (parallelism comes from running tasks side by side).

    Returns
    -------
    TaskResult
    """
    t0 = time.perf_counter()
    if limit_threads:
        _limit_threads()
    result = TaskResult(task_id=task.task_id, ok=True,
                        worker=f"{socket.gethostname()}:{os.getpid()}")
    errors: list[str] = []
    first_traceback = ""
    seen_warnings: list[str] = []
    with warnings.catch_warnings(record=True) as caught:
        warnings.simplefilter("always")
        try:
            cache = _PROCESS_CACHE.setdefault(spec.key, {})
            if "problem" not in cache:
                cache["problem"] = build_problem(spec.problem)
            problem = cache["problem"]
            hardware = build_hardware(spec.hardware, task.settings)
            result.hardware = json.dumps(hardware.describe(), default=str)
            ctx = PointContext(problem, hardware, task.seed, cache)
        except Exception as exc:  # noqa: BLE001 (recorded, the sweep goes on)
            errors.append(f"setup: {type(exc).__name__}: {exc}")
            first_traceback = traceback.format_exc()
            ctx = None
        if ctx is not None:
            for name in spec.metrics:
                m = get_metric(name)
                try:
                    values, curves = m.compute(ctx, m.resolved(spec.metric_options.get(name, {})))
                    result.values.update({k: float(v) for k, v in values.items()})
                    result.curves.update({k: np.asarray(v, float) for k, v in curves.items()})
                except Exception as exc:  # noqa: BLE001 (recorded, the sweep goes on)
                    errors.append(f"{name}: {type(exc).__name__}: {exc}")
                    if not first_traceback:
                        first_traceback = traceback.format_exc()
        for w in caught:
            msg = f"{w.category.__name__}: {w.message}"
            if msg not in seen_warnings:
                seen_warnings.append(msg)
    if errors:
        result.ok = False
        result.error = "\n".join(errors) + "\n\n" + first_traceback
    result.warnings = "\n".join(seen_warnings[:20])
    result.seconds = time.perf_counter() - t0
    return result
