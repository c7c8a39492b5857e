"""PPG-DaLiA heart-rate regression from a local copy in its published layout.

PPG-DaLiA (Reiss et al., "Deep PPG", Sensors 19(14):3079, 2019; UCI archive) holds 15
subjects, one pickle each, at ``PPG_FieldStudy/S<i>/S<i>.pkl``. Each pickle is a dict
(saved by Python 2, hence ``encoding='latin1'``) with, among others:

* ``signal['wrist']``: Empatica E4 wrist signals ``ACC`` (n, 3) at 32 Hz, ``BVP`` (n, 1)
  at 64 Hz, ``EDA`` (n, 1) and ``TEMP`` (n, 1) at 4 Hz;
* ``signal['chest']``: RespiBAN chest signals at 700 Hz (unused here);
* ``label``: reference heart rate (bpm) from the ECG, one value per 8-s window with a
  2-s shift;
* ``activity``, ``questionnaire``, ``rpeaks``, ``subject`` (unused here).

Preprocessing follows the RHEL / Log-NCDE code (``process_ppg.py``):

1. per subject, bring the wrist signals to 64 Hz by repetition (ACC x2, EDA and TEMP
   x16) giving 6 channels ``ACC_x, ACC_y, ACC_z, BVP, EDA, TEMP``;
2. min-max scale each signal to [-1, 1] over the subject's whole recording (ACC
   jointly over its three axes, as the original code does);
3. prepend three copies of the first label, so label ``j`` belongs to the end of 2-s
   block ``j`` (input step ``128 (j + 1) - 1``), and min-max scale the labels of each
   subject to [-1, 1];
4. split every subject chronologically 70 / 15 / 15 % into one of six arrangements of
   the three parts (train first or middle or last, ...), chosen at random per subject
   as in the original code (here from ``seed``; ``arrangement=0`` gives train / val /
   test in time order for every subject);
5. cut every part into windows of 49,920 steps (780 s) every 4,992 steps, with 390
   labels per window (``output_step`` = 128).

Deviation from the original: split boundaries are placed on whole 2-s label blocks,
so inputs and labels of a window are exactly aligned (the original cut inputs and
labels at separately rounded fractions, misaligning them by up to 127 steps).
``scaling='standardize'`` replaces steps 2-3 by a per-channel standardisation of the
inputs fitted on the training windows (no information from validation or test
periods) and a [-1, 1] scaling of heart rate fitted on the training labels.

The pickles are read with :mod:`pickle`; only load files you trust.
"""

from __future__ import annotations

import os
import pickle
from pathlib import Path
from typing import Literal, Sequence

import numpy as np

from ._core import SequenceDataset, build_dataset

__all__ = ["load_ppg_dalia", "PPG_SAMPLING_HZ"]

#: Sampling rates (Hz) of the Empatica E4 wrist signals in PPG-DaLiA.
PPG_SAMPLING_HZ = {"ACC": 32, "BVP": 64, "EDA": 4, "TEMP": 4}
_RATE = 64  # common rate after repetition
_LABEL_SHIFT_S = 2  # labels every 2 s
_LABEL_STEPS = _RATE * _LABEL_SHIFT_S  # 128 input steps per label


def _minmax(a: np.ndarray) -> np.ndarray:
    lo, hi = np.min(a), np.max(a)
    if hi <= lo:
        return np.zeros_like(a, dtype=np.float64)
    return 2.0 * (a - lo) / (hi - lo) - 1.0


def _find_root(data_dir: Path) -> Path:
    for cand in (data_dir, data_dir / "PPG_FieldStudy"):
        if (cand / "S1").is_dir() or any(cand.glob("S*/S*.pkl")):
            return cand
    raise FileNotFoundError(
        f"PPG-DaLiA: no subject folders S<i>/S<i>.pkl under {data_dir} or "
        f"{data_dir / 'PPG_FieldStudy'}. Download PPG-DaLiA (UCI machine learning "
        "repository) and pass the folder that contains PPG_FieldStudy/ (or that folder itself)."
    )


