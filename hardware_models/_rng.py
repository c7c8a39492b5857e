"""Counter-based random numbers: every draw is a pure function of its coordinates.

A hardware model never holds a random stream.  Each random number is computed
from the key ``(seed, pass_index, stream, trajectory, step, unit)`` by hashing,
so a draw does not depend on how many threads run the batch, on how the
sequence is cut into chunks, or on what was drawn before.  Different
trajectories of a batch, passes (forward, echo+, echo-), and noise sources
(``stream``) get independent numbers.

Hash: the SplitMix64 finaliser (Steele, Lea & Flood, OOPSLA 2014; the mixing
function of ``java.util.SplittableRandom``), chained over the key fields; a
unit's 64 random bits are ``mix64(key + (unit + 1) * golden)``.  SplitMix64
output passes BigCrush for sequential counters, which is how it is used here.

Normal deviates: Marsaglia & Tsang's ziggurat (J. Stat. Softw. 5(8), 2000)
with 256 layers (Doornik's constants, ``R = 3.6541528853610088``); about 99%
of draws cost one hash, a table look-up and a comparison.  Rare rejections
draw further hashes chained from the first, so they stay deterministic.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

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
_INV_2_53 = 1.0 / 9007199254740992.0


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
        Key; the draws of unit ``i`` are derived from ``key + (i + 1) * golden``.
    """
    h = mix64(np.uint64(seed) ^ _SEED_SALT)
    h = mix64(h + _GOLDEN + np.uint64(pass_index))
    h = mix64(h + _GOLDEN + np.uint64(stream))
    h = mix64(h + _GOLDEN + np.uint64(trajectory))
    return mix64(h + _GOLDEN + np.uint64(step))


@njit(cache=True, inline="always")
def unit_bits(key, unit):
    """The 64 random bits of one unit under ``key``."""
    return mix64(key + np.uint64(unit + 1) * _GOLDEN)


@njit(cache=True, inline="always")
def bits_to_uniform(x):
    """Uniform deviate in the open interval (0, 1) from the top 53 bits of ``x``."""
    return (np.float64(x >> np.uint64(11)) + 0.5) * _INV_2_53


def _ziggurat_tables(n_layers: int = 256, r: float = 3.6541528853610088,
                     v: float = 4.92867323399e-3) -> tuple[np.ndarray, np.ndarray]:
    """Layer edges ``x`` (n+1,) and densities ``f = exp(-x^2/2)`` of the normal ziggurat."""
    def f(x):
        return math.exp(-0.5 * x * x)

    x = np.zeros(n_layers + 1)
    x[0] = v / f(r)  # width of the base layer's rectangle (covers the tail's area)
    x[1] = r
    for i in range(2, n_layers):
        x[i] = math.sqrt(-2.0 * math.log(v / x[i - 1] + f(x[i - 1])))
    x[n_layers] = 0.0
    return x, np.exp(-0.5 * x * x)


_ZX, _ZF = _ziggurat_tables()


@njit(cache=True)
def bits_to_normal(x):
    """Standard normal deviate from 64 random bits (ziggurat; more bits chained if rejected)."""
    while True:
        i = np.int64(x & np.uint64(0xFF))          # layer: low 8 bits
        u = 2.0 * bits_to_uniform(x) - 1.0          # sign and position: top 53 bits
        z = u * _ZX[i]
        if abs(z) < _ZX[i + 1]:
            return z
        if i == 0:  # the tail beyond R (Marsaglia 1964)
            while True:
                x = mix64(x ^ _GOLDEN)
                a = -math.log(bits_to_uniform(x)) / _ZX[1]
                x = mix64(x ^ _GOLDEN)
                b = -math.log(bits_to_uniform(x))
                if 2.0 * b >= a * a:
                    return _ZX[1] + a if u > 0.0 else -(_ZX[1] + a)
        x = mix64(x ^ _GOLDEN)
        if _ZF[i + 1] + (_ZF[i] - _ZF[i + 1]) * bits_to_uniform(x) < math.exp(-0.5 * z * z):
            return z
        x = mix64(x ^ _GOLDEN)


@njit(cache=True, inline="always")
def normal_at(key, unit):
    """Standard normal deviate of ``unit`` under ``key``.

    The ziggurat's fast path (about 99% of draws) is inlined into the caller;
    the rest calls :func:`bits_to_normal` on the same bits (same result).
    """
    x = unit_bits(key, unit)
    i = np.int64(x & np.uint64(0xFF))
    z = (2.0 * bits_to_uniform(x) - 1.0) * _ZX[i]
    if abs(z) < _ZX[i + 1]:
        return z
    return bits_to_normal(x)


@njit(cache=True, inline="always")
def uniform_at(key, unit):
    """Uniform (0, 1) deviate of ``unit`` under ``key``."""
    return bits_to_uniform(unit_bits(key, unit))


@njit(cache=True)
def _fill(out, seed, pass_index, stream, step0, normal):
    n_traj, n_steps, n_units = out.shape
    for b in range(n_traj):
        for s in range(n_steps):
            key = stream_key(seed, pass_index, stream, b, step0 + s)
            for u in range(n_units):
                if normal:
                    out[b, s, u] = normal_at(key, u)
                else:
                    out[b, s, u] = uniform_at(key, u)


def _draw(shape, seed, pass_index, stream, step_offset, step_axis, normal):
    shape = tuple(int(s) for s in shape)
    if len(shape) == 0:
        shape3 = (1, 1, 1)
    elif len(shape) == 1:
        shape3 = (1, 1, shape[0])
    elif step_axis and len(shape) >= 3:
        shape3 = (shape[0], shape[1], int(np.prod(shape[2:], dtype=np.int64)))
    else:
        shape3 = (shape[0], 1, int(np.prod(shape[1:], dtype=np.int64)))
    out = np.empty(shape3)
    _fill(out, np.int64(seed), np.int64(pass_index), np.int64(stream), np.int64(step_offset),
          normal)
    return out.reshape(shape)


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
    return _draw(shape, seed, pass_index, stream, step_offset, step_axis, True)


def uniform_array(shape, seed: int, pass_index: int, stream: int, *, step_offset: int = 0,
                  step_axis: bool = False) -> np.ndarray:
    """Uniform (0, 1) deviates keyed by position; layout as :func:`normal_array`."""
    return _draw(shape, seed, pass_index, stream, step_offset, step_axis, False)


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
