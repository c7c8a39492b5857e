"""Counter-based keys: the 64 random bits of a draw are a pure function of its coordinates.

A hardware model never holds a random stream.  Each random number is computed
from the key ``(seed, pass_index, stream, trajectory, step, unit)`` by hashing,
so a draw does not depend on how many threads run the batch, on how the
sequence is cut into chunks, or on what was drawn before.  Different
trajectories of a batch, passes (forward, echo+, echo-), and noise sources
(``stream``) get independent numbers.

Key: the SplitMix64 finaliser (Steele, Lea & Flood, OOPSLA 2014; the mixing
function of ``java.util.SplittableRandom``), chained over the key fields.
Units: a unit's 64 random bits are output ``unit + 1`` of wyrand started at
the key (see :func:`unit_bits`); both generators pass BigCrush for sequential
counters, which is how they are used here.
"""

from __future__ import annotations

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic

#: Noise sources (streams).  Composite models add ``STREAM_STRIDE * k`` for the
#: k-th member of the same type, so identical members stay independent.
STREAM_BATH = 1             #: per-step momentum noise (Langevin / raw sigma)
STREAM_STATE_ROUNDING = 2   #: stochastic rounding of the state
STREAM_FLIP = 3             #: flip noise
STREAM_INPUT = 4            #: input DAC noise
STREAM_NUDGE = 5            #: nudge DAC noise
STREAM_READOUT = 6          #: read-out noise
STREAM_ACCUMULATOR = 7      #: accumulator read-out noise
STREAM_MISMATCH = 8         #: static mismatch (chip)
STREAM_DRIFT = 9            #: drift between passes
STREAM_CONVERTER_ROUNDING = 10  #: stochastic rounding in DACs/ADCs
STREAM_STRIDE = 64

#: Pass index used for draws that belong to the chip, not to a pass (mismatch).
CHIP_PASS = 0xC41F

_GOLDEN = np.uint64(0x9E3779B97F4A7C15)
_SEED_SALT = np.uint64(0x243F6A8885A308D3)  # hex digits of pi


@njit(cache=True, inline="always")
def mix64(z):
    """SplitMix64 finaliser: a bijection of uint64 with full avalanche."""
    z = (z ^ (z >> np.uint64(30))) * np.uint64(0xBF58476D1CE4E5B9)
    z = (z ^ (z >> np.uint64(27))) * np.uint64(0x94D049BB133111EB)
    return z ^ (z >> np.uint64(31))


@njit(cache=True)
def stream_key(seed, pass_index, stream, trajectory, step):
    """64-bit key of one (seed, pass, stream, trajectory, step) coordinate.

    Parameters
    ----------
    seed, pass_index, stream, trajectory, step : int64
        Coordinates of the draw (non-negative).

    Returns
    -------
    uint64
        Key; the draws of unit ``i`` are derived from it by :func:`unit_bits`.
    """
    return step_key(trajectory_key(seed, pass_index, stream, trajectory), step)


@njit(cache=True, inline="always")
def trajectory_key(seed, pass_index, stream, trajectory):
    """The part of :func:`stream_key` that does not depend on the step (uint64).

    Loops over the steps of one trajectory compute it once and call
    :func:`step_key` per step: the same keys for a fifth of the hashing.
    """
    h = mix64(np.uint64(seed) ^ _SEED_SALT)
    h = mix64(h + _GOLDEN + np.uint64(pass_index))
    h = mix64(h + _GOLDEN + np.uint64(stream))
    return mix64(h + _GOLDEN + np.uint64(trajectory))


@njit(cache=True, inline="always")
def step_key(prefix, step):
    """``stream_key`` of one step from its :func:`trajectory_key` ``prefix``."""
    return mix64(prefix + _GOLDEN + np.uint64(step))


@njit(cache=True, inline="always")
def chain(x):
    """Fresh 64 random bits chained from ``x`` (draws beyond a unit's own bits stay keyed)."""
    return mix64(x ^ _GOLDEN)


@intrinsic
def _mum(typingctx, a, b):
    """wyhash's "mum": the high and low halves of the 128-bit product ``a b``, xor-ed."""
    if a != types.uint64 or b != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        wide = ir.IntType(128)
        product = builder.mul(builder.zext(args[0], wide), builder.zext(args[1], wide))
        high = builder.trunc(builder.lshr(product, ir.Constant(wide, 64)), ir.IntType(64))
        return builder.xor(high, builder.trunc(product, ir.IntType(64)))

    return types.uint64(types.uint64, types.uint64), codegen


_WY_INCREMENT = np.uint64(0xA0761D6478BD642F)
_WY_XOR = np.uint64(0xE7037ED1A0B428DB)


@njit(cache=True, inline="always")
def unit_bits(key, unit):
    """The 64 random bits of one unit under ``key``.

    wyrand (Wang Yi's wyhash family; passes BigCrush and PractRand by its
    author's tests and D. Lemire's, 2019): output ``unit + 1`` of the Weyl
    sequence started at ``key``.  One 128-bit multiply, against SplitMix64's
    two 64-bit ones: this draw runs once per degree of freedom per step in a
    thermal bath.
    """
    s = key + np.uint64(unit + 1) * _WY_INCREMENT
    return _mum(s, s ^ _WY_XOR)
