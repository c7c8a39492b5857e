"""Demo run files (``physsim demo``): the simulated device, the gradient check and training.

Layout (``kind = "demo"``, ``format_version = 2``)::

    /                       attrs: kind, format_version, provenance (physsim_version,
                                   versions, code_fingerprint, created), dt, n_steps,
                                   train_steps, lr, hardware (JSON: preset name or null), seed
    /system, /teacher       the student device and the teacher (see physsim.storage.encoding)
    /simulation/times       (n_records,)     [s]
    /simulation/positions   (n_records, n)   [m]
    /simulation/energy      (n_records,)     [J]
    /simulation/inputs      (n_steps, m)     drive
    /simulation/target      (n_steps, n_out) teacher's output
    /gradient_check         attrs: <parameter> = JSON {cosine, norm_ratio, max_relative_error}
    /gradient_check/echo_positions/<pass>   (n_records, n) positions of each echo pass
    /training/<label>       attrs: final_loss, seconds
    /training/<label>/loss  (train_steps,)
    /training/<label>/theta/<name>   trained parameters
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..systems.base import HamiltonianSystem
from .encoding import read_system, write_system
from .files import (atomic_write, attribute, attributes, create_array, members, reading,
                    set_attributes)
from .provenance import provenance_attributes

KIND = "demo"
FORMAT_VERSION = 2
_SETTINGS = ("dt", "n_steps", "train_steps", "lr", "seed")


@dataclass
class DemoTraining:
    """One training run of the demo as stored.

    Attributes
    ----------
    loss : ndarray, shape (train_steps,)
        Loss at every step.
    final_loss : float
        Loss of the trained device.
    seconds : float
        Wall time.
    theta : dict of str to ndarray
        Trained parameters.
    """

    loss: np.ndarray
    final_loss: float
    seconds: float
    theta: dict[str, np.ndarray] = field(default_factory=dict)


@dataclass
class DemoRecord:
    """Contents of a demo run file (see the module docstring for the layout).

    Attributes
    ----------
    settings : dict
        ``dt`` [s], ``n_steps``, ``train_steps``, ``lr``, ``seed`` and
        ``hardware`` (preset name or None).
    device, teacher : HamiltonianSystem
        The simulated (student) device and the teacher.
    simulation : dict of str to ndarray
        ``times``, ``positions``, ``energy``, ``inputs``, ``target``.
    gradient_check : dict of str to dict of float
        RHEL vs BPTT agreement per parameter.
    echo_positions : dict of str to ndarray
        Positions of each echo pass, shape (n_records, n).
    training : dict of str to DemoTraining
        Training runs by label, in the order they ran.
    attrs : dict
        Root attributes as read (provenance included); empty when writing.
    """

    settings: dict[str, Any]
    device: HamiltonianSystem
    teacher: HamiltonianSystem
    simulation: dict[str, np.ndarray]
    gradient_check: dict[str, dict[str, float]]
    echo_positions: dict[str, np.ndarray]
    training: dict[str, DemoTraining]
    attrs: dict[str, Any] = field(default_factory=dict)


def write_demo_run(path: str | Path, record: DemoRecord) -> Path:
    """Write a demo run file atomically.

    Parameters
    ----------
    path : str or Path
        The file (replaced).
    record : DemoRecord
        What to store.

    Returns
    -------
    Path
    """
    path = Path(path)
    with atomic_write(path) as f:
        set_attributes(f, {"kind": KIND, "format_version": FORMAT_VERSION,
                           **provenance_attributes(),
                           **{k: record.settings[k] for k in _SETTINGS},
                           "hardware": json.dumps(record.settings.get("hardware"))})
        write_system(f.create_group("system"), record.device, where="system")
        write_system(f.create_group("teacher"), record.teacher, where="teacher")
        g = f.create_group("simulation")
        for name, values in record.simulation.items():
            create_array(g, name, data=values)
        ga = f.create_group("gradient_check")
        for name, agreement in record.gradient_check.items():
            set_attributes(ga, {name: json.dumps(agreement)})
        for key, arr in record.echo_positions.items():
            create_array(ga, f"echo_positions/{key}", data=arr)
        gt = f.create_group("training", track_order=True)  # runs listed in the order they ran
        for label, run in record.training.items():
            gr = gt.create_group(label)
            create_array(gr, "loss", data=np.asarray(run.loss, float))
            set_attributes(gr, {"final_loss": float(run.final_loss),
                                "seconds": float(run.seconds)})
            for k, v in run.theta.items():
                create_array(gr, f"theta/{k}", data=v)
    return path


def read_demo_run(path: str | Path) -> DemoRecord:
    """Read a demo run file written by :func:`write_demo_run`.

    Raises
    ------
    StorageError
        If the file is missing, truncated, damaged, or not a demo run file of
        this format version.
    """
    with reading(path, KIND, FORMAT_VERSION) as f:
        a = attributes(f)
        settings = {k: a[k] for k in _SETTINGS}
        settings["hardware"] = json.loads(a["hardware"])
        ga = f["gradient_check"]
        echoes = members(ga["echo_positions"]) if "echo_positions" in ga else {}
        training = {
            label: DemoTraining(loss=np.asarray(g["loss"]),
                                final_loss=float(attribute(g, "final_loss")),
                                seconds=float(attribute(g, "seconds")),
                                theta={k: np.asarray(v) for k, v in members(g["theta"]).items()})
            for label, g in members(f["training"]).items()}
        return DemoRecord(
            settings=settings, device=read_system(f["system"]), teacher=read_system(f["teacher"]),
            simulation={k: np.asarray(v) for k, v in members(f["simulation"]).items()},
            gradient_check={k: json.loads(v) for k, v in attributes(ga).items()},
            echo_positions={k: np.asarray(v) for k, v in echoes.items()},
            training=training, attrs=a)
