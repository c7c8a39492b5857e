"""HL coefficients (tau, beta, eta, phi, s) and the map from SGD/momentum settings.

The Euler-discretised HL updates of the weight costate and the weights read
(research/hl.md Eqs. 20-21, s = -1)::

    omega <- (1 - tau eta) omega + (tau phi_k) g
    theta <- theta - (tau beta) omega

which is PyTorch's ``torch.optim.SGD`` with ``lr = tau beta``,
``momentum = 1 - tau eta`` and ``dampening = 1 - tau phi`` (App. E, Eq. 28),
provided the momentum buffer initialisation ``b = g_0`` is matched by
``tau phi_0 = 1`` on the very first step (hl.md section 2.1).

The coefficients ``beta``, ``eta`` and ``phi`` are real numbers and may be given exactly as
:class:`fractions.Fraction`; the Euler coefficients ``1 - tau eta``, ``tau beta`` and
``tau phi_k`` are evaluated exactly and rounded once to float64.  This is what lets
:func:`sgd_to_hl` realise the SGD coefficients exactly: ``eta = (1 - mu)/tau`` is not a
float for ``mu = 0.05`` or ``0.1``, and no float ``eta`` (with the paper's ``tau``) gives
``fl(1 - fl(tau eta)) == mu``: for ``tau eta`` in ``[1/2, 1]`` the subtraction is exact
(Sterbenz), so ``1 - fl(tau eta)`` is a multiple of ``2**-53``, which ``fl(0.05)`` and
``fl(0.1)`` are not.  The exact ``eta`` gives ``1 - tau eta = mu`` exactly.

In a TOML file the settings are an ``[hl]`` table (:class:`HLTable`, checked strictly by
:mod:`physsim.config.loader`): a paper setting by name, SGD settings, or the coefficients.
"""

from __future__ import annotations

import math
from dataclasses import dataclass
from fractions import Fraction
from typing import Any, Callable, Literal, Union

import numpy as np
from pydantic import model_validator

from ..config.loader import PositiveFloat, Table, one_of, validate
from ..registry import lookup
from ._tree import tree_leaves

__all__ = [
    "ExponentialPhi",
    "FirstStepPhi",
    "HLConfig",
    "HLTable",
    "PAPER_OPTIMIZER_SETTINGS",
    "SGDSettings",
    "bptt_config",
    "get_paper_setting",
    "hl_config_from_table",
    "sgd_to_hl",
]

#: A coefficient: a float, or an exact rational when the float would round it.
Real = Union[float, Fraction]
PhiLike = Union[Real, Callable[[int], Real]]


@dataclass(frozen=True)
class FirstStepPhi:
    """``phi_k = first`` at HL step ``k = 0`` and ``rest`` afterwards (units: 1/time).

    Reproduces PyTorch's momentum-buffer initialisation ``b = g_0`` with
    ``first = 1/tau`` (hl.md section 2.1).  Either value may be a float or an exact
    :class:`fractions.Fraction`.
    """

    first: Real
    rest: Real

    def __call__(self, k: int) -> Real:
        """Value at HL step ``k``."""
        return self.first if k == 0 else self.rest


@dataclass(frozen=True)
class ExponentialPhi:
    """``phi_k = initial * exp(rate * k * tau)``: an exponential learning-rate schedule.

    Parameters
    ----------
    initial : float
        ``phi`` at step 0 (1/time), > 0.
    rate : float
        Growth rate (1/time); negative for decay.
    tau : float
        HL step (time).
    """

    initial: float
    rate: float
    tau: float

    def __call__(self, k: int) -> float:
        """Value at HL step ``k``."""
        return self.initial * math.exp(self.rate * k * self.tau)


def _exact(value: Fraction) -> Real:
    """``value`` as a float when that float equals it exactly, else the Fraction itself."""
    as_float = float(value)
    return as_float if Fraction(as_float) == value else value


def _check_finite(name: str, value: Real, *, positive: bool = False,
                  nonnegative: bool = False, exact: bool = False) -> Real:
    # a real number only: no float() of strings or booleans ("0.1" or True are not numbers);
    # with exact=True a Fraction is kept exact (as a float only when that is exact too)
    real = (int, float, np.integer, np.floating) + ((Fraction,) if exact else ())
    if isinstance(value, (bool, np.bool_)) or not isinstance(value, real):
        extra = f" ({name} is a float, not a Fraction)" if isinstance(value, Fraction) else ""
        raise ValueError(f"{name} must be a real number, got {value!r}{extra}")
    value = _exact(value) if isinstance(value, Fraction) else float(value)
    if isinstance(value, float) and not math.isfinite(value):
        raise ValueError(f"{name} must be finite, got {value!r}")
    if positive and value <= 0:
        raise ValueError(f"{name} must be > 0, got {value!r}")
    if nonnegative and value < 0:
        raise ValueError(f"{name} must be >= 0, got {value!r}")
    return value


