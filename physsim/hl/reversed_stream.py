"""The forward-then-reversed stream: HL costates that reproduce BPTT (hl.md section 2.4).

A sequence ``u_0 .. u_{n-1}`` with targets ``y_hat_0 .. y_hat_{n-1}`` is streamed
forward (``n`` steps, weights frozen: ``beta = 0``), producing
``h_{k+1} = h_k + tau f^h(u_k, h_k)``; then the tokens are streamed again in
reverse without repeating the pivot ``u_{n-1}`` (``r - 1`` more steps for
truncation length ``r``, ``r = n`` for full BPTT).  The neuron costate is
zeroed at the pivot, and at the ``j``-th costate step (``k = n - 1 - j``,
``j = 0 .. r-1``) the HL Euler equations with ``s = -1`` read::

    z       <- c_z z + [tau (d hdot/dh)^T z]|_{(u_{k+1}, h_{k+1})}
                     + (tau phi) dL(h_{k+1}, y_hat_k)/dh
    omega^h <- c_w omega^h + [tau (d hdot/d theta)^T z]|_{(u_k, h_k)}
    omega^y <- c_w omega^y + (tau phi) dL(h_{k+1}, y_hat_k)/d theta^y

(hl.md Eqs. 26-27).  The state is *anticipated* (``h_{k+1}`` with target
``y_hat_k``) and the states are read back, not integrated.  With
``tau phi = 1``, ``eta = 0`` the costate after step ``j`` is
``z = dL/dh_{n-j}`` and ``omega`` the BPTT gradient (truncated to the last
``r`` transitions, ``h_{n-r}`` held fixed).  The weights change once, after
the last reversed step: ``theta <- theta - tau beta omega`` (done by
:func:`physsim.hl.run_hl`).

Storage
-------
``"stored"``
    keep the ``n + 1`` forward states (memory O(n)).
``"reversible"``
    keep only ``h_n`` and recompute ``h_k = f_hat^{-1}(u_k, h_{k+1})`` with the
    inverse of a :class:`~physsim.hl.cell.ReversibleCell` while walking back
    (memory O(1) in ``n`` besides the inputs, which the reversed stream replays).
    The inverse step yields the linearisation point of the VJP, so each reversed
    step costs one cell evaluation, as with stored states; round-off in the
    reconstruction grows with ``n`` for non-conservative cells.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..validation import check_choice

from ._tree import Tree, tree_copy, tree_lincomb, tree_max_abs_diff, tree_zeros_like
from .cell import ReversibleCell
from .config import HLConfig
from .model import HLModel, HLParams

__all__ = ["STORAGES", "ReversedStreamResult", "reversed_stream_gradient"]

#: Allowed values of the ``storage`` option.
STORAGES = ("stored", "reversible")


@dataclass(frozen=True)
class ReversedStreamResult:
    """Costates after the reversed pass over one sequence.

    Attributes
    ----------
    weight_costate : HLParams
        ``omega`` after the last reversed step; the (truncated) BPTT gradient
        of the summed loss when ``tau phi = 1``, ``eta = 0`` and ``omega``
        started at zero.
    neuron_costate : Tree
        ``z`` after the last reversed step (``dL/dh_{n-r+1}`` under the same conditions).
    final_state : Tree
        ``h_n`` at the end of the forward phase.
    loss : float
        Sum of the per-step losses of the forward phase (all targets, also
        those outside the truncation window).
    neuron_costates : list of Tree or None
        ``z`` after each costate step ``j = 0 .. r-1`` (``dL/dh_{n-j}``) when
        recorded, else ``None``.
    n_steps : int
        HL steps used: ``n`` forward (the last is the pivot) plus ``r - 1`` reversed.
    truncation : int
        Effective ``r``.
    reconstruction_error : float or None
        ``storage="reversible"`` only: max abs difference between the
        recomputed earliest state of the window, ``h_{n-r}``, and the value
        kept from the forward pass (one state, O(1) memory).  It bounds how far
        round-off has driven the recomputed states off the forward ones;
        ``None`` for stored states.
    """

    weight_costate: HLParams
    neuron_costate: Tree
    final_state: Tree
    loss: float
    neuron_costates: list | None
    n_steps: int
    truncation: int
    reconstruction_error: float | None = None


def reversed_stream_gradient(model: HLModel, params: HLParams, inputs: np.ndarray,
                             targets: Any = None, has_target: np.ndarray | None = None,
                             config: HLConfig | None = None, *, initial_state: Tree | None = None,
                             truncation: int | None = None, storage: str = "stored",
                             weight_costate: HLParams | None = None, step_offset: int = 0,
                             record_costates: bool = False) -> ReversedStreamResult:
    """Integrate the HL costates along the forward-then-reversed stream of one sequence.

    Parameters
    ----------
    model : HLModel
        Must have a state network.
    params : HLParams
        Weights, frozen during the sequence.
    inputs : ndarray of shape (n, n_input)
    targets : ndarray of shape (n,) or (n, n_out), optional
    has_target : ndarray of bool, shape (n,), optional
        Default: all True if ``targets`` is given.
    config : HLConfig, optional
        Default ``HLConfig(tau=1, phi=1, eta=0)`` (plain BPTT).
    initial_state : Tree, optional
        ``h_0`` (default: the model's reset state).
    truncation : int, optional
        ``r`` in ``[1, n]`` (larger values are clipped to ``n``); default ``n``.
    storage : {"stored", "reversible"}
    weight_costate : HLParams, optional
        ``omega`` before the sequence (default zero).
    step_offset : int
        Global HL index of the first forward step (for ``phi_k``).
    record_costates : bool
        Keep ``z`` after every costate step (O(r) memory).

    Returns
    -------
    ReversedStreamResult

    Raises
    ------
    ValueError
        Without a state network, for an unknown storage, or for
        ``storage="reversible"`` with a cell that has no inverse or with the
        velocity form.
    """
    if model.state_cell is None:
        raise ValueError("the reversed stream needs a state network")
    check_choice(storage, STORAGES, "storage")
    if storage == "reversible":
        if not isinstance(model.state_cell, ReversibleCell):
            raise ValueError(f"storage='reversible' needs a ReversibleCell state network "
                             f"(e.g. MidpointRNNCell, LinearHRUCell), got "
                             f"{type(model.state_cell).__name__}")
        if model.state_form != "instantaneous":
            raise ValueError("storage='reversible' needs state_form='instantaneous' (the Euler "
                             "step of a velocity field is not explicitly invertible)")
    config = HLConfig(tau=1.0, phi=1.0, eta=0.0) if config is None else config
    inputs = np.asarray(inputs)
    n = inputs.shape[0]
    if inputs.ndim != 2 or n == 0:
        raise ValueError(f"inputs must have shape (n >= 1, n_input), got {inputs.shape}")
    if has_target is None:
        has_target = np.full(n, targets is not None)
    if targets is None and np.any(has_target):
        raise ValueError("has_target is True somewhere but no targets were given")
    if truncation is None:
        r = n
    else:
        if int(truncation) != truncation or truncation < 1:
            raise ValueError(f"truncation must be a positive integer, got {truncation!r}")
        r = min(int(truncation), n)

    tau, ms = config.tau, float(-config.s)
    c_w = config.costate_decay
    c_z = model.neuron_costate_decay(config)
    dtype = inputs.dtype
    h = model.initial_state(dtype) if initial_state is None else initial_state
    omega = tree_zeros_like(params) if weight_costate is None else weight_costate

    # ---- forward phase: beta = 0, costate equations inert (z is zeroed at the pivot anyway)
    stored = [h] if storage == "stored" else None
    window_start = h if r == n else None  # h_{n-r}, kept to check the reversible reconstruction
    loss = 0.0
    for k in range(n):
        h, _ = model.state_step(params, inputs[k], h, tau)
        if stored is not None:
            stored.append(h)
        elif k + 1 == n - r:
            window_start = h
        if has_target[k]:
            loss += model.loss_value(params, inputs[k], h, targets[k])
    final_state = h

    # ---- pivot (j = 0, HL step n-1) and reversed phase (j >= 1, token u_{n-1-j})
    z = tree_zeros_like(h)
    pending = None  # tau (d hdot/dh)^T z at (u_{k+1}, h_{k+1}), from the previous VJP
    recorded = [] if record_costates else None
    h_next = final_state  # h_{k+1}
    for j in range(r):
        k = n - 1 - j
        tp = config.tau_phi(step_offset + n - 1 + j)
        if stored is not None:
            h_prev = stored[k]
            _, ctx = model.state_step(params, inputs[k], h_prev, tau)
        else:
            h_prev, ctx = model.state_cell.inverse_with_context(params.state, inputs[k], h_next)
        g_h = g_y = None
        if has_target[k]:
            _, g_h, g_y = model.output_loss(params, inputs[k], h_next, targets[k])
        z = tree_lincomb(c_z if j else 0.0, z, (ms, pending), (ms * tp, g_h))
        pending, k_params = model.state_vjp(params, ctx, z, tau)
        omega = HLParams(state=tree_lincomb(c_w, omega.state, (ms, k_params)),
                         output=tree_lincomb(c_w, omega.output, (ms * tp, g_y)))
        if recorded is not None:
            recorded.append(tree_copy(z))
        h_next = h_prev
    error = None if stored is not None else tree_max_abs_diff(h_next, window_start)
    return ReversedStreamResult(weight_costate=omega, neuron_costate=z, final_state=final_state,
                                loss=float(loss), neuron_costates=recorded, n_steps=n + r - 1,
                                truncation=r, reconstruction_error=error)
