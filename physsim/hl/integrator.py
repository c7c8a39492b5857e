"""Explicit-Euler integration of the HL equations over a stream, in three modes.

With ``s = -1`` the Euler steps of (E*1)-(E*4) (research/hl.md section 1.5) are::

    h'       = h + tau f^h(u_k, h)                                   (E*1)
    z'       = c_z z  - s [tau (d hdot/dh)^T z]  - s (tau phi_k) dL/dh      (E*3)
    omega^h' = c_w omega^h - s [tau (d hdot/d theta^h)^T z*]                 (E*4)
    omega^y' = c_w omega^y - s (tau phi_k) dL/d theta^y
    theta'   = theta - (tau beta) omega*                             (E*2)

with ``c_w = 1 - tau eta`` and ``c_z`` from
:meth:`~physsim.hl.model.HLModel.neuron_costate_decay`.  The modes differ in
*which* quantities enter (``z*``, ``omega*``, the loss argument):

``"local"``
    Algorithm 1 verbatim (hl.md section 1.6): every quantity at ``t + tau`` from
    quantities at ``t``; the loss reads ``y_t = f^y(u_t, h_t)``, ``z* = z_t``,
    ``omega* = omega_t``.  Causal and local in time; *not* BP.
``"nonlocal"``
    The ordering constraint (hl.md sections 2.1-2.2): anticipated state (the
    loss reads ``f^y(u_t, h_{t+tau})`` with target ``y_hat_t``), costates
    updated first and then used: ``z* = z_{t+tau}``, ``omega* = omega_{t+tau}``.
    With ``h = z = 0`` before every sample (``reset`` tags) and the
    coefficients of :func:`~physsim.hl.config.sgd_to_hl` this is exactly
    SGD/momentum on the feed-forward net ("HL (output)" / "HL (state)"), bit for
    bit: when ``z = 0`` before the step, ``z_{t+tau} = -s tau phi_k dL/dh`` and
    the weight costate's drive ``(d hdot/d theta)^T z_{t+tau}`` is evaluated as
    ``-s tau phi_k (d hdot/d theta)^T dL/dh`` (the VJP is linear in its
    cotangent), the order in which SGD applies its dampening after backprop.
``"reversed"``
    The forward-then-reversed stream of hl.md section 2.4 (see
    :mod:`physsim.hl.reversed_stream`): BPTT (optionally truncated), one
    weight update per sequence.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, Callable

import numpy as np

from ..registry import lookup

from ._tree import (
    Tree,
    tree_all_finite,
    tree_copy,
    tree_leaves,
    tree_lincomb,
    tree_map,
    tree_zeros_like,
)
from .config import HLConfig
from .model import HLCostate, HLModel, HLParams
from .reversed_stream import reversed_stream_gradient
from .stream import Stream

__all__ = ["HLRunResult", "MODES", "get_mode", "hl_step", "run_hl"]


@dataclass(frozen=True)
class HLRunResult:
    """Outcome of :func:`run_hl`.

    Attributes
    ----------
    params : HLParams
        Final weights.
    costate : HLCostate
        Final costate ``[z, omega]``.
    state : Tree
        Final neuron state ``h``.
    losses : ndarray of shape (n_events,)
        Loss values: one per step with a target (local/nonlocal), or the sum
        over each sequence's targets in the forward pass (reversed).
    loss_steps : ndarray of int, shape (n_events,)
        Global HL step index of each loss value.
    n_steps : int
        Number of Euler steps integrated (reversed mode: ``n + r - 1`` per sequence).
    mode : str
    max_reconstruction_error : float or None
        Reversed mode with ``storage="reversible"``: the largest
        :attr:`~physsim.hl.reversed_stream.ReversedStreamResult.reconstruction_error`
        over the sequences; ``None`` otherwise.
    """

    params: HLParams
    costate: HLCostate
    state: Tree
    losses: np.ndarray
    loss_steps: np.ndarray
    n_steps: int
    mode: str
    max_reconstruction_error: float | None = None


# --------------------------------------------------------------------------- helpers
def _tau_beta(config: HLConfig, params: HLParams) -> Tree:
    """``tau * beta`` as a tree matching ``params`` (scalar leaves for a scalar beta)."""
    if config.scalar_beta:
        tb = config.tau_beta
        return tree_map(lambda _: tb, params)
    try:
        return tree_map(lambda _, b: config.tau * np.asarray(b), params, config.beta)
    except (ValueError, KeyError, TypeError, IndexError) as exc:
        raise ValueError(
            f"per-weight beta must have the structure of the parameters: {exc}") from None


def _apply_weight_update(params: HLParams, omega: HLParams, tau_beta: Tree) -> HLParams:
    return tree_map(lambda th, w, tb: th - tb * w, params, omega, tau_beta)


def _is_zero(tree: Tree) -> bool:
    return all(not np.any(leaf) for leaf in tree_leaves(tree))


def _check_finite_loss(value: float, k: int, mode: str) -> None:
    if not np.isfinite(value):
        raise FloatingPointError(
            f"HL ({mode}) produced a non-finite loss at step {k}: the dynamics diverged; "
            "reduce beta or tau, or increase eta"
        )


# --------------------------------------------------------------------------- one step
def hl_step(model: HLModel, params: HLParams, costate: HLCostate, h: Tree, u: np.ndarray,
            target: Any, config: HLConfig, k: int, *, local: bool,
            tau_beta: Tree | None = None) -> tuple[HLParams, HLCostate, Tree, float | None]:
    """One explicit-Euler step of the HL equations (local or nonlocal form).

    Parameters
    ----------
    model : HLModel
    params : HLParams
        ``theta_t``.
    costate : HLCostate
        ``[z_t, omega_t]``.
    h : Tree
        ``h_t``.
    u : ndarray of shape (n_input,)
    target : int or ndarray or None
        ``y_hat_t``; ``None`` if no target at this step (loss term absent).
    config : HLConfig
    k : int
        Global HL step index (selects ``phi_k``).
    local : bool
        Algorithm 1 verbatim (True) or with the ordering constraint and the
        anticipated state (False); see the module docstring.
    tau_beta : Tree, optional
        Precomputed ``tau * beta``.

    Returns
    -------
    params, costate, h, loss
        Values at ``t + tau``; ``loss`` is ``L`` at this step or ``None``.
    """
    tau, s = config.tau, config.s
    ms = float(-s)
    tp = config.tau_phi(k)
    c_w = config.costate_decay
    c_z = model.neuron_costate_decay(config)
    if tau_beta is None:
        tau_beta = _tau_beta(config, params)
    z, omega = costate

    h_next, ctx = model.state_step(params, u, h, tau)
    loss = g_h = g_y = None
    if target is not None:
        # local: y_t reads h_t; nonlocal: anticipated state h_{t+tau} paired with y_hat_t
        loss, g_h, g_y = model.output_loss(params, u, h if local else h_next, target)

    k_state = k_params_old = None
    z_is_zero = _is_zero(z)
    if model.state_cell is not None and not z_is_zero:
        k_state, k_params_old = model.state_vjp(params, ctx, z, tau)
    z_next = tree_lincomb(c_z, z, (ms, k_state), (ms * tp, g_h))

    if model.state_cell is None:
        k_params = None
    elif local:
        k_params = k_params_old
    elif z_is_zero and g_h is not None:
        # ordering constraint, z = 0 before the step (a reset): z_{t+tau} = -s tau phi_k dL/dh,
        # and the VJP is linear in its cotangent, so the scalar goes after it, where backprop
        # applies SGD's dampening: the same J_theta^T z_{t+tau}, rounded like the reference
        k_params = tree_map(lambda a: (ms * tp) * a, model.state_vjp(params, ctx, g_h, tau)[1])
    else:
        # ordering constraint: the weight costate is driven by the *updated* neuron costate
        k_params = model.state_vjp(params, ctx, z_next, tau)[1]
    omega_next = HLParams(
        state=tree_lincomb(c_w, omega.state, (ms, k_params)),
        output=tree_lincomb(c_w, omega.output, (ms * tp, g_y)),
    )
    params_next = _apply_weight_update(params, omega if local else omega_next, tau_beta)
    return params_next, HLCostate(z_next, omega_next), h_next, loss


# --------------------------------------------------------------------------- modes
def _run_forward_stream(model, params, stream, config, *, local, mode, initial_state,
                        costate, step_offset, progress):
    if model.state_cell is not None and not local:
        stream.require("reset", mode, "BP equivalence resets h and z before every sample")
    resets = stream.reset
    h0 = model.initial_state(_dtype_of(params))
    h = h0 if initial_state is None else initial_state
    costate = model.zero_costate(params, h) if costate is None else costate
    tau_beta = _tau_beta(config, params)
    losses, loss_steps = [], []
    iterator = range(len(stream))
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(iterator, desc=f"HL {mode}", unit="step")
    for i in iterator:
        k = step_offset + i
        if resets is not None and resets[i]:
            h = h0
            weight = costate.weight
            if config.reset_weight_costate:
                weight = tree_zeros_like(weight)
            costate = HLCostate(tree_zeros_like(costate.neuron), weight)
        target = stream.targets[i] if stream.has_target[i] else None
        params, costate, h, loss = hl_step(model, params, costate, h, stream.inputs[i], target,
                                           config, k, local=local, tau_beta=tau_beta)
        if loss is not None:
            _check_finite_loss(loss, k, mode)
            losses.append(loss)
            loss_steps.append(k)
    return HLRunResult(params=params, costate=costate, state=h,
                       losses=np.asarray(losses, dtype=float),
                       loss_steps=np.asarray(loss_steps, dtype=np.int64),
                       n_steps=len(stream), mode=mode)


def _run_local(model, params, stream, config, **kw):
    kw.pop("truncation", None), kw.pop("storage", None)
    return _run_forward_stream(model, params, stream, config, local=True, mode="local", **kw)


def _run_nonlocal(model, params, stream, config, **kw):
    kw.pop("truncation", None), kw.pop("storage", None)
    return _run_forward_stream(model, params, stream, config, local=False, mode="nonlocal", **kw)


def _run_reversed(model, params, stream, config, *, truncation, storage, initial_state,
                  costate, step_offset, progress):
    if model.state_cell is None:
        raise ValueError("HL mode 'reversed' needs a state network (there is nothing to "
                         "propagate back in time); use mode 'nonlocal'")
    sequences = stream.sequences("reversed")
    resets = stream.reset
    h0 = model.initial_state(_dtype_of(params))
    h = h0 if initial_state is None else initial_state
    costate = model.zero_costate(params, h) if costate is None else costate
    omega = costate.weight
    tau_beta = _tau_beta(config, params)
    losses, loss_steps = [], []
    k = step_offset
    iterator = sequences
    if progress:
        from tqdm.auto import tqdm
        iterator = tqdm(sequences, desc="HL reversed", unit="seq")
    z = costate.neuron
    max_error = None
    for start, stop in iterator:
        if resets is not None and resets[start]:
            h = h0
        if config.reset_weight_costate:
            omega = tree_zeros_like(omega)
        result = reversed_stream_gradient(
            model, params, stream.inputs[start:stop],
            None if stream.targets is None else stream.targets[start:stop],
            stream.has_target[start:stop], config, initial_state=h, truncation=truncation,
            storage=storage, weight_costate=omega, step_offset=k)
        _check_finite_loss(result.loss, k, "reversed")
        k += result.n_steps
        losses.append(result.loss)
        loss_steps.append(k - 1)
        omega = result.weight_costate
        z = result.neuron_costate
        if result.reconstruction_error is not None:
            max_error = max(result.reconstruction_error, max_error or 0.0)
        # beta is zero during the sequence and active at its final step only
        params = _apply_weight_update(params, omega, tau_beta)
        h = result.final_state
    return HLRunResult(params=params, costate=HLCostate(z, omega), state=h,
                       losses=np.asarray(losses, dtype=float),
                       loss_steps=np.asarray(loss_steps, dtype=np.int64),
                       n_steps=k - step_offset, mode="reversed",
                       max_reconstruction_error=max_error)


def _dtype_of(params: HLParams):
    leaves = tree_leaves(params)
    return leaves[0].dtype if leaves else np.float64


#: HL modes by name.
MODES: dict[str, Callable[..., HLRunResult]] = {
    "local": _run_local,
    "nonlocal": _run_nonlocal,
    "reversed": _run_reversed,
}


def get_mode(name: str) -> Callable[..., HLRunResult]:
    """Runner of an HL mode.

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message lists the valid names.
    """
    return lookup(MODES, name, "HL mode")


def run_hl(model: HLModel, params: HLParams, stream: Stream, config: HLConfig,
           mode: str = "nonlocal", *, truncation: int | None = None, storage: str = "stored",
           initial_state: Tree | None = None, costate: HLCostate | None = None,
           step_offset: int = 0, progress: bool = False) -> HLRunResult:
    """Integrate the HL equations over a whole stream.

    Parameters
    ----------
    model : HLModel
    params : HLParams
        Initial weights ``theta_0`` (not modified in place).
    stream : Stream
        Inputs, targets and tags.  ``"nonlocal"`` with a state network needs
        ``reset`` tags; ``"reversed"`` needs ``sample_end`` tags.
    config : HLConfig
    mode : {"local", "nonlocal", "reversed"}, default "nonlocal"
    truncation : int, optional
        Reversed mode only: truncated BPTT length ``r >= 1`` (default: full).
    storage : {"stored", "reversible"}, default "stored"
        Reversed mode only: keep the forward states, or recompute them with
        the inverse of a :class:`~physsim.hl.cell.ReversibleCell` (O(1) memory).
    initial_state : Tree, optional
        ``h`` at the start (default: the model's reset state).
    costate : HLCostate, optional
        ``[z, omega]`` at the start (default: zero).
    step_offset : int, default 0
        Global index of the first step (for ``phi_k`` schedules when resuming).
    progress : bool, default False
        Show a tqdm progress bar.

    Returns
    -------
    HLRunResult

    Raises
    ------
    ValueError
        Unknown mode, missing stream tags, parameters that do not fit the
        model, or options that do not apply to the mode.
    FloatingPointError
        If the loss becomes non-finite.
    """
    runner = get_mode(mode)
    model.check_params(params)
    if not tree_all_finite(params):
        raise ValueError("initial parameters contain NaN or inf")
    if stream.n_input != _expected_n_input(model, stream):
        raise ValueError(f"stream has {stream.n_input} input features, the model reads "
                         f"{_expected_n_input(model, stream)}")
    if mode != "reversed" and (truncation is not None or storage != "stored"):
        raise ValueError(f"truncation/storage apply to mode 'reversed' only, not {mode!r}")
    if truncation is not None and (int(truncation) != truncation or truncation < 1):
        raise ValueError(f"truncation must be a positive integer, got {truncation!r}")
    if int(step_offset) != step_offset or step_offset < 0:
        raise ValueError(f"step_offset must be a non-negative integer, got {step_offset!r}")
    params = tree_copy(params)
    return runner(model, params, stream, config, truncation=truncation, storage=storage,
                  initial_state=initial_state, costate=costate, step_offset=int(step_offset),
                  progress=progress)


def _expected_n_input(model: HLModel, stream: Stream) -> int:
    cells = (model.state_cell, model.output_cell)
    reads = [c.n_input for c in cells if c is not None and c.n_input]
    if not reads:
        return stream.n_input  # no cell reads u: any width is fine
    if len(set(reads)) > 1:
        raise ValueError(f"state and output networks read inputs of different widths {reads}")
    return reads[0]
