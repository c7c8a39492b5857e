"""The cell contract of Hamiltonian Learning: maps with hand-written vector-Jacobian products.

Hamiltonian Learning only ever needs one-step vector-Jacobian products (VJPs)
of two maps (research/hl.md section 1.2):

* the **state network** ``f^h(u, h; theta^h)``: either the velocity ``dh/dt``
  itself or, in the instantaneous form of Eq. 9, the next state
  ``f^h_hat(u, h; theta^h)``;
* the **output network** ``y = f^y(u, h; theta^y)``.

Every cell maps ``(u, h; params) -> out`` and returns a context from
``forward`` that ``vjp`` turns into the cotangents of ``u``, ``h`` and of each
named parameter.  Any user function with a VJP plugs in through
:class:`FunctionCell`.  Cells whose map is a bijection of the state for a fixed
input (:class:`ReversibleCell`) also provide ``inverse``; they let the
reversed stream recompute past states instead of storing them.

The concrete cells live in :mod:`physsim.hl.feedforward` (MLPs, the linear
model), :mod:`physsim.hl.residual`, :mod:`physsim.hl.vit`, :mod:`physsim.hl.lstm`,
:mod:`physsim.hl.recurrent` and :mod:`physsim.hl.readouts`.

Shapes: ``u`` has shape ``(n_input,)``; states are arrays or ``dict`` of
arrays with named components (e.g. ``{"position": (n,), "momentum": (n,)}``).
All quantities are dimensionless network variables; ``dt`` parameters are in
the same time unit as the HL step ``tau``.
"""

from __future__ import annotations

import abc
from dataclasses import dataclass
from typing import Any, Mapping

import numpy as np

from ._tree import Tree

__all__ = ["Cell", "CellVJP", "FunctionCell", "ReversibleCell", "check_positive_int"]


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


def check_positive_int(name: str, value: int) -> int:
    """Return ``value`` as an int; raise ``ValueError`` naming ``name`` unless it is >= 1."""
    if int(value) != value or value < 1:
        raise ValueError(f"{name} must be a positive integer, got {value!r}")
    return int(value)


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
