"""Built-in Hamiltonian systems and the base class for user-defined ones."""

from .base import HamiltonianSystem, SystemKernels, ThetaField
from .circuit import FLUX_QUANTUM, Circuit, CircuitSystem, CircuitUnits
from .coupled import CoupledOscillators, springs_to_stiffness, stiffness_gradient_to_springs
from .hru import LinearHRU, NonlinearHRU

__all__ = [
    "Circuit", "CircuitSystem", "CircuitUnits", "FLUX_QUANTUM", "HamiltonianSystem",
    "SystemKernels", "ThetaField", "CoupledOscillators", "LinearHRU",
    "NonlinearHRU", "springs_to_stiffness", "stiffness_gradient_to_springs",
]
