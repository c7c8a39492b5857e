"""Package version (single source for setup.cfg and run files) and a fingerprint of the code."""

from __future__ import annotations

import functools
import hashlib
from pathlib import Path

__version__ = "0.1.0"


class CodeChangedWarning(UserWarning):
    """A stored run or sweep is continued by other code than the code that wrote it."""


#: Packages whose source determines results (the simulator and its hardware models).
_RESULT_PACKAGES = ("physsim", "hardware_models")


@functools.lru_cache(maxsize=1)
def source_fingerprint() -> str:
    """SHA-256 (hex, first 16 digits) of the Python sources of physsim and hardware_models.

    The version number does not change with every commit; this does, so a
    stored result can tell whether the code that wrote it is the code now
    running (any edit counts, comments included).  Computed once per process.

    Returns
    -------
    str
        16 hexadecimal digits; ``"unknown"`` if no source file is found.
    """
    return tree_fingerprint(Path(__file__).resolve().parents[1], _RESULT_PACKAGES)


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
    digest = hashlib.sha256()
    files = sorted(p for pkg in packages for p in (Path(root) / pkg).rglob("*.py"))
    for path in files:
        digest.update(path.relative_to(root).as_posix().encode())
        digest.update(b"\0")
        digest.update(path.read_bytes())
        digest.update(b"\0")
    return digest.hexdigest()[:16] if files else "unknown"
