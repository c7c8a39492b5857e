"""SPICE netlists in and out: devices from the language device designers use.

Reading::

    from physsim.spice import load_device, simulate_device
    device = load_device("ladder.cir")        # Device: Circuit + waveforms + .tran
    run = simulate_device(device)             # node voltages, fluxes, charges vs time
    system = device.build()                   # the CircuitSystem, for RHEL/BPTT

Writing (e.g. after training element values)::

    text = write_netlist(device.with_values({"c1": 1.2e-12}))

Supported subset (full syntax in ``docs/spice.md``): ``C``, ``L``, ``K``
(mutual inductance), ``B`` (Josephson junction, JoSIM/WRspice ``jj`` model),
independent ``I`` and ``V`` sources with ``DC``, ``SIN``, ``PULSE``, ``PWL``
(a voltage source needs a series inductor), ``X`` subcircuit instances,
``.param`` expressions, ``.model``, ``.tran``, ``.subckt``/``.ends``,
``.end``; comments, continuation lines, engineering suffixes,
case-insensitivity.  Anything else raises :class:`NetlistError` with the
file, line, element and reason.

Modules: :mod:`.lexer` (logical lines and tokens), :mod:`.expressions`
(numbers and the safe expression evaluator), :mod:`.parser` (text -> typed
:mod:`.netlist`), :mod:`.waveforms`, :mod:`.device` (netlist -> circuit
builder), :mod:`.run` (transient runs), :mod:`.writer` (device -> text).
"""

from .device import Device, device_from_netlist, load_device, node_voltages
from .errors import Location, NetlistError
from .netlist import Netlist, Transient
from .parser import parse_netlist, read_netlist
from .run import TransientRun, simulate_device
from .waveforms import Dc, Pulse, Pwl, Sin, Waveform
from .writer import write_netlist

__all__ = [
    "Dc", "Device", "Location", "Netlist", "NetlistError", "Pulse", "Pwl", "Sin", "Transient",
    "TransientRun", "Waveform", "device_from_netlist", "load_device", "node_voltages",
    "parse_netlist", "read_netlist", "simulate_device", "write_netlist",
]
