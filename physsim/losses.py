"""Losses on positions, and the cotangent sources that nudge the echoes.

A loss here is time-reversal invariant (it depends on positions only, as RHEL
requires) and is defined on the states after each step, ``q_1 .. q_L``.  It
provides

- :meth:`Loss.value` from what a forward pass produced,
- :meth:`Loss.cotangents`, the recorded sequence ``dL/dq_k`` (B|1, L, n),
- :meth:`Loss.online_source`, a compiled callback that computes ``dL/dq_k``
  from the *echo's own* position (the physical form: no stored trajectory).

Batch convention: the value is the mean over the batch of per-trajectory
losses, so summing per-trajectory gradients gives the gradient of the mean.
:class:`CotangentSequence` is the exception: it is the raw linear functional
``sum_b sum_k c_bk . q_bk`` used to chain layers.
"""

from __future__ import annotations

import abc
from typing import Callable

import numpy as np
from numba import njit

from .validation import as_finite_array, check_choice


# --------------------------------------------------------- compiled cotangent sources
@njit(cache=True)
def recorded_cotangent(q, k, aux, aux_shared, out):
    """Recorded source: ``out = aux[k - 1]`` (aux holds dL/dq_1 .. dL/dq_L)."""
    out[:] = aux[k - 1]


@njit(cache=True)
def constant_cotangent(q, k, aux, aux_shared, out):
    """Time-constant source: ``out = aux[0]`` (mean-pooled read-outs)."""
    out[:] = aux[0]


@njit(cache=True)
def mse_readout_cotangent(q, k, aux, aux_shared, out):
    """Online MSE source: ``out = s C^T (C q - y_k)`` from the echo's own ``q``.

    ``aux`` holds the targets y_1..y_L (L, n_out); ``aux_shared`` packs the
    read-out ``C`` in its first n_out rows and the scale ``s`` at ``[n_out, 0]``.
    """
    n_out = aux.shape[1]
    s = aux_shared[n_out, 0]
    out[:] = 0.0
    for r in range(n_out):
        e = -aux[k - 1, r]
        for i in range(q.shape[0]):
            e += aux_shared[r, i] * q[i]
        for i in range(q.shape[0]):
            out[i] += s * e * aux_shared[r, i]


@njit(cache=True)
def final_state_cotangent(q, k, aux, aux_shared, out):
    """Final-time source: ``s C^T (C q - y)`` at ``k = L``, zero before.

    ``aux`` holds the target (1, n_out); ``aux_shared`` packs C, then the row
    ``[s, L, 0, ...]``.
    """
    n_out = aux.shape[1]
    s = aux_shared[n_out, 0]
    length = int(aux_shared[n_out, 1])
    out[:] = 0.0
    if k != length:
        return
    for r in range(n_out):
        e = -aux[0, r]
        for i in range(q.shape[0]):
            e += aux_shared[r, i] * q[i]
        for i in range(q.shape[0]):
            out[i] += s * e * aux_shared[r, i]


def nudge_budget(cotangents: np.ndarray, n_steps: int | None = None) -> float:
    """Typical accumulated size of a cotangent sequence (B|1, L, n) used as nudges.

    The root-sum-square over steps of ``max_i |dL/dq_k,i|`` (largest over the
    batch): forcing that is not phase-locked to the oscillations adds up like
    a random walk, not coherently.  A sequence stored with one row stands for
    ``n_steps`` equal rows (time-constant cotangents).
    """
    # max |x| as max(max x, -min x): the same values, without an |x| copy of the sequence
    per_step = np.maximum(np.max(cotangents, axis=2), -np.min(cotangents, axis=2))
    per_step = per_step.astype(np.float64, copy=False)  # squares of float32 may overflow
    total = np.sum(per_step**2, axis=1)
    if cotangents.shape[1] == 1 and n_steps:
        total = total * n_steps
    return float(np.sqrt(np.max(total)))


def _pack_readout(readout: np.ndarray, *extra: float) -> np.ndarray:
    n_out, n = readout.shape
    packed = np.zeros((n_out + 1, max(n, len(extra))))
    packed[:n_out, :n] = readout
    packed[n_out, :len(extra)] = extra
    return packed


# ---------------------------------------------------------------------- losses
def _check_readout(readout: np.ndarray, n_dof: int) -> None:
    """Refuse a read-out whose width is not the number of positions it reads."""
    if readout.shape[1] != n_dof:
        raise ValueError(f"readout must have shape (n_outputs, n_dof) = ({readout.shape[0]}, "
                         f"{n_dof}) for a system of {n_dof} positions, got {readout.shape}")


