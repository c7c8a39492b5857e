"""physsim: a simulator for analog, physical learning machines.

Hamiltonian devices (coupled oscillators, LC and Josephson circuits, Hamiltonian
recurrent units) integrated with symplectic, time-reversible kernels; hardware
non-idealities plugged in through :mod:`physsim.hardware`; gradients by
Recurrent Hamiltonian Echo Learning (RHEL), checked against BPTT and finite
differences.
"""

from ._version import __version__
from .bptt import bptt_gradient
from .hardware import FixedChip, HardwareModel
from .integrators import (
    INTEGRATORS,
    Integrator,
    StormerVerlet,
    SymplecticEuler,
    VelocityVerlet,
    Yoshida4,
    get_integrator,
)
from .rhel import rhel_gradient
from .simulate import Trajectory, simulate
from .systems import (
    Circuit,
    CircuitSystem,
    CoupledOscillators,
    HamiltonianSystem,
    LinearHRU,
    NonlinearHRU,
    SystemKernels,
)

__all__ = [
    "__version__", "bptt_gradient", "rhel_gradient", "simulate", "Trajectory",
    "FixedChip", "HardwareModel",
    "INTEGRATORS", "Integrator", "StormerVerlet", "SymplecticEuler", "VelocityVerlet", "Yoshida4",
    "get_integrator",
    "Circuit", "CircuitSystem", "CoupledOscillators", "HamiltonianSystem", "LinearHRU",
    "NonlinearHRU", "SystemKernels",
]
