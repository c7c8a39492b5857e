"""Schemas of a device config (``physsim simulate`` and ``physsim gradcheck``) and the builders
of its system, inputs, initial state and loss.

One file serves both commands; ``simulate`` ignores ``[loss]``, ``[rhel]`` and ``[check]``::

    [system]
    type = "linear_hru"        # see SYSTEM_TYPES
    n_units = 16
    n_inputs = 2
    complex = true
    seed = 0

    [simulation]
    n_steps = 2000
    dt = 1.0                   # system time unit (s for physical systems)
    integrator = "leapfrog"
    record_every = 1
    record_energy = true
    dtype = "float64"
    seed = 0                   # hardware randomness
    hardware = "ideal"         # optional preset name

    [inputs]
    kind = "noise"             # "noise", "sines" or "zeros"
    amplitude = 0.5
    seed = 1

    [initial_state]
    kind = "zeros"             # "zeros", "random" or "given"

    [loss]                     # gradcheck
    kind = "mse"               # "mse" or "pooled_ce"

    [rhel]                     # gradcheck: options of physsim.rhel.rhel_gradient
    [check]                    # gradcheck: finite-difference check
    [output]                   # simulate: folder = "..."
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated, Any, ClassVar, Literal

import numpy as np
from pydantic import AfterValidator, field_validator, model_validator

from ..examples import SIX_OSC_OUTPUT, six_oscillator_drive, six_oscillators
from ..hardware import PRESETS
from ..integrators import INTEGRATORS
from ..losses import Loss, MSEReadout, PooledCrossEntropy
from ..registry import lookup
from ..rhel import ESTIMATORS, NUDGES
from ..simulate import simulate
from ..systems import CoupledOscillators, LinearHRU, NonlinearHRU
from ..systems.base import HamiltonianSystem
from .loader import (ConfigError, NonNegativeInt, PositiveFloat, PositiveInt, Table,
                     check_tables, describe_value, one_of, schema_from_signature, validate,
                     validate_all)

__all__ = ["DEVICE_TABLES", "SYSTEM_TYPES", "CheckTable", "DeviceConfig", "InitialStateTable",
           "InputsTable", "LossTable", "OutputTable", "RhelTable", "RunSettings",
           "SimulationTable", "SystemTable", "build_initial_state", "build_inputs",
           "build_loss", "parse_device", "parse_system"]


def _numbers(value: list[Any]) -> list[Any]:
    """A TOML array of numbers, or of arrays of numbers of equal length (a matrix)."""
    rows = value if value and all(isinstance(v, list) for v in value) else [value]
    if len({len(r) for r in rows}) > 1:
        raise ValueError(f"expected a vector or a matrix with rows of equal length, got "
                         f"{describe_value(value)}")
    for row in rows:
        if any(isinstance(v, bool) or not isinstance(v, (int, float)) for v in row):
            raise ValueError(f"expected an array of numbers (vector or matrix), got "
                             f"{describe_value(value)}")
    return value


#: A vector or a matrix of numbers (TOML arrays).
NumberArray = Annotated[list, AfterValidator(_numbers)]
#: Names of registered or fixed choices.
IntegratorName = one_of(INTEGRATORS, "integrator")
EstimatorName = one_of(ESTIMATORS, "RHEL estimator")
NudgeName = one_of(NUDGES, "nudge source")
PresetName = one_of(PRESETS, "hardware preset")


# ------------------------------------------------------------------- systems
class SystemTable(Table):
    """Base of the ``[system]`` schemas: ``type`` names the entry of :data:`SYSTEM_TYPES`."""

    type: str

    def build(self) -> HamiltonianSystem:
        """The system the table describes."""
        raise NotImplementedError


class SixOscillatorsTable(SystemTable):
    """``type = "six_oscillators"``: the RHEL paper's six coupled oscillators."""

    variant: Literal["student", "teacher"] = "student"

    def build(self) -> HamiltonianSystem:
        """:func:`physsim.examples.six_oscillators` of ``variant``."""
        return six_oscillators(self.variant)