@dataclass(frozen=True)
class HLConfig:
    """Coefficients of the HL equations (research/hl.md sections 1.4-1.5).

    Parameters
    ----------
    tau : float, default 1.0
        Euler step (time units of the stream), > 0.
    beta : float, Fraction or HLParams of arrays, default 1.0
        Weight-velocity scale ``beta >= 0``: ``d theta/dt = -beta * omega``.
        A tree with the structure of the parameters gives per-weight values.
    eta : float or Fraction, default 0.0
        Dissipation (1/time), ``>= 0``; damps both costates.
    phi : float, Fraction or callable, default 1.0
        Loss scale ``phi_k > 0`` (1/time), constant or ``phi(k)`` of the
        global HL step index ``k`` (e.g. :class:`FirstStepPhi`).

    A :class:`fractions.Fraction` is kept exact (a float stays a float); the Euler
    coefficients (:meth:`euler_decay`, :attr:`tau_beta`, :meth:`tau_phi`) are computed
    exactly from the fields and rounded once (module docstring).
    s : {-1, +1}, default -1
        Sign switch of the costate equations; ``-1`` integrates them forward
        in time and is the choice that recovers BP/BPTT.
    reset_weight_costate : bool, default False
        Zero ``omega`` at every ``reset`` tag (local and nonlocal modes) or at
        every sequence start (reversed mode): no momentum across samples.

    Raises
    ------
    ValueError
        For ``tau <= 0``, ``eta < 0``, ``beta < 0``, ``phi <= 0``, non-finite
        values or ``s`` not in ``{-1, +1}``.
    """

    tau: float = 1.0
    beta: Any = 1.0
    eta: Real = 0.0
    phi: PhiLike = 1.0
    s: int = -1
    reset_weight_costate: bool = False

    def __post_init__(self) -> None:
        """Validate and normalise the fields."""
        object.__setattr__(self, "tau", _check_finite("tau", self.tau, positive=True))
        object.__setattr__(self, "eta", _check_finite("eta", self.eta, nonnegative=True,
                                                      exact=True))
        if self.scalar_beta:
            object.__setattr__(self, "beta", _check_finite("beta", self.beta, nonnegative=True,
                                                           exact=True))
        else:
            for leaf in tree_leaves(self.beta):
                leaf = np.asarray(leaf)
                if not np.all(np.isfinite(leaf)) or np.any(leaf < 0):
                    raise ValueError("per-weight beta must be finite and >= 0 everywhere")
        if not callable(self.phi):
            object.__setattr__(self, "phi", _check_finite("phi", self.phi, positive=True,
                                                          exact=True))
        if self.s not in (-1, 1):
            raise ValueError(f"sign switch s must be -1 or +1, got {self.s!r}")

    @property
    def scalar_beta(self) -> bool:
        """Whether ``beta`` is one number (not a per-weight tree)."""
        return isinstance(self.beta, (bool, np.bool_, int, float, np.floating, np.integer,
                                      Fraction))

    def phi_at(self, k: int) -> Real:
        """``phi_k`` at global HL step ``k``, validated (> 0, finite; float or Fraction)."""
        if not callable(self.phi):
            return self.phi
        return _check_finite(f"phi({k})", self.phi(k), positive=True, exact=True)

    def tau_phi(self, k: int) -> float:
        """``tau phi_k``, the loss scale of one Euler step, exact and rounded once."""
        return float(Fraction(self.tau) * Fraction(self.phi_at(k)))

    @property
    def tau_beta(self) -> float:
        """``tau beta``, the weight step of one Euler step, exact and rounded once.

        Raises
        ------
        TypeError
            For a per-weight ``beta`` (scale its leaves by ``tau`` instead).
        """
        if not self.scalar_beta:
            raise TypeError("tau_beta needs a scalar beta; this config has per-weight beta")
        return float(Fraction(self.tau) * Fraction(self.beta))

    def euler_decay(self, shift: int = 0) -> float:
        """``1 - tau eta + shift``, exact and rounded once to float64.

        ``shift = 0`` is :attr:`costate_decay`; the instantaneous state form adds ``s``
        (:meth:`~physsim.hl.model.HLModel.neuron_costate_decay`).
        """
        return float(1 + shift - Fraction(self.tau) * Fraction(self.eta))

    @property
    def costate_decay(self) -> float:
        """``1 - tau eta``: the factor multiplying ``omega`` in each Euler step.

        Evaluated exactly and rounded once, so :func:`sgd_to_hl` realises ``momentum``
        itself (module docstring).
        """
        return self.euler_decay()


