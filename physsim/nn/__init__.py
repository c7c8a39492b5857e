"""Digital network layers with explicit forward/backward passes, and optimisers.

These are the parts of an HSSM that run on a digital computer (encoder, batch norm,
GELU, GLU, dropout, residual, read-outs), with gradients written by hand so that
RHEL-trained Hamiltonian layers can be chained with them. See
:mod:`physsim.nn.layers` for the conventions.
"""

from .layers import (
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
    mean_squared_error,
    softmax_cross_entropy,
)
from .optim import Adam

__all__ = [
    "Adam",
    "BatchNorm",
    "Dropout",
    "GELU",
    "GLU",
    "Layer",
    "Linear",
    "LossResult",
    "MeanPoolClassifier",
    "Residual",
    "Sequential",
    "SubsampleTanhRegressor",
    "mean_squared_error",
    "softmax_cross_entropy",
]
