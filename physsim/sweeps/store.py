"""The sweep results file: one HDF5 row per task, written as soon as the task returns.

Layout (``kind = "sweep"``)::

    /                    attrs: kind, format_version, name, physsim_version, versions (JSON),
                                code_fingerprint (physsim._version.source_fingerprint),
                                config (canonical JSON), config_hash, config_text (the TOML),
                                mode, metrics, columns, created, n_points, n_seeds, n_tasks
    /grid                attrs: axes (JSON list of axis descriptions)
    /grid/coordinates    (n_points, n_axes) float64: value per axis (index for categorical
                          axes; NaN where the axis is not set at that point)
    /grid/seeds          (n_seeds,) int64
    /tasks/point         (n_tasks,) int64   point of each task
    /tasks/seed          (n_tasks,) int64   seed of each task
    /results/status      (n_tasks,) int8    0 pending, 1 done, 2 failed
    /results/values      (n_tasks, n_columns) float64 (NaN where not computed)
    /results/curves/<c>  (n_tasks, length) float64
    /results/error, warnings, worker, hardware   (n_tasks,) strings
    /results/seconds, finished                   (n_tasks,) float64 (wall time, unix time)

Every task owns one row (``task_id = point * n_seeds + seed_index``), so a
point can never be recorded twice and the file does not depend on the order
in which tasks finish.  The parent process is the only writer.  The file is
written in HDF5's single-writer/multiple-reader (SWMR) mode, which keeps it
consistent on disk at every moment: a killed sweep leaves a readable file,
and ``load_sweep`` can read a sweep while it runs.  A row counts as done only
once its status is set, which happens after its data were flushed; a row
whose status was never set is computed again on resume.
"""

from __future__ import annotations

import datetime as _dt
import fcntl
import json
import os
import sys
import warnings
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import h5py
import numpy as np

from .._version import CodeChangedWarning, __version__, source_fingerprint
from .config import Axis, SweepConfig

FORMAT_VERSION = 1
PENDING, DONE, FAILED = 0, 1, 2
STATUS_NAMES = {PENDING: "pending", DONE: "done", FAILED: "failed"}
_STR = h5py.string_dtype()


def versions() -> dict[str, str]:
    """Versions of Python and the packages that determine results."""
    out = {"python": sys.version.split()[0], "physsim": __version__}
    for mod in ("numpy", "scipy", "numba", "h5py", "hardware_models"):
        try:
            m = __import__(mod)
            out[mod] = str(getattr(m, "__version__", "installed"))
        except ImportError:
            out[mod] = "missing"
    return out


class SweepFileError(RuntimeError):
    """The results file cannot be used for this sweep (locked, or written by another config)."""


# ---------------------------------------------------------------------- writer
class SweepWriter:
    """Single writer of a sweep file (the parent process).

    Use :meth:`open`; it creates the file, or reopens it to resume (recovering
    it first if a previous run was killed), checks that it belongs to the same
    configuration, and holds an exclusive lock (``<file>.lock``) so that two
    sweeps never write one file.
    """

    def __init__(self, path: Path, h5: h5py.File, lock_fd: int) -> None:
        self.path = path
        self._h5 = h5
        self._lock_fd = lock_fd
        r = h5["results"]
        self._status = r["status"]
        self._values = r["values"]
        self._curves = {k: r["curves"][k] for k in r["curves"]}
        self._str = {k: r[k] for k in ("error", "warnings", "worker", "hardware")}
        self._seconds = r["seconds"]
        self._finished = r["finished"]
        self.columns = [str(c) for c in json.loads(h5.attrs["columns"])]
        self._col_index = {c: i for i, c in enumerate(self.columns)}
        self.recovered = False

    # ------------------------------------------------------------- opening
    @classmethod
    def open(cls, path: str | Path, config: SweepConfig, columns: list[str],
             curves: dict[str, int], *, overwrite: bool = False) -> "SweepWriter":
        """Create or reopen the sweep file for writing.

        Parameters
        ----------
        path : str or Path
            The HDF5 file.
        config : SweepConfig
            The sweep; a file written for a different configuration is refused.
        columns : list of str
            Scalar result columns.
        curves : dict of str to int
            Curve outputs and their lengths.
        overwrite : bool
            Start afresh even if the file exists.

        Raises
        ------
        SweepFileError
            If another process is writing the file, or the file belongs to a
            different configuration (and ``overwrite`` is False).
        """
        path = Path(path)
        path.parent.mkdir(parents=True, exist_ok=True)
        lock_path = path.with_name(path.name + ".lock")
        fd = os.open(lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise SweepFileError(f"another process is writing {path} (lock {lock_path} is held); "
                                 "wait for it to finish or stop it") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        try:
            recovered = False
            if overwrite or not path.exists():
                _create(path, config, columns, curves)
            else:
                recovered = _recover_if_needed(path)
                _check_matches(path, config, columns, curves)
            h5 = h5py.File(path, "r+", libver="latest")
            h5.swmr_mode = True
        except BaseException:
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
            raise
        writer = cls(path, h5, fd)
        writer.recovered = recovered
        return writer

    # ------------------------------------------------------------- access
    def status(self) -> np.ndarray:
        """Status of every task (0 pending, 1 done, 2 failed)."""
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
        for k, ds in self._str.items():
            ds[i] = str(getattr(result, k))
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
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)

    def __enter__(self) -> "SweepWriter":
        return self

    def __exit__(self, *exc) -> None:
        self.close()


