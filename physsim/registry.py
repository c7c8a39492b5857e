"""Registries by name: one lookup helper whose errors list the valid names.

Every table of named things in physsim (integrators, system types, losses, metrics, datasets,
hardware models and presets, HL cells) is looked up through :func:`lookup`, so a wrong name
always fails the same way: ``unknown <kind> 'x'; valid names are: a, b, c``.  A table that
other packages fill at run time (hardware models registered through entry points) is a
:class:`Registry`, a read-only mapping with ``register``; :func:`plugin_packages` finds
the packages that declare entry points in a plugin group without importing them.
"""

from __future__ import annotations

import importlib.metadata
import importlib.util
from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Generic, TypeVar

T = TypeVar("T")


def lookup(mapping: Mapping[str, T], name: str, kind: str) -> T:
    """Return ``mapping[name]`` or raise ``ValueError`` listing the valid names.

    Parameters
    ----------
    mapping : Mapping[str, T]
        The table to look in (a dict or a :class:`Registry`).
    name : str
        The name asked for.
    kind : str
        What the names are, for the message (e.g. ``"integrator"``).

    Returns
    -------
    T
        The entry registered under ``name``.

    Raises
    ------
    ValueError
        ``unknown <kind> 'name'; valid names are: a, b, c`` if ``name`` is not in ``mapping``
        (or is not a string).
    """
    try:
        return mapping[name]
    except (KeyError, TypeError):
        valid = ", ".join(sorted(mapping)) or "(none registered)"
        raise ValueError(f"unknown {kind} {name!r}; valid names are: {valid}") from None


def _equal(a: object, b: object) -> bool:
    """``a == b`` as a bool, False when the comparison is not a plain truth value."""
    try:
        return type(a) is type(b) and bool(a == b)
    except (TypeError, ValueError):
        return False


class Registry(Mapping[str, T], Generic[T]):
    """A table of named objects of one kind that packages fill by calling :meth:`register`.

    It is a read-only :class:`~collections.abc.Mapping` (``name in reg``, ``reg[name]``,
    iteration in registration order), so :func:`lookup` works on it as on a dict.

    Parameters
    ----------
    kind : str
        What the entries are, used in error messages (e.g. ``"hardware preset"``).
    loader : callable, optional
        Called once, without arguments, before the first read (lookup, membership, iteration,
        length), and again on the next read if it raised.  Registries filled by plugins pass
        their entry-point loader here, so nothing is imported until a name is needed.

    Examples
    --------
    >>> colours = Registry("colour")
    >>> colours.register("red", 0xFF0000)
    16711680
    >>> colours.lookup("blue")
    Traceback (most recent call last):
    ...
    ValueError: unknown colour 'blue'; valid names are: red
    """

    def __init__(self, kind: str, *, loader: Callable[[], None] | None = None) -> None:
        self.kind = kind
        self._entries: dict[str, T] = {}
        self._loader = loader
        self._loading = False

    def _load(self) -> None:
        if self._loader is None or self._loading:  # a loader that reads us must not recurse
            return
        self._loading = True
        try:
            self._loader()
        finally:
            self._loading = False
        self._loader = None  # only after success: a failed plugin fails again, loudly

    def register(self, name: str, obj: T) -> T:
        """Add ``obj`` under ``name`` and return the entry registered under it.

        Registering the same (or an equal) object twice under one name is a no-op (a plugin
        registered twice); a *different* object under a taken name is an error, so two
        packages cannot silently shadow each other.

        Raises
        ------
        TypeError
            If ``name`` is not a non-empty string.
        ValueError
            If ``name`` is already registered to another object.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} name must be a non-empty str, got {name!r}")
        present = self._entries.get(name, obj)
        if present is not obj and not _equal(present, obj):
            raise ValueError(f"{self.kind} {name!r} is already registered ({present!r}); "
                             f"refusing to replace it with {obj!r}")
        self._entries.setdefault(name, obj)
        return self._entries[name]

    def unregister(self, name: str) -> T:
        """Remove and return the entry ``name`` (raises ``ValueError`` listing valid names)."""
        obj = self.lookup(name)
        del self._entries[name]
        return obj

    def lookup(self, name: str) -> T:
        """Return the entry ``name``; ``ValueError`` listing the valid names if there is none."""
        return lookup(self, name, self.kind)

    def names(self) -> tuple[str, ...]:
        """Registered names, sorted."""
        return tuple(sorted(self))

    def __getitem__(self, name: str) -> T:
        self._load()
        return self._entries[name]

    def __iter__(self) -> Iterator[str]:
        self._load()
        return iter(list(self._entries))

    def __len__(self) -> int:
        self._load()
        return len(self._entries)

    def __repr__(self) -> str:
        return f"Registry({self.kind!r}, names={list(self._entries)!r})"


@dataclass(frozen=True)
class PluginPackage:
    """A package that declares entry points in a plugin group, located without importing it.

    Attributes
    ----------
    name : str
        Top-level import name (e.g. ``"hardware_models"``).
    folder : Path or None
        Its source folder; None for a single-module plugin (not a package) or one that
        cannot be found.
    distribution : str or None
        Name of the installed distribution that declares the entry point.
    version : str or None
        That distribution's version.
    """

    name: str
    folder: Path | None
    distribution: str | None
    version: str | None


def plugin_entry_points(group: str) -> tuple[importlib.metadata.EntryPoint, ...]:
    """The entry points of ``group`` declared by installed distributions, sorted by name."""
    return tuple(sorted(importlib.metadata.entry_points(group=group), key=lambda ep: ep.name))


def plugin_packages(group: str) -> tuple[PluginPackage, ...]:
    """The packages behind the entry points of ``group``, found without importing them.

    Used for what must know the plugins before any is loaded: the numba-cache refresh at
    import and the code fingerprint and version list of run files.  The folder comes from
    :func:`importlib.util.find_spec` of the top-level name, which reads the import system's
    finders and does not execute the package.

    Parameters
    ----------
    group : str
        Entry-point group (e.g. ``"physsim.hardware"``).

    Returns
    -------
    tuple of PluginPackage
        One per distinct top-level package, sorted by name.
    """
    found: dict[str, PluginPackage] = {}
    for ep in plugin_entry_points(group):
        top = ep.module.partition(".")[0]
        if top in found:
            continue
        try:
            spec = importlib.util.find_spec(top)
        except (ImportError, ValueError):
            spec = None
        locations = list(spec.submodule_search_locations or []) if spec is not None else []
        dist = ep.dist
        found[top] = PluginPackage(name=top, folder=Path(locations[0]) if locations else None,
                                   distribution=dist.name if dist is not None else None,
                                   version=dist.version if dist is not None else None)
    return tuple(found[name] for name in sorted(found))


__all__ = ["PluginPackage", "Registry", "lookup", "plugin_entry_points", "plugin_packages"]


#: Entry-point group through which packages register hardware models and presets
#: (:mod:`physsim.hardware` loads it on the first lookup by name).  It lives here, with no
#: numba import, so the numba-cache refresh at ``import physsim`` can find the plugin folders
#: without importing the hardware plug.
HARDWARE_PLUGIN_GROUP = "physsim.hardware"


def hardware_plugin_packages() -> tuple[PluginPackage, ...]:
    """The packages that declare hardware plugins, found without importing them.

    For what must cover plugin code before any plugin is loaded: the numba-cache refresh at
    import, the code fingerprint and the version list of run files.

    Returns
    -------
    tuple of PluginPackage
        One per distinct plugin package of :data:`HARDWARE_PLUGIN_GROUP`.
    """
    return plugin_packages(HARDWARE_PLUGIN_GROUP)
