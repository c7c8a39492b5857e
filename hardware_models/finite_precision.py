"""Finite precision: fixed-point states (reversible rounding), quantised parameters, DACs, ADCs."""

from __future__ import annotations

import dataclasses
import math
from typing import Any

import numpy as np
from physsim.validation import check_choice

from . import _hooks
from ._rng import STREAM_CONVERTER_ROUNDING, STREAM_STRIDE
from .base import (DeviceModel, auto_full_scale, check_bits, check_range, quantize_symmetric,
                   replace_parameters, warn_saturation)

ROUNDINGS = ("nearest", "stochastic", "reversible")
CONVERTER_ROUNDINGS = ("nearest", "stochastic")
ARITHMETICS = ("float64", "float32", "float16")
_MODE = {"nearest": _hooks.ROUND_NEAREST, "stochastic": _hooks.ROUND_STOCHASTIC,
         "reversible": _hooks.ROUND_REVERSIBLE}
# converter sub-streams (added to STREAM_CONVERTER_ROUNDING)
_SUB_INPUT, _SUB_NUDGE, _SUB_OUTPUT, _SUB_ACCUMULATOR = 0, 1, 2, 3


def power_of_two_at_least(x: float) -> float:
    """Smallest power of two ``>= x`` (x > 0)."""
    return 2.0 ** math.ceil(math.log2(x))


