"""Output paths checked before any work, and operating-system errors as one line.

Every command that writes files (``physsim simulate``, ``demo``, ``train``,
``sweep``, ``plot``) calls :func:`check_writable` on its outputs before it
simulates or trains anything, so a read-only folder, a path under a file or a
full disk is reported at once instead of after the run (when the work would be
lost).  :func:`os_error_message` turns an :class:`OSError` (also h5py's, whose
text is several lines of HDF5 internals) into one line naming the path and the
cause, for the errors that can still occur while writing (a disk that fills up
during the run).
"""

from __future__ import annotations

import errno
import os
import re
import tempfile
from pathlib import Path

from .files import StorageError

__all__ = ["OutputError", "check_writable", "os_error_message"]

#: Bytes written to the probe file: enough to need a free block on the disk.
_PROBE_BYTES = b"physsim write check\n"
#: Name prefix of the probe file (created and removed at once).
_PROBE_PREFIX = ".physsim-write-check-"
#: ``errno = N`` in h5py's messages for errors of the underlying ``open``/``write``.
_H5_ERRNO = re.compile(r"errno = (\d+)")
#: ``name = '...'`` in h5py's messages: the file HDF5 was opening.
_H5_NAME = re.compile(r"name = '([^']*)'")


class OutputError(StorageError):
    """An output file or folder cannot be written (read-only, not a folder, disk full...).

    The one-line message names the path and the cause.
    """


def os_error_message(exc: OSError, path: str | Path | None = None) -> str:
    """One line for an operating-system error: ``PATH: CAUSE``.

    Parameters
    ----------
    exc : OSError
        The error (from ``open``, ``mkdir``, ``os.replace``, h5py, matplotlib...).
    path : str or Path, optional
        The path to name when the error does not carry one.

    Returns
    -------
    str
        E.g. ``"/dev/null/x: Not a directory"``.
    """
    # h5py: "[Errno 13] Unable to create file (unable to open file: name = '...', errno = 13,
    # error message = 'Permission denied', ...)", with no filename attribute
    text = str(exc)
    code = exc.errno
    if code is None:
        match = _H5_ERRNO.search(text)
        code = int(match.group(1)) if match else None
    name = exc.filename
    if name is None:
        match = _H5_NAME.search(text)
        name = match.group(1) if match else None
    if code:
        cause = os.strerror(code)
    else:
        cause = exc.strerror or (text.splitlines()[0] if text else type(exc).__name__)
    where = name if name is not None else path
    return f"{where}: {cause}" if where is not None else cause


def check_writable(path: str | Path, *, folder: bool = False) -> Path:
    """Make sure an output can be created and written, before the work that produces it.

    Creates the folder (and its parents) if needed, then creates, writes,
    flushes to disk and removes a probe file in it; an existing output file
    must be a writable file (a sweep appends to it, a run file is replaced).
    Nothing existing is modified.

    Parameters
    ----------
    path : str or Path
        The output file, or with ``folder=True`` the output folder.
    folder : bool
        ``path`` is a folder that will hold the outputs.

    Returns
    -------
    Path
        ``path`` as a :class:`~pathlib.Path`.

    Raises
    ------
    OutputError
        (a :class:`StorageError`, thus a ``ValueError``) with a one-line
        message naming the path and the cause: read-only file system,
        permission denied, not a directory, is a directory, no space left...
    """
    path = Path(path)
    target_dir = path if folder else path.parent
    try:
        if not folder and path.is_dir():
            raise IsADirectoryError(errno.EISDIR, os.strerror(errno.EISDIR), str(path))
        target_dir.mkdir(parents=True, exist_ok=True)
        if not folder and path.exists() and not os.access(path, os.W_OK):
            raise PermissionError(errno.EACCES, os.strerror(errno.EACCES), str(path))
        fd, probe = tempfile.mkstemp(prefix=_PROBE_PREFIX, dir=target_dir)
        try:
            os.write(fd, _PROBE_BYTES)
            os.fsync(fd)
        finally:
            os.close(fd)
            os.unlink(probe)
    except OSError as exc:
        failing = exc.filename
        if failing is not None and (Path(failing).name.startswith(_PROBE_PREFIX)
                                    or Path(failing) == path):
            failing = None  # the probe stands for the folder; the path itself is named anyway
        exc.filename = None
        detail = f" ({failing})" if failing is not None else ""
        raise OutputError(f"cannot write {os_error_message(exc, path)}{detail}") from None
    return path
