"""Sweep results files (``physsim sweep``): one HDF5 row per task, written as each task returns.

Layout (``kind = "sweep"``, ``format_version = 2``)::

    /                    attrs: kind, format_version, provenance (physsim_version, versions
                                (JSON), code_fingerprint, created), name, config (canonical
                                JSON), config_hash, config_text (the TOML), mode, metrics,
                                columns, n_points, n_seeds, n_tasks
    /grid                attrs: axes (JSON list of axis descriptions)
    /grid/coordinates    (n_points, n_axes) float64: value per axis (index for categorical
                          axes; NaN where the axis is not set at that point)
    /grid/seeds          (n_seeds,) int64
    /tasks/point         (n_tasks,) int64   point of each task
    /tasks/seed          (n_tasks,) int64   seed of each task
    /results/status      (n_tasks,) int8    0 pending, 1 done, 2 failed
    /results/values      (n_tasks, n_columns) float64 (NaN where not computed)
    /results/curves/<c>  (n_tasks, length) float64
    /results/error, warnings, worker, hardware   (n_tasks,) fixed-length UTF-8 text, cut to
                                                 the capacities of TEXT_COLUMNS (bytes)
    /results/seconds, finished                   (n_tasks,) float64 (wall time, unix time)

Every task owns one row (``task_id = point * n_seeds + seed_index``), so a
point can never be recorded twice and the file does not depend on the order
in which tasks finish.  The parent process is the only writer (it holds a
:class:`~physsim.storage.files.WriteLock`).  The file is written in HDF5's
single-writer/multiple-reader (SWMR) mode, which keeps it consistent on disk at
every moment: a killed sweep leaves a readable file, and :func:`read_sweep` can
read a sweep while it runs.  A row counts as done only once its status is set,
which happens after its data were flushed; a row whose status was never set is
computed again on resume.  The analysis of a sweep file lives in
:mod:`physsim.sweeps.results`.
"""

from __future__ import annotations

import datetime as _dt
import json
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Protocol, Sequence

import h5py
import numpy as np

from .files import (StorageError, WriteLock, atomic_write, attribute, attributes, check_format,
                    create_array, decode_texts, encode_texts, members, open_swmr_writer,
                    reading, recover_swmr_file, set_attributes)
from .provenance import provenance_attributes, warn_if_code_changed

KIND = "sweep"
FORMAT_VERSION = 2
PENDING, DONE, FAILED = 0, 1, 2
#: Text columns and their capacity in bytes.  Fixed-length text is stored in the chunks
#: of the dataset (checksummed), not in HDF5's global heap (unchecksummed; a damaged one
#: can hang a reader); a longer text is cut.
TEXT_COLUMNS = {"error": 8192, "warnings": 4096, "worker": 256, "hardware": 4096}


# ---------------------------------------------------------------------- writer
class SweepPlan(Protocol):
    """What the writer needs of a sweep (:class:`physsim.sweeps.SweepConfig` provides it).

    Storage sits below the sweeps package, so it names the attributes it uses
    instead of importing the class.
    """

    name: str
    mode: str
    seeds: Sequence[int]
    metrics: Sequence[str]
    axes: Sequence[Any]  # each with to_dict()
    source: str
    config_hash: str

    def points(self) -> Sequence[Any]:
        """Points of the sweep, each with ``coordinates`` (one per axis)."""

    def to_json(self) -> str:
        """Canonical JSON of the configuration."""


