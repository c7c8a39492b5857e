r"""Units of circuit systems (flux, charge, time and what derives from them) and constants."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.constants

from ...validation import check_positive

#: Magnetic flux quantum :math:`\Phi_0 = h / 2e` (Wb), exact in the 2019 SI.
FLUX_QUANTUM = scipy.constants.h / (2.0 * scipy.constants.e)
#: Reduced flux quantum :math:`\Phi_0 / 2\pi` (Wb): the flux of one radian of phase.
REDUCED_FLUX_QUANTUM = FLUX_QUANTUM / (2.0 * np.pi)


@dataclass(frozen=True)
class CircuitUnits:
    r"""Units of a :class:`CircuitSystem`'s state, time and parameters.

    Every other unit derives from flux, charge and time: energy
    ``flux * charge / time``, capacitance ``charge * time / flux``, inverse
    inductance ``charge / (time * flux)``, drive (current) ``charge / time``.

    Attributes
    ----------
    name : str
        ``"SI"`` or ``"natural"``.
    flux : float
        Wb per flux unit.
    charge : float
        C per charge unit.
    time : float
        s per time unit.
    """

    name: str
    flux: float
    charge: float
    time: float

    @classmethod
    def si(cls) -> "CircuitUnits":
        """SI units: Wb, C, s (energies in J)."""
        return cls("SI", 1.0, 1.0, 1.0)

    @classmethod
    def natural(cls, time_scale: float = 1e-9) -> "CircuitUnits":
        r"""Phase and Cooper-pair units.

        Fluxes in :math:`\Phi_0/2\pi` (the node flux becomes the superconducting
        phase in rad), charges in :math:`2e` (Cooper pairs), time in
        ``time_scale`` seconds; energies are then in :math:`\hbar/\tau`, i.e.
        angular frequencies in rad per time unit.  Inputs follow: currents
        in :math:`2e/\tau`, source fluxes in :math:`\Phi_0/2\pi`.  All values
        are then O(1) for typical devices, which float32 needs.

        Parameters
        ----------
        time_scale : float
            Seconds per time unit (default 1 ns).
        """
        tau = check_positive("time_scale", time_scale)
        return cls("natural", REDUCED_FLUX_QUANTUM, 2.0 * scipy.constants.e, tau)

    @property
    def energy(self) -> float:
        """J per energy unit."""
        return self.flux * self.charge / self.time

    @property
    def capacitance(self) -> float:
        """F per capacitance unit."""
        return self.charge * self.time / self.flux

    @property
    def inverse_inductance(self) -> float:
        """1/H per inverse-inductance unit."""
        return self.charge / (self.time * self.flux)

    @property
    def current(self) -> float:
        """A per drive (current) unit."""
        return self.charge / self.time

    @property
    def time_label(self) -> str:
        """Human-readable time unit."""
        labels = {1.0: "s", 1e-3: "ms", 1e-6: "us", 1e-9: "ns", 1e-12: "ps"}
        return labels.get(self.time, f"{self.time:g} s")

    @property
    def current_label(self) -> str:
        """Human-readable current unit (of current-source inputs)."""
        return "A" if self.name == "SI" else f"2e/{self.time_label}"

    @property
    def flux_label(self) -> str:
        """Human-readable flux unit (of node fluxes and voltage-source inputs)."""
        return "Wb" if self.name == "SI" else "Phi0/2pi"


SI_UNITS = CircuitUnits.si()
