"""What a sweep measures at each point: a registry of metrics, and the task runner.

Every metric declares the scalar columns and fixed-length curves it writes
(known before any work starts, so the results file has a fixed layout) and
computes them for one :class:`PointContext` (a problem, the point's hardware
model and a seed).  :func:`run_task` runs all metrics of one task and returns a
:class:`TaskResult`; it never raises: a failing metric is recorded with its
error and the remaining metrics still run.

Built-in metrics (:data:`METRICS`):

``gradient_fidelity``
    RHEL gradient on the hardware against the BPTT gradient of the ideal
    device (float64): per parameter tensor the cosine and the norm ratio
    ``|g_RHEL| / |g_BPTT|``, and the same for all parameters together.
``echo_return_error``
    Forward pass, flip, and an *un-nudged* echo over the reversed inputs: the
    distance of the echo's end from the flipped initial state ``(q0, -p0)``
    (RMS over the batch), absolute and relative to the size of the state the
    forward pass reached.  Zero up to round-off on an ideal device.
``energy_drift``
    An undriven run: the largest relative energy error
    ``max_t |H(t) - H(0)| / |H(0)|`` and the relative change at the end.
``training``
    Adam on the device's named parameters for ``steps`` steps with RHEL
    gradients measured on the hardware (one device instance, fresh noise
    every step), or BPTT: the loss curve, the final loss on the device and on
    the ideal device, and the accuracy for classification losses.
``hssm_training``
    A deep HSSM (:mod:`physsim.hssm`, the ``[hssm]`` tables) trained by RHEL
    or BPTT with every HRU layer on the point's hardware (one device instance
    per seed): test and best validation metric, and the training-loss curve.
"""

from __future__ import annotations

import os
import socket
import time
import traceback
import warnings
from dataclasses import dataclass, field, replace
from typing import Any, Callable

import numpy as np

from .. import hardware as hw_plug
from ..bptt import bptt_gradient, loss_of
from ..gradients import agreement
from ..losses import PooledCrossEntropy, constant_cotangent
from ..rhel import rhel_gradient
from ..simulate import as_batch_states, as_input_sequence, prepare_run, run_echoes, simulate
from ..hardware import FixedChip
from .problem import Problem, build_hardware, build_problem


@dataclass
class PointContext:
    """What a metric needs for one task.

    Attributes
    ----------
    problem : Problem
        Device, inputs, loss and settings.
    hardware : HardwareModel
        The point's hardware model.
    seed : int
        The task's seed (device instance and noise).
    cache : dict
        Per-process cache shared by the tasks of one sweep (e.g. the ideal
        BPTT reference gradient, which does not depend on the point).
    """

    problem: Problem
    hardware: Any
    seed: int
    cache: dict[str, Any]


@dataclass(frozen=True)
class Metric:
    """A registered metric.

    Attributes
    ----------
    name : str
        Registry name.
    options : dict
        Allowed option names and their defaults (``[metrics.<name>]``).
    columns : callable
        ``columns(problem, options) -> list of str``: scalar outputs.
    curves : callable
        ``curves(problem, options) -> dict of str to int``: fixed-length outputs.
    compute : callable
        ``compute(context, options) -> (dict of scalars, dict of arrays)``.
    description : str
        One line for listings.
    target : str
        ``"system"`` (a device simulated directly: ``[system]``) or ``"model"``
        (an HSSM: ``[hssm]``).
    """

    name: str
    options: dict[str, Any]
    columns: Callable[[Problem, dict], list[str]]
    curves: Callable[[Problem, dict], dict[str, int]]
    compute: Callable[[PointContext, dict], tuple[dict[str, float], dict[str, np.ndarray]]]
    description: str = ""
    target: str = "system"

    def resolved(self, options: dict[str, Any]) -> dict[str, Any]:
        """Defaults updated with ``options``."""
        return {**self.options, **options}


def _sub_seed(seed: int, *keys: int) -> int:
    """A non-negative integer seed derived from ``seed`` and integer keys (stable)."""
    return int(np.random.SeedSequence([int(seed), *map(int, keys)]).generate_state(1)[0])


