"""Analysis of sweep results: series, curves and thresholds along the swept axes.

The file itself (layout, writer, reader) belongs to :mod:`physsim.storage.sweep_file`.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, fields
from pathlib import Path
from typing import Any

import numpy as np

from ..storage.sweep_file import DONE, FAILED, PENDING, SweepRecord, read_sweep
from .config import Axis


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
class SweepResults(SweepRecord):
    """Contents of a sweep file and its analysis (fields: see :class:`SweepRecord`).

    ``axes`` holds :class:`~physsim.sweeps.config.Axis` objects.  Read one with
    :func:`load_sweep`.
    """

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

    @property
    def saturated(self) -> np.ndarray:
        """Finished tasks whose warnings report a saturation, shape (n_tasks,) of bool.

        A converter (DAC/ADC) or a state register clipped values during the
        task; its results are kept but were computed on clipped data.
        """
        return np.array([st == DONE and "saturat" in w.lower()
                         for st, w in zip(self.status, self.warnings)], dtype=bool)

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
    physsim.storage.StorageError
        If the file is missing, truncated, damaged, or not a physsim sweep file.
    """
    record = read_sweep(path)
    contents = {f.name: getattr(record, f.name) for f in fields(record)}
    contents["axes"] = [Axis.from_dict(d) for d in record.axes]
    return SweepResults(**contents)
