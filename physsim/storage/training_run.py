"""Training run files (``physsim train``): checkpoint, history and result of one HSSM run.

Layout (``kind = "hssm_run"``, ``format_version = 2``; rewritten atomically at every
checkpoint: a temporary file is written, then renamed over the old one)::

    /                       attrs: kind, format_version, provenance (physsim_version,
                                   versions, code_fingerprint, created), code_fingerprints
                                   (JSON list: every physsim.storage.source_fingerprint that
                                   trained the run, oldest first), updated, status, rule,
                                   seed, config_toml, config_source, config_json,
                                   model_config_json, dataset, n_parameters, metric
    /checkpoint             attrs: step, best_step, best_val_metric, best_val_loss, bad_evals,
                                   test_metric, test_loss, running_loss_sum,
                                   running_metric_sum, running_count, wall_time_s,
                                   stop_reason, rng_scheme
    /checkpoint/params/<name>       parameters after ``step`` updates
    /checkpoint/buffers/<name>      batch-norm running statistics
    /checkpoint/adam/...            Adam state (names as the optimiser's state_dict)
    /checkpoint/best_params/<name>, /checkpoint/best_buffers/<name>   best validation model
    /history/<part>/<column>        e.g. train/{step, loss, metric, wall_time_s}
    /result                 attrs (finished runs): stop_reason, steps, best_step, ...
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .files import atomic_write, attributes, create_array, members, reading, set_attributes
from .provenance import now_utc, provenance_attributes

KIND = "hssm_run"
FORMAT_VERSION = 2
#: Groups of arrays under ``/checkpoint``.
_CHECKPOINT_ARRAYS = ("params", "buffers", "adam", "best_params", "best_buffers")


@dataclass
class RunRecord:
    """Contents of a training run file (see the module docstring for the layout).

    Attributes
    ----------
    attrs : dict
        Root attributes (versions, rule, seed, configuration, status, ...).
    checkpoint : dict
        Scalar loop state at the last checkpoint (``step``, ``best_step``, ...).
    params, buffers, best_params, best_buffers : dict of str to ndarray
        Parameters and batch-norm buffers at the last checkpoint and of the
        best validation step.
    adam : dict of str to ndarray
        Optimiser state (keys as :meth:`physsim.nn.Adam.state_dict`).
    history : dict of str to dict of ndarray
        Columns per part (``train``, ``eval``, ``test``), one row per record.
    result : dict or None
        Result attributes of a finished run.
    """

    attrs: dict[str, Any]
    checkpoint: dict[str, Any]
    params: dict[str, np.ndarray]
    buffers: dict[str, np.ndarray]
    adam: dict[str, np.ndarray]
    best_params: dict[str, np.ndarray]
    best_buffers: dict[str, np.ndarray]
    history: dict[str, dict[str, np.ndarray]]
    result: dict[str, Any] | None = None
    code_fingerprints: list[str] = field(default_factory=list)

    @property
    def step(self) -> int:
        """Steps done at the last checkpoint."""
        return int(self.checkpoint["step"])


def write_run(path: str | Path, record: RunRecord) -> Path:
    """Write a training run file atomically.

    Parameters
    ----------
    path : str or Path
        The run file (replaced).
    record : RunRecord
        What to store; ``attrs`` holds the run's own root attributes (the
        provenance, ``kind``, ``format_version`` and ``updated`` are added;
        ``created`` is kept if given, so it stays the run's start).

    Returns
    -------
    Path
    """
    path = Path(path)
    with atomic_write(path) as f:
        set_attributes(f, {**provenance_attributes(), **record.attrs, "kind": KIND,
                           "format_version": FORMAT_VERSION, "updated": now_utc(),
                           "code_fingerprints": json.dumps(record.code_fingerprints)})
        ck = f.create_group("checkpoint")
        set_attributes(ck, record.checkpoint)
        for name in _CHECKPOINT_ARRAYS:
            g = ck.create_group(name)
            for key, value in getattr(record, name).items():
                create_array(g, key, data=np.asarray(value))
        hist = f.create_group("history")
        for part, columns in record.history.items():
            g = hist.create_group(part)
            for col, values in columns.items():
                create_array(g, col, data=np.asarray(values))
        if record.result is not None:
            set_attributes(f.create_group("result"), {k: str(v) if isinstance(v, Path) else v
                                                      for k, v in record.result.items()})
    return path


def read_run(path: str | Path) -> RunRecord:
    """Read a training run file written by :func:`write_run`.

    Raises
    ------
    StorageError
        If the file is missing, truncated, damaged, or not a training run file
        of this format version.
    """
    with reading(path, KIND, FORMAT_VERSION) as f:
        attrs = attributes(f)
        ck = f["checkpoint"]
        arrays = {name: _arrays(ck[name]) for name in _CHECKPOINT_ARRAYS}
        history = {p: {c: g[c][()] for c in g} for p, g in members(f["history"]).items()}
        result = attributes(f["result"]) if "result" in f else None
        return RunRecord(attrs=attrs, checkpoint=attributes(ck), history=history,
                         result=result, code_fingerprints=json.loads(
                             str(attrs.get("code_fingerprints", "[]"))), **arrays)


def _arrays(group: h5py.Group) -> dict[str, np.ndarray]:
    out: dict[str, np.ndarray] = {}
    group.visititems(lambda name, obj: out.__setitem__(name, obj[()])
                     if isinstance(obj, h5py.Dataset) else None)
    return out
