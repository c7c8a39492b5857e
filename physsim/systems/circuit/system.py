r"""The circuit Hamiltonian system in the node-flux representation.

.. math::

    H(\Phi, Q) = \tfrac12 Q^T C^{-1} Q + \tfrac12 \Phi^T K \Phi - \Phi^T B u
                 - \sum_j E_{J,j} \cos\!\left(\frac{2\pi}{\Phi_0} (D\Phi)_j\right)

with node fluxes :math:`\Phi` (Wb, the positions), node charges :math:`Q`
(C, the momenta), capacitance matrix :math:`C` (F), inverse-inductance
matrix :math:`K` (1/H), junction incidence matrix :math:`D` and Josephson
energies :math:`E_J = I_c \Phi_0 / 2\pi` (J).  Hamilton's equations are
Kirchhoff's current law at every node:
:math:`C\ddot\Phi = -K\Phi + Bu - D^T I_c \sin(2\pi D\Phi/\Phi_0)`
(Devoret, *Quantum fluctuations in electrical circuits*, Les Houches 1995;
Vool & Devoret, Int. J. Circ. Theor. Appl. 45, 897 (2017)).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.linalg

from ..._kernels import circuit as ck
from ...validation import as_finite_array, check_positive, check_positive_definite, check_symmetric
from ..base import HamiltonianSystem, SystemKernels, ThetaField
from .units import FLUX_QUANTUM, SI_UNITS, CircuitUnits

_CIRCUIT_KERNELS = SystemKernels.from_module(ck)


@dataclass(frozen=True, eq=False)
class CircuitSystem(HamiltonianSystem):
    r"""A superconducting circuit in the node-flux representation.

    .. math::

        H = \tfrac12 Q^T C^{-1} Q + \tfrac12 \Phi^T K \Phi - \Phi^T B u
            - \sum_j E_{J,j} \cos(2\pi (D\Phi)_j / \Phi_0)

    Positions are the node fluxes :math:`\Phi` (Wb), momenta the node charges
    :math:`Q` (C), time in s, energy in J, in SI units (see :attr:`units` for
    a system built in natural units).  Usually made by :meth:`Circuit.build`.

    Parameters
    ----------
    capacitance : ndarray, shape (n, n)
        Symmetric positive-definite capacitance matrix ``C`` (F).
    inverse_inductance : ndarray, shape (n, n)
        Symmetric inverse-inductance matrix ``K`` (1/H), including the series
        inductances of voltage sources.
    josephson_energy : ndarray, shape (nj,)
        Josephson energies ``E_J = I_c Phi_0 / (2 pi)`` (J).
    junction_incidence : ndarray, shape (nj, n)
        Row ``j`` maps node fluxes to the flux across junction ``j``
        (+1 at its first node, -1 at its second, nothing for ground).
    input_matrix : ndarray, shape (n, m)
        ``B``: the current (A) each input pushes into each node.  A current
        source column has +1 at its node (input in A); a voltage source in
        series with ``L_s`` has ``1/L_s`` (input: source flux, Wb, the time
        integral of the source voltage).
    flux_quantum : float
        ``Phi_0`` in the flux unit (Wb in SI, ``2 pi`` in natural units).
    node_names, input_names, junction_names : tuple of str, optional
        Labels (default ``node0``, ``input0``, ``J0``, ...).
    input_units : tuple of str, optional
        Unit of each input channel (``"A"`` or ``"Wb"`` in SI).
    units : CircuitUnits
        Units of state, time and parameters (SI by default).

    Notes
    -----
    Named parameters for gradients: ``capacitance``, ``inverse_inductance``,
    ``josephson_energy``, ``input_matrix``.  The incidence matrix and flux
    quantum are structure, not parameters.  A voltage source's ``1/L_s`` appears
    in both ``K`` and ``B``; gradients treat the two entries as independent.

    Inputs are held constant within each integrator step (zero-order hold).
    The energy drops the constant ``Phi_s^2 / (2 L_s)`` of each voltage source.

    In SI units the state is tiny (fluxes ~1e-15 Wb, charges ~1e-19 C,
    energies ~1e-22 J).  float64 handles that; float32 does not (products like
    ``Q Q^T`` underflow), so build with ``units="natural"`` for float32.
    """

    capacitance: np.ndarray
    inverse_inductance: np.ndarray
    josephson_energy: np.ndarray
    junction_incidence: np.ndarray
    input_matrix: np.ndarray
    flux_quantum: float = FLUX_QUANTUM
    node_names: tuple[str, ...] | None = None
    input_names: tuple[str, ...] | None = None
    junction_names: tuple[str, ...] | None = None
    input_units: tuple[str, ...] | None = None
    units: CircuitUnits = field(default=SI_UNITS)

    kernels: ClassVar[SystemKernels] = _CIRCUIT_KERNELS
    param_names: ClassVar[tuple[str, ...]] = (
        "capacitance", "inverse_inductance", "josephson_energy", "input_matrix")

    def __post_init__(self) -> None:
        c = as_finite_array("capacitance", self.capacitance, ndim=2)
        n = c.shape[0]
        if n < 1:
            raise ValueError("a circuit needs at least one node")
        check_positive_definite("capacitance", c)
        k = as_finite_array("inverse_inductance", self.inverse_inductance, shape=(n, n))
        check_symmetric("inverse_inductance", k)
        ej = as_finite_array("josephson_energy", self.josephson_energy, ndim=1)
        nj = ej.size
        d = self.junction_incidence
        if nj == 0 and np.size(d) == 0:
            d = np.zeros((0, n))  # no junctions: accept [] as well as a (0, n) array
        d = as_finite_array("junction_incidence", d, shape=(nj, n))
        b = as_finite_array("input_matrix", self.input_matrix, ndim=2)
        if b.shape[0] != n:
            raise ValueError(f"input_matrix must have shape ({n}, m) for {n} node(s), "
                             f"got {b.shape}")
        if not isinstance(self.units, CircuitUnits):
            raise TypeError(f"units must be a CircuitUnits, got {type(self.units).__name__}")
        phi0 = check_positive("flux_quantum", self.flux_quantum)
        object.__setattr__(self, "capacitance", 0.5 * (c + c.T))
        object.__setattr__(self, "inverse_inductance", 0.5 * (k + k.T))
        object.__setattr__(self, "josephson_energy", ej)
        object.__setattr__(self, "junction_incidence", d)
        object.__setattr__(self, "input_matrix", b)
        object.__setattr__(self, "flux_quantum", phi0)
        m = b.shape[1]
        for attr, size, prefix in (("node_names", n, "node"), ("input_names", m, "input"),
                                   ("junction_names", nj, "J"), ("input_units", m, None)):
            value = getattr(self, attr)
            if value is None:
                value = (tuple(f"{prefix}{i}" for i in range(size)) if prefix
                         else ("",) * size)
            value = tuple(str(v) for v in value)
            if len(value) != size:
                raise ValueError(f"{attr} must have {size} entries, got {len(value)}")
            object.__setattr__(self, attr, value)

    # ------------------------------------------------------------------ sizes
    @property
    def n_dof(self) -> int:
        """Number of nodes (excluding ground)."""
        return int(self.capacitance.shape[0])

    @property
    def n_junctions(self) -> int:
        """Number of Josephson junctions."""
        return int(self.josephson_energy.size)

    @property
    def is_linear(self) -> bool:
        """True for a circuit without junctions (an LC network: quadratic Hamiltonian)."""
        return self.n_junctions == 0

    @property
    def time_unit(self) -> str:  # type: ignore[override]
        """Unit of time: ``"s"`` in SI, e.g. ``"ns"`` in natural units."""
        return self.units.time_label

    @property
    def flux_to_phase(self) -> float:
        """``2 pi / Phi_0``: radians of superconducting phase per flux unit."""
        return 2.0 * np.pi / self.flux_quantum

    def node_index(self, name: Any) -> int:
        """Index of a node in the state vector, by name."""
        key = str(name)
        if key not in self.node_names:
            raise ValueError(f"unknown node {key!r}; nodes are: {', '.join(self.node_names)}")
        return self.node_names.index(key)

    # ------------------------------------------------------------- parameters
    @property
    def inverse_capacitance(self) -> np.ndarray:
        """``C^-1`` (symmetrised), shape (n, n), in 1/F."""
        cinv = np.linalg.inv(self.capacitance)
        return 0.5 * (cinv + cinv.T)

    def _theta_blocks(self) -> tuple[ThetaField, ...]:
        n, nj = self.n_dof, self.n_junctions
        return (ThetaField("inverse_capacitance", (n, n), symmetric=True),
                ThetaField("flux_to_phase", (1,)), ThetaField("josephson_energy", (nj,)),
                ThetaField("junction_incidence", (nj, n)),
                ThetaField("inverse_inductance", (n, n), symmetric=True))

    def _pack_theta(self) -> list[np.ndarray]:
        return [self.inverse_capacitance, np.array([self.flux_to_phase]), self.josephson_energy,
                self.junction_incidence, self.inverse_inductance]

    def _gradient_to_params(self, g_theta, g_input_matrix):
        cinv = self.inverse_capacitance
        g_c = -cinv @ g_theta["inverse_capacitance"] @ cinv
        return {"capacitance": 0.5 * (g_c + g_c.T),
                "inverse_inductance": g_theta["inverse_inductance"],
                "josephson_energy": g_theta["josephson_energy"],
                "input_matrix": g_input_matrix}

    # ---------------------------------------------------------------- physics
    def potential_hessian(self, fluxes: np.ndarray | None = None) -> np.ndarray:
        r"""Hessian of the potential, :math:`K + D^T \mathrm{diag}(E_J\kappa^2\cos\kappa D\Phi) D`.

        Parameters
        ----------
        fluxes : ndarray, shape (n,), optional
            Node fluxes where it is evaluated (default: all zero).

        Returns
        -------
        ndarray, shape (n, n)
            In energy per flux squared (1/H in SI).
        """
        kappa = self.flux_to_phase
        if fluxes is None:
            cos = np.ones(self.n_junctions)
        else:
            q = as_finite_array("fluxes", fluxes, shape=(self.n_dof,))
            cos = np.cos(kappa * (self.junction_incidence @ q))
        dj = self.junction_incidence
        return self.inverse_inductance + dj.T @ ((self.josephson_energy * kappa**2 * cos)[:, None]
                                                 * dj)

    def normal_mode_frequencies(self, fluxes: np.ndarray | None = None) -> np.ndarray:
        r"""Angular frequencies of small oscillations about a flux point, ascending.

        Solves :math:`H_V v = \omega^2 C v` with the potential Hessian
        :math:`H_V` of :meth:`potential_hessian`.  At zero flux every junction
        acts as its Josephson inductance :math:`L_J = (\Phi_0/2\pi)^2 / E_J`.

        Parameters
        ----------
        fluxes : ndarray, shape (n,), optional
            Node fluxes of the (equilibrium) point; default zero.

        Returns
        -------
        ndarray, shape (n,)
            Angular frequencies (rad per time unit, rad/s in SI).  A direction
            of negative curvature (an unstable point) is reported as
            ``-sqrt(|omega^2|)``.
        """
        w2 = scipy.linalg.eigh(self.potential_hessian(fluxes), self.capacitance,
                               eigvals_only=True)
        return np.sign(w2) * np.sqrt(np.abs(w2))

    def max_frequency(self) -> float:
        r"""Upper bound of small-oscillation angular frequencies anywhere in flux space.

        Since :math:`|\cos| \le 1`, the potential Hessian never exceeds
        :math:`K + D^T \mathrm{diag}(|E_J| \kappa^2) D` (Loewner order), so the
        largest generalized eigenvalue of that matrix with :math:`C` bounds
        :math:`\omega^2` at every state.  Rad per time unit.
        """
        kappa = self.flux_to_phase
        dj = self.junction_incidence
        junction_stiffness = np.abs(self.josephson_energy) * kappa**2
        bound = self.inverse_inductance + dj.T @ (junction_stiffness[:, None] * dj)
        w2 = scipy.linalg.eigh(bound, self.capacitance, eigvals_only=True)
        return float(np.sqrt(max(w2[-1], 0.0)))

    def describe(self) -> dict[str, Any]:
        """JSON-able description: sizes, names and units."""
        out = super().describe()
        out.update({"n_junctions": self.n_junctions, "node_names": list(self.node_names),
                    "input_names": list(self.input_names),
                    "input_units": list(self.input_units),
                    "junction_names": list(self.junction_names), "units": self.units.name,
                    "time_unit": self.time_unit})
        return out
