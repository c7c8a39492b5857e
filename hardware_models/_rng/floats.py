"""Random bits to floating-point deviates, exactly and without branches.

Deviates are built by writing random bits into the mantissa of a float64 in
[1, 2) (or [2, 4)), not by an integer-to-float conversion: before AVX-512,
x86 has no instruction for unsigned 64-bit integers (compilers emit a branchy
sequence), and the mantissa write is exact.
"""

from __future__ import annotations

import numpy as np
from numba import njit, types
from numba.extending import intrinsic

from .keys import unit_bits


@intrinsic
def as_float64(typingctx, bits):
    """Reinterpret the 64 bits of a uint64 as a float64 (no conversion)."""
    if bits != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.uint64), codegen


#: Bits of 1.0: mantissa bits give [1, 2).
EXPONENT_1 = np.uint64(0x3FF0000000000000)
#: Bits of 2.0: mantissa bits give [2, 4).
EXPONENT_2 = np.uint64(0x4000000000000000)
_MANTISSA_SHIFT = np.uint64(12)
_OPEN_SHIFT = 1.0 - 2.0 ** -53  # [1, 2) - (1 - 2^-53) = (0, 1), exactly


@njit(cache=True, inline="always")
def bits_to_uniform(x):
    """Uniform deviate in the open interval (0, 1) from the top 52 bits of ``x``.

    The values are ``(k + 1/2) 2^-52``, ``k`` the top 52 bits: exact, never 0 or 1.
    """
    return as_float64((x >> _MANTISSA_SHIFT) | EXPONENT_1) - _OPEN_SHIFT


@njit(cache=True, inline="always")
def bits_to_signed(x):
    """Uniform deviate in [-1, 1) from the top 52 bits of ``x`` (steps of 2^-51)."""
    return as_float64((x >> _MANTISSA_SHIFT) | EXPONENT_2) - 3.0


@njit(cache=True, inline="always")
def uniform_at(key, unit):
    """Uniform (0, 1) deviate of ``unit`` under ``key``."""
    return bits_to_uniform(unit_bits(key, unit))
