"""Splitting integrators for separable Hamiltonians, built from drift and kick primitives.

Each integrator is a table of operations applied in order within one step of
size ``h``: ``("drift", a)`` moves positions by ``a h dT/dp`` and
``("kick", b)`` moves momenta by ``-b h dV/dq``.  The table is all the compiled
loops need (:mod:`physsim._kernels.steps`); capabilities are class metadata
that controllers check before they run (the RHEL controller refuses an
integrator that is not time-reversible).

==================  =====  ==========  ==============  ============================
name                order  symplectic  time-reversible splitting
==================  =====  ==========  ==============  ============================
``leapfrog``        2      yes         yes             drift 1/2, kick 1, drift 1/2
``velocity_verlet`` 2      yes         yes             kick 1/2, drift 1, kick 1/2
``yoshida4``        4      yes         yes             three leapfrog steps w1, w0, w1
``symplectic_euler``1      yes         no              drift 1, kick 1
==================  =====  ==========  ==============  ============================
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from ._kernels.steps import DRIFT, KICK
from .registry import lookup


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
        ``("drift", a)`` or ``("kick", b)`` entries applied in order.
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
        kinds = np.array([DRIFT if op == "drift" else KICK for op, _ in self.operations],
                         dtype=np.int64)
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


#: Registry of integrators by name.
INTEGRATORS: dict[str, type[Integrator]] = {
    cls.name: cls for cls in (StormerVerlet, VelocityVerlet, Yoshida4, SymplecticEuler)
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
