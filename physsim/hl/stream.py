"""Tagged input streams for Hamiltonian Learning.

A stream yields ``S_t = (u_t, y_hat_t, delta_t)`` at evenly spaced times
``t = t_0 + k tau`` (research/hl.md section 1.1 and App. A).  Tags tell the HL
modes where samples and sequences end and where the neuron state is reset:

``has_target``
    a target is present at step ``k`` (targets may be sparse, footnote 1);
``sample_end``
    ``delta_t`` of App. A: the last token of a sample.  For i.i.d. samples
    every step; for sequences only the last token (the *sequence end*).  The
    reversed-stream (BPTT) mode reverses the stream at these tags;
``reset``
    reset the neuron state ``h`` and costate ``z`` *before* step ``k`` (the
    *sample boundary* of the BP-equivalent modes).  ``None`` means never.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

__all__ = ["Stream"]


def _bool_tag(name: str, tag, length: int) -> np.ndarray | None:
    if tag is None:
        return None
    arr = np.asarray(tag)
    if arr.shape != (length,):
        raise ValueError(f"stream tag {name!r} must have shape ({length},), got {arr.shape}")
    if arr.dtype != bool:
        if not np.all((arr == 0) | (arr == 1)):
            raise ValueError(f"stream tag {name!r} must be boolean")
        arr = arr.astype(bool)
    return arr


@dataclass(frozen=True)
class Stream:
    """A stream of inputs, optional targets and boundary tags.

    Parameters
    ----------
    inputs : ndarray of shape (T, n_input)
        ``u_k`` for ``k = 0 .. T-1``; must be finite.
    targets : ndarray of shape (T,) or (T, n_out), optional
        Integer class labels or target vectors ``y_hat_k``; entries where
        ``has_target`` is False are ignored.
    has_target : ndarray of bool, shape (T,), optional
        Default: all True if ``targets`` is given, else all False.
    sample_end : ndarray of bool, shape (T,), optional
        Last token of each sample / sequence (``delta_t``).
    reset : ndarray of bool, shape (T,), optional
        Reset ``h`` and ``z`` before the step.

    Notes
    -----
    Arrays are kept as given when they already have the right dtype (no copy),
    so a long stream costs its own memory only once.
    """

    inputs: np.ndarray
    targets: np.ndarray | None = None
    has_target: np.ndarray | None = None
    sample_end: np.ndarray | None = None
    reset: np.ndarray | None = None

    def __post_init__(self) -> None:
        """Validate and normalise the fields."""
        inputs = np.asarray(self.inputs)
        if inputs.ndim != 2:
            raise ValueError(f"stream inputs must have shape (T, n_input), got {inputs.shape}")
        if not np.issubdtype(inputs.dtype, np.floating):
            inputs = inputs.astype(np.float64)
        if not np.all(np.isfinite(inputs)):
            raise ValueError("stream inputs contain NaN or inf")
        length = inputs.shape[0]
        object.__setattr__(self, "inputs", inputs)
        has_target = _bool_tag("has_target", self.has_target, length)
        targets = self.targets
        if targets is not None:
            targets = np.asarray(targets)
            if targets.shape[:1] != (length,) or targets.ndim > 2:
                raise ValueError(
                    f"stream targets must have shape (T,) or (T, n_out) with T={length}, "
                    f"got {targets.shape}"
                )
            if has_target is None:
                has_target = np.ones(length, dtype=bool)
            if np.issubdtype(targets.dtype, np.floating) and not np.all(
                    np.isfinite(targets[has_target])):
                raise ValueError("stream targets contain NaN or inf where has_target is True")
        else:
            if has_target is not None and has_target.any():
                raise ValueError("has_target is True somewhere but no targets were given")
            has_target = np.zeros(length, dtype=bool)
        object.__setattr__(self, "targets", targets)
        object.__setattr__(self, "has_target", has_target)
        object.__setattr__(self, "sample_end", _bool_tag("sample_end", self.sample_end, length))
        object.__setattr__(self, "reset", _bool_tag("reset", self.reset, length))

    def __len__(self) -> int:
        """Return the number of steps ``T``."""
        return self.inputs.shape[0]

    @property
    def n_input(self) -> int:
        """Number of input features."""
        return self.inputs.shape[1]

    def require(self, tag: str, mode: str, why: str) -> np.ndarray:
        """Return tag array ``tag`` or raise a ``ValueError`` naming the mode that needs it."""
        value = getattr(self, tag)
        if value is None:
            raise ValueError(f"HL mode {mode!r} needs stream tag {tag!r} ({why}); "
                             f"build the stream with Stream.from_samples / from_sequences "
                             f"or pass {tag}=... explicitly")
        return value

    def sequences(self, mode: str = "reversed") -> list[tuple[int, int]]:
        """Index ranges ``[start, stop)`` of the samples delimited by ``sample_end``.

        Raises
        ------
        ValueError
            Without ``sample_end`` tags, or if the stream ends mid-sequence.
        """
        ends = self.require("sample_end", mode, "to know where each sequence ends")
        stops = np.flatnonzero(ends) + 1
        if len(self) and (stops.size == 0 or stops[-1] != len(self)):
            raise ValueError("stream ends in the middle of a sequence: the last step must "
                             "carry sample_end=True")
        starts = np.concatenate(([0], stops[:-1]))
        return [(int(a), int(b)) for a, b in zip(starts, stops)]

    # ------------------------------------------------------------------ constructors
    @classmethod
    def from_samples(cls, inputs, targets=None, *, hold: int = 1, target_delay: int = 0,
                     reset_state: bool = True) -> "Stream":
        """Stream i.i.d. samples one after another.

        Parameters
        ----------
        inputs : ndarray of shape (N, n_input)
        targets : ndarray of shape (N,) or (N, n_out), optional
        hold : int, default 1
            Steps each sample is held for (pipelined local networks need
            several steps for a signal to reach the output).
        target_delay : int, default 0
            Within a hold block, targets are present from this step on.
        reset_state : bool, default True
            Tag a state reset at the first step of every sample.

        Returns
        -------
        Stream
            Of length ``N * hold``; ``sample_end`` on the last step of each block.
        """
        inputs = np.asarray(inputs)
        if inputs.ndim != 2:
            raise ValueError(f"inputs must have shape (N, n_input), got {inputs.shape}")
        if int(hold) != hold or hold < 1:
            raise ValueError(f"hold must be a positive integer, got {hold!r}")
        if not 0 <= target_delay < hold:
            raise ValueError(f"target_delay must be in [0, hold={hold}), got {target_delay!r}")
        n = inputs.shape[0]
        phase = np.tile(np.arange(hold), n)
        rep = (lambda a: a) if hold == 1 else (lambda a: np.repeat(np.asarray(a), hold, axis=0))
        return cls(
            inputs=rep(inputs),
            targets=None if targets is None else rep(targets),
            has_target=None if targets is None else phase >= target_delay,
            sample_end=phase == hold - 1,
            reset=(phase == 0) if reset_state else np.zeros(n * hold, dtype=bool),
        )

    @classmethod
    def from_sequences(cls, inputs, targets=None, *, target_at: str = "every") -> "Stream":
        """Stream equal-length sequences token by token.

        Parameters
        ----------
        inputs : ndarray of shape (N, n, n_input)
        targets : ndarray, optional
            Shape ``(N, n[, n_out])`` for ``target_at="every"``; shape
            ``(N[, n_out])`` for ``target_at="last"`` (one target per sequence,
            on its last token).
        target_at : {"every", "last"}

        Returns
        -------
        Stream
            Of length ``N * n`` with ``reset`` on first and ``sample_end`` on
            last tokens.
        """
        inputs = np.asarray(inputs)
        if inputs.ndim != 3:
            raise ValueError(f"inputs must have shape (N, n, n_input), got {inputs.shape}")
        n_seq, n, n_in = inputs.shape
        if target_at not in ("every", "last"):
            raise ValueError(f"target_at must be 'every' or 'last', got {target_at!r}")
        pos = np.tile(np.arange(n), n_seq)
        flat_targets = has_target = None
        if targets is not None:
            targets = np.asarray(targets)
            if target_at == "every":
                if targets.shape[:2] != (n_seq, n):
                    raise ValueError(f"targets must have leading shape ({n_seq}, {n}), "
                                     f"got {targets.shape}")
                flat_targets = targets.reshape((n_seq * n,) + targets.shape[2:])
                has_target = np.ones(n_seq * n, dtype=bool)
            else:
                if targets.shape[:1] != (n_seq,):
                    raise ValueError(f"targets must have leading shape ({n_seq},), "
                                     f"got {targets.shape}")
                flat_targets = np.repeat(targets, n, axis=0)
                has_target = pos == n - 1
        return cls(inputs=inputs.reshape(n_seq * n, n_in), targets=flat_targets,
                   has_target=has_target, sample_end=pos == n - 1, reset=pos == 0)
