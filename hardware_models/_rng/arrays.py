"""Keyed arrays of deviates for NumPy code: layouts, per-trajectory scales, fills.

An array is keyed as (trajectory, step, unit) (see :func:`key_layout`), so a
chunk of a sequence gets the same numbers as the same steps of the whole
sequence, and a batch the same numbers whatever the threads.
"""

from __future__ import annotations

import numpy as np
from numba import njit, prange

from .floats import uniform_at
from .keys import step_key, stream_key, trajectory_key
from .ziggurat import add_normals


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
