"""Registration with physsim: the entry point of the ``physsim.hardware`` group.

``setup.cfg`` declares ``hardware_models = hardware_models.plugin:register``; physsim calls
:func:`register` on its first lookup of a hardware model or preset by name.  The import
points one way: this package imports :mod:`physsim.hardware`, never the reverse.
"""

from __future__ import annotations

from physsim.hardware import register_composition, register_model, register_preset

from .composite import Composite, compose
from .finite_precision import FinitePrecision
from .ideal import Ideal
from .noisy_analog import NoisyAnalog
from .presets import PRESET_MODELS, PRESET_SUMMARIES, PresetFactory

#: Model classes registered by name (their dataclass fields are what sweeps may set).
MODEL_CLASSES = (Ideal, NoisyAnalog, FinitePrecision, Composite)

#: One factory per preset, built once so that registering twice registers equal objects.
PRESET_FACTORIES = {name: PresetFactory(name, model) for name, model in PRESET_MODELS.items()}


def register() -> None:
    """Register this package's models, presets and composition with :mod:`physsim.hardware`.

    Idempotent: a second call registers the same objects again, which the registries accept.
    """
    for cls in MODEL_CLASSES:
        register_model(cls)
    for name, factory in PRESET_FACTORIES.items():
        register_preset(name, factory, PRESET_SUMMARIES[name])
    register_composition(compose)
