"""LSTM over a whole sequence in one HL step ("automatic unfolding", research/hl.md s. 2.3).

The paper's IMDb LSTM experiments stream a *whole sequence per HL step*: the
unrolled recurrent net is then a feed-forward map of the sequence, and the HL
(output), HL (state) and HL (state/output) forms of sections 2.1-2.2 apply to
it directly.  The cell reads the flattened sequence
``u = (x_0, ..., x_{n_steps-1})`` and runs, from ``h_0 = c_0 = 0``, the LSTM
cell (PyTorch gate order input, forget, cell, output; one bias)::

    a_t = W x_t + U h_t + b                          (4 n_hidden,)
    i, f, o = sigmoid(a_i), sigmoid(a_f), sigmoid(a_o);  g = tanh(a_g)
    c_{t+1} = f * c_t + i * g
    h_{t+1} = o * tanh(c_{t+1})

and returns ``h_{n_steps}`` or, with a head, ``W_h h_{n_steps} + b_h``.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .activations import get_activation
from .cell import Cell, CellVJP, check_positive_int

__all__ = ["UnrolledLSTM"]

_SIGMOID = get_activation("sigmoid").value


class UnrolledLSTM(Cell):
    """LSTM unrolled over a fixed-length sequence, with an optional linear head.

    Parameters
    ----------
    n_features : int
        Features per token (the token embedding width).
    n_steps : int
        Sequence length; the input ``u`` has shape ``(n_steps * n_features,)``.
    n_hidden : int
        LSTM width.
    n_out : int or None, default None
        With an int, a linear head ``W_h h + b_h`` maps the last hidden state
        to ``n_out`` logits; with ``None`` the cell returns the last hidden
        state (state network of "HL (state/output)").

    Notes
    -----
    Parameters: ``input_weight`` W ``(4 n_hidden, n_features)``,
    ``recurrent_weight`` U ``(4 n_hidden, n_hidden)``, ``bias`` b
    ``(4 n_hidden,)``, rows in gate order input, forget, cell, output; with a
    head also ``head_weight`` ``(n_out, n_hidden)`` and ``head_bias``
    ``(n_out,)``.  As state network its state is its output vector.
    """

    def __init__(self, n_features: int, n_steps: int, n_hidden: int,
                 n_out: int | None = None) -> None:
        self.n_features = check_positive_int("n_features", n_features)
        self.n_steps = check_positive_int("n_steps", n_steps)
        self.n_hidden = check_positive_int("n_hidden", n_hidden)
        self.n_out = None if n_out is None else check_positive_int("n_out", n_out)
        self.n_input = self.n_features * self.n_steps

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the parameters (see the class docstring)."""
        four = 4 * self.n_hidden
        shapes = {"input_weight": (four, self.n_features),
                  "recurrent_weight": (four, self.n_hidden), "bias": (four,)}
        if self.n_out is not None:
            shapes.update({"head_weight": (self.n_out, self.n_hidden),
                           "head_bias": (self.n_out,)})
        return shapes

    def _fan_in(self, name: str, shape: tuple[int, ...]) -> int:
        return self.n_hidden  # PyTorch's LSTM and Linear(n_hidden, .) both use 1/sqrt(hidden)

    def initial_state(self, dtype: Any = np.float64) -> np.ndarray:
        """Zero output vector (state-network use)."""
        return np.zeros(self.n_hidden if self.n_out is None else self.n_out, dtype=dtype)

    def forward(self, params, u, h):
        """Evaluate the map; see :meth:`Cell.forward`."""
        if np.shape(u) != (self.n_input,):
            raise ValueError(f"UnrolledLSTM expects a flattened sequence of shape "
                             f"({self.n_input},), got {np.shape(u)}")
        n = self.n_hidden
        tokens = u.reshape(self.n_steps, self.n_features)
        hidden = [np.zeros(n, dtype=u.dtype)]
        cell = [np.zeros(n, dtype=u.dtype)]
        gates, cell_tanh = [], []
        for t in range(self.n_steps):
            pre = (params["input_weight"] @ tokens[t] + params["recurrent_weight"] @ hidden[t]
                   + params["bias"])
            gate = np.concatenate([_SIGMOID(pre[:2 * n]), np.tanh(pre[2 * n:3 * n]),
                                   _SIGMOID(pre[3 * n:])])
            c_next = gate[n:2 * n] * cell[t] + gate[:n] * gate[2 * n:3 * n]
            c_tanh = np.tanh(c_next)
            gates.append(gate)
            cell_tanh.append(c_tanh)
            cell.append(c_next)
            hidden.append(gate[3 * n:] * c_tanh)
        out = hidden[-1]
        if self.n_out is not None:
            out = params["head_weight"] @ out + params["head_bias"]
        return out, (tokens, hidden, cell, gates, cell_tanh)

    def vjp(self, params, ctx, cotangent):
        """Vector-Jacobian product; see :meth:`Cell.vjp`."""
        tokens, hidden, cell, gates, cell_tanh = ctx
        n = self.n_hidden
        grads = {}
        if self.n_out is not None:
            grads["head_weight"] = np.outer(cotangent, hidden[-1])
            grads["head_bias"] = cotangent.copy()
            d_h = params["head_weight"].T @ cotangent
        else:
            d_h = cotangent
        d_c = np.zeros(n, dtype=d_h.dtype)
        g_w = np.zeros(params["input_weight"].shape, dtype=d_h.dtype)
        g_u = np.zeros(params["recurrent_weight"].shape, dtype=d_h.dtype)
        g_b = np.zeros(params["bias"].shape, dtype=d_h.dtype)
        d_tokens = np.empty_like(tokens)
        for t in reversed(range(self.n_steps)):
            gate, c_tanh = gates[t], cell_tanh[t]
            i, f, c_in, o = gate[:n], gate[n:2 * n], gate[2 * n:3 * n], gate[3 * n:]
            d_c = d_c + d_h * o * (1.0 - c_tanh * c_tanh)
            d_pre = np.concatenate([d_c * c_in * i * (1.0 - i), d_c * cell[t] * f * (1.0 - f),
                                    d_c * i * (1.0 - c_in * c_in),
                                    d_h * c_tanh * o * (1.0 - o)])
            g_w = g_w + np.outer(d_pre, tokens[t])
            g_u = g_u + np.outer(d_pre, hidden[t])
            g_b = g_b + d_pre
            d_tokens[t] = params["input_weight"].T @ d_pre
            d_h = params["recurrent_weight"].T @ d_pre
            d_c = d_c * f
        grads.update({"input_weight": g_w, "recurrent_weight": g_u, "bias": g_b})
        grads = {name: grads[name] for name in self.param_shapes}
        return CellVJP(input=d_tokens.reshape(-1), state=None, params=grads)
