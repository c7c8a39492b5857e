"""A netlist made runnable: the :class:`Circuit`, its source waveforms and its ``.tran``.

:func:`device_from_netlist` maps the typed netlist onto the circuit builder:

- ``C``, ``L``, ``K`` and ``B`` become capacitors, inductors, mutual
  inductances and Josephson junctions (a junction's ``cap`` in parallel);
- ``I n+ n-`` becomes a current source into ``n-`` and out of ``n+``
  (SPICE's current flows from ``n+`` through the source to ``n-``);
- ``V n+ n-`` needs a series inductor: one of its terminals must be a node
  that only the source and exactly one inductor touch.  That inductor
  becomes the source's series inductance (the builder's voltage source) and
  the private node disappears.  An ideal voltage source across capacitors
  would fix a node flux, a constraint rather than a degree of freedom.
"""

from __future__ import annotations

import dataclasses
import os
from collections.abc import Mapping
from dataclasses import dataclass

import numpy as np

from ..systems.circuit import Circuit, CircuitSystem
from .errors import NetlistError
from .netlist import (Capacitor, CurrentSource, Inductor, JosephsonJunction, MutualInductance,
                      Netlist, Transient, VoltageSource)
from .parser import read_netlist
from .waveforms import Waveform


@dataclass(frozen=True)
class Device:
    """A circuit with its source waveforms and transient analysis.

    Attributes
    ----------
    circuit : Circuit
        The device; its sources are in the order of :attr:`waveforms`.
    waveforms : tuple of Waveform
        One per source of ``circuit`` (A for current sources, V for voltage
        sources).
    transient : Transient or None
        The netlist's ``.tran``: step and duration (s).
    title : str
        The netlist's title line.
    filename : str
        Where the netlist came from.
    """

    circuit: Circuit
    waveforms: tuple[Waveform, ...]
    transient: Transient | None = None
    title: str = ""
    filename: str = "<string>"

    def __post_init__(self) -> None:
        if len(self.waveforms) != len(self.circuit.sources):
            raise ValueError(f"a Device needs one waveform per source: {len(self.waveforms)} "
                             f"waveform(s) for {len(self.circuit.sources)} source(s)")

    def build(self, units: str = "SI", time_scale: float = 1e-9) -> CircuitSystem:
        """The Hamiltonian system (see :meth:`Circuit.build`)."""
        return self.circuit.build(units=units, time_scale=time_scale)

    def with_values(self, values: Mapping[str, float]) -> "Device":
        """This device with some element values replaced (see :meth:`Circuit.with_values`)."""
        return dataclasses.replace(self, circuit=self.circuit.with_values(values))

    def time_step(self, system: CircuitSystem) -> float:
        """The ``.tran`` step in the system's time unit."""
        return self._transient().step / system.units.time

    def _transient(self) -> Transient:
        if self.transient is None:
            raise ValueError(f"{self.filename}: the netlist has no .tran TSTEP TSTOP; add one "
                             f"or pass dt and n_steps explicitly")
        return self.transient

    def inputs(self, system: CircuitSystem, dt: float | None = None,
               n_steps: int | None = None) -> np.ndarray:
        """The input sequence: each waveform sampled at the middle of each step.

        The leapfrog step kicks once, at the half step, with the input held
        over the step; sampling there keeps the scheme second order.  Current
        sources give their current; voltage sources their flux (the exact
        integral of the voltage from 0).

        Parameters
        ----------
        system : CircuitSystem
            The system built from this device (its units convert the values).
        dt : float, optional
            Step in the system's time unit (default: the ``.tran`` step).
        n_steps : int, optional
            Number of steps (default: the ``.tran`` duration over ``dt``).

        Returns
        -------
        ndarray, shape (n_steps, n_sources)
            In the system's input units.
        """
        un = system.units
        dt = self.time_step(system) if dt is None else float(dt)
        if n_steps is None:
            n_steps = int(round(self._transient().stop / (dt * un.time)))
        t_mid = (np.arange(n_steps) + 0.5) * dt * un.time  # s
        out = np.zeros((n_steps, len(self.waveforms)))
        for col, (source, wave) in enumerate(zip(self.circuit.sources, self.waveforms)):
            if source.kind == "current":
                out[:, col] = wave.at(t_mid) / un.current
            else:
                out[:, col] = wave.integral(t_mid) / un.flux
        return out


def node_voltages(system: CircuitSystem, charges: np.ndarray) -> np.ndarray:
    """Node voltages (V) from node charges: ``V = C^-1 Q``.

    Parameters
    ----------
    system : CircuitSystem
    charges : ndarray, shape (..., n)
        Node charges in the system's charge unit.

    Returns
    -------
    ndarray, shape (..., n)
        Volts.
    """
    un = system.units
    return np.asarray(charges, float) @ system.inverse_capacitance.T * (un.flux / un.time)


