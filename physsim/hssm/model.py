"""The Hamiltonian state-space model (HSSM) of the RHEL paper, and its configuration.

Architecture (RHEL paper Sec. 3.3 and the official code)::

    x (batch, L, n_inputs)
      -> encoder Linear(n_inputs -> H) at every step
      -> N blocks, each  x + Dropout(GLU(Dropout(GELU(HRU(BatchNorm(x))))))
      -> read-out: classification  mean over time -> Linear(H -> n_classes) (softmax CE)
                   regression      every output_step-th step -> Linear(H -> n_out) -> tanh (MSE)

BatchNorm normalises over batch and time without affine parameters; the HRU layer is
:class:`physsim.hssm.layers.HRULayer`.  The learning rule of the Hamiltonian layers
(RHEL or BPTT) is chosen per model (:attr:`HSSM.rule`); every other gradient is the
layers' explicit backward pass, so under RHEL the input gradient of one HRU layer,
after back-propagation through the digital parts, is the nudge of the layer below.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, fields
from typing import Any, Literal

import numpy as np

from ..nn import (
    GELU,
    GLU,
    BatchNorm,
    Dropout,
    Layer,
    Linear,
    LossResult,
    MeanPoolClassifier,
    Residual,
    Sequential,
    SubsampleTanhRegressor,
)
from ..rhel import ESTIMATORS
from ..validation import check_choice
from .layers import HRU_KINDS, RULES, STEP_PARAMETRIZATIONS, HRULayer

TASKS = ("classification", "regression")


class PerStep(Layer):
    """Apply a per-step layer to a (batch, L, H) sequence as one (batch * L, H) matrix.

    The digital layers of a block act on each time step alone; handing them the
    sequence flattened to 2-D gives the same numbers (same dropout masks, same batch
    statistics over batch and time) while every matrix product is a single BLAS call:
    numpy's stacked 3-D matmul is several times slower for these shapes.  Parameters,
    gradients and buffers are the inner layer's, under its own names.

    Parameters
    ----------
    inner : Layer
        A layer that treats the leading axes as independent samples (Linear, GLU,
        GELU, Dropout) or pools them all (BatchNorm over batch and time).
    """

    def __init__(self, inner: Layer) -> None:
        super().__init__()
        if not isinstance(inner, Layer):
            raise TypeError(f"inner must be a Layer, got {type(inner).__name__}")
        self.inner = inner
        self.params = inner.params
        self.grads = inner.grads
        self.buffers = inner.buffers

    def forward(self, x, *, training=False, rng=None):
        """Run the inner layer on ``x.reshape(-1, H)`` and restore the leading axes."""
        lead = x.shape[:-1]
        self._cache = (lead,)
        y = self.inner.forward(x.reshape(-1, x.shape[-1]), training=training, rng=rng)
        return y.reshape(lead + (y.shape[-1],))

    def backward(self, grad_out):
        """Inner backward on the flattened gradient."""
        (lead,) = self._cached()
        g = self.inner.backward(grad_out.reshape(-1, grad_out.shape[-1]))
        return g.reshape(lead + (g.shape[-1],))

    def load_state(self, state):
        """Load the inner layer's buffers."""
        self.inner.load_state(state)


DTYPES = ("float64", "float32")


