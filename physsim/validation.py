"""Input checks shared by the public API: clear messages instead of numba crashes or NaNs.

Every package of physsim checks arguments with these, so a bad value fails the same way
everywhere (the argument named, what is allowed, what was given).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

import numpy as np


def as_finite_array(name: str, value: Any, *, ndim: int | Sequence[int] | None = None,
                    shape: tuple[int | None, ...] | None = None, dtype=np.float64) -> np.ndarray:
    """Convert ``value`` to a float array and check its rank, shape and finiteness.

    Parameters
    ----------
    name : str
        Argument name used in the error message.
    value : array_like
        The value to check.
    ndim : int or sequence of int, optional
        Allowed numbers of dimensions.
    shape : tuple of (int or None), optional
        Expected shape; ``None`` entries are free.
    dtype : numpy dtype
        Target dtype.

    Returns
    -------
    numpy.ndarray
        C-contiguous array of ``dtype``.

    Raises
    ------
    ValueError
        If the rank or shape is wrong, or the array holds NaN or inf.
    """
    try:
        arr = np.ascontiguousarray(value, dtype=dtype)
    except (TypeError, ValueError) as exc:
        raise ValueError(f"{name} must be a numeric array, got {type(value).__name__}") from exc
    if ndim is not None:
        allowed = (ndim,) if isinstance(ndim, int) else tuple(ndim)
        if arr.ndim not in allowed:
            raise ValueError(f"{name} must have {' or '.join(map(str, allowed))} dimension(s), "
                             f"got shape {arr.shape}")
    if shape is not None:
        ok = arr.ndim == len(shape) and all(s is None or s == a for s, a in zip(shape, arr.shape))
        if not ok:
            expected = "(" + ", ".join("any" if s is None else str(s) for s in shape) + ")"
            raise ValueError(f"{name} must have shape {expected}, got {arr.shape}")
    # a sum is NaN or infinite if any entry is, and needs no boolean temporary of
    # the array's size (for long input sequences that was RHEL's whole memory
    # growth); the entry-wise count runs only to word the error
    with np.errstate(over="ignore", invalid="ignore"):
        finite = bool(np.isfinite(np.sum(arr)))
    if not finite and not np.all(np.isfinite(arr)):
        bad = int(np.size(arr) - np.count_nonzero(np.isfinite(arr)))
        raise ValueError(f"{name} contains {bad} NaN or infinite value(s)")
    return arr


def check_positive(name: str, value: float, *, allow_zero: bool = False) -> float:
    """Return ``float(value)`` after checking it is finite and positive (or zero if allowed)."""
    v = float(value)
    if not np.isfinite(v) or v < 0 or (v == 0 and not allow_zero):
        need = "non-negative" if allow_zero else "positive"
        raise ValueError(f"{name} must be a finite {need} number, got {value!r}")
    return v


def check_symmetric(name: str, matrix: np.ndarray, rtol: float = 1e-12) -> None:
    """Raise ``ValueError`` unless ``matrix`` is square and symmetric to ``rtol``."""
    if matrix.ndim != 2 or matrix.shape[0] != matrix.shape[1]:
        raise ValueError(f"{name} must be a square matrix, got shape {matrix.shape}")
    scale = max(float(np.max(np.abs(matrix))), np.finfo(float).tiny)
    asym = float(np.max(np.abs(matrix - matrix.T)))
    if asym > rtol * scale:
        raise ValueError(f"{name} must be symmetric; max |M - M.T| = {asym:.3g} "
                         f"(relative {asym / scale:.3g})")


def check_positive_definite(name: str, matrix: np.ndarray) -> None:
    """Raise ``ValueError`` unless the symmetric ``matrix`` is positive definite."""
    check_symmetric(name, matrix)
    eig_min = float(np.linalg.eigvalsh(matrix).min())
    if eig_min <= 0:
        raise ValueError(f"{name} must be positive definite; smallest eigenvalue is {eig_min:.3g}")


def check_choice(value: Any, allowed: Iterable[Any], what: str) -> Any:
    """Return ``value`` if it is one of ``allowed``, else ``ValueError`` listing them.

    Parameters
    ----------
    value : object
        The value given.
    allowed : iterable
        The valid values, in the order the message lists them.
    what : str
        What the value is, for the message (e.g. ``"learning rule"``).

    Raises
    ------
    ValueError
        ``unknown <what> 'x'; valid names are: a, b``.
    """
    allowed = tuple(allowed)
    if value not in allowed:
        raise ValueError(f"unknown {what} {value!r}; valid names are: "
                         f"{', '.join(map(str, allowed))}")
    return value


def check_rng(rng: Any, who: str) -> np.random.Generator:
    """Return ``rng`` if it is a :class:`numpy.random.Generator`, else ``TypeError``.

    Parameters
    ----------
    rng : numpy.random.Generator
        The generator given.
    who : str
        What needs it, for the message (e.g. ``"Linear initialisation"``).
    """
    if not isinstance(rng, np.random.Generator):
        raise TypeError(f"{who} needs a numpy.random.Generator (e.g. "
                        f"numpy.random.default_rng(seed)), got {type(rng).__name__}")
    return rng


def available_memory() -> int | None:
    """Bytes of memory the system can give this process now (Linux ``MemAvailable``).

    Returns
    -------
    int or None
        None where the figure is not known (the caller then does not refuse anything).
    """
    try:
        with open("/proc/meminfo", encoding="ascii") as f:
            for line in f:
                if line.startswith("MemAvailable:"):
                    return int(line.split()[1]) * 1024
    except (OSError, ValueError, IndexError):
        pass
    try:
        import os  # noqa: PLC0415

        return os.sysconf("SC_AVPHYS_PAGES") * os.sysconf("SC_PAGE_SIZE")
    except (AttributeError, OSError, ValueError):
        return None


def check_fits_in_memory(n_bytes: int, what: str, remedy: str) -> None:
    """Refuse, before allocating, an array that cannot fit in the available memory.

    Parameters
    ----------
    n_bytes : int
        Size of what is about to be allocated (bytes).
    what : str
        What it is, for the message (``"recording 1000000001 states"``).
    remedy : str
        What to change, for the message.

    Raises
    ------
    ValueError
        ``"<what> needs X GiB, more than the Y GiB of memory available; <remedy>"``.
    """
    free = available_memory()
    if free is not None and n_bytes > free:
        raise ValueError(f"{what} needs {n_bytes / 2**30:.1f} GiB, more than the "
                         f"{free / 2**30:.1f} GiB of memory available; {remedy}")
