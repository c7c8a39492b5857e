"""Feed-forward cells: the MLP (whole net in one step) and the layer-per-step MLP."""

from __future__ import annotations

from typing import Any

import numpy as np

from .activations import get_activation
from .cell import Cell, CellVJP, check_positive_int

__all__ = ["LayeredMLPCell", "MLP"]


class MLP(Cell):
    """Multi-layer perceptron ``x -> W_L a(... a(W_0 x + b_0) ...) + b_L``.

    The last layer is linear (logits); hidden layers use ``activation``.

    Parameters
    ----------
    sizes : sequence of int
        Layer widths ``(n_in, n_hidden..., n_out)``, at least two entries.
    activation : str, default "tanh"
        Hidden activation, a key of :data:`ACTIVATIONS`.
    reads : {"input", "state"}, default "input"
        Whether ``x`` is the stream input ``u`` (feed-forward net as state
        network, "HL (state)", or as output network, "HL (output)") or the
        neuron state ``h`` (classifier on top of a recurrent state).

    Notes
    -----
    Parameters are ``weight{i}`` of shape ``(sizes[i+1], sizes[i])`` and
    ``bias{i}`` of shape ``(sizes[i+1],)``.  Used as a state network its state
    is the output vector of shape ``(sizes[-1],)``.
    """

    def __init__(self, sizes: tuple[int, ...] | list[int], activation: str = "tanh",
                 reads: str = "input") -> None:
        sizes = tuple(check_positive_int("MLP size", s) for s in sizes)
        if len(sizes) < 2:
            raise ValueError(f"MLP needs at least input and output sizes, got {sizes}")
        if reads not in ("input", "state"):
            raise ValueError(f"MLP reads must be 'input' or 'state', got {reads!r}")
        self.sizes = sizes
        self.activation = get_activation(activation)
        self.reads = reads
        self.n_input = sizes[0] if reads == "input" else 0

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the parameters (see the class docstring)."""
        shapes: dict[str, tuple[int, ...]] = {}
        for i in range(len(self.sizes) - 1):
            shapes[f"weight{i}"] = (self.sizes[i + 1], self.sizes[i])
            shapes[f"bias{i}"] = (self.sizes[i + 1],)
        return shapes

    def _fan_in(self, name: str, shape: tuple[int, ...]) -> int:
        i = int(name.removeprefix("weight").removeprefix("bias"))
        return self.sizes[i]

    def initial_state(self, dtype: Any = np.float64) -> np.ndarray:
        """Zero output vector of shape ``(sizes[-1],)`` (state-network use)."""
        return np.zeros(self.sizes[-1], dtype=dtype)

    def forward(self, params, u, h):
        """Evaluate the map; see :meth:`Cell.forward`."""
        x = u if self.reads == "input" else h
        if np.shape(x) != (self.sizes[0],):
            raise ValueError(
                f"MLP expects its {self.reads} of shape ({self.sizes[0]},), got {np.shape(x)}"
            )
        n_layers = len(self.sizes) - 1
        layer_inputs = [x]
        derivs = []
        a = x
        for i in range(n_layers):
            pre = params[f"weight{i}"] @ a + params[f"bias{i}"]
            if i < n_layers - 1:
                a = self.activation.value(pre)
                derivs.append(self.activation.derivative(pre, a))
                layer_inputs.append(a)
            else:
                a = pre
        return a, (layer_inputs, derivs)

    def vjp(self, params, ctx, cotangent):
        """Vector-Jacobian product; see :meth:`Cell.vjp`."""
        layer_inputs, derivs = ctx
        n_layers = len(self.sizes) - 1
        grads: dict[str, np.ndarray] = {}
        delta = cotangent
        for i in reversed(range(n_layers)):
            grads[f"weight{i}"] = np.outer(delta, layer_inputs[i])
            grads[f"bias{i}"] = delta.copy()
            delta = params[f"weight{i}"].T @ delta
            if i > 0:
                delta = delta * derivs[i - 1]
        grads = {name: grads[name] for name in self.param_shapes}
        if self.reads == "input":
            return CellVJP(input=delta, state=None, params=grads)
        return CellVJP(input=None, state=delta, params=grads)


class LayeredMLPCell(Cell):
    """MLP whose layers are neuron states updated in parallel (pipelined, fully local).

    With state ``h = {"layer1": a_1, ..., "layerL": a_L}`` the map is::

        layer1' = act(W_0 u + b_0)
        layer{i+1}' = act(W_i layer{i} + b_i)      (last layer linear)

    so every neuron reads only quantities of the previous time step
    (research/hl.md section 3, PARTIME-style pipelining): a signal needs ``L``
    steps to reach the output.  Parameter names match :class:`MLP` so the same
    weights can be evaluated as an ordinary MLP.

    Parameters
    ----------
    sizes : sequence of int
        ``(n_in, n_hidden..., n_out)``.
    activation : str, default "tanh"
    """

    def __init__(self, sizes, activation: str = "tanh") -> None:
        self._mlp = MLP(sizes, activation=activation, reads="input")
        self.sizes = self._mlp.sizes
        self.activation = self._mlp.activation
        self.n_input = self.sizes[0]
        self.layer_names = tuple(f"layer{i + 1}" for i in range(len(self.sizes) - 1))

    @property
    def param_shapes(self):
        """Names and shapes of the parameters (see the class docstring)."""
        return self._mlp.param_shapes

    def _fan_in(self, name, shape):
        return self._mlp._fan_in(name, shape)

    def initial_state(self, dtype: Any = np.float64) -> dict[str, np.ndarray]:
        """Zero activations ``{"layer{i}": (sizes[i],)}``."""
        return {name: np.zeros(self.sizes[i + 1], dtype=dtype)
                for i, name in enumerate(self.layer_names)}

    def forward(self, params, u, h):
        """Evaluate the map; see :meth:`Cell.forward`."""
        n_layers = len(self.sizes) - 1
        out, inputs, derivs = {}, [], []
        for i, name in enumerate(self.layer_names):
            x = u if i == 0 else h[self.layer_names[i - 1]]
            pre = params[f"weight{i}"] @ x + params[f"bias{i}"]
            if i < n_layers - 1:
                a = self.activation.value(pre)
                derivs.append(self.activation.derivative(pre, a))
            else:
                a = pre
                derivs.append(None)
            out[name] = a
            inputs.append(x)
        return out, (inputs, derivs)

    def vjp(self, params, ctx, cotangent):
        """Vector-Jacobian product; see :meth:`Cell.vjp`."""
        inputs, derivs = ctx
        grads: dict[str, np.ndarray] = {}
        d_state: dict[str, np.ndarray] = {}
        d_input = None
        for i, name in enumerate(self.layer_names):
            delta = cotangent[name] if derivs[i] is None else cotangent[name] * derivs[i]
            grads[f"weight{i}"] = np.outer(delta, inputs[i])
            grads[f"bias{i}"] = delta
            back = params[f"weight{i}"].T @ delta
            if i == 0:
                d_input = back
            else:
                d_state[self.layer_names[i - 1]] = back
        # the last layer is read by nobody
        d_state[self.layer_names[-1]] = np.zeros_like(cotangent[self.layer_names[-1]])
        d_state = {name: d_state[name] for name in self.layer_names}
        grads = {name: grads[name] for name in self.param_shapes}
        return CellVJP(input=d_input, state=d_state, params=grads)
