"""Networks of coupled harmonic oscillators (mass-spring networks, LC circuits)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._kernels import quadratic as qk
from ..validation import as_finite_array, check_positive_definite, check_symmetric
from .base import HamiltonianSystem, SystemKernels, ThetaField

_DIAG_KERNELS = SystemKernels.from_module(qk, kinetic_prefix="diag_")
_DENSE_KERNELS = SystemKernels.from_module(qk, kinetic_prefix="dense_")


@dataclass(frozen=True, eq=False)
class CoupledOscillators(HamiltonianSystem):
    r"""Coupled harmonic oscillators,
    :math:`H = \tfrac12 p^T M^{-1} p + \tfrac12 q^T K q - q^T B u`.

    Covers mass-spring networks (q in m, p in kg m/s, K in N/m, u in N) and
    LC circuits (q = node flux in Wb, p = node charge in C, M = capacitance
    matrix in F, K = inverse-inductance matrix in 1/H, u = injected current in A).

    Parameters
    ----------
    mass : ndarray, shape (n,) or (n, n)
        Masses (diagonal) or a dense symmetric positive-definite mass matrix.
    stiffness : ndarray, shape (n, n)
        Symmetric stiffness matrix ``K``.
    input_matrix : ndarray, shape (n, m)
        How the ``m`` input channels force the ``n`` degrees of freedom.

    Notes
    -----
    Named parameters for gradients: ``mass``, ``stiffness``, ``input_matrix``.
    Gradients with respect to symmetric matrices are symmetric (the
    derivative along symmetric perturbations).
    """

    mass: np.ndarray
    stiffness: np.ndarray
    input_matrix: np.ndarray

    param_names: ClassVar[tuple[str, ...]] = ("mass", "stiffness", "input_matrix")
    is_linear: ClassVar[bool] = True

    def __post_init__(self) -> None:
        # the masses fix the number of degrees of freedom n; the other arrays must match it
        m = as_finite_array("mass", self.mass, ndim=(1, 2))
        n = m.shape[0]
        if n == 0:
            raise ValueError("mass must describe at least one degree of freedom, got shape "
                             f"{m.shape}")
        if m.ndim == 1:
            if np.any(m <= 0):
                raise ValueError(f"masses must be positive, got min {m.min():.3g}")
        else:
            if m.shape != (n, n):
                raise ValueError(f"mass must have shape (n,) or (n, n), got {m.shape}")
            check_positive_definite("mass", m)
        k = as_finite_array("stiffness", self.stiffness, ndim=2)
        if k.shape != (n, n):
            raise ValueError(f"stiffness must have shape ({n}, {n}) (mass has {n} degrees of "
                             f"freedom), got {k.shape}")
        check_symmetric("stiffness", k)
        b = as_finite_array("input_matrix", self.input_matrix, ndim=2)
        if b.shape[0] != n:
            raise ValueError(f"input_matrix must have shape ({n}, m) (mass has {n} degrees of "
                             f"freedom), got {b.shape}")
        object.__setattr__(self, "stiffness", 0.5 * (k + k.T))
        object.__setattr__(self, "mass", 0.5 * (m + m.T) if m.ndim == 2 else m)
        object.__setattr__(self, "input_matrix", b)

    @property
    def kernels(self) -> SystemKernels:  # type: ignore[override]
        """Diagonal-mass or dense-mass kernels, depending on :attr:`mass`."""
        return _DIAG_KERNELS if self.mass.ndim == 1 else _DENSE_KERNELS

    @property
    def n_dof(self) -> int:
        """Number of oscillators."""
        return int(self.stiffness.shape[0])

    @property
    def inverse_mass(self) -> np.ndarray:
        """Inverse masses (n,) or inverse mass matrix (n, n, symmetrised), in 1/kg."""
        if self.mass.ndim == 1:
            return 1.0 / self.mass
        # the kernels read one triangle (column-wise matvec): keep it exactly symmetric
        inv = np.linalg.inv(self.mass)
        return 0.5 * (inv + inv.T)

    def _theta_blocks(self) -> tuple[ThetaField, ...]:
        n = self.n_dof
        return (ThetaField("inverse_mass", self.mass.shape, symmetric=self.mass.ndim == 2),
                ThetaField("stiffness", (n, n), symmetric=True))

    def _pack_theta(self) -> list[np.ndarray]:
        minv = self.inverse_mass
        if minv.ndim == 2:
            minv = 0.5 * (minv + minv.T)
        return [minv, self.stiffness]

    def _gradient_to_params(self, g_theta, g_input_matrix):
        g_minv = g_theta["inverse_mass"]
        if self.mass.ndim == 1:
            g_mass = -g_minv / self.mass**2
        else:
            minv = self.inverse_mass
            g_mass = -minv.T @ g_minv @ minv.T
        return {"mass": g_mass, "stiffness": g_theta["stiffness"], "input_matrix": g_input_matrix}

    def normal_mode_frequencies(self) -> np.ndarray:
        """Angular frequencies of the normal modes (rad/s), ascending, shape (n,)."""
        import scipy.linalg

        mass = np.diag(self.mass) if self.mass.ndim == 1 else self.mass
        w2 = scipy.linalg.eigh(self.stiffness, mass, eigvals_only=True)
        return np.sqrt(np.clip(w2, 0.0, None))

    def max_frequency(self) -> float:
        """Highest normal-mode angular frequency (rad/s)."""
        return float(self.normal_mode_frequencies()[-1])

    @classmethod
    def from_springs(cls, masses, ground_springs, coupling_springs, input_matrix
                     ) -> "CoupledOscillators":
        r"""Mass-spring network from masses, springs to ground and pairwise springs.

        :math:`V = \tfrac12\sum_i k_i q_i^2 + \tfrac12\sum_{i<j} k_{ij}(q_j-q_i)^2`
        (RHEL paper, Eq. 8).

        Parameters
        ----------
        masses : ndarray, shape (n,)
            Masses (kg).
        ground_springs : ndarray, shape (n,)
            Spring constants to ground ``k_i`` (N/m).
        coupling_springs : ndarray, shape (n, n)
            Pairwise spring constants ``k_ij`` (N/m); only the upper triangle is used.
        input_matrix : ndarray, shape (n, m)
            Input matrix.
        """
        kg = as_finite_array("ground_springs", ground_springs, ndim=1)
        kc = as_finite_array("coupling_springs", coupling_springs, shape=(kg.size, kg.size))
        return cls(mass=masses, stiffness=springs_to_stiffness(kg, kc), input_matrix=input_matrix)


def springs_to_stiffness(ground_springs: np.ndarray, coupling_springs: np.ndarray) -> np.ndarray:
    """Stiffness matrix (n, n) from springs to ground (n,) and pairwise springs (n, n; upper
    triangle).
    """
    kc = np.triu(np.asarray(coupling_springs, float), 1)
    kc = kc + kc.T
    return np.diag(np.asarray(ground_springs, float) + kc.sum(axis=1)) - kc


def stiffness_gradient_to_springs(g_stiffness: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Chain rule of :func:`springs_to_stiffness`.

    Parameters
    ----------
    g_stiffness : ndarray, shape (n, n)
        Gradient with respect to the (symmetric) stiffness matrix.

    Returns
    -------
    g_ground : ndarray, shape (n,)
        Gradient with respect to the springs to ground.
    g_coupling : ndarray, shape (n, n)
        Gradient with respect to the pairwise springs (upper triangle; zero elsewhere).
    """
    g = np.asarray(g_stiffness, float)
    diag = np.diag(g)
    g_pair = diag[:, None] + diag[None, :] - g - g.T
    return diag.copy(), np.triu(g_pair, 1)
