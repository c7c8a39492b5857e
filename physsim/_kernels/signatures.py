"""Numba types of the system callbacks and of the time-loop kernels.

Every system exposes its physics as a set of small ``@njit`` functions on plain
1-D arrays (the *kernel interface*, documented in
:class:`physsim.systems.HamiltonianSystem`).  The time-loop kernels receive
them as first-class functions typed ``numba.types.FunctionType(signature)``.
Typing them by signature (not by the identity of the dispatcher) is what lets
the loops be compiled once, cached on disk (``cache=True``) and reused by
every system, built-in or user-defined.

Conventions of the callbacks (``a1`` is a C-contiguous 1-D array of the state
dtype, ``s`` a scalar of the state dtype):

============================  ==============================  ===================================
name                          signature                       meaning
============================  ==============================  ===================================
``grad_kinetic``              ``(p, theta, out)``             ``out = dT/dp``
``grad_potential``            ``(q, d, theta, out)``          ``out = dV/dq``
``kinetic``                   ``(p, theta) -> s``             ``T(p)``
``potential``                 ``(q, d, theta) -> s``          ``V(q, d)``
``theta_grad_kinetic``        ``(p, theta, w, out)``          ``out += w * dT/dtheta``
``theta_grad_potential``      ``(q, d, theta, w, out)``       ``out += w * dV/dtheta``
``drive_grad_potential``      ``(q, d, theta, w, out)``       ``out += w * dV/dd``
``hvp_kinetic``               ``(p, theta, v, out)``          ``out = (d2T/dp2) v``
``hvp_potential``             ``(q, d, theta, v, out)``       ``out = (d2V/dq2) v``
``theta_vjp_kinetic``         ``(p, theta, v, w, out)``       ``out += w * d/dtheta (v . dT/dp)``
``theta_vjp_potential``       ``(q, d, theta, v, w, out)``    ``out += w * d/dtheta (v . dV/dq)``
``drive_vjp_potential``       ``(q, d, theta, v, w, out)``    ``out += w * d/dd (v . dV/dq)``
============================  ==============================  ===================================

Optional *pair callbacks* (all five or none; see :data:`PAIR_CALLBACKS`) let the
paired echo loop (:mod:`physsim._kernels.paired`) carry two echoes in mean /
half-difference coordinates ``xm = (x+ + x-)/2``, ``xd = (x+ - x-)/2``:

==============================  ======================================  ==========================
name                            signature                               meaning
==============================  ======================================  ==========================
``pair_grad_kinetic``           ``(pm, pd, theta, out_mean, out_half)``  mean and half-difference
                                                                        of ``dT/dp(pm +- pd)``
``pair_grad_potential``         ``(qm, qd, d, theta, out_mean,``        the same for
                                ``out_half)``                           ``dV/dq(qm +- qd, d)``
``pair_theta_grad_kinetic``     ``(pm, pd, theta, w, out)``             ``out += w [dT/dtheta(+)
                                                                        - dT/dtheta(-)]``
``pair_theta_grad_potential``   ``(qm, qd, d, theta, w, out)``          ``out += w [dV/dtheta(+)
                                                                        - dV/dtheta(-)]``
``pair_drive_grad_potential``   ``(qm, qd, d, theta, w, out)``          ``out += w [dV/dd(+)
                                                                        - dV/dd(-)]``
==============================  ======================================  ==========================

``out_half`` and the three read-out differences (full differences, not halves)
must be accurate to a few ulps relative to their own size (sums over units:
relative to the sum of their terms' magnitudes) for any ``|qd|`` from the
smallest normal number up to ``|qm|``: they are computed with formulas that do
not cancel (e.g. ``tanh a - tanh b = sinh(a - b) / (cosh a cosh b)``), never as
the difference of two evaluations.  ``out_mean`` needs ordinary accuracy.

``d`` is the *drive*: the input projected by the system's input matrix,
``d_k = B u_k``; the loops project it from the step's input row
(:func:`physsim._kernels.steps.project_drive`), the callbacks only see ``d``.
"""

from __future__ import annotations

import numba
from numba import types
from numba.core import errors
from numba.core.registry import CPUDispatcher

#: Callback names every system must provide for simulation and RHEL.
SIMULATION_CALLBACKS = (
    "grad_kinetic",
    "grad_potential",
    "kinetic",
    "potential",
    "theta_grad_kinetic",
    "theta_grad_potential",
    "drive_grad_potential",
)
#: Extra callbacks the BPTT reference (discrete adjoint) needs.
ADJOINT_CALLBACKS = (
    "hvp_kinetic",
    "hvp_potential",
    "theta_vjp_kinetic",
    "theta_vjp_potential",
    "drive_vjp_potential",
)
ALL_CALLBACKS = SIMULATION_CALLBACKS + ADJOINT_CALLBACKS
#: Optional callbacks of the paired echo loop (mean / half-difference coordinates);
#: a system offers all five or none.
PAIR_CALLBACKS = (
    "pair_grad_kinetic",
    "pair_grad_potential",
    "pair_theta_grad_kinetic",
    "pair_theta_grad_potential",
    "pair_drive_grad_potential",
)
#: The callbacks of the kinetic energy T(p; theta); the others belong to V(q; theta, d).
KINETIC_CALLBACKS = tuple(name for name in ALL_CALLBACKS + PAIR_CALLBACKS
                          if name.endswith("kinetic"))


