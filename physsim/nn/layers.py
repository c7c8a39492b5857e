"""Digital layers with explicit forward and backward passes (numpy, no autodiff).

These are the non-Hamiltonian parts of the RHEL paper's HSSM blocks (encoder, batch
normalisation, GELU, GLU, dropout, residual connection and read-outs), written so that
their gradients are explicit and testable against finite differences.

Conventions
-----------
* Data are laid out ``(batch, length, channels)``; :class:`Linear` and :class:`GLU`
  act on the last axis and accept any leading axes.
* Every layer has named parameters in ``layer.params`` (a dict of arrays) and, after
  :meth:`Layer.backward`, their gradients under the same names in ``layer.grads``.
  ``backward`` **overwrites** ``grads`` (it does not accumulate) and needs the cache of
  the most recent ``forward``.
* Optimisers update parameters **in place**, so containers can expose their children's
  arrays under prefixed names (:meth:`Layer.parameters`) without copies.
* Randomness (dropout) comes only from an explicit :class:`numpy.random.Generator`.
* Initialisation follows Equinox's ``Linear`` default: weight and bias uniform in
  ``[-1/sqrt(fan_in), 1/sqrt(fan_in)]``; weights are stored as (out, in).
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterable, Sequence

import numpy as np
from scipy.special import erf, expit

from ..validation import check_rng

__all__ = [
    "Layer",
    "Linear",
    "BatchNorm",
    "GELU",
    "GLU",
    "Dropout",
    "Residual",
    "Sequential",
    "MeanPoolClassifier",
    "SubsampleTanhRegressor",
    "LossResult",
    "softmax_cross_entropy",
    "mean_squared_error",
]

_SQRT2 = np.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


def _uniform_init(
    rng: np.random.Generator, shape: tuple[int, ...], fan_in: int, dtype
) -> np.ndarray:
    lim = 1.0 / np.sqrt(fan_in)
    return rng.uniform(-lim, lim, size=shape).astype(dtype)


class Layer:
    """Base class: named parameters, explicit forward and backward.

    Subclasses implement :meth:`forward` and :meth:`backward`, keep trainable arrays in
    ``self.params`` and write their gradients into ``self.grads`` under the same names.
    Non-trainable state (e.g. running statistics) lives in ``self.buffers``.
    """

    def __init__(self) -> None:
        self.params: dict[str, np.ndarray] = {}
        self.grads: dict[str, np.ndarray] = {}
        self.buffers: dict[str, np.ndarray] = {}
        self._cache: tuple | None = None

    def forward(
        self, x: np.ndarray, *, training: bool = False, rng: np.random.Generator | None = None
    ) -> np.ndarray:
        """Compute the output and cache what :meth:`backward` needs.

        Parameters
        ----------
        x : ndarray, shape (batch, length, channels)
            Input.
        training : bool, default False
            Training mode (dropout active, batch statistics in batch norm).
        rng : numpy.random.Generator, optional
            Randomness for training-mode dropout.

        Returns
        -------
        ndarray
            Output.
        """
        raise NotImplementedError

    def backward(self, grad_out: np.ndarray) -> np.ndarray:
        """Gradient of a scalar loss w.r.t. the input of the last :meth:`forward`.

        Parameters
        ----------
        grad_out : ndarray, same shape as the output
            Gradient of the loss w.r.t. the output.

        Returns
        -------
        ndarray, same shape as the input
            Gradient w.r.t. the input. Parameter gradients are stored in ``self.grads``.
        """
        raise NotImplementedError

    def _cached(self) -> tuple:
        if self._cache is None:
            raise RuntimeError(f"{type(self).__name__}.backward called before forward")
        return self._cache

    # -- named access, overridden by containers ---------------------------------------
    def parameters(self) -> dict[str, np.ndarray]:
        """Trainable arrays by name (the live arrays, not copies)."""
        return dict(self.params)

    def gradients(self) -> dict[str, np.ndarray]:
        """Gradients from the last :meth:`backward`, by the names of :meth:`parameters`."""
        missing = [k for k in self.params if k not in self.grads]
        if missing:
            raise RuntimeError(
                f"{type(self).__name__}: no gradient yet for {missing}; call backward"
            )
        return {k: self.grads[k] for k in self.params}

    def state(self) -> dict[str, np.ndarray]:
        """Non-trainable buffers by name (live arrays)."""
        return dict(self.buffers)

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Copy buffers (e.g. from a checkpoint) into this layer's buffers in place."""
        for k, v in state.items():
            if k not in self.buffers:
                raise KeyError(
                    f"{type(self).__name__} has no buffer {k!r}; has {list(self.buffers)}"
                )
            self.buffers[k][...] = v