def _create(path: Path, config: SweepConfig, columns: list[str], curves: dict[str, int]) -> None:
    points = config.points()
    n_p, n_s = len(points), len(config.seeds)
    n_t = n_p * n_s
    tmp = path.with_name(path.name + ".creating")
    with h5py.File(tmp, "w", libver="latest") as f:
        f.attrs.update({
            "kind": "sweep", "format_version": FORMAT_VERSION, "name": config.name,
            "physsim_version": __version__, "versions": json.dumps(versions()),
            "code_fingerprint": source_fingerprint(),
            "config": config.to_json(), "config_hash": config.config_hash,
            "config_text": config.source, "mode": config.mode,
            "metrics": json.dumps(list(config.metrics)), "columns": json.dumps(list(columns)),
            "created": _dt.datetime.now(_dt.timezone.utc).isoformat(),
            "n_points": n_p, "n_seeds": n_s, "n_tasks": n_t,
        })
        g = f.create_group("grid")
        g.attrs["axes"] = json.dumps([a.to_dict() for a in config.axes])
        coords = np.array([p.coordinates for p in points], float).reshape(n_p, len(config.axes))
        g.create_dataset("coordinates", data=coords)
        g.create_dataset("seeds", data=np.array(config.seeds, np.int64))
        t = f.create_group("tasks")
        t.create_dataset("point", data=np.repeat(np.arange(n_p), n_s).astype(np.int64))
        t.create_dataset("seed", data=np.tile(np.array(config.seeds, np.int64), n_p))
        r = f.create_group("results")
        r.create_dataset("status", data=np.zeros(n_t, np.int8))
        r.create_dataset("values", data=np.full((n_t, len(columns)), np.nan))
        c = r.create_group("curves")
        for name, length in curves.items():
            c.create_dataset(name, data=np.full((n_t, int(length)), np.nan))
        for name in ("error", "warnings", "worker", "hardware"):
            r.create_dataset(name, shape=(n_t,), dtype=_STR)
        r.create_dataset("seconds", data=np.full(n_t, np.nan))
        r.create_dataset("finished", data=np.full(n_t, np.nan))
    os.replace(tmp, path)


def _recover_if_needed(path: Path) -> bool:
    """Rewrite a file left open by a killed writer into a clean one; True if it was needed."""
    try:
        with h5py.File(path, "r+", libver="latest"):
            return False
    except OSError as exc:
        if "consistency flags" not in str(exc) and "already open for write" not in str(exc):
            raise SweepFileError(f"cannot open {path} to resume: {exc}") from exc
    # a writer was killed in SWMR mode: the file is consistent but flagged as open.
    # Read it as a SWMR reader and copy everything into a fresh file.
    tmp = path.with_name(path.name + ".recovering")
    with h5py.File(path, "r", swmr=True) as src, h5py.File(tmp, "w", libver="latest") as dst:
        for key, value in src.attrs.items():
            dst.attrs[key] = value
        for key in src:
            src.copy(src[key], dst, name=key)
    os.replace(tmp, path)
    return True


