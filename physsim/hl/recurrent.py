"""Recurrent state cells: Elman RNN, reversible midpoint RNN, linear Hamiltonian unit."""

from __future__ import annotations

from typing import Any

import numpy as np

from .activations import get_activation
from .cell import Cell, CellVJP, ReversibleCell, check_positive_int

__all__ = ["ElmanCell", "LinearHRUCell", "MidpointRNNCell"]


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
        self.n_input = check_positive_int("n_input", n_input)
        self.n_state = check_positive_int("n_state", n_state)
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
        # the velocity f is the Elman map: same parameters, forward and VJP
        self.velocity = ElmanCell(n_input, n_state, activation)
        self.n_input, self.n_state = self.velocity.n_input, self.velocity.n_state
        if not (np.isfinite(dt) and dt > 0):
            raise ValueError(f"dt must be a positive finite number, got {dt!r}")
        self.dt = float(dt)

    @property
    def param_shapes(self):
        """Names and shapes of the parameters (those of :class:`ElmanCell`)."""
        return self.velocity.param_shapes

    def _fan_in(self, name, shape):
        return self.velocity._fan_in(name, shape)

    def initial_state(self, dtype: Any = np.float64) -> dict[str, np.ndarray]:
        """``{"previous": 0, "current": 0}``, each of shape ``(n_state,)``."""
        return {"previous": np.zeros(self.n_state, dtype=dtype),
                "current": np.zeros(self.n_state, dtype=dtype)}

    def forward(self, params, u, h):
        """Evaluate the map; see :meth:`Cell.forward`."""
        f, ctx = self.velocity.forward(params, u, h["current"])
        out = {"previous": h["current"], "current": h["previous"] + (2.0 * self.dt) * f}
        return out, ctx

    def vjp(self, params, ctx, cotangent):
        """Vector-Jacobian product; see :meth:`Cell.vjp`."""
        inner = self.velocity.vjp(params, ctx, (2.0 * self.dt) * cotangent["current"])
        return CellVJP(input=inner.input,
                       state={"previous": cotangent["current"],
                              "current": cotangent["previous"] + inner.state},
                       params=inner.params)

    def inverse(self, params, u, h_next):
        """Previous state; see :meth:`ReversibleCell.inverse`."""
        return self.inverse_with_context(params, u, h_next)[0]

    def inverse_with_context(self, params, u, h_next):
        """Previous state and forward context without a second evaluation."""
        # the inverse evaluates f at (u, current) = the point forward(h) linearises at
        current = h_next["previous"]
        f, ctx = self.velocity.forward(params, u, current)
        return {"previous": h_next["current"] - (2.0 * self.dt) * f, "current": current}, ctx


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
        self.n_osc = check_positive_int("n_osc", n_osc)
        self.n_input = check_positive_int("n_input", n_input)
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
