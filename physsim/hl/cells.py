"""Differentiable maps ("cells") with hand-written vector-Jacobian products.

Hamiltonian Learning only ever needs one-step vector-Jacobian products (VJPs)
of two maps (research/hl.md section 1.2):

* the **state network** ``f^h(u, h; theta^h)``: either the velocity ``dh/dt``
  itself or, in the instantaneous form of Eq. 9, the next state
  ``f^h_hat(u, h; theta^h)``;
* the **output network** ``y = f^y(u, h; theta^y)``.

Every cell here maps ``(u, h; params) -> out`` and returns a context from
``forward`` that ``vjp`` turns into the cotangents of ``u``, ``h`` and of each
named parameter.  Any user function with a VJP plugs in through
:class:`FunctionCell`.  Cells whose map is a bijection of the state for a fixed
input (:class:`ReversibleCell`) also provide ``inverse``; they let the
reversed stream recompute past states instead of storing them.

Shapes: ``u`` has shape ``(n_input,)``; states are arrays or ``dict`` of
arrays with named components (e.g. ``{"position": (n,), "momentum": (n,)}``).
All quantities are dimensionless network variables; ``dt`` parameters are in
the same time unit as the HL step ``tau``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Callable, Mapping

import numpy as np

from ._tree import Tree, tree_map

__all__ = [
    "ACTIVATIONS",
    "Activation",
    "Cell",
    "CellVJP",
    "ElmanCell",
    "FunctionCell",
    "IdentityReadout",
    "LayeredMLPCell",
    "LinearHRUCell",
    "LinearReadout",
    "MLP",
    "MidpointRNNCell",
    "ReversibleCell",
    "get_activation",
]


# --------------------------------------------------------------------------- activations
@dataclass(frozen=True)
class Activation:
    """Element-wise activation with its derivative.

    Attributes
    ----------
    name : str
        Registry name.
    value : callable
        ``value(pre) -> out``.
    derivative : callable
        ``derivative(pre, out) -> d out / d pre`` (element-wise); receives both
        so that e.g. tanh can reuse its output.
    """

    name: str
    value: Callable[[np.ndarray], np.ndarray]
    derivative: Callable[[np.ndarray, np.ndarray], np.ndarray]


def _sigmoid(x: np.ndarray) -> np.ndarray:
    return 0.5 * (1.0 + np.tanh(0.5 * x))


ACTIVATIONS: dict[str, Activation] = {
    "tanh": Activation("tanh", np.tanh, lambda pre, out: 1.0 - out * out),
    "identity": Activation("identity", lambda x: x, lambda pre, out: np.ones_like(pre)),
    "relu": Activation("relu", lambda x: np.maximum(x, 0.0),
                       lambda pre, out: (pre > 0).astype(pre.dtype)),
    "sigmoid": Activation("sigmoid", _sigmoid, lambda pre, out: out * (1.0 - out)),
}


def get_activation(name: str | Activation) -> Activation:
    """Look up an activation by name.

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message lists the valid names.
    """
    if isinstance(name, Activation):
        return name
    try:
        return ACTIVATIONS[name]
    except KeyError:
        raise ValueError(
            f"unknown activation {name!r}; valid names: {sorted(ACTIVATIONS)}"
        ) from None


# --------------------------------------------------------------------------- base classes
@dataclass(frozen=True)
class CellVJP:
    """Cotangents returned by :meth:`Cell.vjp`.

    Attributes
    ----------
    input : ndarray of shape (n_input,) or None
        ``v^T d out / d u``; ``None`` when the cell does not read ``u``.
    state : Tree or None
        ``v^T d out / d h`` with the structure of ``h``; ``None`` when the
        cell does not read ``h`` (the cotangent is then zero).
    params : dict of str to ndarray
        ``v^T d out / d theta`` for every named parameter (same shapes).
    """

    input: np.ndarray | None
    state: Tree | None
    params: dict[str, np.ndarray]


class Cell(abc.ABC):
    """A differentiable map ``out = F(u, h; params)`` with a hand-written VJP.

    Subclasses define :attr:`param_shapes`, :meth:`forward` and :meth:`vjp`.
    A cell used as HL state network must also define :meth:`initial_state`,
    and its output must have the structure of the state.
    """

    #: number of input features read from ``u`` (0 if ``u`` is not read)
    n_input: int = 0

    @property
    @abc.abstractmethod
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the parameters."""

    def init_params(self, rng: np.random.Generator | int | None = None,
                    dtype: Any = np.float64) -> dict[str, np.ndarray]:
        """Random parameters, uniform in ``+-1/sqrt(fan_in)`` (PyTorch ``Linear`` default).

        Parameters
        ----------
        rng : numpy Generator or int or None
            Source of randomness (an int is used as a seed).
        dtype : numpy dtype, default float64

        Returns
        -------
        dict of str to ndarray
            One array per entry of :attr:`param_shapes`.
        """
        rng = np.random.default_rng(rng)
        out = {}
        for name, shape in self.param_shapes.items():
            fan_in = self._fan_in(name, shape)
            bound = 1.0 / np.sqrt(max(fan_in, 1))
            out[name] = rng.uniform(-bound, bound, size=shape).astype(dtype)
        return out

    def _fan_in(self, name: str, shape: tuple[int, ...]) -> int:
        return shape[-1] if len(shape) >= 2 else shape[0]

    def initial_state(self, dtype: Any = np.float64) -> Tree:
        """Zero state with the structure the cell reads and writes.

        Raises
        ------
        NotImplementedError
            For cells that have no state of their own (output networks).
        """
        raise NotImplementedError(
            f"{type(self).__name__} defines no state; it can only be used as an output network"
        )

    @abc.abstractmethod
    def forward(self, params: Mapping[str, np.ndarray], u: np.ndarray, h: Tree) -> tuple[Tree, Any]:
        """Evaluate the map.

        Parameters
        ----------
        params : dict of str to ndarray
            Parameters with the shapes of :attr:`param_shapes`.
        u : ndarray of shape (n_input,)
            Input at the current time.
        h : Tree
            Neuron state (ignored by cells that do not read it).

        Returns
        -------
        out : Tree
            Cell output.
        ctx : object
            Opaque context for :meth:`vjp`.
        """

    @abc.abstractmethod
    def vjp(self, params: Mapping[str, np.ndarray], ctx: Any, cotangent: Tree) -> CellVJP:
        """Vector-Jacobian product ``cotangent^T d out / d (u, h, params)``.

        Parameters
        ----------
        params : dict of str to ndarray
        ctx : object
            Context returned by :meth:`forward` at the linearisation point.
        cotangent : Tree
            Same structure as ``out``.

        Returns
        -------
        CellVJP
        """

    def __call__(self, params: Mapping[str, np.ndarray], u: np.ndarray, h: Tree) -> Tree:
        """Output of :meth:`forward` without the context."""
        return self.forward(params, u, h)[0]

    def check_params(self, params: Mapping[str, np.ndarray]) -> None:
        """Raise ``ValueError`` unless ``params`` has exactly the expected names and shapes."""
        expected = self.param_shapes
        if set(params) != set(expected):
            raise ValueError(
                f"{type(self).__name__}: parameter names {sorted(params)} differ from the "
                f"expected {sorted(expected)}"
            )
        for name, shape in expected.items():
            if np.shape(params[name]) != shape:
                raise ValueError(
                    f"{type(self).__name__}: parameter {name!r} has shape "
                    f"{np.shape(params[name])}, expected {shape}"
                )


