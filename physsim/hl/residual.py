"""Residual network cell: input projection, tanh residual blocks, linear classifier head.

The paper's "ResNet (4 residual blocks)" on MNIST (research/hl.md section 4)
gives no layer details; this is the fully connected form with the paper's
hidden width 30::

    x_0     = W_in u + b_in
    x_{k+1} = x_k + W2_k tanh(W1_k x_k + b1_k) + b2_k      k = 0 .. n_blocks-1
    y       = W_out x_{n_blocks} + b_out

Used as a whole-network map of the input (feed-forward), as output network
("HL (output)") or, with Eq. 9, as state network ("HL (state)").
"""

from __future__ import annotations

from typing import Any

import numpy as np

from .cell import Cell, CellVJP, check_positive_int

__all__ = ["ResidualMLP"]


class ResidualMLP(Cell):
    """Fully connected residual network ``u -> logits`` (see the module docstring).

    Parameters
    ----------
    n_input : int
        Input features (784 for flattened 28x28 MNIST).
    n_hidden : int
        Width of the residual stream and of each block's hidden layer.
    n_blocks : int
        Number of residual blocks.
    n_out : int
        Number of outputs (classes).

    Notes
    -----
    Parameters: ``input_weight`` ``(n_hidden, n_input)``, ``input_bias``
    ``(n_hidden,)``; per block ``k``: ``block{k}_weight1``, ``block{k}_weight2``
    ``(n_hidden, n_hidden)`` and ``block{k}_bias1``, ``block{k}_bias2``
    ``(n_hidden,)``; ``output_weight`` ``(n_out, n_hidden)``, ``output_bias``
    ``(n_out,)``.  As state network its state is the logits vector ``(n_out,)``.
    """

    def __init__(self, n_input: int, n_hidden: int, n_blocks: int, n_out: int) -> None:
        self.n_input = check_positive_int("n_input", n_input)
        self.n_hidden = check_positive_int("n_hidden", n_hidden)
        self.n_blocks = check_positive_int("n_blocks", n_blocks)
        self.n_out = check_positive_int("n_out", n_out)

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the parameters (see the class docstring)."""
        h = self.n_hidden
        shapes: dict[str, tuple[int, ...]] = {"input_weight": (h, self.n_input),
                                              "input_bias": (h,)}
        for k in range(self.n_blocks):
            shapes.update({f"block{k}_weight1": (h, h), f"block{k}_bias1": (h,),
                           f"block{k}_weight2": (h, h), f"block{k}_bias2": (h,)})
        shapes.update({"output_weight": (self.n_out, h), "output_bias": (self.n_out,)})
        return shapes

    def _fan_in(self, name: str, shape: tuple[int, ...]) -> int:
        return self.n_input if name.startswith("input") else self.n_hidden

    def initial_state(self, dtype: Any = np.float64) -> np.ndarray:
        """Zero logits vector of shape ``(n_out,)`` (state-network use)."""
        return np.zeros(self.n_out, dtype=dtype)

    def forward(self, params, u, h):
        """Evaluate the map; see :meth:`Cell.forward`."""
        if np.shape(u) != (self.n_input,):
            raise ValueError(f"ResidualMLP expects an input of shape ({self.n_input},), "
                             f"got {np.shape(u)}")
        stream = [params["input_weight"] @ u + params["input_bias"]]  # x_0 .. x_n
        hidden = []                                                    # tanh outputs
        for k in range(self.n_blocks):
            x = stream[-1]
            a = np.tanh(params[f"block{k}_weight1"] @ x + params[f"block{k}_bias1"])
            hidden.append(a)
            stream.append(x + (params[f"block{k}_weight2"] @ a + params[f"block{k}_bias2"]))
        logits = params["output_weight"] @ stream[-1] + params["output_bias"]
        return logits, (u, stream, hidden)

    def vjp(self, params, ctx, cotangent):
        """Vector-Jacobian product; see :meth:`Cell.vjp`."""
        u, stream, hidden = ctx
        grads = {"output_weight": np.outer(cotangent, stream[-1]),
                 "output_bias": cotangent.copy()}
        d_stream = params["output_weight"].T @ cotangent
        for k in reversed(range(self.n_blocks)):
            a = hidden[k]
            grads[f"block{k}_weight2"] = np.outer(d_stream, a)
            grads[f"block{k}_bias2"] = d_stream.copy()
            d_pre = (params[f"block{k}_weight2"].T @ d_stream) * (1.0 - a * a)
            grads[f"block{k}_weight1"] = np.outer(d_pre, stream[k])
            grads[f"block{k}_bias1"] = d_pre
            d_stream = d_stream + params[f"block{k}_weight1"].T @ d_pre
        grads["input_weight"] = np.outer(d_stream, u)
        grads["input_bias"] = d_stream
        grads = {name: grads[name] for name in self.param_shapes}
        return CellVJP(input=params["input_weight"].T @ d_stream, state=None, params=grads)
