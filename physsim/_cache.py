"""Drop numba's on-disk caches of physsim when any of its sources has changed.

numba invalidates a cached kernel only when the file that defines it changes.
physsim's kernels call and inline functions of other files (the time loops
inline the drift/kick primitives of ``steps.py`` and compile in the per-step
hook of a hardware plugin, which inlines the plugin's random generator), so
after an edit of such a file, or an upgrade that rewrites it, numba would
silently load machine code built from the old source.  At import
(:func:`refresh_physsim_caches`), physsim hashes the kernel sources of its own
package and of the registered hardware plugins (their folders come from the
entry points, see :func:`physsim.registry.hardware_plugin_packages`, without
importing them);
when the hash differs from the one stored beside the caches, it deletes the
cache files (``*.nbi``, ``*.nbc``) so that they are rebuilt.  With
``NUMBA_CACHE_DIR`` set, the caches are elsewhere and nothing is hashed.
"""

from __future__ import annotations

import hashlib
import os
from pathlib import Path

#: File, in each package's ``__pycache__``, holding the hash the caches were built from.
STAMP_NAME = "physsim_sources.sha256"


def refresh_physsim_caches() -> bool:
    """:func:`refresh_numba_caches` of physsim and of the registered hardware plugins.

    Called when physsim is imported, before any kernel can be compiled or
    loaded.  With ``NUMBA_CACHE_DIR`` set it is False at once.  The plugins are
    found through :mod:`physsim.registry`, which imports no numba.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return False  # caches elsewhere: nothing to refresh
    # the plugins' hooks are compiled into physsim's time loops, so their folders count too;
    # they are found from the entry points without importing the plugins
    from .registry import hardware_plugin_packages

    plugins = [p.folder for p in hardware_plugin_packages() if p.folder is not None]
    return refresh_numba_caches([Path(__file__).parent, *plugins])


def sources_digest(roots: list[Path]) -> str:
    """SHA-256 of the kernel sources below ``roots``: the ``.py`` files that cache numba code.

    Only files that contain ``cache=True`` count (relative path and content), so
    editing, say, the plotting code does not throw the compiled kernels away.
    """
    h = hashlib.sha256()
    for root in roots:
        for path in sorted(root.rglob("*.py")):
            text = path.read_bytes()
            if b"cache=True" not in text:
                continue
            h.update(str(path.relative_to(root.parent)).encode())
            h.update(b"\0")
            h.update(text)
            h.update(b"\0")
    return h.hexdigest()


def refresh_numba_caches(roots: list[Path]) -> bool:
    """Delete the numba cache files below ``roots`` if the sources changed since they were built.

    Parameters
    ----------
    roots : list of Path
        Package folders (their ``__pycache__`` folders hold numba's caches
        unless ``NUMBA_CACHE_DIR`` moves them, in which case nothing is done).

    Returns
    -------
    bool
        True if stale caches were found and deleted.
    """
    if os.environ.get("NUMBA_CACHE_DIR"):
        return False
    roots = [Path(r) for r in roots if Path(r).is_dir()]
    try:
        digest = sources_digest(roots)
        stamps = [root / "__pycache__" / STAMP_NAME for root in roots]
        if all(s.is_file() and s.read_text().strip() == digest for s in stamps):
            return False
        deleted = False
        for root in roots:
            for cache_file in list(root.rglob("*.nbi")) + list(root.rglob("*.nbc")):
                cache_file.unlink(missing_ok=True)
                deleted = True
        for stamp in stamps:
            stamp.parent.mkdir(exist_ok=True)
            tmp = stamp.with_suffix(f".{os.getpid()}.tmp")
            tmp.write_text(digest + "\n")
            tmp.replace(stamp)  # atomic: concurrent imports (sweep workers) see one stamp
        return deleted
    except OSError:
        # a read-only install cannot hold numba caches either; nothing to refresh
        return False
