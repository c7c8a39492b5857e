"""The circuit builder: named nodes and elements in SI units, assembled into a CircuitSystem.

A :class:`Circuit` collects capacitors, inductors, Josephson junctions and
sources between named nodes; :meth:`Circuit.build` stamps them into the
matrices of a :class:`~physsim.systems.circuit.system.CircuitSystem`.
"""

from __future__ import annotations

import dataclasses
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from ...validation import check_positive_definite
from .system import CircuitSystem
from .units import FLUX_QUANTUM, CircuitUnits

#: Names that denote the ground node (compared after ``str()``, case-insensitive).
GROUND_NAMES = ("gnd", "0")


@dataclass(frozen=True)
class Branch:
    """A two-terminal element of a :class:`Circuit` (read-only record).

    Attributes
    ----------
    kind : str
        ``"capacitor"``, ``"inductor"`` or ``"josephson junction"``.
    name : str
        Element name.
    node_a, node_b : str
        Terminals (``"gnd"`` for ground); the element's flux is ``Phi_a - Phi_b``.
    value : float
        Capacitance (F), inductance (H) or critical current (A).
    capacitance : float
        A junction's own capacitance (F); 0 for other elements.
    """

    kind: str
    name: str
    node_a: str
    node_b: str
    value: float
    capacitance: float = 0.0


@dataclass(frozen=True)
class Source:
    """An independent source of a :class:`Circuit` (read-only record).

    Attributes
    ----------
    kind : str
        ``"current"`` or ``"voltage"``.
    name : str
        Input channel name.
    node, return_node : str
        The current flows into ``node`` and out of ``return_node``; a voltage
        source drives ``node`` through its series inductance relative to
        ``return_node``.
    inductance : float
        Series inductance of a voltage source (H); 0 for a current source.
    """

    kind: str
    name: str
    node: str
    return_node: str
    inductance: float = 0.0


