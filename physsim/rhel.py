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
The centred estimator is exact for any ``eps`` when the potential is
quadratic and the cotangents are fixed (linear systems), and otherwise has a
bias ``beta eps^2`` (odd terms cancel between the two echoes).  How small
``eps`` may be is a question of arithmetic, and physsim answers it in two ways.

**Paired echoes** (the default wherever they run: the ideal device, a system
whose kernels offer pair callbacks (the NonlinearHRU, the circuit systems, the
built-in linear ones, and any user system that adds them, see
``docs/user_systems.md``) and an integrator of drifts and kicks;
:func:`physsim.passes.paired_echo_unavailable` says why not).  The two echoes
run in mean / half-difference coordinates (:mod:`physsim._kernels.paired`)
and every difference is evaluated without cancellation, so the round-off of
the estimate is relative to the gradient itself, whatever ``eps``.  The
default nudge is then tiny, :data:`PAIRED_RELATIVE_NUDGE` (1e-12 of the state
scale, scaled rule below), which puts the ``eps^2`` bias far below round-off
even on an exploding device: 3 passes (forward and one pair), no pilot.  The
echoes are still the two echoes of the ideal device with that nudge; only the
arithmetic is better.  Measured worst-tensor relative error against BPTT,
float64, L = 1000 and 10,000 (``benchmarks/bench_rhel.py``): 4e-15 to 2e-11 on
the NonlinearHRU at steps 1e-4, 1e-2 and 0.1, the Josephson example and the FPU
chain, except the step-0.1 unit at L = 10,000 (4e-8 at every nudge from 1e-10 to
1e-20 and with Richardson alike).
That unit's dynamics amplify rounding by ~1e8 over the run: the unnudged echo
misses the start by 3e-8, so the echoes cannot retrace the forward pass more
closely than that in float64, and even BPTT is 6e-10 away from the gradient
computed in 80-bit arithmetic (:mod:`physsim.systems.hru_reference`); the same
paired estimator with the device's arithmetic in 80 bits is 7e-12 from it.

**Two separate echoes** (a non-ideal hardware model, or a system without pair
callbacks).  Each echo state carries a rounding of ``u |x|`` per step, so a
small ``eps`` loses the echo difference in round-off: an error ``rho / eps``.
The two constants ``beta`` and ``rho`` differ by orders of magnitude from
device to device (measured, float64, L = 1000, worst tensor: ``beta`` from
2e-5 on the Josephson example to 5 on a NonlinearHRU at step 0.1; ``rho`` from
2e-14 to 2e-9, the largest for the NonlinearHRU's ``W`` at step 1e-4, whose
read-out carries a large, state-independent ``log cosh(Bu)/W^2`` term that
cancels between the echoes), so no fixed nudge, absolute or relative to the
state, serves every device.

On the ideal device the default is then the *balanced* nudge (``eps=None``
and ``relative_nudge=None``).  The round-off constant is measured on the run, the
bias is not (that needs a second nudge size), so the rule is: take the
*smallest* nudge whose predicted round-off is below the tolerance
``ROUNDOFF_TARGET`` (1e-7 in float64, 1e-4 in float32) for every read-out
tensor; the bias, which grows like ``eps^2``, is then as small as round-off
permits.  The round-off model, per tensor ``t``, relative to ``max|g_t|``:

* read-out rounding: ``u64 max|R_t| / (sqrt(L) max|g_t|)`` (read-outs are
  accumulated in float64 in every precision), where ``R_t`` is the
  forward pass's half-step read-out summed over the run (the per-step
  rounding of the echo read-outs adds up like a random walk);
* state rounding: ``1000 u max|Phi_L| / max|lambda_0|``: the echo states carry a
  relative error ``u``, which the dynamics amplify as they amplify the nudge
  (``lambda_0``, the initial-state gradient, measures that amplification;
  1000 is calibrated on the built-in nonlinear systems and the FPU chain);

both divided by ``eps``, with ``u`` the unit round-off of the state dtype.
The scales ``g`` and ``lambda_0`` come from a *pilot* pair of echoes at the
scaled nudge of the older rule (``relative_nudge`` of 1e-4 or 1e-2, below).
If the balanced nudge is within a factor 2 of the pilot's, the pilot is the
result (1 forward pass + 2 echoes); otherwise one more pair of echoes runs at
the balanced nudge (1 + 4 passes).  ``info["passes"]`` counts them,
``info["eps"]`` is the nudge used and ``info["paired_echoes"]`` says which
arithmetic ran.

