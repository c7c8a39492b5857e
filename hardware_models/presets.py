"""Named presets of real hardware, with the numbers' sources.

Numbers come from the project's research notes (``research/ecosystem.md``
part B); each preset's docstring line cites the primary source given there.
Presets describe the *device*: Q factor, mismatch, temperature, converters.
State-scale knobs (``position_range``...) are in the system's units and may
need adapting: ``physsim.hardware.get_preset(name, **overrides)`` changes
fields of a single-model preset, and :func:`compose` combines presets with
other models.
"""

from __future__ import annotations

import dataclasses
from typing import Any

from physsim.hardware import HardwareModel

from .composite import Composite
from .finite_precision import FinitePrecision
from .ideal import Ideal
from .noisy_analog import NoisyAnalog

#: On-chip CMOS LC circuit.  Q = 5: spiral inductors on CMOS substrates reach Q ~ 3-4,
#: bipolar/BiCMOS 5-10 (Kuhn & Ibrahim, IEEE T-MTT 49(1):31, 2001), and the inductor
#: limits the tank.  Mismatch 6.7 %: absolute on-chip R/C/L tolerance of +-20 % (standard
#: analog-IC practice, Hastings, The Art of Analog Layout) read as a 3-sigma bound.
#: Thermal noise at 300 K with fluctuation-dissipation (kT = 4.14e-21 J).  Presets give a
#: temperature, converted to each system's energy unit (SI or natural circuit units); a
#: system without a physical energy unit (an HRU) needs ``thermal_energy`` instead.
CMOS_LC = NoisyAnalog(quality_factor=5.0, mismatch=0.20 / 3.0, temperature=300.0)

#: Discrete LC circuit.  Q = 100 (LC oscillators, Microchip crystal-oscillator application
#: note, section "Q-Factor and Stability").  Mismatch 5 %: catalogue tolerance of inductors
#: (5 %) and of capacitors (3-20 %), taken as one standard deviation.  300 K thermal noise.
DISCRETE_LC = NoisyAnalog(quality_factor=100.0, mismatch=0.05, temperature=300.0)

#: Superconducting (Josephson) circuit.  Q = 1e6: internal Q of Al/Nb microstrip resonators at
#: low power (Zoepfl et al., arXiv:1706.04169; TiN spirals reach 9.6e6, Tominaga et al.,
#: arXiv:2502.17901).  Mismatch 1.2 %: Al/AlOx/Al junction critical-current spread over a
#: 9.75 mm region (Kakuyanagi et al., arXiv:2605.30768).  Thermal noise at 20 mK (assumed
#: base temperature; not from the notes).
SUPERCONDUCTING = NoisyAnalog(quality_factor=1e6, mismatch=0.012, temperature=0.020)

#: Integrated photonic resonators.  Q = 2e6: loaded silica racetrack microrings,
#: 1.8e6-4.5e6 (Photonics 8(2):43 and 8(7):256, 2021); intrinsic Si3N4 rings reach 2.56e7
#: (Liu et al., arXiv:2411.01724).  Mismatch 1 %: the notes' realistic default for
#: parameter mismatch (no measured ring spread in the notes).  No thermal term (optical
#: photons have negligible thermal occupation at 300 K).  8-bit input DAC and 10-bit
#: read-out ADC on unit full scale (the notes' 8-10 bit converters for photonics).
PHOTONIC = Composite((
    NoisyAnalog(quality_factor=2e6, mismatch=0.01),
    FinitePrecision(input_bits=8, input_range=1.0, output_bits=10, output_range=1.0),
))

