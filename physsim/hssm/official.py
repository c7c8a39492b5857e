"""Parameters of the official RHEL implementation, loaded by name into physsim's layers.

The official code (Pourcel & Ernoult, ``github.com/guillaumepourcel/rhel``, JAX and
Equinox; ``models/LinHRU.py`` and ``models/NonlinHRU.py``) stores an HRU layer's
parameters under these names and layouts; physsim's :class:`~physsim.hssm.layers.HRULayer`
uses the raw names of its module table:

=====================  ===========================  =================================
official               layout                       physsim raw parameter
=====================  ===========================  =================================
LinHRU ``A_diag``      (P,), ``A = relu(A_diag)``   ``A_raw`` (same map)
LinHRU ``steps``       (P,), ``sigmoid(steps)``     ``steps_raw`` (same map)
LinHRU ``B``           (P, H, 2): real, imaginary   ``B_re``, ``B_im`` (P, H)
LinHRU ``C``           (H, P, 2): real, imaginary   ``C_re``, ``C_im`` (H, P)
NonlinHRU ``W_diag``   (P,)                         ``W``
NonlinHRU ``b``        (P,)                         ``b``
NonlinHRU ``c``        (P,), ``sigmoid(sigmoid)``   ``c_raw`` (same map)
NonlinHRU ``alpha``    (1,), used as is             ``alpha_raw`` (relu; must be >= 0)
NonlinHRU ``step``     (1,), raw ``delta``          ``log_step = log(step)`` or ``step``
NonlinHRU ``B``, ``C`` (P, H), (H, P), real         ``B``, ``C``
both ``D``             (H,)                         ``D``
=====================  ===========================  =================================

A real LinHRU (the official ``complex_ssm = False``) uses only the real parts
``[..., 0]`` of ``B`` and ``C``.  A whole model (:func:`hssm_from_official`) also maps
``linear_encoder.{weight,bias}`` -> ``encoder.*``, ``blocks.<i>.glu.w1.{weight,bias}``
-> ``blocks.<i>.glu.{weight1,bias1}`` (``w2`` likewise), ``blocks.<i>.ssm.<name>`` ->
``blocks.<i>.hru.<physsim name>`` and ``linear_layer.{weight,bias}`` ->
``readout.{weight,bias}``; Equinox and physsim both store a linear map's weight as
(out, in).  Batch norm has no trainable parameters in either.

Dynamics: the LinHRU step is the same map in both codes.  The official NonlinHRU kicks
at the *start-of-step* position (``z -= step dV/dy(y)`` before the half drifts are
combined), which is neither symplectic nor time-reversible; physsim's leapfrog kicks
at the half-step position (RHEL paper, Def. A.3).  The two trajectories differ by
``O(step^2)`` per step; at step 1e-4 the BPTT gradients of W and alpha differ by 1.9e-3
and 1.7e-2 (``max|difference| / max|gradient|``, 64 units, 1000 steps), at step 1e-2
every tensor by 1e-2 to 2e-2.  To reproduce the official forward pass and BPTT
gradients exactly, give the layer ``integrator="official_nonlinear_hru"``
(:class:`physsim.integrators.OfficialNonlinearHRUStep`); RHEL refuses that integrator.
"""

from __future__ import annotations

from typing import Any

import numpy as np

from ..validation import check_choice
from .layers import STEP_PARAMETRIZATIONS, HRULayer
from .model import HSSM, HSSMConfig

#: Official parameter names of each layer kind.
OFFICIAL_NAMES = {"linear": ("A_diag", "steps", "B", "C", "D"),
                  "nonlinear": ("W_diag", "b", "c", "alpha", "step", "B", "C", "D")}


