"""Sweep configurations: parsing with strict key checks, axes, grid expansion and task seeds.

A sweep is described by a TOML file (see :mod:`physsim.sweeps` for a full
example).  Parsing turns it into a :class:`SweepConfig`: the problem (system,
simulation settings, inputs, initial state, loss, RHEL options), the hardware
base, the axes over hardware-model fields, the seeds and the metrics.
:meth:`SweepConfig.points` expands the axes into points and
:meth:`SweepConfig.tasks` pairs every point with every seed.  A task carries
everything that determines its result (the point's settings and its seed), so
results do not depend on which executor runs it, nor on the number of workers.
"""

from __future__ import annotations

import copy
import hashlib
import itertools
import json
import math
from dataclasses import dataclass, field
from functools import cache
from pathlib import Path
from typing import Any

import numpy as np
from pydantic import create_model, field_validator

from ..config.device import DEVICE_TABLES, PresetName, RunSettings, parse_device
from ..config.loader import (ConfigError, NonNegativeInt, PositiveInt, Table, check_keys,
                             check_tables, check_value, load_toml, one_of, validate, validate_all)
from ..hardware import model_fields, model_names
from ..registry import lookup
from .metrics import METRICS, check_metric_options
from .problem import PRESET_FIELD, build_hardware, hssm_config

#: Sweep modes: how the axes combine into points.
MODES = ("grid", "zip", "one_at_a_time")
#: Axis scales.
SCALES = ("linear", "log")
#: Tables that describe a device simulated directly (as opposed to an HSSM model); they have
#: the schemas of :mod:`physsim.config.device` (``[simulation]`` without recording, hardware
#: and seed, which the sweep sets).
SWEEP_DEVICE_TABLES = ("system", "simulation", "inputs", "initial_state", "loss", "rhel")
#: Tables of a sweep file.
SWEEP_TABLES = ("sweep", *SWEEP_DEVICE_TABLES, "hssm", "hardware", "axes", "metrics")
MetricName = one_of(METRICS, "metric")
ModeName = one_of(MODES, "sweep mode")
ScaleName = one_of(SCALES, "axis scale")
assert set(SWEEP_DEVICE_TABLES) <= set(DEVICE_TABLES)


class SweepTable(Table):
    """``[sweep]``: name, results file, how axes combine, seeds and metrics.

    ``seeds`` lists the seeds; ``n_seeds = N`` means ``0 .. N-1`` (default 1).  ``metrics``
    are names of :data:`physsim.sweeps.metrics.METRICS` (one name or an array).
    """

    metrics: list[MetricName]
    name: str | None = None
    output: str | None = None
    mode: ModeName = "grid"
    seeds: list[NonNegativeInt] | None = None
    n_seeds: PositiveInt | None = None

    @field_validator("metrics", mode="before")
    @classmethod
    def _one_or_many(cls, value: Any) -> Any:
        return [value] if isinstance(value, str) else value

    @field_validator("metrics")
    @classmethod
    def _known_metrics(cls, names: list[str]) -> list[str]:
        if not names:
            raise ValueError(f"must list at least one metric; valid names are: "
                             f"{', '.join(sorted(METRICS))}")
        if len(set(names)) != len(names):
            raise ValueError(f"repeated metrics {names}")
        return names

    @field_validator("seeds")
    @classmethod
    def _distinct_seeds(cls, seeds: list[int] | None) -> list[int] | None:
        if seeds is not None and not seeds:
            raise ValueError("seeds must not be empty")
        if seeds is not None and len(set(seeds)) != len(seeds):
            raise ValueError(f"repeated seeds {seeds}")
        return seeds

    def seed_list(self) -> list[int]:
        """The seeds of the sweep (``seeds``, or ``range(n_seeds)``)."""
        if self.seeds is not None and self.n_seeds is not None:
            raise ConfigError("[sweep]: give seeds or n_seeds, not both")
        return list(self.seeds) if self.seeds is not None else list(range(self.n_seeds or 1))