class Linear(Layer):
    """Affine map on the last axis: ``y = x W^T + b``.

    Parameters
    ----------
    in_features, out_features : int
        Input and output channels.
    rng : numpy.random.Generator
        Initialisation randomness (uniform +-1/sqrt(in_features), as Equinox).
    bias : bool, default True
        Include the bias ``b``.
    dtype : numpy dtype, default float64

    Notes
    -----
    Parameters: ``weight`` (out_features, in_features), ``bias`` (out_features,).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        *,
        rng: np.random.Generator,
        bias: bool = True,
        dtype=np.float64,
    ) -> None:
        super().__init__()
        check_rng(rng, "Linear initialisation")
        if in_features < 1 or out_features < 1:
            raise ValueError(f"features must be positive, got {in_features} -> {out_features}")
        self.in_features, self.out_features = int(in_features), int(out_features)
        self.params["weight"] = _uniform_init(rng, (out_features, in_features), in_features, dtype)
        if bias:
            self.params["bias"] = _uniform_init(rng, (out_features,), in_features, dtype)

    def forward(self, x, *, training=False, rng=None):
        """Return ``x @ weight.T + bias``: (..., in_features) -> (..., out_features)."""
        if x.shape[-1] != self.in_features:
            raise ValueError(
                f"Linear expects {self.in_features} input channels (last axis), got shape {x.shape}"
            )
        self._cache = (x,)
        y = x @ self.params["weight"].T
        if "bias" in self.params:
            y = y + self.params["bias"]
        return y

    def backward(self, grad_out):
        """Store ``weight``/``bias`` gradients; return ``grad_out @ weight``."""
        (x,) = self._cached()
        g2 = grad_out.reshape(-1, self.out_features)
        self.grads["weight"] = g2.T @ x.reshape(-1, self.in_features)
        if "bias" in self.params:
            self.grads["bias"] = g2.sum(axis=0)
        return grad_out @ self.params["weight"]


class BatchNorm(Layer):
    """Batch normalisation over batch **and** time, without affine parameters.

    As in the RHEL paper's blocks (Equinox ``BatchNorm`` defaults): in training mode
    each channel is normalised with the mean and (biased) variance over all
    ``batch * length`` steps, ``y = (x - mean) / sqrt(var + eps)``, and running
    averages are updated as ``running = momentum * running + (1 - momentum) * batch``
    (the first training batch initialises them). In evaluation mode the running
    averages are used.

    Parameters
    ----------
    num_channels : int
        Channels (last axis).
    eps : float, default 1e-5
    momentum : float, default 0.99
    dtype : numpy dtype, default float64

    Notes
    -----
    No trainable parameters. Buffers: ``running_mean``, ``running_var`` (channels,),
    ``initialised`` (0-d, 0 or 1). Padded steps are counted like real ones.
    """

    def __init__(
        self, num_channels: int, *, eps: float = 1e-5, momentum: float = 0.99, dtype=np.float64
    ) -> None:
        super().__init__()
        if not 0.0 <= momentum < 1.0:
            raise ValueError(f"momentum must be in [0, 1), got {momentum}")
        if eps <= 0:
            raise ValueError(f"eps must be positive, got {eps}")
        self.num_channels, self.eps, self.momentum = int(num_channels), float(eps), float(momentum)
        self.buffers["running_mean"] = np.zeros(num_channels, dtype=dtype)
        self.buffers["running_var"] = np.ones(num_channels, dtype=dtype)
        self.buffers["initialised"] = np.zeros((), dtype=dtype)

    def forward(self, x, *, training=False, rng=None):
        """Normalise each channel over batch and time (training) or with running averages."""
        if x.shape[-1] != self.num_channels:
            raise ValueError(f"BatchNorm expects {self.num_channels} channels, got shape {x.shape}")
        axes = tuple(range(x.ndim - 1))
        if training:
            mean = x.mean(axis=axes)
            var = x.var(axis=axes)
            b = self.buffers
            if b["initialised"] == 0:
                b["running_mean"][...] = mean
                b["running_var"][...] = var
                b["initialised"][...] = 1
            else:
                m = self.momentum
                b["running_mean"][...] = m * b["running_mean"] + (1 - m) * mean
                b["running_var"][...] = m * b["running_var"] + (1 - m) * var
        else:
            mean = self.buffers["running_mean"]
            var = self.buffers["running_var"]
        inv_std = 1.0 / np.sqrt(var + self.eps)
        x_hat = (x - mean) * inv_std
        self._cache = (x_hat, inv_std, training, axes)
        return x_hat

    def backward(self, grad_out):
        """Input gradient, including the dependence of the batch statistics on ``x``."""
        x_hat, inv_std, training, axes = self._cached()
        if not training:
            return grad_out * inv_std
        # d/dx of (x - mean(x)) / sqrt(var(x) + eps), means over `axes`
        g_mean = grad_out.mean(axis=axes)
        gx_mean = (grad_out * x_hat).mean(axis=axes)
        return inv_std * (grad_out - g_mean - x_hat * gx_mean)


class GELU(Layer):
    """Exact GELU, ``x * Phi(x) = 0.5 x (1 + erf(x / sqrt 2))`` (no tanh approximation)."""

    def forward(self, x, *, training=False, rng=None):
        """Return ``x * Phi(x)`` element-wise (any shape)."""
        cdf = 0.5 * (1.0 + erf(x / _SQRT2))
        self._cache = (x, cdf)
        return x * cdf

    def backward(self, grad_out):
        """Multiply by ``Phi(x) + x * phi(x)``."""
        x, cdf = self._cached()
        pdf = _INV_SQRT_2PI * np.exp(-0.5 * x * x)
        return grad_out * (cdf + x * pdf)


class GLU(Layer):
    """Gated linear unit ``(W1 x + b1) * sigmoid(W2 x + b2)`` with two Linear(H -> H) maps.

    Parameters
    ----------
    features : int
        Channels H (input and output).
    rng : numpy.random.Generator
        Initialisation randomness (Equinox ``Linear`` default for both maps).
    dtype : numpy dtype, default float64

    Notes
    -----
    Parameters: ``weight1``, ``weight2`` (H, H); ``bias1``, ``bias2`` (H,).
    """

    def __init__(self, features: int, *, rng: np.random.Generator, dtype=np.float64) -> None:
        super().__init__()
        check_rng(rng, "GLU initialisation")
        self.features = int(features)
        for i in (1, 2):
            self.params[f"weight{i}"] = _uniform_init(rng, (features, features), features, dtype)
            self.params[f"bias{i}"] = _uniform_init(rng, (features,), features, dtype)

    def forward(self, x, *, training=False, rng=None):
        """Return ``(x W1^T + b1) * sigmoid(x W2^T + b2)``: (..., H) -> (..., H)."""
        if x.shape[-1] != self.features:
            raise ValueError(f"GLU expects {self.features} channels, got shape {x.shape}")
        p = self.params
        a = x @ p["weight1"].T + p["bias1"]
        s = expit(x @ p["weight2"].T + p["bias2"])
        self._cache = (x, a, s)
        return a * s

    def backward(self, grad_out):
        """Store the four parameter gradients; return the input gradient."""
        x, a, s = self._cached()
        p, h = self.params, self.features
        da = grad_out * s
        dc = grad_out * a * s * (1.0 - s)
        x2 = x.reshape(-1, h)
        da2, dc2 = da.reshape(-1, h), dc.reshape(-1, h)
        self.grads["weight1"] = da2.T @ x2
        self.grads["bias1"] = da2.sum(axis=0)
        self.grads["weight2"] = dc2.T @ x2
        self.grads["bias2"] = dc2.sum(axis=0)
        return da @ p["weight1"] + dc @ p["weight2"]


class Dropout(Layer):
    """Inverted dropout, active in training mode only.

    In training, each element is zeroed with probability ``p`` and the rest are scaled
    by ``1 / (1 - p)``; in evaluation mode the layer is the identity.

    Parameters
    ----------
    p : float, default 0.05
        Drop probability, in [0, 1). The RHEL blocks use 0.05.

    Notes
    -----
    Training with ``p > 0`` requires ``rng`` (a :class:`numpy.random.Generator`); the
    mask is ``rng.random(x.shape) >= p``, so a seeded generator reproduces it exactly.
    """

    def __init__(self, p: float = 0.05) -> None:
        super().__init__()
        if not 0.0 <= p < 1.0:
            raise ValueError(f"dropout probability must be in [0, 1), got {p}")
        self.p = float(p)

    def forward(self, x, *, training=False, rng=None):
        """Apply a fresh mask from ``rng`` in training mode; identity otherwise."""
        if not training or self.p == 0.0:
            self._cache = (None,)
            return x
        check_rng(rng, "Dropout in training mode")
        scaled_mask = (rng.random(x.shape) >= self.p) / (1.0 - self.p)
        scaled_mask = scaled_mask.astype(x.dtype)
        self._cache = (scaled_mask,)
        return x * scaled_mask

    def backward(self, grad_out):
        """Multiply by the same scaled mask (identity in evaluation mode)."""
        (scaled_mask,) = self._cached()
        return grad_out if scaled_mask is None else grad_out * scaled_mask


class Sequential(Layer):
    """Layers applied in order; parameters are exposed as ``"<child>.<name>"``.

    Parameters
    ----------
    layers : sequence of Layer or of (name, Layer)
        Children; unnamed ones are named by their index.
    """

    def __init__(self, layers: Sequence[Layer] | Sequence[tuple[str, Layer]]) -> None:
        super().__init__()
        self.children: list[tuple[str, Layer]] = []
        for i, item in enumerate(layers):
            name, layer = item if isinstance(item, tuple) else (str(i), item)
            if not isinstance(layer, Layer):
                raise TypeError(f"child {name!r} is a {type(layer).__name__}, not a Layer")
            if "." in name or name in {n for n, _ in self.children}:
                raise ValueError(f"child names must be unique and contain no '.', got {name!r}")
            self.children.append((name, layer))

    def __iter__(self) -> Iterable[Layer]:
        """Iterate over the child layers in order."""
        return iter(layer for _, layer in self.children)

    def __getitem__(self, key: int | str) -> Layer:
        """Child by position or by name."""
        if isinstance(key, int):
            return self.children[key][1]
        for name, layer in self.children:
            if name == key:
                return layer
        raise KeyError(f"no child {key!r}; children are {[n for n, _ in self.children]}")

    def forward(self, x, *, training=False, rng=None):
        """Apply the children in order (same ``training`` and ``rng`` for all)."""
        for _, layer in self.children:
            x = layer.forward(x, training=training, rng=rng)
        return x

    def backward(self, grad_out):
        """Back-propagate through the children in reverse order."""
        for _, layer in reversed(self.children):
            grad_out = layer.backward(grad_out)
        return grad_out

    def _collect(self, method: str) -> dict[str, np.ndarray]:
        out = {}
        for name, layer in self.children:
            for k, v in getattr(layer, method)().items():
                out[f"{name}.{k}"] = v
        return out

    def parameters(self):
        """Children's parameters as ``"<child>.<name>"`` (live arrays)."""
        return self._collect("parameters")

    def gradients(self):
        """Children's gradients under the names of :meth:`parameters`."""
        return self._collect("gradients")

    def state(self):
        """Children's buffers as ``"<child>.<name>"`` (live arrays)."""
        return self._collect("state")

    def load_state(self, state):
        """Copy prefixed buffers into the children in place."""
        for name, layer in self.children:
            prefix = name + "."
            layer.load_state(
                {k[len(prefix) :]: v for k, v in state.items() if k.startswith(prefix)}
            )
        known = {f"{n}.{k}" for n, layer in self.children for k in layer.state()}
        unknown = set(state) - known
        if unknown:
            raise KeyError(f"unknown buffers {sorted(unknown)}")


