"""Opening physsim HDF5 files: atomic writes, write locks, SWMR and format checks.

Every HDF5 file physsim writes carries two root attributes, ``kind`` (what the
file holds, e.g. ``"trajectory"``) and ``format_version`` (an integer bumped
whenever the layout of that kind changes); :func:`open_for_reading` checks both
and names the file and what was expected when they differ.

Truncated files
---------------
HDF5 stores the address of the end of the file in the superblock (the first
bytes of the file).  A normal open compares it with the size on disk and
refuses a truncated file; a single-writer/multiple-reader (SWMR) open skips that
check, because a live writer may still be growing the file, and then reads
zeros or garbage past the end (a ``physsim plot`` on a truncated sweep file used
to hang there).  :func:`open_for_reading` therefore first reads the
end-of-file address from the superblock itself and refuses a shorter file
(:func:`check_not_truncated`), then tries a normal open, and opens with SWMR
only when HDF5 says that a writer holds (or held, if it was killed) the file
open.

Corrupted files
---------------
Files are written with ``libver="latest"``, whose metadata (superblock, object
headers, indexes) carry checksums, and every array is stored with HDF5's
Fletcher-32 checksum filter (:func:`create_array`), so damaged metadata or
array data fail to read.  Fletcher-32 sums 16-bit words modulo 65535, so it
catches every single-bit error but not a word of zeros turned into all ones
(or back): such damage inside an array goes unseen.  h5py's ``group.items()``
and ``attrs.get()`` turn read failures into ``None``; the readers use
:func:`members`, :func:`attributes` and :func:`attribute` instead, and
:func:`reading` turns every failure into a one-line :class:`StorageError`
naming the file.  Bytes that no object uses may be damaged without consequence.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import struct
import time
from pathlib import Path
from typing import Any, Iterator

import h5py
import numpy as np

#: HDF5's file signature (the superblock starts with it).
_SIGNATURE = b"\x89HDF\r\n\x1a\n"
#: Offsets at which HDF5 looks for the superblock (0, then 512 * 2^k for a user block).
_SUPERBLOCK_OFFSETS = (0, 512, 1024, 2048, 4096, 8192, 16384, 32768, 65536)
#: What reading a damaged file raises: HDF5 errors (OSError, KeyError, RuntimeError from h5py)
#: and errors decoding garbage contents (ValueError includes JSON and Unicode errors).
_DECODING_ERRORS = (OSError, KeyError, RuntimeError, ValueError, TypeError, IndexError)
#: HDF5 message fragments that mean "a writer has (or had) the file open".
_OPEN_FOR_WRITE = ("consistency flags", "already open for write")


class StorageError(ValueError):
    """A file cannot be used: missing, truncated, corrupted, locked, or of another kind.

    The message names the file and what was expected.
    """


# --------------------------------------------------------------------- writing
@contextlib.contextmanager
def atomic_write(path: str | Path) -> Iterator[h5py.File]:
    """Write an HDF5 file under a temporary name and rename it into place when done.

    A crash or an exception never leaves a half-written file under ``path``
    (nor the temporary file: it is removed on failure); an existing file at
    ``path`` is replaced only by a complete one.

    Parameters
    ----------
    path : str or Path
        The final file name; its folder is created if needed.

    Yields
    ------
    h5py.File
        The temporary file, open for writing (``libver="latest"``: checksummed
        metadata).
    """
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_name(path.name + ".partial")
    try:
        with h5py.File(tmp, "w", libver="latest") as f:
            yield f
        os.replace(tmp, path)
    except BaseException:
        tmp.unlink(missing_ok=True)
        raise


def create_array(group: h5py.Group, name: str, data: Any = None, *, shape=None, dtype=None,
                 compress: bool = False) -> h5py.Dataset:
    """Create a dataset whose every chunk carries a Fletcher-32 checksum.

    HDF5 checksums a file's metadata but not its raw data; with the checksum
    filter a damaged array fails to read (and is reported) instead of
    returning garbage.  0-d and empty arrays and variable-length data are
    stored plainly (HDF5 filters need chunked, fixed-size data).

    Parameters
    ----------
    group : h5py.Group
        Parent group.
    name : str
        Dataset name (may contain ``/``: intermediate groups are created).
    data : array_like, optional
        Contents (or give ``shape`` and ``dtype``).
    shape : tuple of int, optional
        Shape when ``data`` is None.
    dtype : dtype, optional
        Element type (default: that of ``data``).
    compress : bool
        Also compress with gzip (for large arrays).

    Returns
    -------
    h5py.Dataset
    """
    if data is not None:
        data = np.asarray(data)
        shape, dtype = data.shape, (data.dtype if dtype is None else dtype)
    fixed_size = np.dtype(dtype).kind in "biufcS"  # not variable-length strings or objects
    filters: dict[str, Any] = {}
    if fixed_size and len(shape) > 0 and int(np.prod(shape)) > 0:
        filters = {"fletcher32": True, "chunks": True}
        if compress:
            filters["compression"] = "gzip"
    return group.create_dataset(name, shape=shape, dtype=dtype, data=data, **filters)


class WriteLock:
    """An exclusive advisory lock on ``<file>.lock`` held by the single writer of a file.

    The lock is an ``flock`` on a side file, so it is released by the
    operating system when the process dies, and the lock file records the
    holder's process id for the user.

    Parameters
    ----------
    path : str or Path
        The data file to protect (the lock file is ``<path>.lock``).

    Raises
    ------
    StorageError
        If another process holds the lock.
    """

    def __init__(self, path: str | Path) -> None:
        self.path = Path(path)
        self.lock_path = self.path.with_name(self.path.name + ".lock")
        self.path.parent.mkdir(parents=True, exist_ok=True)
        fd = os.open(self.lock_path, os.O_RDWR | os.O_CREAT, 0o644)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            raise StorageError(f"another process is writing {self.path} (lock {self.lock_path} "
                               "is held); wait for it to finish or stop it") from None
        os.ftruncate(fd, 0)
        os.write(fd, f"{os.getpid()}\n".encode())
        self._fd: int | None = fd

    def release(self) -> None:
        """Release the lock (idempotent)."""
        if self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
            os.close(self._fd)
            self._fd = None

    def __enter__(self) -> "WriteLock":
        return self

    def __exit__(self, *exc) -> None:
        self.release()


def open_swmr_writer(path: str | Path) -> h5py.File:
    """Open an existing file for writing in SWMR mode (readers may open it meanwhile).

    In SWMR mode the file stays consistent on disk at every moment, so a
    killed writer leaves a readable file; only existing datasets can be
    written.  Call :func:`recover_swmr_file` first on a file a killed writer
    may have left flagged as open.

    Parameters
    ----------
    path : str or Path
        An existing file written with ``libver="latest"``.

    Returns
    -------
    h5py.File
        Open in ``r+`` mode with ``swmr_mode`` on.
    """
    h5 = h5py.File(path, "r+", libver="latest")
    h5.swmr_mode = True
    return h5


def recover_swmr_file(path: str | Path) -> bool:
    """Rewrite a file left open by a killed SWMR writer into a clean one.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    bool
        True if the file needed it (and was rewritten), False if it was clean.

    Raises
    ------
    StorageError
        If the file is truncated or cannot be opened at all.
    """
    path = Path(path)
    check_not_truncated(path)
    try:
        with h5py.File(path, "r+", libver="latest"):
            return False
    except OSError as exc:
        if not any(m in str(exc) for m in _OPEN_FOR_WRITE):
            raise StorageError(f"{path} cannot be opened: {_first_line(exc)}") from None
    # the killed writer kept the file consistent on disk, only its open flag is set:
    # read it as a SWMR reader and copy everything into a fresh file
    tmp = path.with_name(path.name + ".recovering")
    try:
        with h5py.File(path, "r", swmr=True) as src, \
                h5py.File(tmp, "w", libver="latest") as dst:
            for key in src.attrs:
                dst.attrs[key] = src.attrs[key]
            for key in src:
                src.copy(src[key], dst, name=key)
    except _DECODING_ERRORS as exc:
        tmp.unlink(missing_ok=True)
        raise StorageError(f"{path} cannot be recovered: {_first_line(exc)}") from None
    os.replace(tmp, path)
    return True


# --------------------------------------------------------------------- reading
def stored_end_of_file(path: str | Path) -> int:
    """The end-of-file address HDF5 recorded in a file's superblock.

    Parameters
    ----------
    path : str or Path
        The file.

    Returns
    -------
    int
        Bytes the file must hold (a user block before the superblock included).

    Raises
    ------
    StorageError
        If no HDF5 superblock is found or its version is unknown.
    """
    path = Path(path)
    with open(path, "rb") as fh:
        for base in _SUPERBLOCK_OFFSETS:
            fh.seek(base)
            head = fh.read(64)
            if head[:8] == _SIGNATURE:
                break
        else:
            raise StorageError(f"{path} is not an HDF5 file (no HDF5 signature found)")
        version = head[8]
        if version in (0, 1):
            size_offsets = head[13]
            # signature 8, versions 5 bytes + size fields 2 + reserved 1, K values 4,
            # consistency flags 4, (version 1: indexed-storage K 2 + reserved 2)
            start = 24 + (4 if version == 1 else 0)  # then base, free-space and eof addresses
        elif version in (2, 3):
            size_offsets = head[9]
            start = 12  # signature 8, version 1, sizes 2, flags 1; then base, extension, eof
        else:
            raise StorageError(f"{path} has an unknown HDF5 superblock version {version}; "
                               "the file is corrupted or not an HDF5 file")
        fmt = {4: "<I", 8: "<Q"}.get(size_offsets)
        if fmt is None:
            raise StorageError(f"{path}: invalid HDF5 superblock (offset size "
                               f"{size_offsets}); the file is corrupted")
        # HDF5 compares this field with the size of the whole file, user block included
        # (its "truncated file: eof = ..., sblock->base_addr = ..., stored_eof = ..." check);
        # tests/test_storage.py checks it against files with and without a user block
        return struct.unpack_from(fmt, head, start + 2 * size_offsets)[0]


def check_not_truncated(path: str | Path, *, attempts: int = 5, wait: float = 0.1) -> None:
    """Refuse a file shorter than the end-of-file address in its superblock.

    A live SWMR writer rewrites the superblock and extends the file in two
    steps, so a short file is looked at again a few times before it is
    declared truncated.

    Parameters
    ----------
    path : str or Path
        The file.
    attempts : int
        How many times to look.
    wait : float
        Seconds between looks.

    Raises
    ------
    StorageError
        If the file is truncated (or has no valid superblock).
    """
    path = Path(path)
    for attempt in range(attempts):
        needed = stored_end_of_file(path)
        size = path.stat().st_size
        if size >= needed:
            return
        if attempt + 1 < attempts:
            time.sleep(wait)
    raise StorageError(f"{path} is truncated ({size} bytes on disk, the file says {needed}); "
                       "it was cut short (a copy or a disk that filled up) and cannot be read")


def open_for_reading(path: str | Path, kind: str | tuple[str, ...] | None,
                     format_version: int | None = None) -> h5py.File:
    """Open a physsim HDF5 file for reading, safely, and check what it holds.

    The file's length is checked first (:func:`check_not_truncated`), then it
    is opened normally; only a file that a writer holds open (a running sweep)
    or left open (a killed one) is opened in SWMR mode.

    Parameters
    ----------
    path : str or Path
        The file.
    kind : str, tuple of str or None
        The expected ``kind`` attribute (one of several; None: any kind).
    format_version : int, optional
        The expected ``format_version`` attribute (checked when ``kind`` is one
        string).

    Returns
    -------
    h5py.File
        Open for reading (close it, e.g. with ``with``).

    Raises
    ------
    StorageError
        If the file does not exist, is not a readable HDF5 file, is truncated
        or corrupted, or holds another kind or format version.
    """
    path = Path(path)
    if not path.exists():
        raise StorageError(f"{path} does not exist")
    check_not_truncated(path)
    try:
        f = h5py.File(path, "r")
    except OSError as exc:
        if not any(m in str(exc) for m in _OPEN_FOR_WRITE):
            raise StorageError(f"{path} is not a readable HDF5 file: {_first_line(exc)}") \
                from None
        try:
            f = h5py.File(path, "r", swmr=True)
        except (OSError, RuntimeError) as exc2:
            raise StorageError(f"{path} is not a readable HDF5 file: {_first_line(exc2)}") \
                from None
    try:
        if kind is not None:
            check_format(f, path, kind, format_version)
        else:
            file_kind(f)  # reads the root object header: a damaged one fails here
    except StorageError:
        f.close()
        raise
    except _DECODING_ERRORS as exc:
        f.close()
        raise StorageError(f"{path} is damaged: {_first_line(exc)}") from None
    return f


def file_kind(f: h5py.File) -> str | None:
    """The ``kind`` attribute of an open file (None if absent).

    Raises
    ------
    OSError, KeyError
        If the attribute exists but cannot be read (a damaged file).
    """
    if "kind" not in f.attrs:
        return None
    # not attrs.get(): it turns h5py's KeyError for an unreadable value into "absent"
    kind = f.attrs["kind"]
    return kind.decode() if isinstance(kind, bytes) else str(kind)


def members(group: h5py.Group) -> dict[str, h5py.Group | h5py.Dataset]:
    """Children of a group by name.

    Unlike ``group.items()`` (which yields None for a child it cannot open),
    a damaged child raises.
    """
    return {name: group[name] for name in group}


def attributes(obj: h5py.HLObject) -> dict[str, Any]:
    """Attributes of a file, group or dataset by name, numpy scalars as Python scalars.

    Unlike ``obj.attrs.items()`` (which yields None for a value it cannot
    read), a damaged attribute raises.
    """
    return {name: plain(obj.attrs[name]) for name in obj.attrs}


def attribute(obj: h5py.HLObject, name: str, default: Any = None) -> Any:
    """One attribute (``default`` if absent); unlike ``attrs.get``, a damaged one raises."""
    return plain(obj.attrs[name]) if name in obj.attrs else default


def plain(value: Any) -> Any:
    """A stored attribute as a Python value: text as str, numpy scalars as Python scalars."""
    if isinstance(value, bytes):  # np.bytes_ too: text is stored as fixed-length UTF-8
        return value.decode("utf-8", errors="replace")
    return value.item() if isinstance(value, np.generic) else value


def set_attributes(obj: h5py.HLObject, values: dict[str, Any]) -> None:
    """Write attributes, text as fixed-length UTF-8.

    h5py stores a Python ``str`` as a variable-length string, whose bytes live
    in HDF5's global heap: the one structure without checksums, and reading a
    damaged one can loop forever.  Fixed-length text lives in the object
    header itself, which is checksummed.

    Parameters
    ----------
    obj : h5py File, Group or Dataset
        Where to write.
    values : dict
        Name -> str, bool, int, float or numpy scalar.

    Raises
    ------
    TypeError
        For any other value type (naming the attribute).
    """
    for name, value in values.items():
        if isinstance(value, str):
            obj.attrs[name] = np.bytes_(value.encode("utf-8"))
        elif isinstance(value, (bool, int, float, np.bool_, np.integer, np.floating)):
            obj.attrs[name] = value
        else:
            raise TypeError(f"attribute {name!r}: cannot store a {type(value).__name__} (str, "
                            "bool, int or float only)")


def encode_texts(texts: list[str], capacity: int) -> np.ndarray:
    """Texts as a fixed-length UTF-8 array (each cut to ``capacity`` bytes).

    Parameters
    ----------
    texts : list of str
        The texts.
    capacity : int
        Bytes per entry.

    Returns
    -------
    ndarray of dtype ``S<capacity>``, shape (len(texts),)
    """
    return np.array([t.encode("utf-8")[:capacity] for t in texts], dtype=f"S{capacity}")


def decode_texts(values: np.ndarray) -> list[str]:
    """The texts of an array written by :func:`encode_texts` (a cut character is dropped)."""
    return [bytes(v).decode("utf-8", errors="ignore") for v in np.asarray(values).ravel()]


def check_format(f: h5py.File, path: str | Path, kind: str | tuple[str, ...],
                 format_version: int | None = None) -> None:
    """Check a file's ``kind`` and ``format_version`` attributes.

    Parameters
    ----------
    f : h5py.File
        The open file.
    path : str or Path
        Its name (for the message).
    kind : str or tuple of str
        Expected kind(s).
    format_version : int, optional
        Expected format version (when ``kind`` is one string).

    Raises
    ------
    StorageError
        Naming the file, what it holds and what was expected.
    """
    kinds = (kind,) if isinstance(kind, str) else tuple(kind)
    try:
        found = file_kind(f)
    except _DECODING_ERRORS as exc:
        raise StorageError(f"{path} is damaged: {_first_line(exc)}") from None
    if found not in kinds:
        raise StorageError(f"{path} is not a physsim {' or '.join(kinds)} file "
                           f"(kind={found!r})")
    if format_version is not None:
        version = attribute(f, "format_version")
        if version is None or int(version) != format_version:
            raise StorageError(f"{path} is a {found} file in format version {version}; this "
                               f"physsim reads format version {format_version} (write it again "
                               "with this version)")


@contextlib.contextmanager
def reading(path: str | Path, kind: str | tuple[str, ...] | None,
            format_version: int | None = None) -> Iterator[h5py.File]:
    """Context manager around :func:`open_for_reading` that turns read errors into one line.

    A file whose header is intact but whose body is damaged fails only when
    its objects are read; any HDF5 error, missing group or attribute, or
    contents that cannot be decoded (an error raised inside the block while
    the file is read) becomes a :class:`StorageError` naming the file.

    Parameters
    ----------
    path, kind, format_version
        As for :func:`open_for_reading`.

    Yields
    ------
    h5py.File
    """
    f = open_for_reading(path, kind, format_version)
    try:
        with f:
            yield f
    except StorageError:
        raise
    except _DECODING_ERRORS as exc:
        raise StorageError(f"{path} cannot be read (damaged, incomplete, or written by other "
                           f"code): {type(exc).__name__}: {_first_line(exc)}") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip()
    return text.splitlines()[0] if text else type(exc).__name__
