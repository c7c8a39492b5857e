"""The system plug: a separable, time-reversal-symmetric Hamiltonian and its kernels."""

from __future__ import annotations

import abc
import functools
from dataclasses import dataclass, fields
from typing import Any, Callable, ClassVar

import numpy as np

from .._kernels.signatures import (ADJOINT_CALLBACKS, ALL_CALLBACKS, KINETIC_CALLBACKS,
                                   PAIR_CALLBACKS, SIMULATION_CALLBACKS, callback_types,
                                   exact_callback)


@dataclass(frozen=True)
class UnitBlock:
    """Indices of a block of independent units (:meth:`HamiltonianSystem.unit_block`).

    Attributes
    ----------
    state : ndarray, shape (n_state,), int64
        Positions (and momenta) of the block, in the order the block's callbacks
        take them.
    drive : ndarray, shape (n_drive,), int64
        Drive channels of the block, in that order.
    theta : ndarray, shape (n_theta,), int64
        Packed parameters of the block, in that order; parameters shared by all
        units appear in every block.
    """

    state: np.ndarray
    drive: np.ndarray
    theta: np.ndarray


@dataclass(frozen=True)
class SystemKernels:
    """The numba callbacks that define a system's physics.

    Each attribute is an ``@numba.njit`` function on plain 1-D arrays with the
    signature listed in :mod:`physsim._kernels.signatures`:

    - ``grad_kinetic(p, theta, out)``: ``out = dT/dp``
    - ``grad_potential(q, d, theta, out)``: ``out = dV/dq``
    - ``kinetic(p, theta)`` and ``potential(q, d, theta)``: energies
    - ``theta_grad_kinetic(p, theta, w, out)``: ``out += w dT/dtheta``
    - ``theta_grad_potential(q, d, theta, w, out)``: ``out += w dV/dtheta``
    - ``drive_grad_potential(q, d, theta, w, out)``: ``out += w dV/dd``
    - ``hvp_kinetic(p, theta, v, out)``: ``out = T''(p) v``
    - ``hvp_potential(q, d, theta, v, out)``: ``out = V''(q) v``
    - ``theta_vjp_kinetic(p, theta, v, w, out)``: ``out += w d(v.dT/dp)/dtheta``
    - ``theta_vjp_potential(q, d, theta, v, w, out)``: ``out += w d(v.dV/dq)/dtheta``
    - ``drive_vjp_potential(q, d, theta, v, w, out)``: ``out += w d(v.dV/dq)/dd``

    ``q, p`` are positions and momenta (n,), ``d`` the drive (n_drive,),
    ``theta`` the packed parameters (n_theta,), all of the state dtype.  The
    last five are needed only by the BPTT reference; leave them ``None`` if a
    system cannot provide them.

    Optional *pair callbacks* (all five or none) let centred RHEL on the ideal
    device run its two echoes as one pair in mean / half-difference
    coordinates ``xm = (x+ + x-)/2``, ``xd = (x+ - x-)/2`` (the paired echo
    loop, :mod:`physsim._kernels.paired`), whose differences do not cancel:

    - ``pair_grad_kinetic(pm, pd, theta, out_mean, out_half)``:
      ``out_mean, out_half = [T'(pm+pd) +- T'(pm-pd)] / 2``
    - ``pair_grad_potential(qm, qd, d, theta, out_mean, out_half)``: the same
      for ``dV/dq(qm +- qd, d)``
    - ``pair_theta_grad_kinetic(pm, pd, theta, w, out)``:
      ``out += w [dT/dtheta(pm+pd) - dT/dtheta(pm-pd)]``
    - ``pair_theta_grad_potential(qm, qd, d, theta, w, out)``:
      ``out += w [dV/dtheta(qm+qd, d) - dV/dtheta(qm-qd, d)]``
    - ``pair_drive_grad_potential(qm, qd, d, theta, w, out)``:
      ``out += w [dV/dd(qm+qd, d) - dV/dd(qm-qd, d)]``

    ``out_half`` and the three differences must be accurate relative to their
    own size, not to the size of the two terms (see
    :mod:`physsim._kernels.signatures`).  A system without them runs the
    ordinary two-trajectory echo loop.
    """

    grad_kinetic: Callable
    grad_potential: Callable
    kinetic: Callable
    potential: Callable
    theta_grad_kinetic: Callable
    theta_grad_potential: Callable
    drive_grad_potential: Callable
    hvp_kinetic: Callable | None = None
    hvp_potential: Callable | None = None
    theta_vjp_kinetic: Callable | None = None
    theta_vjp_potential: Callable | None = None
    drive_vjp_potential: Callable | None = None
    pair_grad_kinetic: Callable | None = None
    pair_grad_potential: Callable | None = None
    pair_theta_grad_kinetic: Callable | None = None
    pair_theta_grad_potential: Callable | None = None
    pair_drive_grad_potential: Callable | None = None

    def __post_init__(self) -> None:
        for name in SIMULATION_CALLBACKS:
            if getattr(self, name) is None:
                raise ValueError(f"SystemKernels.{name} is required")
        given = [name for name in PAIR_CALLBACKS if getattr(self, name) is not None]
        if given and len(given) != len(PAIR_CALLBACKS):
            missing = [name for name in PAIR_CALLBACKS if name not in given]
            raise ValueError(f"SystemKernels: pair callbacks come all five or none; "
                             f"{', '.join(given)} given, {', '.join(missing)} missing")

    @classmethod
    def from_module(cls, module: Any, prefix: str = "",
                    kinetic_prefix: str | None = None) -> SystemKernels:
        """The callbacks a module defines under the callback names, with a common prefix.

        Parameters
        ----------
        module : module or any object with attributes
            Holds ``prefix + name`` for every callback name of this class
            (e.g. ``lin_grad_kinetic`` with ``prefix="lin_"``); the pair
            callbacks are optional (e.g. ``nl_pair_grad_potential``,
            ``diag_pair_grad_kinetic``) and taken when present.
        prefix : str
            Prefix of every callback name.
        kinetic_prefix : str, optional
            Prefix of the kinetic-energy callbacks instead, for a module that offers one
            potential and several kinetic energies (e.g. ``"diag_"`` or ``"dense_"``).

        Raises
        ------
        AttributeError
            If the module lacks one of the required callbacks (its full name is in the
            message).
        ValueError
            If it defines some but not all of the pair callbacks.
        """
        kin = prefix if kinetic_prefix is None else kinetic_prefix

        def full_name(name: str) -> str:
            return (kin if name in KINETIC_CALLBACKS else prefix) + name

        return cls(**{name: getattr(module, full_name(name)) for name in ALL_CALLBACKS},
                   **{name: getattr(module, full_name(name), None) for name in PAIR_CALLBACKS})

    @property
    def has_adjoint(self) -> bool:
        """True if every callback the BPTT reference needs is present."""
        return all(getattr(self, name) is not None for name in ADJOINT_CALLBACKS)

    @property
    def has_pairs(self) -> bool:
        """True if the system offers the pair callbacks of the paired echo loop."""
        return all(getattr(self, name) is not None for name in PAIR_CALLBACKS)

    def missing_adjoint(self) -> list[str]:
        """Names of the adjoint callbacks that are missing."""
        return [name for name in ADJOINT_CALLBACKS if getattr(self, name) is None]

    def typed(self, dtype: Any) -> SystemKernels:
        """These kernels, each compiled for exactly its callback signature in ``dtype``.

        The compiled loops take the callbacks as typed first-class functions;
        this makes sure each one has an overload of that exact type (see
        :func:`physsim._kernels.signatures.exact_callback`), whatever the
        kernels were called with before.

        Parameters
        ----------
        dtype : numpy dtype
            State dtype, float64 or float32.

        Returns
        -------
        SystemKernels
        """
        return _typed_kernels(self, np.dtype(dtype).str)