class Loss(abc.ABC):
    """A loss on positions ``q_1..q_L`` of a batch of trajectories.

    Attributes
    ----------
    needs : str
        What the forward pass must provide for :meth:`value` and the recorded
        cotangents: ``"trajectory"`` (every position), ``"position_sum"`` or
        ``"final"`` (the final state only).
    """

    needs: str = "trajectory"

    @abc.abstractmethod
    def value(self, positions: np.ndarray | None, *, position_sum: np.ndarray | None = None,
              final_positions: np.ndarray | None = None) -> float:
        """Loss value from positions (B, L, n) of states 1..L, or the pooled/final data."""

    @abc.abstractmethod
    def cotangents(self, positions: np.ndarray | None, *, position_sum: np.ndarray | None = None,
                   final_positions: np.ndarray | None = None) -> np.ndarray:
        """Recorded cotangents dL/dq_k, shape (B|1, L, n)."""

    def online_source(self, *, n_steps: int, position_sum: np.ndarray | None,
                      final_positions: np.ndarray) -> tuple[Callable, np.ndarray, np.ndarray]:
        """Compiled source computing dL/dq_k from the echo's own state.

        Returns ``(callback, aux (B|1, rows, cols), aux_shared (rows, cols))``.
        Losses whose cotangent does not depend on the trajectory at step k
        (pooled, final-time) return their exact recorded form.
        """
        cot = self.cotangents(None, position_sum=position_sum, final_positions=final_positions)
        return recorded_cotangent, cot, np.zeros((1, 1))

    def check_batch(self, batch: int) -> None:
        """Raise ``ValueError`` if the loss data does not fit a batch of ``batch``."""

    def check_dof(self, n_dof: int) -> None:
        """Raise ``ValueError`` if the loss does not fit a system of ``n_dof`` positions."""

    def check_steps(self, n_steps: int) -> None:
        """Raise ``ValueError`` if per-step loss data does not cover a run of ``n_steps``."""

    def scale_estimate(self, *, n_steps: int, position_sum, final_positions) -> float:
        """Typical accumulated nudge (see :func:`nudge_budget`), for the default nudge size."""
        if self.needs == "trajectory":
            return 1.0
        cot = self.cotangents(None, position_sum=position_sum, final_positions=final_positions)
        return nudge_budget(cot, n_steps)


class MSEReadout(Loss):
    r"""Per-step squared error of a linear read-out:
    :math:`\frac1{BL}\sum_{b,k}\tfrac12|C q_{bk} - y_{bk}|^2`.

    Parameters
    ----------
    readout : ndarray, shape (n_out, n_dof)
        Read-out matrix ``C``.
    targets : ndarray, shape (L, n_out) or (B, L, n_out)
        Target of the read-out after each step (shared by the batch when 2-D).
    reduction : {"mean", "sum"}
        ``"mean"`` divides by ``B L`` (the default); ``"sum"`` does not.
    """

    needs = "trajectory"

    def __init__(self, readout, targets, reduction: str = "mean") -> None:
        self.reduction = check_choice(reduction, ("mean", "sum"), "reduction")
        self.readout = as_finite_array("readout", readout, ndim=2)
        t = as_finite_array("targets", targets, ndim=(2, 3))
        if t.shape[-1] != self.readout.shape[0]:
            raise ValueError(f"targets must have {self.readout.shape[0]} channels (rows of the "
                             f"read-out), got shape {t.shape}")
        self.targets = t if t.ndim == 3 else t[None]

    def check_batch(self, batch: int) -> None:
        if self.targets.shape[0] not in (1, batch):
            raise ValueError(f"targets have batch size {self.targets.shape[0]}, "
                             f"the run has {batch}")

    def check_dof(self, n_dof: int) -> None:
        _check_readout(self.readout, n_dof)

    def check_steps(self, n_steps: int) -> None:
        if self.targets.shape[1] != n_steps:
            raise ValueError(f"targets have {self.targets.shape[1]} steps, the run has "
                             f"{n_steps}")

    def _residual(self, positions):
        self.check_dof(positions.shape[-1])
        self.check_steps(positions.shape[1])
        return positions @ self.readout.T - self.targets

    def _norm(self, batch: int, n_steps: int) -> float:
        return 1.0 / (batch * n_steps) if self.reduction == "mean" else 1.0

    def value(self, positions, *, position_sum=None, final_positions=None) -> float:
        r = self._residual(positions)
        return float(0.5 * np.sum(r**2) * self._norm(*positions.shape[:2]))

    def cotangents(self, positions, *, position_sum=None, final_positions=None) -> np.ndarray:
        if positions is None:
            raise ValueError("MSEReadout needs the recorded trajectory for recorded cotangents")
        r = self._residual(positions)
        return (r @ self.readout) * self._norm(*positions.shape[:2])

    def online_source(self, *, n_steps, position_sum, final_positions):
        scale = self._norm(final_positions.shape[0], n_steps)
        return mse_readout_cotangent, self.targets, _pack_readout(self.readout, scale)

    def scale_estimate(self, *, n_steps, position_sum, final_positions) -> float:
        r = final_positions @ self.readout.T - self.targets[:, -1]
        # a per-step cotangent estimated from the final residual, accumulated over L steps
        step = np.max(np.abs(r @ self.readout)) * self._norm(final_positions.shape[0], n_steps)
        return float(max(step * np.sqrt(n_steps), 1e-300))