def array(dtype, ndim: int) -> types.Array:
    """C-contiguous numba array type of ``dtype`` and ``ndim`` dimensions."""
    return types.Array(dtype, ndim, "C")


def callback_types(dtype) -> dict[str, types.FunctionType]:
    """Numba ``FunctionType`` of every callback, for one state dtype.

    Parameters
    ----------
    dtype : numba scalar type
        ``numba.float64`` or ``numba.float32``.

    Returns
    -------
    dict of str to numba.types.FunctionType
        Keys are the callback names of the module docstring (the pair
        callbacks included) plus ``hook``
        (hardware per-step perturbation) and ``cotangent`` (loss gradient
        source of the echo passes).
    """
    a1 = array(dtype, 1)
    a2 = array(dtype, 2)
    s = dtype
    void = types.void
    ft = types.FunctionType
    return {
        "grad_kinetic": ft(void(a1, a1, a1)),
        "grad_potential": ft(void(a1, a1, a1, a1)),
        "kinetic": ft(s(a1, a1)),
        "potential": ft(s(a1, a1, a1)),
        "theta_grad_kinetic": ft(void(a1, a1, s, a1)),
        "theta_grad_potential": ft(void(a1, a1, a1, s, a1)),
        "drive_grad_potential": ft(void(a1, a1, a1, s, a1)),
        "hvp_kinetic": ft(void(a1, a1, a1, a1)),
        "hvp_potential": ft(void(a1, a1, a1, a1, a1)),
        "theta_vjp_kinetic": ft(void(a1, a1, a1, s, a1)),
        "theta_vjp_potential": ft(void(a1, a1, a1, a1, s, a1)),
        "drive_vjp_potential": ft(void(a1, a1, a1, a1, s, a1)),
        "pair_grad_kinetic": ft(void(a1, a1, a1, a1, a1)),
        "pair_grad_potential": ft(void(a1, a1, a1, a1, a1, a1)),
        "pair_theta_grad_kinetic": ft(void(a1, a1, a1, s, a1)),
        "pair_theta_grad_potential": ft(void(a1, a1, a1, a1, s, a1)),
        "pair_drive_grad_potential": ft(void(a1, a1, a1, a1, s, a1)),
        # hook(q, p, hw_params[float64], key[int64], trajectory, step)
        "hook": ft(void(a1, a1, array(types.float64, 1), array(types.int64, 1), types.int64,
                        types.int64)),
        # cotangent(q, state_index, aux_of_trajectory, aux_shared, out)
        "cotangent": ft(void(a1, types.int64, a2, a2, a1)),
    }


# Dispatchers with an overload of exactly a callback signature, by
# (id(dispatcher), signature).  The value keeps the dispatcher alive so its id
# cannot be reused.
_EXACT: dict = {}


def exact_callback(dispatcher, ftype: types.FunctionType, name: str = "callback"):
    """A dispatcher whose overload for ``ftype``'s argument types has its return type.

    Numba keeps one overload per argument types.  If a scalar-returning kernel
    such as ``kinetic`` was first called from Python with float32 arrays, numba
    inferred its return type (float64 when the kernel accumulates into
    ``0.0``) and a compiled loop that expects ``float32(...)`` then refuses the
    dispatcher.  This compiles the exact signature up front and, when an
    overload with another return type already exists, uses a twin dispatcher of
    the same Python function, so the result never depends on call order.

    Parameters
    ----------
    dispatcher : numba.core.registry.CPUDispatcher
        An ``@njit`` kernel.
    ftype : numba.types.FunctionType
        Its callback type, from :func:`callback_types`.
    name : str
        Callback name, for error messages.

    Returns
    -------
    numba.core.registry.CPUDispatcher
        ``dispatcher`` itself or its twin.

    Raises
    ------
    TypeError
        If the kernel is not an ``@njit`` function or does not compile for the
        signature.
    """
    if not isinstance(dispatcher, CPUDispatcher):
        raise TypeError(f"the {name} kernel must be a numba @njit function, got "
                        f"{type(dispatcher).__name__}")
    sig = ftype.signature
    key = (id(dispatcher), sig)
    hit = _EXACT.get(key)
    if hit is not None:
        return hit[1]
    args = tuple(sig.args)
    try:
        existing = dispatcher.overloads.get(args)
        if existing is None:
            dispatcher.compile(sig)
            existing = dispatcher.overloads[args]
        result = dispatcher
        if existing.signature.return_type != sig.return_type:
            result = numba.njit(sig, cache=False)(dispatcher.py_func)
    except errors.TypingError as exc:
        raise TypeError(f"the {name} kernel {dispatcher.py_func.__qualname__} does not compile "
                        f"for the callback signature {sig}: {exc}") from None
    _EXACT[key] = (dispatcher, result)
    return result