class AxisTable(Table):
    """One ``[[axes]]`` table: a hardware field (``Model.field``, ``field`` or ``preset``)
    and its values, listed or as a range."""

    field: str
    values: list[Any] | None = None
    start: float | None = None
    stop: float | None = None
    num: PositiveInt | None = None
    scale: ScaleName = "linear"
    integer: bool = False
    label: str | None = None
    fixed: dict[str, Any] = {}


def hardware_fields() -> dict[str, tuple[str, ...]]:
    """Knobs of every registered hardware model: ``{model name: its dataclass field names}``.

    Models are in registration order (the order per-model tables are composed in, see
    :func:`physsim.sweeps.problem.build_hardware`); see :func:`physsim.hardware.model_fields`.
    """
    return {name: tuple(model_fields(name)) for name in model_names()}


@cache
def metric_options_table(metric: str) -> type[Table]:
    """Schema of a ``[metrics.<metric>]`` table: the metric's options, each typed like its
    default (a float option takes a TOML integer; a list option is a list of names)."""
    def kind(default: Any) -> Any:
        return list[str] if isinstance(default, list) else type(default)

    options = lookup(METRICS, metric, "metric").options
    return create_model(f"{metric}Options", __base__=Table,
                        **{k: (kind(v), v) for k, v in options.items()})


@cache
def hardware_table(model: str) -> type[Table]:
    """Schema of a ``[hardware.<model>]`` table: the registered model's dataclass fields,
    typed by their annotations (see :func:`physsim.hardware.model_fields`)."""
    fields = {f.name: (f.type, ... if f.required else f.default)
              for f in model_fields(model).values()}
    return create_model(f"{model}Table", __base__=Table, **fields)


def resolve_field(name: str, fields: dict[str, tuple[str, ...]] | None = None
                  ) -> tuple[str | None, str]:
    """Split an axis field into ``(model, field)``; ``("", "preset")`` for the preset axis.

    ``"NoisyAnalog.mismatch"`` and ``"mismatch"`` both give
    ``("NoisyAnalog", "mismatch")``; a plain name must belong to exactly one model.

    Raises
    ------
    ValueError
        For an unknown model or field (the message lists the valid ones).
    """
    if not isinstance(name, str) or not name:
        raise ValueError(f"an axis field must be a non-empty string, got {name!r}")
    if name == PRESET_FIELD:
        return None, PRESET_FIELD
    fields = hardware_fields() if fields is None else fields
    if "." in name:
        model, _, fname = name.partition(".")
        if model not in fields:
            raise ValueError(f"unknown hardware model {model!r} in field {name!r}; valid models "
                             f"are: {', '.join(fields)}")
        if fname not in fields[model]:
            raise ValueError(f"unknown {model} field {fname!r}; valid fields are: "
                             f"{', '.join(fields[model])}")
        return model, fname
    owners = [m for m, names in fields.items() if name in names]
    if len(owners) == 1:
        return owners[0], name
    if len(owners) > 1:
        raise ValueError(f"field {name!r} belongs to several models ({', '.join(owners)}); "
                         f"write it as Model.{name}")
    valid = [f"{m}.{f}" for m, names in fields.items() for f in names]
    raise ValueError(f"unknown hardware field {name!r}; valid fields are: preset, "
                     f"{', '.join(valid)}")