class CoupledOscillatorsTable(SystemTable):
    """``type = "coupled_oscillators"``: masses (kg), stiffness (N/m), input matrix."""

    mass: NumberArray
    stiffness: NumberArray
    input_matrix: NumberArray

    def build(self) -> HamiltonianSystem:
        """:class:`~physsim.systems.CoupledOscillators` of the arrays."""
        return CoupledOscillators(mass=np.array(self.mass, float),
                                  stiffness=np.array(self.stiffness, float),
                                  input_matrix=np.array(self.input_matrix, float))


class LinearHRUTable(SystemTable):
    """``type = "linear_hru"``: :meth:`physsim.systems.LinearHRU.random`."""

    n_units: PositiveInt
    n_inputs: PositiveInt
    complex: bool = False
    seed: NonNegativeInt = 0

    def build(self) -> HamiltonianSystem:
        """A random linear HRU."""
        return LinearHRU.random(self.n_units, self.n_inputs, complex=self.complex, rng=self.seed)


class NonlinearHRUTable(SystemTable):
    """``type = "nonlinear_hru"``: :meth:`physsim.systems.NonlinearHRU.random`."""

    n_units: PositiveInt
    n_inputs: PositiveInt
    step: PositiveFloat = 1e-4
    seed: NonNegativeInt = 0

    def build(self) -> HamiltonianSystem:
        """A random nonlinear HRU."""
        return NonlinearHRU.random(self.n_units, self.n_inputs, step=self.step, rng=self.seed)


def _circuit_parts() -> tuple[dict[str, str], dict[str, str]]:
    """Circuit builder methods by element kind and by source kind."""
    return ({"capacitor": "add_capacitor", "inductor": "add_inductor",
             "josephson_junction": "add_josephson_junction"},
            {"current": "add_current_source", "voltage": "add_voltage_source"})


class CircuitTable(SystemTable):
    """``type = "circuit"``: elements and sources of :class:`physsim.systems.circuit.Circuit`.

    Each entry of ``elements``/``sources`` is a table with ``kind`` and the keyword
    arguments of the builder method (``capacitor`` -> ``add_capacitor(node_a, node_b,
    capacitance, name)`` ...), checked against that method's signature.
    """

    elements: list[dict[str, Any]]
    sources: list[dict[str, Any]] = []

    @field_validator("elements", "sources")
    @classmethod
    def _check_parts(cls, parts: list[dict[str, Any]], info) -> list[dict[str, Any]]:
        from ..systems.circuit import Circuit  # noqa: PLC0415 (only circuits need it)

        methods = _circuit_parts()[0 if info.field_name == "elements" else 1]
        what = "circuit element" if info.field_name == "elements" else "circuit source"
        for i, part in enumerate(parts):
            where = f"system.{info.field_name}[{i}]"
            method = getattr(Circuit, lookup(methods, part.get("kind"), what))
            args = {k: v for k, v in part.items() if k != "kind"}
            validate(schema_from_signature(method, "CircuitPart", exclude=("self",)), args, where)
        return parts

    def build(self) -> HamiltonianSystem:
        """The built circuit system."""
        from ..systems.circuit import Circuit  # noqa: PLC0415

        c = Circuit()
        for parts, methods in zip((self.elements, self.sources), _circuit_parts()):
            for part in parts:
                getattr(c, methods[part["kind"]])(**{k: v for k, v in part.items()
                                                     if k != "kind"})
        return c.build()


