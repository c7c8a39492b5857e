"""Every HDF5 file physsim writes or reads, in one place.

=============================  ============================  ===================================
module                         files                         public names
=============================  ============================  ===================================
:mod:`.files`                  all: atomic writes, write     ``StorageError``, ``atomic_write``,
                               locks, SWMR, truncation and   ``WriteLock``, ``open_for_reading``,
                               ``kind``/``format_version``   ``reading``, ``check_not_truncated``,
                               checks, checksummed arrays,   ``attribute``, ``attributes``
                               text attributes
:mod:`.encoding`               any system, dataclass or      ``write_system``, ``read_system``,
                               nested value (no pickle)      ``write_value``, ``read_value``
:mod:`.provenance`             versions, code fingerprint,   ``package_versions``,
                               git commit                    ``source_fingerprint``, ``git_commit``
:mod:`.trajectory`             ``physsim simulate``          ``save_trajectory``,
                                                             ``load_trajectory``,
                                                             ``load_hardware_model``
:mod:`.demo_file`              ``physsim demo``              ``write_demo_run``, ``read_demo_run``
:mod:`.training_run`           ``physsim train``             ``write_run``, ``read_run``,
                                                             ``RunRecord``
:mod:`.sweep_file`             ``physsim sweep``             ``SweepWriter``, ``read_sweep``
:mod:`.paths`                  every command's outputs,      ``check_writable``,
                               checked before the work       ``os_error_message``, ``OutputError``
=============================  ============================  ===================================

Every file carries a ``kind`` and a ``format_version`` attribute, checked when
it is opened; every reading error (a missing, truncated, damaged file or one of
another kind) is a :class:`StorageError` whose one-line message names the file.
"""

from . import provenance
from .demo_file import DemoRecord, DemoTraining, read_demo_run, write_demo_run
from .encoding import EncodingError, read_system, read_value, write_system, write_value
from .files import (StorageError, WriteLock, atomic_write, attribute, attributes,
                    check_not_truncated, file_kind, open_for_reading, reading)
from .paths import OutputError, check_writable, os_error_message
from .provenance import git_commit, package_versions, source_fingerprint, tree_fingerprint
from .sweep_file import SweepRecord, SweepWriter, read_sweep
from .trajectory import load_hardware_model, load_trajectory, save_trajectory
from .training_run import RunRecord, read_run, write_run

__all__ = [
    "DemoRecord", "DemoTraining", "EncodingError", "OutputError", "RunRecord", "StorageError",
    "SweepRecord", "SweepWriter", "WriteLock", "atomic_write", "attribute", "attributes",
    "check_not_truncated", "check_writable", "file_kind",
    "git_commit", "load_hardware_model", "load_trajectory", "open_for_reading",
    "os_error_message", "package_versions", "provenance", "read_demo_run", "read_run",
    "read_sweep", "read_system", "read_value", "reading", "save_trajectory", "source_fingerprint",
    "tree_fingerprint", "write_demo_run", "write_run", "write_system", "write_value",
]