class ReversibleCell(Cell):
    """A state map that is a bijection of ``h`` for fixed ``u`` and ``params``.

    :meth:`inverse` recovers ``h`` from ``h_next = forward(params, u, h)``.
    The reversed HL stream uses it to recompute past states in O(1) memory.
    """

    @abc.abstractmethod
    def inverse(self, params: Mapping[str, np.ndarray], u: np.ndarray, h_next: Tree) -> Tree:
        """State ``h`` such that ``forward(params, u, h)[0] == h_next`` (up to round-off).

        Parameters
        ----------
        params : dict of str to ndarray
        u : ndarray of shape (n_input,)
            The input that produced ``h_next``.
        h_next : Tree

        Returns
        -------
        Tree
        """

    def inverse_with_context(self, params: Mapping[str, np.ndarray], u: np.ndarray,
                             h_next: Tree) -> tuple[Tree, Any]:
        """``h = inverse(params, u, h_next)`` and the :meth:`forward` context at ``(u, h)``.

        The default calls :meth:`forward` once more; cells whose inverse
        already evaluates the forward quantities override it to save that
        evaluation.  The context must equal ``forward(params, u, h)[1]``.
        """
        h = self.inverse(params, u, h_next)
        return h, self.forward(params, u, h)[1]


def _check_positive_int(name: str, value: int) -> int:
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