class PooledCrossEntropy(Loss):
    r"""Softmax cross-entropy of a mean-pooled linear read-out.

    :math:`z_b = C \bar q_b + c_0`, :math:`\bar q_b = \frac1L\sum_k q_{bk}`,
    loss :math:`\frac1B\sum_b -\log \mathrm{softmax}(z_b)_{y_b}`.  The
    cotangent is constant in time, so the forward pass needs only the sum of
    positions (O(1) memory).

    Parameters
    ----------
    readout : ndarray, shape (n_classes, n_dof)
        Read-out matrix ``C``.
    labels : ndarray of int, shape (B,)
        Class labels.
    bias : ndarray, shape (n_classes,), optional
        Read-out bias.
    """

    needs = "position_sum"

    def __init__(self, readout, labels, bias=None) -> None:
        self.readout = as_finite_array("readout", readout, ndim=2)
        n_cls = self.readout.shape[0]
        lab = np.asarray(labels)
        if lab.ndim != 1 or not np.issubdtype(lab.dtype, np.integer):
            raise ValueError(f"labels must be a 1-D integer array, got {lab.dtype} {lab.shape}")
        if lab.size and (lab.min() < 0 or lab.max() >= n_cls):
            raise ValueError(f"labels must lie in [0, {n_cls}), "
                             f"got range [{lab.min()}, {lab.max()}]")
        self.labels = lab
        self.bias = (np.zeros(n_cls) if bias is None
                     else as_finite_array("bias", bias, shape=(n_cls,)))
        self.n_steps: int | None = None

    def check_batch(self, batch: int) -> None:
        if self.labels.size != batch:
            raise ValueError(f"labels have {self.labels.size} entries, the run has batch {batch}")

    def check_dof(self, n_dof: int) -> None:
        _check_readout(self.readout, n_dof)

    def _probs(self, mean_positions):
        self.check_dof(mean_positions.shape[-1])
        z = mean_positions @ self.readout.T + self.bias
        z = z - z.max(axis=1, keepdims=True)
        e = np.exp(z)
        return e / e.sum(axis=1, keepdims=True)

    def _mean(self, positions, position_sum):
        if position_sum is not None and self.n_steps is not None:
            return position_sum / self.n_steps
        if positions is None:
            raise ValueError("PooledCrossEntropy needs position sums (or the trajectory)")
        self.n_steps = positions.shape[1]
        return positions.mean(axis=1)

    def value(self, positions, *, position_sum=None, final_positions=None) -> float:
        pr = self._probs(self._mean(positions, position_sum))
        return float(-np.mean(np.log(pr[np.arange(self.labels.size), self.labels])))

    def accuracy(self, positions=None, *, position_sum=None) -> float:
        """Fraction of correctly classified trajectories."""
        pr = self._probs(self._mean(positions, position_sum))
        return float(np.mean(np.argmax(pr, axis=1) == self.labels))

    def cotangents(self, positions, *, position_sum=None, final_positions=None) -> np.ndarray:
        mean = self._mean(positions, position_sum)
        L = self.n_steps if positions is None else positions.shape[1]
        pr = self._probs(mean)
        pr[np.arange(self.labels.size), self.labels] -= 1.0
        g = (pr @ self.readout) / (self.labels.size * L)
        if positions is None:
            return g[:, None, :]
        return np.repeat(g[:, None, :], L, axis=1)

    def online_source(self, *, n_steps, position_sum, final_positions):
        self.n_steps = n_steps
        return (constant_cotangent, self.cotangents(None, position_sum=position_sum),
                np.zeros((1, 1)))

    def scale_estimate(self, *, n_steps, position_sum, final_positions) -> float:
        self.n_steps = n_steps
        return nudge_budget(self.cotangents(None, position_sum=position_sum), n_steps)