def _load_subject(path: Path) -> tuple[np.ndarray, np.ndarray]:
    """Read one subject: inputs (steps, 6) at 64 Hz, unscaled, and labels (blocks,) in bpm."""
    with open(path, "rb") as fh:
        data = pickle.load(fh, encoding="latin1")
    try:
        wrist = data["signal"]["wrist"]
        acc = np.asarray(wrist["ACC"], dtype=np.float64).reshape(-1, 3)
        bvp = np.asarray(wrist["BVP"], dtype=np.float64).reshape(-1, 1)
        eda = np.asarray(wrist["EDA"], dtype=np.float64).reshape(-1, 1)
        temp = np.asarray(wrist["TEMP"], dtype=np.float64).reshape(-1, 1)
        label = np.asarray(data["label"], dtype=np.float64).reshape(-1)
    except (KeyError, TypeError) as exc:
        raise ValueError(
            f"{path}: not in the PPG-DaLiA layout (expected data['signal']['wrist'] with "
            f"ACC, BVP, EDA, TEMP and data['label']): missing {exc}"
        ) from None
    parts = {
        "ACC": np.repeat(acc, 2, axis=0),
        "BVP": bvp,
        "EDA": np.repeat(eda, 16, axis=0),
        "TEMP": np.repeat(temp, 16, axis=0),
    }
    lens = {k: v.shape[0] for k, v in parts.items()}
    n = min(lens.values())
    # The published signals agree to within a few samples at 64 Hz; a larger mismatch
    # means the file is not what we think it is.
    if max(lens.values()) - n > 2 * _RATE:
        raise ValueError(f"{path}: wrist signals have inconsistent durations at 64 Hz: {lens}")
    label = np.concatenate([np.full(3, label[0]), label])
    blocks = min(n // _LABEL_STEPS, label.size)
    if abs(label.size - n / _LABEL_STEPS) > 4:
        raise ValueError(
            f"{path}: {label.size} labels (incl. 3 prepended) do not match "
            f"{n / _LABEL_STEPS:.1f} two-second blocks of wrist data"
        )
    inputs = np.concatenate(
        [parts[k][: blocks * _LABEL_STEPS] for k in ("ACC", "BVP", "EDA", "TEMP")], axis=1
    )
    return inputs, label[:blocks]


# The six arrangements of (train 70 %, val 15 %, test 15 %) of the original code, as
# (part, start fraction, end fraction).
_ARRANGEMENTS = (
    {"train": (0.0, 0.7), "val": (0.7, 0.85), "test": (0.85, 1.0)},
    {"train": (0.0, 0.7), "val": (0.85, 1.0), "test": (0.7, 0.85)},
    {"train": (0.15, 0.85), "val": (0.0, 0.15), "test": (0.85, 1.0)},
    {"train": (0.15, 0.85), "val": (0.85, 1.0), "test": (0.0, 0.15)},
    {"train": (0.30, 1.0), "val": (0.0, 0.15), "test": (0.15, 0.30)},
    {"train": (0.30, 1.0), "val": (0.15, 0.30), "test": (0.0, 0.15)},
)


def load_ppg_dalia(
    data_dir: str | os.PathLike,
    *,
    subjects: Sequence[int] = tuple(range(1, 16)),
    window_length: int = 49_920,
    window_stride: int = 4_992,
    arrangement: Literal["random"] | int = "random",
    seed: int = 0,
    scaling: Literal["paper", "standardize"] = "paper",
    include_time: bool = False,
) -> SequenceDataset:
    """Load PPG-DaLiA as windowed heart-rate regression (see module docstring).

    Parameters
    ----------
    data_dir : str or path-like
        Folder that contains ``PPG_FieldStudy/`` or is that folder (with ``S1/S1.pkl`` ...).
    subjects : sequence of int, default 1..15
        Subject numbers to load.
    window_length : int, default 49920
        Input steps (at 64 Hz) per case; a multiple of 128.
    window_stride : int, default 4992
        Steps between window starts; a multiple of 128.
    arrangement : 'random' or int in 0..5, default 'random'
        Order of the train / val / test parts within each subject's recording
        (see module docstring); ``'random'`` draws one per subject from ``seed``.
    seed : int, default 0
        Seed for ``arrangement='random'``.
    scaling : {'paper', 'standardize'}, default 'paper'
        Input and label scaling (see module docstring).
    include_time : bool, default False
        Prepend a time channel k/L (the RHEL config for PPG uses it).

    Returns
    -------
    SequenceDataset
        Regression; x (cases, window_length, 6), y (cases, window_length // 128, 1)
        scaled heart rate; ``time_step`` 1/64 s, ``output_step`` 128; ``groups`` holds
        the subject number of each window.
    """
    for nm, v in (("window_length", window_length), ("window_stride", window_stride)):
        if v < _LABEL_STEPS or v % _LABEL_STEPS:
            raise ValueError(f"{nm} must be a positive multiple of {_LABEL_STEPS}, got {v}")
    if scaling not in ("paper", "standardize"):
        raise ValueError(f"scaling must be 'paper' or 'standardize', got {scaling!r}")
    if arrangement != "random" and arrangement not in range(len(_ARRANGEMENTS)):
        raise ValueError(f"arrangement must be 'random' or an int in 0..5, got {arrangement!r}")
    subjects = [int(s) for s in subjects]
    if not subjects:
        raise ValueError("subjects is empty")
    root = _find_root(Path(data_dir).expanduser())
    missing = [s for s in subjects if not (root / f"S{s}" / f"S{s}.pkl").is_file()]
    if missing:
        raise FileNotFoundError(
            "PPG-DaLiA: missing subject files "
            f"{[str(root / f'S{s}' / f'S{s}.pkl') for s in missing]}; "
            "pass subjects=... to load a subset"
        )
    rng = np.random.default_rng(seed)
    lab_win = window_length // _LABEL_STEPS
    lab_stride = window_stride // _LABEL_STEPS
    keys = ("train", "val", "test")
    xs: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    ys: dict[str, list[np.ndarray]] = {k: [] for k in keys}
    gs: dict[str, list[int]] = {k: [] for k in keys}
    chosen = {}
    for s in subjects:
        inputs, label = _load_subject(root / f"S{s}" / f"S{s}.pkl")
        if scaling == "paper":
            inputs = np.concatenate(
                [
                    _minmax(inputs[:, :3]),
                    _minmax(inputs[:, 3:4]),
                    _minmax(inputs[:, 4:5]),
                    _minmax(inputs[:, 5:6]),
                ],
                axis=1,
            )
            label = _minmax(label)
        arr = int(rng.integers(len(_ARRANGEMENTS))) if arrangement == "random" else int(arrangement)
        chosen[s] = arr
        n_blocks = label.size
        for k in keys:
            f0, f1 = _ARRANGEMENTS[arr][k]
            b0, b1 = int(f0 * n_blocks), int(f1 * n_blocks)
            for start in range(b0, b1 - lab_win + 1, lab_stride):
                xs[k].append(inputs[start * _LABEL_STEPS : (start + lab_win) * _LABEL_STEPS])
                ys[k].append(label[start : start + lab_win])
                gs[k].append(s)
    for k in keys:
        if not xs[k]:
            raise ValueError(
                f"PPG-DaLiA: no {k} window of {window_length} steps fits in the recordings of "
                f"subjects {subjects}; use a shorter window_length"
            )
    x = {k: np.stack(xs[k]) for k in keys}
    y = {k: np.stack(ys[k])[..., None] for k in keys}
    offset = scale = None
    if scaling == "standardize":
        hr = y["train"]
        offset = np.array([0.5 * (hr.max() + hr.min())])
        scale = np.array([0.5 * (hr.max() - hr.min())])
        y = {k: (v - offset) / scale for k, v in y.items()}
    return build_dataset(
        name="ppg_dalia",
        source=f"local PPG-DaLiA pickles in {root}",
        task="regression",
        x=x,
        y=y,
        groups={k: np.array(gs[k]) for k in keys},
        channel_names=("ACC_x", "ACC_y", "ACC_z", "BVP", "EDA", "TEMP"),
        channel_units=("1/64 g",) * 3 + ("unknown", "uS", "degC"),
        standardize=scaling == "standardize",
        include_time=include_time,
        time_step=1 / _RATE,
        output_step=_LABEL_STEPS,
        target_names=("heart_rate",),
        target_units=("bpm",),
        target_offset=offset,
        target_scale=scale,
        split=(
            f"per subject chronological 70/15/15, arrangement {arrangement!r} (seed {seed}); "
            f"windows {window_length} stride {window_stride}; scaling {scaling!r}"
        ),
        seed=seed,
        notes={"arrangements": chosen, "subjects": subjects},
    )