# ------------------------------------------------------------- gradient fidelity
GRADIENT_REFERENCES = ("ideal", "device")


def _fidelity_columns(problem: Problem, options: dict) -> list[str]:
    names = list(problem.system.param_names) + ["all"]
    return [f"cosine/{n}" for n in names] + [f"norm_ratio/{n}" for n in names] + ["rhel_loss"]


def _bptt_reference(ctx: PointContext, system, key: str):
    """BPTT gradient of ``system`` (ideal hardware, float64), cached per process."""
    if key not in ctx.cache:
        p = ctx.problem
        ctx.cache[key] = bptt_gradient(system, p.q0, p.p0, p.inputs, p.loss, **p.common)
    return ctx.cache[key]


def _fidelity(ctx: PointContext, options: dict):
    p = ctx.problem
    if options["reference"] not in GRADIENT_REFERENCES:
        raise ValueError(f"unknown gradient reference {options['reference']!r}; valid names "
                         f"are: {', '.join(GRADIENT_REFERENCES)}")
    if options["reference"] == "ideal":
        ref = _bptt_reference(ctx, p.system, "bptt_ideal")
    else:  # BPTT of the device instance this seed realises (ideal dynamics and I/O)
        device = ctx.hardware.realize(p.system, ctx.seed)
        ref = bptt_gradient(device, p.q0, p.p0, p.inputs, p.loss, **p.common)
    g = rhel_gradient(p.system, p.q0, p.p0, p.inputs, p.loss, hardware=ctx.hardware,
                      seed=ctx.seed, dtype=p.dtype, input_gradient=False, **p.rhel, **p.common)
    out: dict[str, float] = {}
    names = list(p.system.param_names)
    for n in names:
        a = agreement(g.params[n], ref.params[n])
        out[f"cosine/{n}"] = a.cosine
        out[f"norm_ratio/{n}"] = a.norm_ratio
    flat = np.concatenate([np.ravel(g.params[n]) for n in names])
    flat_ref = np.concatenate([np.ravel(ref.params[n]) for n in names])
    a = agreement(flat, flat_ref)
    out["cosine/all"] = a.cosine
    out["norm_ratio/all"] = a.norm_ratio
    out["rhel_loss"] = float("nan") if g.loss is None else float(g.loss)
    return out, {}


# -------------------------------------------------------------- echo return error
def _echo_columns(problem, options):
    return ["echo_return_error", "echo_return_error_relative"]


def _echo_return(ctx: PointContext, options: dict):
    p = ctx.problem
    run = prepare_run(p.system, dt=p.dt, integrator=p.integrator, dtype=p.dtype,
                      hardware=ctx.hardware, seed=ctx.seed)
    if not run.integrator.time_reversible:
        raise ValueError(f"the echo needs a time-reversible integrator; {run.integrator.name!r} "
                         "is not")
    Q0, P0 = as_batch_states(run.system, p.q0, p.p0, run.dtype)
    u, L = as_input_sequence(run.system, p.inputs, None if p.inputs is not None else p.n_steps,
                             Q0.shape[0])
    if u is not None and u.shape[0] > 1 and Q0.shape[0] == 1:
        Q0, P0 = np.repeat(Q0, u.shape[0], 0), np.repeat(P0, u.shape[0], 0)
    fwd = simulate(run.system, Q0.copy(), P0.copy(), u, _run=run,
                   _pass_index=hw_plug.FORWARD_PASS)
    qf, pf = run.hardware.flip(fwd.final_positions.copy(), fwd.final_momenta.copy(), run.seed,
                               hw_plug.ECHO_PLUS_PASS)
    device = run.hardware.between_passes(run.system, run.seed, hw_plug.ECHO_PLUS_PASS)
    if device is not run.system:  # drift between passes: the echo runs on the drifted device
        run = replace(run, system=device, theta=device.pack_theta(run.dtype),
                      input_matrix=np.asarray(device.input_matrix, dtype=np.float64))
    n = run.system.n_dof
    m = run_echoes(run, (np.asarray(qf), np.asarray(pf)), None, u, L, nudge_a=0.0, nudge_b=0.0,
                   cotangent=constant_cotangent, aux=np.zeros((1, 1, n)),
                   aux_shared=np.zeros((1, 1)), keep_drive=False)
    qe, pe = (np.asarray(x, float) for x in m.final_a)
    # an ideal echo ends at the flipped initial state (q0, -p0)
    dist = np.sqrt(np.sum((qe - Q0) ** 2 + (pe + P0) ** 2, axis=1))
    size = np.sqrt(np.sum(np.asarray(fwd.final_positions, float) ** 2
                          + np.asarray(fwd.final_momenta, float) ** 2, axis=1))
    err = float(np.sqrt(np.mean(dist ** 2)))
    scale = float(np.sqrt(np.mean(size ** 2)))
    return {"echo_return_error": err,
            "echo_return_error_relative": err / scale if scale > 0 else float("nan")}, {}