# --------------------------------------------------------------------------- feed-forward
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
        sizes = tuple(_check_positive_int("MLP size", s) for s in sizes)
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


# --------------------------------------------------------------------------- recurrent
class ElmanCell(Cell):
    """Elman (vanilla) recurrent transition ``h' = act(A h + B u + b)``.

    Used in the instantaneous form (Eq. 9): the HL Euler step applies it as the
    next state.

    Parameters
    ----------
    n_input, n_state : int
    activation : str, default "tanh"

    Notes
    -----
    Parameters: ``recurrent_weight`` A ``(n_state, n_state)``,
    ``input_weight`` B ``(n_state, n_input)``, ``bias`` b ``(n_state,)``.
    """

    def __init__(self, n_input: int, n_state: int, activation: str = "tanh") -> None:
        self.n_input = _check_positive_int("n_input", n_input)
        self.n_state = _check_positive_int("n_state", n_state)
        self.activation = get_activation(activation)

    @property
    def param_shapes(self):
        """Names and shapes of the parameters (see the class docstring)."""
        return {"recurrent_weight": (self.n_state, self.n_state),
                "input_weight": (self.n_state, self.n_input),
                "bias": (self.n_state,)}

    def _fan_in(self, name, shape):
        return self.n_state

    def initial_state(self, dtype: Any = np.float64) -> np.ndarray:
        """Zero state of shape ``(n_state,)``."""
        return np.zeros(self.n_state, dtype=dtype)

    def forward(self, params, u, h):
        """Evaluate the map; see :meth:`Cell.forward`."""
        pre = params["recurrent_weight"] @ h + params["input_weight"] @ u + params["bias"]
        out = self.activation.value(pre)
        return out, (u, h, self.activation.derivative(pre, out))

    def vjp(self, params, ctx, cotangent):
        """Vector-Jacobian product; see :meth:`Cell.vjp`."""
        u, h, deriv = ctx
        delta = cotangent * deriv
        return CellVJP(
            input=params["input_weight"].T @ delta,
            state=params["recurrent_weight"].T @ delta,
            params={"recurrent_weight": np.outer(delta, h),
                    "input_weight": np.outer(delta, u),
                    "bias": delta},
        )


