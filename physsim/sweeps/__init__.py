"""Noise sweeps: grids over hardware-model knobs x seeds, run locally or on a Dask cluster.

A sweep is a TOML file; ``physsim sweep CONFIG.toml [--workers N] [--scheduler
ADDRESS]`` runs it and writes one HDF5 file, one row per task, each written as
soon as the task returns; re-running the command resumes an interrupted sweep
(with a :class:`physsim.CodeChangedWarning` if the code is not the code that started
it: finished tasks are never recomputed).  ``physsim plot FILE.h5`` draws the
standard figures of a sweep or run file.

Example (``experiments/configs/sweep_linear_hru_noise.toml``)::

    [sweep]
    name = "linear_hru_noise"
    output = "physsim_output/sweeps/linear_hru_noise.h5"   # optional
    mode = "one_at_a_time"      # "grid" (all combinations), "zip" (axes in lock-step),
                                # or "one_at_a_time" (each axis alone, the others at base)
    seeds = [0, 1, 2]           # or n_seeds = 3; a seed fixes the device instance and noise
    metrics = ["gradient_fidelity", "echo_return_error", "energy_drift", "training"]

    [system]                    # as for `physsim simulate` (physsim.config.SYSTEM_TYPES)
    type = "linear_hru"
    n_units = 16
    n_inputs = 2
    seed = 0

    [simulation]
    n_steps = 200               # sequence length; also dt, integrator, dtype, batch
    batch = 4

    [inputs]                    # [inputs], [initial_state], [loss], [rhel]: as `physsim gradcheck`
    kind = "noise"
    [loss]
    kind = "mse"

    [hardware]                  # the base every point starts from
    preset = "discrete_lc"      # optional; models below are composed on top of it
    [hardware.FinitePrecision]  # fixed fields of a model (also [hardware.NoisyAnalog])
    position_range = 8.0

    [[axes]]                    # a log range
    field = "NoisyAnalog.momentum_noise"
    scale = "log"
    start = 1e-6
    stop = 1e-1
    num = 8

    [[axes]]                    # a list, with fields the axis needs
    field = "thermal_energy"    # plain names are fine when one model has the field
    values = [1e-8, 1e-6, 1e-4]
    fixed = { quality_factor = 1e4 }
    label = "kT (Q = 1e4)"

    [metrics.training]          # options of a metric (see METRICS)
    steps = 20
    lr = 0.01

A sweep over a deep HSSM model replaces the device tables ([system],
[simulation], [inputs], [initial_state], [loss], [rhel]) by the tables of
``physsim train`` under ``[hssm]`` and uses the ``hssm_training`` metric; every
HRU layer then runs on the point's hardware::

    [sweep]
    metrics = ["hssm_training"]
    seeds = [0, 1, 2]
    [hssm.data]
    name = "synthetic_frequencies"
    [hssm.model]
    hru = "linear"
    [hssm.training]
    max_steps = 200
    [[axes]]
    field = "NoisyAnalog.momentum_noise"
    values = [0.0, 1e-4, 1e-3]

Results do not depend on where tasks run: each task carries its seed, and
worker processes run numba on one thread each.  Scripts that call
:func:`run_sweep` with worker processes need the usual
``if __name__ == "__main__":`` guard (workers start by importing the main module).
"""

from .cli import cli_plot, cli_sweep, standard_figures
from .config import (MODES, Axis, Point, SweepConfig, Task, load_sweep_config,
                     parse_sweep_config)
from .executors import DaskExecutor, LocalExecutor, SerialExecutor
from .metrics import METRICS, Metric, get_metric
from ..hardware import FixedChip
from .problem import Problem, build_hardware, build_problem
from .runner import SweepSummary, run_sweep
from .results import SweepResults, Threshold, load_sweep
from .tasks import TaskResult, run_task

__all__ = [
    "MODES", "METRICS", "Axis", "DaskExecutor", "FixedChip", "LocalExecutor", "Metric", "Point",
    "Problem", "SerialExecutor", "SweepConfig",
    "SweepResults", "SweepSummary", "Task", "TaskResult", "Threshold", "build_hardware",
    "build_problem", "cli_plot", "cli_sweep", "get_metric", "load_sweep", "load_sweep_config",
    "parse_sweep_config", "run_sweep", "run_task", "standard_figures",
]
