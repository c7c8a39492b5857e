"""Shared machinery of the hardware models: the base class, checks, converters, device physics.

Every model of this package is a frozen dataclass deriving from
:class:`DeviceModel`.  Each hook has a private twin that takes a ``salt`` (the
model's position among members of the same type in a :class:`Composite`) so
that two identical members draw independent noise; the public hooks of the
plug (:class:`physsim.hardware.HardwareModel`) call the twin with salt 0.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import warnings
import zlib
from collections.abc import Mapping
from typing import Any

import numpy as np
from numba import njit, prange
from physsim.hardware import ECHO_MINUS_PASS, ECHO_PLUS_PASS, FORWARD_PASS, HardwareModel
from physsim.hardware import no_step_hook

from . import _hooks
from ._rng import STREAM_STRIDE, key_layout, per_trajectory, step_key, trajectory_key
from ._rng import uniform_at

PASS_NAMES = {FORWARD_PASS: "forward", ECHO_PLUS_PASS: "echo+", ECHO_MINUS_PASS: "echo-"}


class SaturationWarning(UserWarning):
    """A converter or a fixed-point/reduced-precision state hit the end of its range."""


# ------------------------------------------------------------------ checks
def check_level(owner: str, name: str, value: float) -> float:
    """A noise level or spread: finite and non-negative."""
    try:
        v = float(value)
    except (TypeError, ValueError):
        raise ValueError(f"{owner}.{name} must be a number, got {value!r}") from None
    if not math.isfinite(v) or v < 0:
        raise ValueError(f"{owner}.{name} must be finite and non-negative, got {value!r}")
    return v


def check_range(owner: str, name: str, value: float | None, allow_none: bool = False
                ) -> float | None:
    """A full-scale range: finite and positive (or None when allowed: auto-ranging)."""
    if value is None and allow_none:
        return None
    try:
        v = float(value)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"{owner}.{name} must be a positive number, got {value!r}") from None
    if not math.isfinite(v) or v <= 0:
        raise ValueError(f"{owner}.{name} must be finite and positive, got {value!r}")
    return v


def check_bits(owner: str, name: str, value: int | None, maximum: int = 53) -> int | None:
    """A converter or word width: None (ideal) or an integer in [2, maximum]."""
    if value is None:
        return None
    if isinstance(value, bool) or not isinstance(value, (int, np.integer)):
        raise ValueError(f"{owner}.{name} must be an integer number of bits or None, "
                         f"got {value!r}")
    if value < 2 or value > maximum:
        raise ValueError(f"{owner}.{name} must be between 2 and {maximum} bits (a signed "
                         f"symmetric converter needs at least 2), got {value}")
    return int(value)


def as_spread_table(owner: str, name: str, value: Mapping[str, float] | None
                    ) -> tuple[tuple[str, float], ...]:
    """Per-parameter spreads as a sorted tuple of (name, value) pairs (hashable, frozen)."""
    if value is None:
        return ()
    if isinstance(value, tuple):
        value = dict(value)
    if not isinstance(value, Mapping):
        raise ValueError(f"{owner}.{name} must be a mapping from parameter name to relative "
                         f"spread, got {type(value).__name__}")
    return tuple(sorted((str(k), check_level(owner, f"{name}[{k!r}]", v))
                        for k, v in value.items()))


def spreads_for(system: Any, default: float, table: tuple[tuple[str, float], ...],
                what: str) -> dict[str, float]:
    """Relative spread of every named parameter of ``system`` (only those > 0)."""
    names = tuple(system.param_names)
    unknown = [k for k, _ in table if k not in names]
    if unknown:
        raise ValueError(f"unknown parameter name(s) {unknown} in {what} for "
                         f"{type(system).__name__}; valid names are: {', '.join(names)}")
    per = dict(table)
    out = {}
    for nm in names:
        s = per.get(nm, default)
        if s > 0:
            out[nm] = s
    return out


def parameter_key(name: str) -> int:
    """Stable integer key of a parameter name (so draws do not depend on parameter order)."""
    return zlib.crc32(name.encode())


def symmetric_like(nominal: np.ndarray, draw: np.ndarray) -> np.ndarray:
    """Mirror the upper triangle of ``draw`` when ``nominal`` is a symmetric matrix."""
    if nominal.ndim == 2 and nominal.shape[0] == nominal.shape[1] and \
            np.array_equal(nominal, nominal.T):
        up = np.triu(draw)
        return up + np.triu(draw, 1).T
    return draw


def replace_parameters(system: Any, new: dict[str, np.ndarray], what: str) -> Any:
    """``system.replace(**new)`` with a clear message when the result is not a valid device."""
    if not new:
        return system
    try:
        return system.replace(**{k: (float(v) if np.ndim(v) == 0 else v)
                                 for k, v in new.items()})
    except ValueError as exc:
        raise ValueError(f"{what} produced an invalid {type(system).__name__}: {exc}") from exc


# ----------------------------------------------------------- converters
@njit(cache=True, parallel=True)
def _quantize(x, step, n_levels, stochastic, out, seed, pass_index, stream, step0):
    """``out = clip(round(x / step), +-n_levels) * step``; returns the number clipped."""
    n_traj, n_steps, n_units = x.shape
    n_saturated = 0
    for b in prange(n_traj):
        h = step[b]
        count = 0
        prefix = trajectory_key(seed, pass_index, stream, b)
        for s in range(n_steps):
            key = step_key(prefix, step0 + s)
            for u in range(n_units):
                if h > 0.0:
                    y = x[b, s, u] / h
                else:  # an all-zero trajectory under auto-ranging: nothing to convert
                    y = 0.0
                if stochastic:
                    k = math.floor(y + uniform_at(key, u))
                else:
                    k = np.round(y)
                if abs(k) > n_levels:
                    count += 1
                    k = n_levels if k > 0 else -n_levels
                out[b, s, u] = k * h
        n_saturated += count
    return n_saturated


def quantize_symmetric(x: np.ndarray, bits: int, full_scale, rounding: str, *, seed: int,
                       pass_index: int, stream: int, step_offset: int = 0,
                       step_axis: bool = False) -> tuple[np.ndarray, int]:
    """Signed symmetric converter: levels ``k full_scale / (2^(b-1) - 1)``, ``|k| <= 2^(b-1) - 1``.

    Parameters
    ----------
    x : ndarray
        Values; axis 0 is the trajectory.
    bits : int
        Converter width (>= 2).
    full_scale : float or ndarray
        Largest representable magnitude (units of ``x``): one number, or one per
        trajectory (shape ``(n_traj, 1, ...)``, as :func:`auto_full_scale` gives).
    rounding : {"nearest", "stochastic"}
        Rounding to the levels; stochastic rounding is keyed like any noise.
    seed, pass_index, stream, step_offset, step_axis
        Key of the stochastic rounding (see :func:`hardware_models._rng.uniform_array`).

    Returns
    -------
    values : ndarray of float64
        Quantised (and clipped) values.
    n_saturated : int
        Number of values beyond the range (clipped).
    """
    x = np.asarray(x, dtype=np.float64)
    n_levels = float(2 ** (bits - 1) - 1)
    step = per_trajectory(full_scale, x.shape) / n_levels
    layout = key_layout(x.shape, step_axis)
    out = np.empty(layout)
    n_sat = _quantize(np.ascontiguousarray(x).reshape(layout), step, n_levels,
                      rounding == "stochastic", out, np.int64(seed), np.int64(pass_index),
                      np.int64(stream), np.int64(step_offset))
    return out.reshape(x.shape), int(n_sat)


def auto_full_scale(x: np.ndarray) -> np.ndarray:
    """Per-trajectory largest magnitude, shaped to broadcast against ``x`` (auto-ranging)."""
    x = np.asarray(x, dtype=np.float64)
    if x.ndim < 2:
        return np.max(np.abs(x), initial=0.0)
    return np.max(np.abs(x), axis=tuple(range(1, x.ndim)), keepdims=True)


def warn_saturation(what: str, n: int, total: int, advice: str, pass_index: int | None = None
                    ) -> None:
    """Emit a :class:`SaturationWarning` when ``n > 0``."""
    if n <= 0:
        return
    where = "" if pass_index is None else \
        f" in the {PASS_NAMES.get(pass_index, f'pass {pass_index}')} pass"
    warnings.warn(f"{what} saturated on {n} of {total} values{where}; {advice}",
                  SaturationWarning, stacklevel=4)


# ------------------------------------------------------------ device physics
def _columns(kernels: Any, n: int, n_drive: int, theta: np.ndarray, which: str) -> np.ndarray:
    """Hessian of T (at p = 0) or V (at q = 0, zero drive) by columns, shape (n, n)."""
    k = kernels
    zero = np.zeros(n)
    d = np.zeros(n_drive)
    out = np.empty(n)
    cols = np.empty((n, n))
    hvp = k.hvp_kinetic if which == "kinetic" else k.hvp_potential
    for i in range(n):
        e = np.zeros(n)
        e[i] = 1.0
        if hvp is not None:
            if which == "kinetic":
                hvp(zero, theta, e, out)
            else:
                hvp(zero, d, theta, e, out)
            cols[:, i] = out
        else:  # central difference of the gradient (exact for quadratic energies)
            h = 1e-6
            gp, gm = np.empty(n), np.empty(n)
            if which == "kinetic":
                k.grad_kinetic(h * e, theta, gp)
                k.grad_kinetic(-h * e, theta, gm)
            else:
                k.grad_potential(h * e, d, theta, gp)
                k.grad_potential(-h * e, d, theta, gm)
            cols[:, i] = (gp - gm) / (2 * h)
    return cols


def hessians_at_rest(system: Any) -> tuple[np.ndarray, np.ndarray]:
    """Kinetic Hessian ``T''`` at ``p = 0`` and potential Hessian ``V''`` at ``q = 0`` (zero drive).

    Built column by column from the system's ``hvp_*`` callbacks (or central
    differences of its gradients when a user system lacks them), so it is
    generic; symmetrised.

    Returns
    -------
    kinetic, potential : ndarray, shape (n_dof, n_dof)
        In the system's units (1 / mass and stiffness).
    """
    theta = np.ascontiguousarray(system.pack_theta(np.float64), dtype=np.float64)
    return _hessians(system.kernels, int(system.n_dof), int(system.n_drive), theta)


def _hessians(kernels: Any, n: int, n_drive: int, theta: np.ndarray
              ) -> tuple[np.ndarray, np.ndarray]:
    tk = _columns(kernels, n, n_drive, theta, "kinetic")
    tv = _columns(kernels, n, n_drive, theta, "potential")
    return 0.5 * (tk + tk.T), 0.5 * (tv + tv.T)


def dof_physics(system: Any) -> tuple[np.ndarray, np.ndarray, bool]:
    """Mass and natural angular frequency of every degree of freedom, for damping and noise.

    The mass of degree of freedom ``i`` is ``1 / T''_ii`` (kinetic Hessian at
    ``p = 0``) and its angular frequency ``omega_i = sqrt(T''_ii V''_ii)``
    (potential Hessian at ``q = 0``, zero drive): the uncoupled small
    oscillation of that coordinate.  Both are generic (any system with the
    kernel interface) and exact for the built-in ones: ``omega_i = Delta_i
    sqrt(A_i)`` rad per step for a linear HRU, ``sqrt(K_ii / m_i)`` for coupled
    oscillators.

    Returns
    -------
    mass : ndarray, shape (n_dof,), read-only
        In the system's mass unit (kg, F, or 1/Delta for an HRU).
    omega : ndarray, shape (n_dof,), read-only
        Rad per time unit (zero for a free coordinate).  Both are cached per
        kernels and parameter values.
    kinetic_is_diagonal : bool
        Whether ``T`` has a diagonal Hessian (then the momentum bath acts
        coordinate by coordinate; otherwise it is a dense matrix update).
    """
    theta = np.ascontiguousarray(system.pack_theta(np.float64), dtype=np.float64)
    return _dof_physics(system.kernels, int(system.n_dof), int(system.n_drive), theta.tobytes())


# Cached by kernels and parameter values (O(n) per entry): every run on a device, and
# every pass of RHEL, builds its step hook from these, and the 2 n kernel calls from
# Python behind the Hessians cost milliseconds at n = 256.
@functools.lru_cache(maxsize=64)
def _dof_physics(kernels: Any, n: int, n_drive: int, theta_bytes: bytes
                 ) -> tuple[np.ndarray, np.ndarray, bool]:
    tk, tv = _hessians(kernels, n, n_drive, np.frombuffer(theta_bytes, dtype=np.float64).copy())
    t_diag = np.diag(tk).copy()
    v_diag = np.diag(tv).copy()
    off = tk - np.diag(t_diag)
    scale = max(float(np.max(np.abs(t_diag))), np.finfo(float).tiny)
    diagonal = bool(np.max(np.abs(off), initial=0.0) <= 1e-12 * scale)
    with np.errstate(divide="ignore"):
        mass = np.where(t_diag > 0, 1.0 / np.where(t_diag > 0, t_diag, 1.0), np.inf)
    omega = np.sqrt(np.clip(t_diag * v_diag, 0.0, None))
    mass.setflags(write=False)  # shared by every caller of the cache
    omega.setflags(write=False)
    return mass, omega, diagonal


# ------------------------------------------------------------------ base
@dataclasses.dataclass(frozen=True)
class DeviceModel(HardwareModel):
    """Base of the hardware models of this package (frozen dataclasses).

    Subclasses implement the private, salted hooks; the public hooks of the
    plug call them with salt 0, and :class:`Composite` with the member's salt.
    """

    # ---- configuration helpers (building from a table: physsim.hardware.build_model)
    def with_changes(self, **changes: Any) -> "DeviceModel":
        """A copy with some fields changed (unknown names raise ValueError)."""
        valid = tuple(f.name for f in dataclasses.fields(self))
        unknown = sorted(set(changes) - set(valid))
        if unknown:
            raise ValueError(f"unknown {type(self).__name__} field(s) {unknown}; valid fields "
                             f"are: {', '.join(valid)}")
        return dataclasses.replace(self, **changes)

    def describe(self) -> dict[str, Any]:
        """Class name and every field (JSON-able)."""
        out: dict[str, Any] = {"hardware": type(self).__name__}
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            out[f.name] = dict(v) if f.name.endswith("_by_parameter") else v
        return out

    def __repr__(self) -> str:
        """Class name with the fields that differ from their defaults."""
        parts = []
        for f in dataclasses.fields(self):
            v = getattr(self, f.name)
            default = f.default if f.default is not dataclasses.MISSING else None
            if f.name.endswith("_by_parameter"):
                if v:
                    parts.append(f"{f.name}={dict(v)!r}")
            elif v != default:
                parts.append(f"{f.name}={v!r}")
        return f"{type(self).__name__}({', '.join(parts)})"

    # ---- salted hooks (identity by default)
    def _realize(self, system: Any, seed: int, salt: int) -> Any:
        return system

    def _between_passes(self, system: Any, seed: int, pass_index: int, salt: int) -> Any:
        return system

    def _write_inputs(self, inputs, seed, pass_index, step_offset, salt):
        return inputs

    def _write_nudges(self, cotangents, seed, pass_index, salt):
        return cotangents

    def _flip_error(self, q, p_flipped, seed, pass_index, salt):
        """Error of the flip applied to already reversed momenta."""
        return q, p_flipped

    def _read_outputs(self, values, seed, pass_index, salt):
        return values

    def _read_accumulators(self, values, seed, pass_index, salt):
        return values

    def _stages(self, system: Any, dtype, dt: float, salt: int) -> list[_hooks.Stage]:
        return []

    @staticmethod
    def _stream(base: int, salt: int) -> int:
        return base + STREAM_STRIDE * salt

    # ---- the plug
    def realize(self, system, seed):
        """Device instance from a nominal system (see the subclass)."""
        return self._realize(system, int(seed), 0)

    def between_passes(self, system, seed, pass_index):
        """The device at the start of ``pass_index`` (the same object when nothing drifts)."""
        return self._between_passes(system, int(seed), int(pass_index), 0)

    def write_inputs(self, inputs, seed, pass_index, step_offset):
        """DAC on an input chunk (B|1, C, m) whose first step is ``step_offset``."""
        return self._write_inputs(inputs, int(seed), int(pass_index), int(step_offset), 0)

    def write_nudges(self, cotangents, seed, pass_index):
        """DAC on a recorded nudge (cotangent) sequence (B|1, L, n)."""
        return self._write_nudges(cotangents, int(seed), int(pass_index), 0)

    def flip(self, q, p, seed, pass_index):
        """Momentum reversal ``p -> -p`` followed by the model's flip error."""
        return self._flip_error(q, -np.asarray(p), int(seed), int(pass_index), 0)

    def read_outputs(self, values, seed, pass_index):
        """ADC / read-out noise on observed values (axis 0: trajectory)."""
        return self._read_outputs(values, int(seed), int(pass_index), 0)

    def read_accumulators(self, values, seed, pass_index):
        """ADC / read-out noise on gradient accumulators (B, n_theta)."""
        return self._read_accumulators(values, int(seed), int(pass_index), 0)

    def step_hook(self, system, dtype, dt):
        """The compiled hook and its parameters (physsim's no-op if nothing acts per step)."""
        stages = self._stages(system, dtype, float(dt), 0)
        if not stages:
            return no_step_hook, np.zeros(0)
        return _hooks.device_hook, _hooks.pack_stages(stages)

    def end_of_pass(self, hw_params, pass_index):
        """Counts of saturations in the per-step hook during the pass; warns when non-zero."""
        return report_counters(hw_params, pass_index)


def report_counters(hw_params: np.ndarray, pass_index: int) -> dict[str, Any]:
    """Read and reset the stage counters of a packed hook vector; warn about saturations."""
    report: dict[str, Any] = {}
    for stage, code, nq, np_ in _hooks.read_counters(np.asarray(hw_params)):
        name = _hooks.STAGE_NAMES[code]
        report[f"stage{stage}_{name}_saturated"] = {"positions": nq, "momenta": np_}
        if code == _hooks.FIXED_POINT:
            what, advice = "the fixed-point state", \
                "widen position_range / momentum_range or scale the system"
        else:
            what, advice = "the reduced-precision state (overflow)", \
                "use a wider float format or scale the system"
        if nq + np_ > 0:
            where = PASS_NAMES.get(pass_index, f"pass {pass_index}")
            warnings.warn(f"{what} saturated {nq + np_} times in the {where} pass "
                          f"(positions {nq}, momenta {np_}); {advice}",
                          SaturationWarning, stacklevel=3)
    return report
