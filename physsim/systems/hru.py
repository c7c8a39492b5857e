"""Hamiltonian Recurrent Units (Pourcel & Ernoult, NeurIPS 2025, Sec. 3 and Eqs. 17-18)."""

from __future__ import annotations

from dataclasses import dataclass
from typing import ClassVar

import numpy as np

from .._kernels import hru as hk
from ..validation import as_finite_array
from .base import HamiltonianSystem, SystemKernels, ThetaField, UnitBlock

_LINEAR_KERNELS = SystemKernels.from_module(hk, prefix="lin_")
_NONLINEAR_KERNELS = SystemKernels.from_module(hk, prefix="nl_")


def _check_sizes(n_units: int, n_inputs: int) -> None:
    """Refuse unit and input counts below 1 (the arrays would be empty), naming the argument."""
    for name, value in (("n_units", n_units), ("n_inputs", n_inputs)):
        if isinstance(value, bool) or not isinstance(value, (int, np.integer)) or value < 1:
            raise ValueError(f"{name} must be a positive integer, got {value!r}")


def _check_unit_range(lo: int, hi: int, n_units: int) -> None:
    """Refuse a unit range outside ``0 <= lo < hi <= n_units``."""
    if not 0 <= lo < hi <= n_units:
        raise ValueError(f"the unit range must satisfy 0 <= lo < hi <= n_units = {n_units}, "
                         f"got lo={lo}, hi={hi}")


