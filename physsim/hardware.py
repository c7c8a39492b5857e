"""The hardware plug: where a simulated device departs from the ideal equations.

``physsim`` defines the hooks; the package ``hardware_models`` implements them
(ideal, noisy analog, finite precision, compositions and presets).  Every entry
point that takes a system also takes ``hardware=``; ``None`` means the ideal
device and costs nothing.

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

from typing import Any, Callable

import numpy as np
from numba import njit

#: Pass indices handed to the hooks.
FORWARD_PASS = 0
ECHO_PLUS_PASS = 1
ECHO_MINUS_PASS = 2


@njit(cache=True)
def no_step_hook(q, p, hw_params, key, trajectory, step):
    """Per-step hook of the ideal device: does nothing."""
    return


class HardwareModel:
    """Base of all hardware models: every hook is the identity (an ideal device).

    Subclasses override the hooks they model.  They must be immutable
    (frozen dataclasses in :mod:`hardware_models`).
    """

    #: True only for models that are exactly the ideal device.
    is_ideal: bool = True
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


def resolve_hardware(hardware: HardwareModel | str | None) -> HardwareModel:
    """Return a hardware model from ``None`` (ideal), an instance, or a preset name.

    Preset names are looked up in :mod:`hardware_models` when it is installed.
    """
    if hardware is None:
        return IDEAL
    if isinstance(hardware, HardwareModel):
        return hardware
    if isinstance(hardware, str):
        try:
            from hardware_models import get_preset  # noqa: PLC0415 (optional plug-in)
        except ImportError as exc:
            raise ValueError(f"hardware preset {hardware!r} requested but the hardware_models "
                             "package is not importable") from exc
        return get_preset(hardware)
    raise TypeError(f"hardware must be None, a preset name or a HardwareModel, "
                    f"got {type(hardware).__name__}")
