"""One strict, typed config layer for every TOML file physsim reads.

- :mod:`physsim.config.loader`: reading TOML, the strict :class:`Table` base (pydantic v2 in
  strict mode, unknown keys forbidden) and the wording of errors (``[table] key: expected
  ..., got ...``);
- :mod:`physsim.config.device`: the device config of ``physsim simulate`` and ``physsim
  gradcheck`` (``[system]``, ``[simulation]``, ``[inputs]``, ``[initial_state]``, ``[loss]``,
  ``[rhel]``, ``[check]``, ``[output]``) and the builders of its parts.

The schemas of the other commands sit with the code they configure, built on the same loader
(their registries live there, and the imports point one way):
:mod:`physsim.hssm.config` (``physsim train``), :mod:`physsim.sweeps.config` (``physsim
sweep``) and :mod:`physsim.hl.config` (HL settings).
"""

from .device import (DEVICE_TABLES, SYSTEM_TYPES, DeviceConfig, build_initial_state,
                     build_inputs, build_loss, parse_device, parse_system)
from .loader import ConfigError, Table, check_keys, load_toml, parse_toml, validate

__all__ = ["ConfigError", "DEVICE_TABLES", "DeviceConfig", "SYSTEM_TYPES", "Table",
           "build_initial_state", "build_inputs", "build_loss", "check_keys", "load_toml",
           "parse_device", "parse_system", "parse_toml", "validate"]
