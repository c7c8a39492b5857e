"""Independent reference implementations: SGD/momentum backprop and BPTT.

Written from the textbook formulas with explicit loops, sharing no code with the
HL cells or integrator, so that HL can be checked against them (and they
against central finite differences in the tests).

* :func:`sgd_reference` -- ``torch.optim.SGD`` semantics (momentum buffer
  initialised to the first gradient, dampening only afterwards), batch size 1,
  driven by one of the per-sample cross-entropy gradients written here by hand:
  :func:`mlp_loss_and_grad` (tanh MLP; one layer is the linear model),
  :func:`resnet_loss_and_grad` (fully connected residual network),
  :func:`vit_loss_and_grad` (one-layer vision transformer) and
  :func:`lstm_loss_and_grad` (LSTM classifier, BPTT over the sequence);
  :func:`mlp_sgd_reference` is the MLP case.
* :func:`rnn_bptt_reference` -- BPTT, optionally truncated to the last ``r``
  transitions, through an Elman tanh RNN (``h' = tanh(A h + B u + b)``) or the
  two-step midpoint RNN (``h_{k+1} = h_{k-1} + 2 dt tanh(A h_k + B u_k + b)``),
  with an affine read-out ``y = W h + c`` and a per-step loss.
* :func:`rnn_sgd_reference` -- one SGD step per sequence with those gradients.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..registry import lookup
from ..validation import check_choice

__all__ = [
    "ReferenceRun",
    "lstm_loss_and_grad",
    "mlp_loss_and_grad",
    "mlp_sgd_reference",
    "resnet_loss_and_grad",
    "rnn_bptt_reference",
    "rnn_sgd_reference",
    "sgd_reference",
    "vit_loss_and_grad",
]


@dataclass(frozen=True)
class ReferenceRun:
    """Result of a reference training run.

    Attributes
    ----------
    params : dict
        Final parameters (same names as the inputs).
    losses : ndarray
        Loss per update (per sample or per sequence), before the update.
    correct : ndarray of bool or None
        Per-sample runs: whether the prediction before the update was right.
    snapshots : list of dict or None
        Parameters every ``snapshot_every`` steps, when asked for.
    """

    params: dict
    losses: np.ndarray
    correct: np.ndarray | None = None
    snapshots: list | None = None


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
    return lookup(_LOSS_FNS, name, "loss")


def sgd_reference(loss_and_grad: Callable[[dict, np.ndarray, int], tuple[float, dict, bool]],
                  params: dict, inputs: np.ndarray, labels: np.ndarray, lr: float,
                  momentum: float = 0.0, dampening: float = 0.0, *,
                  snapshot_every: int | None = None) -> ReferenceRun:
    """``torch.optim.SGD`` (no Nesterov, no weight decay), one sample per step.

    Parameters
    ----------
    loss_and_grad : callable
        ``loss_and_grad(params, x, label) -> (loss, grads, correct)`` with
        ``grads`` named as ``params`` (one of the ``*_loss_and_grad`` functions
        here, with extra keywords bound by :func:`functools.partial`).
    params : dict
        Initial parameters (not modified).
    inputs : ndarray of shape (T, ...)
        Samples in the order they are presented (epochs concatenated).
    labels : ndarray of int, shape (T,)
    lr, momentum, dampening : float
        ``torch.optim.SGD`` settings: the momentum buffer is the first
        gradient, then ``b <- momentum b + (1 - dampening) g``; ``theta <- theta - lr b``.
    snapshot_every : int, optional
        Keep a copy of the parameters every that many steps (and at step 0).

    Returns
    -------
    ReferenceRun
    """
    params = {k: np.array(v, copy=True) for k, v in params.items()}
    buffers: dict[str, np.ndarray] = {}
    losses = np.empty(len(inputs))
    correct = np.empty(len(inputs), dtype=bool)
    snapshots = [] if snapshot_every else None
    for t in range(len(inputs)):
        if snapshots is not None and t % snapshot_every == 0:
            snapshots.append({k: v.copy() for k, v in params.items()})
        losses[t], grads, correct[t] = loss_and_grad(params, inputs[t], int(labels[t]))
        for name, g in grads.items():
            if momentum != 0:
                if name not in buffers:
                    buffers[name] = np.array(g, copy=True)
                else:
                    buffers[name] = momentum * buffers[name] + (1.0 - dampening) * g
                g = buffers[name]
            params[name] = params[name] - lr * g
    if snapshots is not None and len(inputs) % snapshot_every == 0:
        snapshots.append({k: v.copy() for k, v in params.items()})
    return ReferenceRun(params=params, losses=losses, correct=correct, snapshots=snapshots)


def mlp_loss_and_grad(params: dict, x: np.ndarray, label: int) -> tuple[float, dict, bool]:
    """Cross-entropy of a tanh MLP (last layer linear) and its gradient by backprop.

    Parameters
    ----------
    params : dict
        ``weight{i}`` ``(n_{i+1}, n_i)`` and ``bias{i}``.
    x : ndarray of shape (n_0,)
    label : int

    Returns
    -------
    loss : float
    grads : dict
        Same names and shapes as ``params``.
    correct : bool
        Whether the arg-max of the logits is ``label`` (before any update).
    """
    n_layers = len(params) // 2
    acts = [x]
    for i in range(n_layers):
        z = params[f"weight{i}"] @ acts[-1] + params[f"bias{i}"]
        acts.append(np.tanh(z) if i < n_layers - 1 else z)
    loss, delta = _ce(acts[-1], label)
    grads = {}
    for i in range(n_layers - 1, -1, -1):
        grads[f"weight{i}"] = np.outer(delta, acts[i])
        grads[f"bias{i}"] = delta
        if i > 0:
            delta = (params[f"weight{i}"].T @ delta) * (1.0 - acts[i] ** 2)
    return loss, grads, bool(np.argmax(acts[-1]) == label)


def mlp_sgd_reference(params: dict, inputs: np.ndarray, labels: np.ndarray, lr: float,
                      momentum: float = 0.0, dampening: float = 0.0) -> ReferenceRun:
    """Train a tanh MLP with softmax cross-entropy by SGD/momentum, one sample per step.

    :func:`sgd_reference` with :func:`mlp_loss_and_grad`; see there for the arguments.
    """
    return sgd_reference(mlp_loss_and_grad, params, inputs, labels, lr, momentum, dampening)


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
    check_choice(cell, ("elman", "midpoint"), "reference cell")
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


def resnet_loss_and_grad(params: dict, x: np.ndarray, label: int) -> tuple[float, dict, bool]:
    """Cross-entropy of the fully connected tanh residual network and its gradient.

    ``s_0 = W_in x + b_in``; ``s_{k+1} = s_k + W2_k tanh(W1_k s_k + b1_k) + b2_k``;
    logits ``W_out s_K + b_out`` (names as :class:`physsim.hl.ResidualMLP`;
    the number of blocks is read from the names).

    Returns
    -------
    loss, grads, correct
        As :func:`mlp_loss_and_grad`.
    """
    n_blocks = sum(1 for name in params if name.endswith("_weight1"))
    s = [params["input_weight"] @ x + params["input_bias"]]
    t = []
    for k in range(n_blocks):
        t.append(np.tanh(params[f"block{k}_weight1"] @ s[k] + params[f"block{k}_bias1"]))
        s.append(s[k] + (params[f"block{k}_weight2"] @ t[k] + params[f"block{k}_bias2"]))
    logits = params["output_weight"] @ s[n_blocks] + params["output_bias"]
    loss, g_logits = _ce(logits, label)
    grads = {"output_weight": np.outer(g_logits, s[n_blocks]), "output_bias": g_logits}
    g_s = params["output_weight"].T @ g_logits          # dL/ds_K
    for k in range(n_blocks - 1, -1, -1):
        grads[f"block{k}_weight2"] = np.outer(g_s, t[k])
        grads[f"block{k}_bias2"] = g_s
        g_a = (params[f"block{k}_weight2"].T @ g_s) * (1.0 - t[k] ** 2)
        grads[f"block{k}_weight1"] = np.outer(g_a, s[k])
        grads[f"block{k}_bias1"] = g_a
        g_s = g_s + params[f"block{k}_weight1"].T @ g_a  # skip path + block path
    grads["input_weight"] = np.outer(g_s, x)
    grads["input_bias"] = g_s
    return loss, grads, bool(np.argmax(logits) == label)


def vit_loss_and_grad(params: dict, image: np.ndarray, label: int, *, patch_size: int,
                      eps: float = 1e-5) -> tuple[float, dict, bool]:
    """Cross-entropy of the one-layer, one-head vision transformer and its gradient.

    Pre-attention LayerNorm, single-head attention with residual, GELU (erf)
    feed-forward with residual, classifier on the class token; parameter names
    as :class:`physsim.hl.VisionTransformer`.

    Parameters
    ----------
    params : dict
    image : ndarray of shape (side * side,)
        Row-major flattened square image.
    label : int
    patch_size : int
        Side of the square patches (divides ``side``).
    eps : float
        LayerNorm variance offset.

    Returns
    -------
    loss, grads, correct
        As :func:`mlp_loss_and_grad`.
    """
    from scipy.special import erf

    side = int(round(np.sqrt(image.size)))
    per_side = side // patch_size
    img = image.reshape(side, side)
    patches = np.empty((per_side * per_side, patch_size * patch_size))
    for row in range(per_side):          # patches in row-major order, pixels row-major
        for col in range(per_side):
            block = img[row * patch_size:(row + 1) * patch_size,
                        col * patch_size:(col + 1) * patch_size]
            patches[row * per_side + col] = block.reshape(-1)
    d = params["class_token"].shape[0]
    scale = 1.0 / np.sqrt(d)
    # forward
    tokens = np.concatenate([params["class_token"][None, :],
                             patches @ params["patch_weight"].T + params["patch_bias"]])
    tokens = tokens + params["position"]
    mu = tokens.mean(axis=1, keepdims=True)
    dev = tokens - mu
    rstd = 1.0 / np.sqrt((dev * dev).mean(axis=1, keepdims=True) + eps)
    normed = dev * rstd
    ln = normed * params["norm_scale"] + params["norm_shift"]
    proj = {name: ln @ params[f"{name}_weight"].T + params[f"{name}_bias"]
            for name in ("query", "key", "value")}
    logit_att = (proj["query"] @ proj["key"].T) * scale
    w = np.exp(logit_att - logit_att.max(axis=1, keepdims=True))
    w = w / w.sum(axis=1, keepdims=True)
    heads = w @ proj["value"]
    res1 = tokens + (heads @ params["attention_out_weight"].T + params["attention_out_bias"])
    hid_pre = res1 @ params["ffn_weight1"].T + params["ffn_bias1"]
    phi_cdf = 0.5 * (1.0 + erf(hid_pre * (1.0 / np.sqrt(2.0))))
    hid = hid_pre * phi_cdf
    res2 = res1 + (hid @ params["ffn_weight2"].T + params["ffn_bias2"])
    logits = params["head_weight"] @ res2[0] + params["head_bias"]
    loss, g_logits = _ce(logits, label)
    # backward
    grads = {"head_weight": np.outer(g_logits, res2[0]), "head_bias": g_logits}
    g_res2 = np.zeros_like(res2)
    g_res2[0] = params["head_weight"].T @ g_logits     # only the class token is read out
    grads["ffn_weight2"] = g_res2.T @ hid
    grads["ffn_bias2"] = g_res2.sum(axis=0)
    gelu_slope = phi_cdf + hid_pre * np.exp(-0.5 * hid_pre * hid_pre) * (1.0 / np.sqrt(2.0 * np.pi))
    g_hid_pre = (g_res2 @ params["ffn_weight2"]) * gelu_slope
    grads["ffn_weight1"] = g_hid_pre.T @ res1
    grads["ffn_bias1"] = g_hid_pre.sum(axis=0)
    g_res1 = g_res2 + g_hid_pre @ params["ffn_weight1"]
    grads["attention_out_weight"] = g_res1.T @ heads
    grads["attention_out_bias"] = g_res1.sum(axis=0)
    g_heads = g_res1 @ params["attention_out_weight"]
    g_w = g_heads @ proj["value"].T
    g_proj = {"value": w.T @ g_heads}
    # softmax rows: dL/dlogit_ij = w_ij (g_w_ij - sum_k g_w_ik w_ik)
    g_logit_att = w * (g_w - (g_w * w).sum(axis=1, keepdims=True))
    g_logit_att = g_logit_att * scale
    g_proj["query"] = g_logit_att @ proj["key"]
    g_proj["key"] = g_logit_att.T @ proj["query"]
    g_ln = (g_proj["query"] @ params["query_weight"] + g_proj["key"] @ params["key_weight"]
            + g_proj["value"] @ params["value_weight"])
    for name in ("query", "key", "value"):
        grads[f"{name}_weight"] = g_proj[name].T @ ln
        grads[f"{name}_bias"] = g_proj[name].sum(axis=0)
    grads["norm_scale"] = (g_ln * normed).sum(axis=0)
    grads["norm_shift"] = g_ln.sum(axis=0)
    g_normed = g_ln * params["norm_scale"]
    g_tokens = g_res1 + rstd * (g_normed - g_normed.mean(axis=1, keepdims=True)
                                - normed * (g_normed * normed).mean(axis=1, keepdims=True))
    grads["position"] = g_tokens
    grads["class_token"] = g_tokens[0]
    grads["patch_weight"] = g_tokens[1:].T @ patches
    grads["patch_bias"] = g_tokens[1:].sum(axis=0)
    return loss, grads, bool(np.argmax(logits) == label)


def lstm_loss_and_grad(params: dict, sequence: np.ndarray, label: int) -> tuple[float, dict, bool]:
    """Cross-entropy of an LSTM classifier of the last hidden state, and its gradient (BPTT).

    Gates in PyTorch order (input, forget, cell, output), one bias, zero
    initial state; names as :class:`physsim.hl.UnrolledLSTM` with a head.

    Parameters
    ----------
    params : dict
        ``input_weight`` ``(4H, F)``, ``recurrent_weight`` ``(4H, H)``,
        ``bias`` ``(4H,)``, ``head_weight`` ``(C, H)``, ``head_bias`` ``(C,)``.
    sequence : ndarray of shape (n_steps, F) or (n_steps * F,)
    label : int

    Returns
    -------
    loss, grads, correct
        As :func:`mlp_loss_and_grad`.
    """
    W, U, b = params["input_weight"], params["recurrent_weight"], params["bias"]
    H = U.shape[1]
    xs = sequence.reshape(-1, W.shape[1])

    def sigmoid(a):
        return 0.5 * (1.0 + np.tanh(0.5 * a))

    h, c = [np.zeros(H)], [np.zeros(H)]
    ig, fg, cg, og, tc = [], [], [], [], []
    for t in range(len(xs)):
        a = W @ xs[t] + U @ h[t] + b
        ig.append(sigmoid(a[0:H]))
        fg.append(sigmoid(a[H:2 * H]))
        cg.append(np.tanh(a[2 * H:3 * H]))
        og.append(sigmoid(a[3 * H:4 * H]))
        c.append(fg[t] * c[t] + ig[t] * cg[t])
        tc.append(np.tanh(c[t + 1]))
        h.append(og[t] * tc[t])
    logits = params["head_weight"] @ h[-1] + params["head_bias"]
    loss, g_logits = _ce(logits, label)
    grads = {"head_weight": np.outer(g_logits, h[-1]), "head_bias": g_logits}
    gW, gU, gb = np.zeros_like(W), np.zeros_like(U), np.zeros_like(b)
    g_h = params["head_weight"].T @ g_logits
    g_c = np.zeros(H)
    for t in range(len(xs) - 1, -1, -1):
        g_c = g_c + g_h * og[t] * (1.0 - tc[t] ** 2)
        g_a = np.empty(4 * H)
        g_a[0:H] = g_c * cg[t] * ig[t] * (1.0 - ig[t])
        g_a[H:2 * H] = g_c * c[t] * fg[t] * (1.0 - fg[t])
        g_a[2 * H:3 * H] = g_c * ig[t] * (1.0 - cg[t] ** 2)
        g_a[3 * H:4 * H] = g_h * tc[t] * og[t] * (1.0 - og[t])
        gW = gW + np.outer(g_a, xs[t])
        gU = gU + np.outer(g_a, h[t])
        gb = gb + g_a
        g_h = U.T @ g_a
        g_c = g_c * fg[t]
    grads.update({"input_weight": gW, "recurrent_weight": gU, "bias": gb})
    return loss, grads, bool(np.argmax(logits) == label)
