"""TOML run configurations: systems, inputs, initial states and losses from plain tables.

Every table is checked against the keys it allows; an unknown key or name is
an error that lists what is allowed.  Example (``physsim simulate``)::

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
    kind = "zeros"             # "zeros" or "random"
"""

from __future__ import annotations

import tomllib
from pathlib import Path
from typing import Any, Callable

import numpy as np

from .examples import SIX_OSC_OUTPUT, six_oscillator_drive, six_oscillators
from .losses import Loss, MSEReadout, PooledCrossEntropy
from .registry import lookup
from .systems import CoupledOscillators, LinearHRU, NonlinearHRU
from .systems.base import HamiltonianSystem


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file, with the file name in the error if it does not parse."""
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"config file {path} does not exist")
    try:
        with path.open("rb") as f:
            return tomllib.load(f)
    except tomllib.TOMLDecodeError as exc:
        raise ValueError(f"{path}: invalid TOML: {exc}") from exc


def check_keys(table: dict[str, Any], allowed: set[str], where: str,
               required: set[str] = frozenset()) -> None:
    """Raise ``ValueError`` for unknown or missing keys of a config table."""
    unknown = set(table) - allowed
    if unknown:
        raise ValueError(f"[{where}]: unknown key(s) {sorted(unknown)}; allowed keys are: "
                         f"{', '.join(sorted(allowed))}")
    missing = set(required) - set(table)
    if missing:
        raise ValueError(f"[{where}]: missing key(s) {sorted(missing)}")


# ------------------------------------------------------------------- systems
def _six(t):
    check_keys(t, {"type", "variant"}, "system")
    return six_oscillators(t.get("variant", "student"))


def _coupled(t):
    check_keys(t, {"type", "mass", "stiffness", "input_matrix"}, "system",
               {"mass", "stiffness", "input_matrix"})
    return CoupledOscillators(mass=np.array(t["mass"], float), stiffness=np.array(t["stiffness"],
                              float), input_matrix=np.array(t["input_matrix"], float))


def _linear_hru(t):
    check_keys(t, {"type", "n_units", "n_inputs", "complex", "seed"}, "system",
               {"n_units", "n_inputs"})
    return LinearHRU.random(int(t["n_units"]), int(t["n_inputs"]),
                            complex=bool(t.get("complex", False)), rng=int(t.get("seed", 0)))


def _nonlinear_hru(t):
    check_keys(t, {"type", "n_units", "n_inputs", "step", "seed"}, "system",
               {"n_units", "n_inputs"})
    return NonlinearHRU.random(int(t["n_units"]), int(t["n_inputs"]),
                               step=float(t.get("step", 1e-4)), rng=int(t.get("seed", 0)))


def _circuit(t):
    check_keys(t, {"type", "elements", "sources"}, "system", {"elements"})
    try:
        from .systems.circuit import Circuit  # noqa: PLC0415
    except ImportError as exc:  # pragma: no cover - the circuit module ships with physsim
        raise NotImplementedError("the circuit builder is not available") from exc
    c = Circuit()
    for el in t["elements"]:
        kind = el.get("kind")
        args = {k: v for k, v in el.items() if k != "kind"}
        adder = {"capacitor": c.add_capacitor, "inductor": c.add_inductor,
                 "josephson_junction": c.add_josephson_junction}
        lookup(adder, kind, "circuit element")(**args)
    for src in t.get("sources", []):
        kind = src.get("kind")
        args = {k: v for k, v in src.items() if k != "kind"}
        adder = {"current": c.add_current_source, "voltage": c.add_voltage_source}
        lookup(adder, kind, "circuit source")(**args)
    return c.build()


#: System types of ``[system] type``.
SYSTEM_TYPES: dict[str, Callable[[dict], HamiltonianSystem]] = {
    "six_oscillators": _six, "coupled_oscillators": _coupled, "linear_hru": _linear_hru,
    "nonlinear_hru": _nonlinear_hru, "circuit": _circuit,
}


def build_system(table: dict[str, Any]) -> HamiltonianSystem:
    """System from a ``[system]`` table (``type`` is one of :data:`SYSTEM_TYPES`)."""
    if "type" not in table:
        raise ValueError(f"[system]: missing key 'type'; valid types are: "
                         f"{', '.join(sorted(SYSTEM_TYPES))}")
    return lookup(SYSTEM_TYPES, table["type"], "system type")(table)


# -------------------------------------------------------------------- inputs
def build_inputs(table: dict[str, Any], system: HamiltonianSystem, n_steps: int, dt: float,
                 batch: int = 1) -> np.ndarray | None:
    """Input sequence (batch, L, m) from an ``[inputs]`` table; None for ``kind = "zeros"``."""
    check_keys(table, {"kind", "amplitude", "seed", "frequencies"}, "inputs")
    kind = table.get("kind", "zeros")
    amp = float(table.get("amplitude", 1.0))
    m = system.n_inputs
    if kind == "zeros":
        return None
    if kind == "noise":
        rng = np.random.default_rng(int(table.get("seed", 0)))
        return amp * rng.standard_normal((batch, n_steps, m))
    if kind == "sines":
        if isinstance(system, CoupledOscillators) and m == 1 and "frequencies" not in table:
            return np.broadcast_to(amp * six_oscillator_drive(n_steps, dt),
                                   (batch, n_steps, 1)).copy()
        freqs = np.asarray(table.get("frequencies", [0.5, 1.1, 1.7]), float)
        t = (np.arange(n_steps) + 0.5) * dt
        base = amp * np.sin(np.outer(t, freqs)).sum(axis=1) / len(freqs)
        return np.broadcast_to(base[:, None], (batch, n_steps, m)).copy()
    raise ValueError(f"[inputs]: unknown kind {kind!r}; valid kinds are: noise, sines, zeros")


def build_initial_state(table: dict[str, Any], system: HamiltonianSystem, batch: int = 1
                        ) -> tuple[np.ndarray, np.ndarray]:
    """Initial (q0, p0), each (batch, n_dof), from an ``[initial_state]`` table."""
    check_keys(table, {"kind", "scale", "seed", "q0", "p0"}, "initial_state")
    kind = table.get("kind", "zeros")
    n = system.n_dof
    if kind == "zeros":
        return np.zeros((batch, n)), np.zeros((batch, n))
    if kind == "random":
        rng = np.random.default_rng(int(table.get("seed", 0)))
        s = float(table.get("scale", 0.1))
        return s * rng.standard_normal((batch, n)), s * rng.standard_normal((batch, n))
    if kind == "given":
        q = np.broadcast_to(np.asarray(table["q0"], float), (batch, n)).copy()
        p = np.broadcast_to(np.asarray(table.get("p0", np.zeros(n)), float), (batch, n)).copy()
        return q, p
    raise ValueError(f"[initial_state]: unknown kind {kind!r}; valid kinds are: given, random, "
                     "zeros")


# ---------------------------------------------------------------------- loss
def build_loss(table: dict[str, Any], system: HamiltonianSystem, inputs, n_steps: int, dt: float,
               batch: int) -> Loss:
    """Loss from a ``[loss]`` table: ``kind = "mse"`` (random or teacher targets) or
    ``"pooled_ce"``.
    """
    check_keys(table, {"kind", "n_outputs", "n_classes", "seed", "target"}, "loss")
    kind = table.get("kind", "mse")
    rng = np.random.default_rng(int(table.get("seed", 0)))
    n = system.n_dof
    if kind == "mse":
        target = table.get("target", "noise")
        if target == "teacher_six_oscillators":
            from .simulate import simulate  # noqa: PLC0415

            tr = simulate(six_oscillators("teacher"), np.zeros(6), None, inputs, dt=dt,
                          record_every=1)
            readout = np.zeros((1, n))
            readout[0, SIX_OSC_OUTPUT] = 1.0
            return MSEReadout(readout, tr.positions[:, 1:, SIX_OSC_OUTPUT:SIX_OSC_OUTPUT + 1])
        if target != "noise":
            raise ValueError(f"[loss]: unknown target {target!r}; valid targets are: noise, "
                             "teacher_six_oscillators")
        n_out = int(table.get("n_outputs", 2))
        return MSEReadout(rng.standard_normal((n_out, n)) / np.sqrt(n),
                          rng.standard_normal((batch, n_steps, n_out)))
    if kind == "pooled_ce":
        n_cls = int(table.get("n_classes", 3))
        return PooledCrossEntropy(rng.standard_normal((n_cls, n)) / np.sqrt(n),
                                  rng.integers(0, n_cls, batch))
    raise ValueError(f"[loss]: unknown kind {kind!r}; valid kinds are: mse, pooled_ce")
