"""Registries by name: one lookup helper whose errors list the valid names.

Every table of named things in physsim (integrators, system types, losses, metrics, datasets,
hardware models and presets, HL cells) is looked up through :func:`lookup`, so a wrong name
always fails the same way: ``unknown <kind> 'x'; valid names are: a, b, c``.  A table that
other packages fill at run time (hardware models registered through entry points) is a
:class:`Registry`, a read-only mapping with ``register``.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
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
        length).  Registries filled by plugins pass their entry-point loader here, so nothing
        is imported until a name is actually needed.

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

    def _load(self) -> None:
        # cleared before calling, so a loader that reads the registry does not recurse
        loader, self._loader = self._loader, None
        if loader is not None:
            loader()

    def register(self, name: str, obj: T) -> T:
        """Add ``obj`` under ``name`` and return it (so it can be used as a decorator helper).

        Registering the same object twice under one name is a no-op (a plugin loaded twice);
        a *different* object under a taken name is an error, so two packages cannot silently
        shadow each other.

        Raises
        ------
        TypeError
            If ``name`` is not a non-empty string.
        ValueError
            If ``name`` is already registered to another object.
        """
        if not isinstance(name, str) or not name:
            raise TypeError(f"{self.kind} name must be a non-empty str, got {name!r}")
        present = self._entries.get(name)
        if present is not None and present is not obj:
            raise ValueError(f"{self.kind} {name!r} is already registered ({present!r}); "
                             f"refusing to replace it with {obj!r}")
        self._entries[name] = obj
        return obj

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


__all__ = ["Registry", "lookup"]
