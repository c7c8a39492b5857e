"""The HL model: state network, output network and loss, plus one-step VJPs of ``dh/dt``.

State equations (research/hl.md section 1.2)::

    dh/dt = f^h(u, h; theta^h)          (E*1)
    y     = f^y(u, h; theta^y)

Two forms of ``f^h`` are supported:

``"instantaneous"`` (Eq. 9)
    ``f^h = (f_hat(u, h) - h) / tau``: the cell computes the next state and the
    Euler step ``h + tau f^h`` *is* ``f_hat(u, h)`` (evaluated directly, which
    is exact rather than ``h + (f_hat - h)``).
``"velocity"``
    the cell computes ``dh/dt`` itself and the Euler step is ``h + tau f``.

The costate equations need ``tau (d hdot/d h)^T z`` and
``tau (d hdot/d theta^h)^T z``.  For the instantaneous form these are
``J^T z - z`` and ``J_theta^T z`` with ``J = d f_hat/d h``; the ``-z`` part is
folded into the decay factor returned by :meth:`HLModel.neuron_costate_decay`
so that e.g. ``eta = 0, s = -1`` gives exactly ``z' = J^T z + tau phi dL/dh``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any, NamedTuple

import numpy as np

from ..validation import check_choice

from ._tree import Tree, tree_map, tree_zeros_like
from .cell import Cell
from .config import HLConfig
from .losses import get_loss

__all__ = ["HLCostate", "HLModel", "HLParams", "STATE_FORMS"]

#: Allowed values of :attr:`HLModel.state_form`.
STATE_FORMS = ("instantaneous", "velocity")


class HLParams(NamedTuple):
    """Weights ``theta = [theta^h, theta^y]`` (or any tree with that structure, e.g. omega).

    Attributes
    ----------
    state : dict of str to ndarray
        Parameters of the state network (empty without one).
    output : dict of str to ndarray
        Parameters of the output network.
    """

    state: dict
    output: dict


class HLCostate(NamedTuple):
    """Costate ``[z, omega]`` of the HL equations.

    Attributes
    ----------
    neuron : Tree
        ``z``, same structure as the neuron state ``h``.
    weight : HLParams
        ``omega = [omega^h, omega^y]``, same structure as the weights.
    """

    neuron: Tree
    weight: HLParams


@dataclass(frozen=True)
class HLModel:
    """Neuron-state network, output network and per-step loss.

    Parameters
    ----------
    output_cell : Cell
        ``f^y(u, h; theta^y)``.
    loss : Loss or str
        Per-step loss ``L(y, y_hat)`` or its registry name.
    state_cell : Cell or None, default None
        ``f^h``; ``None`` for a stateless model (h is the empty dict).
    state_form : {"instantaneous", "velocity"}, default "instantaneous"
        How ``state_cell`` defines ``dh/dt`` (module docstring).

    Raises
    ------
    ValueError
        For an unknown ``state_form`` or loss name.
    """

    output_cell: Cell
    loss: Any
    state_cell: Cell | None = None
    state_form: str = "instantaneous"

    def __post_init__(self) -> None:
        """Validate and normalise the fields."""
        object.__setattr__(self, "loss", get_loss(self.loss))
        check_choice(self.state_form, STATE_FORMS, "state_form")
        if not isinstance(self.output_cell, Cell):
            raise TypeError("output_cell must be a physsim.hl Cell")
        if self.state_cell is not None and not isinstance(self.state_cell, Cell):
            raise TypeError("state_cell must be a physsim.hl Cell or None")

    # ------------------------------------------------------------------ containers
    def init_params(self, rng: np.random.Generator | int | None = None,
                    dtype: Any = np.float64) -> HLParams:
        """Random weights for both networks (state network first, same generator)."""
        rng = np.random.default_rng(rng)
        state = {} if self.state_cell is None else self.state_cell.init_params(rng, dtype)
        return HLParams(state=state, output=self.output_cell.init_params(rng, dtype))

    def check_params(self, params: HLParams) -> None:
        """Raise ``ValueError`` if ``params`` does not fit the two networks."""
        if not isinstance(params, HLParams):
            raise TypeError(f"params must be HLParams, got {type(params).__name__}")
        if self.state_cell is None:
            if params.state:
                raise ValueError("model has no state network but params.state is not empty")
        else:
            self.state_cell.check_params(params.state)
        self.output_cell.check_params(params.output)

    def initial_state(self, dtype: Any = np.float64) -> Tree:
        """Reset value ``h_0`` of the neuron state (``{}`` without a state network)."""
        return {} if self.state_cell is None else self.state_cell.initial_state(dtype)

    def zero_costate(self, params: HLParams, state: Tree) -> HLCostate:
        """``z = 0``, ``omega = 0`` with the structures of ``state`` and ``params``."""
        return HLCostate(neuron=tree_zeros_like(state), weight=tree_zeros_like(params))

    # ------------------------------------------------------------------ one-step maps
    def state_step(self, params: HLParams, u: np.ndarray, h: Tree, tau: float) -> tuple[Tree, Any]:
        """Euler step of (E*1): ``h + tau f^h(u, h)``, and the context for :meth:`state_vjp`.

        Returns ``(h, None)`` for a stateless model.
        """
        if self.state_cell is None:
            return h, None
        out, ctx = self.state_cell.forward(params.state, u, h)
        if self.state_form == "instantaneous":
            return out, ctx
        return tree_map(lambda a, f: a + tau * f, h, out), ctx

    def state_vjp(self, params: HLParams, ctx: Any, z: Tree,
                  tau: float) -> tuple[Tree | None, dict | None]:
        """Scaled VJPs of ``dh/dt`` at the point of ``ctx`` with cotangent ``z``.

        Returns
        -------
        k_state : Tree or None
            ``J^T z`` (instantaneous form; the ``-z`` part is in the decay) or
            ``tau (df/dh)^T z`` (velocity form); ``None`` if ``f^h`` ignores ``h``.
        k_params : dict or None
            ``tau (d hdot/d theta^h)^T z``; ``None`` for a stateless model.
        """
        if self.state_cell is None:
            return None, None
        vjp = self.state_cell.vjp(params.state, ctx, z)
        if self.state_form == "instantaneous":
            return vjp.state, vjp.params
        k_state = None if vjp.state is None else tree_map(lambda a: tau * a, vjp.state)
        return k_state, {k: tau * v for k, v in vjp.params.items()}

    def neuron_costate_decay(self, config: HLConfig) -> float:
        """Factor multiplying ``z`` in one Euler step of (E*3) besides the VJP term.

        ``1 - tau eta + s`` for the instantaneous form (the ``-h/tau`` of Eq. 9
        contributes ``+s z``), ``1 - tau eta`` for the velocity form.  For a
        state network that ignores ``h`` in the instantaneous form this is the
        whole memory of ``z``.  Exact and rounded once (:meth:`HLConfig.euler_decay`).
        """
        return config.euler_decay(config.s if self.state_form == "instantaneous" else 0)

    def output_loss(self, params: HLParams, u: np.ndarray, h: Tree,
                    target) -> tuple[float, Tree | None, dict]:
        """Loss at ``y = f^y(u, h)`` and its gradients.

        Returns
        -------
        value : float
            ``L(y, target)`` (not scaled by ``phi``).
        grad_state : Tree or None
            ``dL/dh`` (``None`` if ``f^y`` ignores ``h``).
        grad_params : dict
            ``dL/d theta^y``.
        """
        y, ctx = self.output_cell.forward(params.output, u, h)
        value, grad_y = self.loss.value_and_grad(y, target)
        vjp = self.output_cell.vjp(params.output, ctx, grad_y)
        return value, vjp.state, vjp.params

    def loss_value(self, params: HLParams, u: np.ndarray, h: Tree, target) -> float:
        """``L(f^y(u, h), target)`` without gradients."""
        return self.loss.value(self.output_cell(params.output, u, h), target)

    def predict(self, params: HLParams, u: np.ndarray, h: Tree) -> np.ndarray:
        """Output ``y = f^y(u, h; theta^y)``."""
        return self.output_cell(params.output, u, h)