# ------------------------------------------------------------------ energy drift
ENERGY_STATES = ("random", "task")


def _energy_columns(problem, options):
    return ["energy_drift_max", "energy_change_final"]


def _energy_drift(ctx: PointContext, options: dict):
    p = ctx.problem
    n_steps = int(options["n_steps"] or p.n_steps)
    if n_steps < 1:
        raise ValueError(f"energy_drift n_steps must be positive, got {n_steps}")
    if options["state"] not in ENERGY_STATES:
        raise ValueError(f"unknown energy_drift state {options['state']!r}; valid names are: "
                         f"{', '.join(ENERGY_STATES)}")
    if options["state"] == "task":
        q0, p0 = p.q0, p.p0
    else:  # the same random states at every point and seed (common random numbers)
        rng = np.random.default_rng(int(options["state_seed"]))
        shape = (p.q0.shape[0], p.system.n_dof)
        s = float(options["state_scale"])
        q0, p0 = s * rng.standard_normal(shape), s * rng.standard_normal(shape)
    traj = simulate(p.system, q0, p0, n_steps=n_steps, dt=p.dt, integrator=p.integrator,
                    record_every=int(options["record_every"]), record_energy=True,
                    hardware=ctx.hardware, seed=ctx.seed, dtype=p.dtype)
    e = np.asarray(traj.energy, float)
    e0 = np.abs(e[:, :1])
    if np.any(e0 == 0):
        raise ValueError("the initial energy is zero, so the relative drift is undefined; use "
                         "[metrics.energy_drift] state = \"random\" or a non-zero initial state")
    rel = (e - e[:, :1]) / e0
    return {"energy_drift_max": float(np.mean(np.max(np.abs(rel), axis=1))),
            "energy_change_final": float(np.mean(rel[:, -1]))}, {}


# ---------------------------------------------------------------------- training
TRAINING_RULES = ("rhel", "bptt")

#: Lower bounds of constrained parameters, as (absolute floor, floor relative to the
#: smallest initial value): projected after every Adam step.
_PARAMETER_FLOORS: dict[tuple[str, str], tuple[float, float]] = {
    ("LinearHRU", "A"): (0.0, 0.0),
    ("LinearHRU", "step"): (0.0, 1e-3),
    ("NonlinearHRU", "alpha"): (0.0, 0.0),
    ("NonlinearHRU", "step"): (0.0, 1e-3),
    ("CoupledOscillators", "mass"): (0.0, 1e-3),
}


def _is_classification(problem: Problem) -> bool:
    return isinstance(problem.loss, PooledCrossEntropy)


def _training_columns(problem, options):
    cols = ["train_loss_initial", "train_loss_final", "train_loss_final_ideal"]
    if _is_classification(problem):
        cols += ["train_accuracy_final", "train_accuracy_final_ideal"]
    return cols


def _training_curves(problem, options):
    return {"train_loss": int(options["steps"])}