class Residual(Layer):
    """Skip connection around a layer: ``y = x + inner(x)``.

    Parameters and buffers are the inner layer's, under the inner layer's names.

    Parameters
    ----------
    inner : Layer
        Must map (batch, length, channels) to the same shape.
    """

    def __init__(self, inner: Layer) -> None:
        super().__init__()
        if not isinstance(inner, Layer):
            raise TypeError(f"inner must be a Layer, got {type(inner).__name__}")
        self.inner = inner

    def forward(self, x, *, training=False, rng=None):
        """Return ``x + inner(x)``."""
        y = self.inner.forward(x, training=training, rng=rng)
        if y.shape != x.shape:
            raise ValueError(f"Residual: inner layer changed the shape {x.shape} -> {y.shape}")
        self._cache = ()
        return x + y

    def backward(self, grad_out):
        """Return ``grad_out + inner.backward(grad_out)``."""
        self._cached()
        return grad_out + self.inner.backward(grad_out)

    def parameters(self):
        """Return the inner layer's parameters."""
        return self.inner.parameters()

    def gradients(self):
        """Return the inner layer's gradients."""
        return self.inner.gradients()

    def state(self):
        """Return the inner layer's buffers."""
        return self.inner.state()

    def load_state(self, state):
        """Load the inner layer's buffers."""
        self.inner.load_state(state)


