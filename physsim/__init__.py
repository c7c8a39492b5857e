"""physsim: a simulator for analog, physical learning machines.

Hamiltonian devices (coupled oscillators, LC and Josephson circuits, Hamiltonian
recurrent units) integrated with symplectic, time-reversible kernels; hardware
non-idealities plugged in through :mod:`physsim.hardware`; gradients by
Recurrent Hamiltonian Echo Learning (RHEL), checked against BPTT and finite
differences.

The public names below are imported from their modules on first access
(PEP 562), so ``import physsim`` (and ``physsim --help``) loads neither numba
nor any compiled kernel; the time loops compile on first use, for the dtype a
run uses (:mod:`physsim._kernels.loops`).
"""

import importlib as _importlib
import sys as _sys
import types as _types

from ._cache import refresh_physsim_caches as _refresh_physsim_caches
from ._version import CodeChangedWarning, __version__

# before any kernel is compiled or loaded: caches built from other sources are stale
_refresh_physsim_caches()

#: Public name -> the module that defines it.
_EXPORTS = {
    "bptt_gradient": ".bptt",
    "FixedChip": ".hardware",
    "HardwareModel": ".hardware",
    "INTEGRATORS": ".integrators",
    "Integrator": ".integrators",
    "StormerVerlet": ".integrators",
    "SymplecticEuler": ".integrators",
    "VelocityVerlet": ".integrators",
    "Yoshida4": ".integrators",
    "get_integrator": ".integrators",
    "rhel_gradient": ".rhel",
    "simulate": ".simulate",
    "Circuit": ".systems",
    "CircuitSystem": ".systems",
    "CoupledOscillators": ".systems",
    "HamiltonianSystem": ".systems",
    "LinearHRU": ".systems",
    "NonlinearHRU": ".systems",
    "SystemKernels": ".systems",
    "Trajectory": ".trajectory",
}

__all__ = ["__version__", "CodeChangedWarning", *_EXPORTS]


def __getattr__(name: str):
    module = _EXPORTS.get(name)
    if module is None:
        raise AttributeError(f"module 'physsim' has no attribute {name!r}")
    value = getattr(_importlib.import_module(module, __name__), name)
    globals()[name] = value
    return value


def __dir__() -> list[str]:
    return sorted(set(globals()) | set(_EXPORTS))


class _Package(_types.ModuleType):
    """The type of the ``physsim`` module: a public function keeps its name.

    Importing a submodule binds it as an attribute of its package; the
    function :func:`physsim.simulate` has the name of its module, so without
    this the first ``import physsim.simulate`` (by any module) would replace
    the function by the module.
    """

    def __setattr__(self, name: str, value) -> None:
        if name in _EXPORTS and isinstance(value, _types.ModuleType):
            return
        super().__setattr__(name, value)


_sys.modules[__name__].__class__ = _Package
