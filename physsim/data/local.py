"""A user's own data: a folder of UEA/UCR ``.ts`` files or an ``.npz`` file of arrays.

``physsim train`` reaches these through ``[data] ts_folder = "..."`` and
``[data] npz = "..."`` (:mod:`physsim.hssm.data_table`); both return a
:class:`~physsim.data.SequenceDataset` with the conventions of every other loader
(train-only standardisation, zero padding of unequal lengths, class names).
"""

from __future__ import annotations

import os
import zipfile
from pathlib import Path
from typing import Literal

import numpy as np

from ._core import (SequenceDataset, VariableLength, build_dataset, encode_labels,
                    random_split_indices, stratified_split_indices)
from .uea import load_uea

__all__ = ["NPZ_ARRAYS", "find_ts_pair", "load_npz", "load_ts_folder"]

#: Arrays of a training ``.npz`` file: required ones, then the optional validation pair.
NPZ_ARRAYS = {"required": ("x_train", "y_train", "x_test", "y_test"),
              "optional": ("x_val", "y_val")}


def find_ts_pair(folder: str | os.PathLike) -> str:
    """The problem name ``NAME`` of the one ``NAME_TRAIN.ts``/``NAME_TEST.ts`` pair in a folder.

    Raises
    ------
    FileNotFoundError
        If the folder does not exist or holds no such pair.
    ValueError
        If it holds more than one pair (the message lists them).
    """
    root = Path(folder).expanduser()
    if not root.is_dir():
        raise FileNotFoundError(f"{root} is not a folder")
    names = sorted(p.name[: -len("_TRAIN.ts")] for p in root.glob("*_TRAIN.ts")
                   if (root / (p.name[: -len("_TRAIN.ts")] + "_TEST.ts")).is_file())
    if not names:
        found = sorted(p.name for p in root.glob("*.ts"))
        raise FileNotFoundError(f"{root} holds no NAME_TRAIN.ts and NAME_TEST.ts pair (UEA/UCR "
                                f"layout); .ts files there: {found or 'none'}")
    if len(names) > 1:
        raise ValueError(f"{root} holds {len(names)} NAME_TRAIN.ts/NAME_TEST.ts pairs "
                         f"({', '.join(names)}); put each data set in a folder of its own")
    return names[0]


def load_ts_folder(folder: str | os.PathLike, *, val_fraction: float = 0.15, seed: int = 0,
                   standardize: bool = True, variable_length: VariableLength = "pad",
                   max_length: int | None = None, include_time: bool = False
                   ) -> SequenceDataset:
    """A classification data set from a folder with ``NAME_TRAIN.ts`` and ``NAME_TEST.ts``.

    The files are in the UEA/UCR ``.ts`` format (:mod:`physsim.data.ts_format`),
    univariate or multivariate, of equal or unequal lengths, with class labels.  The
    test file is the test split; ``val_fraction`` of the training cases (stratified by
    class, drawn with ``seed``) are the validation split.

    Parameters
    ----------
    folder : str or path-like
        Folder holding exactly one ``NAME_TRAIN.ts``/``NAME_TEST.ts`` pair.
    val_fraction : float, default 0.15
        Fraction of the training cases held out for validation, in (0, 1).
    seed : int, default 0
        Seed of the validation draw.
    standardize, variable_length, max_length, include_time
        See :func:`physsim.data.build_dataset`.

    Returns
    -------
    SequenceDataset
        Named ``NAME``; inputs (cases, length, channels) in the files' units,
        standardised unless ``standardize=False``.
    """
    return load_uea(find_ts_pair(folder), data_dir=Path(folder).expanduser(), split="official",
                    val_fraction=val_fraction, seed=seed, standardize=standardize,
                    variable_length=variable_length, max_length=max_length,
                    include_time=include_time)


def _as_cases(x: np.ndarray, key: str, path: Path) -> np.ndarray:
    """(cases, length, channels) from (cases, length, channels) or univariate (cases, length)."""
    if x.dtype.kind not in "iuf":
        raise ValueError(f"{path}: {key} must hold numbers, got dtype {x.dtype}")
    if x.ndim == 2:
        return x[:, :, None].astype(np.float64)
    if x.ndim != 3:
        raise ValueError(f"{path}: {key} must have shape (cases, length, channels) or "
                         f"(cases, length), got {x.shape}")
    return x.astype(np.float64)


