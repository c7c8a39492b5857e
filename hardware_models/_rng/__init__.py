"""Counter-based random numbers: every draw is a pure function of its coordinates.

A draw is computed from the key ``(seed, pass_index, stream, trajectory,
step, unit)``, never from a stream's state, so results do not depend on
threads, chunking or what was drawn before.  One module per job:

- :mod:`.keys`: the key hash (SplitMix64 chained over the fields) and a unit's
  64 bits (wyrand); the noise streams.
- :mod:`.floats`: random bits to exact uniform deviates.
- :mod:`.ziggurat`: standard normal deviates (2048-layer ziggurat, SIMD blocks).
- :mod:`.arrays`: keyed arrays of deviates for NumPy code.

The compiled functions are inlined into the hardware hooks; after an edit here
numba caches built from the old source are stale (physsim drops its own at
import; a ``NUMBA_CACHE_DIR`` must be cleared by hand).
"""

from .arrays import (add_normal_noise, key_layout, keyed_normals, normal_array, per_trajectory,
                     uniform_array)
from .floats import bits_to_uniform, uniform_at
from .keys import (CHIP_PASS, STREAM_ACCUMULATOR, STREAM_BATH, STREAM_CONVERTER_ROUNDING,
                   STREAM_DRIFT, STREAM_FLIP, STREAM_INPUT, STREAM_MISMATCH, STREAM_NUDGE,
                   STREAM_READOUT, STREAM_STATE_ROUNDING, STREAM_STRIDE, mix64, step_key,
                   stream_key, trajectory_key, unit_bits)
from .ziggurat import ZIGGURAT_LAYERS, ZIGGURAT_R, add_normals, ziggurat_radius, ziggurat_tables

__all__ = [
    "CHIP_PASS", "STREAM_ACCUMULATOR", "STREAM_BATH", "STREAM_CONVERTER_ROUNDING", "STREAM_DRIFT",
    "STREAM_FLIP", "STREAM_INPUT", "STREAM_MISMATCH", "STREAM_NUDGE", "STREAM_READOUT",
    "STREAM_STATE_ROUNDING", "STREAM_STRIDE", "ZIGGURAT_LAYERS", "ZIGGURAT_R", "add_normal_noise",
    "add_normals", "bits_to_uniform", "key_layout", "keyed_normals", "mix64", "normal_array",
    "per_trajectory", "step_key", "stream_key", "trajectory_key", "uniform_array", "uniform_at",
    "unit_bits", "ziggurat_radius", "ziggurat_tables",
]
