"""Trajectory files (``physsim simulate``): a trajectory and everything needed to re-run it.

Layout (``kind = "trajectory"``, ``format_version = 2``)::

    /                      attrs: kind, format_version, provenance (physsim_version, versions,
                                  code_fingerprint, created), integrator, dt, n_steps,
                                  record_every, seed, config (JSON), json:hardware (the
                                  hardware model's description)
    /system                the system (see physsim.storage.encoding: class and constructor
                           fields, nested dataclasses such as CircuitUnits as sub-groups)
    /hardware_model        the hardware model itself (only if given to save_trajectory)
    /trajectory/times      (n_records,)            [system time unit]
    /trajectory/positions  (batch, n_records, n)   (if recorded)
    /trajectory/momenta    (batch, n_records, n)   (if recorded)
    /trajectory/energy     (batch, n_records)      (if recorded)
    /trajectory/final_positions, final_momenta  (batch, n)
    /trajectory/position_sum (batch, n)            (if accumulated)
    /trajectory/<extra>    arrays derived from the run, with a unit attribute (if given), e.g.
                           node_voltages (n_records, n) [V] and node_names of a netlist run
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import numpy as np

from ..hardware import IDEAL, HardwareModel, resolve_hardware
from ..trajectory import Trajectory
from .encoding import read_object, read_system, read_value, write_system, write_value
from .files import (StorageError, atomic_write, attributes, create_array, reading,
                    set_attributes)
from .provenance import provenance_attributes

KIND = "trajectory"
FORMAT_VERSION = 2
_ARRAYS = ("positions", "momenta", "energy", "final_positions", "final_momenta",
           "position_sum")


def save_trajectory(path: str | Path, trajectory: Trajectory, *,
                    config: dict[str, Any] | None = None,
                    hardware_model: HardwareModel | str | None = None,
                    extra_arrays: dict[str, tuple[np.ndarray, str]] | None = None) -> Path:
    """Write a :class:`~physsim.trajectory.Trajectory` and its provenance to an HDF5 file.

    The file is written atomically: a crash leaves no file (or the old one).

    Parameters
    ----------
    path : str or Path
        Output file (overwritten).
    trajectory : Trajectory
        Result of :func:`physsim.simulate`.
    config : dict, optional
        Extra JSON-able configuration stored as the ``config`` attribute.
    hardware_model : HardwareModel or str, optional
        The hardware model (or preset name) the trajectory was simulated with;
        stored as a typed tree so that :func:`load_hardware_model` rebuilds it
        for a re-run.  Its ``describe()`` must equal ``trajectory.hardware``.
        None, or the ideal device :data:`physsim.hardware.IDEAL`, stores nothing
        (``simulate(hardware=None)`` re-runs it).
    extra_arrays : dict of str to (ndarray, str), optional
        Further arrays derived from the run, stored as ``/trajectory/<name>`` with
        their unit (``""`` for none), e.g. a netlist run's ``node_voltages``
        ``(n_records, n_nodes)`` in V and ``node_names`` (strings).

    Returns
    -------
    Path
        The file written.

    Raises
    ------
    ValueError
        If ``hardware_model`` is not the model described in the trajectory.
    physsim.storage.EncodingError
        If the system (or the hardware model) holds a value that cannot be stored.
    """
    model = None if hardware_model is None else resolve_hardware(hardware_model)
    if model is not None:
        if model.describe() != trajectory.hardware:
            raise ValueError(f"hardware_model describes itself as {model.describe()}, but the "
                             f"trajectory was simulated with {trajectory.hardware}")
        if model is IDEAL:
            model = None
    path = Path(path)
    with atomic_write(path) as f:
        set_attributes(f, {"kind": KIND, "format_version": FORMAT_VERSION,
                           **provenance_attributes(),
                           "integrator": trajectory.integrator, "dt": float(trajectory.dt),
                           "n_steps": int(trajectory.n_steps),
                           "record_every": int(trajectory.record_every),
                           "seed": int(trajectory.seed), "config": json.dumps(config or {})})
        write_value(f, "hardware", trajectory.hardware)
        write_system(f.create_group("system"), trajectory.system)
        if model is not None:
            write_value(f, "hardware_model", model)
        g = f.create_group("trajectory")
        set_attributes(create_array(g, "times", data=trajectory.times),
                       {"unit": trajectory.system.time_unit})
        for name in _ARRAYS:
            value = getattr(trajectory, name)
            if value is not None:
                create_array(g, name, data=value, compress=value.size > 4096)
        for name, (value, unit) in (extra_arrays or {}).items():
            if name in g:
                raise ValueError(f"extra array {name!r} would overwrite the trajectory's own")
            value = np.asarray(value)
            if value.dtype.kind == "U":  # names: fixed-length UTF-8 (see files.set_attributes)
                value = np.char.encode(value, "utf-8")
            dataset = create_array(g, name, data=value, compress=value.size > 4096)
            set_attributes(dataset, {"unit": unit})
    return path


def load_trajectory(path: str | Path) -> Trajectory:
    """Read a trajectory file written by :func:`save_trajectory`.

    Raises
    ------
    StorageError
        If the file is missing, truncated, damaged, or not a trajectory file
        of this format version.
    """
    with reading(path, KIND, FORMAT_VERSION) as f:
        g = f["trajectory"]
        a = attributes(f)

        def get(name):
            return np.asarray(g[name]) if name in g else None

        return Trajectory(
            times=get("times"), positions=get("positions"), momenta=get("momenta"),
            energy=get("energy"), final_positions=get("final_positions"),
            final_momenta=get("final_momenta"), position_sum=get("position_sum"),
            dt=float(a["dt"]), n_steps=int(a["n_steps"]), record_every=int(a["record_every"]),
            integrator=str(a["integrator"]), system=read_system(f["system"]), seed=int(a["seed"]),
            hardware=read_value(f, "hardware"))


def load_hardware_model(path: str | Path) -> HardwareModel | None:
    """The hardware model stored in a trajectory file (None: the ideal device, or none stored).

    Raises
    ------
    StorageError
        As :func:`load_trajectory`.
    """
    with reading(path, KIND, FORMAT_VERSION) as f:
        if "hardware_model" not in f:
            return None
        model = read_object(f["hardware_model"])
    if not isinstance(model, HardwareModel):
        raise StorageError(f"{path}: /hardware_model holds a {type(model).__name__}, not a "
                           "HardwareModel")
    return model
