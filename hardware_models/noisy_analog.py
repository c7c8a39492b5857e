"""Noisy analog hardware: damping and thermal noise, mismatch, drift, imperfect flip, noisy I/O."""

from __future__ import annotations

import dataclasses
import math
from collections.abc import Mapping
from typing import Any

import numpy as np

from . import _hooks
from ._rng import (CHIP_PASS, STREAM_ACCUMULATOR, STREAM_DRIFT, STREAM_FLIP,
                   STREAM_INPUT, STREAM_MISMATCH, STREAM_NUDGE, STREAM_READOUT,
                   add_normal_noise, keyed_normals)
from .base import (DeviceModel, as_spread_table, check_level, dof_physics, hessians_at_rest,
                   parameter_key, replace_parameters, spreads_for, symmetric_like)

#: Boltzmann constant (J/K, exact in the 2019 SI).
BOLTZMANN = 1.380649e-23


def thermal_energy(temperature: float) -> float:
    """``k_B T`` in joules for a temperature in kelvin."""
    return BOLTZMANN * float(temperature)


@dataclasses.dataclass(frozen=True, repr=False)
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
        so every mode relaxes to ``k_B T`` of energy; coupled kinetic energies
        (capacitance matrices) get the matrix form of the same update (see
        :meth:`bath_coefficients`).  Needs damping.
    temperature : float, optional
        Temperature in kelvin (>= 0), an alternative to ``thermal_energy``
        for systems with a physical energy unit: ``k_B T`` is converted to J
        per the system's energy unit (``system.units.energy`` for circuits
        built in natural units; J for other systems timed in seconds).
        Exclusive with ``thermal_energy``.  Typical: 300 K room temperature,
        4 K, 20 mK dilution refrigerator.
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
    temperature: float | None = None
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
        if self.temperature is not None:
            object.__setattr__(self, "temperature",
                               check_level(own, "temperature", self.temperature))
            if self.thermal_energy > 0:
                raise ValueError(f"{own}: give thermal_energy or temperature, not both")
        if self._hot and not self._damped:
            raise ValueError(f"{own}: a temperature (thermal_energy or temperature > 0) sets the "
                             "Langevin noise through "
                             "fluctuation-dissipation and needs damping (quality_factor or "
                             "damping_rate > 0); use momentum_noise for a raw per-step sigma")

    # ---------------------------------------------------------- metadata
    @property
    def _damped(self) -> bool:
        return (self.quality_factor is not None and math.isfinite(self.quality_factor)) or \
            bool(self.damping_rate)

    @property
    def _hot(self) -> bool:
        return self.thermal_energy > 0 or bool(self.temperature)

    def thermal_energy_of(self, system: Any) -> float:
        """``k_B T`` in the energy unit of ``system`` (from ``thermal_energy`` or ``temperature``).

        Raises
        ------
        ValueError
            If ``temperature`` is set and the system has no physical energy unit.
        """
        if not self.temperature:
            return self.thermal_energy
        units = getattr(system, "units", None)
        joules = getattr(units, "energy", None)
        if joules is None:
            if getattr(system, "time_unit", None) != "s":
                raise ValueError(f"{type(system).__name__} has no physical energy unit (time "
                                 f"unit {getattr(system, 'time_unit', '?')!r}); give "
                                 "thermal_energy in its energy unit instead of temperature")
            joules = 1.0
        return BOLTZMANN * self.temperature / float(joules)

    @property
    def _has_mismatch(self) -> bool:
        return self.mismatch > 0 or any(v > 0 for _, v in self.mismatch_by_parameter)

    @property
    def _has_drift(self) -> bool:
        return self.drift > 0 or any(v > 0 for _, v in self.drift_by_parameter)

    @property
    def has_step_noise(self) -> bool:  # type: ignore[override]
        """True when damping or momentum noise act inside the time loop."""
        return self._damped or self.momentum_noise > 0 or self._hot

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
        r"""Exact per-step update of the momenta, ``p <- E p + S xi``.

        The momenta obey ``dp = -R T'' p dt + sqrt(2 k_B T R) dW`` (plus the
        forces), whose stationary law is Boltzmann's, ``exp(-H / k_B T)``;
        ``R`` is the friction matrix.  With ``damping_rate`` ``gamma``,
        ``R = gamma M`` (``M = T''^{-1}``), so ``dp/dt = -gamma p``; with a
        quality factor, ``R = diag(gamma_i m_i)``, ``gamma_i = omega_i / Q``
        (friction on each coordinate's velocity; see :func:`dof_physics`).
        ``E = expm(-R T'' dt)`` and ``S S^T = k_B T (M - E M E^T) +
        momentum_noise^2 I``.  When ``T''`` is diagonal both are diagonal:
        ``E_i = exp(-gamma_i dt)``, ``S_i^2 = m_i k_B T (1 - E_i^2) +
        momentum_noise^2``.

        Parameters
        ----------
        system : HamiltonianSystem
            The (realised) device.
        dt : float
            Step size (system time unit).

        Returns
        -------
        E, S : ndarray
            Shape (n_dof,) each when ``T''`` is diagonal (element-wise
            factors), else (n_dof, n_dof) each.
        """
        n = system.n_dof
        kT = self.thermal_energy_of(system)
        needs_physics = self.quality_factor is not None or kT > 0
        if needs_physics:
            mass, omega, diagonal = dof_physics(system)
        else:
            diagonal = True
        if self.quality_factor is not None:
            gamma = omega / self.quality_factor
        else:
            gamma = np.full(n, float(self.damping_rate or 0.0))
        if diagonal:
            decay = np.exp(-gamma * dt)
            var = np.full(n, self.momentum_noise ** 2)
            if kT > 0:
                if not np.all(np.isfinite(mass)):
                    raise ValueError("fluctuation-dissipation noise needs a positive kinetic "
                                     "Hessian (finite mass) for every degree of freedom")
                var = var + mass * kT * (1.0 - decay ** 2)
            return decay, np.sqrt(var)
        import scipy.linalg  # noqa: PLC0415 (only for coupled kinetic energies)

        t_hess = hessians_at_rest(system)[0]
        eig = np.linalg.eigvalsh(t_hess)
        if eig.min() <= 0:
            raise ValueError(f"the momentum bath needs a positive-definite kinetic Hessian; "
                             f"{type(system).__name__} has smallest eigenvalue {eig.min():.3g}")
        m_matrix = np.linalg.inv(t_hess)
        m_matrix = 0.5 * (m_matrix + m_matrix.T)
        if self.quality_factor is not None:
            friction = np.diag(gamma * mass)
        else:
            friction = gamma[0] * m_matrix
        transition = scipy.linalg.expm(-friction @ t_hess * dt)
        cov = kT * (m_matrix - transition @ m_matrix @ transition.T)
        cov = 0.5 * (cov + cov.T) + self.momentum_noise ** 2 * np.eye(n)
        w, v = np.linalg.eigh(cov)
        return transition, (v * np.sqrt(np.clip(w, 0.0, None))) @ v.T

    def _stages(self, system, dtype, dt, salt):
        if not self.has_step_noise:
            return []
        e, s = self.bath_coefficients(system, dt)
        has_noise = float(np.any(s != 0))
        code = _hooks.BATH if e.ndim == 1 else _hooks.BATH_DENSE
        return [_hooks.Stage(code, [has_noise, system.n_dof, e, s], salt=salt)]

    # ------------------------------------------------------------- flip, I/O
    def _flip_error(self, q, p_flipped, seed, pass_index, salt):
        p = np.asarray(p_flipped)
        if self.flip_gain_error == 0 and self.flip_noise == 0:
            return q, p
        out = (1.0 + self.flip_gain_error) * p.astype(np.float64)
        if self.flip_noise > 0:
            out = add_normal_noise(out, self.flip_noise, seed, pass_index,
                                   self._stream(STREAM_FLIP, salt))
        return q, out.astype(p.dtype)

    def _write_inputs(self, inputs, seed, pass_index, step_offset, salt):
        if self.input_noise == 0:
            return inputs
        return add_normal_noise(inputs, self.input_noise, seed, pass_index,
                                self._stream(STREAM_INPUT, salt), step_offset=step_offset,
                                step_axis=True)

    def _write_nudges(self, cotangents, seed, pass_index, salt):
        if self.nudge_noise == 0:
            return cotangents
        x = np.asarray(cotangents, dtype=np.float64)
        scale = np.max(np.abs(x), axis=tuple(range(1, x.ndim)), keepdims=True) if x.ndim > 1 \
            else np.max(np.abs(x), initial=0.0)
        return add_normal_noise(x, self.nudge_noise * scale, seed, pass_index,
                                self._stream(STREAM_NUDGE, salt), step_axis=True)

    def _read_outputs(self, values, seed, pass_index, salt):
        if self.readout_noise == 0:
            return values
        return add_normal_noise(values, self.readout_noise, seed, pass_index,
                                self._stream(STREAM_READOUT, salt))

    def _read_accumulators(self, values, seed, pass_index, salt):
        if self.accumulator_noise == 0:
            return values
        x = np.asarray(values, dtype=np.float64)
        if x.ndim > 1:
            rms = np.sqrt(np.mean(x * x, axis=tuple(range(1, x.ndim)), keepdims=True))
        else:
            rms = np.sqrt(np.mean(x * x))
        return add_normal_noise(x, self.accumulator_noise * rms, seed, pass_index,
                                self._stream(STREAM_ACCUMULATOR, salt))