@dataclass(frozen=True)
class Coupling:
    """Mutual inductance between two inductors of a :class:`Circuit` (read-only record).

    Attributes
    ----------
    name : str
        Element name.
    inductor_a, inductor_b : str
        Names of the coupled inductors.
    coefficient : float
        Coupling coefficient ``k`` in (-1, 1): ``M = k sqrt(L_a L_b)`` (H),
        with the SPICE dot convention (each inductor's ``node_a`` is dotted).
    """

    name: str
    inductor_a: str
    inductor_b: str
    coefficient: float


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
        self._branches: list[Branch] = []
        self._sources: list[Source] = []
        self._couplings: list[Coupling] = []
        self._counts: dict[str, int] = {}

    # -------------------------------------------------------------- inspection
    @property
    def nodes(self) -> tuple[str, ...]:
        """Non-ground node names, in the order they become state indices."""
        return tuple(self._nodes)

    @property
    def element_names(self) -> tuple[str, ...]:
        """Names of all elements, couplings and sources."""
        return (tuple(b.name for b in self._branches) + tuple(k.name for k in self._couplings)
                + tuple(s.name for s in self._sources))

    @property
    def branches(self) -> tuple[Branch, ...]:
        """Capacitors, inductors and junctions, in the order added."""
        return tuple(self._branches)

    @property
    def couplings(self) -> tuple[Coupling, ...]:
        """Mutual inductances, in the order added."""
        return tuple(self._couplings)

    @property
    def sources(self) -> tuple[Source, ...]:
        """Sources (one input channel each), in the order added."""
        return tuple(self._sources)

    def __repr__(self) -> str:
        kinds = ([b.kind for b in self._branches] + ["mutual inductance"] * len(self._couplings)
                 + [s.kind + " source" for s in self._sources])
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
        self._branches.append(Branch(kind, label, a, b, v, capacitance))
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

    def add_mutual_inductance(self, inductor_a: str, inductor_b: str, coefficient: float,
                              name: str | None = None) -> str:
        r"""Couple two inductors magnetically, ``M = k sqrt(L_a L_b)`` (SPICE's ``K`` element).

        The inductors' stored energy becomes :math:`\tfrac12 I^T L_b I` with
        the branch inductance matrix :math:`L_b` (self inductances on the
        diagonal, mutual ones off it); in node fluxes it is
        :math:`\tfrac12 \Phi^T A^T L_b^{-1} A \Phi` with the inductor
        incidence matrix :math:`A`, so the coupled inductors enter the
        inverse-inductance matrix through :math:`A^T L_b^{-1} A`.  Each
        inductor's ``node_a`` is its dotted terminal (the SPICE convention).

        Parameters
        ----------
        inductor_a, inductor_b : str
            Names of two different inductors already added.
        coefficient : float
            Coupling coefficient ``k``, ``-1 < k < 1`` (dimensionless).
        name : str, optional
            Element name (default ``K1``, ...).

        Returns
        -------
        str
            The element name.

        Raises
        ------
        ValueError
            If an inductor is unknown, both are the same, the pair is already
            coupled or ``|k| >= 1``.  (A set of couplings whose branch
            inductance matrix is not positive definite is refused by
            :meth:`build`.)
        """
        inductors = [b.name for b in self._branches if b.kind == "inductor"]
        for label in (inductor_a, inductor_b):
            if label not in inductors:
                raise ValueError(f"mutual inductance needs two inductors; {label!r} is not one; "
                                 f"inductors are: {', '.join(inductors) or '(none)'}")
        if inductor_a == inductor_b:
            raise ValueError(f"mutual inductance couples {inductor_a!r} with itself; give two "
                             f"different inductors")
        pair = {inductor_a, inductor_b}
        for k in self._couplings:
            if {k.inductor_a, k.inductor_b} == pair:
                raise ValueError(f"inductors {inductor_a!r} and {inductor_b!r} are already "
                                 f"coupled by {k.name!r}")
        if isinstance(coefficient, bool):
            raise ValueError(f"coupling coefficient must be a number in (-1, 1), got "
                             f"{coefficient!r}")
        try:
            kval = float(coefficient)
        except (TypeError, ValueError):
            raise ValueError(f"coupling coefficient must be a number in (-1, 1), got "
                             f"{coefficient!r}") from None
        if not -1.0 < kval < 1.0:
            raise ValueError(f"coupling coefficient must be in (-1, 1) (|k| = 1 makes the "
                             f"inductance matrix singular), got {coefficient!r}")
        label = self._name(name, "K")
        self._couplings.append(Coupling(label, inductor_a, inductor_b, kval))
        return label

    # ----------------------------------------------------------------- sources
    def _add_source(self, kind: str, prefix: str, node, return_node, name, inductance=0.0) -> str:
        a = self._node_key(node, f"{kind} source node")
        r = self._node_key(return_node, f"{kind} source return_node")
        if a == r:
            raise ValueError(f"{kind} source drives node {a!r} against itself; give a node and a "
                             f"different return node (default 'gnd')")
        label = self._name(name, prefix)
        self._sources.append(Source(kind, label, a, r, inductance))
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
        coupled = {name for k in self._couplings for name in (k.inductor_a, k.inductor_b)}
        if coupled:
            kmat += self._coupled_inverse_inductance(index)
        for br in self._branches:
            if br.kind == "capacitor":
                _stamp(cap, index, br.node_a, br.node_b, br.value)
            elif br.kind == "inductor" and br.name not in coupled:
                _stamp(kmat, index, br.node_a, br.node_b, 1.0 / br.value)
            elif br.capacitance > 0:
                _stamp(cap, index, br.node_a, br.node_b, br.capacitance)
        dmat = _incidence(junctions, index)
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

    # ------------------------------------------------------- element values
    @property
    def values(self) -> dict[str, float]:
        """Element values by name: capacitance (F), inductance (H), junction critical
        current (A) and coupling coefficient (dimensionless).

        These are the device parameters a designer sets (and training may
        change, see :meth:`with_values` and :meth:`value_gradients`); a
        junction's own capacitance and a voltage source's series inductance
        are fixed structure here.
        """
        out = {b.name: b.value for b in self._branches}
        out.update({k.name: k.coefficient for k in self._couplings})
        return out

    def with_values(self, values: Mapping[str, float]) -> "Circuit":
        """A copy of this circuit with some element values replaced.

        Parameters
        ----------
        values : mapping of str to float
            New values by element name, units as in :attr:`values`.

        Returns
        -------
        Circuit

        Raises
        ------
        ValueError
            On an unknown name or a value out of range (non-positive element,
            ``|k| >= 1``).
        """
        current = self.values
        unknown = [name for name in values if name not in current]
        if unknown:
            raise ValueError(f"unknown element(s) {', '.join(map(repr, unknown))}; elements "
                             f"with values are: {', '.join(current)}")
        new = Circuit()
        new._nodes = list(self._nodes)
        new._sources = list(self._sources)
        new._counts = dict(self._counts)
        units = {"capacitor": "F", "inductor": "H", "josephson junction": "A"}
        new._branches = [
            dataclasses.replace(b, value=self._value(f"{b.kind} {b.name!r} value",
                                                     values[b.name], units[b.kind]))
            if b.name in values else b for b in self._branches]
        for k in self._couplings:
            new.add_mutual_inductance(k.inductor_a, k.inductor_b,
                                      values.get(k.name, k.coefficient), name=k.name)
        return new

    def value_gradients(self, system: CircuitSystem,
                        gradients: Mapping[str, np.ndarray]) -> dict[str, float]:
        """Chain rule from a system's parameter gradients to this circuit's element values.

        Parameters
        ----------
        system : CircuitSystem
            The system :meth:`build` made from this circuit (its units are used).
        gradients : mapping of str to ndarray
            Gradients of a loss with respect to ``system``'s named parameters
            (e.g. ``GradientResult.params``); ``capacitance``,
            ``inverse_inductance`` and ``josephson_energy`` are used, as
            symmetric-matrix gradients in the system's units.

        Returns
        -------
        dict of str to float
            dLoss/d(value) per element of :attr:`values`, per SI unit of the
            value (per F, per H, per A; per unit of ``k`` for couplings).
        """
        if not isinstance(system, CircuitSystem) or system.node_names != self.nodes:
            raise ValueError("value_gradients needs the CircuitSystem built from this circuit "
                             f"(nodes {', '.join(self._nodes)})")
        missing = {"capacitance", "inverse_inductance", "josephson_energy"} - set(gradients)
        if missing:
            raise ValueError(f"gradients lack {', '.join(sorted(missing))}; pass the named "
                             f"parameter gradients of the system (GradientResult.params)")
        un = system.units
        index = {name: i for i, name in enumerate(self._nodes)}
        g_cap = np.asarray(gradients["capacitance"], float) / un.capacitance
        g_k = np.asarray(gradients["inverse_inductance"], float) / un.inverse_inductance
        g_ej = np.asarray(gradients["josephson_energy"], float) * FLUX_QUANTUM / (
            2.0 * np.pi * un.energy)
        out: dict[str, float] = {}
        coupled, lmat = self._coupled_inductors()
        coupled_names = [b.name for b in coupled]
        junction = 0
        for br in self._branches:
            s = _incidence([br], index)[0]
            if br.kind == "capacitor":
                out[br.name] = float(s @ g_cap @ s)
            elif br.kind == "inductor" and br.name not in coupled_names:
                out[br.name] = float(-(s @ g_k @ s) / br.value**2)
            elif br.kind == "josephson junction":
                out[br.name] = float(g_ej[junction])
                junction += 1
        if coupled:
            # K = A^T G A with G = L_b^-1: dLoss/dL_b = -G A g_K A^T G
            incidence = _incidence(coupled, index)
            gamma = np.linalg.inv(lmat)
            w = -gamma @ incidence @ g_k @ incidence.T @ gamma
            w = 0.5 * (w + w.T)
            pos = {name: i for i, name in enumerate(coupled_names)}
            for name, i in pos.items():
                out[name] = float(w[i, i])
            for k in self._couplings:
                i, j = pos[k.inductor_a], pos[k.inductor_b]
                li, lj = lmat[i, i], lmat[j, j]
                # M_ij = k sqrt(L_i L_j) also moves with L_i and L_j
                out[k.inductor_a] += float(w[i, j] * k.coefficient * np.sqrt(lj / li))
                out[k.inductor_b] += float(w[i, j] * k.coefficient * np.sqrt(li / lj))
                out[k.name] = float(2.0 * w[i, j] * np.sqrt(li * lj))
        return {name: out[name] for name in self.values}

    def _coupled_inductors(self) -> tuple[list[Branch], np.ndarray]:
        """The inductors that take part in a coupling and their branch inductance matrix (H)."""
        coupled = {name for k in self._couplings for name in (k.inductor_a, k.inductor_b)}
        inductors = [b for b in self._branches if b.name in coupled]
        pos = {b.name: i for i, b in enumerate(inductors)}
        lmat = np.diag([b.value for b in inductors])
        for k in self._couplings:
            i, j = pos[k.inductor_a], pos[k.inductor_b]
            lmat[i, j] = lmat[j, i] = k.coefficient * np.sqrt(lmat[i, i] * lmat[j, j])
        return inductors, lmat

    def _coupled_inverse_inductance(self, index: dict[str, int]) -> np.ndarray:
        """``A^T L_b^-1 A`` (1/H) of the coupled inductors, shape (n, n)."""
        inductors, lmat = self._coupled_inductors()
        # the couplings are only physical if the stored energy I^T L_b I / 2 is positive
        scale = np.sqrt(np.diag(lmat))
        w = np.linalg.eigvalsh(lmat / np.outer(scale, scale))
        if w[0] <= 1e-12:
            names = ", ".join(k.name for k in self._couplings)
            raise ValueError(f"the mutual inductances {names} make the branch inductance matrix "
                             f"of {', '.join(b.name for b in inductors)} not positive definite "
                             f"(smallest normalised eigenvalue {w[0]:.3g}): the couplings are "
                             f"too strong together; reduce the coupling coefficients")
        gamma = np.linalg.inv(lmat)
        gamma = 0.5 * (gamma + gamma.T)
        incidence = _incidence(inductors, index)
        return incidence.T @ gamma @ incidence

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


def _incidence(branches: list[Branch], index: dict[str, int]) -> np.ndarray:
    """Branch-node incidence, shape (n_branches, n): +1 at ``node_a``, -1 at ``node_b``."""
    out = np.zeros((len(branches), len(index)))
    for row, br in enumerate(branches):
        if br.node_a != "gnd":
            out[row, index[br.node_a]] += 1.0
        if br.node_b != "gnd":
            out[row, index[br.node_b]] -= 1.0
    return out