@dataclass(frozen=True)
class SGDSettings:
    """Settings of ``torch.optim.SGD`` (no Nesterov, no weight decay).

    Attributes
    ----------
    lr : float
        Learning rate ``gamma > 0``.
    momentum : float, default 0
        ``mu`` in [0, 1].
    dampening : float, default 0
        ``rho`` in [0, 1); ignored by PyTorch when ``momentum == 0``.
    """

    lr: float
    momentum: float = 0.0
    dampening: float = 0.0

    def __post_init__(self) -> None:
        """Validate and normalise the fields."""
        _check_finite("lr", self.lr, positive=True)
        mu = _check_finite("momentum", self.momentum, nonnegative=True)
        if mu > 1:
            raise ValueError(f"momentum must be in [0, 1] (it maps to eta = (1 - momentum)/tau "
                             f">= 0), got {mu!r}")
        rho = _check_finite("dampening", self.dampening, nonnegative=True)
        if mu != 0 and rho >= 1:
            raise ValueError(f"dampening must be in [0, 1) (it maps to phi = (1 - dampening)/tau "
                             f"> 0), got {rho!r}")


def sgd_to_hl(lr: float | SGDSettings, momentum: float = 0.0, dampening: float = 0.0,
              tau: float = 1.0) -> HLConfig:
    """HL coefficients that reproduce ``torch.optim.SGD`` exactly (hl.md section 2.1).

    ``beta = lr/tau``, ``eta = (1 - momentum)/tau`` and
    ``phi = (1 - dampening)/tau``, with ``phi_0 = 1/tau`` on the first step to
    match PyTorch's buffer initialisation ``b = g_0`` (undamped).  With
    ``momentum = 0`` PyTorch ignores the dampening, so ``phi = 1/tau`` then.

    The three are the exact real numbers (a :class:`fractions.Fraction` where a float would
    round them), so the discretised coefficients equal the SGD ones: ``tau beta == lr``,
    ``1 - tau eta == momentum`` and ``tau phi == fl(1 - dampening)``, bit for bit.

    Parameters
    ----------
    lr : float or SGDSettings
        Learning rate, or complete settings (then ``momentum``/``dampening`` are ignored).
    momentum, dampening : float
    tau : float, default 1.0
        HL Euler step (any ``tau > 0`` gives the same trajectory).

    Returns
    -------
    HLConfig
        With ``s = -1``; use it in the ``"nonlocal"`` mode.
    """
    settings = lr if isinstance(lr, SGDSettings) else SGDSettings(lr, momentum, dampening)
    tau = _check_finite("tau", tau, positive=True)
    exact_tau = Fraction(tau)
    beta = _exact(Fraction(settings.lr) / exact_tau)
    eta = _exact((1 - Fraction(settings.momentum)) / exact_tau)
    first = _exact(1 / exact_tau)
    if settings.momentum == 0:
        phi: PhiLike = first
    else:
        rest = _exact((1 - Fraction(settings.dampening)) / exact_tau)
        phi = FirstStepPhi(first=first, rest=rest) if settings.dampening != 0 else rest
    return HLConfig(tau=tau, beta=beta, eta=eta, phi=phi, s=-1)


def bptt_config(lr: float, tau: float = 1.0) -> HLConfig:
    """HL coefficients for which the reversed stream is plain BPTT + SGD (hl.md section 2.4).

    ``tau phi = 1``, ``eta = 0``, ``tau beta = lr`` and the weight costate is
    zeroed at each sequence start.

    Parameters
    ----------
    lr : float
        SGD learning rate applied once per sequence.
    tau : float, default 1.0

    Returns
    -------
    HLConfig
    """
    lr = _check_finite("lr", lr, nonnegative=True)
    tau = _check_finite("tau", tau, positive=True)
    return HLConfig(tau=tau, beta=lr / tau, eta=0.0, phi=1.0 / tau, s=-1,
                    reset_weight_costate=True)


