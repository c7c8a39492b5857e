"""Hardware models for physsim: ideal, noisy analog, finite precision, compositions, presets.

``physsim`` defines the plug (:class:`physsim.hardware.HardwareModel` and its
registries); this package implements it and registers its models and presets
through the ``physsim.hardware`` entry-point group (:func:`register`), so physsim
never imports it.  Pass a model, or a preset name, as ``hardware=`` to any
physsim entry point that takes a system::

    import physsim
    from hardware_models import NoisyAnalog, FinitePrecision, compose

    hw = compose(NoisyAnalog(mismatch=0.01, quality_factor=1e4, thermal_energy=1e-6),
                 FinitePrecision(output_bits=8, output_range=4.0))
    traj = physsim.simulate(system, q0, inputs=u, hardware=hw, seed=3)
    traj = physsim.simulate(system, q0, inputs=u, hardware="discrete_lc")

Models are frozen dataclasses with one documented field per knob; all noise is
drawn from a counter-based generator keyed by (seed, pass, trajectory, step,
unit), so a seed gives the same bits whatever the threads or chunking.
"""

from .base import DeviceModel, SaturationWarning, dof_physics
from .composite import Composite, compose
from .finite_precision import FinitePrecision
from .ideal import Ideal
from .noisy_analog import BOLTZMANN, NoisyAnalog, thermal_energy
from .plugin import register

__all__ = [
    "BOLTZMANN", "Composite", "DeviceModel", "FinitePrecision", "Ideal", "NoisyAnalog",
    "SaturationWarning", "compose", "dof_physics", "register", "thermal_energy",
]
