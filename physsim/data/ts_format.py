"""A small reader and writer for the sktime/aeon ``.ts`` time-series text format.

The UEA/UCR archives (timeseriesclassification.com) distribute ``<Name>_TRAIN.ts`` and
``<Name>_TEST.ts`` files in this format. A file is a header of ``@tag value`` lines,
``#`` comment lines, an ``@data`` line, then one case per line::

    @problemName Example
    @timeStamps false
    @univariate false
    @dimensions 2
    @equalLength true
    @seriesLength 3
    @classLabel true a b
    @data
    1.0,2.0,3.0:4.0,5.0,6.0:a

Channels are separated by ``:``, time steps by ``,``; the last field is the class
label (``@classLabel true``) or the regression target (``@targetLabel true``);
``?`` marks a missing value (read as NaN). Files with ``@timeStamps true`` (explicit
``(time,value)`` pairs) are not supported and raise NotImplementedError.
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from typing import Sequence

import numpy as np

__all__ = ["TsData", "read_ts", "write_ts"]

_TRUE = {"true": True, "false": False}


@dataclass(frozen=True)
class TsData:
    """Contents of one ``.ts`` file.

    Attributes
    ----------
    problem_name : str
        Value of ``@problemName`` (empty if absent).
    series : list of ndarray
        One float64 array of shape (length_i, channels) per case; NaN where missing.
    labels : ndarray, shape (cases,)
        Class labels as str (classification), targets as float64 (regression), or
        ``None`` if the file has no label column.
    class_labels : tuple of str or None
        Labels declared by ``@classLabel true ...`` in header order.
    is_regression : bool
        True if the file declares ``@targetLabel true``.
    """

    problem_name: str
    series: list[np.ndarray]
    labels: np.ndarray | None
    class_labels: tuple[str, ...] | None
    is_regression: bool

    @property
    def n_channels(self) -> int:
        """Number of channels (dimensions)."""
        return int(self.series[0].shape[1]) if self.series else 0

    @property
    def lengths(self) -> np.ndarray:
        """Length of each case, shape (cases,)."""
        return np.array([s.shape[0] for s in self.series], dtype=np.int64)


def _parse_values(text: str, path: str, line_no: int) -> np.ndarray:
    text = text.strip()
    if text.startswith("("):
        raise NotImplementedError(
            f"{path}:{line_no}: time-stamped .ts data ('(time,value)' pairs) is not supported"
        )
    if not text:
        return np.zeros(0)
    try:
        return np.array([np.nan if v.strip() == "?" else float(v) for v in text.split(",")])
    except ValueError as exc:
        raise ValueError(f"{path}:{line_no}: cannot parse values: {exc}") from None


def read_ts(path: str | os.PathLike) -> TsData:
    """Read a ``.ts`` file.

    Parameters
    ----------
    path : str or path-like
        File to read.

    Returns
    -------
    TsData
        Parsed series and labels.

    Raises
    ------
    ValueError
        If the file is malformed (no ``@data`` section, wrong channel count, channels
        of unequal length within a case, unparsable numbers, undeclared class label).
    NotImplementedError
        For ``@timeStamps true`` files.
    """
    path = os.fspath(path)
    header: dict[str, str] = {}
    series: list[np.ndarray] = []
    labels: list[str] = []
    in_data = False
    has_label = False
    is_regression = False
    class_labels: tuple[str, ...] | None = None
    n_dims: int | None = None
    with open(path, encoding="utf-8", errors="replace") as fh:
        for line_no, raw in enumerate(fh, start=1):
            line = raw.strip()
            if not line or line.startswith("#"):
                continue
            if not in_data:
                if not line.startswith("@"):
                    raise ValueError(
                        f"{path}:{line_no}: expected a header '@tag' line, got {line[:40]!r}"
                    )
                tag, _, value = line[1:].partition(" ")
                tag = tag.lower()
                value = value.strip()
                if tag == "data":
                    in_data = True
                    if _TRUE.get(header.get("timestamps", "false").lower(), False):
                        raise NotImplementedError(
                            f"{path}: '@timeStamps true' files are not supported"
                        )
                    if "dimensions" in header:
                        n_dims = int(header["dimensions"])
                    elif _TRUE.get(header.get("univariate", "").lower()) is True:
                        n_dims = 1
                    continue
                header[tag] = value
                if tag == "classlabel":
                    parts = value.split()
                    flag = _TRUE.get(parts[0].lower()) if parts else None
                    if flag is None:
                        raise ValueError(
                            f"{path}:{line_no}: @classLabel must start with true/false"
                        )
                    has_label = flag
                    class_labels = tuple(parts[1:]) if flag else None
                elif tag == "targetlabel":
                    flag = _TRUE.get(value.lower())
                    if flag is None:
                        raise ValueError(f"{path}:{line_no}: @targetLabel must be true/false")
                    has_label = has_label or flag
                    is_regression = flag
                continue
            fields = line.split(":")
            if has_label:
                label = fields[-1].strip()
                fields = fields[:-1]
                if class_labels is not None and not is_regression and label not in class_labels:
                    raise ValueError(
                        f"{path}:{line_no}: class label {label!r} not declared in @classLabel "
                        f"{list(class_labels)}"
                    )
                labels.append(label)
            if n_dims is None:
                n_dims = len(fields)
            if len(fields) != n_dims:
                raise ValueError(
                    f"{path}:{line_no}: case has {len(fields)} channels, expected {n_dims}"
                )
            chans = [_parse_values(f, path, line_no) for f in fields]
            length = chans[0].size
            if any(c.size != length for c in chans):
                raise ValueError(
                    f"{path}:{line_no}: channels of one case have different lengths "
                    f"{[c.size for c in chans]}"
                )
            series.append(np.stack(chans, axis=1))
    if not in_data:
        raise ValueError(f"{path}: no '@data' line found; is this a .ts file?")
    if not series:
        raise ValueError(f"{path}: the @data section is empty")
    lab = None
    if has_label:
        lab = np.array(labels, dtype=np.float64) if is_regression else np.array(labels)
    return TsData(
        problem_name=header.get("problemname", ""),
        series=series,
        labels=lab,
        class_labels=class_labels,
        is_regression=is_regression,
    )


def write_ts(
    path: str | os.PathLike,
    series: Sequence[np.ndarray],
    labels: Sequence[str],
    problem_name: str = "Problem",
    class_labels: Sequence[str] | None = None,
) -> None:
    """Write a classification ``.ts`` file (for tests and small local copies).

    Parameters
    ----------
    path : str or path-like
        Output file.
    series : sequence of ndarray
        One array of shape (length_i, channels) per case; NaN is written as ``?``.
    labels : sequence of str
        Class label of each case.
    problem_name : str
        Written as ``@problemName``.
    class_labels : sequence of str, optional
        Declared classes; default: sorted unique labels.
    """
    series = [np.asarray(s, dtype=float) for s in series]
    if len(series) != len(labels):
        raise ValueError("series and labels must have the same length")
    n_ch = series[0].shape[1]
    lengths = {s.shape[0] for s in series}
    classes = list(class_labels) if class_labels is not None else sorted({str(v) for v in labels})
    lines = [
        f"@problemName {problem_name}",
        "@timeStamps false",
        f"@missing {'true' if any(np.isnan(s).any() for s in series) else 'false'}",
        f"@univariate {'true' if n_ch == 1 else 'false'}",
        f"@dimensions {n_ch}",
        f"@equalLength {'true' if len(lengths) == 1 else 'false'}",
    ]
    if len(lengths) == 1:
        lines.append(f"@seriesLength {lengths.pop()}")
    lines += ["@classLabel true " + " ".join(classes), "@data"]
    for s, lab in zip(series, labels):
        chans = [
            ",".join("?" if np.isnan(v) else repr(float(v)) for v in s[:, c]) for c in range(n_ch)
        ]
        lines.append(":".join(chans) + ":" + str(lab))
    with open(path, "w", encoding="utf-8") as fh:
        fh.write("\n".join(lines) + "\n")
