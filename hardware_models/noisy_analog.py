"""Noisy analog hardware: damping and thermal noise, mismatch, drift, imperfect flip, noisy I/O."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _hooks
from ._rng import (CHIP_PASS, STREAM_ACCUMULATOR, STREAM_DRIFT, STREAM_FLIP,
                   STREAM_INPUT, STREAM_MISMATCH, STREAM_NUDGE, STREAM_READOUT, keyed_normals,
                   normal_array)
from .base import (DeviceModel, as_spread_table, check_level, dof_physics, parameter_key,
                   replace_parameters, spreads_for, symmetric_like)

#: Boltzmann constant (J/K, exact in the 2019 SI).
BOLTZMANN = 1.380649e-23


def thermal_energy(temperature: float) -> float:
    """``k_B T`` in joules for a temperature in kelvin."""
    return BOLTZMANN * float(temperature)


@dataclasses.dataclass(frozen=True)
class NoisyAnalog(DeviceModel):
    r"""Analog non-idealities of a physical oscillator network.

    All knobs default to the ideal value; a default ``NoisyAnalog()`` is the
    ideal device.  Noise is keyed by (seed, pass, trajectory, step, unit) and
    so reproducible whatever the threads or chunking (see
    :mod:`hardware_models._rng`).

    Parameters
    ----------
    quality_factor : float, optional
        Quality factor ``Q`` (dimensionless, > 0) of every degree of freedom:
        its momentum decays at ``gamma_i = omega_i / Q``, so an undriven
        oscillator's energy decays as ``exp(-omega_i t / Q)`` (amplitude at
        ``omega_i / 2Q``).  ``omega_i = sqrt(T''_ii V''_ii)`` is the
        coordinate's own small-oscillation frequency (rad per time unit; see
        :func:`hardware_models.base.dof_physics`).  Typical: 3-10 on-chip CMOS
        LC, ~100 discrete LC, 1e4-1e6 quartz, 1e6-1e7 superconducting and
        integrated photonic resonators.  Exclusive with ``damping_rate``.
    damping_rate : float, optional
        Momentum damping rate ``gamma`` (1 / time unit, >= 0), the same for
        every degree of freedom: ``dp/dt = -gamma p + force``.
    thermal_energy : float
        ``k_B T`` in the system's energy unit (J for circuits, e.g.
        ``4.14e-21`` at 300 K; units of H for HRUs); >= 0.  With damping it
        sets the Langevin noise by fluctuation-dissipation: each step applies
        the exact Ornstein-Uhlenbeck update
        ``p_i <- p_i e^{-gamma_i dt} + sqrt(m_i k_B T (1 - e^{-2 gamma_i dt})) xi``
        so every mode relaxes to ``k_B T`` of energy.  Needs damping and a
        diagonal kinetic energy.
    momentum_noise : float
        Raw per-step standard deviation (momentum units, >= 0) of extra white
        noise added to every momentum after every step, independent of
        damping and temperature (e.g. amplifier noise).  Typical relative
        values 1e-4 - 1e-2 of the momentum scale.
    mismatch : float
        Relative standard deviation (>= 0) of static, per-element device
        mismatch of every named parameter: ``theta -> theta (1 + delta)``,
        ``delta ~ N(0, mismatch^2)`` drawn once per seed (the "chip"), the
        same in the forward pass and both echoes.  Symmetric matrices get
        symmetric deviations.  Typical: 0.5-3 % Josephson critical currents,
        1-5 % discrete parts, up to 20 % absolute on-chip values.
    mismatch_by_parameter : mapping of str to float, optional
        Per-parameter relative spread overriding ``mismatch`` (names from
        ``system.param_names``).
    drift : float
        Relative standard deviation (>= 0) of parameter drift per pass: the
        device of pass ``k`` (1 = echo+, 2 = echo-) is the realised device
        times ``1 + sum_{j<=k} delta_j`` (a random walk from the forward
        pass).  Typical 1e-6 (MEMS, < 10 ppm / 2,500 h) to 1e-2 (PCM).
    drift_by_parameter : mapping of str to float, optional
        Per-parameter drift overriding ``drift``.
    flip_gain_error : float
        Systematic relative error ``g`` of the momentum flip,
        ``p -> -(1 + g) p + eta``; finite, > -1.  Typical 1e-4 - 1e-2.
    flip_noise : float
        Standard deviation of ``eta`` (momentum units, >= 0), drawn per unit
        and trajectory at each flip.
    input_noise : float
        Standard deviation (input units, >= 0) of white noise added to every
        input sample each time it is written (forward and replay).  aihwkit's
        ``inp_noise`` (default 0).
    nudge_noise : float
        Standard deviation of noise on every nudge (cotangent) sample, relative
        to the largest magnitude of the trajectory's cotangent sequence (the
        DAC full scale under abs-max scaling); >= 0.
    readout_noise : float
        Standard deviation (output units, >= 0) of read-out noise on observed
        values.  aihwkit ``out_noise``: 0.06 (default), 0.04 (HWA preset), for
        outputs normalised to about 1.
    accumulator_noise : float
        Standard deviation of noise on each gradient accumulator read-out,
        relative to the root mean square of the trajectory's accumulators; >= 0.
    """

    quality_factor: float | None = None
    damping_rate: float | None = None
    thermal_energy: float = 0.0
    momentum_noise: float = 0.0
    mismatch: float = 0.0
    mismatch_by_parameter: Mapping[str, float] | None = None
    drift: float = 0.0
    drift_by_parameter: Mapping[str, float] | None = None
    flip_gain_error: float = 0.0
    flip_noise: float = 0.0
    input_noise: float = 0.0
    nudge_noise: float = 0.0
    readout_noise: float = 0.0
    accumulator_noise: float = 0.0

    def __post_init__(self) -> None:
        own = type(self).__name__
        if self.quality_factor is not None:
            q = float(self.quality_factor)
            if not q > 0 or math.isnan(q):
                raise ValueError(f"{own}.quality_factor must be positive (or None: no "
                                 f"damping), got {self.quality_factor!r}")
            object.__setattr__(self, "quality_factor", q)
        if self.damping_rate is not None:
            object.__setattr__(self, "damping_rate",
                               check_level(own, "damping_rate", self.damping_rate))
        if self.quality_factor is not None and self.damping_rate is not None:
            raise ValueError(f"{own}: give quality_factor or damping_rate, not both")
        for name in ("thermal_energy", "momentum_noise", "mismatch", "drift", "flip_noise",
                     "input_noise", "nudge_noise", "readout_noise", "accumulator_noise"):
            object.__setattr__(self, name, check_level(own, name, getattr(self, name)))
        g = float(self.flip_gain_error)
        if not math.isfinite(g) or g <= -1.0:
            raise ValueError(f"{own}.flip_gain_error must be finite and > -1 (the flip must "
                             f"still reverse the momentum), got {self.flip_gain_error!r}")
        object.__setattr__(self, "flip_gain_error", g)
        object.__setattr__(self, "mismatch_by_parameter",
                           as_spread_table(own, "mismatch_by_parameter",
                                           self.mismatch_by_parameter))
        object.__setattr__(self, "drift_by_parameter",
                           as_spread_table(own, "drift_by_parameter", self.drift_by_parameter))
        if self.thermal_energy > 0 and not self._damped:
            raise ValueError(f"{own}: thermal_energy > 0 sets the Langevin noise through "
                             "fluctuation-dissipation and needs damping (quality_factor or "
                             "damping_rate > 0); use momentum_noise for a raw per-step sigma")

    # ---------------------------------------------------------- metadata
    @property
    def _damped(self) -> bool:
        return (self.quality_factor is not None and math.isfinite(self.quality_factor)) or \
            bool(self.damping_rate)

    @property
    def _has_mismatch(self) -> bool:
        return self.mismatch > 0 or any(v > 0 for _, v in self.mismatch_by_parameter)

    @property
    def _has_drift(self) -> bool:
        return self.drift > 0 or any(v > 0 for _, v in self.drift_by_parameter)

    @property
    def has_step_noise(self) -> bool:  # type: ignore[override]
        """True when damping or momentum noise act inside the time loop."""
        return self._damped or self.momentum_noise > 0 or self.thermal_energy > 0

    @property
    def is_ideal(self) -> bool:  # type: ignore[override]
        """True when every knob is at its ideal value."""
        return not (self.has_step_noise or self._has_mismatch or self._has_drift
                    or self.flip_gain_error != 0 or self.flip_noise > 0 or self.input_noise > 0
                    or self.nudge_noise > 0 or self.readout_noise > 0
                    or self.accumulator_noise > 0)

    @property
    def per_trajectory_inputs(self) -> bool:  # type: ignore[override]
        """Input noise is drawn per trajectory."""
        return self.input_noise > 0

    # ------------------------------------------------------ device instance
    def _scaled(self, system: Any, spreads: dict[str, float], seed: int, pass_indices,
                stream: int, what: str) -> Any:
        """``theta (1 + sum_k delta_k)`` for every parameter with a spread."""
        new = {}
        params = system.params
        for name, sigma in spreads.items():
            nominal = np.asarray(params[name], dtype=np.float64)
            delta = np.zeros(nominal.size)
            for k in pass_indices:
                delta += keyed_normals(nominal.size, seed, k, stream, parameter_key(name))
            delta = symmetric_like(nominal, delta.reshape(nominal.shape))
            new[name] = nominal * (1.0 + sigma * delta)
        return replace_parameters(system, new, what)

    def _realize(self, system, seed, salt):
        if not self._has_mismatch:
            return system
        spreads = spreads_for(system, self.mismatch, self.mismatch_by_parameter,
                              "mismatch_by_parameter")
        return self._scaled(system, spreads, seed, (CHIP_PASS,),
                            self._stream(STREAM_MISMATCH, salt), "mismatch")

    def _between_passes(self, system, seed, pass_index, salt):
        if not self._has_drift or pass_index <= 0:
            return system
        spreads = spreads_for(system, self.drift, self.drift_by_parameter, "drift_by_parameter")
        return self._scaled(system, spreads, seed, range(1, pass_index + 1),
                            self._stream(STREAM_DRIFT, salt), "drift")

    # ------------------------------------------------------------ per step
    def bath_coefficients(self, system: Any, dt: float) -> tuple[np.ndarray, np.ndarray]:
        """Per-step decay factors and noise standard deviations of the momenta.

        Parameters
        ----------
        system : HamiltonianSystem
            The (realised) device.
        dt : float
            Step size (system time unit).

        Returns
        -------
        decay : ndarray, shape (n_dof,)
            ``exp(-gamma_i dt)``.
        sigma : ndarray, shape (n_dof,)
            ``sqrt(m_i k_B T (1 - decay_i^2) + momentum_noise^2)`` (momentum units).
        """
        n = system.n_dof
        if self.quality_factor is not None or self.thermal_energy > 0:
            mass, omega, diagonal = dof_physics(system)
        if self.quality_factor is not None:
            gamma = omega / self.quality_factor
        else:
            gamma = np.full(n, float(self.damping_rate or 0.0))
        decay = np.exp(-gamma * dt)
        var = np.full(n, self.momentum_noise ** 2)
        if self.thermal_energy > 0:
            if not diagonal:
                raise NotImplementedError(
                    f"fluctuation-dissipation noise needs a diagonal kinetic energy; "
                    f"{type(system).__name__} has a coupled (dense) mass matrix.  Use "
                    "momentum_noise for a raw sigma, or a diagonal-mass system")
            if not np.all(np.isfinite(mass)):
                raise ValueError("fluctuation-dissipation noise needs a positive kinetic "
                                 "Hessian (finite mass) for every degree of freedom")
            var = var + mass * self.thermal_energy * (1.0 - decay ** 2)
        return decay, np.sqrt(var)

    def _stages(self, system, dtype, dt, salt):
        if not self.has_step_noise:
            return []
        decay, sigma = self.bath_coefficients(system, dt)
        has_noise = float(np.any(sigma > 0))
        return [_hooks.Stage(_hooks.BATH, [has_noise, system.n_dof, decay, sigma], salt=salt)]

    # ------------------------------------------------------------- flip, I/O
    def _flip_error(self, q, p_flipped, seed, pass_index, salt):
        p = np.asarray(p_flipped)
        if self.flip_gain_error == 0 and self.flip_noise == 0:
            return q, p
        out = (1.0 + self.flip_gain_error) * p.astype(np.float64)
        if self.flip_noise > 0:
            out = out + self.flip_noise * normal_array(p.shape, seed, pass_index,
                                                       self._stream(STREAM_FLIP, salt))
        return q, out.astype(p.dtype)

    def _write_inputs(self, inputs, seed, pass_index, step_offset, salt):
        if self.input_noise == 0:
            return inputs
        x = np.asarray(inputs, dtype=np.float64)
        return x + self.input_noise * normal_array(x.shape, seed, pass_index,
                                                   self._stream(STREAM_INPUT, salt),
                                                   step_offset=step_offset, step_axis=True)

    def _write_nudges(self, cotangents, seed, pass_index, salt):
        if self.nudge_noise == 0:
            return cotangents
        x = np.asarray(cotangents, dtype=np.float64)
        scale = np.max(np.abs(x), axis=tuple(range(1, x.ndim)), keepdims=True) if x.ndim > 1 \
            else np.max(np.abs(x), initial=0.0)
        return x + self.nudge_noise * scale * normal_array(
            x.shape, seed, pass_index, self._stream(STREAM_NUDGE, salt), step_axis=True)

    def _read_outputs(self, values, seed, pass_index, salt):
        if self.readout_noise == 0:
            return values
        x = np.asarray(values, dtype=np.float64)
        return x + self.readout_noise * normal_array(x.shape, seed, pass_index,
                                                     self._stream(STREAM_READOUT, salt))

    def _read_accumulators(self, values, seed, pass_index, salt):
        if self.accumulator_noise == 0:
            return values
        x = np.asarray(values, dtype=np.float64)
        if x.ndim > 1:
            rms = np.sqrt(np.mean(x * x, axis=tuple(range(1, x.ndim)), keepdims=True))
        else:
            rms = np.sqrt(np.mean(x * x))
        return x + self.accumulator_noise * rms * normal_array(
            x.shape, seed, pass_index, self._stream(STREAM_ACCUMULATOR, salt))