# --------------------------------------------------------------------------- losses


@dataclass(frozen=True)
class LossResult:
    """A loss value and its gradient with respect to the model output.

    Attributes
    ----------
    loss : float
        Scalar loss (mean over the batch).
    grad : ndarray, same shape as the output
        d loss / d output.
    accuracy : float or None
        Fraction of correct argmax predictions (classification only).
    """

    loss: float
    grad: np.ndarray
    accuracy: float | None = None


def softmax_cross_entropy(
    logits: np.ndarray, labels: np.ndarray, *, log_eps: float = 0.0
) -> LossResult:
    """Mean softmax cross-entropy over the batch, its gradient and the accuracy.

    Parameters
    ----------
    logits : ndarray, shape (batch, n_classes)
    labels : ndarray of int, shape (batch,)
        Class indices in ``[0, n_classes)``.
    log_eps : float, default 0.0
        ``0`` gives the exact, numerically stable ``-log softmax``. The official RHEL
        code computes ``-log(p + 1e-8)``; pass ``log_eps=1e-8`` to reproduce that (it
        caps the loss of a confidently wrong prediction at about 18.4).

    Returns
    -------
    LossResult
    """
    logits = np.asarray(logits)
    labels = np.asarray(labels)
    if logits.ndim != 2 or labels.shape != (logits.shape[0],):
        raise ValueError(
            "expected logits (batch, classes) and labels (batch,), "
            f"got {logits.shape}, {labels.shape}"
        )
    n, c = logits.shape
    if labels.size and (labels.min() < 0 or labels.max() >= c):
        raise ValueError(f"labels must be in [0, {c}), got range [{labels.min()}, {labels.max()}]")
    shifted = logits - logits.max(axis=1, keepdims=True)
    log_z = np.log(np.exp(shifted).sum(axis=1, keepdims=True))
    log_p = shifted - log_z
    p = np.exp(log_p)
    rows = np.arange(n)
    onehot = np.zeros_like(p)
    onehot[rows, labels] = 1.0
    if log_eps == 0.0:
        loss = -log_p[rows, labels].mean()
        grad = (p - onehot) / n
    else:
        py = p[rows, labels]
        loss = -np.log(py + log_eps).mean()
        # d/dz_j of -log(p_y + eps) = -(p_y / (p_y + eps)) (1[j = y] - p_j)
        grad = (py / (py + log_eps))[:, None] * (p - onehot) / n
    acc = float(np.mean(np.argmax(logits, axis=1) == labels))
    return LossResult(loss=float(loss), grad=grad, accuracy=acc)