def _accuracy(problem: Problem, system, hardware, seed) -> float:
    traj = simulate(system, problem.q0, problem.p0, problem.inputs, sum_positions=True,
                    hardware=hardware, seed=seed, dtype=problem.dtype, **problem.common)
    problem.loss.n_steps = traj.n_steps
    # as the loss value in RHEL: the pooled read-out of the positions the device went through
    return problem.loss.accuracy(position_sum=traj.position_sum)


def _training(ctx: PointContext, options: dict):
    p = ctx.problem
    steps, lr, rule = int(options["steps"]), float(options["lr"]), options["rule"]
    if steps < 1:
        raise ValueError(f"training steps must be positive, got {steps}")
    if rule not in TRAINING_RULES:
        raise ValueError(f"unknown training rule {rule!r}; valid names are: "
                         f"{', '.join(TRAINING_RULES)}")
    names = list(options["params"] or p.system.param_names)
    unknown = set(names) - set(p.system.param_names)
    if unknown:
        raise ValueError(f"unknown parameter(s) {sorted(unknown)} to train; valid names are: "
                         f"{', '.join(p.system.param_names)}")
    from ..nn.optim import Adam  # noqa: PLC0415

    chip = FixedChip(ctx.hardware, ctx.seed)
    cls = type(p.system).__name__
    theta = {n: np.array(v, dtype=float) for n, v in p.system.params.items() if n in names}
    floors = {}
    for n in names:
        absolute, relative = _PARAMETER_FLOORS.get((cls, n), (None, None))
        if absolute is not None:
            positive = theta[n][theta[n] > 0]
            floors[n] = max(absolute, relative * float(positive.min()) if positive.size else 0.0)
    opt = Adam(lr=lr)
    system = p.system
    losses = np.full(steps, np.nan)
    for k in range(steps):
        noise_seed = _sub_seed(ctx.seed, 1, k)
        if rule == "rhel":
            g = rhel_gradient(system, p.q0, p.p0, p.inputs, p.loss, hardware=chip,
                              seed=noise_seed, dtype=p.dtype, input_gradient=False, **p.rhel,
                              **p.common)
        else:
            g = bptt_gradient(system, p.q0, p.p0, p.inputs, p.loss, hardware=chip,
                              seed=noise_seed, dtype=p.dtype, **p.common)
        losses[k] = g.loss if g.loss is not None else \
            loss_of(system, p.q0, p.p0, p.inputs, p.loss, hardware=chip, seed=noise_seed,
                    dtype=p.dtype, **p.common)
        opt.step(theta, {n: np.asarray(g.params[n], float) for n in names})
        for n, lo in floors.items():
            np.maximum(theta[n], lo, out=theta[n])
        system = system.replace(**{n: (float(v) if v.ndim == 0 else v.copy())
                                   for n, v in theta.items()})
    eval_seed = _sub_seed(ctx.seed, 2)
    out = {"train_loss_initial": float(losses[0]),
           "train_loss_final": loss_of(system, p.q0, p.p0, p.inputs, p.loss, hardware=chip,
                                       seed=eval_seed, dtype=p.dtype, **p.common),
           "train_loss_final_ideal": loss_of(system, p.q0, p.p0, p.inputs, p.loss,
                                             dtype=p.dtype, **p.common)}
    if _is_classification(p):
        out["train_accuracy_final"] = _accuracy(p, system, chip, eval_seed)
        out["train_accuracy_final_ideal"] = _accuracy(p, system, None, 0)
    return out, {"train_loss": losses}


def _no_curves(problem, options):
    return {}


# ----------------------------------------------------------------- HSSM training
HSSM_COLUMNS = ["hssm_test_metric", "hssm_test_loss", "hssm_best_val_metric",
                "hssm_best_step", "hssm_final_train_loss", "hssm_steps"]


def _hssm_columns(problem, options):
    return list(HSSM_COLUMNS)


def _hssm_curves(problem, options):
    return {"hssm_train_loss": int(problem.hssm.training.max_steps)}


