"""Independent reference implementations: SGD/momentum backprop and BPTT.

Written from the textbook formulas with explicit loops, sharing no code with the
HL cells or integrator, so that HL can be checked against them (and they
against central finite differences in the tests).

* :func:`mlp_sgd_reference` -- ``torch.optim.SGD`` semantics (momentum buffer
  initialised to the first gradient, dampening only afterwards) on a tanh MLP
  with softmax cross-entropy, batch size 1.
* :func:`rnn_bptt_reference` -- BPTT, optionally truncated to the last ``r``
  transitions, through an Elman tanh RNN (``h' = tanh(A h + B u + b)``) or the
  two-step midpoint RNN (``h_{k+1} = h_{k-1} + 2 dt tanh(A h_k + B u_k + b)``),
  with an affine read-out ``y = W h + c`` and a per-step loss.
* :func:`rnn_sgd_reference` -- one SGD step per sequence with those gradients.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["ReferenceRun", "mlp_sgd_reference", "rnn_bptt_reference", "rnn_sgd_reference"]


@dataclass(frozen=True)
class ReferenceRun:
    """Result of a reference training run.

    Attributes
    ----------
    params : dict
        Final parameters (same names as the inputs).
    losses : ndarray
        Loss per update (per sample or per sequence), before the update.
    """

    params: dict
    losses: np.ndarray


def _ce(logits: np.ndarray, label: int) -> tuple[float, np.ndarray]:
    m = logits.max()
    e = np.exp(logits - m)
    p = e / e.sum()
    loss = float(np.log(e.sum()) + m - logits[label])
    d = p.copy()
    d[label] -= 1.0
    return loss, d


def _sq(y: np.ndarray, t: np.ndarray) -> tuple[float, np.ndarray]:
    d = y - t
    return 0.5 * float(np.dot(d, d)), d


_LOSS_FNS = {"cross_entropy": _ce, "squared_error": _sq}


def _loss_fn(name: str):
    try:
        return _LOSS_FNS[name]
    except KeyError:
        raise ValueError(f"unknown loss {name!r}; valid: {sorted(_LOSS_FNS)}") from None


def mlp_sgd_reference(params: dict, inputs: np.ndarray, labels: np.ndarray, lr: float,
                      momentum: float = 0.0, dampening: float = 0.0) -> ReferenceRun:
    """Train a tanh MLP with softmax cross-entropy by SGD/momentum, one sample per step.

    Parameters
    ----------
    params : dict
        ``weight{i}`` ``(n_{i+1}, n_i)`` and ``bias{i}``; the last layer is linear.
    inputs : ndarray of shape (T, n_0)
        Samples in the order they are presented (epochs concatenated).
    labels : ndarray of int, shape (T,)
    lr, momentum, dampening : float
        ``torch.optim.SGD`` settings (no Nesterov, no weight decay).

    Returns
    -------
    ReferenceRun
    """
    params = {k: np.array(v, copy=True) for k, v in params.items()}
    n_layers = len(params) // 2
    buffers: dict[str, np.ndarray] = {}
    losses = np.empty(len(inputs))
    for t in range(len(inputs)):
        # forward
        acts = [inputs[t]]
        for i in range(n_layers):
            z = params[f"weight{i}"] @ acts[-1] + params[f"bias{i}"]
            acts.append(np.tanh(z) if i < n_layers - 1 else z)
        losses[t], delta = _ce(acts[-1], int(labels[t]))
        # backward
        grads = {}
        for i in range(n_layers - 1, -1, -1):
            grads[f"weight{i}"] = np.outer(delta, acts[i])
            grads[f"bias{i}"] = delta
            if i > 0:
                delta = (params[f"weight{i}"].T @ delta) * (1.0 - acts[i] ** 2)
        # torch.optim.SGD.step
        for name, g in grads.items():
            if momentum != 0:
                if name not in buffers:
                    buffers[name] = np.array(g, copy=True)
                else:
                    buffers[name] = momentum * buffers[name] + (1.0 - dampening) * g
                g = buffers[name]
            params[name] = params[name] - lr * g
    return ReferenceRun(params=params, losses=losses)


def rnn_bptt_reference(cell: str, state_params: dict, readout_params: dict, inputs: np.ndarray,
                       targets, has_target: np.ndarray, loss: str, *, truncation: int | None = None,
                       dt: float | None = None) -> tuple[float, dict, dict]:
    """Loss and (truncated) BPTT gradient of a tanh RNN with affine read-out.

    The state starts at zero; the loss is ``sum_k L(W h_{k+1} + c, y_hat_k)``
    over the steps with a target.  Truncation ``r`` keeps the last ``r``
    transitions (and their losses) and treats ``h_{n-r}`` as a constant.

    Parameters
    ----------
    cell : {"elman", "midpoint"}
    state_params : dict
        ``recurrent_weight`` A, ``input_weight`` B, ``bias`` b.
    readout_params : dict
        ``weight`` W, ``bias`` c.  For ``"midpoint"`` the read-out sees the
        current value ``h_{k+1}``.
    inputs : ndarray of shape (n, n_input)
    targets : ndarray of shape (n,) or (n, n_out)
    has_target : ndarray of bool, shape (n,)
    loss : {"cross_entropy", "squared_error"}
    truncation : int, optional
    dt : float
        Midpoint step (``"midpoint"`` only).

    Returns
    -------
    loss : float
        Full forward loss (all targets).
    grad_state, grad_readout : dict
        Gradients with the names of the parameter dicts.
    """
    if cell not in ("elman", "midpoint"):
        raise ValueError(f"unknown reference cell {cell!r}; valid: ['elman', 'midpoint']")
    if cell == "midpoint" and dt is None:
        raise ValueError("the midpoint reference needs dt")
    lfn = _loss_fn(loss)
    A, B, b = state_params["recurrent_weight"], state_params["input_weight"], state_params["bias"]
    W, c = readout_params["weight"], readout_params["bias"]
    n = len(inputs)
    r = n if truncation is None else min(int(truncation), n)
    H = A.shape[0]
    cur = [np.zeros(H)]          # h_k, k = 0..n
    prev = [np.zeros(H)]         # midpoint: h_{k-1}
    tanh_out = []                # tanh(A h_k + B u_k + b)
    for k in range(n):
        f = np.tanh(A @ cur[k] + B @ inputs[k] + b)
        tanh_out.append(f)
        if cell == "elman":
            cur.append(f)
        else:
            cur.append(prev[k] + 2.0 * dt * f)
            prev.append(cur[k])
    total = 0.0
    for k in range(n):
        if has_target[k]:
            total += lfn(W @ cur[k + 1] + c, targets[k])[0]

    gA, gB, gb = np.zeros_like(A), np.zeros_like(B), np.zeros_like(b)
    gW, gc = np.zeros_like(W), np.zeros_like(c)
    lam_cur = np.zeros(H)    # dL / d h_{k+1}
    lam_prev = np.zeros(H)   # midpoint: dL / d prev_{k+1} (= d h_k through the "previous" slot)
    for k in range(n - 1, n - 1 - r, -1):
        if has_target[k]:
            _, gy = lfn(W @ cur[k + 1] + c, targets[k])
            gW += np.outer(gy, cur[k + 1])
            gc += gy
            lam_cur = lam_cur + W.T @ gy
        if cell == "elman":
            delta = lam_cur * (1.0 - tanh_out[k] ** 2)
        else:
            delta = 2.0 * dt * lam_cur * (1.0 - tanh_out[k] ** 2)
        gA += np.outer(delta, cur[k])
        gB += np.outer(delta, inputs[k])
        gb += delta
        if cell == "elman":
            lam_cur = A.T @ delta
        else:
            lam_cur, lam_prev = lam_prev + A.T @ delta, lam_cur
    grad_state = {"recurrent_weight": gA, "input_weight": gB, "bias": gb}
    return total, grad_state, {"weight": gW, "bias": gc}


def rnn_sgd_reference(cell: str, state_params: dict, readout_params: dict, inputs: np.ndarray,
                      targets, has_target: np.ndarray, loss: str, lr: float, *,
                      truncation: int | None = None, dt: float | None = None) -> ReferenceRun:
    """SGD with one BPTT step per sequence (state reset to zero for each).

    Parameters
    ----------
    cell, loss, truncation, dt
        As in :func:`rnn_bptt_reference`.
    state_params, readout_params : dict
        Initial parameters.
    inputs : ndarray of shape (N, n, n_input)
    targets : ndarray of shape (N, n) or (N, n, n_out)
    has_target : ndarray of bool, shape (N, n)
    lr : float

    Returns
    -------
    ReferenceRun
        ``params = {"state": ..., "output": ...}``; one loss per sequence.
    """
    sp = {k: np.array(v, copy=True) for k, v in state_params.items()}
    rp = {k: np.array(v, copy=True) for k, v in readout_params.items()}
    losses = np.empty(len(inputs))
    for i in range(len(inputs)):
        losses[i], gs, gr = rnn_bptt_reference(cell, sp, rp, inputs[i], targets[i], has_target[i],
                                               loss, truncation=truncation, dt=dt)
        sp = {k: sp[k] - lr * gs[k] for k in sp}
        rp = {k: rp[k] - lr * gr[k] for k in rp}
    return ReferenceRun(params={"state": sp, "output": rp}, losses=losses)