class FinalStateLoss(Loss):
    r"""Squared error of a read-out of the final state:
    :math:`\frac1B\sum_b\tfrac12|C q_{bL} - y_b|^2`.

    Parameters
    ----------
    readout : ndarray, shape (n_out, n_dof)
        Read-out matrix ``C``.
    target : ndarray, shape (n_out,) or (B, n_out)
        Target.
    """

    needs = "final"

    def __init__(self, readout, target) -> None:
        self.readout = as_finite_array("readout", readout, ndim=2)
        t = as_finite_array("target", target, ndim=(1, 2))
        if t.shape[-1] != self.readout.shape[0]:
            raise ValueError(f"target must have {self.readout.shape[0]} entries, got {t.shape}")
        self.target = t.reshape(-1, t.shape[-1])
        self.n_steps: int | None = None

    def check_batch(self, batch: int) -> None:
        if self.target.shape[0] not in (1, batch):
            raise ValueError(f"target has batch size {self.target.shape[0]}, the run has {batch}")

    def check_dof(self, n_dof: int) -> None:
        _check_readout(self.readout, n_dof)

    def value(self, positions, *, position_sum=None, final_positions=None) -> float:
        qf = positions[:, -1] if final_positions is None else final_positions
        self.check_dof(qf.shape[-1])
        r = qf @ self.readout.T - self.target
        return float(0.5 * np.sum(r**2) / qf.shape[0])

    def cotangents(self, positions, *, position_sum=None, final_positions=None) -> np.ndarray:
        qf = positions[:, -1] if final_positions is None else final_positions
        self.check_dof(qf.shape[-1])
        g = ((qf @ self.readout.T - self.target) @ self.readout) / qf.shape[0]
        L = positions.shape[1] if positions is not None else self.n_steps
        out = np.zeros((qf.shape[0], L, qf.shape[1]))
        out[:, -1] = g
        return out

    def online_source(self, *, n_steps, position_sum, final_positions):
        scale = 1.0 / final_positions.shape[0]
        target = np.broadcast_to(self.target, (final_positions.shape[0], self.target.shape[1]))
        return (final_state_cotangent, np.ascontiguousarray(target[:, None, :]),
                _pack_readout(self.readout, scale, float(n_steps)))

    def scale_estimate(self, *, n_steps, position_sum, final_positions) -> float:
        g = ((final_positions @ self.readout.T - self.target) @ self.readout)
        return float(max(np.max(np.abs(g)) / final_positions.shape[0], 1e-300))


class CotangentSequence(Loss):
    r"""A given cotangent sequence: the linear functional :math:`\sum_b\sum_k c_{bk}\cdot q_{bk}`.

    This is the interface for chaining layers: the gradient an upper layer
    sends down is the nudge of this layer's echoes.

    Parameters
    ----------
    cotangents : ndarray, shape (L, n) or (B, L, n)
        ``dL/dq_k`` for the states after steps 1..L; a float32 array stays
        float32 (what a float32 device reads), anything else becomes float64.
    """

    needs = "final"

    def __init__(self, cotangents) -> None:
        # a float32 sequence stays float32 (for a float32 device, no float64 copy of length L)
        dtype = np.float32 if getattr(cotangents, "dtype", None) == np.float32 else np.float64
        c = as_finite_array("cotangents", cotangents, ndim=(2, 3), dtype=dtype)
        self.sequence = c if c.ndim == 3 else c[None]

    def check_batch(self, batch: int) -> None:
        if self.sequence.shape[0] not in (1, batch):
            raise ValueError(f"cotangents have batch size {self.sequence.shape[0]}, the run has "
                             f"{batch}")

    def check_dof(self, n_dof: int) -> None:
        if self.sequence.shape[2] != n_dof:
            raise ValueError(f"cotangents have {self.sequence.shape[2]} positions per step, the "
                             f"system has n_dof = {n_dof}")

    def check_steps(self, n_steps: int) -> None:
        if self.sequence.shape[1] != n_steps:
            raise ValueError(f"cotangents have {self.sequence.shape[1]} steps, the run has "
                             f"{n_steps}")

    def value(self, positions, *, position_sum=None, final_positions=None) -> float:
        if positions is None:
            raise ValueError("the value of a CotangentSequence needs the trajectory")
        # one pass over both, no (B, L, n) product array
        return float(np.einsum("blk,blk->", np.broadcast_to(self.sequence, positions.shape),
                               positions))

    def cotangents(self, positions, *, position_sum=None, final_positions=None) -> np.ndarray:
        return self.sequence

    def scale_estimate(self, *, n_steps, position_sum, final_positions) -> float:
        return max(nudge_budget(self.sequence), 1e-300)