def _hssm_training(ctx: PointContext, options: dict):
    import tempfile  # noqa: PLC0415
    from pathlib import Path  # noqa: PLC0415

    from ..hssm import RULES, Trainer, read_run  # noqa: PLC0415

    rule = options["rule"]
    if rule not in RULES:
        raise ValueError(f"unknown learning rule {rule!r}; valid names are: {', '.join(RULES)}")
    config = ctx.problem.hssm
    with tempfile.TemporaryDirectory(prefix="physsim_sweep_hssm_") as tmp:
        trainer = Trainer(config, rule=rule, seed=ctx.seed, run_file=Path(tmp) / "run.h5",
                          progress=False)
        if not ctx.hardware.is_ideal:
            # every HRU runs on the point's hardware: one device instance per seed,
            # fresh noise at every step (the trainer reseeds the layers per step)
            chip = FixedChip(ctx.hardware, ctx.seed)
            for layer in trainer.model.hru_layers:
                layer.hardware = chip
        result = trainer.train()
        run = read_run(result.run_file)
    losses = np.asarray(run.history["train"]["loss"], float)
    tail = losses[-max(1, min(10, losses.size)):]
    values = {"hssm_test_metric": result.test_metric, "hssm_test_loss": result.test_loss,
              "hssm_best_val_metric": result.best_val_metric,
              "hssm_best_step": float(result.best_step),
              "hssm_final_train_loss": float(np.mean(tail)), "hssm_steps": float(result.steps)}
    return values, {"hssm_train_loss": losses}


#: Registry of metrics by name.
METRICS: dict[str, Metric] = {
    "gradient_fidelity": Metric(
        "gradient_fidelity", {"reference": "ideal"}, _fidelity_columns, _no_curves, _fidelity,
        "RHEL gradient on the hardware vs ideal BPTT: cosine and norm ratio per tensor"),
    "echo_return_error": Metric(
        "echo_return_error", {}, _echo_columns, _no_curves, _echo_return,
        "distance of the un-nudged echo's end from the flipped initial state"),
    "energy_drift": Metric(
        "energy_drift", {"n_steps": 0, "state": "random", "state_scale": 0.5, "state_seed": 0,
                         "record_every": 1},
        _energy_columns, _no_curves, _energy_drift,
        "largest relative energy error of an undriven run, and the final change"),
    "training": Metric(
        "training", {"steps": 20, "lr": 0.01, "rule": "rhel", "params": []},
        _training_columns, _training_curves, _training,
        "loss (and accuracy) after N Adam steps of in-situ training"),
    "hssm_training": Metric(
        "hssm_training", {"rule": "rhel"}, _hssm_columns, _hssm_curves, _hssm_training,
        "an HSSM ([hssm] tables) trained with every HRU on the point's hardware: test metric, "
        "best validation metric, training-loss curve", target="model"),
}


def get_metric(name: str) -> Metric:
    """Return a metric by name; ``ValueError`` lists the valid names."""
    try:
        return METRICS[name]
    except (KeyError, TypeError):
        raise ValueError(f"unknown metric {name!r}; valid names are: {', '.join(METRICS)}") \
            from None


def check_metric_options(name: str, options: dict[str, Any]) -> None:
    """Raise ``ValueError`` for option names a metric does not know."""
    metric = get_metric(name)
    unknown = set(options) - set(metric.options)
    if unknown:
        allowed = ", ".join(sorted(metric.options)) or "(none)"
        raise ValueError(f"[metrics.{name}]: unknown option(s) {sorted(unknown)}; allowed "
                         f"options are: {allowed}")


def layout(problem: Problem, metrics, metric_options) -> tuple[list[str], dict[str, int]]:
    """Scalar columns and curve lengths written by ``metrics`` for ``problem``."""
    columns: list[str] = []
    curves: dict[str, int] = {}
    for name in metrics:
        m = get_metric(name)
        opts = m.resolved(metric_options.get(name, {}))
        columns += m.columns(problem, opts)
        curves.update(m.curves(problem, opts))
    return columns, curves


# ------------------------------------------------------------------- task runner
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
    import json  # noqa: PLC0415

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
