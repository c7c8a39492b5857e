"""The hardware plug: where a simulated device departs from the ideal equations.

``physsim`` defines the hooks and the registries of hardware models and presets;
packages fill them (``hardware_models``: ideal, noisy analog, finite precision,
compositions and presets) through the entry-point group ``physsim.hardware``
(:data:`physsim.registry.HARDWARE_PLUGIN_GROUP`), loaded on the first lookup by name,
so physsim never imports them.  Every entry point that takes a system also takes
``hardware=``: ``None`` means the ideal device and costs nothing, a string a registered
preset.

Hooks, in the order a run meets them:

1. :meth:`HardwareModel.realize`: the device instance built from nominal
   parameters (static mismatch, parameter quantisation).  One instance serves
   the forward pass and both echoes.
2. :meth:`HardwareModel.between_passes`: the device as it is at the start of
   pass ``pass_index`` (parameter drift between passes; identity by default).
3. :meth:`HardwareModel.write_inputs` / :meth:`HardwareModel.write_nudges`:
   the DACs that write input sequences and nudge (cotangent) sequences.
4. :meth:`HardwareModel.step_hook`: a compiled per-step perturbation of
   ``(q, p)`` inside the time loop (thermal noise, damping, state
   quantisation), and :meth:`HardwareModel.quanta` for reversible rounding
   of every drift and kick increment.
5. :meth:`HardwareModel.flip`: the momentum reversal.
6. :meth:`HardwareModel.read_outputs` / :meth:`HardwareModel.read_accumulators`:
   the ADCs on observed states and on the gradient accumulators.
7. :meth:`HardwareModel.end_of_pass`: after each pass, the counters the
   per-step hook kept (saturations), reported instead of silently dropped.

Randomness is keyed, not streamed: every hook receives the run's integer
``seed`` and a ``pass_index`` (0 forward, 1 and 2 the echoes) and must derive
its random numbers from (seed, pass, trajectory, step, unit) so that results
do not depend on threads or chunking.
"""

from __future__ import annotations

import dataclasses
import typing
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np
from numba import njit

from .registry import HARDWARE_PLUGIN_GROUP, Registry, plugin_entry_points

#: Pass indices handed to the hooks.
FORWARD_PASS = 0
ECHO_PLUS_PASS = 1
ECHO_MINUS_PASS = 2


@njit(cache=True)
def no_step_hook(q, p, hw_params, key, trajectory, step):
    """Per-step hook of the ideal device: does nothing."""
    return


#: The hook methods of :class:`HardwareModel`, every one the identity on the ideal device.
_HOOKS = ("realize", "between_passes", "write_inputs", "write_nudges", "step_hook", "quanta",
          "flip", "read_outputs", "read_accumulators", "end_of_pass")


