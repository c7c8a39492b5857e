"""Standard normal deviates: a 2048-layer ziggurat on keyed bits, blocked for SIMD.

Marsaglia & Tsang's ziggurat (J. Stat. Softw. 5(8), 2000) with 2048 layers
(``R = 4.2163704095...``, see :func:`ziggurat_radius`).  The 64 bits of one
hash make two deviates of 32 bits each (11 for the layer, 21 for sign and
position; numpy's float32 ziggurat splits its 32 bits 8 + 24), and about
99.8% of deviates take the fast path: a table look-up and a comparison,
without branches, so whole rows are drawn in SIMD (:func:`add_normals`).  The
rare rejections draw further hashes chained from the first
(:func:`~hardware_models._rng.keys.chain`), so they stay deterministic.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, types
from numba.extending import intrinsic, overload

from .floats import EXPONENT_2, as_float64, bits_to_signed, bits_to_uniform
from .keys import chain, unit_bits


def ziggurat_radius(n_layers: int) -> float:
    """Base-strip edge ``R`` of the ``n_layers``-layer normal ziggurat.

    ``R`` is the root at which the layers, each of area ``v = R f(R) + tail(R)``
    with ``f(x) = exp(-x^2/2)``, close exactly at the mode.  256 layers give
    Marsaglia & Tsang's 3.6541528853610088.
    """
    from scipy.optimize import brentq  # noqa: PLC0415 (import-time table set-up only)

    def overshoot(r):
        v = r * math.exp(-0.5 * r * r) + math.sqrt(0.5 * math.pi) * math.erfc(r / math.sqrt(2))
        x = r
        for i in range(2, n_layers):
            a = v / x + math.exp(-0.5 * x * x)
            if a >= 1.0:  # the layers reached the mode too early: R too small
                return 1.0 + (n_layers - i)
            x = math.sqrt(-2.0 * math.log(a))
        return v / x + math.exp(-0.5 * x * x) - 1.0

    return brentq(overshoot, 2.0, 6.0, xtol=1e-15, rtol=4 * np.finfo(float).eps)


def ziggurat_tables(n_layers: int, r: float) -> tuple[np.ndarray, np.ndarray]:
    """Layer edges ``x`` (n+1,) and densities ``f = exp(-x^2/2)`` of the normal ziggurat.

    ``x[0] = v / f(R)`` is the width of the base strip's rectangle (it covers the
    tail's area too), ``x[1] = R``, ``x[n] = 0``; every layer has area ``v``.
    """
    def f(x):
        return math.exp(-0.5 * x * x)

    v = r * f(r) + math.sqrt(0.5 * math.pi) * math.erfc(r / math.sqrt(2))
    x = np.zeros(n_layers + 1)
    x[0] = v / f(r)
    x[1] = r
    for i in range(2, n_layers):
        x[i] = math.sqrt(-2.0 * math.log(v / x[i - 1] + f(x[i - 1])))
    x[n_layers] = 0.0
    return x, np.exp(-0.5 * x * x)


#: Bits of a draw that pick the layer.
_LAYER_BITS = 11
#: Layers of the ziggurat: 2048 rejects about 0.22% of the fast-path draws
#: (1024: 0.42%, the classic 256: 1.5%), and the fast path's table (16 kB)
#: still sits in L1 cache (4096 layers, 32 kB, were no faster here).
#: Rejections cost tens of ns each (an ``exp``, a branch mispredicted).
ZIGGURAT_LAYERS = 1 << _LAYER_BITS
#: ``ziggurat_radius(2048)``, stored so that importing needs no root finding
#: (``tests/test_hardware_models.py`` recomputes it).
ZIGGURAT_R = 4.216370409511897
_ZX, _ZF = ziggurat_tables(ZIGGURAT_LAYERS, ZIGGURAT_R)
_LAYER_MASK = np.uint64(ZIGGURAT_LAYERS - 1)


@njit(cache=True, inline="always")
def _layer_candidate(u, i):
    """Ziggurat fast path in layer ``i`` from a signed uniform ``u``: ``(z, accepted)``."""
    z = u * _ZX[i]
    return z, abs(z) < _ZX[i + 1]


@njit(cache=True, inline="always")
def _fast_normal(x):
    """Ziggurat fast path from 64 random bits: ``(z, layer, accepted)``.

    Layer from the low 11 bits, sign and position from the top 52 (disjoint).
    Used for the redraws of a rejected draw.
    """
    i = np.int64(x & _LAYER_MASK)
    z, accepted = _layer_candidate(bits_to_signed(x), i)
    return z, i, accepted


_LOW_32 = np.uint64(0xFFFFFFFF)
_HALF_SHIFT = np.uint64(32)
_POSITION_SHIFT = np.uint64(_LAYER_BITS)  # bits 11..31 of a half: sign and position,
_MANTISSA_TOP = np.uint64(20 + _LAYER_BITS)  # ... written into mantissa bits 31..51
#: Salt of the rejection chain of a pair's high half (the low half chains from
#: the pair's bits themselves), so the two chains are independent.
_HIGH_CHAIN = np.uint64(0x452821E638D01377)  # hex digits of pi, continued


@njit(cache=True, inline="always")
def _half_candidate(bits32):
    """Ziggurat fast path from 32 random bits (a uint64 below 2^32): ``(z, layer, accepted)``.

    Layer from bits 0..10, sign and position from bits 11..31 (steps of 2^-20 of
    the layer's width), as numpy's float32 ziggurat spends its 32 bits.
    """
    i = np.int64(bits32 & _LAYER_MASK)
    u = as_float64(((bits32 >> _POSITION_SHIFT) << _MANTISSA_TOP) | EXPONENT_2) - 3.0
    z, accepted = _layer_candidate(u, i)
    return z, i, accepted


@njit(cache=True)
def _ziggurat_rejected(x, z, i):
    """Finish a draw whose fast-path candidate ``z`` in layer ``i`` was not accepted.

    Marsaglia & Tsang: the base layer samples the tail beyond ``R``
    (Marsaglia 1964); any other layer tests its wedge under the density with a
    fresh uniform and, if that fails, starts a new draw.  Fresh bits are
    chained from ``x``, so the result is still a function of the key alone.
    """
    r = _ZX[1]
    while True:
        if i == 0:
            while True:
                x = chain(x)
                a = -math.log(bits_to_uniform(x)) / r
                x = chain(x)
                b = -math.log(bits_to_uniform(x))
                if 2.0 * b >= a * a:
                    return r + a if z > 0.0 else -(r + a)
        x = chain(x)
        if _ZF[i + 1] + (_ZF[i] - _ZF[i + 1]) * bits_to_uniform(x) < math.exp(-0.5 * z * z):
            return z
        x = chain(x)
        z, i, accepted = _fast_normal(x)
        if accepted:
            return z


@intrinsic
def _count_trailing_zeros(typingctx, x):
    """Index of the lowest set bit of a non-zero uint64."""
    if x != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.cttz(args[0], ir.Constant(ir.IntType(1), 1))

    return types.uint64(types.uint64), codegen


def _entry(values, i):
    """``values`` if it is a number, else ``values[i]`` (compiled only, see the overload)."""
    raise NotImplementedError("_entry is only callable from compiled code")


@overload(_entry, inline="always")
def _entry_overload(values, i):
    if isinstance(values, types.Number):
        return lambda values, i: values
    return lambda values, i: values[i]


#: Pairs per block of :func:`add_normals`: a block's rejections are flagged in
#: the bits of one uint64.
_PAIR_BLOCK = 64


@njit(cache=True, inline="always")
def _pair_block(x, x0, decay, d0, weight, w0, key, h0, count, high0):
    """Fast path of pairs ``h0 .. h0 + count - 1``; returns the flags of pairs with a rejection.

    Pair ``h`` updates units ``h`` and ``h + high0``; a rejected unit gets
    ``decay * x + weight * 0`` (its noise is added by :func:`_finish_flagged`).
    Indices are unsigned (no negative-index wrap-around code) and nothing
    branches: with ``count`` a compile-time constant, LLVM unrolls the block
    and vectorises it.
    """
    flagged = np.uint64(0)
    for t in range(count):
        h = h0 + np.uint64(t)
        bits = unit_bits(key, h)
        z_lo, _, ok_lo = _half_candidate(bits & _LOW_32)
        z_hi, _, ok_hi = _half_candidate(bits >> _HALF_SHIFT)
        add_lo = z_lo if ok_lo else 0.0  # a select (vblendvpd), kept apart from the loads
        add_hi = z_hi if ok_hi else 0.0
        lo = x0 + h
        hi = lo + high0
        x[lo] = _entry(decay, d0 + h) * x[lo] + _entry(weight, w0 + h) * add_lo
        x[hi] = _entry(decay, d0 + h + high0) * x[hi] + _entry(weight, w0 + h + high0) * add_hi
        flagged |= (np.uint64(ok_lo & ok_hi) ^ np.uint64(1)) << np.uint64(t)
    return flagged


@njit(cache=True, inline="always")
def _finish_flagged(x, x0, weight, w0, key, h0, high0, flagged):
    """Add the deviates the fast path rejected, for the pairs flagged in ``flagged``."""
    while flagged:
        h = h0 + _count_trailing_zeros(flagged)
        flagged &= flagged - np.uint64(1)
        bits = unit_bits(key, h)
        z, i, accepted = _half_candidate(bits & _LOW_32)
        if not accepted:  # the low half chains from the pair's bits
            x[x0 + h] += _entry(weight, w0 + h) * _ziggurat_rejected(bits, z, i)
        z, i, accepted = _half_candidate(bits >> _HALF_SHIFT)
        if not accepted:
            x[x0 + h + high0] += _entry(weight, w0 + h + high0) * _ziggurat_rejected(
                bits ^ _HIGH_CHAIN, z, i)


@njit(cache=True, inline="always")
def add_normals(x, x0, n, decay, d0, weight, w0, key):
    """``x[x0 + i] <- decay_i x[x0 + i] + weight_i xi_i`` for ``i < n``, ``xi_i`` standard normal.

    ``xi_i`` is the deviate of unit ``i`` under ``key``.  The deviates of one
    key come in pairs: the 64 bits of pair ``h`` (:func:`unit_bits` of ``h``)
    give unit ``h`` (low 32 bits) and unit ``h + n // 2`` (high 32 bits; for
    odd ``n`` the last unit takes the low half of pair ``n // 2`` alone), each
    through the 2048-layer ziggurat with 21 bits of sign and position.  One
    hash per two deviates and a fast path without branches, so blocks of 64
    pairs run in SIMD; the rare draws outside the fast path (about 0.2%) are
    finished after each block, with fresh 64-bit draws chained from the pair's
    bits.  The update rounds twice, as ``decay * x + weight * xi`` evaluated
    in float64 (a ``decay`` of exactly 1.0 leaves ``x`` unrounded).

    Parameters
    ----------
    x : ndarray of float64, 1-D
        Values, changed in place at ``x0 .. x0 + n - 1``.
    x0, n : int
        First index and number of units.
    decay : float or ndarray of float64, 1-D
        Factor on the old values (dimensionless): one number, or
        ``decay[d0 + i]`` per unit.
    d0 : int
        First index into ``decay`` (ignored for a number).
    weight : float or ndarray of float64, 1-D
        Noise standard deviation (units of ``x``): one number, or
        ``weight[w0 + i]`` per unit.
    w0 : int
        First index into ``weight`` (ignored for a number).
    key : uint64
        Key of the draws (:func:`stream_key`).
    """
    # unsigned indices throughout (mixed signs would type as float)
    x0 = np.uint64(x0)
    d0 = np.uint64(d0)
    w0 = np.uint64(w0)
    n_pairs = np.uint64(n) // np.uint64(2)
    block = np.uint64(_PAIR_BLOCK)
    h0 = np.uint64(0)
    # the high units start at n_pairs: with that one offset LLVM can prove that a
    # block's low and high units do not overlap, and vectorise the block
    while h0 + block <= n_pairs:  # full blocks: a constant trip count
        flagged = _pair_block(x, x0, decay, d0, weight, w0, key, h0, _PAIR_BLOCK, n_pairs)
        _finish_flagged(x, x0, weight, w0, key, h0, n_pairs, flagged)
        h0 += block
    flagged = _pair_block(x, x0, decay, d0, weight, w0, key, h0, n_pairs - h0, n_pairs)
    _finish_flagged(x, x0, weight, w0, key, h0, n_pairs, flagged)
    if np.uint64(n) % np.uint64(2):  # odd n: the last unit has a pair of its own, low half only
        last = np.uint64(2) * n_pairs
        bits = unit_bits(key, n_pairs)
        z, i, accepted = _half_candidate(bits & _LOW_32)
        x[x0 + last] = _entry(decay, d0 + last) * x[x0 + last] + _entry(weight, w0 + last) * (
            z if accepted else _ziggurat_rejected(bits, z, i))
