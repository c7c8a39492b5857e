"""The Hamiltonian layer of an HSSM: a Hamiltonian Recurrent Unit with a linear read-out.

:class:`HRULayer` is a :class:`physsim.nn.Layer` (explicit forward and backward) that
wraps a :class:`~physsim.systems.LinearHRU` (real or complex) or a
:class:`~physsim.systems.NonlinearHRU`:

* **forward**: the input sequence ``x`` (batch, L, H) drives the unit from rest
  (:func:`physsim.passes.forward_pass`, every state recorded); the output is
  ``o_k = Re(C y_k) + D * x_k`` (batch, L, H), with ``y_k`` the unit's positions
  after step ``k``;
* **backward**: ``dL/dy`` follows from ``dL/do`` through the read-out; the gradients
  of the Hamiltonian parameters and of the input sequence then come from
  **RHEL** (:func:`physsim.rhel.rhel_gradient`, two nudged echoes of the device,
  with ``dL/dy`` as the nudge: :class:`physsim.losses.CotangentSequence`) or from
  **BPTT** (:func:`physsim.bptt.bptt_gradient`, the discrete adjoint), chosen by
  :attr:`HRULayer.rule`.  The input gradient handed to the layer below is the
  Hamiltonian one plus ``D * dL/do``: this is RHEL chaining (RHEL paper, Thm. 3.3
  and Remark 8).  Both rules reuse the layer's own forward pass (it records what
  they need), so RHEL runs 3 passes of the device per forward + backward and BPTT a
  forward pass and the adjoint.

Trainable (raw) parameters and the paper's parametrisation (RHEL paper Eqs. 17-18
and the official code):

============  =================================  ====================================
kind          raw parameter (shape)              physical parameter
============  =================================  ====================================
linear        ``A_raw`` (P,)                     ``A = relu(A_raw)``
linear        ``steps_raw`` (P,)                 ``Delta = sigmoid(steps_raw)``
linear        ``B_re`` (P, H), ``B_im`` (P, H)   input matrix (``B_im``: complex only)
linear        ``C_re`` (H, P), ``C_im`` (H, P)   read-out ``Re(C y) = C_re y_re - C_im y_im``
nonlinear     ``W`` (P,), ``b`` (P,)             gains and biases inside the log-cosh
nonlinear     ``c_raw`` (P,)                     ``c = sigmoid(sigmoid(c_raw))``
nonlinear     ``alpha_raw`` (1,)                 ``alpha = relu(alpha_raw)``
nonlinear     ``log_step`` (1,) or ``step`` (1,) ``delta = exp(log_step)`` (or raw)
nonlinear     ``B`` (P, H), ``C`` (H, P)         input matrix and read-out
both          ``D`` (H,)                         skip gain
============  =================================  ====================================

Every parameter is trainable under both rules.  The step of the nonlinear unit lives
in the Hamiltonian (``H = delta * (...)``), so RHEL measures its exact gradient; the
official code returns zero for it under RHEL only, which we do not.  Two departures
from the official code, both to keep training from leaving the physical domain
(the unit refuses ``alpha < 0`` and ``delta <= 0``): ``alpha`` passes through a relu
(as ``A`` does), and ``delta`` is stored as its logarithm by default (Adam's steps of
about the learning rate would otherwise push the initial ``delta = 1e-4`` below zero
at once); ``step_parametrization="raw"`` keeps the paper's raw ``delta``.

Dynamics of the nonlinear unit against the official code: physsim integrates it with the
position-velocity-position leapfrog, whose kick takes the force at the *half-step*
position (RHEL paper, Def. A.3: symplectic and time-reversible, so RHEL is exact).  The
official ``NonlinHRU`` kicks at the *start-of-step* position, which is neither; the two
differ by ``O(delta^2)`` per step.  Measured BPTT gradients of the two maps (64 units,
1000 steps, MSE read-out; ``max|difference| / max|gradient|`` per tensor): at
``delta = 1e-4`` W 1.9e-3 and alpha 1.7e-2 apart, every other tensor within 2e-6; at
``delta = 1e-2`` every tensor 1e-2 to 2e-2 apart; at ``delta = 0.1`` unrelated (the
official map is not symplectic, and its RHEL fails there).  To
reproduce the official forward pass and BPTT exactly, pass
``integrator="official_nonlinear_hru"`` (:class:`physsim.integrators.OfficialNonlinearHRUStep`);
RHEL refuses it.  The linear unit's step is the same map in both codes.  Parameters
saved by the official code load with :mod:`physsim.hssm.official`; any given arrays with
:meth:`HRULayer.from_arrays`.
"""

