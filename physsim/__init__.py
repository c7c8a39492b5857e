"""physsim: a simulator for analog, physical learning machines.

Hamiltonian devices (coupled oscillators, LC and Josephson circuits, Hamiltonian
recurrent units) integrated with symplectic, time-reversible kernels; hardware
non-idealities plugged in through :mod:`physsim.hardware`; gradients by
Recurrent Hamiltonian Echo Learning (RHEL), checked against BPTT and finite
differences.
"""

from pathlib import Path as _Path

from ._cache import refresh_numba_caches as _refresh_numba_caches
from .hardware import hardware_plugin_packages as _hardware_plugin_packages

# before any kernel is compiled or loaded: caches built from other sources are stale.  The
# hardware plugins' hooks are compiled into physsim's time loops, so their folders count too;
# they are found from the entry points without importing the plugins.
_refresh_numba_caches([_Path(__file__).parent]
                      + [p.folder for p in _hardware_plugin_packages() if p.folder is not None])

from ._version import CodeChangedWarning, __version__  # noqa: E402
from .bptt import bptt_gradient  # noqa: E402
from .hardware import FixedChip, HardwareModel  # noqa: E402
from .integrators import (  # noqa: E402
    INTEGRATORS,
    Integrator,
    StormerVerlet,
    SymplecticEuler,
    VelocityVerlet,
    Yoshida4,
    get_integrator,
)
from .rhel import rhel_gradient  # noqa: E402
from .simulate import simulate  # noqa: E402
from .systems import (  # noqa: E402
    Circuit,
    CircuitSystem,
    CoupledOscillators,
    HamiltonianSystem,
    LinearHRU,
    NonlinearHRU,
    SystemKernels,
)
from .trajectory import Trajectory  # noqa: E402

__all__ = [
    "__version__", "CodeChangedWarning", "bptt_gradient", "rhel_gradient", "simulate",
    "Trajectory",
    "FixedChip", "HardwareModel",
    "INTEGRATORS", "Integrator", "StormerVerlet", "SymplecticEuler", "VelocityVerlet", "Yoshida4",
    "get_integrator",
    "Circuit", "CircuitSystem", "CoupledOscillators", "HamiltonianSystem", "LinearHRU",
    "NonlinearHRU", "SystemKernels",
]