@functools.lru_cache(maxsize=128)
def _typed_kernels(kernels: SystemKernels, dtype_str: str) -> SystemKernels:
    # cached: every run calls this, and the signature checks cost about a millisecond;
    # once an exact overload exists it stays, so the answer cannot change
    from numba import from_dtype

    ftypes = callback_types(from_dtype(np.dtype(dtype_str)))
    bound = {}
    for name in ALL_CALLBACKS + PAIR_CALLBACKS:
        kernel = getattr(kernels, name)
        bound[name] = None if kernel is None else exact_callback(kernel, ftypes[name], name)
    return SystemKernels(**bound)


@dataclass(frozen=True)
class ThetaField:
    """One named block of the packed parameter vector seen by the kernels.

    Attributes
    ----------
    name : str
        Block name (kernel-side; e.g. ``inverse_mass``).
    shape : tuple of int
        Shape of the block.
    symmetric : bool
        The block is a symmetric matrix whose entries are not independent:
        gradients with respect to it are symmetrised.
    """

    name: str
    shape: tuple[int, ...]
    symmetric: bool = False

    @property
    def size(self) -> int:
        """Number of scalars in the block."""
        return int(np.prod(self.shape, dtype=np.int64))


class HamiltonianSystem(abc.ABC):
    r"""Base class of separable Hamiltonians :math:`H = T(p; \theta) + V(q; \theta, d)`.

    ``H`` must be even in ``p`` (time-reversal symmetric) and the drive enters
    only the potential, through the input matrix: :math:`d_k = B u_k`.

    A subclass provides

    - ``kernels``: a :class:`SystemKernels` (class attribute);
    - ``param_names``: the user-facing named parameters (class attribute);
    - :meth:`_theta_blocks` and :meth:`_pack_theta`: how named parameters map
      to the packed vector ``theta`` seen by the kernels;
    - :meth:`_gradient_to_params`: the chain rule back from
      (dL/dtheta, dL/dB) to the named parameters;
    - :meth:`max_frequency`: the highest angular frequency of small
      oscillations, used to refuse time steps beyond leapfrog's stability
      limit ``dt * omega_max < 2``.

    Systems are immutable; :meth:`replace` returns a copy with new parameters.

    Examples
    --------
    A user-defined system (a single pendulum, :math:`V = -g\cos q - d q`)::

        from numba import njit
        import numpy as np
        from physsim.systems import HamiltonianSystem, SystemKernels

        @njit(cache=True)
        def grad_t(p, theta, out):
            out[:] = p
        ...  # the other callbacks, see tests/test_user_system.py

        class Pendulum(HamiltonianSystem):
            kernels = SystemKernels(grad_kinetic=grad_t, ...)
            param_names = ("gravity", "input_matrix")
            ...
    """

    kernels: ClassVar[SystemKernels]
    #: Subclasses provide ``input_matrix``, shape (n_drive, n_inputs): the drive is
    #: ``d = input_matrix @ u`` (an attribute, a dataclass field or a property).
    input_matrix: np.ndarray
    param_names: ClassVar[tuple[str, ...]]
    #: Default integrator step for this system (None: the caller must choose).
    default_dt: ClassVar[float | None] = None
    #: Unit of time (for docs and plots), e.g. "s" or "steps".
    time_unit: ClassVar[str] = "s"
    #: True if V is quadratic in q and T in p (RHEL is then exact for any nudge size).
    is_linear: ClassVar[bool] = False

    # ------------------------------------------------------- independent units
    @property
    def n_independent_units(self) -> int:
        """Number of independent units the system splits into (0: it does not split).

        A system whose Hamiltonian is a sum of terms of disjoint groups of
        degrees of freedom (its *units*, coupled only through parameters they
        share, such as a common step) overrides this and :meth:`unit_block`; the
        passes then run groups of units on different threads even for a batch
        of one (see :mod:`physsim._blocks`, unit blocks).
        """
        return 0

    def unit_block(self, lo: int, hi: int) -> UnitBlock:
        """Where units ``lo .. hi - 1`` live in the state, drive and packed parameters.

        The callbacks called with the block's positions, momenta, drives and
        parameters (``theta[block.theta]``) must compute exactly the block's
        entries of what they compute for the whole system: the block looks like
        a smaller system of the same kind.  Parameters shared by all units are
        listed in every block; their read-outs are summed over the blocks.

        Parameters
        ----------
        lo, hi : int
            Unit range, ``0 <= lo < hi <= n_independent_units``.

        Returns
        -------
        UnitBlock
        """
        raise NotImplementedError(f"{type(self).__name__} does not split into independent "
                                  f"units (n_independent_units is 0)")

    # ------------------------------------------------------------------ sizes
    @property
    @abc.abstractmethod
    def n_dof(self) -> int:
        """Number of positions (= number of momenta)."""

    @property
    def n_inputs(self) -> int:
        """Number of input channels ``m`` (columns of the input matrix)."""
        return int(self.input_matrix.shape[1])

    @property
    def n_drive(self) -> int:
        """Number of drive channels (rows of the input matrix)."""
        return int(self.input_matrix.shape[0])

    # ------------------------------------------------------------ parameters
    @property
    def params(self) -> dict[str, np.ndarray]:
        """Named parameters (copies), keyed by :attr:`param_names`."""
        return {name: np.array(getattr(self, name), dtype=float) for name in self.param_names}

    def replace(self, **changes: Any) -> "HamiltonianSystem":
        """Return a copy of this system with some named parameters replaced."""
        kwargs = self.constructor_fields()
        unknown = set(changes) - set(kwargs)
        if unknown:
            raise ValueError(f"unknown parameter(s) {sorted(unknown)} for {type(self).__name__}; "
                             f"valid names are: {', '.join(kwargs)}")
        kwargs.update(changes)
        return type(self)(**kwargs)

    def constructor_fields(self) -> dict[str, Any]:
        """The keyword arguments that rebuild this system: ``type(self)(**fields)``.

        :meth:`replace` and the run files (:mod:`physsim.storage`) rebuild a
        system this way.  The default takes the dataclass fields accepted by
        the constructor; a system that is not a dataclass overrides it.

        Returns
        -------
        dict of str to Any
            Constructor argument name -> current value (arrays are not copied).
        """
        return {f.name: getattr(self, f.name)
                for f in fields(self) if f.init}  # type: ignore[arg-type]

    @abc.abstractmethod
    def _theta_blocks(self) -> tuple[ThetaField, ...]:
        """Layout of the packed parameter vector."""

    @abc.abstractmethod
    def _pack_theta(self) -> list[np.ndarray]:
        """Blocks of ``theta`` in the order of :meth:`_theta_blocks` (float64)."""

    @abc.abstractmethod
    def _gradient_to_params(self, g_theta: dict[str, np.ndarray],
                            g_input_matrix: np.ndarray) -> dict[str, np.ndarray]:
        """Chain rule from kernel-side gradients to the named parameters."""

    @property
    def theta_layout(self) -> tuple[ThetaField, ...]:
        """The named blocks of the packed parameter vector ``theta``, in kernel order.

        Block ``i`` occupies ``theta[o_i : o_i + layout[i].size]`` (row-major), with
        ``o_i`` the sum of the sizes before it.
        """
        return self._theta_blocks()

    def pack_theta(self, dtype=np.float64) -> np.ndarray:
        """Packed parameter vector for the kernels, shape (n_theta,), given dtype."""
        blocks = self._pack_theta()
        layout = self.theta_layout
        for blk, arr in zip(layout, blocks):
            if arr.size != blk.size:
                raise RuntimeError(f"{type(self).__name__}: theta block {blk.name} has "
                                   f"{arr.size} values, layout says {blk.size}")
        flat = np.concatenate([np.ravel(b) for b in blocks]) if blocks else np.zeros(0)
        return np.ascontiguousarray(flat, dtype=dtype)

    def unpack_theta(self, flat: np.ndarray) -> dict[str, np.ndarray]:
        """Split a packed vector (n_theta,) into named blocks of their shapes."""
        out, offset = {}, 0
        for blk in self.theta_layout:
            out[blk.name] = np.asarray(flat[offset:offset + blk.size]).reshape(blk.shape)
            offset += blk.size
        if offset != flat.shape[-1]:
            raise ValueError(f"packed vector has {flat.shape[-1]} values, expected {offset}")
        return out

    def gradient_to_params(self, g_theta_flat: np.ndarray,
                           g_input_matrix: np.ndarray) -> dict[str, np.ndarray]:
        """Named-parameter gradients from a packed ``dL/dtheta`` and ``dL/dB``.

        Parameters
        ----------
        g_theta_flat : ndarray, shape (n_theta,)
            Gradient with respect to the packed vector.
        g_input_matrix : ndarray, shape (n_drive, n_inputs)
            Gradient with respect to the input matrix.

        Returns
        -------
        dict of str to ndarray
            One entry per :attr:`param_names`, shaped like the parameter.
        """
        return self._gradient_to_params(self.unpack_theta(np.asarray(g_theta_flat, float)),
                                        np.asarray(g_input_matrix, float))

    # --------------------------------------------------------------- physics
    @abc.abstractmethod
    def max_frequency(self) -> float:
        """Upper bound of the angular frequencies of small oscillations (rad per time unit)."""

    def describe(self) -> dict[str, Any]:
        """JSON-able description: class name and sizes (parameters are stored separately)."""
        return {"system": type(self).__name__, "n_dof": self.n_dof,
                "n_inputs": self.n_inputs, "n_drive": self.n_drive}

    def energy(self, q: np.ndarray, p: np.ndarray, u: np.ndarray | None = None) -> np.ndarray:
        """Total energy ``H(q, p; u)`` of one or many states.

        Parameters
        ----------
        q, p : ndarray, shape (..., n_dof)
            Positions and momenta.
        u : ndarray, shape (..., n_inputs), optional
            Inputs (zero if omitted).

        Returns
        -------
        ndarray, shape (...)
            Energy in the system's energy unit.
        """
        q = np.asarray(q, float)
        p = np.asarray(p, float)
        theta = self.pack_theta()
        lead = q.shape[:-1]
        qf = np.ascontiguousarray(q.reshape(-1, self.n_dof))
        pf = np.ascontiguousarray(p.reshape(-1, self.n_dof))
        if u is None:
            d = np.zeros((qf.shape[0], self.n_drive))
        else:
            d = np.ascontiguousarray(
                np.broadcast_to(np.asarray(u, float),
                                lead + (self.n_inputs,)).reshape(-1, self.n_inputs)
                @ self.input_matrix.T)
        e = np.array([self.kernels.kinetic(pf[i], theta)
                      + self.kernels.potential(qf[i], d[i], theta)
                      for i in range(qf.shape[0])])
        return e.reshape(lead)
