"""The typed netlist: what a SPICE file says, flattened and evaluated to numbers (SI units).

Node names are lower-case strings; ``"0"`` (or ``"gnd"``) is ground.
Subcircuit instances are already flattened: an element ``c1`` of instance
``x1`` is ``c.x1.c1`` (ngspice's convention) with internal nodes ``x1.<node>``.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Location
from .waveforms import Waveform


@dataclass(frozen=True)
class Capacitor:
    """``C<name> n+ n- value``: capacitance in F."""

    name: str
    node_pos: str
    node_neg: str
    capacitance: float
    location: Location


@dataclass(frozen=True)
class Inductor:
    """``L<name> n+ n- value``: inductance in H (``n+`` is the dotted terminal)."""

    name: str
    node_pos: str
    node_neg: str
    inductance: float
    location: Location


@dataclass(frozen=True)
class MutualInductance:
    """``K<name> L<a> L<b> k``: coupling coefficient ``k`` in (-1, 1)."""

    name: str
    inductor_a: str
    inductor_b: str
    coefficient: float
    location: Location


@dataclass(frozen=True)
class JosephsonJunction:
    """``B<name> n+ n- model [area=a]``: critical current (A) and capacitance (F), area applied."""

    name: str
    node_pos: str
    node_neg: str
    critical_current: float
    capacitance: float
    location: Location


@dataclass(frozen=True)
class CurrentSource:
    """``I<name> n+ n- waveform``: the current flows from ``n+`` through the source to ``n-``."""

    name: str
    node_pos: str
    node_neg: str
    waveform: Waveform
    location: Location


@dataclass(frozen=True)
class VoltageSource:
    """``V<name> n+ n- waveform``: ``V(n+) - V(n-)`` is the waveform (V)."""

    name: str
    node_pos: str
    node_neg: str
    waveform: Waveform
    location: Location


#: Any element of a flat netlist.
Element = (Capacitor | Inductor | MutualInductance | JosephsonJunction | CurrentSource
           | VoltageSource)


@dataclass(frozen=True)
class Transient:
    """``.tran TSTEP TSTOP [TSTART [TMAX]] [UIC]``.

    Attributes
    ----------
    step : float
        ``TSTEP`` (s): physsim's integrator step.
    stop : float
        ``TSTOP`` (s): the duration.
    uic : bool
        ``UIC`` given (start from the initial conditions, not a DC operating
        point; physsim always starts from rest, which is what ``UIC`` with no
        ``.ic`` means).
    """

    step: float
    stop: float
    uic: bool = True

    @property
    def n_steps(self) -> int:
        """Number of steps, ``round(stop / step)``."""
        return int(round(self.stop / self.step))


@dataclass(frozen=True)
class Netlist:
    """A parsed, flattened netlist.

    Attributes
    ----------
    title : str
        The first line of the file.
    elements : tuple of Element
        In file order (subcircuit elements at their instance's position).
    transient : Transient or None
        The ``.tran`` analysis, if any.
    filename : str
        Where it was read from.
    ignored : tuple of str
        Dot-commands that were skipped as harmless (``.options``, ``.print``,
        ``.control`` blocks, ...), for the record.
    """

    title: str
    elements: tuple[Element, ...]
    transient: Transient | None
    filename: str = "<string>"
    ignored: tuple[str, ...] = ()