Higher order, ``estimator="richardson"``: two centred pairs at ``eps`` and
``eps/2`` combined as ``(4 g(eps/2) - g(eps)) / 3``, which cancels the
``eps^2`` term (bias ``O(eps^4)``) and multiplies round-off by about 3.  With
separate echoes the nudge is the balanced one for the tolerance
``RICHARDSON_ROUNDOFF_TARGET`` (float64: 1e-9); cost 1 forward pass + 4
echoes, plus the pilot pair when its nudge is not already balanced (up to
1 + 6).  With paired echoes it brings nothing at the default nudge (the bias
is already below round-off) and costs 1 + 4 passes; it is for a fixed, larger
``eps`` such as a device would use.

On a non-ideal hardware model the default stays the scaled rule below: the model
above sees round-off, not the device's noise, and it picks the smallest nudge round-off
allows, against which any additive noise is largest (the gradient-fidelity sweep with
the balanced nudge puts the NonlinearHRU's momentum-noise threshold at 2e-8 instead of
1e-3).

Fixed nudges: ``eps`` sets the raw multiplier; ``relative_nudge`` the older
*scaled* rule, ``eps`` such that the accumulated momentum forcing
``eps * sqrt(sum_k max|dL/dq_k|^2)`` is that fraction of the largest final
``|p|`` (1 if the device ends at rest).  Both skip the pilot (1 + 2 passes).
Linear systems keep the scaled rule with ``relative_nudge = 1`` (exact for
any size, far above float32 resolution over 50,000 steps), 3 passes.  The one-sided
estimator has an ``O(eps)`` bias on linear systems too (the half-step ``dH/dtheta`` is
quadratic in the state), so its default is 1e-4 (float64) or 1e-2 (float32) everywhere.

What a hardware user should pick: every pass costs a run of the device, and
on hardware the round-off is the device's noise and its ADC resolution, which
the model above does not see, and a real device has no paired arithmetic: its nudge
must stand above its noise.  Simulate the device with its hardware model (a
:mod:`physsim.hardware` model or preset) at two or three fixed ``eps`` values
(start from the balanced nudge the simulator reports for separate echoes,
``rhel_gradient(..., paired=False).info["eps"]``, or from the scaled rule's 1e-4),
compare with the digital twin's exact gradient (BPTT, or paired RHEL on the ideal
device), then train with a fixed ``eps`` (3 passes per
gradient); use Richardson only where the measured ``eps^2`` bias dominates and the
device's noise leaves room (5 passes).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

import numpy as np

from .device_run import State, prepare_batch, prepare_run
from .gradients import GradientResult
from .hardware import ECHO_PLUS_PASS, FORWARD_PASS
from .losses import Loss, constant_cotangent, nudge_budget, recorded_cotangent
from .passes import (DEFAULT_CHUNK, ForwardResult, NudgeSource, Readout, echo_passes, flip,
                     forward_pass, paired_echo_unavailable)
from .validation import check_choice

ESTIMATORS = ("centred", "one_sided", "richardson")

#: Tolerated round-off of the balanced nudge, relative to each tensor's largest entry.
ROUNDOFF_TARGET = {"float64": 1e-7, "float32": 1e-4}
#: The same for the Richardson estimator, whose eps^2 bias cancels.
RICHARDSON_ROUNDOFF_TARGET = {"float64": 1e-9, "float32": 1e-5}
#: Amplification of the echo state's rounding relative to ``u |Phi| / |lambda_0|``
#: (calibrated on the built-in nonlinear systems and the FPU chain, module docstring).
STATE_ROUNDOFF_FACTOR = 1000.0
NUDGES = ("recorded", "online")
#: Default nudge of paired echoes, as a fraction of the state scale (module docstring).
PAIRED_RELATIVE_NUDGE = 1e-12