class HardwareModel:
    """Base of all hardware models: every hook is the identity (an ideal device).

    Subclasses override the hooks they model.  They must be immutable (frozen
    dataclasses); :func:`register_model` makes one usable by name (sweeps set its
    dataclass fields).
    """

    @property
    def is_ideal(self) -> bool:
        """True only for a model that is exactly the ideal device.

        Here: true when the model's class overrides none of the hooks below, so
        a user model that perturbs anything is never taken for the ideal device
        (which gets paired echoes and the balanced nudge, :mod:`physsim.rhel`)
        even if it does not say so.  Models whose perturbations can be switched
        off (every knob zero) override this property.
        """
        cls = type(self)
        return all(getattr(cls, name) is getattr(HardwareModel, name) for name in _HOOKS)
    #: True if the per-step hook is stochastic or dissipative (BPTT cannot model it).
    has_step_noise: bool = False
    #: True if :meth:`write_inputs` draws independent noise for every trajectory:
    #: inputs shared by the batch, shape (1, C, m), are then broadcast to (B, C, m)
    #: before they are written.
    per_trajectory_inputs: bool = False

    def realize(self, system: Any, seed: int) -> Any:
        """Device instance from a nominal system (mismatch, quantised parameters)."""
        return system

    def between_passes(self, system: Any, seed: int, pass_index: int) -> Any:
        """The device as it is at the start of pass ``pass_index`` (drift)."""
        return system

    def write_inputs(self, inputs: np.ndarray, seed: int, pass_index: int,
                     step_offset: int) -> np.ndarray:
        """DAC on an input chunk (B|1, C, m) whose first step is ``step_offset``."""
        return inputs

    def write_nudges(self, cotangents: np.ndarray, seed: int, pass_index: int) -> np.ndarray:
        """DAC on a recorded nudge (cotangent) sequence (B|1, L, n)."""
        return cotangents

    def step_hook(self, system: Any, dtype, dt: float) -> tuple[Callable, np.ndarray]:
        """Compiled per-step hook and its float64 parameter vector.

        The hook has signature ``hook(q, p, hw_params, key, trajectory, step)``
        with ``key = [seed, pass_index]`` (int64) and acts in place after every
        integrator step of size ``dt`` (system time unit).
        """
        return no_step_hook, np.zeros(0)

    def quanta(self, system: Any) -> tuple[float, float]:
        """Grids of reversible rounding for position and momentum increments (0: off)."""
        return 0.0, 0.0

    def flip(self, q: np.ndarray, p: np.ndarray, seed: int, pass_index: int
             ) -> tuple[np.ndarray, np.ndarray]:
        """Momentum reversal of a batch of states (B, n)."""
        return q, -p

    def read_outputs(self, values: np.ndarray, seed: int, pass_index: int) -> np.ndarray:
        """ADC on observed states or outputs."""
        return values

    def read_accumulators(self, values: np.ndarray, seed: int, pass_index: int) -> np.ndarray:
        """ADC on the gradient accumulators read at the end of a pass."""
        return values

    def end_of_pass(self, hw_params: np.ndarray, pass_index: int) -> dict[str, Any]:
        """Report what the per-step hook counted during a pass (e.g. saturations).

        Called once after every free run and every (pair of) echo run(s) with
        the parameter vector returned by :meth:`step_hook`, in which a hook may
        keep counters.  A model reads (and resets) its counters here, may warn,
        and returns a JSON-able dict (empty for the ideal device).
        """
        return {}

    def describe(self) -> dict[str, Any]:
        """JSON-able description for run files."""
        return {"hardware": type(self).__name__}


IDEAL = HardwareModel()


class FixedChip(HardwareModel):
    """A hardware model whose device instance is drawn from a fixed seed.

    Training in situ runs many RHEL steps on *one* chip: the static mismatch
    and parameter quantisation must stay the same while the per-step noise
    changes from step to step.  The plug keys both by the same ``seed``, so
    this wrapper realises the device with ``chip_seed`` and passes the run's
    seed to every other hook.

    Parameters
    ----------
    inner : HardwareModel
        The model wrapped.
    chip_seed : int
        Seed of the device instance.
    """

    def __init__(self, inner: HardwareModel, chip_seed: int) -> None:
        self.inner = inner
        self.chip_seed = int(chip_seed)

    @property
    def is_ideal(self) -> bool:  # type: ignore[override]
        """As the inner model."""
        return self.inner.is_ideal

    @property
    def has_step_noise(self) -> bool:  # type: ignore[override]
        """As the inner model."""
        return self.inner.has_step_noise

    @property
    def per_trajectory_inputs(self) -> bool:  # type: ignore[override]
        """As the inner model."""
        return self.inner.per_trajectory_inputs

    def realize(self, system, seed):
        """The inner model's device instance for ``chip_seed`` (``seed`` is ignored)."""
        return self.inner.realize(system, self.chip_seed)

    def between_passes(self, system, seed, pass_index):
        """Delegate to the inner model."""
        return self.inner.between_passes(system, seed, pass_index)

    def write_inputs(self, inputs, seed, pass_index, step_offset):
        """Delegate to the inner model."""
        return self.inner.write_inputs(inputs, seed, pass_index, step_offset)

    def write_nudges(self, cotangents, seed, pass_index):
        """Delegate to the inner model."""
        return self.inner.write_nudges(cotangents, seed, pass_index)

    def step_hook(self, system, dtype, dt):
        """Delegate to the inner model."""
        return self.inner.step_hook(system, dtype, dt)

    def quanta(self, system):
        """Delegate to the inner model."""
        return self.inner.quanta(system)

    def flip(self, q, p, seed, pass_index):
        """Delegate to the inner model."""
        return self.inner.flip(q, p, seed, pass_index)

    def read_outputs(self, values, seed, pass_index):
        """Delegate to the inner model."""
        return self.inner.read_outputs(values, seed, pass_index)

    def read_accumulators(self, values, seed, pass_index):
        """Delegate to the inner model."""
        return self.inner.read_accumulators(values, seed, pass_index)

    def end_of_pass(self, hw_params, pass_index):
        """Delegate to the inner model."""
        return self.inner.end_of_pass(hw_params, pass_index)

    def describe(self):
        """The inner model's description and the chip seed."""
        return {**self.inner.describe(), "chip_seed": self.chip_seed}


