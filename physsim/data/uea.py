"""UEA multivariate classification datasets (the RHEL paper's benchmarks and aeon's bundled ones).

Three ways to get the ``<Name>_TRAIN.ts`` / ``<Name>_TEST.ts`` files, tried in this order:

1. ``data_dir=<folder>``: read them from a local folder with this package's own
   ``.ts`` reader (:mod:`physsim.data.ts_format`); no third-party package needed.
   Accepted layouts: ``<folder>/<Name>/<Name>_TRAIN.ts`` (the archive's layout) or
   ``<folder>/<Name>_TRAIN.ts``.
2. Datasets whose ``.ts`` files ship inside the aeon or sktime wheels
   (:data:`AEON_BUNDLED`: JapaneseVowels, BasicMotions): read offline from the
   installed package's data folder with the same reader.  The package is found,
   not imported, so either one serves (aeon pins an older numba; sktime does not).
3. Anything else: ``aeon.datasets.load_classification(name, split=...,
   extract_path=cache_dir)``, which reads the cache and otherwise downloads the
   archive into it. Offline and uncached, this raises
   :class:`~physsim.data.DatasetUnavailableError` that names the dataset and says how
   to supply the files.

Splits
------
``split="official"`` (default): the archive's TRAIN/TEST files; a validation set of
``val_fraction`` of the training cases is drawn, stratified by class, from ``seed``.

``split="paper"``: the RHEL / Log-NCDE protocol. TRAIN and TEST are merged, exact
duplicate cases are removed (first occurrence kept), and the cases are split at
random into 70 / 15 / 15 % from ``seed``. The paper did not standardise the inputs;
pass ``standardize=False`` to match that too, and ``include_time=True`` for the
datasets whose configs add a time channel (Heartbeat, SelfRegulationSCP1/2, PPG).
"""

from __future__ import annotations

import importlib.util
import os
from pathlib import Path
from typing import Literal

import numpy as np

from ._core import (
    DATA_EXTRA_HINT,
    DatasetUnavailableError,
    SequenceDataset,
    VariableLength,
    build_dataset,
    encode_labels,
    random_split_indices,
    require_package,
    stratified_split_indices,
)
from .ts_format import read_ts

__all__ = [
    "UEA_PAPER_DATASETS",
    "AEON_BUNDLED",
    "default_cache_dir",
    "load_uea",
    "read_uea_folder",
]

#: The six UEA datasets of the RHEL paper (Table 1).
UEA_PAPER_DATASETS = (
    "SelfRegulationSCP1",
    "SelfRegulationSCP2",
    "EthanolConcentration",
    "Heartbeat",
    "MotorImagery",
    "EigenWorms",
)

#: UEA/UCR datasets that ship inside the aeon (and sktime) wheels and load offline.
AEON_BUNDLED = ("JapaneseVowels", "BasicMotions")

#: PyPI packages that ship :data:`AEON_BUNDLED` and the data folder inside each.
BUNDLING_PACKAGES = (("aeon", "datasets/data"), ("sktime", "datasets/data"))

# Sampling intervals (s) where the UEA archive documentation states a rate: SCP1/SCP2
# are EEG at 256 Hz (BCI competition II), MotorImagery ECoG at 1000 Hz (BCI
# competition III), BasicMotions smartwatch IMU at 10 Hz. Others are left unset.
_TIME_STEP = {
    "SelfRegulationSCP1": 1 / 256,
    "SelfRegulationSCP2": 1 / 256,
    "MotorImagery": 1 / 1000,
    "BasicMotions": 1 / 10,
}


def default_cache_dir() -> Path:
    """Folder where aeon downloads UEA archives.

    ``$PHYSSIM_DATA_DIR/uea`` if that variable is set, else
    ``$XDG_CACHE_HOME/physsim/uea`` (``~/.cache/physsim/uea``).
    """
    root = os.environ.get("PHYSSIM_DATA_DIR")
    if root:
        return Path(root).expanduser() / "uea"
    cache = os.environ.get("XDG_CACHE_HOME") or os.path.join("~", ".cache")
    return Path(cache).expanduser() / "physsim" / "uea"


def _unavailable_message(name: str, cache_dir: Path, reason: str) -> str:
    return (
        f"UEA dataset {name!r} is not in the cache {cache_dir / name} and could not be "
        f"downloaded ({reason}). To use it offline, download {name}_TRAIN.ts and "
        f"{name}_TEST.ts (UEA multivariate archive, timeseriesclassification.com, "
        f"'{name}' page) on a machine with internet access and either put them in "
        f"{cache_dir / name}/ or pass data_dir=<folder> containing {name}/{name}_TRAIN.ts. "
        f"Online, this call downloads them into the cache by itself."
    )


