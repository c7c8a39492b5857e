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
with 1024 layers (``R = 4.0388498461...``, see :func:`ziggurat_radius`); about 99.6% of
draws cost one hash, a table look-up and a comparison.  Rare rejections draw
further hashes chained from the first, so they stay deterministic.
"""

from __future__ import annotations

import math

import numpy as np
from llvmlite import ir
from numba import njit, prange, types
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


#: Layers of the ziggurat: 1024 (10 bits of the 64) rejects about 0.4% of the
#: fast-path draws, against 1.5% for the classic 256, and its tables (16 kB)
#: still sit in L1 cache.  Rejections cost about 25 ns each (an ``exp``).
ZIGGURAT_LAYERS = 1024
#: ``ziggurat_radius(1024)``, stored so that importing needs no root finding
#: (``tests/test_hardware_models.py`` recomputes it).
ZIGGURAT_R = 4.038849846109504
_ZX, _ZF = ziggurat_tables(ZIGGURAT_LAYERS, ZIGGURAT_R)
_LAYER_MASK = np.uint64(ZIGGURAT_LAYERS - 1)


@njit(cache=True, inline="always")
def _fast_normal(x):
    """Ziggurat fast path: ``(z, layer, accepted)`` from 64 random bits.

    Layer from the low 10 bits, sign and position from the top 52 (disjoint).
    """
    i = np.int64(x & _LAYER_MASK)
    z = _bits_to_signed(x) * _ZX[i]
    return z, i, abs(z) < _ZX[i + 1]


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


@njit(cache=True, inline="always")
def bits_to_normal(x):
    """Standard normal deviate from 64 random bits (ziggurat; more bits chained if rejected)."""
    z, i, accepted = _fast_normal(x)
    if accepted:
        return z
    return _ziggurat_rejected(x, z, i)


@njit(cache=True, inline="always")
def normal_at(key, unit):
    """Standard normal deviate of ``unit`` under ``key``.

    The ziggurat's fast path (about 99.6% of draws) is inlined into the caller;
    the rest calls :func:`_ziggurat_rejected` out of line.
    """
    return bits_to_normal(unit_bits(key, unit))


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
def _add_scaled_normals(x, scale, out, seed, pass_index, stream, step0):
    n_traj, n_steps, n_units = x.shape
    for b in prange(n_traj):
        sb = scale[b]
        prefix = trajectory_key(seed, pass_index, stream, b)
        for s in range(n_steps):
            key = step_key(prefix, step0 + s)
            for u in range(n_units):
                out[b, s, u] = x[b, s, u] + sb * normal_at(key, u)


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
    """``x + scale * xi`` with ``xi`` the deviates :func:`normal_array` gives, in one pass.

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
    x3 = np.ascontiguousarray(x).reshape(layout)
    out = np.empty(layout)
    _add_scaled_normals(x3, per_trajectory(scale, x.shape), out, np.int64(seed),
                        np.int64(pass_index), np.int64(stream), np.int64(step_offset))
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
    key = stream_key(seed, pass_index, stream, trajectory, step)
    for u in range(out.shape[0]):
        out[u] = normal_at(key, u)


def keyed_normals(n: int, seed: int, pass_index: int, stream: int, trajectory: int,
                  step: int = 0) -> np.ndarray:
    """``n`` standard normal deviates under one explicit key, float64 (n,)."""
    out = np.empty(int(n))
    _fill_keyed(out, np.int64(seed), np.int64(pass_index), np.int64(stream),
                np.int64(trajectory), np.int64(step))
    return out