# ------------------------------------------------------------------ registries
#: Entry-point group through which packages register hardware models and presets.  An entry
#: point names a function without arguments that calls :func:`register_model`,
#: :func:`register_preset` (and possibly :func:`register_composition`); physsim calls it on
#: the first lookup by name.  ``hardware_models`` declares
#: ``hardware_models = hardware_models.plugin:register`` in this group.
_loaded_entry_points: set[tuple[str, str]] = set()


def _load_plugins() -> None:
    """Call the register function of every hardware entry point not yet loaded."""
    for ep in plugin_entry_points(HARDWARE_PLUGIN_GROUP):
        key = (ep.name, ep.value)
        if key in _loaded_entry_points:
            continue
        try:
            register = ep.load()
        except (ImportError, AttributeError) as exc:
            raise RuntimeError(f"hardware plugin {ep.name!r} ({ep.value}, entry-point group "
                               f"{HARDWARE_PLUGIN_GROUP!r}) cannot be loaded: {exc}") from exc
        register()
        _loaded_entry_points.add(key)


@dataclass(frozen=True)
class Preset:
    """A named hardware preset.

    Attributes
    ----------
    name : str
        The name it is looked up by.
    factory : callable
        ``factory(**overrides) -> HardwareModel``; with no argument it returns the preset
        itself, with field overrides a changed copy (or raises ``ValueError`` if the preset
        cannot take them).
    summary : str
        One line for listings (``physsim info``, the README).
    """

    name: str
    factory: Callable[..., HardwareModel]
    summary: str


@dataclass(frozen=True)
class ModelField:
    """One knob of a registered hardware model (a field of its dataclass).

    Attributes
    ----------
    name : str
        Field name.
    type : Any
        Its annotation, resolved (e.g. ``float``, ``int | None``).
    default : Any
        Default value (None when the field is required).
    required : bool
        True when the model cannot be built without it.
    """

    name: str
    type: Any
    default: Any
    required: bool


#: Hardware model classes by class name (filled by plugins and :func:`register_model`).
MODELS: Registry[type[HardwareModel]] = Registry("hardware model", loader=_load_plugins)
#: Presets by name (filled by plugins and :func:`register_preset`).
PRESETS: Registry[Preset] = Registry("hardware preset", loader=_load_plugins)
_composition: list[Callable[..., HardwareModel]] = []


def register_model(cls: type[HardwareModel]) -> type[HardwareModel]:
    """Register a hardware model class under its class name (usable as a class decorator).

    Parameters
    ----------
    cls : type
        A dataclass deriving from :class:`HardwareModel`; its dataclass fields are its knobs
        (what sweeps may set, see :func:`model_fields`).

    Returns
    -------
    type
        ``cls``.

    Raises
    ------
    TypeError
        If ``cls`` is not a dataclass subclass of :class:`HardwareModel`.
    ValueError
        If another class is registered under the same name.

    Notes
    -----
    A registration made at run time lives in this process only: sweep workers (local
    processes, Dask) start fresh and know the models of the entry-point group
    ``physsim.hardware``, so a package whose models are swept by name registers them there.
    """
    if not (isinstance(cls, type) and issubclass(cls, HardwareModel)
            and dataclasses.is_dataclass(cls)):
        raise TypeError(f"register_model needs a dataclass deriving from HardwareModel, got "
                        f"{cls!r}")
    return MODELS.register(cls.__name__, cls)


def get_model_class(name: str) -> type[HardwareModel]:
    """The registered hardware model class ``name`` (ValueError lists the valid names)."""
    return MODELS.lookup(name)


def model_names() -> tuple[str, ...]:
    """Names of the registered hardware model classes, in registration order."""
    return tuple(MODELS)


def model_fields(name: str) -> dict[str, ModelField]:
    """The knobs of the registered hardware model ``name``: its dataclass fields, in order.

    Parameters
    ----------
    name : str
        A registered model name (see :func:`model_names`).

    Returns
    -------
    dict of str to ModelField
        Field name to its resolved type and default.
    """
    cls = get_model_class(name)
    try:
        hints = typing.get_type_hints(cls)
    except (NameError, TypeError):  # an annotation that cannot be evaluated: keep its text
        hints = {}
    out = {}
    for f in dataclasses.fields(cls):
        if not f.init:
            continue
        if f.default is not dataclasses.MISSING:
            default, required = f.default, False
        elif f.default_factory is not dataclasses.MISSING:
            default, required = f.default_factory(), False
        else:
            default, required = None, True
        out[f.name] = ModelField(f.name, hints.get(f.name, f.type), default, required)
    return out


