"""What a sweep measures at each point: the registry of metrics.

Every metric declares the scalar columns and fixed-length curves it writes
(known before any work starts, so the results file has a fixed layout) and
computes them for one :class:`PointContext` (a problem, the point's hardware
model and a seed).  Running the metrics of a task is
:func:`physsim.sweeps.tasks.run_task`.

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
    Adam on the device's named parameters for ``steps`` steps
    (:func:`physsim.insitu.train_in_situ`) with RHEL gradients measured on the
    hardware (one device instance, fresh noise every step), or BPTT: the loss
    curve, the final loss on the device and on the ideal device, and the
    accuracy for classification losses.
``hssm_training``
    A deep HSSM (:mod:`physsim.hssm`, the ``[hssm]`` tables) trained by RHEL
    or BPTT with every HRU layer on the point's hardware (one device instance
    per seed): test and best validation metric, and the training-loss curve.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING, Any, Callable

import numpy as np

from ..bptt import bptt_gradient, loss_of
from ..device_run import prepare_batch, prepare_run
from ..gradients import agreement
from ..hardware import ECHO_PLUS_PASS, FixedChip
from ..insitu import NamedParameters, train_in_situ
from ..losses import PooledCrossEntropy
from ..passes import echo_passes, flip, forward_pass
from ..registry import lookup
from ..rhel import rhel_gradient
from ..simulate import simulate

if TYPE_CHECKING:  # annotations only: the metrics do not depend on how problems are built
    from .problem import Problem


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
    batch = prepare_batch(run, p.q0, p.p0, p.inputs,
                          None if p.inputs is not None else p.n_steps)
    fwd = forward_pass(run, batch.start, batch.inputs)
    echo = echo_passes(run, flip(run, fwd.final, ECHO_PLUS_PASS), batch.inputs, nudges=(0.0,))
    end = echo.final[0]
    qe, pe = np.asarray(end.q, float), np.asarray(end.p, float)
    # an ideal echo ends at the flipped initial state (q0, -p0)
    dist = np.sqrt(np.sum((qe - batch.start.q) ** 2 + (pe + batch.start.p) ** 2, axis=1))
    size = np.sqrt(np.sum(np.asarray(fwd.final.q, float) ** 2
                          + np.asarray(fwd.final.p, float) ** 2, axis=1))
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
    steps = int(options["steps"])
    parametrisation = NamedParameters.of(p.system, options["params"] or None)
    result = train_in_situ(parametrisation, parametrisation.initial(), p.q0, p.p0, p.inputs,
                           p.loss, steps=steps, lr=float(options["lr"]), rule=options["rule"],
                           hardware=ctx.hardware, chip_seed=ctx.seed,
                           noise_seeds=[_sub_seed(ctx.seed, 1, k) for k in range(steps)],
                           dtype=p.dtype, rhel_options=p.rhel, **p.common)
    system, chip = result.system, result.chip
    eval_seed = _sub_seed(ctx.seed, 2)
    out = {"train_loss_initial": float(result.losses[0]),
           "train_loss_final": loss_of(system, p.q0, p.p0, p.inputs, p.loss, hardware=chip,
                                       seed=eval_seed, dtype=p.dtype, **p.common),
           "train_loss_final_ideal": loss_of(system, p.q0, p.p0, p.inputs, p.loss,
                                             dtype=p.dtype, **p.common)}
    if _is_classification(p):
        out["train_accuracy_final"] = _accuracy(p, system, chip, eval_seed)
        out["train_accuracy_final_ideal"] = _accuracy(p, system, None, 0)
    return out, {"train_loss": result.losses}


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

    from ..hssm import RULES, Trainer  # noqa: PLC0415
    from ..storage.training_run import read_run  # noqa: PLC0415

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
    return lookup(METRICS, name, "metric")


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