@dataclass(frozen=True)
class HSSMConfig:
    """Configuration of an :class:`HSSM`.

    Attributes
    ----------
    n_inputs : int
        Input channels of the data.
    n_outputs : int
        Classes (classification) or target channels (regression).
    task : {"classification", "regression"}
    hru : {"linear", "nonlinear"}, default "linear"
        Kind of Hamiltonian Recurrent Unit in every block.
    complex : bool, default True
        Complex linear units (two oscillator banks; the paper's default).
    n_blocks : int, default 2
    hidden : int, default 64
        Channels H between the blocks (the paper's ``hidden_dim``).
    units : int, default 64
        Oscillators P per HRU (the paper's ``ssm_dim``).
    dropout : float, default 0.05
        Drop probability of both dropout layers of a block.
    output_step : int, default 1
        Regression: read every ``output_step``-th step (steps ``output_step-1, ...``).
    nonlinear_step : float, default 1e-4
        Initial step ``delta`` of nonlinear units.
    step_parametrization : {"log", "raw"}, default "log"
        Trainable form of the nonlinear units' step.
    rule : {"rhel", "bptt"}, default "bptt"
        Learning rule of the Hamiltonian layers.
    eps : float or None
        RHEL raw nudge multiplier (None: scaled by ``relative_nudge``).
    relative_nudge : float or None
        RHEL nudge relative to the state scale (None: the default of
        :func:`physsim.rhel.default_relative_nudge`).
    estimator : {"centred", "one_sided", "richardson"}, default "centred"
    hardware : str or None
        Hardware preset of every HRU (None: ideal device).
    dtype : {"float64", "float32"}, default "float64"
        Precision of the device simulations.
    log_eps : float, default 0.0
        Cross-entropy ``-log(p + log_eps)`` (0: exact; the official code uses 1e-8).
    """

    n_inputs: int
    n_outputs: int
    task: Literal["classification", "regression"]
    hru: Literal["linear", "nonlinear"] = "linear"
    complex: bool = True
    n_blocks: int = 2
    hidden: int = 64
    units: int = 64
    dropout: float = 0.05
    output_step: int = 1
    nonlinear_step: float = 1e-4
    step_parametrization: Literal["log", "raw"] = "log"
    rule: Literal["rhel", "bptt"] = "bptt"
    eps: float | None = None
    relative_nudge: float | None = None
    estimator: Literal["centred", "one_sided", "richardson"] = "centred"
    hardware: str | None = None
    dtype: Literal["float64", "float32"] = "float64"
    log_eps: float = 0.0

    def __post_init__(self) -> None:
        for name in ("n_inputs", "n_outputs", "n_blocks", "hidden", "units", "output_step"):
            v = getattr(self, name)
            if isinstance(v, bool) or not isinstance(v, (int, np.integer)) or v < 1:
                raise ValueError(f"HSSMConfig.{name} must be a positive integer, got {v!r}")
        check_choice(self.task, TASKS, "task")
        check_choice(self.hru, HRU_KINDS, "HRU kind")
        check_choice(self.rule, RULES, "learning rule")
        check_choice(self.estimator, ESTIMATORS, "RHEL estimator")
        check_choice(self.step_parametrization, STEP_PARAMETRIZATIONS, "step parametrization")
        check_choice(self.dtype, DTYPES, "dtype")
        if not 0.0 <= self.dropout < 1.0:
            raise ValueError(f"HSSMConfig.dropout must be in [0, 1), got {self.dropout}")
        if not self.nonlinear_step > 0:
            raise ValueError(f"HSSMConfig.nonlinear_step must be positive, got "
                             f"{self.nonlinear_step}")
        for name in ("eps", "relative_nudge"):
            v = getattr(self, name)
            if v is not None and not (np.isfinite(v) and v > 0):
                raise ValueError(f"HSSMConfig.{name} must be a positive number or None, got {v!r}")
        if self.log_eps < 0:
            raise ValueError(f"HSSMConfig.log_eps must be non-negative, got {self.log_eps}")
        if self.task == "classification" and self.n_outputs < 2:
            raise ValueError("a classification HSSM needs n_outputs >= 2 classes")

    @classmethod
    def from_dict(cls, table: dict[str, Any], **given: Any) -> "HSSMConfig":
        """Build from a config table (e.g. TOML ``[model]``) plus values given by the data.

        Parameters
        ----------
        table : dict
            Keys are field names; unknown keys are an error listing the allowed ones.
        **given
            Fields fixed by the caller (``n_inputs``, ``n_outputs``, ``task``,
            ``output_step``); the table may not set them to something else.

        Raises
        ------
        ValueError
            For unknown keys, conflicting values or invalid settings.
        """
        names = {f.name for f in fields(cls)}
        unknown = set(table) - names
        if unknown:
            raise ValueError(f"[model]: unknown key(s) {sorted(unknown)}; allowed keys are: "
                             f"{', '.join(sorted(names - set(given)))}")
        for k, v in given.items():
            if k in table and table[k] != v:
                raise ValueError(f"[model]: {k} = {table[k]!r} contradicts the data ({v!r})")
        return cls(**{**table, **given})

    def to_dict(self) -> dict[str, Any]:
        """Plain dict of the fields (JSON-able)."""
        return asdict(self)