class NetlistTable(SystemTable):
    """``type = "netlist"``: a SPICE netlist file (``docs/spice.md``); its sources are the inputs.

    ``netlist`` is relative to the config file's folder; it is read (and every problem
    in it reported, with its line) when the config is checked.  ``units`` and
    ``time_scale`` are those of :meth:`physsim.systems.circuit.Circuit.build`.
    """

    netlist: str
    units: Literal["SI", "natural"] = "SI"
    time_scale: PositiveFloat = 1e-9

    @field_validator("netlist")
    @classmethod
    def _read_netlist(cls, value: str, info) -> str:
        from ..spice import NetlistError, read_netlist  # noqa: PLC0415 (only netlists need it)

        base = (info.context or {}).get("base_dir")
        path = Path(value) if base is None else Path(base) / value
        try:
            read_netlist(path)
        except OSError as exc:
            raise ValueError(f"cannot read the netlist {str(path)!r}: {exc.strerror}") from None
        except NetlistError as exc:
            raise ValueError(str(exc)) from None
        return str(path.resolve())

    def build(self) -> HamiltonianSystem:
        """The circuit system of the netlist."""
        from ..spice import load_device  # noqa: PLC0415

        return load_device(self.netlist).build(units=self.units, time_scale=self.time_scale)


#: System types of ``[system] type`` and their schemas.
SYSTEM_TYPES: dict[str, type[SystemTable]] = {
    "six_oscillators": SixOscillatorsTable, "coupled_oscillators": CoupledOscillatorsTable,
    "linear_hru": LinearHRUTable, "nonlinear_hru": NonlinearHRUTable, "circuit": CircuitTable,
    "netlist": NetlistTable,
}