def _canonical(value: Any) -> Any:
    """JSON-able copy with numpy scalars as Python numbers (for hashing and storage)."""
    if isinstance(value, dict):
        return {str(k): _canonical(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_canonical(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


@dataclass(frozen=True)
class Axis:
    """One swept hardware field.

    Attributes
    ----------
    field : str
        Qualified field, ``"Model.field"``, or ``"preset"``.
    model : str or None
        Name of a registered hardware model, e.g. ``"NoisyAnalog"`` (None for the preset
        axis).
    name : str
        Field name within the model (``"preset"`` for the preset axis).
    values : tuple
        The values swept, in order (numbers, or strings for categorical fields).
    scale : str
        ``"linear"`` or ``"log"`` (how the values were generated; also the
        default x scale of the figures).
    label : str
        Label for tables and figures (default: the field name).
    fixed : dict
        Extra fixed fields (qualified names) applied at every point where this
        axis is active, e.g. a quality factor that a thermal-noise axis needs.
    """

    field: str
    model: str | None
    name: str
    values: tuple
    scale: str = "linear"
    label: str = ""
    fixed: dict[str, Any] = field(default_factory=dict)

    @property
    def categorical(self) -> bool:
        """True when the values are not numbers (presets, rounding modes...)."""
        return any(isinstance(v, str) or v is None or isinstance(v, bool) for v in self.values)

    def coordinate(self, value: Any) -> float:
        """Numeric coordinate of a value: itself, or its index for categorical axes."""
        if self.categorical:
            return float(self.values.index(value))
        return float(value)

    def to_dict(self) -> dict[str, Any]:
        """JSON-able description (stored in sweep files)."""
        return {"field": self.field, "model": self.model, "name": self.name,
                "values": _canonical(list(self.values)), "scale": self.scale,
                "label": self.label, "fixed": _canonical(self.fixed),
                "categorical": self.categorical}

    @classmethod
    def from_dict(cls, d: dict[str, Any]) -> "Axis":
        """Inverse of :meth:`to_dict`."""
        return cls(field=d["field"], model=d["model"], name=d["name"], values=tuple(d["values"]),
                   scale=d["scale"], label=d["label"], fixed=dict(d["fixed"]))


def parse_axis(table: dict[str, Any], index: int,
               fields: dict[str, tuple[str, ...]] | None = None) -> Axis:
    """Build an :class:`Axis` from one ``[[axes]]`` table.

    Either ``values = [...]`` or a range ``start``, ``stop``, ``num`` with
    ``scale = "linear"`` (default) or ``"log"``; ``integer = true`` rounds a
    range to integers (word lengths).
    """
    where = f"axes[{index}]"
    ax = validate(AxisTable, table, where)
    try:
        model, name = resolve_field(ax.field, fields)
    except ValueError as exc:
        raise ConfigError(f"[{where}] field: {exc}") from None
    qualified = PRESET_FIELD if model is None else f"{model}.{name}"
    scale = ax.scale
    has_range = any(v is not None for v in (ax.start, ax.stop, ax.num))
    if ax.values is not None and has_range:
        raise ConfigError(f"[{where}]: give either values or start/stop/num, not both")
    if ax.values is not None:
        values = list(ax.values)
        if not values:
            raise ConfigError(f"[{where}]: values must not be empty")
        for v in values:
            if isinstance(v, (dict, list)):
                raise ConfigError(f"[{where}]: values must be numbers or strings, got {v!r}")
            if isinstance(v, float) and not math.isfinite(v):
                raise ConfigError(f"[{where}]: values must be finite, got {v!r}")
        if scale == "log" and any(isinstance(v, bool) or not isinstance(v, (int, float))
                                  or v <= 0 for v in values):
            raise ConfigError(f"[{where}]: a log-scale axis needs positive numbers")
    elif has_range:
        missing = [k for k in ("start", "stop", "num") if getattr(ax, k) is None]
        if missing:
            raise ConfigError(f"[{where}]: a range needs start, stop and num; missing {missing}")
        start, stop, num = ax.start, ax.stop, ax.num
        if scale == "log":
            if start <= 0 or stop <= 0:
                raise ConfigError(f"[{where}]: a log range needs start > 0 and stop > 0, got "
                                  f"{start:g} and {stop:g}")
            arr = np.geomspace(start, stop, num)
        else:
            arr = np.linspace(start, stop, num)
        values = [float(v) for v in arr]
    else:
        raise ConfigError(f"[{where}]: give values = [...] or start, stop, num")
    if ax.integer:
        if any(isinstance(v, (str, bool)) or v is None for v in values):
            raise ConfigError(f"[{where}]: integer = true needs numeric values")
        ints = [int(round(v)) for v in values]
        if len(set(ints)) != len(ints):
            raise ConfigError(f"[{where}]: rounding to integers gives repeated values {ints}; "
                              "use fewer points or explicit values")
        values = ints
    if len(set(map(repr, values))) != len(values):
        raise ConfigError(f"[{where}]: repeated values {values}")
    kind = PresetName if model is None else model_fields(model)[name].type
    for i, v in enumerate(values):
        check_value(kind, v, where, f"values[{i}]")
    fixed = {}
    for key, value in ax.fixed.items():
        try:
            fm, fn = resolve_field(key, fields)
        except ValueError as exc:
            raise ConfigError(f"[{where}] fixed: {exc}") from None
        if fm is None:
            raise ConfigError(f"[{where}]: fixed cannot set the preset")
        check_value(model_fields(fm)[fn].type, value, where, f"fixed.{key}")
        fixed[f"{fm}.{fn}"] = value
    label = ax.label if ax.label is not None else (name if model is not None else PRESET_FIELD)
    return Axis(field=qualified, model=model, name=name, values=tuple(values), scale=scale,
                label=label, fixed=fixed)


@dataclass(frozen=True)
class Point:
    """One point of a sweep: hardware settings (no seed).

    Attributes
    ----------
    index : int
        Position in :meth:`SweepConfig.points`.
    settings : dict
        Qualified field -> value (and ``"preset"``), the axes' values and their
        ``fixed`` fields; the base ``[hardware]`` table is applied underneath.
    active : tuple of bool
        Which axes are set at this point (all for grid and zip modes; one for
        ``one_at_a_time``).
    coordinates : tuple of float
        Per axis, the numeric coordinate (NaN where inactive).
    """

    index: int
    settings: dict[str, Any]
    active: tuple[bool, ...]
    coordinates: tuple[float, ...]


@dataclass(frozen=True)
class Task:
    """A unit of work: one point at one seed.

    Attributes
    ----------
    task_id : int
        Row of the task in the sweep file: ``point * n_seeds + seed_index``.
    point : int
        Point index.
    seed_index : int
        Position of the seed in the sweep's seed list.
    seed : int
        Seed of the hardware randomness (device instance and noise).
    settings : dict
        The point's hardware settings.
    """

    task_id: int
    point: int
    seed_index: int
    seed: int
    settings: dict[str, Any]


@dataclass
class SweepConfig:
    """A parsed sweep configuration.

    Attributes
    ----------
    name : str
        Sweep name (default: the config file's stem).
    output : str
        HDF5 results file.
    mode : str
        One of :data:`MODES`.
    seeds : tuple of int
        Seeds of the hardware randomness; every point runs once per seed.
    metrics : tuple of str
        Metric names (see :data:`physsim.sweeps.metrics.METRICS`).
    metric_options : dict
        Per-metric option tables (``[metrics.<name>]``).
    problem : dict
        The tables that define the task: ``system``, ``simulation``,
        ``inputs``, ``initial_state``, ``loss``, ``rhel`` for a device, and
        ``hssm`` for a model.
    hardware : dict
        Base hardware: ``preset`` (optional) and fixed fields per model.
    axes : tuple of Axis
        The swept fields.
    source : str
        Text of the TOML file (stored in the results file).
    """

    name: str
    output: str
    mode: str
    seeds: tuple[int, ...]
    metrics: tuple[str, ...]
    metric_options: dict[str, dict[str, Any]]
    problem: dict[str, Any]
    hardware: dict[str, Any]
    axes: tuple[Axis, ...]
    source: str = ""

    # -------------------------------------------------------------- expansion
    def points(self) -> list[Point]:
        """All points, in a fixed order (see :data:`MODES`)."""
        n_ax = len(self.axes)
        out: list[Point] = []

        def make(chosen: dict[int, Any]) -> Point:
            settings: dict[str, Any] = {}
            for i in sorted(chosen):  # an axis's fixed fields, then the swept values on top
                settings.update(self.axes[i].fixed)
            for i, value in sorted(chosen.items()):
                settings[self.axes[i].field] = value
            active = tuple(i in chosen for i in range(n_ax))
            coords = tuple(self.axes[i].coordinate(chosen[i]) if i in chosen else float("nan")
                           for i in range(n_ax))
            return Point(len(out), settings, active, coords)

        if n_ax == 0:
            out.append(make({}))
        elif self.mode == "grid":
            for combo in itertools.product(*(ax.values for ax in self.axes)):
                out.append(make(dict(enumerate(combo))))
        elif self.mode == "zip":
            for combo in zip(*(ax.values for ax in self.axes)):
                out.append(make(dict(enumerate(combo))))
        else:  # one_at_a_time
            for i, ax in enumerate(self.axes):
                for v in ax.values:
                    out.append(make({i: v}))
        return out

    def tasks(self) -> list[Task]:
        """Every point at every seed; ``task_id = point * n_seeds + seed_index``."""
        return [Task(task_id=p.index * len(self.seeds) + j, point=p.index, seed_index=j,
                     seed=int(s), settings=dict(p.settings))
                for p in self.points() for j, s in enumerate(self.seeds)]

    # ------------------------------------------------------------ identity
    def identity(self) -> dict[str, Any]:
        """Everything that determines the results (not the output path or the name)."""
        return _canonical({"mode": self.mode, "seeds": list(self.seeds),
                           "metrics": list(self.metrics), "metric_options": self.metric_options,
                           "problem": self.problem, "hardware": self.hardware,
                           "axes": [a.to_dict() for a in self.axes]})

    def to_json(self) -> str:
        """Canonical JSON of :meth:`identity` plus the name."""
        return json.dumps({"name": self.name, **self.identity()}, sort_keys=True)

    @property
    def config_hash(self) -> str:
        """SHA-256 of the canonical identity (a resumed sweep must match it)."""
        text = json.dumps(self.identity(), sort_keys=True)
        return hashlib.sha256(text.encode()).hexdigest()


def parse_sweep_config(cfg: dict[str, Any], *, name: str = "sweep", source: str = "",
                       validate_hardware: bool = True,
                       base_dir: Path | None = None) -> SweepConfig:
    """Parse a sweep configuration from a dict (the TOML tables).

    Parameters
    ----------
    cfg : dict
        Tables ``sweep`` (required); ``system`` and ``simulation`` (required
        by device metrics) with ``inputs``, ``initial_state``, ``loss``,
        ``rhel``; ``hssm`` (``data``, ``model``, ``training`` of
        :class:`physsim.hssm.RunConfig`, required by model metrics);
        ``hardware``, ``axes``, ``metrics`` (optional).
    name : str
        Default sweep name (``[sweep] name`` overrides).
    source : str
        Original text, kept for the results file.
    validate_hardware : bool
        Build the hardware model of every point now, so a bad value fails
        before any work starts.
    base_dir : Path, optional
        Folder that relative file names in the tables (a ``[system]`` netlist) are
        relative to: the sweep file's folder (default: the working directory).

    Raises
    ------
    ValueError
        On unknown or missing keys, unknown names, or invalid values.
    """
    cfg = copy.deepcopy(cfg)
    check_tables({k: v for k, v in cfg.items() if k != "axes"}, SWEEP_TABLES, ("sweep",))
    sw = validate(SweepTable, cfg["sweep"], "sweep")
    mode, metrics, seeds = sw.mode, sw.metrics, sw.seed_list()
    options = cfg.get("metrics", {})
    for m, table in options.items():
        if m not in metrics:
            lookup(METRICS, m, "metric")
            raise ConfigError(f"[metrics.{m}] gives options for a metric not in [sweep] metrics")
        check_metric_options(m, table)
        validate(metric_options_table(m), table, f"metrics.{m}")

    targets = {METRICS[m].target for m in metrics}
    problem: dict[str, Any] = {}
    device_tables = {t: cfg[t] for t in SWEEP_DEVICE_TABLES if t in cfg}
    if "system" in targets or device_tables:
        missing = [t for t in ("system", "simulation") if t not in cfg]
        if missing:
            users = [m for m in metrics if METRICS[m].target == "system"]
            raise ConfigError(f"missing table(s) {['[' + t + ']' for t in missing]}"
                              + (f" (needed by {', '.join(users)})" if users else ""))
        device = parse_device(device_tables, simulation=RunSettings,
                              allowed=SWEEP_DEVICE_TABLES, base_dir=base_dir)
        system_table = dict(cfg["system"])
        if "netlist" in system_table:  # workers get the path resolved against the sweep file
            system_table["netlist"] = device.system.netlist
        problem.update({"system": system_table, "simulation": cfg["simulation"],
                        "inputs": cfg.get("inputs", {"kind": "noise"}),
                        "initial_state": cfg.get("initial_state", {}),
                        "loss": cfg.get("loss", {}), "rhel": cfg.get("rhel", {})})
    if "model" in targets or "hssm" in cfg:
        if "hssm" not in cfg:
            users = [m for m in metrics if METRICS[m].target == "model"]
            raise ConfigError(f"missing table [hssm] ([hssm.data], [hssm.model], "
                              f"[hssm.training]; needed by {', '.join(users)})")
        # workers get the [hssm.data] paths resolved against the sweep file
        resolved = hssm_config(cfg["hssm"], base_dir=base_dir)
        problem["hssm"] = {**cfg["hssm"], "data": dict(resolved.data)}

    hw = cfg.get("hardware", {})
    axes_tables = cfg.get("axes", [])
    if not isinstance(axes_tables, list) or any(not isinstance(t, dict) for t in axes_tables):
        raise ConfigError("axes must be an array of tables: [[axes]]")
    fields = hardware_fields()
    check_keys(hw, {PRESET_FIELD, *fields}, "hardware")
    if PRESET_FIELD in hw:
        check_value(PresetName, hw[PRESET_FIELD], "hardware", PRESET_FIELD)
    validate_all({m: (lambda m=m: validate(hardware_table(m), hw[m], f"hardware.{m}"))
                  for m in fields if m in hw})
    axes = tuple(parse_axis(t, i, fields) for i, t in enumerate(axes_tables))
    if mode == "zip" and len({len(a.values) for a in axes}) > 1:
        raise ValueError(f"[sweep] mode = 'zip' needs axes of equal length, got "
                         f"{[len(a.values) for a in axes]}")
    if mode != "one_at_a_time" and len({a.field for a in axes}) != len(axes):
        raise ValueError(f"mode {mode!r}: two axes set the same field; use mode = "
                         "'one_at_a_time' to sweep a field several times (e.g. under different "
                         "fixed settings)")
    sweep_name = sw.name if sw.name is not None else name
    out = SweepConfig(name=sweep_name,
                      output=sw.output or f"physsim_output/sweeps/{sweep_name}.h5",
                      mode=mode, seeds=tuple(int(s) for s in seeds), metrics=tuple(metrics),
                      metric_options={m: dict(options.get(m, {})) for m in metrics},
                      problem=problem, hardware=hw, axes=axes, source=source)
    if validate_hardware:
        for p in out.points():
            try:
                build_hardware(out.hardware, p.settings)
            except (ValueError, TypeError) as exc:
                raise ValueError(f"point {p.index} ({_describe_settings(p.settings)}): "
                                 f"invalid hardware: {exc}") from exc
    return out


def _describe_settings(settings: dict[str, Any]) -> str:
    return ", ".join(f"{k}={v!r}" for k, v in settings.items()) or "base hardware"


def load_sweep_config(path: str | Path, *, validate_hardware: bool = True) -> SweepConfig:
    """Read and parse a sweep TOML file (see :func:`parse_sweep_config`)."""
    path = Path(path)
    cfg = load_toml(path)
    try:
        return parse_sweep_config(cfg, name=path.stem, source=path.read_text(),
                                  validate_hardware=validate_hardware, base_dir=path.parent)
    except ValueError as exc:
        raise ConfigError(f"{path}: {exc}") from None