from __future__ import annotations

import dataclasses
from typing import Literal

import numpy as np
from scipy.special import expit

from ..bptt import bptt_gradient
from ..device_run import prepare_batch, prepare_run
from ..losses import CotangentSequence
from ..nn.layers import Layer
from ..passes import forward_pass
from ..rhel import ESTIMATORS, forward_pass_options, rhel_gradient
from ..systems import LinearHRU, NonlinearHRU
from ..validation import check_choice, check_rng

#: Learning rules for the Hamiltonian parameters.
RULES = ("rhel", "bptt")
#: HRU kinds.
HRU_KINDS = ("linear", "nonlinear")
#: Parametrisations of the nonlinear unit's step.
STEP_PARAMETRIZATIONS = ("log", "raw")


#: Rows (batch x steps) per BLAS call of the read-out products: a float32 record is
#: widened to float64 one block at a time, never as a whole (L x n_dof float64) copy.
ROW_BLOCK = 8192


def _matmul_last(a: np.ndarray, m: np.ndarray, dtype=np.float64) -> np.ndarray:
    """``a @ m`` on the last axis of a 3-D array, (B, L, k) x (k, j) -> (B, L, j).

    2-D float64 BLAS calls (numpy's stacked matmul is several times slower here)
    on blocks of :data:`ROW_BLOCK` rows, so a float32 ``a`` is widened a block at
    a time; the result is stored in ``dtype`` (float32: each product rounded once,
    and no float64 array of the whole result).
    """
    rows = a.reshape(-1, a.shape[-1])
    out = np.empty((rows.shape[0], m.shape[1]), dtype=dtype)
    for start in range(0, rows.shape[0], ROW_BLOCK):
        block = rows[start:start + ROW_BLOCK].astype(np.float64, copy=False)
        if out.dtype == np.float64:
            np.matmul(block, m, out=out[start:start + ROW_BLOCK])
        else:
            out[start:start + ROW_BLOCK] = block @ m
    return out.reshape(a.shape[:-1] + (m.shape[1],))


def _sum_outer_rows(a: np.ndarray, b: np.ndarray) -> np.ndarray:
    """``sum_(batch, k) a[., k] outer b[., k]``: (B, L, i) and (B, L, j) -> (i, j) float64.

    Summed over blocks of :data:`ROW_BLOCK` rows in a fixed order (one BLAS
    call per block): a float32 ``b`` is widened a block at a time, and no BLAS
    call reduces over the whole sequence at once (with several BLAS threads
    such a call stalls on a busy machine, see ``benchmarks/bench_layer.py``).
    """
    a2 = a.reshape(-1, a.shape[-1])
    b2 = b.reshape(-1, b.shape[-1])
    total = np.zeros((a2.shape[1], b2.shape[1]))
    for start in range(0, a2.shape[0], ROW_BLOCK):
        stop = start + ROW_BLOCK
        total += a2[start:stop].T @ b2[start:stop].astype(np.float64, copy=False)
    return total