def mean_squared_error(pred: np.ndarray, target: np.ndarray) -> LossResult:
    """Mean of squared errors over all elements, and its gradient.

    Parameters
    ----------
    pred, target : ndarray, same shape

    Returns
    -------
    LossResult
    """
    pred, target = np.asarray(pred), np.asarray(target)
    if pred.shape != target.shape:
        raise ValueError(f"prediction shape {pred.shape} != target shape {target.shape}")
    diff = pred - target
    return LossResult(loss=float(np.mean(diff * diff)), grad=2.0 * diff / diff.size)


# --------------------------------------------------------------------------- read-outs


class MeanPoolClassifier(Layer):
    """Classification read-out: mean over time, then Linear(H -> n_classes) logits.

    Pair with :meth:`loss` (softmax cross-entropy, mean over the batch).

    Parameters
    ----------
    in_features : int
        Channels H.
    n_classes : int
    rng : numpy.random.Generator
        Initialisation randomness.
    dtype : numpy dtype, default float64

    Notes
    -----
    Parameters: ``weight`` (n_classes, H), ``bias`` (n_classes,). ``forward`` takes an
    optional ``lengths`` (batch,) to average only the first ``lengths[b]`` steps of
    zero-padded sequences.
    """

    def __init__(
        self, in_features: int, n_classes: int, *, rng: np.random.Generator, dtype=np.float64
    ) -> None:
        super().__init__()
        self.linear = Linear(in_features, n_classes, rng=rng, dtype=dtype)
        self.params = self.linear.params
        self.grads = self.linear.grads

    def forward(self, x, *, training=False, rng=None, lengths: np.ndarray | None = None):
        """Logits (batch, n_classes) from the (masked) time average of x (batch, length, H)."""
        if x.ndim != 3:
            raise ValueError(f"expected (batch, length, channels), got shape {x.shape}")
        b, length, _ = x.shape
        if lengths is None:
            weights = np.full((b, length), 1.0 / length, dtype=x.dtype)
        else:
            lengths = np.asarray(lengths)
            if lengths.shape != (b,) or lengths.min() < 1 or lengths.max() > length:
                raise ValueError(f"lengths must be (batch,) in [1, {length}], got {lengths}")
            weights = (np.arange(length)[None, :] < lengths[:, None]) / lengths[:, None]
            weights = weights.astype(x.dtype)
        pooled = np.einsum("bt,btc->bc", weights, x)
        self._cache = (weights, x.shape)
        return self.linear.forward(pooled)

    def backward(self, grad_out):
        """Spread the pooled gradient evenly over the averaged steps."""
        weights, _ = self._cached()
        g_pooled = self.linear.backward(grad_out)
        return weights[:, :, None] * g_pooled[:, None, :]

    @staticmethod
    def loss(logits: np.ndarray, labels: np.ndarray, *, log_eps: float = 0.0) -> LossResult:
        """Softmax cross-entropy; see :func:`softmax_cross_entropy`."""
        return softmax_cross_entropy(logits, labels, log_eps=log_eps)