def load_npz(path: str | os.PathLike, *,
             task: Literal["classification", "regression"] = "classification",
             val_fraction: float = 0.15, seed: int = 0, standardize: bool = True,
             include_time: bool = False) -> SequenceDataset:
    """A data set from an ``.npz`` file (``numpy.savez``) of train/test arrays.

    The file holds ``x_train``, ``y_train``, ``x_test``, ``y_test`` and optionally
    ``x_val``, ``y_val`` (without them ``val_fraction`` of the training cases, drawn with
    ``seed`` and stratified by class for classification, are the validation split).

    Parameters
    ----------
    path : str or path-like
        The ``.npz`` file.
    task : {"classification", "regression"}, default "classification"
        ``x_*`` have shape (cases, length, channels), or (cases, length) for one
        channel.  Classification: ``y_*`` are class labels of shape (cases,)
        (integers or strings; classes are numbered over all splits).  Regression:
        ``y_*`` have shape (cases, n_outputs, target_channels) (see
        :class:`physsim.data.DataSplit`).
    val_fraction : float, default 0.15
        Used only without ``x_val``/``y_val``; in (0, 1).
    seed : int, default 0
        Seed of the validation draw.
    standardize, include_time
        See :func:`physsim.data.build_dataset`.

    Returns
    -------
    SequenceDataset
        Named after the file's stem.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ValueError
        If it is not an ``.npz`` archive, misses arrays (the message lists what it has),
        or arrays have the wrong shapes.
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    path = Path(path).expanduser()
    if not path.is_file():
        raise FileNotFoundError(f"{path} does not exist")
    if not zipfile.is_zipfile(path):
        raise ValueError(f"{path} is not an .npz archive (write one with numpy.savez(path, "
                         f"x_train=..., y_train=..., x_test=..., y_test=...))")
    try:
        with np.load(path, allow_pickle=False) as archive:
            arrays = {k: archive[k] for k in archive.files}
    except (zipfile.BadZipFile, OSError, ValueError) as exc:
        raise ValueError(f"{path} is not a readable .npz archive of arrays ({exc})") from None
    missing = [k for k in NPZ_ARRAYS["required"] if k not in arrays]
    has_val = [k for k in NPZ_ARRAYS["optional"] if k in arrays]
    if missing or len(has_val) == 1:
        need = missing or [k for k in NPZ_ARRAYS["optional"] if k not in arrays]
        raise ValueError(f"{path} lacks {need}; it must hold "
                         f"{', '.join(NPZ_ARRAYS['required'])} (and optionally both of "
                         f"{', '.join(NPZ_ARRAYS['optional'])}); it holds {sorted(arrays)}")
    parts = ("train", "val", "test") if has_val else ("train", "test")
    x = {s: _as_cases(arrays[f"x_{s}"], f"x_{s}", path) for s in parts}
    y = {s: arrays[f"y_{s}"] for s in parts}
    class_names = None
    if task == "classification":
        for s in parts:
            if y[s].ndim != 1:
                raise ValueError(f"{path}: y_{s} must hold one class label per case, shape "
                                 f"(cases,), got {y[s].shape}")
        codes, class_names = encode_labels(np.concatenate([y[s].astype(str) for s in parts]))
        bounds = np.cumsum([0] + [len(y[s]) for s in parts])
        y = {s: codes[bounds[i]:bounds[i + 1]] for i, s in enumerate(parts)}
    extra = {}
    if task == "regression":
        length, n_out = x["train"].shape[1], (y["train"].shape[1] if y["train"].ndim == 3 else 0)
        if y["train"].ndim != 3 or n_out == 0 or length % n_out:
            raise ValueError(f"{path}: y_train must have shape (cases, n_outputs, "
                             f"target_channels) with n_outputs dividing the length {length} "
                             f"(target j belongs to step (j+1)*length/n_outputs - 1), got "
                             f"{y['train'].shape}")
        extra["output_step"] = length // n_out
    split = "train/val/test arrays of the file"
    if not has_val:
        rng = np.random.default_rng(seed)
        fractions = (1 - val_fraction, val_fraction)
        tr, va = (stratified_split_indices(y["train"], fractions, rng)
                  if task == "classification"
                  else random_split_indices(len(y["train"]), fractions, rng))
        x["val"], y["val"] = x["train"][va], y["train"][va]
        x["train"], y["train"] = x["train"][tr], y["train"][tr]
        split = (f"train/test arrays of the file; validation = {val_fraction:.0%} of train, "
                 f"seed {seed}")
    n_ch = x["train"].shape[2]
    return build_dataset(name=path.stem, source=f"local arrays {path}", task=task, x=x, y=y,
                         channel_names=tuple(f"dim_{i}" for i in range(n_ch)),
                         channel_units=("unknown",) * n_ch, class_names=class_names,
                         standardize=standardize, include_time=include_time, split=split,
                         seed=seed, **extra)
