"""HDF5 run files: trajectories and the system, integrator and seed needed to re-run them.

Layout of a trajectory file::

    /                      attrs: physsim_version, kind="trajectory", integrator, dt,
                                  n_steps, record_every, seed, hardware (JSON), created
    /system                attrs: class ("module:QualName"), time_unit
    /system/<field>        one dataset per constructor field (absent when None)
    /trajectory/times      (n_records,)            [system time unit]
    /trajectory/positions  (batch, n_records, n)   (if recorded)
    /trajectory/momenta    (batch, n_records, n)   (if recorded)
    /trajectory/energy     (batch, n_records)      (if recorded)
    /trajectory/final_positions, final_momenta  (batch, n)
    /trajectory/position_sum (batch, n)            (if accumulated)
"""

from __future__ import annotations

import datetime as _dt
import importlib
import json
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from ._version import __version__
from .trajectory import Trajectory
from .systems.base import HamiltonianSystem


def write_system(group: h5py.Group, system: HamiltonianSystem) -> None:
    """Store a system's class and constructor fields in an HDF5 group."""
    group.attrs["class"] = f"{type(system).__module__}:{type(system).__qualname__}"
    group.attrs["time_unit"] = system.time_unit
    for name in system._init_names():
        value = getattr(system, name)
        if value is None:
            continue
        if isinstance(value, (str, bytes)):
            group.attrs[f"field:{name}"] = value
        elif isinstance(value, (dict, list, tuple)) and not np.asarray(value).dtype.kind in "fiub":
            group.attrs[f"json:{name}"] = json.dumps(value)
        else:
            group.create_dataset(name, data=np.asarray(value))


def read_system(group: h5py.Group) -> HamiltonianSystem:
    """Rebuild a system stored by :func:`write_system`."""
    module, _, qualname = str(group.attrs["class"]).partition(":")
    cls: Any = importlib.import_module(module)
    for part in qualname.split("."):
        cls = getattr(cls, part)
    kwargs: dict[str, Any] = {}
    for key, value in group.attrs.items():
        if key.startswith("field:"):
            kwargs[key[6:]] = value
        elif key.startswith("json:"):
            kwargs[key[5:]] = json.loads(value)
    for name, ds in group.items():
        data = ds[()]
        kwargs[name] = data.item() if np.ndim(data) == 0 else np.asarray(data)
    return cls(**kwargs)


def save_trajectory(path: str | Path, trajectory: Trajectory, *,
                    config: dict[str, Any] | None = None) -> Path:
    """Write a :class:`~physsim.simulate.Trajectory` and its provenance to an HDF5 file.

    Parameters
    ----------
    path : str or Path
        Output file (overwritten).
    trajectory : Trajectory
        Result of :func:`physsim.simulate`.
    config : dict, optional
        Extra JSON-able configuration stored as the ``config`` attribute.

    Returns
    -------
    Path
        The file written.
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(path.suffix + ".partial")
    with h5py.File(tmp, "w") as f:
        f.attrs.update({
            "physsim_version": __version__, "kind": "trajectory",
            "integrator": trajectory.integrator, "dt": trajectory.dt,
            "n_steps": trajectory.n_steps, "record_every": trajectory.record_every,
            "seed": trajectory.seed, "hardware": json.dumps(trajectory.hardware),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(),
            "config": json.dumps(config or {}),
        })
        write_system(f.create_group("system"), trajectory.system)
        g = f.create_group("trajectory")
        g.create_dataset("times", data=trajectory.times).attrs["unit"] = trajectory.system.time_unit
        for name in ("positions", "momenta", "energy", "final_positions", "final_momenta",
                     "position_sum"):
            value = getattr(trajectory, name)
            if value is not None:
                g.create_dataset(name, data=value,
                                 compression="gzip" if value.size > 4096 else None)
    tmp.replace(path)  # atomic: a crash never leaves a half-written run file under the real name
    return path


def load_trajectory(path: str | Path) -> Trajectory:
    """Read a trajectory file written by :func:`save_trajectory`."""
    with h5py.File(path, "r") as f:
        if f.attrs.get("kind") != "trajectory":
            raise ValueError(f"{path} is not a physsim trajectory file "
                             f"(kind={f.attrs.get('kind')!r})")
        g = f["trajectory"]

        def get(name):
            return np.asarray(g[name]) if name in g else None

        return Trajectory(
            times=get("times"), positions=get("positions"), momenta=get("momenta"),
            energy=get("energy"), final_positions=get("final_positions"),
            final_momenta=get("final_momenta"), position_sum=get("position_sum"),
            dt=float(f.attrs["dt"]), n_steps=int(f.attrs["n_steps"]),
            record_every=int(f.attrs["record_every"]), integrator=str(f.attrs["integrator"]),
            system=read_system(f["system"]), seed=int(f.attrs["seed"]),
            hardware=json.loads(f.attrs["hardware"]))