def parse_system(table: Any, base_dir: Path | None = None) -> SystemTable:
    """The typed ``[system]`` table: its ``type`` picks the schema in :data:`SYSTEM_TYPES`.

    ``base_dir`` (the config file's folder) is handed to the schema's validators as
    ``info.context["base_dir"]``, for system types that name files relative to the config.

    Raises
    ------
    ConfigError
        For a missing or unknown type (the message lists the valid ones) or a key that does
        not fit the type's schema.
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"[system]: expected a table, got {describe_value(table)}")
    if "type" not in table:
        raise ConfigError(f"[system]: missing key 'type'; valid types are: "
                          f"{', '.join(sorted(SYSTEM_TYPES))}")
    try:
        schema = lookup(SYSTEM_TYPES, table["type"], "system type")
    except ValueError as exc:
        raise ConfigError(f"[system] type: {exc}") from None
    return validate(schema, table, "system", context={"base_dir": base_dir})


# ------------------------------------------------------------ simulation settings
class RunSettings(Table):
    """``[simulation]`` keys shared by every device run (sweeps take only these)."""

    n_steps: PositiveInt
    dt: PositiveFloat | None = None
    integrator: IntegratorName = "leapfrog"
    dtype: Literal["float64", "float32"] = "float64"
    batch: PositiveInt = 1


class SimulationTable(RunSettings):
    """``[simulation]`` of ``simulate``/``gradcheck``: run settings, recording and hardware.

    ``hardware`` is the name of a registered preset (:data:`physsim.hardware.PRESETS`),
    ``seed`` the seed of its randomness.
    """

    record_every: NonNegativeInt = 1
    record_energy: bool = True
    seed: NonNegativeInt = 0
    hardware: PresetName | None = None


class InputsTable(Table):
    """``[inputs]``: ``kind`` ``"zeros"`` (no input), ``"noise"`` or ``"sines"``."""

    kind: Literal["zeros", "noise", "sines"] = "zeros"
    amplitude: float = 1.0
    seed: NonNegativeInt = 0
    frequencies: list[float] | None = None


class InitialStateTable(Table):
    """``[initial_state]``: ``"zeros"``, ``"random"`` (``scale``, ``seed``) or ``"given"``
    (``q0``, optional ``p0``)."""

    kind: Literal["zeros", "random", "given"] = "zeros"
    scale: float = 0.1
    seed: NonNegativeInt = 0
    q0: list[float] | None = None
    p0: list[float] | None = None

    @model_validator(mode="after")
    def _given_needs_q0(self) -> "InitialStateTable":
        if self.kind == "given" and self.q0 is None:
            raise ValueError('kind = "given" needs q0 = [...]')
        return self


class LossTable(Table):
    """``[loss]``: ``"mse"`` on a random read-out (random or teacher targets) or
    ``"pooled_ce"`` (random classes)."""

    kind: Literal["mse", "pooled_ce"] = "mse"
    n_outputs: PositiveInt = 2
    n_classes: PositiveInt = 3
    seed: NonNegativeInt = 0
    target: Literal["noise", "teacher_six_oscillators"] = "noise"


class RhelTable(Table):
    """``[rhel]``: options of :func:`physsim.rhel.rhel_gradient`."""

    eps: PositiveFloat | None = None
    relative_nudge: PositiveFloat | None = None
    estimator: EstimatorName = "centred"
    nudge: NudgeName = "recorded"


class CheckTable(Table):
    """``[check]``: central finite differences along ``n_directions`` random directions."""

    n_directions: PositiveInt = 3
    rel_step: PositiveFloat = 1e-5
    seed: NonNegativeInt = 0


class OutputTable(Table):
    """``[output]``: where ``physsim simulate`` writes (overridden by ``--out``)."""

    folder: str = "physsim_output/simulate"


# ---------------------------------------------------------------- whole config
@dataclass(frozen=True)
class DeviceConfig:
    """A checked device config (the tables of ``simulate`` and ``gradcheck``).

    Attributes
    ----------
    system : SystemTable
    simulation : RunSettings
        :class:`SimulationTable` for the commands, :class:`RunSettings` in sweeps.
    inputs : InputsTable or None
        None when the file has no ``[inputs]`` (each command picks its default).
    initial_state : InitialStateTable
    loss : LossTable
    rhel : RhelTable
    check : CheckTable
    output : OutputTable
    """

    system: SystemTable
    simulation: RunSettings
    inputs: InputsTable | None
    initial_state: InitialStateTable
    loss: LossTable
    rhel: RhelTable
    check: CheckTable
    output: OutputTable

    #: Tables of a device config.
    TABLES: ClassVar[tuple[str, ...]] = ("system", "simulation", "inputs", "initial_state",
                                         "loss", "rhel", "check", "output")


#: Tables a device config may have (``system`` and ``simulation`` are required).
DEVICE_TABLES = DeviceConfig.TABLES

_SCHEMAS: dict[str, type[Table]] = {"inputs": InputsTable, "initial_state": InitialStateTable,
                                    "loss": LossTable, "rhel": RhelTable, "check": CheckTable,
                                    "output": OutputTable}


def parse_device(tables: Mapping[str, Any], *,
                 simulation: type[RunSettings] = SimulationTable,
                 allowed: tuple[str, ...] = DEVICE_TABLES,
                 base_dir: Path | None = None) -> DeviceConfig:
    """Check the tables of a device config.

    Parameters
    ----------
    tables : dict
        The parsed TOML file (or the device tables of a sweep).
    simulation : type, default SimulationTable
        Schema of ``[simulation]`` (sweeps use :class:`RunSettings`: their hardware and
        seeds come from the sweep).
    allowed : tuple of str
        Tables the file may have besides these (sweeps check their own top level and
        pass only the device tables).
    base_dir : Path, optional
        Folder of the config file (see :func:`parse_system`).

    Raises
    ------
    ConfigError
        For unknown or missing tables and every key that does not fit its schema.
    """
    check_tables(tables, allowed, ("system", "simulation"))
    checks = {"system": lambda: parse_system(tables["system"], base_dir),
              "simulation": lambda: validate(simulation, tables["simulation"], "simulation"),
              "inputs": lambda: (validate(InputsTable, tables["inputs"], "inputs")
                                 if "inputs" in tables else None)}
    for name, schema in _SCHEMAS.items():
        if name != "inputs":
            checks[name] = (lambda name=name, schema=schema:
                            validate(schema, tables.get(name, {}), name))
    return DeviceConfig(**validate_all(checks))


# -------------------------------------------------------------------- builders
def build_inputs(table: InputsTable, system: HamiltonianSystem, n_steps: int, dt: float,
                 batch: int = 1) -> np.ndarray | None:
    """Input sequence from an ``[inputs]`` table.

    Returns
    -------
    ndarray, shape (batch, n_steps, n_inputs), or None
        None for ``kind = "zeros"``.  ``"sines"`` on a one-input coupled-oscillator system
        without ``frequencies`` is the six-oscillator drive of the RHEL paper.
    """
    amp, m = table.amplitude, system.n_inputs
    if table.kind == "zeros":
        return None
    if table.kind == "noise":
        rng = np.random.default_rng(table.seed)
        return amp * rng.standard_normal((batch, n_steps, m))
    if isinstance(system, CoupledOscillators) and m == 1 and table.frequencies is None:
        return np.broadcast_to(amp * six_oscillator_drive(n_steps, dt),
                               (batch, n_steps, 1)).copy()
    freqs = np.asarray(table.frequencies or [0.5, 1.1, 1.7], float)
    t = (np.arange(n_steps) + 0.5) * dt
    base = amp * np.sin(np.outer(t, freqs)).sum(axis=1) / len(freqs)
    return np.broadcast_to(base[:, None], (batch, n_steps, m)).copy()


def build_initial_state(table: InitialStateTable, system: HamiltonianSystem, batch: int = 1
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Initial ``(q0, p0)``, each of shape (batch, n_dof), from an ``[initial_state]`` table."""
    n = system.n_dof
    if table.kind == "zeros":
        return np.zeros((batch, n)), np.zeros((batch, n))
    if table.kind == "random":
        rng = np.random.default_rng(table.seed)
        s = table.scale
        return s * rng.standard_normal((batch, n)), s * rng.standard_normal((batch, n))
    q = np.broadcast_to(np.asarray(table.q0, float), (batch, n)).copy()
    p0 = np.zeros(n) if table.p0 is None else np.asarray(table.p0, float)
    return q, np.broadcast_to(p0, (batch, n)).copy()