def _check_matches(path: Path, config: SweepConfig, columns, curves) -> None:
    with h5py.File(path, "r") as f:
        if f.attrs.get("kind") != "sweep":
            raise SweepFileError(f"{path} exists and is not a sweep file "
                                 f"(kind={f.attrs.get('kind')!r}); choose another output")
        if f.attrs["config_hash"] != config.config_hash:
            raise SweepFileError(
                f"{path} holds a sweep of a different configuration (config hash "
                f"{str(f.attrs['config_hash'])[:12]} vs {config.config_hash[:12]}); write to "
                "another file (--out) or start afresh (--overwrite)")
        if json.loads(f.attrs["columns"]) != list(columns) or \
                {k: f["results/curves"][k].shape[1] for k in f["results/curves"]} != dict(curves):
            raise SweepFileError(f"{path}: the stored result layout differs from what this "
                                 "version computes; start afresh (--overwrite)")
        stored = str(f.attrs.get("code_fingerprint", "unknown"))
    now = source_fingerprint()
    if stored != now:
        # not an error: an edit may not touch the numbers, and only the user knows
        warnings.warn(
            f"{path} was started by other code (source fingerprint {stored}, now {now}): "
            "finished tasks are kept as stored and only the missing ones run with this "
            "code, so the results may mix two versions; start afresh (--overwrite) to "
            "recompute every task", CodeChangedWarning, stacklevel=3)


# ---------------------------------------------------------------------- reader
@dataclass(frozen=True)
class Threshold:
    """Where a swept metric falls below a level (see :meth:`SweepResults.threshold`).

    Attributes
    ----------
    kind : str
        ``"crossing"``, ``"above"`` (never below over the swept range) or
        ``"below"`` (below everywhere).
    value : float or None
        Interpolated knob value of the crossing (None for categorical axes
        and when there is no crossing).
    last_good, first_bad : float, str or None
        Swept values on either side of the crossing.
    axis : str
        Axis label.
    level : float
        The level.
    """

    kind: str
    value: float | None
    last_good: Any
    first_bad: Any
    axis: str
    level: float

    def __str__(self) -> str:
        if self.kind == "above":
            return f">= {self.level:g} over the whole range"
        if self.kind == "below":
            return f"< {self.level:g} over the whole range"
        if self.value is None:
            return f"between {self.last_good} and {self.first_bad}"
        return f"{self.value:.3g} (between {self.last_good:.3g} and {self.first_bad:.3g})"


