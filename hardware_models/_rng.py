"""Counter-based random numbers: every draw is a pure function of its coordinates.

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

Normal deviates: Marsaglia & Tsang's ziggurat (J. Stat. Softw. 5(8), 2000)
with 2048 layers (``R = 4.2163704095...``, see :func:`ziggurat_radius`).  The
64 bits of one hash make two deviates of 32 bits each (11 for the layer, 21
for sign and position; numpy's float32 ziggurat splits its 32 bits 8 + 24),
and about 99.8% of deviates take the fast path: a table look-up and a comparison, without
branches, so whole rows are drawn in SIMD (:func:`add_normals`).  The rare
rejections draw further hashes chained from the first, so they stay
deterministic.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
from numba.extending import intrinsic, overload

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


@intrinsic
def _as_float64(typingctx, bits):
    """Reinterpret the 64 bits of a uint64 as a float64 (no conversion)."""
    if bits != types.uint64:
        return None

    def codegen(context, builder, signature, args):
        return builder.bitcast(args[0], context.get_value_type(types.float64))

    return types.float64(types.uint64), codegen


# Deviates are built by writing random bits into the mantissa of a float64 in
# [1, 2) (or [2, 4)), not by an integer-to-float conversion: before AVX-512,
# x86 has no instruction for unsigned 64-bit integers (compilers emit a branchy
# sequence), and the mantissa write is exact.
_EXPONENT_1 = np.uint64(0x3FF0000000000000)  # bits of 1.0: mantissa bits give [1, 2)
_EXPONENT_2 = np.uint64(0x4000000000000000)  # bits of 2.0: mantissa bits give [2, 4)
_MANTISSA_SHIFT = np.uint64(12)
_OPEN_SHIFT = 1.0 - 2.0 ** -53  # [1, 2) - (1 - 2^-53) = (0, 1), exactly


@njit(cache=True, inline="always")
def bits_to_uniform(x):
    """Uniform deviate in the open interval (0, 1) from the top 52 bits of ``x``.

    The values are ``(k + 1/2) 2^-52``, ``k`` the top 52 bits: exact, never 0 or 1.
    """
    return _as_float64((x >> _MANTISSA_SHIFT) | _EXPONENT_1) - _OPEN_SHIFT


@njit(cache=True, inline="always")
def _bits_to_signed(x):
    """Uniform deviate in [-1, 1) from the top 52 bits of ``x`` (steps of 2^-51)."""
    return _as_float64((x >> _MANTISSA_SHIFT) | _EXPONENT_2) - 3.0


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
    z, accepted = _layer_candidate(_bits_to_signed(x), i)
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
    u = _as_float64(((bits32 >> _POSITION_SHIFT) << _MANTISSA_TOP) | _EXPONENT_2) - 3.0
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
                x = mix64(x ^ _GOLDEN)
                a = -math.log(bits_to_uniform(x)) / r
                x = mix64(x ^ _GOLDEN)
                b = -math.log(bits_to_uniform(x))
                if 2.0 * b >= a * a:
                    return r + a if z > 0.0 else -(r + a)
        x = mix64(x ^ _GOLDEN)
        if _ZF[i + 1] + (_ZF[i] - _ZF[i + 1]) * bits_to_uniform(x) < math.exp(-0.5 * z * z):
            return z
        x = mix64(x ^ _GOLDEN)
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


@njit(cache=True, inline="always")
def uniform_at(key, unit):
    """Uniform (0, 1) deviate of ``unit`` under ``key``."""
    return bits_to_uniform(unit_bits(key, unit))


@njit(cache=True, parallel=True)
def _fill_uniform(out, seed, pass_index, stream, step0):
    n_traj, n_steps, n_units = out.shape
    for b in prange(n_traj):
        prefix = trajectory_key(seed, pass_index, stream, b)
        for s in range(n_steps):
            key = step_key(prefix, step0 + s)
            for u in range(n_units):
                out[b, s, u] = uniform_at(key, u)


@njit(cache=True, parallel=True)
def _add_scaled_normals(flat, n_steps, n_units, scale, seed, pass_index, stream, step0):
    # ``flat`` is the (trajectory, step, unit) array raveled; changed in place
    for b in prange(scale.shape[0]):
        sb = scale[b]
        prefix = trajectory_key(seed, pass_index, stream, b)
        for s in range(n_steps):
            add_normals(flat, (b * n_steps + s) * n_units, n_units, 1.0, 0, sb, 0,
                        step_key(prefix, step0 + s))


def key_layout(shape, step_axis: bool) -> tuple[int, int, int]:
    """The (trajectory, step, unit) shape under which an array of ``shape`` is keyed.

    Axis 0 is the trajectory; with ``step_axis`` (and at least 3 axes) axis 1
    is the time step; the remaining axes, flattened, are the units.  A 1-D
    shape is one trajectory, a scalar one unit.
    """
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        return (1, 1, 1)
    if len(shape) == 1:
        return (1, 1, shape[0])
    if step_axis and len(shape) >= 3:
        return (shape[0], shape[1], int(np.prod(shape[2:], dtype=np.int64)))
    return (shape[0], 1, int(np.prod(shape[1:], dtype=np.int64)))


def per_trajectory(scale, shape) -> np.ndarray:
    """A scale that is one number, or one number per trajectory, as float64 (n_traj,).

    Parameters
    ----------
    scale : float or ndarray
        Scalar, or an array with one entry per trajectory (axis 0 of ``shape``)
        and size-1 other axes (as ``keepdims`` reductions give).
    shape : tuple of int
        Shape of the values the scale multiplies.
    """
    n_traj = key_layout(shape, False)[0]
    s = np.asarray(scale, dtype=np.float64)
    if s.size == 1:
        return np.full(n_traj, float(s.reshape(())))
    if len(shape) >= 2 and s.shape[0] == n_traj and s.size == n_traj:
        return np.ascontiguousarray(s.reshape(n_traj))
    raise ValueError(f"a scale of shape {s.shape} is neither one number nor one per "
                     f"trajectory of values shaped {tuple(shape)}")


def add_normal_noise(x, scale, seed: int, pass_index: int, stream: int, *, step_offset: int = 0,
                     step_axis: bool = False) -> np.ndarray:
    """``x + scale * xi`` with ``xi`` the deviates :func:`normal_array` gives.

    Parameters
    ----------
    x : array_like
        Values; layout as :func:`normal_array`.
    scale : float or ndarray
        Noise standard deviation (units of ``x``): one number, or one per
        trajectory (see :func:`per_trajectory`).
    seed, pass_index, stream, step_offset, step_axis
        Key of the draws, as :func:`normal_array`.

    Returns
    -------
    ndarray of float64, shaped as ``x``
    """
    x = np.asarray(x, dtype=np.float64)
    layout = key_layout(x.shape, step_axis)
    out = np.array(x, dtype=np.float64, order="C", copy=True)  # the noise is added in place
    _add_scaled_normals(out.reshape(-1), np.int64(layout[1]), np.int64(layout[2]),
                        per_trajectory(scale, x.shape), np.int64(seed), np.int64(pass_index),
                        np.int64(stream), np.int64(step_offset))
    return out.reshape(x.shape)


def normal_array(shape, seed: int, pass_index: int, stream: int, *, step_offset: int = 0,
                 step_axis: bool = False) -> np.ndarray:
    """Standard normal deviates keyed by position, float64 of ``shape``.

    Axis 0 is the trajectory; with ``step_axis`` (and at least 3 axes) axis 1
    is the time step, numbered from ``step_offset``, so a chunk of a sequence
    gets the same numbers as the same steps of the whole sequence.  The
    remaining axes, flattened, are the units.  A 1-D shape is one trajectory.

    Parameters
    ----------
    shape : tuple of int
        Output shape.
    seed, pass_index, stream : int
        Key fields (see the module docstring).
    step_offset : int
        Global index of the first step (with ``step_axis``), else the step key.
    step_axis : bool
        Whether axis 1 is time.

    Returns
    -------
    ndarray of float64
    """
    # the noise adder on zeros: 0 + 1 * xi is xi exactly (xi is never -0.0)
    return add_normal_noise(np.zeros(tuple(int(s) for s in shape)), 1.0, seed, pass_index,
                            stream, step_offset=step_offset, step_axis=step_axis)


def uniform_array(shape, seed: int, pass_index: int, stream: int, *, step_offset: int = 0,
                  step_axis: bool = False) -> np.ndarray:
    """Uniform (0, 1) deviates keyed by position; layout as :func:`normal_array`."""
    shape = tuple(int(s) for s in shape)
    out = np.empty(key_layout(shape, step_axis))
    _fill_uniform(out, np.int64(seed), np.int64(pass_index), np.int64(stream),
                  np.int64(step_offset))
    return out.reshape(shape)


@njit(cache=True)
def _fill_keyed(out, seed, pass_index, stream, trajectory, step):
    out[:] = 0.0
    add_normals(out, 0, out.shape[0], 1.0, 0, 1.0, 0,
                stream_key(seed, pass_index, stream, trajectory, step))


def keyed_normals(n: int, seed: int, pass_index: int, stream: int, trajectory: int,
                  step: int = 0) -> np.ndarray:
    """``n`` standard normal deviates under one explicit key, float64 (n,)."""
    out = np.empty(int(n))
    _fill_keyed(out, np.int64(seed), np.int64(pass_index), np.int64(stream),
                np.int64(trajectory), np.int64(step))
    return out