def read_uea_folder(
    name: str, data_dir: str | os.PathLike
) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    """Read ``<name>_TRAIN.ts`` and ``<name>_TEST.ts`` from a local folder.

    Parameters
    ----------
    name : str
        Dataset name as in the file names, e.g. ``"SelfRegulationSCP1"``.
    data_dir : str or path-like
        Folder holding ``<name>/<name>_TRAIN.ts`` or ``<name>_TRAIN.ts`` directly.

    Returns
    -------
    dict
        ``{'train': (series, labels), 'test': (series, labels)}`` with series a list of
        (length, channels) float64 arrays and labels an array of str.
    """
    root = Path(data_dir).expanduser()
    candidates = [root / name, root]
    for folder in candidates:
        files = {s: folder / f"{name}_{s.upper()}.ts" for s in ("train", "test")}
        if all(f.is_file() for f in files.values()):
            out = {}
            for s, f in files.items():
                ts = read_ts(f)
                if ts.labels is None or ts.is_regression:
                    raise ValueError(
                        f"{f} has no class labels; UEA loaders expect classification files"
                    )
                out[s] = (ts.series, ts.labels)
            return out
    tried = ", ".join(str(c / f"{name}_TRAIN.ts") for c in candidates)
    raise FileNotFoundError(
        f"UEA dataset {name!r}: no {name}_TRAIN.ts/{name}_TEST.ts pair found (tried {tried})."
    )


def bundled_folder(name: str) -> tuple[Path, str]:
    """Folder of ``<name>_TRAIN.ts``/``_TEST.ts`` inside an installed aeon or sktime.

    Parameters
    ----------
    name : str
        One of :data:`AEON_BUNDLED`.

    Returns
    -------
    folder : Path
        The dataset's folder in the package.
    package : str
        ``"aeon"`` or ``"sktime"``.

    Raises
    ------
    ImportError
        If neither package (with the files) is installed.
    """
    for package, relative in BUNDLING_PACKAGES:
        spec = importlib.util.find_spec(package)  # locates without importing it
        if spec is None or not spec.submodule_search_locations:
            continue
        folder = Path(list(spec.submodule_search_locations)[0]) / relative / name
        if (folder / f"{name}_TRAIN.ts").is_file() and (folder / f"{name}_TEST.ts").is_file():
            return folder, package
    raise ImportError(
        f"Loading dataset {name!r} needs its .ts files from the PyPI package 'aeon' or "
        f"'sktime' (both ship them); neither is installed with them. Install one "
        f"(`pip install sktime`, or the data extra `{DATA_EXTRA_HINT}`), or pass "
        f"data_dir=<folder> holding {name}_TRAIN.ts and {name}_TEST.ts."
    )


def _aeon_to_cases(X) -> list[np.ndarray]:
    """Convert aeon's (cases, channels, length) arrays or lists to (length, channels)."""
    return [np.asarray(c, dtype=np.float64).T for c in X]


def _read_with_aeon(name: str, cache_dir: Path) -> dict[str, tuple[list[np.ndarray], np.ndarray]]:
    datasets = require_package("aeon.datasets", "aeon", name)
    out = {}
    for s in ("train", "test"):
        try:
            X, y = datasets.load_classification(name, split=s, extract_path=str(cache_dir))
        except Exception as exc:  # aeon raises ValueError/URLError/OSError when offline
            raise DatasetUnavailableError(
                _unavailable_message(name, cache_dir, f"{type(exc).__name__}: {exc}")
            ) from exc
        out[s] = (_aeon_to_cases(X), np.asarray(y).astype(str))
    return out


def _drop_duplicates(
    cases: list[np.ndarray], labels: np.ndarray
) -> tuple[list[np.ndarray], np.ndarray, int]:
    """Remove exact duplicate cases (same shape and values), keeping the first."""
    seen: set[tuple] = set()
    keep = []
    for i, c in enumerate(cases):
        key = (c.shape, c.tobytes())
        if key not in seen:
            seen.add(key)
            keep.append(i)
    return [cases[i] for i in keep], labels[keep], len(cases) - len(keep)