def hru_arrays_from_official(kind: str, arrays: dict[str, Any], *, complex: bool = True,
                             step_parametrization: str = "log") -> dict[str, np.ndarray]:
    """physsim raw HRU parameters from the official layer's arrays.

    Parameters
    ----------
    kind : {"linear", "nonlinear"}
        ``LinHRULayer`` or ``NonlinHRULayer``.
    arrays : dict of str to array_like
        The official layer's arrays by name (see the module table).
    complex : bool, default True
        Linear only: the official ``complex_ssm`` (False keeps the real parts).
    step_parametrization : {"log", "raw"}, default "log"
        Nonlinear only: store the step as ``log_step`` or as ``step``.

    Returns
    -------
    dict of str to ndarray
        Arrays for :meth:`physsim.hssm.layers.HRULayer.from_arrays`.

    Raises
    ------
    KeyError
        If a name is missing or unknown (the message lists the expected names).
    ValueError
        For a wrong layout, a negative ``alpha`` or a non-positive ``step``.
    """
    if kind not in OFFICIAL_NAMES:
        raise ValueError(f"unknown HRU kind {kind!r}; valid kinds are: "
                         f"{', '.join(OFFICIAL_NAMES)}")
    given = {k: np.asarray(v, dtype=np.float64) for k, v in arrays.items()}
    expected = set(OFFICIAL_NAMES[kind])
    if set(given) != expected:
        raise KeyError(f"official {kind} HRU arrays: missing {sorted(expected - set(given))}, "
                       f"unknown {sorted(set(given) - expected)}")
    if kind == "linear":
        for name in ("B", "C"):
            if given[name].ndim != 3 or given[name].shape[2] != 2:
                raise ValueError(f"official LinHRU {name!r} must have layout (.., .., 2) "
                                 f"(real, imaginary), got shape {given[name].shape}")
        out = {"A_raw": given["A_diag"], "steps_raw": given["steps"],
               "B_re": given["B"][..., 0], "C_re": given["C"][..., 0], "D": given["D"]}
        if complex:
            out.update(B_im=given["B"][..., 1], C_im=given["C"][..., 1])
        return out
    alpha = given["alpha"].reshape(-1)
    step = given["step"].reshape(-1)
    if alpha.size != 1 or step.size != 1:
        raise ValueError(f"official NonlinHRU 'alpha' and 'step' must hold one value, got "
                         f"shapes {given['alpha'].shape} and {given['step'].shape}")
    if alpha[0] < 0:
        raise ValueError(f"official NonlinHRU 'alpha' must be >= 0 (physsim's unit refuses "
                         f"a negative confinement), got {alpha[0]}")
    if not step[0] > 0:
        raise ValueError(f"official NonlinHRU 'step' must be positive, got {step[0]}")
    check_choice(step_parametrization, STEP_PARAMETRIZATIONS, "step parametrization")
    out = {"W": given["W_diag"], "b": given["b"], "c_raw": given["c"], "alpha_raw": alpha,
           "B": given["B"], "C": given["C"], "D": given["D"]}
    if step_parametrization == "log":
        out["log_step"] = np.log(step)
    else:
        out["step"] = step
    return out


def hru_layer_from_official(kind: str, arrays: dict[str, Any], *, complex: bool = True,
                            step_parametrization: str = "log", **settings) -> HRULayer:
    """An :class:`~physsim.hssm.layers.HRULayer` from the official layer's arrays.

    Parameters
    ----------
    kind, arrays, complex, step_parametrization
        As in :func:`hru_arrays_from_official`.
    **settings
        Keyword settings of :meth:`HRULayer.from_arrays` (``rule``, ``eps``,
        ``integrator``, ``dtype``, ...).

    Returns
    -------
    HRULayer
    """
    return HRULayer.from_arrays(kind, hru_arrays_from_official(
        kind, arrays, complex=complex, step_parametrization=step_parametrization), **settings)


def hssm_from_official(config: HSSMConfig, arrays: dict[str, Any]) -> HSSM:
    """A whole :class:`~physsim.hssm.model.HSSM` from the official model's arrays.

    Parameters
    ----------
    config : HSSMConfig
        Architecture matching the official model (``hru``, ``complex``, ``n_blocks``,
        ``hidden``, ``units``, ``task``, ``step_parametrization``, ...).
    arrays : dict of str to array_like
        Flat official names: ``linear_encoder.weight``, ``linear_encoder.bias``,
        ``blocks.<i>.ssm.<name>`` (module table), ``blocks.<i>.glu.w1.weight``,
        ``blocks.<i>.glu.w1.bias``, ``blocks.<i>.glu.w2.*``, ``linear_layer.weight``,
        ``linear_layer.bias``.

    Returns
    -------
    HSSM
        Built by :meth:`HSSM.from_arrays` (every parameter given).

    Raises
    ------
    KeyError
        For missing or unknown names.
    """
    kind = config.hru
    params: dict[str, np.ndarray] = {}
    used: set[str] = set()

    def take(name: str) -> np.ndarray:
        if name not in arrays:
            raise KeyError(f"official HSSM arrays lack {name!r}")
        used.add(name)
        return np.asarray(arrays[name], dtype=np.float64)

    params["encoder.weight"] = take("linear_encoder.weight")
    params["encoder.bias"] = take("linear_encoder.bias")
    for i in range(config.n_blocks):
        ssm = {n: take(f"blocks.{i}.ssm.{n}") for n in OFFICIAL_NAMES[kind]}
        hru = hru_arrays_from_official(kind, ssm, complex=config.complex,
                                       step_parametrization=config.step_parametrization)
        params.update({f"blocks.{i}.hru.{n}": v for n, v in hru.items()})
        for j in (1, 2):
            params[f"blocks.{i}.glu.weight{j}"] = take(f"blocks.{i}.glu.w{j}.weight")
            params[f"blocks.{i}.glu.bias{j}"] = take(f"blocks.{i}.glu.w{j}.bias")
    params["readout.weight"] = take("linear_layer.weight")
    params["readout.bias"] = take("linear_layer.bias")
    unknown = sorted(set(arrays) - used)
    if unknown:
        raise KeyError(f"official HSSM arrays: unknown names {unknown}")
    return HSSM.from_arrays(config, params)
