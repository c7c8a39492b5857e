"""physsim: a simulator for analog, physical learning machines.

Hamiltonian devices (coupled oscillators, LC and Josephson circuits, Hamiltonian
recurrent units) integrated with symplectic, time-reversible kernels; hardware
non-idealities plugged in through :mod:`physsim.hardware`; gradients by
Recurrent Hamiltonian Echo Learning (RHEL), checked against BPTT and finite
differences.
"""

from pathlib import Path as _Path

from ._cache import refresh_numba_caches as _refresh_numba_caches

# before any kernel is compiled or loaded: caches built from other sources are stale
_refresh_numba_caches([_Path(__file__).parent, _Path(__file__).parent.parent / "hardware_models"])

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
from .simulate import Trajectory, simulate  # noqa: E402
from .systems import (  # noqa: E402
    Circuit,
    CircuitSystem,
    CoupledOscillators,
    HamiltonianSystem,
    LinearHRU,
    NonlinearHRU,
    SystemKernels,
)

__all__ = [
    "__version__", "CodeChangedWarning", "bptt_gradient", "rhel_gradient", "simulate",
    "Trajectory",
    "FixedChip", "HardwareModel",
    "INTEGRATORS", "Integrator", "StormerVerlet", "SymplecticEuler", "VelocityVerlet", "Yoshida4",
    "get_integrator",
    "Circuit", "CircuitSystem", "CoupledOscillators", "HamiltonianSystem", "LinearHRU",
    "NonlinearHRU", "SystemKernels",
]
