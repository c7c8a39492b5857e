"""Device -> SPICE netlist text that ngspice runs (LC parts) and :mod:`.parser` reads back.

Values are written with Python's shortest round-trip representation, so a
netlist written and read back builds bit-identical matrices.  Element names
get their SPICE letter if they lack it (a builder source called ``drive``
becomes ``Idrive``) and everything is lower-cased on reading (SPICE is
case-insensitive).  A voltage source is written as the source on a private
node ``<name>_series`` plus its series inductor ``l<name>_series``.
Josephson junctions are written JoSIM-style (``B`` element with a ``jj``
model); ngspice does not run those.
"""

from __future__ import annotations

from ..systems.circuit import Circuit
from .device import Device
from .netlist import Transient

_LETTER = {"capacitor": "c", "inductor": "l", "josephson junction": "b"}


def _spice_name(name: str, letter: str) -> str:
    return name if name.lower().startswith(letter) else f"{letter}{name}"


def _node(name: str) -> str:
    return "0" if name == "gnd" else name


def write_netlist(device: Device | Circuit, title: str | None = None) -> str:
    """Write a device (with its current element values) as a SPICE netlist.

    Parameters
    ----------
    device : Device or Circuit
        A :class:`Device` (waveforms and ``.tran`` included) or a bare
        :class:`Circuit` (every source then written as ``DC 0``, no ``.tran``).
    title : str, optional
        Title line (default: the device's title, or ``"physsim device"``).

    Returns
    -------
    str
        Netlist text ending in ``.end``.

    Raises
    ------
    ValueError
        If two names collide once lower-cased (SPICE is case-insensitive).
    """
    if isinstance(device, Circuit):
        from .waveforms import Dc  # noqa: PLC0415 (only for bare circuits)

        device = Device(device, tuple(Dc(0.0) for _ in device.sources))
    circuit = device.circuit
    lines = [f"* {title or device.title or 'physsim device'}".replace("\n", " ")]
    if device.transient is not None:
        tr: Transient = device.transient
        # physsim always starts from rest: "uic" makes ngspice do the same
        lines.append(f".tran {tr.step!r} {tr.stop!r} uic")
    names: dict[str, str] = {}  # builder name -> SPICE name
    for br in circuit.branches:
        names[br.name] = _spice_name(br.name, _LETTER[br.kind])
    for k in circuit.couplings:
        names[k.name] = _spice_name(k.name, "k")
    for s in circuit.sources:
        names[s.name] = _spice_name(s.name, "i" if s.kind == "current" else "v")
    private = {s.name: f"{names[s.name]}_series" for s in circuit.sources if s.kind == "voltage"}
    taken = [n.lower() for n in names.values()] + [
        f"l{p}".lower() for p in private.values()]
    nodes = [n.lower() for n in circuit.nodes] + [p.lower() for p in private.values()]
    for group, what in ((taken, "element"), (nodes, "node")):
        dupes = sorted({n for n in group if group.count(n) > 1})
        if dupes:
            raise ValueError(f"{what} names {', '.join(dupes)} collide in SPICE (which is "
                             f"case-insensitive); rename them")
    for br in circuit.branches:
        a, b, name = _node(br.node_a), _node(br.node_b), names[br.name]
        if br.kind == "josephson junction":
            model = f"jj_{name}"
            lines.append(f".model {model} jj(icrit={br.value!r}, cap={br.capacitance!r})")
            lines.append(f"{name} {a} {b} {model}")
        else:
            lines.append(f"{name} {a} {b} {br.value!r}")
    for k in circuit.couplings:
        lines.append(f"{names[k.name]} {names[k.inductor_a]} {names[k.inductor_b]} "
                     f"{k.coefficient!r}")
    for s, wave in zip(circuit.sources, device.waveforms):
        name = names[s.name]
        if s.kind == "current":
            # SPICE's current flows from n+ through the source into n-
            lines.append(f"{name} {_node(s.return_node)} {_node(s.node)} {wave.spice()}")
        else:
            node = private[s.name]
            lines.append(f"{name} {node} {_node(s.return_node)} {wave.spice()}")
            lines.append(f"l{node} {node} {_node(s.node)} {s.inductance!r}")
    lines.append(".end")
    return "\n".join(lines) + "\n"
