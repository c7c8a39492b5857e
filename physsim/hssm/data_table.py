"""The ``[data]`` table of a training config: which data, and its loader's options.

A table names its data in exactly one of three ways::

    name = "seglearn_watch"     # a registered dataset (physsim.data) or a synthetic task
    ts_folder = "my_data"       # a folder with NAME_TRAIN.ts and NAME_TEST.ts (UEA/UCR)
    npz = "my_data.npz"         # x_train, y_train, x_test, y_test [, x_val, y_val]

Names are the synthetic tasks of :mod:`physsim.hssm.synthetic` and the datasets of the
:mod:`physsim.data` registry (matched without regard to case); local paths are relative
to the config file's folder and must exist when the config is checked.  The other keys
are keyword arguments of the loader (:func:`physsim.data.load_ts_folder`,
:func:`physsim.data.load_npz` for the local forms), checked against its signature and
typed by its annotations before anything is loaded.
"""

from __future__ import annotations

import functools
import inspect
from collections.abc import Callable, Mapping
from pathlib import Path
from typing import Any

from ..config.loader import ConfigError, schema_from_signature, validate
from ..data import DATASETS, SequenceDataset, load_npz, load_ts_folder
from ..registry import lookup
from .synthetic import SYNTHETIC_DATASETS

__all__ = ["LOCAL_DATA", "check_data_table", "dataset_loader", "dataset_names", "load_data"]

#: Keys of ``[data]`` that name local data: key -> (loader, what the path must be).
LOCAL_DATA: dict[str, tuple[Callable[..., SequenceDataset], str]] = {
    "ts_folder": (load_ts_folder, "folder"), "npz": (load_npz, "file")}


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


def _local_path(key: str, value: Any, where: str, base_dir: Path | None) -> str:
    """The absolute path of ``[data] ts_folder``/``npz``, checked to exist."""
    if not isinstance(value, str) or not value:
        raise ConfigError(f"[{where}] {key}: expected a path (a string), got {value!r}")
    kind = LOCAL_DATA[key][1]
    path = Path(value).expanduser()
    path = (path if path.is_absolute() or base_dir is None else Path(base_dir) / path).resolve()
    if not (path.is_dir() if kind == "folder" else path.is_file()):
        raise ConfigError(f"[{where}] {key}: {path} is not an existing {kind}"
                          + (" (relative paths start at the config file's folder)"
                             if not Path(value).is_absolute() else ""))
    return str(path)


def _checked(table: Mapping[str, Any], where: str, base_dir: Path | None = None
             ) -> tuple[Callable[..., SequenceDataset], dict[str, Any], set[str], dict[str, Any]]:
    """Loader, options, accepted option names and resolved table of a ``[data]`` table
    (nothing loaded)."""
    options = dict(table)
    forms = [k for k in ("name", *LOCAL_DATA) if k in options]
    if len(forms) != 1:
        raise ConfigError(f"[{where}]: name the data with exactly one of name = \"<dataset>\" "
                          f"(registered: {', '.join(dataset_names())}), ts_folder = \"<folder "
                          f"with NAME_TRAIN.ts and NAME_TEST.ts>\" or npz = \"<file.npz>\"; got "
                          f"{' and '.join(forms) if forms else 'none of them'}")
    form = forms[0]
    if form == "name":
        name = options.pop("name")
        try:
            loader = dataset_loader(name)
        except ValueError as exc:
            raise ConfigError(f"[{where}] name: {exc}") from None
        resolved = dict(table)
    else:
        path = _local_path(form, options.pop(form), where, base_dir)
        loader, name = LOCAL_DATA[form][0], path
        resolved = {**table, form: path}
    # the loader's first parameter is the path of the local forms
    path_arg = "name" if form == "name" else next(iter(inspect.signature(loader).parameters))
    schema = schema_from_signature(loader, "DataOptions", exclude=(path_arg,))
    accepted = set(schema.model_fields)
    unknown = sorted(set(options) - accepted)
    if unknown:
        raise ConfigError(f"[{where}]: dataset {name!r} does not take {unknown}; its options "
                          f"are: {', '.join(sorted(accepted))}")
    validate(schema, options, where)
    return (functools.partial(loader, name) if form != "name" else loader, options, accepted,
            resolved)


def check_data_table(table: Mapping[str, Any], where: str = "data",
                     base_dir: Path | None = None) -> dict[str, Any]:
    """Check a ``[data]`` table (which data, loader options) without loading anything.

    Parameters
    ----------
    table : dict
        The ``[data]`` table.
    where : str
        Table name for messages.
    base_dir : Path, optional
        Folder of the config file: ``ts_folder``/``npz`` paths are relative to it
        (to the working directory without it).

    Returns
    -------
    dict
        The table with ``ts_folder``/``npz`` made absolute paths.

    Raises
    ------
    ConfigError
        For no or several of ``name``/``ts_folder``/``npz``, an unknown name, a missing
        file or folder, an option the loader does not take or a value of the wrong type.
    """
    return _checked(table, where, base_dir)[3]


def load_data(table: Mapping[str, Any], seed: int = 0) -> SequenceDataset:
    """Load the dataset of a ``[data]`` table.

    Parameters
    ----------
    table : dict
        ``name`` (see :func:`dataset_names`), ``ts_folder`` or ``npz`` (absolute paths,
        or relative to the working directory), and the loader's keyword arguments.
    seed : int
        Passed as the loader's ``seed`` when the loader takes one and the table does not
        set it.

    Raises
    ------
    ConfigError
        For an unknown name or an option the loader does not accept (the message lists
        the valid ones).
    """
    loader, options, accepted, _ = _checked(table, "data")
    if "seed" in accepted and "seed" not in options:
        options["seed"] = int(seed)
    return loader(**options)