@dataclass(frozen=True, eq=False)
class LinearHRU(HamiltonianSystem):
    r"""Linear Hamiltonian Recurrent Unit: P independent oscillators with per-unit step.

    .. math:: H = \sum_i \Delta_i\left(\tfrac12 z_i^2 + \tfrac12 A_i y_i^2 - y_i (B u)_i\right)

    integrated with unit step (the step ``Delta_i`` lives in ``H``, so it is an
    ordinary trainable parameter with an exact gradient under every rule).
    One leapfrog step is ``y' = y + Delta z/2; z -= Delta (A y' - b); y' += Delta z/2``,
    the LinHRU recurrence of the RHEL paper.  Stable while ``Delta_i^2 A_i < 4``.

    With ``B_im`` given, the unit is complex: a second bank of P oscillators
    with the same ``A`` and ``Delta`` is driven by ``B_im u`` (the imaginary part
    of the complex projection); positions are ordered ``[real bank, imag bank]``.

    Parameters
    ----------
    A : ndarray, shape (P,)
        Squared natural frequencies (per step^2 / Delta^2), non-negative.
    step : ndarray, shape (P,)
        Per-oscillator step ``Delta_i`` (dimensionless time per sequence step), positive.
    B_re : ndarray, shape (P, m)
        Input matrix (real part).
    B_im : ndarray, shape (P, m), optional
        Imaginary part of the input matrix; makes the unit complex.
    """

    A: np.ndarray
    step: np.ndarray
    B_re: np.ndarray
    B_im: np.ndarray | None = None

    default_dt: ClassVar[float] = 1.0
    time_unit: ClassVar[str] = "steps"
    kernels: ClassVar[SystemKernels] = _LINEAR_KERNELS
    is_linear: ClassVar[bool] = True

    def __post_init__(self) -> None:
        a = as_finite_array("A", self.A, ndim=1)
        P = a.size
        if P == 0:
            raise ValueError("a LinearHRU needs at least one unit (n_units >= 1), got A of "
                             "shape (0,)")
        if np.any(a < 0):
            raise ValueError(f"A must be non-negative, got min {a.min():.3g}")
        st = as_finite_array("step", self.step, shape=(P,))
        if np.any(st <= 0):
            raise ValueError(f"step must be positive, got min {st.min():.3g}")
        b = as_finite_array("B_re", self.B_re, ndim=2)
        if b.shape[0] != P:
            raise ValueError(f"B_re must have shape ({P}, m), got {b.shape}")
        object.__setattr__(self, "A", a)
        object.__setattr__(self, "step", st)
        object.__setattr__(self, "B_re", b)
        if self.B_im is not None:
            bi = as_finite_array("B_im", self.B_im, shape=b.shape)
            object.__setattr__(self, "B_im", bi)

    @property
    def param_names(self) -> tuple[str, ...]:  # type: ignore[override]
        """``(A, step, B_re)`` or ``(A, step, B_re, B_im)`` for a complex unit."""
        return ("A", "step", "B_re") + (() if self.B_im is None else ("B_im",))

    @property
    def complex(self) -> bool:
        """True if the unit has an imaginary bank."""
        return self.B_im is not None

    @property
    def n_units(self) -> int:
        """Number of (complex) oscillators P."""
        return int(self.A.size)

    @property
    def n_dof(self) -> int:
        """Number of real positions: P, or 2P for a complex unit."""
        return self.n_units * (2 if self.complex else 1)

    @property
    def input_matrix(self) -> np.ndarray:  # type: ignore[override]
        """``B_re`` or ``[B_re; B_im]``, shape (n_dof, m)."""
        return self.B_re if self.B_im is None else np.vstack([self.B_re, self.B_im])

    def _theta_blocks(self):
        P = self.n_units
        return (ThetaField("A", (P,)), ThetaField("step", (P,)))

    def _pack_theta(self):
        return [self.A, self.step]

    def _gradient_to_params(self, g_theta, g_input_matrix):
        P = self.n_units
        out = {"A": g_theta["A"], "step": g_theta["step"], "B_re": g_input_matrix[:P]}
        if self.complex:
            out["B_im"] = g_input_matrix[P:]
        return out

    @property
    def n_independent_units(self) -> int:
        """P: the oscillators are independent (diagonal ``H``, own ``A`` and ``Delta`` each)."""
        return self.n_units

    def unit_block(self, lo: int, hi: int) -> UnitBlock:
        """Oscillators ``lo .. hi - 1`` of every bank: a smaller unit of the same kind.

        State and drive: ``[lo, hi)`` of the real bank, then of the imaginary
        one; parameters ``[A[lo:hi], Delta[lo:hi]]``.
        """
        P = self.n_units
        _check_unit_range(lo, hi, P)
        units = np.arange(lo, hi, dtype=np.int64)
        banks = 2 if self.complex else 1
        state = np.concatenate([units + bank * P for bank in range(banks)])
        return UnitBlock(state=state, drive=state.copy(), theta=np.concatenate([units, units + P]))

    def max_frequency(self) -> float:
        """Highest angular frequency per sequence step, ``max_i Delta_i sqrt(A_i)``."""
        return float(np.max(self.step * np.sqrt(self.A)))

    @classmethod
    def random(cls, n_units: int, n_inputs: int, *, complex: bool = False,
               rng: np.random.Generator | int | None = None) -> "LinearHRU":
        """The RHEL paper's initialisation: A ~ U(0,1), Delta = sigmoid(U(0,1)), B ~ U(+-1/sqrt(m)).

        Parameters
        ----------
        n_units : int
            Number of oscillators P.
        n_inputs : int
            Number of input channels m.
        complex : bool
            Give the unit an imaginary bank.
        rng : numpy.random.Generator or int, optional
            Random generator or seed.
        """
        _check_sizes(n_units, n_inputs)
        rng = np.random.default_rng(rng)
        bound = 1.0 / np.sqrt(n_inputs)
        a = rng.uniform(0.0, 1.0, n_units)
        step = 1.0 / (1.0 + np.exp(-rng.uniform(0.0, 1.0, n_units)))
        b_re = rng.uniform(-bound, bound, (n_units, n_inputs))
        b_im = rng.uniform(-bound, bound, (n_units, n_inputs)) if complex else None
        return cls(A=a, step=step, B_re=b_re, B_im=b_im)


