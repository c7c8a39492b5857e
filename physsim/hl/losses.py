"""Per-step losses ``L(y, y_hat)`` with their gradients with respect to ``y``.

HL scales the loss by ``phi_t`` and injects ``phi_t dL/dy`` into the costate
equations (research/hl.md section 1.3); only the value and the gradient of a
single step are needed.
"""

from __future__ import annotations

import abc

import numpy as np

from ..registry import lookup

__all__ = ["LOSSES", "Loss", "SoftmaxCrossEntropy", "SquaredError", "get_loss"]


class Loss(abc.ABC):
    """A per-step loss ``L(y, target)``."""

    #: registry name
    name: str = ""

    @abc.abstractmethod
    def value_and_grad(self, y: np.ndarray, target) -> tuple[float, np.ndarray]:
        """Loss value and ``dL/dy``.

        Parameters
        ----------
        y : ndarray of shape (n_out,)
            Network output.
        target : int or ndarray
            Class label (classification) or target vector of shape ``(n_out,)``.

        Returns
        -------
        value : float
        grad : ndarray of shape (n_out,)
        """

    def value(self, y: np.ndarray, target) -> float:
        """Loss value only."""
        return self.value_and_grad(y, target)[0]


class SoftmaxCrossEntropy(Loss):
    """Cross-entropy of ``softmax(y)`` against an integer class label.

    ``L = logsumexp(y) - y[label]``; ``dL/dy = softmax(y) - onehot(label)``.
    """

    name = "cross_entropy"

    def value_and_grad(self, y, target):
        """Cross-entropy and ``softmax(y) - onehot(target)``."""
        label = int(target)
        if not 0 <= label < y.shape[0]:
            raise ValueError(f"class label {label} outside [0, {y.shape[0]})")
        shifted = y - np.max(y)
        exp = np.exp(shifted)
        total = np.sum(exp)
        grad = exp / total
        grad[label] -= 1.0
        return float(np.log(total) - shifted[label]), grad


class SquaredError(Loss):
    """Half squared error ``L = 1/2 ||y - target||^2``; ``dL/dy = y - target``."""

    name = "squared_error"

    def value_and_grad(self, y, target):
        """Half squared error and ``y - target``."""
        diff = y - np.asarray(target, dtype=y.dtype)
        if diff.shape != y.shape:
            raise ValueError(f"target shape {np.shape(target)} does not match output {y.shape}")
        return 0.5 * float(diff @ diff), diff


LOSSES: dict[str, type[Loss]] = {
    SoftmaxCrossEntropy.name: SoftmaxCrossEntropy,
    SquaredError.name: SquaredError,
}


def get_loss(name: str | Loss) -> Loss:
    """Instantiate a loss by name (or pass an instance through).

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message lists the valid names.
    """
    if isinstance(name, Loss):
        return name
    return lookup(LOSSES, name, "loss")()
