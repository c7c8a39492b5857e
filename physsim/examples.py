"""Ready-made devices used by the demo, the notebooks and the tests."""

from __future__ import annotations

import numpy as np

from .systems.coupled import CoupledOscillators, springs_to_stiffness
from .validation import check_choice

#: Oscillator driven by the input (0-based index of the paper's oscillator 1).
SIX_OSC_INPUT = 0
#: Oscillator whose position is the output (0-based index of the paper's oscillator 4).
SIX_OSC_OUTPUT = 3


def six_oscillator_springs(variant: str = "student") -> dict[str, np.ndarray]:
    """Masses and springs of the six coupled oscillators of the RHEL paper (Eq. 8, Fig. 2).

    The paper gives the topology (springs to ground, pairwise springs, a drive
    on oscillator 1, the output on oscillator 4) but not the values; these are
    ours, in SI units, chosen so that the normal modes lie between about 0.5
    and 1.6 rad/s (periods of 4 to 12 s).  ``"teacher"`` is a second device of
    the same topology whose output serves as the demo's target.

    Parameters
    ----------
    variant : {"student", "teacher"}
        Which parameter set.

    Returns
    -------
    dict
        ``masses`` (6,) in kg, ``ground_springs`` (6,) in N/m and
        ``coupling_springs`` (6, 6) in N/m (upper triangle: a ring plus two chords).
    """
    check_choice(variant, ("student", "teacher"), "variant")
    rng = np.random.default_rng(8 if variant == "student" else 4)
    masses = rng.uniform(0.8, 1.6, 6)
    ground = rng.uniform(0.2, 0.5, 6)
    coupling = np.zeros((6, 6))
    for i in range(6):
        j = (i + 1) % 6
        coupling[min(i, j), max(i, j)] = rng.uniform(0.2, 0.6)
    coupling[0, 3] = rng.uniform(0.1, 0.3)
    coupling[1, 4] = rng.uniform(0.1, 0.3)
    return {"masses": masses, "ground_springs": ground, "coupling_springs": coupling}


def six_oscillators(variant: str = "student") -> CoupledOscillators:
    """The six-oscillator network as a :class:`CoupledOscillators` (input on oscillator 1).

    The input is a force (N) on oscillator 1 (index 0); positions in m.
    """
    p = six_oscillator_springs(variant)
    b = np.zeros((6, 1))
    b[SIX_OSC_INPUT, 0] = 1.0
    return CoupledOscillators(mass=p["masses"],
                              stiffness=springs_to_stiffness(p["ground_springs"],
                                                             p["coupling_springs"]),
                              input_matrix=b)


def six_oscillator_drive(n_steps: int, dt: float) -> np.ndarray:
    """A smooth multi-tone force (N) on oscillator 1, sampled at step midpoints, shape (L, 1)."""
    t = (np.arange(n_steps) + 0.5) * dt
    return (0.6 * np.sin(0.45 * t) + 0.4 * np.sin(1.1 * t + 0.3)
            + 0.25 * np.sin(1.7 * t + 1.0))[:, None]


def three_node_josephson_circuit(units: str = "natural"):
    """A three-node superconducting circuit with two Josephson junctions.

    Nodes a, b, c (fluxes) with capacitors to ground (1, 0.8, 1.5 pF), a
    coupling capacitor a-b (0.2 pF), inductors a-b (2 nH), b-c (3 nH) and
    c-ground (1 nH), junctions a-b (I_c = 0.3 uA) and b-ground (0.5 uA, with
    0.1 pF), a current source into a (A) and a voltage source on c through
    4 nH (input: source flux in Wb).  Plasma frequencies are a few GHz.

    Parameters
    ----------
    units : {"natural", "SI"}
        ``"natural"`` (fluxes in Phi_0/2pi, time in ns; float32-friendly) or SI.

    Returns
    -------
    CircuitSystem
    """
    from .systems.circuit import Circuit  # noqa: PLC0415 (keeps this module light)

    c = Circuit()
    c.add_capacitor("a", "gnd", 1.0e-12)
    c.add_capacitor("b", "gnd", 0.8e-12)
    c.add_capacitor("a", "b", 0.2e-12)
    c.add_capacitor("c", "gnd", 1.5e-12)
    c.add_inductor("a", "b", 2e-9)
    c.add_inductor("c", "gnd", 1e-9)
    c.add_inductor("b", "c", 3e-9)
    c.add_josephson_junction("a", "b", critical_current=0.3e-6)
    c.add_josephson_junction("b", "gnd", critical_current=0.5e-6, capacitance=0.1e-12)
    c.add_current_source("a", name="Ia")
    c.add_voltage_source("c", inductance=4e-9, name="Vc")
    return c.build(units=units)