def load_device(path: str | os.PathLike) -> Device:
    """Read a netlist file into a :class:`Device` (see :func:`device_from_netlist`)."""
    return device_from_netlist(read_netlist(path))


def device_from_netlist(netlist: Netlist) -> Device:
    """Map a typed netlist onto the circuit builder.

    Parameters
    ----------
    netlist : Netlist

    Returns
    -------
    Device

    Raises
    ------
    NetlistError
        If an element cannot be built (a voltage source without a series
        inductor, a duplicate name, a floating node, ...), with its location.
    """
    elements = netlist.elements
    touches: dict[str, list] = {}
    for el in elements:
        if not isinstance(el, MutualInductance):
            for node in (el.node_pos, el.node_neg):
                if node != "0":
                    touches.setdefault(node, []).append(el)
    coupled = {name for el in elements if isinstance(el, MutualInductance)
               for name in (el.inductor_a, el.inductor_b)}
    series: dict[str, tuple[str, str, Inductor]] = {}  # V name -> (node, return node, inductor)
    for el in elements:
        if isinstance(el, VoltageSource):
            series[el.name] = _series_inductor(el, touches, coupled)
    absorbed = {ind.name for _, _, ind in series.values()}
    circuit = Circuit()
    for el in elements:
        try:
            if isinstance(el, Capacitor):
                circuit.add_capacitor(el.node_pos, el.node_neg, el.capacitance, name=el.name)
            elif isinstance(el, Inductor) and el.name not in absorbed:
                circuit.add_inductor(el.node_pos, el.node_neg, el.inductance, name=el.name)
            elif isinstance(el, JosephsonJunction):
                circuit.add_josephson_junction(el.node_pos, el.node_neg, el.critical_current,
                                               capacitance=el.capacitance, name=el.name)
        except ValueError as exc:
            raise NetlistError(el.location, el.name, str(exc)) from None
    waveforms = []
    for el in elements:
        try:
            if isinstance(el, MutualInductance):
                circuit.add_mutual_inductance(el.inductor_a, el.inductor_b, el.coefficient,
                                              name=el.name)
            elif isinstance(el, CurrentSource):
                # SPICE: current flows from n+ through the source to n-, i.e. into n-
                circuit.add_current_source(el.node_neg, name=el.name, return_node=el.node_pos)
                waveforms.append(el.waveform)
            elif isinstance(el, VoltageSource):
                node, return_node, ind = series[el.name]
                circuit.add_voltage_source(node, inductance=ind.inductance, name=el.name,
                                           return_node=return_node)
                waveforms.append(el.waveform)
        except ValueError as exc:
            raise NetlistError(el.location, el.name, str(exc)) from None
    return Device(circuit, tuple(waveforms), netlist.transient, netlist.title, netlist.filename)


def _series_inductor(source: VoltageSource, touches, coupled) -> tuple[str, str, Inductor]:
    """Find a voltage source's series inductor: (driven node, return node, inductor)."""
    for private, other in ((source.node_pos, source.node_neg),
                           (source.node_neg, source.node_pos)):
        if private == "0":
            continue
        around = [el for el in touches.get(private, []) if el is not source]
        if len(around) == 1 and isinstance(around[0], Inductor):
            ind = around[0]
            if ind.name in coupled:
                raise NetlistError(source.location, source.name,
                                   f"the series inductor {ind.name} of this voltage source is "
                                   f"mutually coupled; a source's series inductance must be "
                                   f"uncoupled (add a separate coupled inductor after it)")
            far = ind.node_neg if ind.node_pos == private else ind.node_pos
            if far == other:
                raise NetlistError(source.location, source.name, f"the series inductor "
                                   f"{ind.name} shorts the source (both ends on its terminals)")
            # with the + terminal private the source drives the far end against n-;
            # with the - terminal private, n+ is driven against the far end (same energy)
            return (far, other, ind) if private == source.node_pos else (other, far, ind)
    raise NetlistError(source.location, source.name,
                       "a voltage source needs a series inductance: physsim's coordinates are "
                       "node fluxes, and an ideal voltage source would fix one (a constraint, "
                       "not a degree of freedom). Put an inductor (the source impedance) in "
                       "series: one source terminal on a node of its own, shared with exactly "
                       "one inductor and nothing else, e.g. 'V1 s 0 SIN(...)' and "
                       "'Ls s n 10p'")
