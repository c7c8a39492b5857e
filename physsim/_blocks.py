"""Blocks of steps: the fixed grid on which the passes project drives and form read-outs.

The compiled time loops (:mod:`physsim._kernels.loops`) do only O(n_dof) work
per step.  The O(n_drive x n_inputs) work of a step, the drive projection
``d_k = B u_k`` before it and, after it, the input-matrix read-out
``sum_k u_k (h dH/dd)_k^T`` and the per-step input gradient ``B^T (h dH/dd)_k``,
is done for a whole block of steps at a time by the parallel kernels of
:mod:`physsim._kernels.blocks`, between loop calls.

The blocks are ``[i * S, (i + 1) * S)`` in forward step indices, whatever the
pass (forward, echoes, adjoint) and whatever its ``chunk_size``: a chunk is cut
where it crosses a block boundary.  The block length ``S`` (:func:`block_steps`)
keeps a block's buffers within :data:`BLOCK_BYTES`.  Since the block kernels
keep the per-step order of every sum, the results do not depend on the block
length, the chunk size or the number of threads, and every pass reads
bit-identical drives.

Memory: a block's drives (batch x S x n_drive, state dtype) and its per-step
drive read-outs (the same, float64), at most :data:`BLOCK_BYTES` each,
whatever L.

Blocks of units: a system of independent units
(:attr:`~physsim.systems.HamiltonianSystem.n_independent_units`) is split into
:func:`unit_block_count` blocks of units, a number fixed by the number of
units (never by the number of threads), and the compiled loops run each
(trajectory, unit block) pair through a whole chunk of steps as one parallel
task (:class:`UnitLayout`), so a batch of one uses every core.  The states and
drive read-outs are those of the unsplit run, bit for bit (each unit's
arithmetic is the same); a read-out of parameters shared by all units is
summed per block and then over the blocks in block order, so it may differ
from the unsplit run in the last bits, but not with the thread count or the
chunk size.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Iterator

import numpy as np

from ._kernels import blocks
from ._memory import isolated_zeros
from .device_run import InputRows, PreparedRun

#: Most steps per block: enough that a block's kernel calls cost nothing next to its
#: steps.
DRIVE_BLOCK = 2048
#: Fewest steps per block, however large the batch and drive.
MIN_BLOCK = 64
#: Size of a block's per-step read-out buffer (B x steps x n_drive float64) that sets a
#: shorter block for large batches or drives, bytes.
BLOCK_BYTES = 2 * 2**20

#: The orders in which the passes walk their steps.
ORDERS = ("forward", "echo", "adjoint")


@dataclass(frozen=True)
class Segment:
    """Forward steps ``lo .. hi - 1`` of one block, run by one compiled loop call.

    Attributes
    ----------
    lo, hi : int
        Forward step range (``hi`` excluded).
    closes_chunk : bool
        The segment ends one of the caller's chunks (or the pass).
    """

    lo: int
    hi: int
    closes_chunk: bool


@dataclass(frozen=True)
class Block:
    """A block of the grid (clipped to the sequence) and its segments, in the order run.

    Attributes
    ----------
    lo, hi : int
        Forward step range of the block.
    segments : tuple of Segment
    """

    lo: int
    hi: int
    segments: tuple[Segment, ...]


def block_steps(batch: int, n_drive: int) -> int:
    """Steps per block for a batch of ``batch`` trajectories with ``n_drive`` drives.

    The largest length up to :data:`DRIVE_BLOCK` whose read-out buffer fits in
    :data:`BLOCK_BYTES`, and at least :data:`MIN_BLOCK` (or ``DRIVE_BLOCK`` if
    smaller).
    """
    fitting = BLOCK_BYTES // max(1, batch * n_drive * 8)
    return int(min(DRIVE_BLOCK, max(MIN_BLOCK, fitting)))


def plan(n_steps: int, chunk_size: int, order: str, block: int) -> Iterator[Block]:
    """The blocks and loop segments of a pass of ``n_steps`` steps, in the order they run.

    A generator (nothing of length L is built).

    Parameters
    ----------
    n_steps : int
        Steps L of the pass.
    chunk_size : int
        The caller's steps per chunk.  ``"forward"`` and ``"adjoint"`` chunks
        start at multiples of it in forward steps, ``"echo"`` chunks in echo
        steps (``L - k``).
    order : {"forward", "echo", "adjoint"}
        ``"forward"`` walks the steps first to last, the others last to first.
    block : int
        Steps per block (:func:`block_steps`).

    Yields
    ------
    Block
    """
    if order not in ORDERS:
        raise ValueError(f"order must be one of {ORDERS}, got {order!r}")
    echo = order == "echo"

    def chunk_cut(k: int) -> bool:
        """A chunk of the caller starts or ends at forward step boundary ``k``."""
        return k in (0, n_steps) or (n_steps - k if echo else k) % chunk_size == 0

    n_blocks = -(-n_steps // block)
    for i in (range(n_blocks) if order == "forward" else reversed(range(n_blocks))):
        lo, hi = i * block, min(n_steps, (i + 1) * block)
        if echo:  # echo chunk cuts n_steps - j * chunk_size strictly inside (lo, hi)
            inner = [n_steps - j * chunk_size for j in
                     range((n_steps - lo - 1) // chunk_size, (n_steps - hi) // chunk_size, -1)]
        else:
            inner = list(range((lo // chunk_size + 1) * chunk_size, hi, chunk_size))
        cuts = [lo] + inner + [hi]
        segments = tuple(Segment(a, b, chunk_cut(b) if order == "forward" else chunk_cut(a))
                         for a, b in zip(cuts[:-1], cuts[1:]))
        yield Block(lo, hi, segments if order == "forward" else segments[::-1])


class DriveBlocks:
    """A pass's block buffers: the projected drives and the per-step drive read-outs.

    Parameters
    ----------
    run : PreparedRun
        The device (input matrix, dtype, hardware model's DAC).
    inputs : ndarray, shape (B|1, L, n_inputs), float64, or None
        The nominal input sequence (None: undriven).
    batch : int
        Batch size B of the pass.
    n_steps : int
        Steps L of the pass.
    pass_index : int
        Pass handed to the hardware model when it writes the inputs.
    reads_out : bool
        The pass writes per-step drive read-outs (:attr:`readout`).

    Attributes
    ----------
    block : int
        Steps per block (:func:`block_steps`).
    driven : bool
        The run has inputs.
    readout : ndarray, shape (B, rows, n_drive), float64
        Row ``k - block.lo`` receives the drive read-out of step ``k`` (no rows
        unless driven and ``reads_out``).
    rows : InputRows or None
        The input rows of the current block (as the hardware model wrote them).
    """

    def __init__(self, run: PreparedRun, inputs: np.ndarray | None, batch: int, n_steps: int,
                 pass_index: int, *, reads_out: bool) -> None:
        self.run = run
        self.inputs = inputs
        self.batch = batch
        self.pass_index = pass_index
        self.driven = inputs is not None
        self.block = block_steps(batch, run.system.n_drive)
        self.n_steps = n_steps
        self._rows_cap = max(1, min(self.block, n_steps))
        nd = run.system.n_drive
        self._drive = np.zeros((1, 0, nd), dtype=run.dtype)  # undriven: never read
        self.readout = np.zeros((batch, self._rows_cap if reads_out and self.driven else 0, nd))
        self.rows: InputRows | None = None
        self._no_inputs = np.zeros((batch, 0, run.system.n_inputs))

    def plan(self, chunk_size: int, order: str) -> Iterator[Block]:
        """The pass's blocks and segments (:func:`plan` with this pass's block length)."""
        return plan(self.n_steps, chunk_size, order, self.block)

    def project(self, block: Block) -> np.ndarray:
        """The drives of ``block``'s steps, (B|1, rows, n_drive) of the state dtype.

        Row ``k - block.lo`` is the drive of step ``k`` (nothing is projected
        for an undriven run).
        """
        self.rows = None  # the previous block's written inputs, if any, before the next
        self.rows = self.run.input_rows(self.inputs, block.lo, block.hi, self.batch,
                                        self.pass_index)
        if not self.rows.driven:
            return self._drive
        source = self.rows.rows
        if self._drive.shape[0] != source.shape[0] or self._drive.shape[1] == 0:
            self._drive = np.empty((source.shape[0], self._rows_cap, self.run.system.n_drive),
                                   dtype=self.run.dtype)
        blocks.project_block(source, block.lo - self.rows.offset, block.hi - block.lo,
                             self.run.input_matrix_t, self._drive)
        return self._drive

    def read_out(self, block: Block, *, descending: bool, matrix_readout_t: np.ndarray,
                 inputs_gradient: np.ndarray | None = None, subtract: bool = False) -> None:
        """Add the block's input-matrix read-out; write (or subtract) its input gradients.

        Parameters
        ----------
        block : Block
            The block just run, whose read-outs are in :attr:`readout`.
        descending : bool
            The pass took the block's steps last to first (the sums keep that order).
        matrix_readout_t : ndarray, shape (B, n_inputs, n_drive), float64
            The transposed input-matrix read-out ``sum_k u_k (h dH/dd)_k^T``,
            accumulated into.
        inputs_gradient : ndarray, shape (B, L, n_inputs), float64, optional
            Rows of the block's steps receive ``B^T (h dH/dd)_k``.
        subtract : bool
            Subtract them from the rows instead.
        """
        if not self.driven:
            return
        want_inputs = inputs_gradient is not None
        blocks.finish_block(self.inputs, block.lo, block.hi - block.lo, self.readout, descending,
                            matrix_readout_t, self.run.input_matrix, want_inputs, subtract,
                            inputs_gradient if want_inputs else self._no_inputs)


# ------------------------------------------------------------------ unit blocks
#: Units per block of a system of independent units (fewer blocks when there are fewer
#: units): enough work per block and step that the per-step callback calls of a block
#: stay cheap next to it.
UNITS_PER_BLOCK = 32
#: Most unit blocks (enough for the cores of a workstation).
MAX_UNIT_BLOCKS = 8


def unit_block_count(n_units: int) -> int:
    """Unit blocks of a system of ``n_units`` independent units (0 or 1: do not split).

    ``min(MAX_UNIT_BLOCKS, n_units // UNITS_PER_BLOCK)``: fixed by the units,
    so results do not depend on the number of threads.
    """
    return int(min(MAX_UNIT_BLOCKS, n_units // UNITS_PER_BLOCK))


@dataclass(frozen=True)
class UnitLayout:
    """A run's system split into blocks of independent units, as the unit-block loops take it.

    Block ``u`` holds units ``[u U / n, (u + 1) U / n)`` (``U`` units, ``n``
    blocks); its entries (:meth:`~physsim.systems.HamiltonianSystem.unit_block`)
    are padded to common lengths.

    Attributes
    ----------
    sizes : ndarray, shape (n_blocks, 3), int64
        Per block: number of state entries, drive channels and parameters.
    state_idx, drive_idx, theta_idx : ndarray, shape (n_blocks, max), int64
        Per block: its positions (momenta), drives and packed parameters.
    theta, theta64 : ndarray, shape (n_blocks, max), state dtype and float64
        Per block: its packed parameters ``run.theta[theta_idx]``.
    n_theta : int
        Length of the system's packed parameter vector.
    """

    sizes: np.ndarray
    state_idx: np.ndarray
    drive_idx: np.ndarray
    theta_idx: np.ndarray
    theta: np.ndarray
    theta64: np.ndarray
    n_theta: int

    @classmethod
    def of(cls, run: PreparedRun) -> "UnitLayout | None":
        """The unit blocks of ``run``, or None when the unit-block loops cannot run it.

        They run on the ideal device without reversible rounding, for a system
        of independent units with :func:`unit_block_count` of at least 2.
        """
        system = run.system
        n_units = system.n_independent_units
        n_blocks = unit_block_count(n_units)
        if (n_blocks < 2 or not run.hardware.is_ideal or run.q_quantum != 0
                or run.p_quantum != 0):
            return None
        edges = [u * n_units // n_blocks for u in range(n_blocks + 1)]
        parts = [system.unit_block(lo, hi) for lo, hi in zip(edges[:-1], edges[1:])]
        sizes = np.array([[x.state.size, x.drive.size, x.theta.size] for x in parts],
                         dtype=np.int64)

        def padded(rows, width):
            out = np.zeros((n_blocks, width), dtype=np.int64)
            for u, row in enumerate(rows):
                out[u, :row.size] = row
            return out

        # parameter rows of whole cache lines: the tasks accumulate into them every step
        width_t = -(-int(sizes[:, 2].max()) // 8) * 8
        theta_idx = padded([x.theta for x in parts], width_t)
        return cls(sizes=sizes, state_idx=padded([x.state for x in parts], sizes[:, 0].max()),
                   drive_idx=padded([x.drive for x in parts], sizes[:, 1].max()),
                   theta_idx=theta_idx, theta=np.ascontiguousarray(run.theta[theta_idx]),
                   theta64=np.ascontiguousarray(run.theta64[theta_idx]),
                   n_theta=int(run.theta.size))

    def zeros(self, batch: int) -> np.ndarray:
        """A zeroed per-block parameter accumulator, (B, n_blocks, max) float64.

        On cache lines of its own, rows of whole lines: each task adds to its
        row at every step.
        """
        return isolated_zeros((batch,) + self.theta_idx.shape)

    def reduce(self, acc: np.ndarray, comp: np.ndarray) -> np.ndarray:
        """The parameter read-out (B, n_theta), float64: the blocks' sums added in block order."""
        out = np.zeros((acc.shape[0], self.n_theta))
        for u, (_, _, nt) in enumerate(self.sizes):
            out[:, self.theta_idx[u, :nt]] += acc[:, u, :nt] + comp[:, u, :nt]
        return out
