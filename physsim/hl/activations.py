"""Element-wise activations with their derivatives, by name (used by the HL cells)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import numpy as np

from ..registry import lookup

__all__ = ["ACTIVATIONS", "Activation", "get_activation"]


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
    return lookup(ACTIVATIONS, name, "activation")
