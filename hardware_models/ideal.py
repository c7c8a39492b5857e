"""The ideal device: every hook is the identity."""

from __future__ import annotations

import dataclasses

from .base import DeviceModel


@dataclasses.dataclass(frozen=True, repr=False)
class Ideal(DeviceModel):
    """The ideal device: exact parameters, no noise, no dissipation, a perfect flip, ideal I/O.

    Running with ``Ideal()`` is bit-identical to running with ``hardware=None``:
    the per-step hook is physsim's own no-op, so it costs nothing measurable.
    It has no fields.
    """

    is_ideal = True
    has_step_noise = False
