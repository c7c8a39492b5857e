"""Small synthetic sequence tasks for tests, smoke runs and demos (no data package needed).

* ``synthetic_frequencies`` (classification): each case is a noisy sinusoid whose
  frequency is one of ``n_classes`` values; the class is the frequency.  Channel 0 is
  the signal, channel 1 pure noise.  Random amplitude and phase per case.
* ``synthetic_smoothing`` (regression): the input is a random-walk-like signal; the
  target is ``tanh`` of its exponential moving average (time constant ``tau`` steps),
  read every ``output_step`` steps, so the model must integrate over time.

Both return a :class:`physsim.data.SequenceDataset` built by
:func:`physsim.data.build_dataset` (train-only standardisation), with a seeded
70/15/15 split.
"""

from __future__ import annotations

from typing import Callable

import numpy as np

from ..data import SequenceDataset, build_dataset

__all__ = ["SYNTHETIC_DATASETS", "make_synthetic_frequencies", "make_synthetic_smoothing"]


def _split(n: int, rng: np.random.Generator) -> dict[str, np.ndarray]:
    perm = rng.permutation(n)
    a, b = int(0.7 * n), int(0.85 * n)
    return {"train": perm[:a], "val": perm[a:b], "test": perm[b:]}


def make_synthetic_frequencies(*, n_cases: int = 240, length: int = 48, n_classes: int = 3,
                               noise: float = 0.3, seed: int = 0) -> SequenceDataset:
    """Classify the frequency of a noisy sinusoid.

    Parameters
    ----------
    n_cases : int, default 240
        Cases over all splits (balanced classes).
    length : int, default 48
        Steps per case.
    n_classes : int, default 3
        Frequencies ``2 pi (k + 1) / 16`` rad per step, ``k = 0 .. n_classes-1``.
    noise : float, default 0.3
        Standard deviation of the additive Gaussian noise (both channels).
    seed : int, default 0
        Seed of the data and of the split.

    Returns
    -------
    SequenceDataset
    """
    if n_classes < 2 or n_cases < 4 * n_classes or length < 4:
        raise ValueError(f"need n_classes >= 2, n_cases >= 4 n_classes and length >= 4; got "
                         f"{n_classes}, {n_cases}, {length}")
    rng = np.random.default_rng(seed)
    y = np.arange(n_cases) % n_classes
    omega = 2 * np.pi * (y + 1) / 16.0
    t = np.arange(length)
    amp = rng.uniform(0.5, 1.5, n_cases)
    phase = rng.uniform(0, 2 * np.pi, n_cases)
    sig = amp[:, None] * np.sin(omega[:, None] * t[None, :] + phase[:, None])
    x = np.stack([sig, np.zeros_like(sig)], axis=2) + noise * rng.standard_normal(
        (n_cases, length, 2))
    parts = _split(n_cases, rng)
    return build_dataset(name="synthetic_frequencies", source="physsim.hssm.synthetic",
                         task="classification", x={k: x[v] for k, v in parts.items()},
                         y={k: y[v] for k, v in parts.items()},
                         channel_names=("signal", "noise"), channel_units=("1", "1"),
                         class_names=tuple(f"omega_{k + 1}/16" for k in range(n_classes)),
                         split=f"random 70/15/15, seed {seed}", seed=seed)


def make_synthetic_smoothing(*, n_cases: int = 160, length: int = 64, output_step: int = 8,
                             tau: float = 6.0, seed: int = 0) -> SequenceDataset:
    """Regress ``tanh`` of an exponential moving average of the input.

    Parameters
    ----------
    n_cases : int, default 160
    length : int, default 64
        Steps per case (a multiple of ``output_step``).
    output_step : int, default 8
        Steps between targets.
    tau : float, default 6.0
        Time constant of the moving average, in steps.
    seed : int, default 0

    Returns
    -------
    SequenceDataset
        Regression with ``y`` of shape (cases, length // output_step, 1).
    """
    if length % output_step or n_cases < 8:
        raise ValueError(f"length ({length}) must be a multiple of output_step ({output_step}) "
                         f"and n_cases >= 8")
    rng = np.random.default_rng(seed)
    u = rng.standard_normal((n_cases, length))
    a = np.exp(-1.0 / tau)
    ema = np.zeros_like(u)
    acc = np.zeros(n_cases)
    for k in range(length):
        acc = a * acc + (1 - a) * u[:, k]
        ema[:, k] = acc
    target = np.tanh(2.0 * ema[:, output_step - 1::output_step])[..., None]
    parts = _split(n_cases, rng)
    return build_dataset(name="synthetic_smoothing", source="physsim.hssm.synthetic",
                         task="regression", x={k: u[v, :, None] for k, v in parts.items()},
                         y={k: target[v] for k, v in parts.items()}, channel_names=("u",),
                         channel_units=("1",), output_step=output_step,
                         split=f"random 70/15/15, seed {seed}", seed=seed)


#: Synthetic tasks by name (accepted by the trainer's ``[data] name``).
SYNTHETIC_DATASETS: dict[str, Callable[..., SequenceDataset]] = {
    "synthetic_frequencies": make_synthetic_frequencies,
    "synthetic_smoothing": make_synthetic_smoothing,
}