def load_uea(
    name: str,
    *,
    data_dir: str | os.PathLike | None = None,
    cache_dir: str | os.PathLike | None = None,
    split: Literal["official", "paper"] = "official",
    val_fraction: float = 0.15,
    seed: int = 0,
    standardize: bool = True,
    variable_length: VariableLength = "pad",
    max_length: int | None = None,
    include_time: bool = False,
) -> SequenceDataset:
    """Load a UEA multivariate classification dataset.

    Parameters
    ----------
    name : str
        Archive name, e.g. ``"SelfRegulationSCP1"``, ``"EigenWorms"``, ``"JapaneseVowels"``.
    data_dir : str or path-like, optional
        Local folder with the ``.ts`` files (see module docstring); no download, no aeon.
    cache_dir : str or path-like, optional
        aeon's ``extract_path`` (default :func:`default_cache_dir`). Unused for
        ``data_dir`` and for datasets bundled with aeon.
    split : {'official', 'paper'}, default 'official'
        Split protocol (see module docstring).
    val_fraction : float, default 0.15
        ``split='official'`` only: fraction of the training cases held out for validation.
    seed : int, default 0
        Seed of the random parts of the split.
    standardize, variable_length, max_length, include_time
        See :func:`physsim.data.build_dataset`.

    Returns
    -------
    SequenceDataset
        Classification dataset; inputs (cases, length, channels) in the archive's raw
        units (unknown per channel), standardised unless ``standardize=False``.

    Raises
    ------
    DatasetUnavailableError
        Offline, with no cached or local copy.
    ImportError
        If aeon is needed (no ``data_dir``) but not installed, or neither aeon
        nor sktime is installed for a bundled dataset.
    FileNotFoundError
        If ``data_dir`` lacks the files.
    """
    if split not in ("official", "paper"):
        raise ValueError(f"split must be 'official' or 'paper', got {split!r}")
    if not 0.0 < val_fraction < 1.0:
        raise ValueError(f"val_fraction must be in (0, 1), got {val_fraction}")
    if data_dir is not None:
        raw = read_uea_folder(name, data_dir)
        source = f"local .ts files in {Path(data_dir).expanduser()}"
    elif name in AEON_BUNDLED:
        folder, package = bundled_folder(name)
        raw = read_uea_folder(name, folder)
        source = f"{name}_TRAIN/TEST.ts shipped in the {package} wheel ({folder})"
    else:
        cache = Path(cache_dir).expanduser() if cache_dir is not None else default_cache_dir()
        raw = _read_with_aeon(name, cache)
        source = f"aeon.datasets.load_classification({name!r}, extract_path={str(cache)!r})"
    train_cases, train_lab = raw["train"]
    test_cases, test_lab = raw["test"]
    y_all, class_names = encode_labels(np.concatenate([train_lab, test_lab]))
    y_tr, y_te = y_all[: len(train_lab)], y_all[len(train_lab) :]
    rng = np.random.default_rng(seed)
    notes: dict = {}
    if split == "official":
        tr_idx, va_idx = stratified_split_indices(y_tr, (1 - val_fraction, val_fraction), rng)
        x = {
            "train": [train_cases[i] for i in tr_idx],
            "val": [train_cases[i] for i in va_idx],
            "test": test_cases,
        }
        y = {"train": y_tr[tr_idx], "val": y_tr[va_idx], "test": y_te}
        desc = (
            f"official TRAIN/TEST; validation = {val_fraction:.0%} of TRAIN, "
            f"stratified, seed {seed}"
        )
    else:
        cases, labels, n_dup = _drop_duplicates(train_cases + test_cases, y_all)
        notes["duplicates_removed"] = n_dup
        parts = random_split_indices(len(cases), (0.7, 0.15, 0.15), rng)
        x = {k: [cases[i] for i in p] for k, p in zip(("train", "val", "test"), parts)}
        y = {k: labels[p] for k, p in zip(("train", "val", "test"), parts)}
        desc = f"paper: TRAIN+TEST merged, {n_dup} duplicates removed, random 70/15/15, seed {seed}"
    n_ch = x["train"][0].shape[1]
    return build_dataset(
        name=name,
        source=source,
        task="classification",
        x=x,
        y=y,
        channel_names=tuple(f"dim_{i}" for i in range(n_ch)),
        channel_units=("unknown",) * n_ch,
        class_names=class_names,
        standardize=standardize,
        variable_length=variable_length,
        max_length=max_length,
        include_time=include_time,
        time_step=_TIME_STEP.get(name),
        split=desc,
        seed=seed,
        notes=notes,
    )
