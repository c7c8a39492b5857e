"""The one compiled per-step hook of all models in this package, and its parameter vector.

numba cannot hold a list of functions, so composition happens in data: the
hook reads a list of *stages* from its float64 parameter vector and applies
them in order after every integrator step.  Any model (or composition of
models) is then one vector for one cached function.

Layout of ``hw``::

    hw[0]                   number of stages S
    per stage               [code, length, salt, payload...]   (length counts all its slots)
    after the last stage    counters: n_counters blocks of one slot per numba thread

Stages:

``BATH`` (momentum bath), payload ``[has_noise, n, decay (n), sigma (n)]``:
    ``p_i <- decay_i p_i + sigma_i xi_i``, ``xi`` standard normal keyed by
    (seed, pass, trajectory, step, i).  With ``decay_i = exp(-gamma_i dt)`` and
    ``sigma_i^2 = m_i kT (1 - decay_i^2)`` this is the exact Ornstein-Uhlenbeck
    update of the momenta (fluctuation-dissipation).
``BATH_DENSE`` (momentum bath of coupled coordinates), payload ``[has_noise, n, E (n*n),
    S (n*n)]`` row-major: ``p <- E p + S xi``, the exact Ornstein-Uhlenbeck step of
    ``dp = -R T'' p dt + sqrt(2 kT R) dW`` for a dense kinetic Hessian ``T''``.
``FLOAT_FORMAT``, payload ``[format, counter]``:
    round ``q`` and ``p`` to IEEE binary32 (format 32) or binary16 (format 16),
    saturating at the largest finite value; overflows are counted.
``FIXED_POINT``, payload ``[mode, dq, dp, bits, counter]``:
    round ``q`` (``p``) to the grid ``k dq`` (``k dp``), ``k`` in
    ``[-2^(bits-1), 2^(bits-1) - 1]``, saturating at the ends; saturations are
    counted.  Modes: 0 nearest, 1 stochastic, 2 reversible (the loop rounds
    every increment onto the grid; the stage only saturates, and snaps a state
    that started off the grid).

Counters live in one slot per thread (``numba.get_thread_id``), so counting is
race-free and the totals do not depend on the number of threads.
"""

from __future__ import annotations

import math

import numba
import numpy as np
from numba import njit

from ._rng import STREAM_BATH, STREAM_STATE_ROUNDING, STREAM_STRIDE, add_normals, stream_key
from ._rng import uniform_at

BATH = 1
FLOAT_FORMAT = 2
FIXED_POINT = 3
BATH_DENSE = 4
STAGE_NAMES = {BATH: "momentum_bath", FLOAT_FORMAT: "float_format", FIXED_POINT: "fixed_point",
               BATH_DENSE: "momentum_bath_dense"}

ROUND_NEAREST = 0
ROUND_STOCHASTIC = 1
ROUND_REVERSIBLE = 2

_F32_MAX = float(np.finfo(np.float32).max)
_F16_MAX = 65504.0
_F16_OVERFLOW = 65520.0  # IEEE binary16: values at or above this round to infinity
_F16_MIN_NORMAL = 2.0 ** -14


@njit(cache=True, inline="always")
def _bath(p, hw, pos, key, trajectory, step, salt):
    has_noise = hw[pos] != 0.0
    n = np.int64(hw[pos + 1])
    # unsigned indices: no negative-index wrap-around code, so the loops
    # vectorise, and no slice objects (their reference counts cost ~10 ns per call)
    d0 = np.uint64(pos + 2)
    s0 = d0 + np.uint64(n)
    if has_noise:
        # decay and noise in one pass: p <- decay * p + sigma * xi
        add_normals(p, 0, n, hw, d0, hw, s0,
                    stream_key(key[0], key[1], STREAM_BATH + STREAM_STRIDE * salt, trajectory,
                               step))
    else:
        for i in range(np.uint64(n)):
            p[i] = hw[d0 + i] * p[i]


@njit(cache=True)
def _bath_dense(p, hw, pos, key, trajectory, step, salt):
    has_noise = hw[pos] != 0.0
    n = np.int64(hw[pos + 1])
    e0 = pos + 2
    s0 = e0 + n * n
    old = np.empty(n)
    xi = np.zeros(n)
    for i in range(n):
        old[i] = p[i]
    if has_noise:
        add_normals(xi, 0, n, 1.0, 0, 1.0, 0,
                    stream_key(key[0], key[1], STREAM_BATH + STREAM_STRIDE * salt, trajectory,
                               step))
    for i in range(n):
        acc = 0.0
        for j in range(n):
            acc += hw[e0 + i * n + j] * old[j] + hw[s0 + i * n + j] * xi[j]
        p[i] = acc


@njit(cache=True)
def round_binary16(x):
    """Round a float64 to the nearest IEEE binary16 value (ties to even), no overflow handling."""
    ax = abs(x)
    if ax == 0.0:
        return x
    if ax < _F16_MIN_NORMAL:  # subnormal: fixed quantum 2^-24
        return np.round(x * 16777216.0) / 16777216.0
    m, e = math.frexp(x)  # x = m 2^e, 0.5 <= |m| < 1: 11 significant bits
    return math.ldexp(np.round(m * 2048.0), e - 11)


@njit(cache=True)
def _float_vec(x, fmt):
    """Round ``x`` in place to the format; return the number of saturated entries."""
    count = 0
    for i in range(x.shape[0]):
        v = np.float64(x[i])
        if fmt == 32:
            r = np.float64(np.float32(v))
            if not math.isfinite(r):
                r = _F32_MAX if v > 0 else -_F32_MAX
                count += 1
        else:
            if abs(v) >= _F16_OVERFLOW:
                r = _F16_MAX if v > 0 else -_F16_MAX
                count += 1
            else:
                r = round_binary16(v)
        x[i] = r
    return count