class SubsampleTanhRegressor(Layer):
    """Regression read-out: every ``output_step``-th step, Linear, then tanh.

    Steps ``output_step - 1, 2 * output_step - 1, ...`` are read (``length //
    output_step`` outputs), as in the RHEL code (``output_step`` = 128 for PPG-DaLiA).
    Pair with :meth:`loss` (mean squared error); targets should lie in (-1, 1).

    Parameters
    ----------
    in_features, out_features : int
    output_step : int
    rng : numpy.random.Generator
    dtype : numpy dtype, default float64

    Notes
    -----
    Parameters: ``weight`` (out_features, in_features), ``bias`` (out_features,).
    Output shape (batch, length // output_step, out_features).
    """

    def __init__(
        self,
        in_features: int,
        out_features: int,
        output_step: int,
        *,
        rng: np.random.Generator,
        dtype=np.float64,
    ) -> None:
        super().__init__()
        if output_step < 1:
            raise ValueError(f"output_step must be >= 1, got {output_step}")
        self.output_step = int(output_step)
        self.linear = Linear(in_features, out_features, rng=rng, dtype=dtype)
        self.params = self.linear.params
        self.grads = self.linear.grads

    def forward(self, x, *, training=False, rng=None):
        """Read steps ``k-1, 2k-1, ...``, apply Linear then tanh."""
        if x.ndim != 3 or x.shape[1] < self.output_step:
            raise ValueError(
                f"expected (batch, length >= {self.output_step}, channels), got shape {x.shape}"
            )
        k = self.output_step
        y = np.tanh(self.linear.forward(x[:, k - 1 :: k, :]))
        self._cache = (y, x.shape)
        return y

    def backward(self, grad_out):
        """Gradient through tanh and Linear, scattered to the read steps."""
        y, shape = self._cached()
        g_sub = self.linear.backward(grad_out * (1.0 - y * y))
        grad_x = np.zeros(shape, dtype=g_sub.dtype)
        grad_x[:, self.output_step - 1 :: self.output_step, :] = g_sub
        return grad_x

    @staticmethod
    def loss(pred: np.ndarray, target: np.ndarray) -> LossResult:
        """Mean squared error; see :func:`mean_squared_error`."""
        return mean_squared_error(pred, target)