class SweepWriter:
    """Single writer of a sweep file (the parent process).

    Use :meth:`open`; it creates the file, or reopens it to resume (recovering
    it first if a previous run was killed), checks that it belongs to the same
    configuration, and holds an exclusive lock (``<file>.lock``) so that two
    sweeps never write one file.
    """

    def __init__(self, path: Path, h5: h5py.File, lock: WriteLock) -> None:
        self.path = path
        self._h5 = h5
        self._lock = lock
        r = h5["results"]
        self._status = r["status"]
        self._values = r["values"]
        self._curves = {k: r["curves"][k] for k in r["curves"]}
        self._text = {k: r[k] for k in TEXT_COLUMNS}
        self._seconds = r["seconds"]
        self._finished = r["finished"]
        self.columns = [str(c) for c in json.loads(attribute(h5, "columns"))]
        self._col_index = {c: i for i, c in enumerate(self.columns)}
        self.recovered = False

    # ------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | Path, config: SweepPlan, columns: list[str],
             curves: dict[str, int], *, overwrite: bool = False) -> "SweepWriter":
        """Create or reopen the sweep file for writing.

        Parameters
        ----------
        path : str or Path
            The HDF5 file.
        config : SweepPlan
            The sweep (a :class:`physsim.sweeps.SweepConfig`); a file written
            for a different configuration is refused.
        columns : list of str
            Scalar result columns.
        curves : dict of str to int
            Curve outputs and their lengths.
        overwrite : bool
            Start afresh even if the file exists.

        Raises
        ------
        StorageError
            If another process is writing the file, the file is truncated or
            damaged, or it belongs to a different configuration (and
            ``overwrite`` is False).
        """
        path = Path(path)
        lock = WriteLock(path)
        try:
            recovered = False
            if overwrite or not path.exists():
                _create(path, config, columns, curves)
            else:
                recovered = recover_swmr_file(path)
                _check_matches(path, config, columns, curves)
            h5 = open_swmr_writer(path)
        except BaseException:
            lock.release()
            raise
        writer = cls(path, h5, lock)
        writer.recovered = recovered
        return writer

    # ------------------------------------------------------------- access
    def status(self) -> np.ndarray:
        """Status of every task (0 pending, 1 done, 2 failed), shape (n_tasks,)."""
        return np.asarray(self._status[...])

    def reset(self, task_ids) -> None:
        """Mark tasks pending again (to recompute failed points)."""
        ids = sorted(int(i) for i in task_ids)
        if not ids:
            return
        st = self.status()
        st[ids] = PENDING
        self._status[...] = st
        self._h5.flush()

    def write(self, result) -> None:
        """Write one task's row, then mark it done or failed (crash-safe order).

        Parameters
        ----------
        result : TaskResult
            Outcome of the task.
        """
        i = int(result.task_id)
        row = np.full(len(self.columns), np.nan)
        for k, v in result.values.items():
            j = self._col_index.get(k)
            if j is None:
                raise KeyError(f"task {i} returned an undeclared column {k!r}")
            row[j] = v
        self._values[i] = row
        for name, ds in self._curves.items():
            curve = np.full(ds.shape[1], np.nan)
            if name in result.curves:
                c = np.asarray(result.curves[name], float).ravel()[: ds.shape[1]]
                curve[: c.size] = c
            ds[i] = curve
        for k, ds in self._text.items():
            ds[i] = encode_texts([str(getattr(result, k))], TEXT_COLUMNS[k])[0]
        self._seconds[i] = float(result.seconds)
        self._finished[i] = _dt.datetime.now(_dt.timezone.utc).timestamp()
        # the data reach the file before the status that declares them complete
        self._h5.flush()
        self._status[i] = DONE if result.ok else FAILED
        self._h5.flush()

    def close(self) -> None:
        """Close the file and release the lock."""
        if self._h5 is not None:
            try:
                self._h5.close()
            finally:
                self._h5 = None
                self._lock.release()

    def __enter__(self) -> "SweepWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _create(path: Path, config: SweepPlan, columns: list[str], curves: dict[str, int]) -> None:
    points = config.points()
    n_p, n_s = len(points), len(config.seeds)
    n_t = n_p * n_s
    with atomic_write(path) as f:
        set_attributes(f, {
            "kind": KIND, "format_version": FORMAT_VERSION, **provenance_attributes(),
            "name": config.name, "config": config.to_json(),
            "config_hash": config.config_hash, "config_text": config.source,
            "mode": config.mode, "metrics": json.dumps(list(config.metrics)),
            "columns": json.dumps(list(columns)),
            "n_points": n_p, "n_seeds": n_s, "n_tasks": n_t,
        })
        g = f.create_group("grid")
        set_attributes(g, {"axes": json.dumps([a.to_dict() for a in config.axes])})
        coords = np.array([p.coordinates for p in points], float).reshape(n_p, len(config.axes))
        create_array(g, "coordinates", data=coords)
        create_array(g, "seeds", data=np.array(config.seeds, np.int64))
        t = f.create_group("tasks")
        create_array(t, "point", data=np.repeat(np.arange(n_p), n_s).astype(np.int64))
        create_array(t, "seed", data=np.tile(np.array(config.seeds, np.int64), n_p))
        r = f.create_group("results")
        create_array(r, "status", data=np.zeros(n_t, np.int8))
        create_array(r, "values", data=np.full((n_t, len(columns)), np.nan))
        c = r.create_group("curves")
        for name, length in curves.items():
            create_array(c, name, data=np.full((n_t, int(length)), np.nan))
        for name, capacity in TEXT_COLUMNS.items():
            create_array(r, name, data=encode_texts([""] * n_t, capacity), compress=True)
        create_array(r, "seconds", data=np.full(n_t, np.nan))
        create_array(r, "finished", data=np.full(n_t, np.nan))


