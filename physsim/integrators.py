"""Splitting integrators for separable Hamiltonians, built from drift and kick primitives.

Each integrator is a table of operations applied in order within one step of
size ``h``: ``("drift", a)`` moves positions by ``a h dT/dp`` and
``("kick", b)`` moves momenta by ``-b h dV/dq``.  The table is all the compiled
loops need (:mod:`physsim._kernels.steps`); capabilities are class metadata
that controllers check before they run (the RHEL controller refuses an
integrator that is not time-reversible).

==========================  =====  ==========  ===============  ============================
name                        order  symplectic  time-reversible  splitting
==========================  =====  ==========  ===============  ============================
``leapfrog``                2      yes         yes              drift 1/2, kick 1, drift 1/2
``velocity_verlet``         2      yes         yes              kick 1/2, drift 1, kick 1/2
``yoshida4``                4      yes         yes              three leapfrog steps w1, w0, w1
``symplectic_euler``        1      yes         no               drift 1, kick 1
``official_nonlinear_hru``  1      no          no               drift 1/2, start kick 1,
                                                                drift 1/2
==========================  =====  ==========  ===============  ============================

``official_nonlinear_hru`` is the official RHEL code's NonlinHRU step (force at the
step's start position); it is offered only to reproduce that code's BPTT.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ._kernels.steps import DRIFT, KICK, START_KICK
from .registry import lookup


#: Kernel code of each operation name (:mod:`physsim._kernels.steps`).
_KINDS = {"drift": DRIFT, "kick": KICK, "start_kick": START_KICK}


@dataclass(frozen=True)
class Integrator:
    """Base class: a fixed-step splitting method given by an operation table.

    Attributes
    ----------
    name : str
        Registry name.
    order : int
        Global order of accuracy.
    symplectic : bool
        Whether each step is a symplectic map.
    time_reversible : bool
        Whether a step, a momentum flip, the same step and a flip is the identity
        (the property RHEL rests on).
    operations : tuple of (str, float)
        ``("drift", a)`` or ``("kick", b)`` entries applied in order (or
        ``("start_kick", b)``: a kick with the force at the step's start position).
    stability_limit : float
        Largest ``h * omega`` for which a harmonic oscillator of angular
        frequency ``omega`` stays bounded (linear stability limit).
    """

    name: ClassVar[str]
    order: ClassVar[int]
    symplectic: ClassVar[bool]
    time_reversible: ClassVar[bool]
    operations: ClassVar[tuple[tuple[str, float], ...]]
    stability_limit: ClassVar[float] = 2.0

    def tables(self, dtype=np.float64) -> tuple[np.ndarray, np.ndarray]:
        """Operation kinds (int64, 0 drift / 1 kick) and coefficients (``dtype``) for the
        kernels.
        """
        kinds = np.array([_KINDS[op] for op, _ in self.operations], dtype=np.int64)
        coefs = np.array([c for _, c in self.operations], dtype=dtype)
        return kinds, coefs


@dataclass(frozen=True)
class StormerVerlet(Integrator):
    """Position-velocity-position Stormer-Verlet (drift-kick-drift leapfrog).

    ``q += h/2 dT/dp(p); p -= h dV/dq(q); q += h/2 dT/dp(p)``: the kick is
    evaluated at the half-step position.  This is the HRU step of the RHEL
    paper (Def. A.3); order 2, symplectic, time-reversible.

    References
    ----------
    Hairer, Lubich & Wanner, Geometric Numerical Integration, 2nd ed., Sec. I.1.4.
    """

    name: ClassVar[str] = "leapfrog"
    order: ClassVar[int] = 2
    symplectic: ClassVar[bool] = True
    time_reversible: ClassVar[bool] = True
    operations: ClassVar[tuple] = (("drift", 0.5), ("kick", 1.0), ("drift", 0.5))


@dataclass(frozen=True)
class VelocityVerlet(Integrator):
    """Velocity Verlet (kick-drift-kick leapfrog); order 2, symplectic, time-reversible.

    References
    ----------
    Swope, Andersen, Berens & Wilson, J. Chem. Phys. 76, 637 (1982).
    """

    name: ClassVar[str] = "velocity_verlet"
    order: ClassVar[int] = 2
    symplectic: ClassVar[bool] = True
    time_reversible: ClassVar[bool] = True
    operations: ClassVar[tuple] = (("kick", 0.5), ("drift", 1.0), ("kick", 0.5))


_CBRT2 = 2.0 ** (1.0 / 3.0)
_W1 = 1.0 / (2.0 - _CBRT2)
_W0 = -_CBRT2 / (2.0 - _CBRT2)


@dataclass(frozen=True)
class Yoshida4(Integrator):
    """Yoshida's fourth-order symmetric composition of three leapfrog steps.

    Steps of ``w1 h, w0 h, w1 h`` with ``w1 = 1/(2 - 2^(1/3))`` and
    ``w0 = -2^(1/3)/(2 - 2^(1/3))``; adjacent half-drifts are merged.
    Order 4, symplectic, time-reversible (a symmetric composition).

    References
    ----------
    H. Yoshida, Phys. Lett. A 150, 262 (1990), Eq. (4.4).
    """

    name: ClassVar[str] = "yoshida4"
    order: ClassVar[int] = 4
    symplectic: ClassVar[bool] = True
    time_reversible: ClassVar[bool] = True
    operations: ClassVar[tuple] = (
        ("drift", _W1 / 2), ("kick", _W1), ("drift", (_W1 + _W0) / 2), ("kick", _W0),
        ("drift", (_W0 + _W1) / 2), ("kick", _W1), ("drift", _W1 / 2),
    )
    # |trace| of the harmonic transfer matrix reaches 2 at h*omega = 1.5734 (computed)
    stability_limit: ClassVar[float] = 1.5734


@dataclass(frozen=True)
class SymplecticEuler(Integrator):
    """Symplectic Euler (drift then kick); order 1, symplectic, *not* time-reversible.

    Present as the scheme the RHEL paper warns against (LinOSS-IMEX); the RHEL
    controller refuses it.
    """

    name: ClassVar[str] = "symplectic_euler"
    order: ClassVar[int] = 1
    symplectic: ClassVar[bool] = True
    time_reversible: ClassVar[bool] = False
    operations: ClassVar[tuple] = (("drift", 1.0), ("kick", 1.0))


@dataclass(frozen=True)
class OfficialNonlinearHRUStep(Integrator):
    """The official RHEL code's NonlinHRU step; order 1, *neither* symplectic nor
    time-reversible.

    ``q_h = q + h/2 dT/dp(p); p -= h dV/dq(q); q = q_h + h/2 dT/dp(p)``: the kick uses
    the position at the *start* of the step, not the half-step position of the
    leapfrog (``models/NonlinHRU.py`` of github.com/guillaumepourcel/rhel).  Its
    Jacobian has determinant ``1 + h^2 V''/2`` per unit (not symplectic), and a step,
    a flip, a step and a flip does not return to the start, so the RHEL controller
    refuses it.  It is here only to reproduce the official forward pass and BPTT
    gradients exactly; at the official step 1e-4 the BPTT gradients of a NonlinearHRU's
    W and alpha differ from the leapfrog's by 1.9e-3 and 1.7e-2 (relative to the
    largest entry; 64 units, 1000 steps), at step 1e-2 every tensor by 1e-2 to 2e-2.  For a
    :class:`~physsim.systems.NonlinearHRU` (``H = delta (...)``, unit step) this is
    the official map with ``delta`` as its step.
    """

    name: ClassVar[str] = "official_nonlinear_hru"
    order: ClassVar[int] = 1
    symplectic: ClassVar[bool] = False
    time_reversible: ClassVar[bool] = False
    operations: ClassVar[tuple] = (("drift", 0.5), ("start_kick", 1.0), ("drift", 0.5))
    # On a harmonic oscillator the step matrix [[1 - x^2/2, x], [-x, 1]] (x = h omega) has
    # determinant 1 + x^2/2 > 1, so amplitudes grow slowly at any step; its trace leaves
    # [-2, 2] at x = 2 sqrt 2, beyond which the growth is exponential per step.
    stability_limit: ClassVar[float] = 2.0 * np.sqrt(2.0)


#: Registry of integrators by name.
INTEGRATORS: dict[str, type[Integrator]] = {
    cls.name: cls for cls in (StormerVerlet, VelocityVerlet, Yoshida4, SymplecticEuler,
                              OfficialNonlinearHRUStep)
}


def get_integrator(integrator: str | Integrator) -> Integrator:
    """Return an integrator instance from a registry name or an instance.

    Raises
    ------
    ValueError
        If the name is unknown; the message lists the valid names.
    """
    if isinstance(integrator, Integrator):
        return integrator
    if isinstance(integrator, type) and issubclass(integrator, Integrator):
        return integrator()
    return lookup(INTEGRATORS, integrator, "integrator")()