class MidpointRNNCell(ReversibleCell):
    """Reversible RNN: two-step explicit midpoint (leapfrog) integration of ``dh/dt = f``.

    ``f(u, h) = act(A h + B u + b)``.  The state keeps two consecutive values,
    ``{"previous": h_{k-1}, "current": h_k}``, and one step is::

        previous' = current
        current'  = previous + 2 dt f(u_k, current)

    which is inverted exactly by ``previous = current' - 2 dt f(u_k, previous')``
    (research/hl.md section 2.6).  This is the network the memory-efficient
    reversed stream trains; it is *not* the Euler network of :class:`ElmanCell`.

    Parameters
    ----------
    n_input, n_state : int
    dt : float
        Integration step (same time unit as the stream), > 0.
    activation : str, default "tanh"

    Notes
    -----
    The scheme is time-reversible but only weakly stable: its parasitic mode
    grows for dissipative ``f``, and round-off in the reconstruction grows with
    the number of reversed steps like the tangent dynamics (exponentially for
    chaotic, strongly coupled nets).  The reversed stream reports the
    reconstruction error of the earliest state it recomputes
    (``reconstruction_error``); ``benchmarks/bench_hl.py`` measures it over
    1e3-1e5 steps.
    """

    def __init__(self, n_input: int, n_state: int, dt: float, activation: str = "tanh") -> None:
        self.n_input = _check_positive_int("n_input", n_input)
        self.n_state = _check_positive_int("n_state", n_state)
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive finite number, got {dt!r}")
        self.dt = float(dt)
        self.activation = get_activation(activation)

    @property
    def param_shapes(self):
        """Names and shapes of the parameters (see the class docstring)."""
        return {"recurrent_weight": (self.n_state, self.n_state),
                "input_weight": (self.n_state, self.n_input),
                "bias": (self.n_state,)}

    def _fan_in(self, name, shape):
        return self.n_state

    def initial_state(self, dtype: Any = np.float64) -> dict[str, np.ndarray]:
        """``{"previous": 0, "current": 0}``, each of shape ``(n_state,)``."""
        return {"previous": np.zeros(self.n_state, dtype=dtype),
                "current": np.zeros(self.n_state, dtype=dtype)}

    def _velocity(self, params, u, h):
        pre = params["recurrent_weight"] @ h + params["input_weight"] @ u + params["bias"]
        out = self.activation.value(pre)
        return out, self.activation.derivative(pre, out)

    def forward(self, params, u, h):
        """Evaluate the map; see :meth:`Cell.forward`."""
        f, deriv = self._velocity(params, u, h["current"])
        out = {"previous": h["current"], "current": h["previous"] + (2.0 * self.dt) * f}
        return out, (u, h["current"], deriv)

    def vjp(self, params, ctx, cotangent):
        """Vector-Jacobian product; see :meth:`Cell.vjp`."""
        u, current, deriv = ctx
        delta = (2.0 * self.dt) * cotangent["current"] * deriv
        return CellVJP(
            input=params["input_weight"].T @ delta,
            state={"previous": cotangent["current"],
                   "current": cotangent["previous"] + params["recurrent_weight"].T @ delta},
            params={"recurrent_weight": np.outer(delta, current),
                    "input_weight": np.outer(delta, u),
                    "bias": delta},
        )

    def inverse(self, params, u, h_next):
        """Previous state; see :meth:`ReversibleCell.inverse`."""
        return self.inverse_with_context(params, u, h_next)[0]

    def inverse_with_context(self, params, u, h_next):
        """Previous state and forward context without a second evaluation."""
        # the inverse evaluates f at (u, current) = the point forward(h) linearises at
        current = h_next["previous"]
        f, deriv = self._velocity(params, u, current)
        h = {"previous": h_next["current"] - (2.0 * self.dt) * f, "current": current}
        return h, (u, current, deriv)