def _check_matches(path: Path, config: SweepPlan, columns, curves) -> None:
    with reading(path, None) as f:
        try:
            check_format(f, path, KIND, FORMAT_VERSION)
        except StorageError as exc:
            raise StorageError(f"{exc}; choose another output (--out) or start afresh "
                               "(--overwrite)") from None
        stored_hash = attribute(f, "config_hash")
        if stored_hash != config.config_hash:
            raise StorageError(
                f"{path} holds a sweep of a different configuration (config hash "
                f"{stored_hash[:12]} vs {config.config_hash[:12]}); write to "
                "another file (--out) or start afresh (--overwrite)")
        if json.loads(attribute(f, "columns")) != list(columns) or \
                {k: f["results/curves"][k].shape[1] for k in f["results/curves"]} != dict(curves):
            raise StorageError(f"{path}: the stored result layout differs from what this "
                               "version computes; start afresh (--overwrite)")
        stored = str(attribute(f, "code_fingerprint", "unknown"))
    read_sweep(path)  # every array read once: a damaged file is refused before it is extended
    warn_if_code_changed(
        path, stored, "finished tasks are kept as stored and only the missing ones run with "
        "this code, so the results may mix two versions; start afresh (--overwrite) to "
        "recompute every task", stacklevel=4)


# ---------------------------------------------------------------------- reader
@dataclass
class SweepRecord:
    """Contents of a sweep file (see the module docstring for the layout).

    :class:`physsim.sweeps.SweepResults` extends it with the analysis.

    Attributes
    ----------
    path : Path
        The file.
    name : str
        Sweep name.
    config : dict
        Canonical configuration (JSON-decoded).
    config_text : str
        The TOML text the sweep was started from.
    mode : str
        How the axes combine (grid, zip, one_at_a_time).
    axes : list
        The swept fields (plain descriptions here; :class:`~physsim.sweeps.Axis`
        objects in ``SweepResults``).
    coordinates : ndarray, shape (n_points, n_axes)
        Axis coordinate of each point (NaN where inactive; index for categorical axes).
    seeds : ndarray, shape (n_seeds,)
        Seeds.
    columns : list of str
        Scalar result columns.
    values : ndarray, shape (n_tasks, n_columns)
        Results (NaN where not computed).
    curves : dict of str to ndarray (n_tasks, length)
        Curve results.
    status : ndarray of int8, shape (n_tasks,)
        0 pending, 1 done, 2 failed.
    errors, warnings, workers, hardware : list of str
        Per task.
    seconds : ndarray, shape (n_tasks,)
        Wall time per task.
    task_point, task_seed : ndarray of int, shape (n_tasks,)
        Point and seed of each task.
    attrs : dict
        Root attributes (versions, metrics, creation time...).
    """

    path: Path
    name: str
    config: dict[str, Any]
    config_text: str
    mode: str
    axes: list[Any]
    coordinates: np.ndarray
    seeds: np.ndarray
    columns: list[str]
    values: np.ndarray
    curves: dict[str, np.ndarray]
    status: np.ndarray
    errors: list[str]
    warnings: list[str]
    workers: list[str]
    hardware: list[str]
    seconds: np.ndarray
    task_point: np.ndarray
    task_seed: np.ndarray
    attrs: dict[str, Any] = field(default_factory=dict)


def read_sweep(path: str | Path) -> SweepRecord:
    """Read a sweep file (also while a sweep is writing it, or after it was killed).

    Returns
    -------
    SweepRecord
        With ``axes`` as plain descriptions (dicts).

    Raises
    ------
    StorageError
        If the file is missing, truncated, damaged, or not a sweep file of
        this format version.
    """
    path = Path(path)
    with reading(path, KIND, FORMAT_VERSION) as f:
        r = f["results"]
        a = attributes(f)

        def texts(name):
            return decode_texts(r[name][...])

        # status first: a row whose status is set had its data flushed before it
        status = np.asarray(r["status"][...])
        return SweepRecord(
            path=path, name=str(a["name"]), config=json.loads(a["config"]),
            config_text=str(a["config_text"]), mode=str(a["mode"]),
            axes=list(json.loads(attribute(f["grid"], "axes"))),
            coordinates=np.asarray(f["grid/coordinates"][...]),
            seeds=np.asarray(f["grid/seeds"][...]),
            columns=[str(c) for c in json.loads(a["columns"])],
            values=np.asarray(r["values"][...]),
            curves={k: np.asarray(v[...]) for k, v in members(r["curves"]).items()},
            status=status, errors=texts("error"), warnings=texts("warnings"),
            workers=texts("worker"), hardware=texts("hardware"),
            seconds=np.asarray(r["seconds"][...]),
            task_point=np.asarray(f["tasks/point"][...]),
            task_seed=np.asarray(f["tasks/seed"][...]),
            attrs=a)
