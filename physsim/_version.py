"""Package version (single source for setup.cfg and run files)."""

__version__ = "0.1.0"