@dataclasses.dataclass(frozen=True, repr=False)
class FinitePrecision(DeviceModel):
    r"""Finite word lengths: fixed-point states, quantised parameters, DACs and ADCs, short floats.

    Every knob defaults to ideal (None or float64); a default
    ``FinitePrecision()`` is the ideal device.

    Parameters
    ----------
    state_bits : int, optional
        Word length of the fixed-point state registers (2-53; at most 24 with
        float32 states).  Positions are held on the grid ``k dq`` and momenta
        on ``k dp`` with ``k`` in ``[-2^(b-1), 2^(b-1) - 1]``; values beyond
        saturate and are counted (a :class:`SaturationWarning` after the pass).
    position_range, momentum_range : float
        Full scale of the position and momentum registers (state units, > 0),
        rounded up to a power of two ``R`` so that ``dq = R / 2^(b-1)`` is a
        power of two and grid arithmetic is exact.
    rounding : {"nearest", "stochastic", "reversible"}
        How the state meets the grid.  ``nearest`` and ``stochastic`` round
        the state after every step (irreversible: the echo does not retrace
        the forward pass exactly).  ``reversible`` rounds every drift and kick
        increment onto the grid instead (Levesque & Verlet, J. Stat. Phys. 72,
        519, 1993): each sub-step is then a bijection of the grid and forward,
        flip, echo returns the initial state bit for bit.  Start states off
        the grid are snapped to it by the first step.
    arithmetic : {"float64", "float32", "float16"}
        Emulated floating-point format of the state registers: the state is
        rounded to IEEE binary32 / binary16 (ties to even, saturating at the
        largest finite value, counted) after every step; arithmetic within a
        step runs in the run's dtype.  For true float32 arithmetic run with
        ``dtype=np.float32``.
    parameter_bits : int, optional
        Word length of every named parameter tensor (2-53), quantised once in
        :meth:`realize` with a per-tensor symmetric scale ``max|theta| /
        (2^(b-1) - 1)`` (as CrossSim ``weight_bits``).  NeuroSim uses 6,
        ~97-100 conductance levels is ~7.
    input_bits : int, optional
        DAC width for inputs (2-53).  Levels ``k input_range / (2^(b-1) - 1)``;
        inputs beyond ``input_range`` clip and warn.  aihwkit: 7 (default
        ``inp_res``), 8 (HWA preset); CrossSim SONOS: 8.
    input_range : float
        Full scale of the input DAC (input units, > 0).  aihwkit ``inp_bound`` = 1.
    nudge_bits : int, optional
        DAC width for the nudges (cotangent sequences) of the echoes.
    nudge_range : float, optional
        Full scale of the nudge DAC (cotangent units); None scales each
        trajectory's sequence by its largest magnitude (aihwkit's abs-max
        noise management), so it never saturates.
    output_bits : int, optional
        ADC width for observed values (read-outs).  aihwkit: 9 (default
        ``out_res``), 8 (HWA preset); NeuroSim DNN: 5.
    output_range : float
        ADC full scale for read-outs (output units, > 0); values beyond clip
        and warn.  aihwkit ``out_bound``: 12 (default), 10 (HWA preset).
    accumulator_bits : int, optional
        ADC width for the gradient accumulators read at the end of the echoes.
    accumulator_range : float, optional
        ADC full scale for the accumulators; None auto-ranges per trajectory.
    converter_rounding : {"nearest", "stochastic"}
        Rounding of the DACs and ADCs (aihwkit ``inp_sto_round``).
    """

    state_bits: int | None = None
    position_range: float = 1.0
    momentum_range: float = 1.0
    rounding: str = "nearest"
    arithmetic: str = "float64"
    parameter_bits: int | None = None
    input_bits: int | None = None
    input_range: float = 1.0
    nudge_bits: int | None = None
    nudge_range: float | None = None
    output_bits: int | None = None
    output_range: float = 1.0
    accumulator_bits: int | None = None
    accumulator_range: float | None = None
    converter_rounding: str = "nearest"

    def __post_init__(self) -> None:
        own = type(self).__name__
        for name in ("state_bits", "parameter_bits", "input_bits", "nudge_bits", "output_bits",
                     "accumulator_bits"):
            object.__setattr__(self, name, check_bits(own, name, getattr(self, name)))
        for name in ("position_range", "momentum_range", "input_range", "output_range"):
            object.__setattr__(self, name, check_range(own, name, getattr(self, name)))
        for name in ("nudge_range", "accumulator_range"):
            object.__setattr__(self, name, check_range(own, name, getattr(self, name),
                                                       allow_none=True))
        check_choice(self.rounding, ROUNDINGS, f"{own}.rounding")
        check_choice(self.converter_rounding, CONVERTER_ROUNDINGS, f"{own}.converter_rounding")
        check_choice(self.arithmetic, ARITHMETICS, f"{own}.arithmetic")
        if self.rounding == "reversible" and self.state_bits is None:
            raise ValueError(f"{own}: rounding='reversible' works on the fixed-point grid; "
                             "set state_bits")
        if self.rounding == "reversible" and self.arithmetic != "float64":
            raise ValueError(f"{own}: rounding='reversible' needs arithmetic='float64' (a "
                             "float format rounding on top of the grid would break the bijection)")
        if self.rounding == "stochastic" and self.state_bits is None:
            raise ValueError(f"{own}: rounding='stochastic' applies to the fixed-point state; "
                             "set state_bits")

    # ---------------------------------------------------------- metadata
    @property
    def has_step_noise(self) -> bool:  # type: ignore[override]
        """State rounding (fixed point, short floats) perturbs every step; BPTT cannot model it."""
        return self.state_bits is not None or self.arithmetic != "float64"

    @property
    def per_trajectory_inputs(self) -> bool:  # type: ignore[override]
        """Stochastic input rounding is drawn per trajectory."""
        return self.input_bits is not None and self.converter_rounding == "stochastic"

    @property
    def is_ideal(self) -> bool:  # type: ignore[override]
        """True when every word length is unlimited."""
        return (self.state_bits is None and self.parameter_bits is None and self.input_bits is None
                and self.nudge_bits is None and self.output_bits is None
                and self.accumulator_bits is None and self.arithmetic == "float64")

    @property
    def position_quantum(self) -> float:
        """Grid step of the position register (0 without ``state_bits``)."""
        if self.state_bits is None:
            return 0.0
        return power_of_two_at_least(self.position_range) / 2.0 ** (self.state_bits - 1)

    @property
    def momentum_quantum(self) -> float:
        """Grid step of the momentum register (0 without ``state_bits``)."""
        if self.state_bits is None:
            return 0.0
        return power_of_two_at_least(self.momentum_range) / 2.0 ** (self.state_bits - 1)

    def to_grid(self, q: np.ndarray, p: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
        """Round states to the fixed-point grid (nearest, saturating), e.g. to write initial states.

        Parameters
        ----------
        q, p : ndarray, shape (..., n_dof)
            Positions and momenta.

        Returns
        -------
        tuple of ndarray
            Copies on the grid (unchanged without ``state_bits``).
        """
        if self.state_bits is None:
            return np.array(q, dtype=float), np.array(p, dtype=float)
        kmax = 2.0 ** (self.state_bits - 1)

        def snap(x, d):
            return np.clip(np.round(np.asarray(x, float) / d), -kmax, kmax - 1) * d

        return snap(q, self.position_quantum), snap(p, self.momentum_quantum)

    # ------------------------------------------------------ device instance
    def _realize(self, system, seed, salt):
        if self.parameter_bits is None:
            return system
        n_levels = 2.0 ** (self.parameter_bits - 1) - 1
        new = {}
        for name, value in system.params.items():
            x = np.asarray(value, dtype=np.float64)
            scale = float(np.max(np.abs(x), initial=0.0))
            if scale == 0.0:
                continue
            step = scale / n_levels
            new[name] = np.round(x / step) * step
        return replace_parameters(system, new, f"parameter quantisation to "
                                               f"{self.parameter_bits} bits")

    # ------------------------------------------------------------ per step
    def _check_dtype(self, dtype) -> None:
        limit = 24 if np.dtype(dtype) == np.float32 else 53
        if self.state_bits is not None and self.state_bits > limit:
            raise ValueError(f"FinitePrecision.state_bits={self.state_bits} exceeds the "
                             f"{limit}-bit significand of {np.dtype(dtype).name} states, so the "
                             f"grid is not exact; use at most {limit} bits or float64")

    def _stages(self, system, dtype, dt, salt):
        self._check_dtype(dtype)
        stages = []
        if self.arithmetic != "float64":
            fmt = 32 if self.arithmetic == "float32" else 16
            stages.append(_hooks.Stage(_hooks.FLOAT_FORMAT, [fmt], salt=salt, counted=True))
        if self.state_bits is not None:
            stages.append(_hooks.Stage(
                _hooks.FIXED_POINT,
                [_MODE[self.rounding], self.position_quantum, self.momentum_quantum,
                 self.state_bits], salt=salt, counted=True))
        return stages

    def quanta(self, system) -> tuple[float, float]:
        """Grids of the reversible rounding of drift and kick increments (0: off)."""
        if self.rounding != "reversible":
            return 0.0, 0.0
        return self.position_quantum, self.momentum_quantum

    # ---------------------------------------------------------------- I/O
    def _convert(self, x, bits, full_scale, seed, pass_index, salt, sub, step_offset,
                 step_axis, what, knob):
        if bits is None:
            return x
        arr = np.asarray(x, dtype=np.float64)
        scale = auto_full_scale(arr) if full_scale is None else full_scale
        out, n_sat = quantize_symmetric(
            arr, bits, scale, self.converter_rounding, seed=seed, pass_index=pass_index,
            stream=STREAM_CONVERTER_ROUNDING + sub + STREAM_STRIDE * salt,
            step_offset=step_offset, step_axis=step_axis)
        warn_saturation(what, n_sat, arr.size, f"widen {knob} (now {full_scale})", pass_index)
        return out

    def _write_inputs(self, inputs, seed, pass_index, step_offset, salt):
        return self._convert(inputs, self.input_bits, self.input_range, seed, pass_index, salt,
                             _SUB_INPUT, step_offset, True, "the input DAC", "input_range")

    def _write_nudges(self, cotangents, seed, pass_index, salt):
        return self._convert(cotangents, self.nudge_bits, self.nudge_range, seed, pass_index,
                             salt, _SUB_NUDGE, 0, True, "the nudge DAC", "nudge_range")

    def _read_outputs(self, values, seed, pass_index, salt):
        return self._convert(values, self.output_bits, self.output_range, seed, pass_index, salt,
                             _SUB_OUTPUT, 0, False, "the read-out ADC", "output_range")

    def _read_accumulators(self, values, seed, pass_index, salt):
        return self._convert(values, self.accumulator_bits, self.accumulator_range, seed,
                             pass_index, salt, _SUB_ACCUMULATOR, 0, False,
                             "the accumulator ADC", "accumulator_range")

    def describe(self) -> dict[str, Any]:
        """Fields plus the effective grid steps."""
        out = super().describe()
        out["position_quantum"] = self.position_quantum
        out["momentum_quantum"] = self.momentum_quantum
        return out
