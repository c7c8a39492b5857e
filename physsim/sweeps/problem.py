"""The task of a sweep point: the device, its inputs and loss, and the point's hardware model."""

from __future__ import annotations

from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..config import build_initial_state, build_inputs, build_loss, parse_device
from ..config.device import RunSettings
from ..config.loader import check_tables
from ..hardware import (HardwareModel, build_model, compose, get_preset, model_names,
                        resolve_hardware)
from ..losses import Loss
from ..hssm.config import TOP_TABLES, RunConfig
from ..systems.base import HamiltonianSystem

#: Pseudo-field of an axis over hardware presets.
PRESET_FIELD = "preset"


@dataclass
class Problem:
    """A device, a task on it and the simulation settings, built from a sweep's tables.

    A sweep over an HSSM model has only :attr:`hssm`; the device attributes are
    then None (and a sweep may have both).

    Attributes
    ----------
    system : HamiltonianSystem
        The nominal device.
    inputs : ndarray (batch, L, m) or None
        Input sequence.
    q0, p0 : ndarray, shape (batch, n_dof)
        Initial state.
    loss : Loss
        The task's loss on positions.
    n_steps : int
        Sequence length L.
    dt : float
        Step (system time unit).
    integrator : str
        Integrator name.
    dtype : str
        ``"float64"`` or ``"float32"``.
    rhel : dict
        Options of :func:`physsim.rhel.rhel_gradient` (``eps``, ``relative_nudge``,
        ``estimator``, ``nudge``).
    hssm : RunConfig or None
        Training configuration of an HSSM model (:mod:`physsim.hssm`).
    """

    system: HamiltonianSystem | None = None
    inputs: np.ndarray | None = None
    q0: np.ndarray | None = None
    p0: np.ndarray | None = None
    loss: Loss | None = None
    n_steps: int = 0
    dt: float = 0.0
    integrator: str = "leapfrog"
    dtype: str = "float64"
    rhel: dict[str, Any] = field(default_factory=dict)
    hssm: Any = None

    @property
    def common(self) -> dict[str, Any]:
        """Keyword arguments shared by simulate, RHEL and BPTT."""
        return {"n_steps": None if self.inputs is not None else self.n_steps, "dt": self.dt,
                "integrator": self.integrator}


def _toml_value(v: Any) -> str:
    if isinstance(v, bool):
        return "true" if v else "false"
    if isinstance(v, str):
        return '"' + v.replace("\\", "\\\\").replace('"', '\\"') + '"'
    if isinstance(v, (list, tuple)):
        return "[" + ", ".join(_toml_value(x) for x in v) + "]"
    if isinstance(v, dict):
        return "{ " + ", ".join(f'"{k}" = {_toml_value(x)}' for k, x in v.items()) + " }"
    if isinstance(v, float):
        return repr(v) if np.isfinite(v) else ("nan" if np.isnan(v) else
                                               ("inf" if v > 0 else "-inf"))
    return str(int(v)) if isinstance(v, (int, np.integer)) else repr(v)


def hssm_config(table: dict[str, Any], base_dir: Path | None = None) -> RunConfig:
    """The checked :class:`physsim.hssm.RunConfig` of an ``[hssm]`` table.

    Parameters
    ----------
    table : dict
        The ``[hssm]`` table (``data``, ``model``, optionally ``training``).
    base_dir : Path, optional
        Folder that relative ``[hssm.data] ts_folder``/``npz`` paths start from (the
        sweep file's folder; the working directory without it).

    Raises
    ------
    ConfigError
        For an invalid table (unknown tables, keys or names, wrong types), naming
        ``[hssm.<table>]``.
    """
    check_tables(table, TOP_TABLES, ("data", "model"), "hssm")
    lines = []
    for name, sub in table.items():
        lines.append(f"[{name}]")
        lines += [f"{k} = {_toml_value(v)}" for k, v in sub.items()]
    return RunConfig.from_tables(table, text="\n".join(lines) + "\n", source="[hssm]",
                                 where="hssm.", base_dir=base_dir)


def build_problem(problem: dict[str, Any]) -> Problem:
    """Build a :class:`Problem` from the ``problem`` tables of a :class:`SweepConfig`."""
    model = hssm_config(problem["hssm"]) if "hssm" in problem else None
    if "system" not in problem:
        return Problem(hssm=model)
    device = parse_device({k: v for k, v in problem.items() if k != "hssm"},
                          simulation=RunSettings)
    system = device.system.build()
    sim = device.simulation
    dt = sim.dt if sim.dt is not None else system.default_dt
    if not dt:
        raise ValueError(f"[simulation]: {type(system).__name__} has no default time step; set dt "
                         f"(in {system.time_unit})")
    u = build_inputs(device.inputs, system, sim.n_steps, dt, sim.batch)
    q0, p0 = build_initial_state(device.initial_state, system, sim.batch)
    loss = build_loss(device.loss, system, u, sim.n_steps, dt, sim.batch)
    return Problem(system=system, inputs=u, q0=q0, p0=p0, loss=loss, n_steps=sim.n_steps, dt=dt,
                   integrator=sim.integrator, dtype=sim.dtype, rhel=device.rhel.given(),
                   hssm=model)


def build_hardware(base: dict[str, Any], settings: dict[str, Any]) -> HardwareModel:
    """The hardware model of one point: base preset, then one model per class with fields set.

    Parameters
    ----------
    base : dict
        The ``[hardware]`` table: ``preset`` (optional) and per-model tables of
        fixed fields (``[hardware.NoisyAnalog]``..., any registered model).
    settings : dict
        The point's values: ``"Model.field" -> value`` and ``"preset"``.

    Returns
    -------
    HardwareModel
        The ideal device when nothing is set; else ``preset`` alone, the models
        alone, or their composition (:func:`physsim.hardware.compose`; preset
        first, then the models in registration order).
    """
    preset = settings.get(PRESET_FIELD, base.get(PRESET_FIELD))
    # registration order, not the table's: the composition order must not depend on how the
    # TOML file happens to list the tables
    per_model: dict[str, dict[str, Any]] = {m: dict(base[m]) for m in model_names() if m in base}
    for key, value in settings.items():
        if key == PRESET_FIELD:
            continue
        model, _, name = key.partition(".")
        per_model.setdefault(model, {})[name] = value
    models = [build_model(m, fields) for m, fields in per_model.items()]
    if preset is None:
        if not models:
            return resolve_hardware(None)
        return models[0] if len(models) == 1 else compose(*models)
    base_model = get_preset(str(preset))
    return compose(base_model, *models) if models else base_model
