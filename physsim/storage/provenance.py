"""Provenance of stored results: package versions, a fingerprint of the code, the git commit.

Every physsim file records what produced it (:func:`provenance_attributes`),
and resumed work (a sweep, a training run) checks that the code now running is
the code that started it (:func:`warn_if_code_changed`).
"""

from __future__ import annotations

import datetime as _dt
import functools
import hashlib
import json
import platform
import subprocess
import warnings
from pathlib import Path
from typing import Any

from .._version import CodeChangedWarning, __version__
from ..registry import hardware_plugin_packages

#: The folder holding the physsim package (a git checkout in development).
_PACKAGE_ROOT = Path(__file__).resolve().parents[2]
#: Libraries whose versions are recorded in every file (besides the hardware plugins).
_VERSIONED_LIBRARIES = ("numpy", "scipy", "numba", "h5py")


def package_versions() -> dict[str, str]:
    """Versions of Python, physsim, the numerical libraries and the hardware plugins.

    Returns
    -------
    dict of str to str
        ``"python"``, ``"physsim"``, one entry per library (``"missing"`` if it
        is not importable, ``"installed"`` if it has no ``__version__``) and one
        per hardware plugin package (its distribution's version, read without
        importing the plugin).
    """
    out = {"python": platform.python_version(), "physsim": __version__}
    for mod in _VERSIONED_LIBRARIES:
        try:
            m = __import__(mod)
            out[mod] = str(getattr(m, "__version__", "installed"))
        except ImportError:
            out[mod] = "missing"
    for plugin in hardware_plugin_packages():
        out[plugin.name] = plugin.version or "installed"
    return out


@functools.lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """SHA-256 (hex, first 16 digits) of the Python sources of physsim and its hardware plugins.

    The version number does not change with every commit; this does, so a
    stored result can tell whether the code that wrote it is the code now
    running (any edit counts, comments included).  The plugin packages are
    found from their entry points without importing them.  Computed once per
    process.

    Returns
    -------
    str
        16 hexadecimal digits; ``"unknown"`` if no source file is found.
    """
    folders = [_PACKAGE_ROOT / "physsim"]
    folders += [p.folder for p in hardware_plugin_packages() if p.folder is not None]
    return folders_fingerprint(folders)


def tree_fingerprint(root: Path, packages: tuple[str, ...]) -> str:
    """SHA-256 (hex, first 16 digits) over the relative paths and bytes of ``*.py`` files.

    Parameters
    ----------
    root : Path
        Folder holding the packages.
    packages : tuple of str
        Sub-folders of ``root`` whose ``*.py`` files (recursively) are hashed.

    Returns
    -------
    str
        16 hexadecimal digits; ``"unknown"`` if there is no such file.
    """
    return folders_fingerprint([Path(root) / pkg for pkg in packages])


def folders_fingerprint(folders: list[Path]) -> str:
    """SHA-256 (hex, first 16 digits) over the ``*.py`` files of package folders.

    Each file is named by its path relative to its package folder's parent
    (``"physsim/simulate.py"``), so the value does not depend on where the
    packages are installed; files are hashed in the order of these names.

    Parameters
    ----------
    folders : list of Path
        Package folders, searched recursively.

    Returns
    -------
    str
        16 hexadecimal digits; ``"unknown"`` if there is no such file.
    """
    digest = hashlib.sha256()
    files = sorted((path.relative_to(folder.parent), path)
                   for folder in map(Path, folders) for path in folder.rglob("*.py"))
    for name, path in files:
        digest.update(name.as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16] if files else "unknown"


def git_commit(root: str | Path | None = None, package: str = "physsim") -> str:
    """Short git commit of a checkout, and whether its ``package`` folder has edits.

    Parameters
    ----------
    root : str or Path, optional
        A folder inside a git checkout (default: the folder holding the
        physsim package now imported).
    package : str
        Folder, relative to the top of the checkout, whose uncommitted changes
        are reported.

    Returns
    -------
    str
        E.g. ``"0e2bce3a1b2c"`` or ``"0e2bce3a1b2c (with uncommitted changes in physsim/)"``;
        ``"unknown"`` outside a git checkout (or without git).
    """
    root = _PACKAGE_ROOT if root is None else Path(root)

    def git(*args: str) -> str:
        try:
            return subprocess.run(["git", *args], cwd=root, capture_output=True,
                                  text=True).stdout.strip()
        except OSError:
            return ""

    commit = git("rev-parse", "--short=12", "HEAD")
    if not commit:
        return "unknown"
    dirty = git("status", "--porcelain", "--", f":(top){package}")
    return commit + (f" (with uncommitted changes in {package}/)" if dirty else "")


def now_utc() -> str:
    """The current time, ISO 8601 in UTC, to the second."""
    return _dt.datetime.now(_dt.timezone.utc).isoformat(timespec="seconds")


def provenance_attributes() -> dict[str, Any]:
    """Root attributes that every physsim file carries.

    Returns
    -------
    dict
        ``physsim_version``, ``versions`` (JSON of :func:`package_versions`),
        ``code_fingerprint`` (:func:`source_fingerprint`) and ``created``.
    """
    return {"physsim_version": __version__, "versions": json.dumps(package_versions()),
            "code_fingerprint": source_fingerprint(), "created": now_utc()}


def warn_if_code_changed(path: str | Path, stored: str, consequence: str, *,
                         written: str = "was started", stacklevel: int = 3) -> bool:
    """Warn (:class:`physsim.CodeChangedWarning`) if ``stored`` is not the running code's.

    Not an error: an edit may not touch the numbers, and only the user knows.

    Parameters
    ----------
    path : str or Path
        The file being continued (named in the message).
    stored : str
        The fingerprint stored in it.
    consequence : str
        What continuing means for the results (ends the message).
    written : str
        How the file came about, e.g. ``"was last trained"`` (the message reads
        "<path> <written> by other code").
    stacklevel : int
        Passed to :func:`warnings.warn`.

    Returns
    -------
    bool
        True if the code changed (and a warning was issued).
    """
    now = source_fingerprint()
    if stored == now:
        return False
    warnings.warn(f"{path} {written} by other code (source fingerprint {stored}, now {now}): "
                  f"{consequence}", CodeChangedWarning, stacklevel=stacklevel)
    return True
