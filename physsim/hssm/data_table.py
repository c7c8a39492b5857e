"""The ``[data]`` table of a training config: a dataset name and its loader's options.

Names are the synthetic tasks of :mod:`physsim.hssm.synthetic` and the datasets of the
:mod:`physsim.data` registry (matched without regard to case); the other keys are keyword
arguments of the dataset's loader, checked against its signature and typed by its
annotations before anything is loaded.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

from ..config.loader import ConfigError, schema_from_signature, validate
from ..data import DATASETS, SequenceDataset
from ..registry import lookup
from .synthetic import SYNTHETIC_DATASETS

__all__ = ["check_data_table", "dataset_loader", "dataset_names", "load_data"]


def dataset_names() -> list[str]:
    """Names accepted by ``[data] name``: synthetic tasks and the :mod:`physsim.data` registry."""
    return list(SYNTHETIC_DATASETS) + list(DATASETS)


def dataset_loader(name: str) -> Callable[..., SequenceDataset]:
    """The loader of a dataset name (case-insensitive).

    Raises
    ------
    ValueError
        ``unknown dataset 'x'; valid names are: ...``.
    """
    loaders = {n: f for n, f in SYNTHETIC_DATASETS.items()}
    loaders.update({n: spec.loader for n, spec in DATASETS.items()})
    by_lower = {n.lower(): n for n in loaders}
    if isinstance(name, str) and name.lower() in by_lower:
        name = by_lower[name.lower()]
    return lookup(loaders, name, "dataset")


def _checked(table: Mapping[str, Any], where: str
             ) -> tuple[Callable[..., SequenceDataset], dict[str, Any], set[str]]:
    """Loader, options and accepted option names of a ``[data]`` table (nothing loaded)."""
    options = dict(table)
    name = options.pop("name", None)
    try:
        loader = dataset_loader(name)
    except ValueError as exc:
        raise ConfigError(f"[{where}] name: {exc}") from None
    schema = schema_from_signature(loader, "DataOptions", exclude=("name",))
    accepted = set(schema.model_fields)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(f"[{where}]: dataset {name!r} does not take {unknown}; its options "
                          f"are: {', '.join(sorted(accepted))}")
    validate(schema, options, where)
    return loader, options, accepted


def check_data_table(table: Mapping[str, Any], where: str = "data") -> None:
    """Check a ``[data]`` table (name and loader options) without loading anything.

    Raises
    ------
    ConfigError
        For an unknown name, an option the loader does not take or a value of the wrong type.
    """
    _checked(table, where)


def load_data(table: Mapping[str, Any], seed: int = 0) -> SequenceDataset:
    """Load the dataset of a ``[data]`` table.

    Parameters
    ----------
    table : dict
        ``name`` (see :func:`dataset_names`) and the loader's keyword arguments.
    seed : int
        Passed as the loader's ``seed`` when the loader takes one and the table does not
        set it.

    Raises
    ------
    ConfigError
        For an unknown name or an option the loader does not accept (the message lists
        the valid ones).
    """
    loader, options, accepted = _checked(table, "data")
    if "seed" in accepted and "seed" not in options:
        options["seed"] = int(seed)
    return loader(**options)
