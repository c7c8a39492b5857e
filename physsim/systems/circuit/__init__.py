"""Superconducting and LC circuits in physical units.

- :mod:`.units`: :class:`CircuitUnits` (SI or natural phase/Cooper-pair units)
  and the flux quantum;
- :mod:`.system`: :class:`CircuitSystem`, the Hamiltonian in node fluxes and
  charges;
- :mod:`.builder`: :class:`Circuit`, the builder from named elements.
"""

from .builder import GROUND_NAMES, Branch, Circuit, Coupling, Source
from .system import CircuitSystem
from .units import FLUX_QUANTUM, REDUCED_FLUX_QUANTUM, SI_UNITS, CircuitUnits

__all__ = ["Branch", "Circuit", "CircuitSystem", "CircuitUnits", "Coupling", "FLUX_QUANTUM",
           "GROUND_NAMES", "REDUCED_FLUX_QUANTUM", "SI_UNITS", "Source"]