@dataclass
class SweepResults:
    """Contents of a sweep file (see the module docstring for the layout).

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
    axes : list of Axis
        The swept fields.
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
    axes: list[Axis]
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

    # ---------------------------------------------------------- summaries
    @property
    def n_points(self) -> int:
        """Number of points."""
        return int(self.coordinates.shape[0])

    @property
    def n_seeds(self) -> int:
        """Number of seeds per point."""
        return int(self.seeds.size)

    @property
    def n_done(self) -> int:
        """Tasks finished successfully."""
        return int(np.count_nonzero(self.status == DONE))

    @property
    def n_failed(self) -> int:
        """Tasks recorded as failed."""
        return int(np.count_nonzero(self.status == FAILED))

    @property
    def complete(self) -> bool:
        """True when no task is pending."""
        return bool(np.all(self.status != PENDING))

    @property
    def metrics(self) -> list[str]:
        """Metric names."""
        return list(json.loads(self.attrs.get("metrics", "[]")))

    def column(self, name: str) -> np.ndarray:
        """One scalar column, shape (n_tasks,) (NaN where not computed)."""
        try:
            return self.values[:, self.columns.index(name)]
        except ValueError:
            raise ValueError(f"unknown column {name!r}; valid columns are: "
                             f"{', '.join(self.columns)}") from None

    def axis_index(self, axis: int | str) -> int:
        """Index of an axis given by index, field, plain field name or label."""
        if isinstance(axis, (int, np.integer)):
            if not 0 <= axis < len(self.axes):
                raise ValueError(f"axis index {axis} out of range (0..{len(self.axes) - 1})")
            return int(axis)
        matches = [i for i, a in enumerate(self.axes) if axis in (a.field, a.name, a.label)]
        if not matches:
            raise ValueError(f"unknown axis {axis!r}; valid axes are: "
                             f"{', '.join(a.label for a in self.axes)}")
        if len(matches) > 1:
            labels = [self.axes[i].label for i in matches]
            exact = [i for i in matches if self.axes[i].label == axis]
            if len(exact) == 1:
                return exact[0]
            raise ValueError(f"axis {axis!r} is ambiguous ({', '.join(labels)}); give its label "
                             "or index")
        return matches[0]

    def grid_values(self, name: str) -> np.ndarray:
        """Values of a column arranged by point and seed, shape (n_points, n_seeds).

        Failed or pending tasks give NaN.
        """
        v = self.column(name).copy()
        v[self.status != DONE] = np.nan
        out = np.full((self.n_points, self.n_seeds), np.nan)
        seed_pos = {int(s): j for j, s in enumerate(self.seeds)}
        for t in range(v.size):
            out[self.task_point[t], seed_pos[int(self.task_seed[t])]] = v[t]
        return out

    def series(self, name: str, axis: int | str, where: dict[int | str, Any] | None = None
               ) -> tuple[np.ndarray, np.ndarray]:
        """A column against one axis, with every seed.

        Parameters
        ----------
        name : str
            Column.
        axis : int or str
            The axis on the x axis.
        where : dict, optional
            Other axes held at given values (value, not coordinate); in grid
            mode every other axis must be fixed this way, or the series mixes
            points.

        Returns
        -------
        x : ndarray, shape (n_x,)
            Axis values (index positions for categorical axes), ascending.
        y : ndarray, shape (n_x, n_seeds)
            The column at each x for each seed (NaN where missing).
        """
        i = self.axis_index(axis)
        coords = self.coordinates
        mask = ~np.isnan(coords[:, i])
        if self.mode == "one_at_a_time":
            others = [j for j in range(len(self.axes)) if j != i]
            for j in others:
                mask &= np.isnan(coords[:, j])
        for key, value in (where or {}).items():
            j = self.axis_index(key)
            mask &= coords[:, j] == self.axes[j].coordinate(value)
        grid = self.grid_values(name)
        pts = np.nonzero(mask)[0]
        order = np.argsort(coords[pts, i], kind="stable")
        pts = pts[order]
        x = coords[pts, i]
        if np.unique(x).size != x.size:
            raise ValueError(f"several points share each value of axis {self.axes[i].label!r}; "
                             "fix the other axes with where={...}")
        return x, grid[pts]

    def curve_groups(self, curve: str, axis: int | str | None = None,
                     where: dict[int | str, Any] | None = None) -> dict[str, np.ndarray]:
        """A curve per value of one axis, with every seed.

        Parameters
        ----------
        curve : str
            Curve name (e.g. ``"train_loss"``).
        axis : int or str, optional
            Axis whose values label the groups (default: the only axis; a sweep
            without axes gives one group).
        where : dict, optional
            Other axes held at given values.

        Returns
        -------
        dict of str to ndarray, shape (n_seeds, length)
            ``"label = value"`` -> curves of the seeds (NaN rows where missing).
        """
        if curve not in self.curves:
            raise ValueError(f"unknown curve {curve!r}; valid curves are: "
                             f"{', '.join(self.curves) or '(none)'}")
        data = self.curves[curve].copy()
        data[self.status != DONE] = np.nan
        seed_pos = {int(s): j for j, s in enumerate(self.seeds)}

        def rows_of(point: int) -> np.ndarray:
            out = np.full((self.n_seeds, data.shape[1]), np.nan)
            for t in np.nonzero(self.task_point == point)[0]:
                out[seed_pos[int(self.task_seed[t])]] = data[t]
            return out

        if not self.axes:
            return {self.name: rows_of(0)}
        if axis is None:
            if len(self.axes) > 1:
                raise ValueError(f"the sweep has {len(self.axes)} axes; choose one with axis=")
            axis = 0
        i = self.axis_index(axis)
        ax = self.axes[i]
        mask = ~np.isnan(self.coordinates[:, i])
        if self.mode == "one_at_a_time":
            for j in range(len(self.axes)):
                if j != i:
                    mask &= np.isnan(self.coordinates[:, j])
        for key, value in (where or {}).items():
            j = self.axis_index(key)
            mask &= self.coordinates[:, j] == self.axes[j].coordinate(value)
        groups: dict[str, np.ndarray] = {}
        for point in np.nonzero(mask)[0]:
            value = ax.values[int(self.coordinates[point, i])] if ax.categorical \
                else self.coordinates[point, i]
            label = f"{ax.label} = {value:g}" if isinstance(value, float) else \
                f"{ax.label} = {value}"
            if label in groups:
                raise ValueError(f"several points share {label}; fix the other axes with "
                                 "where={...}")
            groups[label] = rows_of(int(point))
        return groups

    def threshold(self, name: str, axis: int | str, level: float, *,
                  where: dict[int | str, Any] | None = None) -> "Threshold":
        """Where the seed-mean of a column falls below ``level`` along one axis.

        The good end of the axis is the end whose mean is at or above
        ``level`` (small noise, many bits, high Q).  Walking from it, the
        threshold lies between the last value still at or above the level and
        the first value below it; it is interpolated linearly in the mean (in
        ``log10`` of the knob for log-scale axes).

        Parameters
        ----------
        name : str
            Column (e.g. ``"cosine/all"``).
        axis : int or str
            The knob.
        level : float
            The level (e.g. 0.99).
        where : dict, optional
            Other axes held at given values (grid sweeps).

        Returns
        -------
        Threshold
        """
        import warnings  # noqa: PLC0415

        i = self.axis_index(axis)
        ax = self.axes[i]
        x, y = self.series(name, i, where)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", RuntimeWarning)  # all-NaN rows: failed points
            mean = np.nanmean(y, axis=1)
        good = mean >= level  # NaN (all seeds failed) counts as below
        if good.all():
            return Threshold("above", None, None, None, ax.label, level)
        if not good.any():
            return Threshold("below", None, None, None, ax.label, level)
        if good[0]:
            order = np.arange(x.size)
        elif good[-1]:
            order = np.arange(x.size)[::-1]
        else:  # good only inside the range: report from the lower end
            order = np.arange(x.size)
            first = int(np.argmax(good))
            order = order[first:]
        k = int(np.argmin(good[order]))  # first bad along the walk
        i_good, i_bad = order[k - 1], order[k]
        xg, xb = x[i_good], x[i_bad]
        yg, yb = mean[i_good], mean[i_bad]
        if ax.categorical:
            value = None
        else:
            log = ax.scale == "log" and xg > 0 and xb > 0
            tg, tb = (np.log10(xg), np.log10(xb)) if log else (xg, xb)
            frac = (yg - level) / (yg - yb) if np.isfinite(yb) and yg != yb else 1.0
            t = tg + frac * (tb - tg)
            value = float(10.0 ** t if log else t)
        last_good = ax.values[int(xg)] if ax.categorical else float(xg)
        first_bad = ax.values[int(xb)] if ax.categorical else float(xb)
        return Threshold("crossing", value, last_good, first_bad, ax.label, level)

    def failures(self) -> list[tuple[int, str]]:
        """``(task_id, error)`` of every failed task."""
        return [(int(t), self.errors[t]) for t in np.nonzero(self.status == FAILED)[0]]


def load_sweep(path: str | Path) -> SweepResults:
    """Read a sweep file (also while a sweep is writing it, or after it was killed).

    Raises
    ------
    ValueError
        If the file is not a physsim sweep file.
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"sweep file {path} does not exist")
    try:
        f = h5py.File(path, "r", swmr=True)
    except OSError:
        f = h5py.File(path, "r")  # a file not written in the latest format
    with f:
        if f.attrs.get("kind") != "sweep":
            raise ValueError(f"{path} is not a physsim sweep file (kind={f.attrs.get('kind')!r})")
        r = f["results"]

        def strings(name):
            return [x.decode() if isinstance(x, bytes) else str(x) for x in r[name][...]]

        # status first: a row whose status is set had its data flushed before it
        status = np.asarray(r["status"][...])
        return SweepResults(
            path=path, name=str(f.attrs["name"]), config=json.loads(f.attrs["config"]),
            config_text=str(f.attrs["config_text"]), mode=str(f.attrs["mode"]),
            axes=[Axis.from_dict(d) for d in json.loads(f["grid"].attrs["axes"])],
            coordinates=np.asarray(f["grid/coordinates"][...]),
            seeds=np.asarray(f["grid/seeds"][...]),
            columns=[str(c) for c in json.loads(f.attrs["columns"])],
            values=np.asarray(r["values"][...]),
            curves={k: np.asarray(r["curves"][k][...]) for k in r["curves"]},
            status=status, errors=strings("error"), warnings=strings("warnings"),
            workers=strings("worker"), hardware=strings("hardware"),
            seconds=np.asarray(r["seconds"][...]),
            task_point=np.asarray(f["tasks/point"][...]),
            task_seed=np.asarray(f["tasks/seed"][...]),
            attrs={k: (v.item() if isinstance(v, np.generic) else v) for k, v in f.attrs.items()})
