"""Composition of hardware models: several non-idealities applied together, as one model."""

from __future__ import annotations

import dataclasses
from typing import Any

import numpy as np
from physsim.hardware import HardwareModel, get_preset, no_step_hook

from . import _hooks
from .base import DeviceModel, report_counters


@dataclasses.dataclass(frozen=True, repr=False)
class Composite(DeviceModel):
    """Several hardware models applied together, in the order given.

    Every hook applies the members' hooks in order: the device is realised by
    member 1, then member 2 (e.g. mismatch, then parameter quantisation);
    inputs pass member 1's DAC and then member 2's; read-outs get member 1's
    noise and then member 2's ADC (aihwkit's order: output noise, then the
    ADC); the per-step stages of all members run in order inside one compiled
    hook.  Two members of the same type draw independent noise.  At most one
    member may use reversible rounding.

    Parameters
    ----------
    members : tuple of HardwareModel or str
        Models or preset names; nested composites are flattened.  Members from
        outside this package are allowed if they have no per-step hook.

    Examples
    --------
    >>> from hardware_models import NoisyAnalog, FinitePrecision, compose
    >>> hw = compose(NoisyAnalog(mismatch=0.01, quality_factor=1e4, thermal_energy=1e-6),
    ...              FinitePrecision(output_bits=8, output_range=4.0))
    """

    members: tuple = ()

    def __post_init__(self) -> None:
        flat: list[HardwareModel] = []
        items = self.members if isinstance(self.members, (tuple, list)) else (self.members,)
        for m in items:
            if isinstance(m, str):
                m = get_preset(m)
            if isinstance(m, Composite):
                flat.extend(m.members)
            elif isinstance(m, HardwareModel):
                flat.append(m)
            else:
                raise TypeError(f"Composite members must be hardware models or preset names, "
                                f"got {type(m).__name__}")
        object.__setattr__(self, "members", tuple(flat))
        counts: dict[type, int] = {}
        pairs = []
        for m in flat:
            salt = counts.get(type(m), 0)
            counts[type(m)] = salt + 1
            # every member is seen through the salted hooks, foreign ones through an adapter
            pairs.append((m if isinstance(m, DeviceModel) else PublicHooks(m), salt))
        object.__setattr__(self, "_salted_members", tuple(pairs))

    def _pairs(self):
        return self._salted_members  # type: ignore[attr-defined]

    # ---------------------------------------------------------- metadata
    @property
    def is_ideal(self) -> bool:  # type: ignore[override]
        """True when every member is ideal."""
        return all(m.is_ideal for m in self.members)

    @property
    def has_step_noise(self) -> bool:  # type: ignore[override]
        """True when any member acts noisily or dissipatively per step."""
        return any(m.has_step_noise for m in self.members)

    @property
    def per_trajectory_inputs(self) -> bool:  # type: ignore[override]
        """True when any member draws input noise per trajectory."""
        return any(m.per_trajectory_inputs for m in self.members)

    def describe(self) -> dict[str, Any]:
        """Descriptions of the members, in order."""
        return {"hardware": "Composite", "members": [m.describe() for m in self.members]}

    # ------------------------------------------------------------- hooks
    def _realize(self, system, seed, salt):
        for m, s in self._pairs():
            system = m._realize(system, seed, s)
        return system

    def _between_passes(self, system, seed, pass_index, salt):
        for m, s in self._pairs():
            system = m._between_passes(system, seed, pass_index, s)
        return system

    def _write_inputs(self, inputs, seed, pass_index, step_offset, salt):
        for m, s in self._pairs():
            inputs = m._write_inputs(inputs, seed, pass_index, step_offset, s)
        return inputs

    def _write_nudges(self, cotangents, seed, pass_index, salt):
        for m, s in self._pairs():
            cotangents = m._write_nudges(cotangents, seed, pass_index, s)
        return cotangents

    def _flip_error(self, q, p_flipped, seed, pass_index, salt):
        for m, s in self._pairs():
            q, p_flipped = m._flip_error(q, p_flipped, seed, pass_index, s)
        return q, p_flipped

    def _read_outputs(self, values, seed, pass_index, salt):
        for m, s in self._pairs():
            values = m._read_outputs(values, seed, pass_index, s)
        return values

    def _read_accumulators(self, values, seed, pass_index, salt):
        for m, s in self._pairs():
            values = m._read_accumulators(values, seed, pass_index, s)
        return values

    def _stages(self, system, dtype, dt, salt):
        stages: list[_hooks.Stage] = []
        for m, s in self._pairs():
            stages.extend(m._stages(system, dtype, dt, s))
        return stages

    def quanta(self, system) -> tuple[float, float]:
        """The reversible-rounding grids of the (single) member that uses them."""
        found = [(m, m.quanta(system)) for m in self.members]
        active = [(m, qq) for m, qq in found if qq != (0.0, 0.0)]
        if len(active) > 1:
            raise ValueError("at most one member of a Composite may use reversible rounding; "
                             f"got {len(active)}")
        return active[0][1] if active else (0.0, 0.0)

    def end_of_pass(self, hw_params, pass_index):
        """Saturation counts of all members' per-step stages."""
        return report_counters(hw_params, pass_index)


class PublicHooks:
    """A hardware model from outside this package, seen through the salted hooks.

    :class:`Composite` drives every member through the salted hooks of
    :class:`~hardware_models.base.DeviceModel`; a foreign member (any
    :class:`physsim.hardware.HardwareModel`) is wrapped once in this adapter,
    which calls its public hooks and ignores the salt (a foreign model keys its
    own noise).  Its flip becomes an error on already reversed momenta.  A
    foreign per-step hook cannot be fused into the composite's compiled hook.

    Parameters
    ----------
    model : HardwareModel
        The foreign model.
    """

    def __init__(self, model: HardwareModel) -> None:
        self.model = model

    def _realize(self, system, seed, salt):
        return self.model.realize(system, seed)

    def _between_passes(self, system, seed, pass_index, salt):
        return self.model.between_passes(system, seed, pass_index)

    def _write_inputs(self, inputs, seed, pass_index, step_offset, salt):
        return self.model.write_inputs(inputs, seed, pass_index, step_offset)

    def _write_nudges(self, cotangents, seed, pass_index, salt):
        return self.model.write_nudges(cotangents, seed, pass_index)

    def _flip_error(self, q, p_flipped, seed, pass_index, salt):
        return self.model.flip(q, -np.asarray(p_flipped), seed, pass_index)

    def _read_outputs(self, values, seed, pass_index, salt):
        return self.model.read_outputs(values, seed, pass_index)

    def _read_accumulators(self, values, seed, pass_index, salt):
        return self.model.read_accumulators(values, seed, pass_index)

    def _stages(self, system, dtype, dt, salt) -> list[_hooks.Stage]:
        if self.model.step_hook(system, dtype, dt)[0] is not no_step_hook:
            raise NotImplementedError(
                f"cannot compose the per-step hook of {type(self.model).__name__} (not a "
                "hardware_models model); compose its non-step hooks only")
        return []


def compose(*models: HardwareModel | str) -> Composite:
    """Apply several hardware models (or preset names) together, in order.

    Parameters
    ----------
    *models : HardwareModel or str
        Members; see :class:`Composite`.

    Returns
    -------
    Composite
    """
    if not models:
        raise ValueError("compose() needs at least one hardware model or preset name")
    return Composite(tuple(models))
