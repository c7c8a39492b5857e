"""The circuit builder: named nodes and elements in SI units, assembled into a CircuitSystem.

A :class:`Circuit` collects capacitors, inductors, Josephson junctions and
sources between named nodes; :meth:`Circuit.build` stamps them into the
matrices of a :class:`~physsim.systems.circuit.system.CircuitSystem`.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

import numpy as np

from ..._validation import check_positive_definite
from .system import CircuitSystem
from .units import FLUX_QUANTUM, CircuitUnits

#: Names that denote the ground node (compared after ``str()``, case-insensitive).
GROUND_NAMES = ("gnd", "0")


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
