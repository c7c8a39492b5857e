"""Recurrent Hamiltonian Echo Learning (Pourcel & Ernoult, NeurIPS 2025).

The controller runs three physical passes of the device through the public
simulation API and never touches a kernel:

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

from . import hardware as hw_plug
from .gradients import GradientResult
from .losses import Loss, constant_cotangent, nudge_budget, recorded_cotangent
from .simulate import (DEFAULT_CHUNK, as_batch_states, as_input_sequence, prepare_run,
                       run_echoes, simulate)

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
    if estimator not in ESTIMATORS:
        raise ValueError(f"unknown estimator {estimator!r}; "
                         f"valid names are: {', '.join(ESTIMATORS)}")
    if nudge not in NUDGES:
        raise ValueError(f"unknown nudge source {nudge!r}; valid names are: {', '.join(NUDGES)}")
    run = prepare_run(system, dt=dt, integrator=integrator, dtype=dtype, hardware=hardware,
                      seed=seed)
    if not run.integrator.time_reversible:
        raise ValueError(f"RHEL needs a time-reversible integrator; {run.integrator.name!r} "
                         "is not. Use leapfrog, velocity_verlet or yoshida4")
    Q0, P0 = as_batch_states(run.system, q0, p0, run.dtype)
    u, L = as_input_sequence(run.system, inputs, n_steps, Q0.shape[0])
    if u is not None and u.shape[0] > 1 and Q0.shape[0] == 1:
        Q0, P0 = np.repeat(Q0, u.shape[0], 0), np.repeat(P0, u.shape[0], 0)
    B = Q0.shape[0]
    loss.check_batch(B)

    # 1. forward (free) pass
    record = (nudge == "recorded" and loss.needs == "trajectory") or record_echoes
    measure = {"keep_drive": input_gradient} if estimator == "one_sided" else None
    fwd = simulate(run.system, Q0, P0, u, record_every=1 if record else 0,
                   sum_positions=loss.needs == "position_sum", chunk_size=chunk_size,
                   progress=progress, _run=run, _pass_index=hw_plug.FORWARD_PASS,
                   _measure=measure)
    if hasattr(loss, "n_steps"):  # pooled and final-time losses need L without a trajectory
        loss.n_steps = L
    positions = fwd.positions[:, 1:] if record else None
    observed_q = run.hardware.read_outputs(fwd.final_positions, run.seed, hw_plug.FORWARD_PASS)
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
        source, aux_shared = recorded_cotangent, np.zeros((1, 1))
        budget = nudge_budget(aux)
    else:
        source, aux, aux_shared = loss.online_source(n_steps=L, position_sum=fwd.position_sum,
                                                     final_positions=observed_q)
        budget = loss.scale_estimate(n_steps=L, position_sum=fwd.position_sum,
                                     final_positions=observed_q)
    if source in (recorded_cotangent, constant_cotangent):
        aux = run.hardware.write_nudges(np.asarray(aux, float), run.seed, hw_plug.ECHO_PLUS_PASS)
    if eps is None:
        rel = default_relative_nudge(run.system, run.dtype) if relative_nudge is None \
            else float(relative_nudge)
        # the nudge is a momentum kick: measure it against the momenta of the final state
        # (in the system's own units; SI circuits have charges ~1e-19 C)
        scale = float(np.max(np.abs(fwd.final_momenta)))
        if scale == 0.0:
            scale = 1.0
        eps = rel * scale / budget if budget > 0 else 1.0
    eps = float(eps)
    if not np.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a finite positive number, got {eps!r}")

    # 2. flip, 3. echoes
    qf, pf = run.hardware.flip(fwd.final_positions.copy(), fwd.final_momenta.copy(), run.seed,
                               hw_plug.ECHO_PLUS_PASS)
    echo_kwargs = dict(cotangent=source, aux=aux, aux_shared=aux_shared,
                       keep_drive=input_gradient, chunk_size=chunk_size, progress=progress)
    echo_record: dict[str, list] = {"plus": [qf.astype(float)], "minus": [qf.astype(float)]}
    if record_echoes:
        def on_chunk(done, state_a, state_b):
            echo_record["plus"].append(np.array(state_a[0], float))
            if state_b is not None:
                echo_record["minus"].append(np.array(state_b[0], float))

        echo_kwargs.update(chunk_size=1, on_chunk=on_chunk)
    if estimator == "centred":
        dev_a = run.hardware.between_passes(run.system, run.seed, hw_plug.ECHO_PLUS_PASS)
        dev_b = run.hardware.between_passes(run.system, run.seed, hw_plug.ECHO_MINUS_PASS)
        if dev_a is run.system and dev_b is run.system:
            m = run_echoes(run, (qf, pf), (qf.copy(), pf.copy()), u, L, nudge_a=eps,
                           nudge_b=-eps, **echo_kwargs)
            g_theta, g_inputs, g_b = m.theta_difference, m.input_difference, \
                m.input_matrix_difference
            end_a, end_b = m.final_a, m.final_b
        else:
            # drift between passes: the echoes run on different devices, one at a time
            ma = run_echoes(_with_device(run, dev_a), (qf, pf), None, u, L, nudge_a=eps,
                            nudge_b=0.0, pass_a=hw_plug.ECHO_PLUS_PASS, **echo_kwargs)
            if record_echoes:
                echo_record["minus"], echo_record["plus"] = echo_record["plus"], [qf.astype(float)]
            mb = run_echoes(_with_device(run, dev_b), (qf.copy(), pf.copy()), None, u, L,
                            nudge_a=-eps, nudge_b=0.0, pass_a=hw_plug.ECHO_MINUS_PASS,
                            subtract_drive_from=ma.input_difference, **echo_kwargs)
            if record_echoes:
                echo_record["minus"], echo_record["plus"] = (echo_record["plus"],
                                                             echo_record["minus"])
            g_theta = ma.theta_difference - mb.theta_difference
            # the second echo subtracted its drive part from the first's, in place
            g_inputs = mb.input_difference if input_gradient else None
            g_b = ma.input_matrix_difference - mb.input_matrix_difference
            end_a, end_b = ma.final_a, mb.final_a
        denom = 2.0 * eps
    else:
        dev_a = run.hardware.between_passes(run.system, run.seed, hw_plug.ECHO_PLUS_PASS)
        m = run_echoes(_with_device(run, dev_a), (qf, pf), None, u, L, nudge_a=eps, nudge_b=0.0,
                       **echo_kwargs)
        g_theta = m.theta_difference - measure["theta"]
        g_b = m.input_matrix_difference - measure["input_matrix"]
        g_inputs = None
        if input_gradient and u is not None:
            g_inputs = m.input_difference
            g_inputs -= measure["inputs"]
        # the reference "echo" is the time-reversed forward pass: its end is the flipped start
        end_a, end_b = m.final_a, (Q0, -P0)
        denom = eps

    g_theta = run.hardware.read_accumulators(g_theta, run.seed, hw_plug.ECHO_PLUS_PASS)
    g_theta_total = -np.sum(g_theta, axis=0) / denom
    g_b_total = -np.sum(g_b, axis=0) / denom
    params = run.system.gradient_to_params(g_theta_total, g_b_total)
    g_u = None
    if input_gradient and u is not None:
        # the loops projected each step's drive part onto the inputs (B^T): (B, L, m)
        g_u = g_inputs
        g_u /= -denom
    # initial state: Sigma_x of the echoes' end difference (q <-> p), RHEL paper Cor. A.7
    dq = (np.asarray(end_a[0], float) - np.asarray(end_b[0], float)) / denom
    dp = (np.asarray(end_a[1], float) - np.asarray(end_b[1], float)) / denom
    info_extra = {}
    if record_echoes:
        info_extra["echo_positions"] = {
            "forward": np.asarray(fwd.positions, float),
            **{k: np.stack(v, axis=1) for k, v in echo_record.items() if len(v) > 1}}
    return GradientResult(
        params=params, input_gradient=g_u, initial_position_gradient=dp,
        initial_momentum_gradient=dq, loss=loss_value, method=f"rhel-{estimator}",
        info={"eps": eps, "estimator": estimator, "nudge": nudge,
              "integrator": run.integrator.name, "dtype": np.dtype(run.dtype).name,
              "seed": run.seed, "n_steps": L, "hardware": run.hardware.describe(), **info_extra})


def _with_device(run, device):
    """A copy of a prepared run on another device instance (drift between passes)."""
    if device is run.system:
        return run
    from dataclasses import replace  # noqa: PLC0415

    return replace(run, system=device, theta=device.pack_theta(run.dtype),
                   theta64=device.pack_theta(np.float64),
                   input_matrix=np.asarray(device.input_matrix, dtype=np.float64))
