"""Hamiltonian Learning: state and costate integrated forward in time.

Melacci et al., "A Unified Framework for Neural Computation and Learning Over
Time", PMLR 277:71-95 (2025), arXiv 2409.12038.

The neuron state ``h`` and the weights ``theta`` evolve with their costates
``z`` and ``omega`` under explicit Euler with the sign switch ``s = -1``
(research/hl.md sections 1.4-1.6).  Three modes (:func:`run_hl`):

* ``"local"`` -- Algorithm 1 verbatim, causal and local in time;
* ``"nonlocal"`` -- with the ordering constraint and anticipated state, which
  reproduces SGD/momentum exactly (:func:`sgd_to_hl` maps the settings);
* ``"reversed"`` -- the forward-then-reversed stream, which reproduces (truncated)
  BPTT; with ``storage="reversible"`` past states are recomputed by a
  reversible cell instead of being stored (O(1) memory in sequence length).

Cells (maps with hand-written VJPs, :class:`Cell`) cover the paper's
architectures: the linear model and MLP (:class:`MLP`), a residual network
(:class:`ResidualMLP`), a one-layer vision transformer
(:class:`VisionTransformer`), an LSTM unfolded over a whole sequence
(:class:`UnrolledLSTM`), and step-per-token recurrent cells (:class:`ElmanCell`,
:class:`MidpointRNNCell`, :class:`LinearHRUCell`).  Independent references
live in :mod:`physsim.hl.reference`, offline data in :mod:`physsim.hl.datasets`.
Weights, states and costates are named containers (dicts, :class:`HLParams`);
:func:`tree_map`, :func:`tree_leaves` and :func:`tree_max_abs_diff` work on them.

This subpackage needs only numpy (and scipy.special for the GELU of the vision
transformer) and depends on no other part of physsim.

Examples
--------
>>> import numpy as np
>>> from physsim import hl
>>> model = hl.HLModel(output_cell=hl.MLP((4, 30, 3)), loss="cross_entropy")
>>> params = model.init_params(rng=0)
>>> X = np.random.default_rng(1).normal(size=(10, 4)); y = np.arange(10) % 3
>>> result = hl.run_hl(model, params, hl.Stream.from_samples(X, y),
...                    hl.sgd_to_hl(lr=0.01, momentum=0.1, dampening=0.5, tau=0.5))
>>> result.losses.shape
(10,)
"""

from ._tree import tree_leaves, tree_map, tree_max_abs_diff
from .activations import ACTIVATIONS, Activation, get_activation
from .cell import Cell, CellVJP, FunctionCell, ReversibleCell
from .feedforward import MLP, LayeredMLPCell
from .lstm import UnrolledLSTM
from .readouts import IdentityReadout, LinearReadout
from .recurrent import ElmanCell, LinearHRUCell, MidpointRNNCell
from .residual import ResidualMLP
from .config import (
    PAPER_OPTIMIZER_SETTINGS,
    ExponentialPhi,
    FirstStepPhi,
    HLConfig,
    HLTable,
    SGDSettings,
    bptt_config,
    get_paper_setting,
    hl_config_from_table,
    sgd_to_hl,
)
from .integrator import MODES, HLRunResult, get_mode, hl_step, run_hl
from .losses import LOSSES, Loss, SoftmaxCrossEntropy, SquaredError, get_loss
from .model import STATE_FORMS, HLCostate, HLModel, HLParams
from .reversed_stream import STORAGES, ReversedStreamResult, reversed_stream_gradient
from .stream import Stream
from .vit import VisionTransformer

__all__ = [
    "ACTIVATIONS", "Activation", "Cell", "CellVJP", "ElmanCell", "FunctionCell",
    "IdentityReadout", "LayeredMLPCell", "LinearHRUCell", "LinearReadout", "MidpointRNNCell",
    "MLP", "ResidualMLP", "ReversibleCell", "UnrolledLSTM", "VisionTransformer", "get_activation",
    "PAPER_OPTIMIZER_SETTINGS", "ExponentialPhi", "FirstStepPhi", "HLConfig", "HLTable",
    "SGDSettings", "bptt_config", "get_paper_setting", "hl_config_from_table", "sgd_to_hl",
    "MODES", "HLRunResult", "get_mode", "hl_step", "run_hl",
    "LOSSES", "Loss", "SoftmaxCrossEntropy", "SquaredError", "get_loss",
    "STATE_FORMS", "HLCostate", "HLModel", "HLParams",
    "STORAGES", "ReversedStreamResult", "reversed_stream_gradient",
    "Stream",
    "tree_leaves", "tree_map", "tree_max_abs_diff",
]
