"""Recurrent Hamiltonian Echo Learning (Pourcel & Ernoult, NeurIPS 2025).

The controller runs three physical passes of the device through the public
passes API (:mod:`physsim.passes`) and never touches a kernel:

1. a free forward pass, keeping the final state (and, for some losses, the
   sum of positions, or the whole trajectory for recorded nudges);
2. a momentum flip (through the hardware model);
3. two echoes over the reversed inputs, nudged on the momenta by
   ``+eps`` and ``-eps`` times the loss cotangent, which read out the
   half-step ``dH/dtheta``.

The gradient is the finite difference

    dL/dtheta = -(1 / 2 eps) sum_k h [dH/dtheta(echo+) - dH/dtheta(echo-)]_k

and likewise for the inputs (``dH/du`` at step k gives dL/du_k) and the
initial state (the echoes' final difference, rotated).  The one-sided
estimator uses the forward pass as the reference echo (forward + one echo).

Choice of ``eps``
-----------------
The estimator is exact for any ``eps`` when the potential is quadratic and
the cotangents are fixed (linear systems), and has an ``O(eps^2)`` bias
otherwise; a tiny ``eps`` loses the echo difference in round-off, most of
all in float32.  So by default the nudge is *scaled*: ``eps`` is chosen so
that the accumulated momentum forcing ``eps * sqrt(sum_k max|dL/dq_k|^2)``
(forcing that is not phase-locked to the oscillations adds up like a random
walk) is the fraction ``relative_nudge`` of the momentum scale (the largest
final |p|, in the system's own units; 1 if the device ends at rest).  The
defaults are 1 for linear systems (exact for any size; keeps the echo
difference far above float32 resolution over 50,000 steps: cosine to float64
BPTT above 0.9999999 for a LinearHRU with a pooled read-out) and 1e-4
(float64) or 1e-2 (float32) for nonlinear ones (relative bias of the order of
the square of that fraction times the system's nonlinearity).  Pass ``eps`` to
set the raw multiplier yourself.
"""

from __future__ import annotations

from typing import Literal

import numpy as np

from .device_run import State, prepare_batch, prepare_run
from .gradients import GradientResult
from .hardware import ECHO_PLUS_PASS, FORWARD_PASS
from .losses import Loss, constant_cotangent, nudge_budget, recorded_cotangent
from .passes import DEFAULT_CHUNK, NudgeSource, echo_passes, flip, forward_pass
from .validation import check_choice

ESTIMATORS = ("centred", "one_sided")
NUDGES = ("recorded", "online")


def default_relative_nudge(system, dtype) -> float:
    """Default echo separation as a fraction of the state scale (see module docstring)."""
    if getattr(system, "is_linear", False):
        return 1.0
    return 1e-4 if np.dtype(dtype) == np.float64 else 1e-2


