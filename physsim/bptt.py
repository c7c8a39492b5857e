"""Reference gradients: the discrete adjoint (BPTT) and central finite differences.

Both are independent of RHEL: BPTT differentiates the integrator step itself
(its Hessian-vector products and parameter VJPs, with the sub-step states
recomputed from stored step states, on the forward pass of
:func:`physsim.passes.forward_pass`), and finite differences only call
:func:`physsim.simulate`.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ._blocks import DriveBlocks
from ._kernels import loops
from ._memory import isolated_zeros
from .gradients import GradientResult
from .hardware import FORWARD_PASS
from .losses import Loss
from .device_run import prepare_batch, prepare_run
from .passes import DEFAULT_CHUNK, ForwardResult, forward_pass
from .simulate import simulate


def bptt_gradient(system, q0, p0=None, inputs=None, loss: Loss | None = None, *,
                  n_steps: int | None = None, integrator="leapfrog", dt: float | None = None,
                  hardware=None, seed: int = 0, dtype=np.float64, chunk_size: int = DEFAULT_CHUNK,
                  progress: bool = False, forward: ForwardResult | None = None) -> GradientResult:
    """Gradient of ``loss`` by back-propagation through time (the discrete adjoint).

    Stores the state at every step (O(L) memory) and back-propagates through
    each integrator step exactly, sub-step by sub-step.

    Parameters
    ----------
    system, q0, p0, inputs, loss, n_steps, integrator, dt, seed, dtype, chunk_size, progress
        As in :func:`physsim.rhel.rhel_gradient`.
    hardware : HardwareModel or str, optional
        Only its deterministic parts (device realisation, DAC) are
        differentiated; models with per-step noise are refused.
    forward : ForwardResult, optional
        The forward pass of this device, start state and inputs, already run by
        the caller with ``record_every=1`` (e.g. an HSSM layer's own forward
        pass); used instead of running it again (the same bits).  None: run it here.

    Returns
    -------
    GradientResult
        Gradients of the batch-mean loss.

    Raises
    ------
    ValueError
        If the system lacks the adjoint callbacks or the hardware has per-step noise.
    """
    if loss is None or not isinstance(loss, Loss):
        raise TypeError(f"loss must be a physsim.losses.Loss, got {type(loss).__name__}")
    run = prepare_run(system, dt=dt, integrator=integrator, dtype=dtype, hardware=hardware,
                      seed=seed)
    kern = run.kernels
    if not kern.has_adjoint:
        raise ValueError(f"{type(run.system).__name__} does not provide the adjoint callbacks "
                         f"{kern.missing_adjoint()} that BPTT needs")
    if run.hardware.has_step_noise or run.q_quantum > 0 or run.p_quantum > 0:
        raise ValueError("BPTT differentiates the ideal step; this hardware model perturbs every "
                         "step (noise, damping or rounding) and cannot be differentiated")
    batch = prepare_batch(run, q0, p0, inputs, n_steps)
    u, L = batch.inputs.values, batch.inputs.n_steps
    B, n = batch.start.q.shape
    loss.check_batch(B)
    loss.check_dof(n)
    loss.check_steps(L)
    if hasattr(loss, "n_steps"):
        loss.n_steps = L
    if forward is None:
        fwd = forward_pass(run, batch.start, batch.inputs, record_every=1, chunk_size=chunk_size,
                           progress=progress)
    elif forward.record_every != 1 or forward.positions is None or forward.momenta is None \
            or forward.n_steps != L or forward.positions.shape[0] != B:
        raise ValueError(f"forward: BPTT needs a forward pass of {L} steps and batch {B} run "
                         f"with record_every=1 and record_momenta=True; got {forward.n_steps} "
                         f"steps, record_every={forward.record_every}, momenta "
                         f"{'recorded' if forward.momenta is not None else 'not recorded'}")
    else:
        fwd = forward
    positions = np.asarray(fwd.positions[:, 1:], dtype=float)  # no copy in a float64 run
    loss_value = loss.value(positions)
    cot = np.ascontiguousarray(loss.cotangents(positions), dtype=run.dtype)
    del positions
    # written by the threads at every step: each array on cache lines of its own
    lam_q = isolated_zeros((B, n), run.dtype)
    lam_p = isolated_zeros((B, n), run.dtype)
    nt, nd, m = run.theta.size, run.system.n_drive, run.system.n_inputs
    g_theta = isolated_zeros((B, nt))
    g_input_t = isolated_zeros((B, m, nd))  # input-matrix gradient, transposed
    g_u = np.zeros((B, L if u is not None else 0, m))
    drives = DriveBlocks(run, u, B, L, FORWARD_PASS, reads_out=True)
    for block in drives.plan(chunk_size, "adjoint"):
        drive = drives.project(block)
        for seg in block.segments:
            loops.adjoint_run(run.kinds, run.coefs, run.h, kern.grad_kinetic,
                              kern.grad_potential, kern.hvp_kinetic, kern.hvp_potential,
                              kern.theta_vjp_kinetic, kern.theta_vjp_potential,
                              kern.drive_vjp_potential, run.theta, fwd.positions, fwd.momenta,
                              drive, drives.driven, block.lo, cot, seg.lo, seg.hi - seg.lo,
                              lam_q, lam_p, g_theta, drives.readout, block.lo)
        drives.read_out(block, descending=True, matrix_readout_t=g_input_t, inputs_gradient=g_u)
    g_b = g_input_t.transpose(0, 2, 1)
    if u is None:
        g_u = None
    params = run.system.gradient_to_params(g_theta.sum(axis=0), g_b.sum(axis=0))
    return GradientResult(params=params, input_gradient=g_u,
                          initial_position_gradient=lam_q.astype(float),
                          initial_momentum_gradient=lam_p.astype(float), loss=loss_value,
                          method="bptt",
                          info={"integrator": run.integrator.name, "n_steps": L,
                                "dtype": np.dtype(run.dtype).name})


def loss_of(system, q0, p0, inputs, loss: Loss, *, n_steps: int | None = None,
            integrator="leapfrog", dt: float | None = None, hardware=None, seed: int = 0,
            dtype=np.float64) -> float:
    """Loss value of one forward simulation (records the trajectory when the loss needs it)."""
    if hasattr(loss, "n_steps"):
        loss.n_steps = int(n_steps if inputs is None else np.shape(inputs)[-2])
    traj = simulate(system, q0, p0, inputs, n_steps=n_steps, dt=dt, integrator=integrator,
                    record_every=1 if loss.needs == "trajectory" or _needs_traj(loss) else 0,
                    sum_positions=loss.needs == "position_sum", hardware=hardware, seed=seed,
                    dtype=dtype)
    positions = traj.positions[:, 1:] if traj.positions is not None else None
    return loss.value(positions, position_sum=traj.position_sum,
                      final_positions=traj.final_positions)


def _needs_traj(loss: Loss) -> bool:
    from .losses import CotangentSequence  # noqa: PLC0415

    return isinstance(loss, CotangentSequence)


def finite_difference_gradient_check(loss_fn: Callable[[object], float], system,
                                     gradient: dict[str, np.ndarray], *, n_directions: int = 3,
                                     rel_step: float = 1e-5,
                                     rng: np.random.Generator | int | None = 0,
                                     names: tuple[str, ...] | None = None
                                     ) -> dict[str, np.ndarray]:
    """Compare a parameter gradient with central differences along random directions.

    For each named parameter ``theta`` and each random direction ``v``, the directional
    derivative ``(L(theta + h v) - L(theta - h v)) / 2h`` is compared with ``<g, v>``.
    The direction is scaled element by element to the parameter's own magnitude,
    ``v_i = r_i |theta_i|`` with ``r`` standard normal (zero entries take the RMS of the
    nonzero ones), and ``h = rel_step`` is dimensionless, so every element moves by about
    ``rel_step`` of itself whatever its unit: a capacitance of 1e-12 F and an inverse
    inductance of 5e8 1/H in one SI circuit are each perturbed by the same relative
    amount.  Symmetric matrices get symmetric directions.  Empty parameters are skipped.

    Parameters
    ----------
    loss_fn : callable
        ``loss_fn(system) -> float``.
    system : HamiltonianSystem
        Point of evaluation.
    gradient : dict of str to ndarray
        Gradient to check (e.g. ``GradientResult.params``), in loss units per parameter unit.
    n_directions : int
        Random directions per parameter.
    rel_step : float
        Relative step of each element (dimensionless).
    rng : Generator or int
        Random directions.
    names : tuple of str, optional
        Parameters to check (default: all in ``gradient``).

    Returns
    -------
    dict of str to ndarray, shape (n_directions, 2)
        Per non-empty parameter, rows of ``(finite difference, <g, v>)`` (loss units).
    """
    if not rel_step > 0:
        raise ValueError(f"rel_step must be positive, got {rel_step!r}")
    rng = np.random.default_rng(rng)
    params = system.params
    out = {}
    for name in names or tuple(gradient):
        base = np.asarray(params[name], float)
        if base.size == 0:
            continue
        g = np.asarray(gradient[name], float)
        scale = np.abs(base)
        nonzero = scale[scale > 0]
        scale = np.where(scale > 0, scale,
                         float(np.sqrt(np.mean(nonzero**2))) if nonzero.size else 1.0)
        symmetric = (base.ndim == 2 and base.shape[0] == base.shape[1]
                     and np.allclose(base, base.T))
        rows = []
        for _ in range(n_directions):
            r = rng.standard_normal(base.shape)
            v = r * scale
            if symmetric:
                v = 0.5 * (v + v.T)
            lp = loss_fn(system.replace(**{name: base + rel_step * v}))
            lm = loss_fn(system.replace(**{name: base - rel_step * v}))
            rows.append(((lp - lm) / (2 * rel_step), float(np.sum(g * v))))
        out[name] = np.array(rows)
    return out


def finite_difference_errors(rows: np.ndarray) -> np.ndarray:
    """Relative disagreement of each row ``(finite difference, <g, v>)`` of
    :func:`finite_difference_gradient_check`.

    Returns
    -------
    ndarray, shape (n_directions,)
        ``|fd - <g, v>| / max(|fd|, |<g, v>|)``; 0 where both are 0, 1 where exactly
        one is (e.g. a loss change lost to round-off while the gradient says otherwise).
    """
    rows = np.asarray(rows, float)
    size = np.maximum(np.abs(rows[:, 0]), np.abs(rows[:, 1]))
    diff = np.abs(rows[:, 0] - rows[:, 1])
    return np.divide(diff, size, out=np.zeros_like(diff), where=size > 0)
