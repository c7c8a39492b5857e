"""Typed gradient results and their comparison (shared by RHEL, BPTT and finite differences)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np


@dataclass
class GradientResult:
    """Gradient of a loss with respect to a system's parameters, inputs and initial state.

    Attributes
    ----------
    params : dict of str to ndarray
        Gradient per named parameter (shapes of ``system.params``).
    input_gradient : ndarray, shape (B, L, m), or None
        dL/du_k per trajectory and step.
    initial_position_gradient, initial_momentum_gradient : ndarray, shape (B, n_dof), or None
        dL/dq_0 and dL/dp_0 per trajectory.
    loss : float or None
        Loss value of the forward pass (None where it cannot be had without
        recording the trajectory).
    method : str
        ``"rhel-centred"``, ``"rhel-one_sided"``, ``"bptt"`` or ``"finite-difference"``.
    info : dict
        Method details (eps, integrator, dtype, seed, ...).
    """

    params: dict[str, np.ndarray]
    input_gradient: np.ndarray | None = None
    initial_position_gradient: np.ndarray | None = None
    initial_momentum_gradient: np.ndarray | None = None
    loss: float | None = None
    method: str = ""
    info: dict[str, Any] = field(default_factory=dict)

    def tensors(self) -> dict[str, np.ndarray]:
        """All gradient tensors by name: parameters, then ``inputs``, ``q0``, ``p0`` when
        present.
        """
        out = dict(self.params)
        if self.input_gradient is not None:
            out["inputs"] = self.input_gradient
        if self.initial_position_gradient is not None:
            out["q0"] = self.initial_position_gradient
        if self.initial_momentum_gradient is not None:
            out["p0"] = self.initial_momentum_gradient
        return out


@dataclass(frozen=True)
class Agreement:
    """How closely one gradient tensor matches a reference.

    Attributes
    ----------
    cosine : float
        Cosine similarity of the flattened tensors.
    norm_ratio : float
        ``|g| / |reference|``.
    max_relative_error : float
        ``max|g - reference| / max|reference|``.
    """

    cosine: float
    norm_ratio: float
    max_relative_error: float


def agreement(g: np.ndarray, reference: np.ndarray) -> Agreement:
    """Cosine, norm ratio and max relative error of ``g`` against ``reference``."""
    a = np.ravel(np.asarray(g, float))
    b = np.ravel(np.asarray(reference, float))
    if a.shape != b.shape:
        raise ValueError(f"shapes differ: {np.shape(g)} and {np.shape(reference)}")
    na, nb = np.linalg.norm(a), np.linalg.norm(b)
    if nb == 0:
        return Agreement(1.0 if na == 0 else 0.0, np.inf if na else 1.0,
                         0.0 if na == 0 else np.inf)
    cos = float(a @ b / (na * nb)) if na > 0 else 0.0
    return Agreement(cos, float(na / nb), float(np.max(np.abs(a - b)) / np.max(np.abs(b))))


def compare(result: GradientResult, reference: GradientResult) -> dict[str, Agreement]:
    """Per-tensor :class:`Agreement` of ``result`` against ``reference`` (common tensors only)."""
    ra, rb = result.tensors(), reference.tensors()
    return {name: agreement(ra[name], rb[name]) for name in ra if name in rb}
