"""Output networks (read-outs) of an HL model: identity and affine."""

from __future__ import annotations

import numpy as np

from ._tree import tree_map
from .cell import Cell, CellVJP, check_positive_int

__all__ = ["IdentityReadout", "LinearReadout"]


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
        self.n_state = check_positive_int("n_state", n_state)
        self.n_out = check_positive_int("n_out", n_out)
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