@njit(cache=True)
def _fixed_vec(x, quantum, bits, mode, key, unit0):
    """Round ``x`` in place to the grid; return the number of saturated entries."""
    kmax = 2.0 ** (bits - 1)
    lo = -kmax
    hi = kmax - 1.0
    count = 0
    for i in range(x.shape[0]):
        y = np.float64(x[i]) / quantum
        if mode == ROUND_STOCHASTIC:
            k = math.floor(y + uniform_at(key, unit0 + i))
        else:
            k = np.round(y)
        if k > hi:
            k = hi
            count += 1
        elif k < lo:
            k = lo
            count += 1
        x[i] = k * quantum
    return count


@njit(cache=True)
def device_hook(q, p, hw, key, trajectory, step):
    """Apply the stages of ``hw`` to ``(q, p)`` in place (signature of the physsim plug)."""
    n_stages = np.int64(hw[0])
    pos = np.int64(1)
    for _ in range(n_stages):
        code = np.int64(hw[pos])
        length = np.int64(hw[pos + 1])
        salt = np.int64(hw[pos + 2])
        body = pos + 3
        if code == BATH:
            _bath(p, hw, body, key, trajectory, step, salt)
        elif code == BATH_DENSE:
            _bath_dense(p, hw, body, key, trajectory, step, salt)
        elif code == FLOAT_FORMAT:
            fmt = np.int64(hw[body])
            counter = np.int64(hw[body + 1])
            tid = numba.get_thread_id()
            nq = _float_vec(q, fmt)
            npp = _float_vec(p, fmt)
            if nq > 0:
                hw[counter + 2 * tid] += nq
            if npp > 0:
                hw[counter + 2 * tid + 1] += npp
        elif code == FIXED_POINT:
            mode = np.int64(hw[body])
            dq = hw[body + 1]
            dp = hw[body + 2]
            bits = np.int64(hw[body + 3])
            counter = np.int64(hw[body + 4])
            k = np.uint64(0)
            if mode == ROUND_STOCHASTIC:
                k = stream_key(key[0], key[1], STREAM_STATE_ROUNDING + STREAM_STRIDE * salt,
                               trajectory, step)
            nq = _fixed_vec(q, dq, bits, mode, k, 0)
            npp = _fixed_vec(p, dp, bits, mode, k, q.shape[0])
            if nq > 0 or npp > 0:
                tid = numba.get_thread_id()
                hw[counter + 2 * tid] += nq
                hw[counter + 2 * tid + 1] += npp
        pos += length


class Stage:
    """One stage of the compiled hook, before it is packed.

    Parameters
    ----------
    code : int
        ``BATH``, ``BATH_DENSE``, ``FLOAT_FORMAT`` or ``FIXED_POINT``.
    payload : list of float or ndarray
        Stage parameters in the order of the module docstring, without the
        counter index (filled in by :func:`pack_stages`).
    salt : int
        Stream offset of the stage's randomness (k-th member of a composition).
    counted : bool
        Whether the stage keeps a (q, p) pair of counters.
    """

    def __init__(self, code: int, payload, salt: int = 0, counted: bool = False) -> None:
        self.code = int(code)
        self.payload = [np.atleast_1d(np.asarray(v, dtype=np.float64)).ravel() for v in payload]
        self.salt = int(salt)
        self.counted = bool(counted)


def n_counter_slots() -> int:
    """Slots per counter: one per possible numba thread."""
    return int(numba.config.NUMBA_NUM_THREADS)


def pack_stages(stages: list[Stage]) -> np.ndarray:
    """Pack stages into the hook's parameter vector.

    Returns
    -------
    ndarray of float64
        The vector for :func:`device_hook`.  A counted stage's last payload
        slot is the index of its counters; the (q, p) pair of thread ``t`` is
        at ``first + 2 t`` and ``first + 2 t + 1``.
    """
    header = [np.array([float(len(stages))])]
    bodies = []
    lengths = []
    for st in stages:
        n = 3 + sum(v.size for v in st.payload) + (1 if st.counted else 0)
        lengths.append(n)
    offset = 1 + sum(lengths)
    slots = n_counter_slots()
    n_counted = 0
    for st, n in zip(stages, lengths):
        parts = [np.array([float(st.code), float(n), float(st.salt)])] + st.payload
        if st.counted:
            parts.append(np.array([float(offset)]))
            offset += 2 * slots
            n_counted += 1
        bodies.extend(parts)
    hw = np.concatenate(header + bodies + [np.zeros(2 * slots * n_counted)])
    return np.ascontiguousarray(hw)


def read_counters(hw: np.ndarray, reset: bool = True) -> list[tuple[int, int, int, int]]:
    """Counts kept by the counted stages of a packed vector.

    Parameters
    ----------
    hw : ndarray
        Vector built by :func:`pack_stages` (possibly empty: no stages).
    reset : bool
        Zero the counters after reading them.

    Returns
    -------
    list of (stage index, stage code, position count, momentum count)
    """
    out = []
    if hw.size == 0:
        return out
    slots = n_counter_slots()
    pos = 1
    for s in range(int(hw[0])):
        code, length = int(hw[pos]), int(hw[pos + 1])
        if code in (FLOAT_FORMAT, FIXED_POINT):
            first = int(hw[pos + length - 1])
            block = hw[first:first + 2 * slots]
            out.append((s, code, int(block[0::2].sum()), int(block[1::2].sum())))
            if reset:
                hw[first:first + 2 * slots] = 0.0
        pos += length
    return out
