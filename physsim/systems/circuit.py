r"""Superconducting circuits in physical units: a netlist builder and the resulting system.

A :class:`Circuit` collects capacitors, inductors, Josephson junctions and
sources between named nodes; :meth:`Circuit.build` turns the netlist into a
:class:`CircuitSystem`, a Hamiltonian system in the node-flux representation
(Devoret, *Quantum fluctuations in electrical circuits*, Les Houches 1995;
Vool & Devoret, Int. J. Circ. Theor. Appl. 45, 897 (2017)):

.. math::

    H(\Phi, Q) = \tfrac12 Q^T C^{-1} Q + \tfrac12 \Phi^T K \Phi - \Phi^T B u
                 - \sum_j E_{J,j} \cos\!\left(\frac{2\pi}{\Phi_0} (D\Phi)_j\right)

with node fluxes :math:`\Phi` (Wb, the positions), node charges :math:`Q`
(C, the momenta), capacitance matrix :math:`C` (F), inverse-inductance
Laplacian :math:`K` (1/H), junction incidence matrix :math:`D` and Josephson
energies :math:`E_J = I_c \Phi_0 / 2\pi` (J).  Hamilton's equations are
Kirchhoff's current law at every node:
:math:`C\ddot\Phi = -K\Phi + Bu - D^T I_c \sin(2\pi D\Phi/\Phi_0)`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, ClassVar

import numpy as np
import scipy.constants
import scipy.linalg

from .._kernels import circuit as ck
from .._validation import as_finite_array, check_positive, check_positive_definite, check_symmetric
from .base import HamiltonianSystem, SystemKernels, ThetaField

#: Magnetic flux quantum :math:`\Phi_0 = h / 2e` (Wb), exact in the 2019 SI.
FLUX_QUANTUM = scipy.constants.h / (2.0 * scipy.constants.e)
#: Reduced flux quantum :math:`\Phi_0 / 2\pi` (Wb): the flux of one radian of phase.
REDUCED_FLUX_QUANTUM = FLUX_QUANTUM / (2.0 * np.pi)
#: Names that denote the ground node (compared after ``str()``, case-insensitive).
GROUND_NAMES = ("gnd", "0")

_CIRCUIT_KERNELS = SystemKernels(
    grad_kinetic=ck.grad_kinetic, grad_potential=ck.grad_potential,
    kinetic=ck.kinetic, potential=ck.potential,
    theta_grad_kinetic=ck.theta_grad_kinetic, theta_grad_potential=ck.theta_grad_potential,
    drive_grad_potential=ck.drive_grad_potential,
    hvp_kinetic=ck.hvp_kinetic, hvp_potential=ck.hvp_potential,
    theta_vjp_kinetic=ck.theta_vjp_kinetic, theta_vjp_potential=ck.theta_vjp_potential,
    drive_vjp_potential=ck.drive_vjp_potential,
)


# ------------------------------------------------------------------------- units
@dataclass(frozen=True)
class CircuitUnits:
    r"""Units of a :class:`CircuitSystem`'s state, time and parameters.

    Every other unit derives from flux, charge and time: energy
    ``flux * charge / time``, capacitance ``charge * time / flux``, inverse
    inductance ``charge / (time * flux)``, drive (current) ``charge / time``.

    Attributes
    ----------
    name : str
        ``"SI"`` or ``"natural"``.
    flux : float
        Wb per flux unit.
    charge : float
        C per charge unit.
    time : float
        s per time unit.
    """

    name: str
    flux: float
    charge: float
    time: float

    @classmethod
    def si(cls) -> "CircuitUnits":
        """SI units: Wb, C, s (energies in J)."""
        return cls("SI", 1.0, 1.0, 1.0)

    @classmethod
    def natural(cls, time_scale: float = 1e-9) -> "CircuitUnits":
        r"""Phase and Cooper-pair units.

        Fluxes in :math:`\Phi_0/2\pi` (the node flux becomes the superconducting
        phase in rad), charges in :math:`2e` (Cooper pairs), time in
        ``time_scale`` seconds; energies are then in :math:`\hbar/\tau`, i.e.
        angular frequencies in rad per time unit.  Inputs follow: currents
        in :math:`2e/\tau`, source fluxes in :math:`\Phi_0/2\pi`.  All values
        are then O(1) for typical devices, which float32 needs.

        Parameters
        ----------
        time_scale : float
            Seconds per time unit (default 1 ns).
        """
        tau = check_positive("time_scale", time_scale)
        return cls("natural", REDUCED_FLUX_QUANTUM, 2.0 * scipy.constants.e, tau)

    @property
    def energy(self) -> float:
        """J per energy unit."""
        return self.flux * self.charge / self.time

    @property
    def capacitance(self) -> float:
        """F per capacitance unit."""
        return self.charge * self.time / self.flux

    @property
    def inverse_inductance(self) -> float:
        """1/H per inverse-inductance unit."""
        return self.charge / (self.time * self.flux)

    @property
    def current(self) -> float:
        """A per drive (current) unit."""
        return self.charge / self.time

    @property
    def time_label(self) -> str:
        """Human-readable time unit."""
        labels = {1.0: "s", 1e-3: "ms", 1e-6: "us", 1e-9: "ns", 1e-12: "ps"}
        return labels.get(self.time, f"{self.time:g} s")

    @property
    def current_label(self) -> str:
        """Human-readable current unit (of current-source inputs)."""
        return "A" if self.name == "SI" else f"2e/{self.time_label}"

    @property
    def flux_label(self) -> str:
        """Human-readable flux unit (of node fluxes and voltage-source inputs)."""
        return "Wb" if self.name == "SI" else "Phi0/2pi"


SI_UNITS = CircuitUnits.si()


# ------------------------------------------------------------------------ system
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


# ----------------------------------------------------------------------- builder
@dataclass(frozen=True)
class _Branch:
    kind: str          # "capacitor", "inductor", "junction"
    name: str
    node_a: str
    node_b: str
    value: float       # F, H or A (critical current)
    capacitance: float = 0.0  # junction's own capacitance (F)


@dataclass(frozen=True)
class _Source:
    kind: str          # "current" or "voltage"
    name: str
    node: str
    return_node: str
    inductance: float = 0.0  # series inductance of a voltage source (H)


class Circuit:
    """Netlist builder for lumped superconducting circuits, in SI units.

    Nodes are named by strings or integers and created by the first element
    that touches them; ``"gnd"`` (or ``0``) is ground.  Element values are in
    SI: farads, henries, amperes.

    Examples
    --------
    A transmon-like node coupled through an inductor to an LC resonator::

        c = Circuit()
        c.add_josephson_junction("q", "gnd", critical_current=30e-9, capacitance=80e-15)
        c.add_inductor("q", "r", 20e-9)
        c.add_capacitor("r", "gnd", 400e-15)
        c.add_inductor("r", "gnd", 10e-9)
        c.add_current_source("r", name="drive")
        system = c.build()               # CircuitSystem, q = fluxes (Wb), p = charges (C)
        system.normal_mode_frequencies() / (2 * np.pi)   # Hz
    """

    def __init__(self) -> None:
        self._nodes: list[str] = []
        self._branches: list[_Branch] = []
        self._sources: list[_Source] = []
        self._counts: dict[str, int] = {}

    # -------------------------------------------------------------- inspection
    @property
    def nodes(self) -> tuple[str, ...]:
        """Non-ground node names, in the order they become state indices."""
        return tuple(self._nodes)

    @property
    def element_names(self) -> tuple[str, ...]:
        """Names of all elements and sources."""
        return tuple(b.name for b in self._branches) + tuple(s.name for s in self._sources)

    def __repr__(self) -> str:
        kinds = [b.kind for b in self._branches] + [s.kind + " source" for s in self._sources]
        summary = ", ".join(f"{kinds.count(k)} {k}(s)" for k in dict.fromkeys(kinds))
        return f"Circuit({len(self._nodes)} node(s){': ' + summary if summary else ''})"

    # ---------------------------------------------------------------- helpers
    @staticmethod
    def _node_key(node: Any, what: str) -> str:
        if isinstance(node, bool) or not isinstance(node, (str, int, np.integer)):
            raise ValueError(f"{what} must be a node name (str or int; 'gnd' or 0 for ground), "
                             f"got {node!r}")
        key = str(node)
        if not key.strip():
            raise ValueError(f"{what} must be a non-empty node name, got {node!r}")
        return "gnd" if key.lower() in GROUND_NAMES else key

    def _name(self, name: str | None, prefix: str) -> str:
        if name is None:
            k = self._counts.get(prefix, 0)
            while True:
                k += 1
                candidate = f"{prefix}{k}"
                if candidate not in self.element_names:
                    break
            self._counts[prefix] = k
            return candidate
        if not isinstance(name, str) or not name:
            raise ValueError(f"element names must be non-empty strings, got {name!r}")
        if name in self.element_names:
            raise ValueError(f"duplicate element name {name!r}; names in use: "
                             f"{', '.join(self.element_names)}")
        return name

    @staticmethod
    def _value(what: str, value: Any, unit: str) -> float:
        if isinstance(value, bool):
            raise ValueError(f"{what} must be a finite positive number in {unit}, got {value!r}")
        try:
            v = float(value)
        except (TypeError, ValueError):
            raise ValueError(f"{what} must be a finite positive number in {unit}, "
                             f"got {value!r}") from None
        if not np.isfinite(v) or v <= 0:
            raise ValueError(f"{what} must be a finite positive number in {unit}, got {value!r}")
        return v

    def _add_branch(self, kind: str, prefix: str, node_a, node_b, value, unit: str,
                    name: str | None, capacitance: float = 0.0) -> str:
        a = self._node_key(node_a, f"{kind} node_a")
        b = self._node_key(node_b, f"{kind} node_b")
        if a == b:
            raise ValueError(f"{kind} connects node {a!r} to itself; give two different nodes "
                             f"(use 'gnd' or 0 for ground)")
        v = self._value(f"{kind} value", value, unit)
        label = self._name(name, prefix)
        for node in (a, b):
            if node != "gnd" and node not in self._nodes:
                self._nodes.append(node)
        self._branches.append(_Branch(kind, label, a, b, v, capacitance))
        return label

    # ---------------------------------------------------------------- elements
    def add_capacitor(self, node_a, node_b, capacitance: float, name: str | None = None) -> str:
        """Add a capacitor between two nodes (or a node and ``"gnd"``).

        Parameters
        ----------
        node_a, node_b : str or int
            Terminals.
        capacitance : float
            Capacitance (F), positive.
        name : str, optional
            Element name (default ``C1``, ``C2``, ...).

        Returns
        -------
        str
            The element name.
        """
        return self._add_branch("capacitor", "C", node_a, node_b, capacitance, "F", name)

    def add_inductor(self, node_a, node_b, inductance: float, name: str | None = None) -> str:
        """Add a (linear, superconducting) inductor between two nodes.

        Parameters
        ----------
        node_a, node_b : str or int
            Terminals.
        inductance : float
            Inductance (H), positive.
        name : str, optional
            Element name (default ``L1``, ...).

        Returns
        -------
        str
            The element name.
        """
        return self._add_branch("inductor", "L", node_a, node_b, inductance, "H", name)

    def add_josephson_junction(self, node_a, node_b, critical_current: float,
                               capacitance: float = 0.0, name: str | None = None) -> str:
        r"""Add a Josephson junction, potential :math:`-E_J\cos(2\pi(\Phi_a-\Phi_b)/\Phi_0)`.

        Parameters
        ----------
        node_a, node_b : str or int
            Terminals; the junction flux is ``Phi_a - Phi_b``.
        critical_current : float
            Critical current ``I_c`` (A), positive; ``E_J = I_c Phi_0 / (2 pi)``.
        capacitance : float
            The junction's own capacitance (F), added in parallel; 0 for none.
        name : str, optional
            Element name (default ``J1``, ...).

        Returns
        -------
        str
            The element name.
        """
        cap = float(capacitance)
        if not np.isfinite(cap) or cap < 0:
            raise ValueError(f"junction capacitance must be a finite non-negative number in F, "
                             f"got {capacitance!r}")
        return self._add_branch("josephson junction", "J", node_a, node_b, critical_current, "A",
                                name, capacitance=cap)

    # ----------------------------------------------------------------- sources
    def _add_source(self, kind: str, prefix: str, node, return_node, name, inductance=0.0) -> str:
        a = self._node_key(node, f"{kind} source node")
        r = self._node_key(return_node, f"{kind} source return_node")
        if a == r:
            raise ValueError(f"{kind} source drives node {a!r} against itself; give a node and a "
                             f"different return node (default 'gnd')")
        label = self._name(name, prefix)
        self._sources.append(_Source(kind, label, a, r, inductance))
        return label

    def add_current_source(self, node, name: str | None = None, return_node="gnd") -> str:
        """Add an ideal current source; its input channel is the current in A.

        The current flows into ``node`` and out of ``return_node``.  The node
        must be connected to some element by the time :meth:`build` is called.

        Parameters
        ----------
        node : str or int
            Node the current is injected into.
        name : str, optional
            Input channel name (default ``I1``, ...); must be unique.
        return_node : str or int
            Node the current returns from (default ground).

        Returns
        -------
        str
            The input channel name.
        """
        return self._add_source("current", "I", node, return_node, name)

    def add_voltage_source(self, node, inductance: float | None = None, name: str | None = None,
                           return_node="gnd") -> str:
        r"""Add a voltage source in series with an inductance; its input is the source flux in Wb.

        The branch ``source -- L_s -- node`` stores
        :math:`(\Phi_a - \Phi_r - \Phi_s)^2 / 2L_s`, where
        :math:`\Phi_s(t) = \int V_s dt` is the source flux: ``1/L_s`` joins the
        inverse-inductance matrix and the drive is the current ``Phi_s / L_s``.
        An ideal (zero-impedance) voltage source would fix a node flux, a
        constraint rather than a degree of freedom, hence the required
        series inductance.

        Parameters
        ----------
        node : str or int
            Node the source drives.
        inductance : float
            Series inductance ``L_s`` (H), positive.
        name : str, optional
            Input channel name (default ``V1``, ...); must be unique.
        return_node : str or int
            The source's other terminal (default ground).

        Returns
        -------
        str
            The input channel name.
        """
        if inductance is None:
            raise ValueError("add_voltage_source needs a series inductance (H): an ideal voltage "
                             "source fixes a node flux, which is a constraint, not a degree of "
                             "freedom; model the source impedance as inductance=L_s")
        ls = self._value("voltage source series inductance", inductance, "H")
        return self._add_source("voltage", "V", node, return_node, name, inductance=ls)

    # ------------------------------------------------------------------- build
    def build(self, units: str = "SI", time_scale: float = 1e-9) -> CircuitSystem:
        """Assemble the Hamiltonian system.

        Parameters
        ----------
        units : {"SI", "natural"}
            ``"SI"``: fluxes in Wb, charges in C, time in s, energies in J.
            ``"natural"``: fluxes in ``Phi_0/2pi`` (phases, rad), charges in
            ``2e`` (Cooper pairs), time in ``time_scale`` s, energies in
            ``hbar/time_scale``; current-source inputs in ``2e/time_scale``
            and voltage-source inputs (source fluxes) in ``Phi_0/2pi``.
        time_scale : float
            Seconds per time unit for ``units="natural"`` (default 1 ns).

        Returns
        -------
        CircuitSystem
            State ``q`` = node fluxes, ``p`` = node charges, in the order of
            :attr:`nodes`; one input channel per source, in the order added.

        Raises
        ------
        ValueError
            If the circuit is empty, a source sits on an unknown node, or the
            capacitance matrix is singular (a node or a floating group of nodes
            without capacitance to ground).
        """
        unit_names = {"si": CircuitUnits.si, "natural": lambda: CircuitUnits.natural(time_scale)}
        if not isinstance(units, str) or units.lower() not in unit_names:
            raise ValueError(f"unknown units {units!r}; valid names are: SI, natural")
        un = unit_names[units.lower()]()
        if not self._nodes:
            raise ValueError("the circuit has no nodes: add capacitors, inductors or junctions "
                             "between named nodes and 'gnd' first")
        index = {name: i for i, name in enumerate(self._nodes)}
        for s in self._sources:
            for node in (s.node, s.return_node):
                if node != "gnd" and node not in index:
                    raise ValueError(f"{s.kind} source {s.name!r} is attached to unknown node "
                                     f"{node!r}; nodes are: {', '.join(self._nodes)} and 'gnd' "
                                     f"(a node exists once an element connects to it)")
        n = len(self._nodes)
        cap = np.zeros((n, n))
        kmat = np.zeros((n, n))
        junctions = [b for b in self._branches if b.kind == "josephson junction"]
        dmat = np.zeros((len(junctions), n))
        for br in self._branches:
            if br.kind == "capacitor":
                _stamp(cap, index, br.node_a, br.node_b, br.value)
            elif br.kind == "inductor":
                _stamp(kmat, index, br.node_a, br.node_b, 1.0 / br.value)
            elif br.capacitance > 0:
                _stamp(cap, index, br.node_a, br.node_b, br.capacitance)
        for j, br in enumerate(junctions):
            if br.node_a != "gnd":
                dmat[j, index[br.node_a]] = 1.0
            if br.node_b != "gnd":
                dmat[j, index[br.node_b]] = -1.0
        bmat = np.zeros((n, len(self._sources)))
        for col, s in enumerate(self._sources):
            # current (A) per unit of input, the input being in the chosen units
            gain = un.current if s.kind == "current" else un.flux / s.inductance
            if s.kind == "voltage":
                _stamp(kmat, index, s.node, s.return_node, 1.0 / s.inductance)
            if s.node != "gnd":
                bmat[index[s.node], col] += gain
            if s.return_node != "gnd":
                bmat[index[s.return_node], col] -= gain
        self._check_capacitance(cap)
        ej = np.array([br.value for br in junctions]) * FLUX_QUANTUM / (2.0 * np.pi)
        return CircuitSystem(
            capacitance=cap / un.capacitance,
            inverse_inductance=kmat / un.inverse_inductance,
            josephson_energy=ej / un.energy,
            junction_incidence=dmat,
            input_matrix=bmat / un.current,
            flux_quantum=FLUX_QUANTUM / un.flux,
            node_names=tuple(self._nodes),
            input_names=tuple(s.name for s in self._sources),
            junction_names=tuple(br.name for br in junctions),
            input_units=tuple(un.current_label if s.kind == "current" else un.flux_label
                              for s in self._sources),
            units=un,
        )

    def _check_capacitance(self, cap: np.ndarray) -> None:
        """Refuse a singular capacitance matrix, naming the nodes at fault."""
        bare = [self._nodes[i] for i in range(len(self._nodes)) if cap[i, i] <= 0]
        if bare:
            raise ValueError(f"node(s) {', '.join(map(repr, bare))} have no capacitance: the "
                             f"capacitance matrix would be singular (a massless node). Connect a "
                             f"capacitor (or give the junction a capacitance) from each node to "
                             f"ground or to another node")
        # a group of nodes joined by capacitors but with none to ground is a floating island
        n = len(self._nodes)
        parent = list(range(n))

        def find(i: int) -> int:
            while parent[i] != i:
                parent[i] = parent[parent[i]]
                i = parent[i]
            return i

        for i in range(n):
            for j in range(i + 1, n):
                if cap[i, j] != 0:
                    parent[find(i)] = find(j)
        grounded = {find(i) for i in range(n) if cap[i].sum() > 1e-12 * cap[i, i]}
        islands = {}
        for i in range(n):
            if find(i) not in grounded:
                islands.setdefault(find(i), []).append(self._nodes[i])
        if islands:
            group = next(iter(islands.values()))
            raise ValueError(f"nodes {', '.join(map(repr, group))} form a floating island: they "
                             f"are joined by capacitors but none of them has capacitance to "
                             f"ground, so the capacitance matrix is singular. Add a capacitor "
                             f"from one of them to 'gnd'")
        check_positive_definite("capacitance matrix", cap / np.max(np.diag(cap)))


def _stamp(matrix: np.ndarray, index: dict[str, int], a: str, b: str, value: float) -> None:
    """Add a two-terminal admittance-like ``value`` between nodes a and b (Laplacian stamp)."""
    ia = index.get(a)
    ib = index.get(b)
    if ia is not None:
        matrix[ia, ia] += value
    if ib is not None:
        matrix[ib, ib] += value
    if ia is not None and ib is not None:
        matrix[ia, ib] -= value
        matrix[ib, ia] -= value
