"""Package version (single source for setup.cfg and run files).

The provenance of stored results (package versions, a fingerprint of the
code, the git commit) is in :mod:`physsim.storage.provenance`.
"""

from __future__ import annotations

__version__ = "0.1.0"


class CodeChangedWarning(UserWarning):
    """A stored run or sweep is continued by other code than the code that wrote it."""