#: The optimiser settings of the paper's comparison (hl.md section 4): name -> (SGD settings, tau)
PAPER_OPTIMIZER_SETTINGS: dict[str, tuple[SGDSettings, float]] = {
    "GD-a": (SGDSettings(lr=0.01, momentum=0.0, dampening=0.0), 1.0),
    "GD-b": (SGDSettings(lr=0.001, momentum=0.0, dampening=0.0), 0.5),
    "Mom-a": (SGDSettings(lr=0.01, momentum=0.05, dampening=0.6), 1.0),
    "Mom-b": (SGDSettings(lr=0.01, momentum=0.1, dampening=0.5), 0.5),
}


def get_paper_setting(name: str) -> tuple[SGDSettings, float]:
    """``(SGDSettings, tau)`` of one of the paper's optimiser settings.

    Raises
    ------
    ValueError
        If ``name`` is unknown; the message lists the valid names.
    """
    return lookup(PAPER_OPTIMIZER_SETTINGS, name, "optimiser setting")


SettingName = one_of(PAPER_OPTIMIZER_SETTINGS, "optimiser setting")
_SGD_KEYS = ("lr", "momentum", "dampening")
_COEFFICIENT_KEYS = ("beta", "eta", "phi", "s", "reset_weight_costate")


class HLTable(Table):
    """The ``[hl]`` table of a config file: HL coefficients, given one of three ways.

    - ``setting = "GD-a"``: one of :data:`PAPER_OPTIMIZER_SETTINGS` (its own ``tau``);
    - ``lr`` with optional ``momentum``, ``dampening`` and ``tau``: the coefficients that
      reproduce ``torch.optim.SGD`` (:func:`sgd_to_hl`);
    - the coefficients themselves: ``tau``, ``beta``, ``eta``, ``phi``, ``s``,
      ``reset_weight_costate`` (:class:`HLConfig`; missing ones take its defaults).

    Units as in :class:`HLConfig` (``tau`` in time units of the stream, ``eta`` and ``phi``
    in 1/time).
    """

    setting: SettingName | None = None
    lr: PositiveFloat | None = None
    momentum: float | None = None
    dampening: float | None = None
    tau: PositiveFloat | None = None
    beta: float | None = None
    eta: float | None = None
    phi: PositiveFloat | None = None
    s: Literal[-1, 1] | None = None
    reset_weight_costate: bool | None = None

    @model_validator(mode="after")
    def _one_way(self) -> "HLTable":
        given = self.given()
        groups = (("setting", ("setting",)), ("SGD settings", _SGD_KEYS),
                  ("coefficients", _COEFFICIENT_KEYS))
        ways = [name for name, keys in groups if any(k in given for k in keys)]
        if len(ways) > 1:
            raise ValueError(f"give one of setting, SGD settings (lr, momentum, dampening) or "
                             f"the coefficients (beta, eta, phi, s, reset_weight_costate), not "
                             f"{' and '.join(ways)}")
        if "setting" in given:
            if "tau" in given:
                raise ValueError(f"setting {self.setting!r} fixes tau; leave tau out")
        if any(k in given for k in ("momentum", "dampening")) and "lr" not in given:
            raise ValueError("SGD settings need lr")
        return self

    def to_hl_config(self) -> HLConfig:
        """The :class:`HLConfig` the table describes."""
        given = self.given()
        if self.setting is not None:
            settings, tau = get_paper_setting(self.setting)
            return sgd_to_hl(settings, tau=tau)
        if self.lr is not None:
            return sgd_to_hl(SGDSettings(self.lr, self.momentum or 0.0, self.dampening or 0.0),
                             tau=given.get("tau", 1.0))
        return HLConfig(**given)


def hl_config_from_table(table: dict[str, Any], where: str = "hl") -> HLConfig:
    """Check an ``[hl]`` TOML table (:class:`HLTable`) and return its :class:`HLConfig`.

    Raises
    ------
    physsim.config.ConfigError
        ``[hl] key: expected ..., got ...`` for a wrong type, an unknown key or setting name,
        or coefficients given two ways; ``ValueError`` from :class:`HLConfig` for values out
        of range.
    """
    return validate(HLTable, table, where).to_hl_config()