class LinearHRUCell(ReversibleCell):
    """Linear Hamiltonian recurrent unit (reference implementation for the HL-RHEL bridge).

    Independent oscillators with ``H = 1/2 p^2 + 1/2 a y^2 - b_k . y``,
    ``b_k = B u_k``, integrated by position-velocity-position Stormer-Verlet
    (research/rhel.md section 2.1)::

        y_h = y + (dt/2) p
        p'  = p - dt (a * y_h - b_k)
        y'  = y_h + (dt/2) p'

    State ``{"position": y, "momentum": p}``, each ``(n_osc,)``; parameters
    ``stiffness`` a ``(n_osc,)`` and ``input_weight`` B ``(n_osc, n_input)``.
    The step is time-reversible: flipping ``p``, stepping with the same input
    and flipping back inverts it.

    Parameters
    ----------
    n_osc, n_input : int
    dt : float
        Leapfrog step, > 0 (stable for ``a dt^2 < 4``).
    """

    def __init__(self, n_osc: int, n_input: int, dt: float) -> None:
        self.n_osc = _check_positive_int("n_osc", n_osc)
        self.n_input = _check_positive_int("n_input", n_input)
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive finite number, got {dt!r}")
        self.dt = float(dt)

    @property
    def param_shapes(self):
        """Names and shapes of the parameters (see the class docstring)."""
        return {"stiffness": (self.n_osc,), "input_weight": (self.n_osc, self.n_input)}

    def init_params(self, rng=None, dtype: Any = np.float64) -> dict[str, np.ndarray]:
        """Stiffness uniform in [0.5, 1.5], input weights uniform in ``+-1/sqrt(n_input)``."""
        rng = np.random.default_rng(rng)
        bound = 1.0 / np.sqrt(self.n_input)
        return {"stiffness": rng.uniform(0.5, 1.5, self.n_osc).astype(dtype),
                "input_weight": rng.uniform(-bound, bound,
                                            (self.n_osc, self.n_input)).astype(dtype)}

    def initial_state(self, dtype: Any = np.float64) -> dict[str, np.ndarray]:
        """Oscillators at rest: zero position and momentum."""
        return {"position": np.zeros(self.n_osc, dtype=dtype),
                "momentum": np.zeros(self.n_osc, dtype=dtype)}

    def forward(self, params, u, h):
        """Evaluate the map; see :meth:`Cell.forward`."""
        half = 0.5 * self.dt
        drive = params["input_weight"] @ u
        y_half = h["position"] + half * h["momentum"]
        p_next = h["momentum"] - self.dt * (params["stiffness"] * y_half - drive)
        y_next = y_half + half * p_next
        return {"position": y_next, "momentum": p_next}, (u, y_half)

    def vjp(self, params, ctx, cotangent):
        """Vector-Jacobian product; see :meth:`Cell.vjp`."""
        u, y_half = ctx
        half = 0.5 * self.dt
        y_bar = cotangent["position"]
        p_bar = cotangent["momentum"] + half * y_bar       # total cotangent of p'
        y_half_bar = y_bar - self.dt * params["stiffness"] * p_bar
        drive_bar = self.dt * p_bar
        return CellVJP(
            input=params["input_weight"].T @ drive_bar,
            state={"position": y_half_bar, "momentum": p_bar + half * y_half_bar},
            params={"stiffness": -self.dt * y_half * p_bar,
                    "input_weight": np.outer(drive_bar, u)},
        )

    def inverse(self, params, u, h_next):
        """Previous state; see :meth:`ReversibleCell.inverse`."""
        return self.inverse_with_context(params, u, h_next)[0]

    def inverse_with_context(self, params, u, h_next):
        """Previous state and forward context without a second evaluation."""
        # the kick of the inverse step happens at the same half-step position as the forward one
        half = 0.5 * self.dt
        drive = params["input_weight"] @ u
        y_half = h_next["position"] - half * h_next["momentum"]
        p = h_next["momentum"] + self.dt * (params["stiffness"] * y_half - drive)
        return {"position": y_half - half * p, "momentum": p}, (u, y_half)


# --------------------------------------------------------------------------- read-outs
class IdentityReadout(Cell):
    """Output network ``y = h`` (or ``y = h[key]`` for a named state component).

    Parameters
    ----------
    key : str or None
        Component of a dict state to read; ``None`` reads an array state whole.
    """

    def __init__(self, key: str | None = None) -> None:
        self.key = key

    @property
    def param_shapes(self):
        """Names and shapes of the parameters (see the class docstring)."""
        return {}

    def forward(self, params, u, h):
        """Evaluate the map; see :meth:`Cell.forward`."""
        return (h if self.key is None else h[self.key]), h

    def vjp(self, params, ctx, cotangent):
        """Vector-Jacobian product; see :meth:`Cell.vjp`."""
        if self.key is None:
            return CellVJP(input=None, state=cotangent, params={})
        d_state = tree_map(np.zeros_like, ctx)
        d_state[self.key] = cotangent
        return CellVJP(input=None, state=d_state, params={})