class HRULayer(Layer):
    """Hamiltonian Recurrent Unit layer with explicit forward and backward passes.

    Parameters
    ----------
    kind : {"linear", "nonlinear"}
        :class:`~physsim.systems.LinearHRU` or :class:`~physsim.systems.NonlinearHRU`.
    n_channels : int
        Channels H of the input and output sequences.
    n_units : int
        Oscillators P (complex oscillators for a complex linear unit).
    rng : numpy.random.Generator
        Initialisation randomness (the paper's initialisation, see below).
    complex : bool, default True
        Linear unit only: complex input and read-out matrices (two oscillator banks).
    nonlinear_step : float, default 1e-4
        Nonlinear unit only: initial step ``delta`` (dimensionless time per sequence step).
    step_parametrization : {"log", "raw"}, default "log"
        Nonlinear unit only: train ``log(delta)`` or ``delta`` itself.
    rule : {"rhel", "bptt"}, default "bptt"
        Learning rule of the Hamiltonian parameters and the input gradient.
    eps : float, optional
        RHEL raw nudge multiplier (default: scaled by ``relative_nudge``).
    relative_nudge : float, optional
        RHEL nudge as a fraction of the state scale (default
        :func:`physsim.rhel.default_relative_nudge`: 1 for the linear unit, exact at any
        size with the centred estimator; 1e-4 in float64 for the nonlinear unit and for
        the one-sided estimator, whose O(nudge) bias is there for linear units too).
    estimator : {"centred", "one_sided", "richardson"}, default "centred"
        RHEL estimator.
    hardware : HardwareModel or str, optional
        Hardware model or preset of the device (None: ideal).
    hardware_seed : int, default 0
        Seed of the hardware randomness (the trainer sets it per step).
    dtype : float64 or float32, default float64
        Precision of the device simulation (the digital read-out runs in float64).
    integrator : str, default "leapfrog"
        Time-reversible integrator (the HRU recurrence is leapfrog).

    Notes
    -----
    Initialisation (RHEL paper, official code): linear ``A_raw ~ U(0, 1)``,
    ``steps_raw ~ U(0, 1)``, ``B ~ U(+-1/sqrt(H))``, ``C ~ U(+-1/sqrt(P))`` (real and
    imaginary parts), ``D ~ N(0, 1)``; nonlinear ``W ~ U(0.5, 1)``, ``b = 0``,
    ``c_raw ~ U(-1, 1)``, ``alpha ~ U(0.1, 1)``, ``delta = nonlinear_step``, ``B``, ``C``,
    ``D`` as above.  The initial state is zero.
    """

    def __init__(self, kind: Literal["linear", "nonlinear"], n_channels: int, n_units: int, *,
                 rng: np.random.Generator, complex: bool = True, nonlinear_step: float = 1e-4,
                 step_parametrization: Literal["log", "raw"] = "log",
                 rule: Literal["rhel", "bptt"] = "bptt", eps: float | None = None,
                 relative_nudge: float | None = None,
                 estimator: Literal["centred", "one_sided", "richardson"] = "centred",
                 hardware=None,
                 hardware_seed: int = 0, dtype=np.float64, integrator: str = "leapfrog") -> None:
        check_rng(rng, "HRULayer initialisation")
        self._configure(kind, n_channels, n_units, complex=complex,
                        step_parametrization=step_parametrization, rule=rule, eps=eps,
                        relative_nudge=relative_nudge, estimator=estimator, hardware=hardware,
                        hardware_seed=hardware_seed, dtype=dtype, integrator=integrator)
        H, P = self.n_channels, self.n_units
        b_in, b_out = 1.0 / np.sqrt(H), 1.0 / np.sqrt(P)
        p = self.params
        if kind == "linear":
            p["A_raw"] = rng.uniform(0.0, 1.0, P)
            p["steps_raw"] = rng.uniform(0.0, 1.0, P)
            p["B_re"] = rng.uniform(-b_in, b_in, (P, H))
            if self.complex:
                p["B_im"] = rng.uniform(-b_in, b_in, (P, H))
            p["C_re"] = rng.uniform(-b_out, b_out, (H, P))
            if self.complex:
                p["C_im"] = rng.uniform(-b_out, b_out, (H, P))
        else:
            if not nonlinear_step > 0:
                raise ValueError(f"nonlinear_step must be positive, got {nonlinear_step}")
            p["W"] = rng.uniform(0.5, 1.0, P)
            p["b"] = np.zeros(P)
            p["c_raw"] = rng.uniform(-1.0, 1.0, P)
            p["alpha_raw"] = rng.uniform(0.1, 1.0, 1)
            if self.step_parametrization == "log":
                p["log_step"] = np.array([np.log(nonlinear_step)])
            else:
                p["step"] = np.array([float(nonlinear_step)])
            p["B"] = rng.uniform(-b_in, b_in, (P, H))
            p["C"] = rng.uniform(-b_out, b_out, (H, P))
        p["D"] = rng.standard_normal(H)

    def _configure(self, kind, n_channels, n_units, *, complex, step_parametrization, rule,
                   eps, relative_nudge, estimator, hardware, hardware_seed, dtype,
                   integrator) -> None:
        """Settings shared by both constructors (no parameter values)."""
        super().__init__()
        self.kind = check_choice(kind, HRU_KINDS, "HRU kind")
        if int(n_channels) < 1 or int(n_units) < 1:
            raise ValueError(f"n_channels and n_units must be positive, got {n_channels}, "
                             f"{n_units}")
        self.n_channels, self.n_units = int(n_channels), int(n_units)
        self.complex = bool(complex) and kind == "linear"
        self.step_parametrization = check_choice(step_parametrization, STEP_PARAMETRIZATIONS,
                                                 "step parametrization")
        self.rule = rule
        self.eps = eps
        self.relative_nudge = relative_nudge
        self.estimator = check_choice(estimator, ESTIMATORS, "RHEL estimator")
        self.hardware = hardware
        self.hardware_seed = int(hardware_seed)
        self.dtype = dtype
        self.integrator = integrator
        #: Information on the last backward pass (method, RHEL eps).
        self.last_backward_info: dict = {}

    def parameter_shapes(self) -> dict[str, tuple[int, ...]]:
        """Name and shape of every raw parameter of this layer (see the module table)."""
        H, P = self.n_channels, self.n_units
        if self.kind == "linear":
            shapes = {"A_raw": (P,), "steps_raw": (P,), "B_re": (P, H), "C_re": (H, P)}
            if self.complex:
                shapes.update(B_im=(P, H), C_im=(H, P))
        else:
            step = "log_step" if self.step_parametrization == "log" else "step"
            shapes = {"W": (P,), "b": (P,), "c_raw": (P,), "alpha_raw": (1,), step: (1,),
                      "B": (P, H), "C": (H, P)}
        shapes["D"] = (H,)
        return shapes

    @classmethod
    def from_arrays(cls, kind: Literal["linear", "nonlinear"], arrays: dict[str, np.ndarray],
                    *, rule: Literal["rhel", "bptt"] = "bptt", eps: float | None = None,
                    relative_nudge: float | None = None, estimator: str = "centred",
                    hardware=None, hardware_seed: int = 0, dtype=np.float64,
                    integrator: str = "leapfrog") -> "HRULayer":
        """A layer with the given raw parameters; nothing is drawn at random.

        Parameters
        ----------
        kind : {"linear", "nonlinear"}
            Unit kind.
        arrays : dict of str to array_like
            Every raw parameter of the kind, by the names of the module table
            (copied, as float64): linear ``A_raw`` (P,), ``steps_raw`` (P,), ``B_re``
            (P, H), ``C_re`` (H, P), ``D`` (H,), and ``B_im``, ``C_im`` for a complex
            unit (their presence makes it complex); nonlinear ``W``, ``b``, ``c_raw``
            (P,), ``alpha_raw`` (1,), ``log_step`` or ``step`` (1,) (which one sets
            the step parametrisation), ``B`` (P, H), ``C`` (H, P), ``D`` (H,).
            To load the official implementation's names and layouts, see
            :mod:`physsim.hssm.official`.
        rule, eps, relative_nudge, estimator, hardware, hardware_seed, dtype, integrator
            As in :class:`HRULayer`.

        Returns
        -------
        HRULayer

        Raises
        ------
        KeyError
            If a name is missing or unknown (the message lists both).
        ValueError
            If an array has the wrong shape or non-finite values.
        """
        kind = check_choice(kind, HRU_KINDS, "HRU kind")
        given = {k: np.array(v, dtype=np.float64) for k, v in arrays.items()}
        if "D" not in given or given["D"].ndim != 1:
            raise KeyError("arrays must hold the skip gain 'D' of shape (H,)")
        units_key = "A_raw" if kind == "linear" else "W"
        if units_key not in given or given[units_key].ndim != 1:
            raise KeyError(f"arrays of a {kind} unit must hold {units_key!r} of shape (P,)")
        layer = cls.__new__(cls)
        layer._configure(kind, given["D"].size, given[units_key].size,
                         complex="B_im" in given or "C_im" in given,
                         step_parametrization="raw" if "step" in given else "log", rule=rule,
                         eps=eps, relative_nudge=relative_nudge, estimator=estimator,
                         hardware=hardware, hardware_seed=hardware_seed, dtype=dtype,
                         integrator=integrator)
        shapes = layer.parameter_shapes()
        if set(given) != set(shapes):
            raise KeyError(f"{kind} HRU parameters: missing {sorted(set(shapes) - set(given))},"
                           f" unknown {sorted(set(given) - set(shapes))}; expected "
                           f"{sorted(shapes)}")
        for name, shape in shapes.items():
            if given[name].shape != shape:
                raise ValueError(f"parameter {name!r} must have shape {shape}, got "
                                 f"{given[name].shape}")
            if not np.all(np.isfinite(given[name])):
                raise ValueError(f"parameter {name!r} has non-finite values")
        layer.params.update(given)
        layer.system()  # refuse values outside the unit's domain now (e.g. W = 0)
        return layer

    # ------------------------------------------------------------------ settings
    @property
    def rule(self) -> str:
        """Learning rule of the Hamiltonian part: ``"rhel"`` or ``"bptt"``."""
        return self._rule

    @rule.setter
    def rule(self, value: str) -> None:
        self._rule = check_choice(value, RULES, "learning rule")

    @property
    def n_dof(self) -> int:
        """Positions of the unit: P, or 2P for a complex linear unit."""
        return self.n_units * (2 if self.complex else 1)

    # ------------------------------------------------------- physical parameters
    def system(self) -> LinearHRU | NonlinearHRU:
        """The device the current raw parameters describe.

        Raises
        ------
        ValueError
            If the parameters left the unit's domain (e.g. a zero gain ``W``).
        """
        p = self.params
        if self.kind == "linear":
            return LinearHRU(A=np.maximum(p["A_raw"], 0.0), step=expit(p["steps_raw"]),
                             B_re=p["B_re"], B_im=p["B_im"] if self.complex else None)
        return NonlinearHRU(W=p["W"], b=p["b"], c=expit(expit(p["c_raw"])),
                            alpha=max(float(p["alpha_raw"][0]), 0.0), step=self._step(),
                            B=p["B"])

    def _step(self) -> float:
        p = self.params
        if self.step_parametrization == "log":
            return float(np.exp(p["log_step"][0]))
        return float(p["step"][0])

    def _readout(self) -> np.ndarray:
        """Real read-out matrix (H, n_dof) acting on the positions."""
        p = self.params
        if self.kind == "nonlinear":
            return p["C"]
        if self.complex:
            return np.hstack([p["C_re"], -p["C_im"]])
        return p["C_re"]

    # ------------------------------------------------------------ forward/backward
    def forward(self, x, *, training=False, rng=None):
        """Drive the unit from rest with ``x`` and read out ``Re(C y) + D x``.

        Parameters
        ----------
        x : ndarray, shape (batch, L, H)
            Input sequence (one value per sequence step, zero-order hold).
        training, rng
            Unused (the layer is deterministic up to its hardware model).

        Returns
        -------
        ndarray, shape (batch, L, H)
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[2] != self.n_channels:
            raise ValueError(f"HRULayer expects (batch, length, {self.n_channels}), got "
                             f"shape {x.shape}")
        system = self.system()
        run = prepare_run(system, integrator=self.integrator, dtype=self.dtype,
                          hardware=self.hardware, seed=self.hardware_seed)
        batch = prepare_batch(run, np.zeros((x.shape[0], system.n_dof)), None, x)
        # record what the backward pass's rule needs, so that it need not run this pass again
        settings = self._backward_settings()
        # the adjoint needs the momenta, RHEL and the read-out only the positions
        options = {"record_every": 1, "record_momenta": self.rule == "bptt"}
        if self.rule == "rhel":
            options = {**forward_pass_options(run, CotangentSequence.needs,
                                              eps=self.eps,
                                              relative_nudge=self.relative_nudge,
                                              estimator=self.estimator), **options}
        fwd = forward_pass(run, batch.start, batch.inputs, **options)
        y = fwd.positions[:, 1:]  # the record itself (run dtype), not a float64 copy
        c = self._readout()
        if self.rule == "rhel":  # RHEL reads the final state and read-outs, not the record
            fwd = dataclasses.replace(fwd, positions=None, momenta=None, record_every=0)
        self._cache = (x, y, system, c, fwd, settings)
        out = _matmul_last(y, c.T)
        out += self.params["D"] * x
        return out

    def _backward_settings(self) -> tuple:
        """The settings a cached forward pass was recorded for (rule, estimator, eps, nudge)."""
        return (self.rule, self.estimator, self.eps, self.relative_nudge)

    def backward(self, grad_out):
        """Gradients of all raw parameters (``self.grads``) and of the input.

        The Hamiltonian part uses :attr:`rule`; see the module docstring.
        """
        x, y, system, c, fwd, settings = self._cached()
        forward = fwd if settings == self._backward_settings() else None
        g = np.asarray(grad_out, dtype=np.float64)
        if g.shape != x.shape:
            raise ValueError(f"grad_out has shape {g.shape}, the output has {x.shape}")
        B = x.shape[0]
        # dL/dy_k, (B, L, n_dof), in the device's dtype: the echoes and the adjoint take their
        # nudges and cotangents in it, so a float64 sequence would only be rounded again
        cot_y = _matmul_last(g, c, dtype=self.dtype)
        g_c = _sum_outer_rows(g, y)  # (H, n_dof)
        kwargs = dict(hardware=self.hardware, seed=self.hardware_seed, dtype=self.dtype,
                      integrator=self.integrator)
        q0 = np.zeros((B, system.n_dof))
        loss = CotangentSequence(cot_y)
        if self.rule == "rhel":
            res = rhel_gradient(system, q0, None, x, loss, eps=self.eps,
                                relative_nudge=self.relative_nudge, estimator=self.estimator,
                                input_gradient=True, forward=forward, **kwargs)
        else:
            res = bptt_gradient(system, q0, None, x, loss, forward=forward, **kwargs)
        self.last_backward_info = {"method": res.method, **{
            k: v for k, v in res.info.items()
            if k in ("eps", "estimator", "passes", "paired_echoes")}}
        gp = res.params
        p, out = self.params, self.grads
        P = self.n_units
        if self.kind == "linear":
            out["A_raw"] = gp["A"] * (p["A_raw"] > 0)
            s = expit(p["steps_raw"])
            out["steps_raw"] = gp["step"] * s * (1.0 - s)
            out["B_re"] = gp["B_re"]
            out["C_re"] = g_c[:, :P]
            if self.complex:
                out["B_im"] = gp["B_im"]
                out["C_im"] = -g_c[:, P:]
        else:
            out["W"] = gp["W"]
            out["b"] = gp["b"]
            s = expit(p["c_raw"])
            cc = expit(s)
            out["c_raw"] = gp["c"] * cc * (1.0 - cc) * s * (1.0 - s)
            out["alpha_raw"] = np.reshape(gp["alpha"] * (p["alpha_raw"][0] > 0), (1,))
            if self.step_parametrization == "log":
                out["log_step"] = np.reshape(gp["step"] * self._step(), (1,))
            else:
                out["step"] = np.reshape(gp["step"], (1,))
            out["B"] = gp["B"]
            out["C"] = g_c
        out["D"] = np.einsum("blh,blh->h", g, x)
        grad_x = res.input_gradient
        grad_x += p["D"] * g
        return grad_x