def build_model(name: str, fields: Mapping[str, Any]) -> HardwareModel:
    """Build the registered hardware model ``name`` from a mapping of its fields.

    Parameters
    ----------
    name : str
        A registered model name.
    fields : Mapping[str, Any]
        Field values (e.g. a TOML table); missing fields take their defaults.

    Raises
    ------
    ValueError
        For an unknown model or field name (the message lists the valid ones) or a value the
        model rejects.
    """
    cls = get_model_class(name)
    valid = tuple(model_fields(name))
    unknown = sorted(set(fields) - set(valid))
    if unknown:
        raise ValueError(f"unknown {name} field(s) {unknown}; valid fields are: "
                         f"{', '.join(valid)}")
    return cls(**dict(fields))


def register_preset(name: str, factory: Callable[..., HardwareModel], summary: str) -> Preset:
    """Register a hardware preset.

    Parameters
    ----------
    name : str
        Preset name (``hardware="name"`` anywhere physsim takes hardware).
    factory : callable
        ``factory(**overrides) -> HardwareModel`` (see :class:`Preset`).
    summary : str
        One line for listings.

    Returns
    -------
    Preset
    """
    if not callable(factory):
        raise TypeError(f"preset {name!r}: factory must be callable, got {factory!r}")
    return PRESETS.register(name, Preset(name, factory, str(summary)))


def get_preset(name: str, **overrides: Any) -> HardwareModel:
    """The preset ``name``, optionally with some fields changed.

    Parameters
    ----------
    name : str
        A registered preset (see :func:`preset_names`).
    **overrides
        Field values to change (what the preset accepts is up to its factory).

    Raises
    ------
    ValueError
        For an unknown name (the message lists the valid ones) or overrides the preset
        rejects.
    """
    model = PRESETS.lookup(name).factory(**overrides)
    if not isinstance(model, HardwareModel):
        raise TypeError(f"preset {name!r} built a {type(model).__name__}, not a HardwareModel")
    return model


def preset_names() -> tuple[str, ...]:
    """Names of the registered presets, sorted."""
    return PRESETS.names()


def preset_summaries() -> dict[str, str]:
    """One-line summary of every registered preset, by name (sorted)."""
    return {name: PRESETS[name].summary for name in PRESETS.names()}


def register_composition(compose_models: Callable[..., HardwareModel]) -> None:
    """Register the function that applies several hardware models together.

    ``compose_models(*models)`` returns one model that applies the members' hooks in order
    (``hardware_models.compose``).  There is one composition: a second, different one is an
    error, so which package combines models never depends on load order.
    """
    if _composition and _composition[0] is not compose_models:
        raise ValueError(f"a hardware composition is already registered ({_composition[0]!r}); "
                         f"refusing to replace it with {compose_models!r}")
    _composition[:] = [compose_models]


def compose(*models: HardwareModel) -> HardwareModel:
    """Apply several hardware models together, in order, with the registered composition.

    Raises
    ------
    NotImplementedError
        If no installed package registered a composition (``hardware_models`` does).
    """
    _load_plugins()
    if not _composition:
        raise NotImplementedError("no package registered a hardware composition (entry-point "
                                  f"group {HARDWARE_PLUGIN_GROUP!r}); install hardware_models")
    return _composition[0](*models)


def resolve_hardware(hardware: HardwareModel | str | None) -> HardwareModel:
    """Return a hardware model from ``None`` (ideal), an instance, or a preset name.

    Parameters
    ----------
    hardware : HardwareModel, str or None
        ``None`` is the ideal device (:data:`IDEAL`); a string is a registered preset
        (:func:`get_preset`).

    Raises
    ------
    ValueError
        For an unknown preset name (the message lists the valid ones).
    TypeError
        For anything else.
    """
    if hardware is None:
        return IDEAL
    if isinstance(hardware, HardwareModel):
        return hardware
    if isinstance(hardware, str):
        return get_preset(hardware)
    raise TypeError(f"hardware must be None, a preset name or a HardwareModel, "
                    f"got {type(hardware).__name__}")