class LinearReadout(Cell):
    """Affine output network ``y = W h + c`` (``h[key]`` for a dict state).

    Parameters
    ----------
    n_state, n_out : int
    key : str or None
        Component of a dict state to read (e.g. ``"position"`` or ``"current"``).

    Notes
    -----
    Parameters ``weight`` ``(n_out, n_state)`` and ``bias`` ``(n_out,)``.
    """

    def __init__(self, n_state: int, n_out: int, key: str | None = None) -> None:
        self.n_state = _check_positive_int("n_state", n_state)
        self.n_out = _check_positive_int("n_out", n_out)
        self.key = key

    @property
    def param_shapes(self):
        """Names and shapes of the parameters (see the class docstring)."""
        return {"weight": (self.n_out, self.n_state), "bias": (self.n_out,)}

    def _fan_in(self, name, shape):
        return self.n_state

    def forward(self, params, u, h):
        """Evaluate the map; see :meth:`Cell.forward`."""
        x = h if self.key is None else h[self.key]
        return params["weight"] @ x + params["bias"], (h, x)

    def vjp(self, params, ctx, cotangent):
        """Vector-Jacobian product; see :meth:`Cell.vjp`."""
        h, x = ctx
        back = params["weight"].T @ cotangent
        if self.key is None:
            d_state = back
        else:
            d_state = tree_map(np.zeros_like, h)
            d_state[self.key] = back
        return CellVJP(input=None, state=d_state,
                       params={"weight": np.outer(cotangent, x), "bias": cotangent})


# --------------------------------------------------------------------------- user functions
class FunctionCell(Cell):
    """Wrap user functions with a VJP as a cell.

    Parameters
    ----------
    forward_fn : callable
        ``forward_fn(params, u, h) -> (out, ctx)``.
    vjp_fn : callable
        ``vjp_fn(params, ctx, cotangent) -> (d_u, d_h, d_params)``; ``d_u`` or
        ``d_h`` may be ``None`` when the function does not read that argument.
    param_shapes : dict of str to tuple of int
    initial_state_fn : callable, optional
        ``initial_state_fn(dtype) -> Tree``; needed to use the cell as state network.
    n_input : int, default 0

    Notes
    -----
    A FunctionCell is never treated as reversible; subclass
    :class:`ReversibleCell` to provide an ``inverse``.
    """

    def __init__(self, forward_fn, vjp_fn, param_shapes: Mapping[str, tuple[int, ...]],
                 initial_state_fn=None, n_input: int = 0) -> None:
        self._forward = forward_fn
        self._vjp = vjp_fn
        self._shapes = {k: tuple(v) for k, v in param_shapes.items()}
        self._initial_state = initial_state_fn
        self.n_input = int(n_input)

    @property
    def param_shapes(self):
        """Names and shapes of the parameters (see the class docstring)."""
        return dict(self._shapes)

    def initial_state(self, dtype: Any = np.float64):
        """Zero state of the wrapped function (``initial_state_fn``)."""
        if self._initial_state is None:
            return super().initial_state(dtype)
        return self._initial_state(dtype)

    def forward(self, params, u, h):
        """Evaluate the map; see :meth:`Cell.forward`."""
        return self._forward(params, u, h)

    def vjp(self, params, ctx, cotangent):
        """Vector-Jacobian product; see :meth:`Cell.vjp`."""
        d_u, d_h, d_params = self._vjp(params, ctx, cotangent)
        return CellVJP(input=d_u, state=d_h, params=dict(d_params))