def default_relative_nudge(system, dtype, estimator: str = "centred",
                           paired: bool = False) -> float:
    """Default echo separation as a fraction of the state scale (see module docstring).

    Parameters
    ----------
    system : HamiltonianSystem
        The device (linear systems allow a large nudge, exact with a centred pair).
    dtype : numpy dtype
        State precision.
    estimator : {"centred", "one_sided", "richardson"}
        The estimate; the one-sided one is biased by ``O(nudge)`` on every device.
    paired : bool
        Whether the echo pair runs in paired coordinates
        (:func:`physsim.passes.paired_echo_unavailable`), whose round-off does not grow
        as the nudge shrinks.

    Returns
    -------
    float
        1 for a linear system with a centred or Richardson estimate;
        :data:`PAIRED_RELATIVE_NUDGE` for paired echoes; else 1e-4 (float64) or 1e-2
        (float32).
    """
    if getattr(system, "is_linear", False) and estimator != "one_sided":
        return 1.0
    if paired and estimator != "one_sided":
        return PAIRED_RELATIVE_NUDGE
    return 1e-4 if np.dtype(dtype) == np.float64 else 1e-2


def rhel_gradient(system, q0, p0=None, inputs=None, loss: Loss | None = None, *,
                  n_steps: int | None = None, eps: float | None = None,
                  relative_nudge: float | None = None,
                  estimator: Literal["centred", "one_sided", "richardson"] = "centred",
                  nudge: Literal["recorded", "online"] = "recorded",
                  integrator="leapfrog", dt: float | None = None, hardware=None, seed: int = 0,
                  dtype=np.float64, input_gradient: bool = True,
                  chunk_size: int = DEFAULT_CHUNK,
                  progress: bool = False, record_echoes: bool = False,
                  forward: ForwardResult | None = None,
                  paired: bool | None = None) -> GradientResult:
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
    estimator : {"centred", "one_sided", "richardson"}
        Forward + two echoes (``O(eps^2)``), forward + one echo (``O(eps)``), or
        forward + two pairs extrapolated (``O(eps^4)``, module docstring).
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
    forward : ForwardResult, optional
        The forward pass of this device (same system, hardware, seed, dtype,
        integrator), start state and inputs, already run by the caller with at
        least what :func:`forward_pass_options` asks for (e.g. an HSSM layer's
        own forward pass); it is used instead of running it again, which
        gives the same bits.  None: run it here.
    paired : bool, optional
        Run the centred echo pairs in paired coordinates (module docstring).  None:
        wherever they can run (:func:`physsim.passes.paired_echo_unavailable`); False:
        two separate echoes (the arithmetic of a device, with the balanced nudge on the
        ideal one); True: raise if they cannot run.

    Returns
    -------
    GradientResult
        Gradients of the batch-mean loss (parameters summed over the batch).

    Raises
    ------
    ValueError
        For a non-reversible integrator, unknown estimator or nudge names, loss
        data that does not fit the run, or ``paired=True`` where paired echoes
        cannot run.
    """
    if loss is None or not isinstance(loss, Loss):
        raise TypeError(f"loss must be a physsim.losses.Loss, got {type(loss).__name__}")
    check_choice(estimator, ESTIMATORS, "estimator")
    check_choice(nudge, NUDGES, "nudge source")
    run = prepare_run(system, dt=dt, integrator=integrator, dtype=dtype, hardware=hardware,
                      seed=seed)
    if not run.integrator.time_reversible:
        raise ValueError(f"RHEL needs a time-reversible integrator; {run.integrator.name!r} "
                         "is not (a step, a momentum flip and the same step do not return to "
                         "the start, so the echoes cannot retrace the forward pass and their "
                         "difference is not the gradient). Use leapfrog, velocity_verlet or "
                         "yoshida4; BPTT (physsim.bptt) differentiates any integrator")
    batch = prepare_batch(run, q0, p0, inputs, n_steps)
    u, L = batch.inputs.values, batch.inputs.n_steps
    loss.check_batch(batch.batch_size)
    loss.check_dof(system.n_dof)
    loss.check_steps(L)

    # 1. forward (free) pass; for the one-sided estimator it is the reference echo
    paired = _use_paired_echoes(run, estimator, paired)
    options = forward_pass_options(run, loss.needs, eps=eps, relative_nudge=relative_nudge,
                                   estimator=estimator, nudge=nudge, paired=paired,
                                   input_gradient=input_gradient, record_echoes=record_echoes)
    record = options["record_every"] == 1
    if forward is None:
        fwd = forward_pass(run, batch.start, batch.inputs, chunk_size=chunk_size,
                           progress=progress, **options)
    else:
        fwd = _check_forward(forward, options, L, batch.batch_size)
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
    if source.cotangent in (recorded_cotangent, constant_cotangent) \
            and not run.hardware.is_ideal:
        # the nudge DAC; the ideal device writes the cotangents as they are, so a
        # sequence already in the run's dtype is not widened to a float64 copy of length L
        written = run.hardware.write_nudges(np.asarray(source.data, float), run.seed,
                                            ECHO_PLUS_PASS)
        source = NudgeSource(source.cotangent, written, source.shared)
    balanced = _wants_balanced_nudge(run, eps, relative_nudge, estimator, paired)
    if eps is None:
        rel = float(relative_nudge) if relative_nudge is not None \
            else default_relative_nudge(run.system, run.dtype, estimator, paired)
        # the nudge is a momentum kick: measure it against the momenta of the final state
        # (in the system's own units; SI circuits have charges ~1e-19 C)
        scale = float(np.max(np.abs(fwd.final.p)))
        if scale == 0.0:
            scale = 1.0
        eps = rel * scale / budget if budget > 0 else 1.0
    eps = float(eps)
    if not np.isfinite(eps) or eps <= 0:
        raise ValueError(f"eps must be a finite positive number, got {eps!r}")

    # 2. flip, 3. echoes: pairs (+eps, -eps), or +eps alone against the forward pass
    start = flip(run, fwd.final, ECHO_PLUS_PASS)
    echo_record: list[list[np.ndarray]] = [[start.q.astype(float)], [start.q.astype(float)]]

    def record_chunk(echo: int, done: int, state: State) -> None:
        echo_record[echo].append(np.array(state.q, float))

    def measure(size: float, centred_pair: bool = True, record: bool = False) -> _Estimate:
        echo = echo_passes(run, start, batch.inputs,
                           nudges=(size, -size) if centred_pair else (size,),
                           paired=paired if centred_pair else None,
                           nudge_source=source, keep_drive=input_gradient,
                           chunk_size=1 if record else chunk_size, progress=progress,
                           on_chunk=record_chunk if record else None)
        if centred_pair:
            return _estimate(run, echo.readout, echo.final_difference, 2.0 * size)
        reference = fwd.readout  # the time-reversed forward pass is the reference echo
        g_inputs = None
        if input_gradient and u is not None:
            g_inputs = echo.readout.inputs
            g_inputs -= reference.inputs
        difference = Readout(theta=echo.readout.theta - reference.theta,
                             input_matrix=echo.readout.input_matrix - reference.input_matrix,
                             inputs=g_inputs)
        # the reference "echo" ends at the flipped start
        end = echo.final[0]
        return _estimate(run, difference,
                         State(np.asarray(end.q, float) - np.asarray(batch.start.q, float),
                               np.asarray(end.p, float) + np.asarray(batch.start.p, float)),
                         size)

    passes = 1
    if estimator == "one_sided":
        result = measure(eps, centred_pair=False, record=record_echoes)
        passes += 1
    else:
        result = measure(eps, record=record_echoes)
        passes += 2
        if balanced or estimator == "richardson":
            target = (RICHARDSON_ROUNDOFF_TARGET if estimator == "richardson"
                      else ROUNDOFF_TARGET)[np.dtype(run.dtype).name]
            chosen = eps if not balanced else _balanced_eps(
                run.system, result, fwd.readout, fwd.final, L, target, eps, run.dtype)
            if chosen != eps:
                eps = chosen
                result = measure(eps)
                passes += 2
            if estimator == "richardson":
                half = measure(eps / 2)
                passes += 2
                result = _Estimate.combine(half, result)
    params = run.system.gradient_to_params(result.theta, result.input_matrix)
    info_extra = {}
    if record_echoes:
        names = ("plus", "minus")
        info_extra["echo_positions"] = {
            "forward": np.asarray(fwd.positions, float),
            **{names[i]: np.stack(v, axis=1) for i, v in enumerate(echo_record) if len(v) > 1}}
    return GradientResult(
        params=params, input_gradient=result.inputs,
        initial_position_gradient=result.position, initial_momentum_gradient=result.momentum,
        loss=loss_value, method=f"rhel-{estimator}",
        info={"eps": eps, "estimator": estimator, "nudge": nudge, "passes": passes,
              "balanced_nudge": balanced, "paired_echoes": paired,
              "integrator": run.integrator.name, "dtype": np.dtype(run.dtype).name,
              "seed": run.seed, "n_steps": L, "hardware": run.hardware.describe(), **info_extra})


def forward_pass_options(run, loss_needs: str, *, eps: float | None = None,
                         relative_nudge: float | None = None, estimator: str = "centred",
                         nudge: str = "recorded", input_gradient: bool = True,
                         record_echoes: bool = False, paired: bool | None = None) -> dict:
    """What :func:`rhel_gradient` needs of its forward pass, as :func:`forward_pass` options.

    Parameters
    ----------
    run : PreparedRun
        The prepared device (:func:`physsim.device_run.prepare_run`): linear systems and
        paired echoes need no forward read-out with a centred estimate.
    loss_needs : {"trajectory", "position_sum", "final"}
        What the loss needs of the forward pass (:attr:`physsim.losses.Loss.needs`).
    eps, relative_nudge, estimator, nudge, input_gradient, record_echoes, paired
        As in :func:`rhel_gradient`.

    Returns
    -------
    dict
        ``record_every`` (1 or 0), ``sum_positions``, ``readout`` (the half-step
        read-out, which the one-sided estimate subtracts and the balanced nudge
        measures round-off with) and ``keep_drive``.
    """
    record = (nudge == "recorded" and loss_needs == "trajectory") or record_echoes
    balanced = _wants_balanced_nudge(run, eps, relative_nudge, estimator,
                                     _use_paired_echoes(run, estimator, paired))
    return {"record_every": 1 if record else 0,
            "sum_positions": loss_needs == "position_sum",
            "readout": estimator != "centred" or balanced,
            "keep_drive": input_gradient and estimator == "one_sided"}


def _use_paired_echoes(run, estimator: str, paired: bool | None) -> bool:
    """Whether the centred pairs run paired (``paired`` as in :func:`rhel_gradient`)."""
    if paired is not None and not isinstance(paired, (bool, np.bool_)):
        raise TypeError(f"paired must be True, False or None, got {paired!r}")
    reason = "the one-sided estimator runs one echo" if estimator == "one_sided" \
        else paired_echo_unavailable(run)
    if paired and reason is not None:
        raise ValueError(f"paired=True, but paired echoes cannot run: {reason}")
    return paired is not False and reason is None


def _wants_balanced_nudge(run, eps: float | None, relative_nudge: float | None,
                          estimator: str, paired: bool) -> bool:
    """Whether the nudge is chosen by :func:`_balanced_eps`.

    Only for a nonlinear device on ideal hardware whose echoes cannot run paired: the
    balanced nudge models round-off, while on a noisy device noise sets the floor and a
    larger nudge is better (non-ideal hardware keeps the scaled rule), and paired echoes
    have no round-off that grows as the nudge shrinks.
    """
    return eps is None and relative_nudge is None and estimator != "one_sided" \
        and not getattr(run.system, "is_linear", False) and run.hardware.is_ideal \
        and not paired


def _check_forward(forward: ForwardResult, options: dict, n_steps: int,
                   batch_size: int) -> ForwardResult:
    """``forward`` if it holds what ``options`` ask for; ValueError naming what is missing."""
    missing = []
    if forward.n_steps != n_steps or forward.final.q.shape[0] != batch_size:
        raise ValueError(f"forward: a pass of {forward.n_steps} steps and batch "
                         f"{forward.final.q.shape[0]} was given; the run has {n_steps} steps "
                         f"and batch {batch_size}")
    if options["record_every"] and (forward.positions is None or forward.record_every != 1):
        missing.append("record_every=1")
    if options["sum_positions"] and forward.position_sum is None:
        missing.append("sum_positions=True")
    if options["readout"] and forward.readout is None:
        missing.append("readout=True")
    if options["keep_drive"] and (forward.readout is None or forward.readout.inputs is None):
        missing.append("keep_drive=True")
    if missing:
        raise ValueError(f"forward: this RHEL estimate needs a forward pass run with "
                         f"{', '.join(missing)} (see rhel.forward_pass_options)")
    return forward


@dataclass(frozen=True)
class _Estimate:
    """One finite-difference gradient estimate (already divided by its denominator)."""

    theta: np.ndarray            # (n_theta,) packed parameter gradient
    input_matrix: np.ndarray     # (n_drive, m)
    inputs: np.ndarray | None    # (B, L, m) or None
    position: np.ndarray         # (B, n_dof) dL/dq0
    momentum: np.ndarray         # (B, n_dof) dL/dp0

    @staticmethod
    def combine(half: "_Estimate", full: "_Estimate") -> "_Estimate":
        """Richardson extrapolation ``(4 g(eps/2) - g(eps)) / 3`` of every field."""
        def mix(a, b):
            return None if a is None else (4.0 * a - b) / 3.0
        return _Estimate(*(mix(getattr(half, f), getattr(full, f))
                           for f in ("theta", "input_matrix", "inputs", "position",
                                     "momentum")))


def _estimate(run, readout: Readout, end_difference: State, denom: float) -> _Estimate:
    """Gradients from a read-out difference (first echo minus reference) and end difference."""
    g_theta = run.hardware.read_accumulators(readout.theta, run.seed, ECHO_PLUS_PASS)
    g_u = None
    if readout.inputs is not None:
        # the loops projected each step's drive part onto the inputs (B^T): (B, L, m)
        g_u = readout.inputs
        g_u /= -denom
    # initial state: Sigma_x of the echoes' end difference (q <-> p), RHEL paper Cor. A.7
    dq = np.asarray(end_difference.q, float) / denom
    dp = np.asarray(end_difference.p, float) / denom
    return _Estimate(theta=-np.sum(g_theta, axis=0) / denom,
                     input_matrix=-np.sum(readout.input_matrix, axis=0) / denom,
                     inputs=g_u, position=dp, momentum=dq)


def _balanced_eps(system, pilot: _Estimate, forward_readout: Readout, final: State,
                  n_steps: int, target: float, pilot_eps: float, dtype) -> float:
    """The smallest nudge whose predicted round-off is below ``target`` for every tensor.

    Parameters
    ----------
    system : HamiltonianSystem
        The device (for the tensor layout of the read-outs).
    pilot : _Estimate
        A centred estimate at ``pilot_eps`` (gives the gradient and
        initial-state-gradient scales).
    forward_readout : Readout
        The forward pass's half-step read-out (its size sets the read-out rounding).
    final : State
        Final forward state (its size sets the state rounding).
    n_steps : int
        Sequence length L.
    target : float
        Tolerated round-off relative to each tensor's largest entry.
    pilot_eps : float
        The pilot's nudge; returned unchanged if the balanced one is within a factor 2.
    dtype : numpy dtype
        State precision (its unit round-off ``u``).

    Returns
    -------
    float
        The nudge (see the module docstring for the model).
    """
    u = float(np.finfo(dtype).eps)
    u_readout = float(np.finfo(np.float64).eps)  # the loops read out in float64 (steps.py)
    scales = system.gradient_to_params(np.sum(np.abs(forward_readout.theta), axis=0),
                                       np.sum(np.abs(forward_readout.input_matrix), axis=0))
    grads = system.gradient_to_params(pilot.theta, pilot.input_matrix)
    rho = 0.0
    for name, g in grads.items():
        g_max = float(np.max(np.abs(g))) if np.size(g) else 0.0
        if g_max > 0.0 and np.isfinite(g_max):
            rho = max(rho, u_readout * float(np.max(np.abs(scales[name])))
                      / (g_max * np.sqrt(n_steps)))
    lam = max(float(np.max(np.abs(pilot.position))), float(np.max(np.abs(pilot.momentum))))
    state = max(float(np.max(np.abs(final.q))), float(np.max(np.abs(final.p))))
    if lam > 0.0 and np.isfinite(lam):
        rho = max(rho, STATE_ROUNDOFF_FACTOR * u * state / lam)
    if rho == 0.0:
        return pilot_eps
    chosen = rho / target
    return pilot_eps if 0.5 * pilot_eps <= chosen <= 2.0 * pilot_eps else chosen