def build_loss(table: LossTable, system: HamiltonianSystem, inputs: np.ndarray | None,
               n_steps: int, dt: float, batch: int) -> Loss:
    """Loss from a ``[loss]`` table.

    ``kind = "mse"``: a random read-out of the positions against random targets
    (``target = "noise"``) or against oscillator 4 of the six-oscillator teacher driven by
    the same inputs (``"teacher_six_oscillators"``); ``"pooled_ce"``: cross-entropy of a
    random read-out of the mean position against random classes.  A circuit's read-out
    weighs node fluxes in units of the reduced flux quantum, so the same device gives the
    same loss in SI and in natural units.
    """
    from ..systems.circuit.units import REDUCED_FLUX_QUANTUM, CircuitUnits  # noqa: PLC0415

    rng = np.random.default_rng(table.seed)
    n = system.n_dof
    # a circuit's read-out counts node flux in Phi_0/2pi whatever its units: in SI units
    # (fluxes ~1e-15 Wb) O(1) weights would make the loss the constant target term alone
    unit = getattr(system, "units", None)
    per_flux = (unit.flux / REDUCED_FLUX_QUANTUM) if isinstance(unit, CircuitUnits) else 1.0
    if table.kind == "pooled_ce":
        return PooledCrossEntropy(rng.standard_normal((table.n_classes, n)) / np.sqrt(n)
                                  * per_flux, rng.integers(0, table.n_classes, batch))
    if table.target == "teacher_six_oscillators":
        tr = simulate(six_oscillators("teacher"), np.zeros(6), None, inputs, dt=dt,
                      record_every=1)
        readout = np.zeros((1, n))
        readout[0, SIX_OSC_OUTPUT] = 1.0
        return MSEReadout(readout, tr.positions[:, 1:, SIX_OSC_OUTPUT:SIX_OSC_OUTPUT + 1])
    return MSEReadout(rng.standard_normal((table.n_outputs, n)) / np.sqrt(n) * per_flux,
                      rng.standard_normal((batch, n_steps, table.n_outputs)))