#: 8-bit analog in-memory-compute I/O in the style of aihwkit's StandardHWATrainingPreset
#: (Rasch et al. 2023, arXiv:2302.08469; aihwkit 1.2.0 simulator/presets/inference.py):
#: 8-bit input DAC on [-1, 1] (inp_res 1/254, inp_bound 1), output noise sigma 0.04 before
#: an 8-bit ADC on [-10, 10] (out_noise 0.04, out_res 1/254, out_bound 10); nudges and
#: gradient accumulators through 8-bit converters with abs-max scaling (aihwkit's default
#: noise management).  IBM's 64-core PCM chip also runs 8-bit I/O (Le Gallo et al.,
#: Nature Electronics 2023).
AIHWKIT_8BIT_IO = Composite((
    NoisyAnalog(readout_noise=0.04),
    FinitePrecision(input_bits=8, input_range=1.0, nudge_bits=8, output_bits=8,
                    output_range=10.0, accumulator_bits=8),
))

#: aihwkit IOParameters defaults (aihwkit 1.2.0 simulator/parameters/io.py): 7-bit DAC
#: (inp_res 1/126) on [-1, 1], output noise 0.06, 9-bit ADC (out_res 1/510) on [-12, 12].
AIHWKIT_DEFAULT_IO = Composite((
    NoisyAnalog(readout_noise=0.06),
    FinitePrecision(input_bits=7, input_range=1.0, nudge_bits=7, output_bits=9,
                    output_range=12.0),
))

#: 16-bit fixed-point state registers with reversible rounding (Levesque & Verlet 1993);
#: full scale +-8 for positions and momenta (suits unit-scale HRU states; override the
#: ranges for physical units).
FIXED_POINT_16_REVERSIBLE = FinitePrecision(state_bits=16, position_range=8.0,
                                            momentum_range=8.0, rounding="reversible")

#: The presets' models by name (registered with physsim by :func:`hardware_models.register`).
PRESET_MODELS: dict[str, HardwareModel] = {
    "ideal": Ideal(),
    "cmos_lc": CMOS_LC,
    "discrete_lc": DISCRETE_LC,
    "superconducting": SUPERCONDUCTING,
    "photonic": PHOTONIC,
    "aihwkit_8bit_io": AIHWKIT_8BIT_IO,
    "aihwkit_default_io": AIHWKIT_DEFAULT_IO,
    "fixed_point_16_reversible": FIXED_POINT_16_REVERSIBLE,
}

#: One line per preset (for the README and ``physsim info``).
PRESET_SUMMARIES: dict[str, str] = {
    "ideal": "exact parameters, no noise or dissipation, perfect flip and I/O",
    "cmos_lc": "on-chip CMOS LC: Q = 5, 6.7 % mismatch, 300 K thermal noise",
    "discrete_lc": "discrete LC: Q = 100, 5 % mismatch, 300 K thermal noise",
    "superconducting": "Josephson circuit: Q = 1e6, 1.2 % mismatch, 20 mK thermal noise",
    "photonic": "integrated photonic rings: Q = 2e6, 1 % mismatch, 8-bit DAC / 10-bit ADC",
    "aihwkit_8bit_io": "aihwkit HWA-style I/O: 8-bit DAC [-1, 1], output noise 0.04, 8-bit ADC "
                       "[-10, 10], 8-bit nudges and accumulators",
    "aihwkit_default_io": "aihwkit default I/O: 7-bit DAC, output noise 0.06, 9-bit ADC [-12, 12]",
    "fixed_point_16_reversible": "16-bit fixed-point states on +-8 with reversible rounding",
}


@dataclasses.dataclass(frozen=True)
class PresetFactory:
    """Builds a preset, optionally with some fields changed (the factory physsim calls).

    Parameters
    ----------
    name : str
        Preset name (for messages).
    model : HardwareModel
        The preset's model.
    """

    name: str
    model: HardwareModel

    def __call__(self, **overrides: Any) -> HardwareModel:
        """The preset itself, or a copy with ``overrides`` (single-model presets only).

        Raises
        ------
        ValueError
            For an unknown field or overrides of a composite preset.
        """
        if not overrides:
            return self.model
        if isinstance(self.model, Composite):
            raise ValueError(f"preset {self.name!r} is a composition; build it with compose(...) "
                             "and change the member models instead of passing overrides")
        return self.model.with_changes(**overrides)  # type: ignore[attr-defined]