@dataclass(frozen=True, eq=False)
class NonlinearHRU(HamiltonianSystem):
    r"""Nonlinear Hamiltonian Recurrent Unit with a log-cosh potential (RHEL paper, Eq. 18).

    .. math:: H = \delta\left(\tfrac12|z|^2 + \tfrac{\alpha}2|y|^2
              + \sum_i c_i \frac{\log\cosh(W_i y_i + (Bu)_i + b_i)}{W_i}\right)

    integrated with unit step (``delta`` lives in ``H``).  The force is
    ``-delta (alpha y + c tanh(W y + B u + b))``.

    Parameters
    ----------
    W : ndarray, shape (P,)
        Per-unit gains inside the log-cosh (non-zero).
    b : ndarray, shape (P,)
        Biases.
    c : ndarray, shape (P,)
        Per-unit amplitudes of the nonlinear term (the paper's ``sigma(sigma(c_raw))``).
    alpha : float
        Quadratic confinement, non-negative.
    step : float
        Step ``delta`` (dimensionless time per sequence step), positive.
    B : ndarray, shape (P, m)
        Input matrix.
    """

    W: np.ndarray
    b: np.ndarray
    c: np.ndarray
    alpha: float
    step: float
    B: np.ndarray

    default_dt: ClassVar[float] = 1.0
    time_unit: ClassVar[str] = "steps"
    kernels: ClassVar[SystemKernels] = _NONLINEAR_KERNELS
    param_names: ClassVar[tuple[str, ...]] = ("W", "b", "c", "alpha", "step", "B")

    def __post_init__(self) -> None:
        w = as_finite_array("W", self.W, ndim=1)
        P = w.size
        if P == 0:
            raise ValueError("a NonlinearHRU needs at least one unit (n_units >= 1), got W of "
                             "shape (0,)")
        if np.any(w == 0):
            raise ValueError("W must be non-zero (it divides the log-cosh potential)")
        object.__setattr__(self, "W", w)
        object.__setattr__(self, "b", as_finite_array("b", self.b, shape=(P,)))
        object.__setattr__(self, "c", as_finite_array("c", self.c, shape=(P,)))
        alpha = float(as_finite_array("alpha", self.alpha, ndim=(0, 1)).reshape(-1)[0])
        step = float(as_finite_array("step", self.step, ndim=(0, 1)).reshape(-1)[0])
        if alpha < 0:
            raise ValueError(f"alpha must be non-negative, got {alpha}")
        if step <= 0:
            raise ValueError(f"step must be positive, got {step}")
        object.__setattr__(self, "alpha", alpha)
        object.__setattr__(self, "step", step)
        bm = as_finite_array("B", self.B, ndim=2)
        if bm.shape[0] != P:
            raise ValueError(f"B must have shape ({P}, m), got {bm.shape}")
        object.__setattr__(self, "B", bm)

    @property
    def n_dof(self) -> int:
        """Number of units P."""
        return int(self.W.size)

    @property
    def input_matrix(self) -> np.ndarray:  # type: ignore[override]
        """The input matrix ``B``, shape (P, m)."""
        return self.B

    def _theta_blocks(self):
        P = self.n_dof
        return (ThetaField("W", (P,)), ThetaField("b", (P,)), ThetaField("c", (P,)),
                ThetaField("alpha", ()), ThetaField("step", ()))

    def _pack_theta(self):
        return [self.W, self.b, self.c, np.array(self.alpha), np.array(self.step)]

    def _gradient_to_params(self, g_theta, g_input_matrix):
        return {"W": g_theta["W"], "b": g_theta["b"], "c": g_theta["c"],
                "alpha": np.asarray(g_theta["alpha"]), "step": np.asarray(g_theta["step"]),
                "B": g_input_matrix}

    @property
    def n_independent_units(self) -> int:
        """P: the units are independent (diagonal ``H``), sharing only ``alpha`` and ``delta``."""
        return self.n_dof

    def unit_block(self, lo: int, hi: int) -> UnitBlock:
        """Units ``lo .. hi - 1``: parameters ``[W, b, c][lo:hi]``, the shared ``alpha, delta``."""
        P = self.n_dof
        _check_unit_range(lo, hi, P)
        units = np.arange(lo, hi, dtype=np.int64)
        shared = np.array([3 * P, 3 * P + 1], dtype=np.int64)  # alpha, delta
        return UnitBlock(state=units, drive=units.copy(),
                         theta=np.concatenate([units, units + P, units + 2 * P, shared]))

    def max_frequency(self) -> float:
        """Bound on the angular frequency per step: ``delta sqrt(alpha + max|c W|)``."""
        return float(self.step * np.sqrt(self.alpha + np.max(np.abs(self.c * self.W))))

    @classmethod
    def random(cls, n_units: int, n_inputs: int, *, step: float = 1e-4,
               rng: np.random.Generator | int | None = None) -> "NonlinearHRU":
        """The RHEL paper's initialisation (W ~ U(0.5,1), b = 0, c = sigma(sigma(U(-1,1))),
        alpha ~ U(0.1,1), B ~ U(+-1/sqrt(m)), step 1e-4 by default)."""
        _check_sizes(n_units, n_inputs)
        rng = np.random.default_rng(rng)

        def sigmoid(x):
            return 1.0 / (1.0 + np.exp(-x))

        bound = 1.0 / np.sqrt(n_inputs)
        return cls(W=rng.uniform(0.5, 1.0, n_units), b=np.zeros(n_units),
                   c=sigmoid(sigmoid(rng.uniform(-1.0, 1.0, n_units))),
                   alpha=float(rng.uniform(0.1, 1.0)), step=step,
                   B=rng.uniform(-bound, bound, (n_units, n_inputs)))