class HSSM:
    """Hamiltonian state-space model: encoder, N HRU blocks and a read-out.

    Parameters
    ----------
    config : HSSMConfig
        Architecture and learning-rule settings.
    seed : int or numpy.random.Generator
        Initialisation randomness (encoder, then each block's HRU and GLU, then the
        read-out, in that order).

    Notes
    -----
    Parameter names: ``encoder.weight``, ``encoder.bias``, ``blocks.<i>.hru.<name>``
    (see :class:`~physsim.hssm.layers.HRULayer`), ``blocks.<i>.glu.<name>``,
    ``readout.weight``, ``readout.bias``.  Buffers (batch-norm running statistics):
    ``blocks.<i>.norm.<name>``.
    """

    def __init__(self, config: HSSMConfig, seed: int | np.random.Generator = 0) -> None:
        if not isinstance(config, HSSMConfig):
            raise TypeError(f"config must be an HSSMConfig, got {type(config).__name__}")
        self.config = c = config
        rng = seed if isinstance(seed, np.random.Generator) else np.random.default_rng(seed)
        dtype = np.float32 if c.dtype == "float32" else np.float64
        encoder = PerStep(Linear(c.n_inputs, c.hidden, rng=rng))
        blocks = []
        for i in range(c.n_blocks):
            hru = HRULayer(c.hru, c.hidden, c.units, rng=rng, complex=c.complex,
                           nonlinear_step=c.nonlinear_step,
                           step_parametrization=c.step_parametrization, rule=c.rule, eps=c.eps,
                           relative_nudge=c.relative_nudge, estimator=c.estimator,
                           hardware=c.hardware, dtype=dtype)
            glu = GLU(c.hidden, rng=rng)
            inner = Sequential([("norm", PerStep(BatchNorm(c.hidden))), ("hru", hru),
                                ("gelu", PerStep(GELU())), ("drop1", PerStep(Dropout(c.dropout))),
                                ("glu", PerStep(glu)), ("drop2", PerStep(Dropout(c.dropout)))])
            blocks.append((str(i), Residual(inner)))
        self.net = Sequential([("encoder", encoder), ("blocks", Sequential(blocks))])
        if c.task == "classification":
            self.readout = MeanPoolClassifier(c.hidden, c.n_outputs, rng=rng)
        else:
            self.readout = SubsampleTanhRegressor(c.hidden, c.n_outputs, c.output_step, rng=rng)

    @classmethod
    def from_config(cls, table: dict[str, Any], *, seed: int = 0, **given: Any) -> "HSSM":
        """Model from a config table (see :meth:`HSSMConfig.from_dict`) and a seed."""
        return cls(HSSMConfig.from_dict(table, **given), seed)

    @classmethod
    def from_arrays(cls, config: HSSMConfig, params: dict[str, np.ndarray]) -> "HSSM":
        """A model with every trainable parameter given by name.

        Parameters
        ----------
        config : HSSMConfig
            Architecture and learning-rule settings.
        params : dict of str to array_like
            Every name of :meth:`parameters` (see the class Notes) with its shape; HRU
            layers take the raw names of :class:`~physsim.hssm.layers.HRULayer`.  To load
            the official implementation's names, see
            :func:`physsim.hssm.official.hssm_from_official`.

        Returns
        -------
        HSSM
            Its values are exactly ``params`` (the constructors' initial values, drawn
            from a fixed seed, are all overwritten: a missing or unknown name is refused).

        Raises
        ------
        KeyError
            For missing or unknown names; ``ValueError`` for a wrong shape.
        """
        model = cls(config, seed=0)
        model.load_parameters({k: np.asarray(v, dtype=np.float64) for k, v in params.items()})
        for layer in model.hru_layers:
            layer.system()  # refuse values outside the units' domain now (e.g. W = 0)
        return model

    # ---------------------------------------------------------------- structure
    @property
    def hru_layers(self) -> list[HRULayer]:
        """The HRU layer of every block, bottom to top."""
        return [blk.inner["hru"] for blk in self.net["blocks"]]

    @property
    def rule(self) -> str:
        """Learning rule of every HRU layer (``"rhel"`` or ``"bptt"``)."""
        rules = {layer.rule for layer in self.hru_layers}
        return rules.pop() if len(rules) == 1 else "mixed"

    @rule.setter
    def rule(self, value: str) -> None:
        for layer in self.hru_layers:
            layer.rule = value

    def set_hardware_seed(self, seed: int) -> None:
        """Seed the hardware randomness of every HRU layer (layer i gets ``seed + i``)."""
        for i, layer in enumerate(self.hru_layers):
            layer.hardware_seed = int(seed) + i

    def parameters(self) -> dict[str, np.ndarray]:
        """All trainable arrays by name (live arrays, updated in place by optimisers)."""
        out = self.net.parameters()
        out.update({f"readout.{k}": v for k, v in self.readout.parameters().items()})
        return out

    def gradients(self) -> dict[str, np.ndarray]:
        """Gradients of the last :meth:`backward`, by the names of :meth:`parameters`."""
        out = self.net.gradients()
        out.update({f"readout.{k}": v for k, v in self.readout.gradients().items()})
        return out

    def state(self) -> dict[str, np.ndarray]:
        """Non-trainable buffers (batch-norm running statistics) by name."""
        return self.net.state()

    def load_state(self, state: dict[str, np.ndarray]) -> None:
        """Copy buffers into the model in place."""
        self.net.load_state(state)

    def load_parameters(self, params: dict[str, np.ndarray]) -> None:
        """Copy parameter values into the model in place (names and shapes must match)."""
        mine = self.parameters()
        if set(params) != set(mine):
            raise KeyError(f"parameter names differ: missing {sorted(set(mine) - set(params))}, "
                           f"unknown {sorted(set(params) - set(mine))}")
        for k, v in params.items():
            if np.shape(v) != mine[k].shape:
                raise ValueError(f"parameter {k!r} has shape {np.shape(v)}, model has "
                                 f"{mine[k].shape}")
            mine[k][...] = v

    def n_parameters(self) -> int:
        """Number of trainable scalars."""
        return int(sum(v.size for v in self.parameters().values()))

    # ------------------------------------------------------------ computation
    def forward(self, x: np.ndarray, lengths: np.ndarray | None = None, *,
                training: bool = False, rng: np.random.Generator | None = None) -> np.ndarray:
        """Model output for a batch.

        Parameters
        ----------
        x : ndarray, shape (batch, L, n_inputs)
        lengths : ndarray of int, shape (batch,), optional
            Valid steps of zero-padded sequences (classification mean-pool only).
        training : bool
            Training mode (batch statistics, dropout).
        rng : numpy.random.Generator, optional
            Dropout randomness (needed in training mode with dropout > 0).

        Returns
        -------
        ndarray
            Logits (batch, n_classes), or predictions (batch, L // output_step, n_out).
        """
        x = np.asarray(x, dtype=np.float64)
        if x.ndim != 3 or x.shape[2] != self.config.n_inputs:
            raise ValueError(f"HSSM expects inputs (batch, length, {self.config.n_inputs}), got "
                             f"shape {x.shape}")
        h = self.net.forward(x, training=training, rng=rng)
        if self.config.task == "classification":
            if lengths is not None and np.all(np.asarray(lengths) == x.shape[1]):
                lengths = None
            return self.readout.forward(h, lengths=lengths)
        return self.readout.forward(h)

    def loss(self, output: np.ndarray, targets: np.ndarray) -> LossResult:
        """Loss (mean over the batch), its gradient w.r.t. the output and the accuracy."""
        if self.config.task == "classification":
            return self.readout.loss(output, targets, log_eps=self.config.log_eps)
        return self.readout.loss(output, targets)

    def backward(self, grad_output: np.ndarray) -> np.ndarray:
        """Back-propagate ``dL/d output`` through the whole model; returns dL/dx."""
        return self.net.backward(self.readout.backward(grad_output))

    def loss_and_gradients(self, x: np.ndarray, targets: np.ndarray,
                           lengths: np.ndarray | None = None, *,
                           rng: np.random.Generator | None = None,
                           training: bool = True) -> tuple[LossResult, dict[str, np.ndarray]]:
        """One forward and backward pass.

        Returns
        -------
        LossResult
            Loss, output gradient and accuracy (classification).
        dict of str to ndarray
            Gradient of every parameter (names of :meth:`parameters`).
        """
        out = self.forward(x, lengths, training=training, rng=rng)
        res = self.loss(out, targets)
        self.backward(res.grad)
        return res, self.gradients()

    def metric(self, output: np.ndarray, targets: np.ndarray) -> float:
        """Accuracy (classification) or mean squared error (regression) of a batch."""
        if self.config.task == "classification":
            return float(np.mean(np.argmax(output, axis=1) == np.asarray(targets)))
        d = np.asarray(output) - np.asarray(targets)
        return float(np.mean(d * d))