def rhel_gradient(system, q0, p0=None, inputs=None, loss: Loss | None = None, *,
                  n_steps: int | None = None, eps: float | None = None,
                  relative_nudge: float | None = None,
                  estimator: Literal["centred", "one_sided"] = "centred",
                  nudge: Literal["recorded", "online"] = "recorded",
                  integrator="leapfrog", dt: float | None = None, hardware=None, seed: int = 0,
                  dtype=np.float64, input_gradient: bool = True,
                  chunk_size: int = DEFAULT_CHUNK,
                  progress: bool = False, record_echoes: bool = False) -> GradientResult:
    """Gradient of ``loss`` by Recurrent Hamiltonian Echo Learning.

    Parameters
    ----------
    system : HamiltonianSystem
        The device (nominal parameters; the hardware model realises it).
    q0, p0 : array_like, shape (n_dof,) or (B, n_dof)
        Initial state (``p0=None``: zero momenta).
    inputs : array_like, shape (L, m) or (B, L, m), optional
        Input sequence.
    loss : Loss
        Loss on positions (see :mod:`physsim.losses`).
    n_steps : int, optional
        Length of an undriven run.
    eps : float, optional
        Raw nudge multiplier; default: scaled by ``relative_nudge``.
    relative_nudge : float, optional
        Total nudge as a fraction of the state scale (default
        :func:`default_relative_nudge`).
    estimator : {"centred", "one_sided"}
        Forward + two echoes (``O(eps^2)``) or forward + one echo (``O(eps)``).
    nudge : {"recorded", "online"}
        Nudge from cotangents recorded on the forward pass (exact BPTT
        equivalence; O(L) memory for per-step losses) or computed from each
        echo's own state (the physical form; O(1) memory).
    integrator : str or Integrator
        Must be time-reversible.
    dt : float, optional
        Step size (system time unit).
    hardware : HardwareModel or str, optional
        Hardware model or preset name (None: ideal).
    seed : int
        Seed of the hardware randomness.
    dtype : float64 or float32
        State precision.
    input_gradient : bool
        Also return dL/du (B, L, m) (O(L) memory).
    chunk_size : int
        Steps per compiled call of every pass (the inputs a hardware model
        writes are made chunk by chunk; nothing else depends on it).
    progress : bool
        Show progress bars.
    record_echoes : bool
        Record the positions of the forward pass and of both echoes at every
        step (for figures; O(L) memory, one compiled call per echo step).
        They are returned in ``info["echo_positions"]`` as a dict of arrays
        (B, L+1, n_dof): ``forward`` (time order), ``plus`` and ``minus``
        (echo order: entry j is echo step j, which mirrors forward state L-j).

    Returns
    -------
    GradientResult
        Gradients of the batch-mean loss (parameters summed over the batch).

    Raises
    ------
    ValueError
        For a non-reversible integrator, unknown estimator or nudge names, or
        loss data that does not fit the run.
    """
    if loss is None or not isinstance(loss, Loss):
        raise TypeError(f"loss must be a physsim.losses.Loss, got {type(loss).__name__}")
    check_choice(estimator, ESTIMATORS, "estimator")
    check_choice(nudge, NUDGES, "nudge source")
    run = prepare_run(system, dt=dt, integrator=integrator, dtype=dtype, hardware=hardware,
                      seed=seed)
    if not run.integrator.time_reversible:
        raise ValueError(f"RHEL needs a time-reversible integrator; {run.integrator.name!r} "
                         "is not. Use leapfrog, velocity_verlet or yoshida4")
    batch = prepare_batch(run, q0, p0, inputs, n_steps)
    u, L = batch.inputs.values, batch.inputs.n_steps
    loss.check_batch(batch.batch_size)
    loss.check_dof(system.n_dof)
    centred = estimator == "centred"

    # 1. forward (free) pass; for the one-sided estimator it is the reference echo
    record = (nudge == "recorded" and loss.needs == "trajectory") or record_echoes
    fwd = forward_pass(run, batch.start, batch.inputs, record_every=1 if record else 0,
                       sum_positions=loss.needs == "position_sum", readout=not centred,
                       keep_drive=input_gradient, chunk_size=chunk_size, progress=progress)
    if hasattr(loss, "n_steps"):  # pooled and final-time losses need L without a trajectory
        loss.n_steps = L
    positions = fwd.positions[:, 1:] if record else None
    observed_q = run.hardware.read_outputs(fwd.final.q, run.seed, FORWARD_PASS)
    loss_value = None
    if loss.needs != "trajectory" or positions is not None:
        try:
            loss_value = loss.value(positions, position_sum=fwd.position_sum,
                                    final_positions=observed_q)
        except ValueError:  # e.g. a cotangent sequence has no value without the trajectory
            loss_value = None

    # cotangent source: recorded on the forward pass, or computed from each echo's own state.
    # Losses that need no trajectory (pooled, final-time, given sequences) have an exact
    # source either way.
    if nudge == "recorded" and loss.needs == "trajectory":
        aux = loss.cotangents(positions, position_sum=fwd.position_sum, final_positions=observed_q)
        source = NudgeSource(recorded_cotangent, aux, np.zeros((1, 1)))
        budget = nudge_budget(aux)
    else:
        source = NudgeSource(*loss.online_source(n_steps=L, position_sum=fwd.position_sum,
                                                 final_positions=observed_q))
        budget = loss.scale_estimate(n_steps=L, position_sum=fwd.position_sum,
                                     final_positions=observed_q)
    if source.cotangent in (recorded_cotangent, constant_cotangent):
        written = run.hardware.write_nudges(np.asarray(source.data, float), run.seed,
                                            ECHO_PLUS_PASS)
        source = NudgeSource(source.cotangent, written, source.shared)
    if eps is None:
        rel = default_relative_nudge(run.system, run.dtype) if relative_nudge is None \
            else float(relative_nudge)
        # the nudge is a momentum kick: measure it against the momenta of the final state
        # (in the system's own units; SI circuits have charges ~1e-19 C)
        scale = float(np.max(np.abs(fwd.final.p)))
        if scale == 0.0:
            scale = 1.0
        eps = rel * scale / budget if budget > 0 else 1.0
    eps = float(eps)
    if not np.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a finite positive number, got {eps!r}")

    # 2. flip, 3. echoes: (+eps, -eps), or +eps alone against the forward pass
    start = flip(run, fwd.final, ECHO_PLUS_PASS)
    echo_record: list[list[np.ndarray]] = [[start.q.astype(float)], [start.q.astype(float)]]

    def record_chunk(echo: int, done: int, state: State) -> None:
        echo_record[echo].append(np.array(state.q, float))

    echo = echo_passes(run, start, batch.inputs, nudges=(eps, -eps) if centred else (eps,),
                       nudge_source=source, keep_drive=input_gradient,
                       chunk_size=1 if record_echoes else chunk_size, progress=progress,
                       on_chunk=record_chunk if record_echoes else None)
    if centred:
        g_theta, g_b = echo.readout.theta, echo.readout.input_matrix
        g_inputs = echo.readout.inputs
        end_a, end_b = echo.final
        denom = 2.0 * eps
    else:
        reference = fwd.readout
        g_theta = echo.readout.theta - reference.theta
        g_b = echo.readout.input_matrix - reference.input_matrix
        g_inputs = None
        if input_gradient and u is not None:
            g_inputs = echo.readout.inputs
            g_inputs -= reference.inputs
        # the reference "echo" is the time-reversed forward pass: its end is the flipped start
        end_a, end_b = echo.final[0], State(batch.start.q, -batch.start.p)
        denom = eps

    g_theta = run.hardware.read_accumulators(g_theta, run.seed, ECHO_PLUS_PASS)
    g_theta_total = -np.sum(g_theta, axis=0) / denom
    g_b_total = -np.sum(g_b, axis=0) / denom
    params = run.system.gradient_to_params(g_theta_total, g_b_total)
    g_u = None
    if input_gradient and u is not None:
        # the loops projected each step's drive part onto the inputs (B^T): (B, L, m)
        g_u = g_inputs
        g_u /= -denom
    # initial state: Sigma_x of the echoes' end difference (q <-> p), RHEL paper Cor. A.7
    dq = (np.asarray(end_a.q, float) - np.asarray(end_b.q, float)) / denom
    dp = (np.asarray(end_a.p, float) - np.asarray(end_b.p, float)) / denom
    info_extra = {}
    if record_echoes:
        names = ("plus", "minus")
        info_extra["echo_positions"] = {
            "forward": np.asarray(fwd.positions, float),
            **{names[i]: np.stack(v, axis=1) for i, v in enumerate(echo_record) if len(v) > 1}}
    return GradientResult(
        params=params, input_gradient=g_u, initial_position_gradient=dp,
        initial_momentum_gradient=dq, loss=loss_value, method=f"rhel-{estimator}",
        info={"eps": eps, "estimator": estimator, "nudge": nudge,
              "integrator": run.integrator.name, "dtype": np.dtype(run.dtype).name,
              "seed": run.seed, "n_steps": L, "hardware": run.hardware.describe(), **info_extra})
