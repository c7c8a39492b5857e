"""Deep Hamiltonian state-space models (HSSM) trained by RHEL or BPTT on sequence data.

* :class:`HRULayer` - a Hamiltonian Recurrent Unit (linear, real or complex, or
  nonlinear) with a linear read-out, explicit forward and backward; the Hamiltonian
  gradients come from RHEL echoes or from BPTT, chosen per layer/model.
* :class:`HSSM` and :class:`HSSMConfig` - encoder, N residual HRU blocks and a
  classification or regression read-out, with the RHEL paper's initialisations.
* :class:`Trainer`, :class:`RunConfig`, :func:`cli_train` - Adam training with
  evaluation, early stopping, HDF5 run files with checkpoints (read them with
  :func:`physsim.storage.read_run`) and bit-identical resume (``physsim train
  CONFIG.toml --rule rhel|bptt``).
"""

from .cli import cli_train
from .config import RunConfig, TrainingSettings
from .data_table import dataset_names, load_data
from .layers import HRU_KINDS, RULES, HRULayer
from .model import HSSM, HSSMConfig
from .synthetic import SYNTHETIC_DATASETS, make_synthetic_frequencies, make_synthetic_smoothing
from .training import Trainer, TrainingDivergedError, TrainResult, baseline_metric, evaluate

__all__ = [
    "HRU_KINDS", "RULES", "HRULayer", "HSSM", "HSSMConfig", "SYNTHETIC_DATASETS",
    "make_synthetic_frequencies", "make_synthetic_smoothing", "RunConfig",
    "Trainer", "TrainingDivergedError", "TrainingSettings", "TrainResult", "baseline_metric",
    "cli_train",
    "dataset_names", "evaluate", "load_data",
]
