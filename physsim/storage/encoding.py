"""Values of any system (and of any dataclass) stored in HDF5 as a typed tree, without pickle.

A value is stored under a name in a parent group:

=================================  ==============================================================
value                              stored as
=================================  ==============================================================
None, bool, int, float, str, and   attribute ``json:<name>`` on the parent: JSON in which a tuple
lists / tuples / dicts of these    is tagged ``{"__tuple__": [...]}`` so that it comes back a tuple
numpy array (numeric or bool)      dataset ``<name>`` (exact dtype and shape), ``type="ndarray"``
numpy scalar                       0-d dataset ``<name>``, ``type="scalar"``
a :class:`HamiltonianSystem`       group ``<name>``, ``type="system"``, ``class="module:QualName"``,
                                   one child per :meth:`~HamiltonianSystem.constructor_fields`
a dataclass instance (e.g.         group ``<name>``, ``type="dataclass"``, ``class=...``, one child
``CircuitUnits``, a hardware       per field taken by the constructor
model)
a list / tuple / dict holding      group ``<name>``, ``type="list"``, ``"tuple"`` or ``"dict"``,
arrays or objects                  children named ``0, 1, ...`` (lists, tuples) or by key (dicts)
=================================  ==============================================================

Reading imports the class named in ``class`` and calls it with the stored
fields, so a user-defined system or model is restored as long as its module is
importable under the same name (a class defined inside a function, or in a
script run as ``__main__``, is refused when written).  Loading a file therefore
imports the modules it names: open files from trusted sources only.
"""

from __future__ import annotations

import dataclasses
import importlib
import json
from collections.abc import Mapping
from typing import Any

import h5py
import numpy as np

from ..systems.base import HamiltonianSystem
from .files import StorageError, attribute, create_array, members, set_attributes

_JSON_PREFIX = "json:"
_TUPLE_TAG = "__tuple__"


class EncodingError(TypeError):
    """A value cannot be stored: the message names the field and its type."""


# ------------------------------------------------------------------------ writing
def write_value(group: h5py.Group, name: str, value: Any, *, where: str = "") -> None:
    """Store ``value`` under ``name`` in ``group`` (see the module docstring for the layout).

    Parameters
    ----------
    group : h5py.Group
        Parent group.
    name : str
        Name of the value in the parent.
    value : Any
        The value.
    where : str, optional
        Dotted path of the parent, used in error messages.

    Raises
    ------
    EncodingError
        If the value (or something inside it) has a type that cannot be stored.
    """
    path = f"{where}.{name}" if where else name
    if _is_json_leaf_tree(value):
        set_attributes(group, {_JSON_PREFIX + name: json.dumps(_tag_tuples(value))})
    elif isinstance(value, np.ndarray):
        if value.dtype.kind not in "biufc":
            raise EncodingError(f"cannot store {path}: numpy arrays of dtype {value.dtype} are "
                                "not supported (numeric or bool only)")
        set_attributes(create_array(group, name, value), {"type": "ndarray"})
    elif isinstance(value, np.generic):
        if value.dtype.kind not in "biufc":
            raise EncodingError(f"cannot store {path}: numpy scalar of dtype {value.dtype}")
        set_attributes(group.create_dataset(name, data=value), {"type": "scalar"})
    elif isinstance(value, HamiltonianSystem):
        write_system(group.create_group(name), value, where=path)
    elif dataclasses.is_dataclass(value) and not isinstance(value, type):
        g = group.create_group(name)
        set_attributes(g, {"type": "dataclass", "class": class_path(type(value), path)})
        for f in dataclasses.fields(value):
            if f.init:
                write_value(g, f.name, getattr(value, f.name), where=path)
    elif isinstance(value, (list, tuple)):
        g = group.create_group(name)
        set_attributes(g, {"type": "tuple" if isinstance(value, tuple) else "list"})
        for i, item in enumerate(value):
            write_value(g, str(i), item, where=path)
    elif isinstance(value, Mapping):
        g = group.create_group(name)
        set_attributes(g, {"type": "dict"})
        for key, item in value.items():
            if not isinstance(key, str) or not key or "/" in key or key == ".":
                raise EncodingError(f"cannot store {path}: dict keys must be non-empty strings "
                                    f"without '/', got {key!r}")
            write_value(g, key, item, where=path)
    else:
        raise EncodingError(
            f"cannot store {path}: values of type {type(value).__module__}."
            f"{type(value).__qualname__} are not supported (supported: None, bool, int, "
            "float, str, numpy arrays and scalars, lists, tuples, dicts, dataclasses and "
            "HamiltonianSystem subclasses)")


def write_system(group: h5py.Group, system: HamiltonianSystem, *, where: str = "system"
                 ) -> None:
    """Store a system's class and constructor fields in ``group``.

    Parameters
    ----------
    group : h5py.Group
        An empty group.
    system : HamiltonianSystem
        Any system, built-in or user-defined (its class must be importable).
    where : str, optional
        Name of the group in error messages.
    """
    set_attributes(group, {"type": "system", "class": class_path(type(system), where),
                           "time_unit": str(system.time_unit)})
    for name, value in system.constructor_fields().items():
        write_value(group, name, value, where=where)


def class_path(cls: type, where: str) -> str:
    """``"module:QualName"`` of a class that can be imported again.

    Raises
    ------
    EncodingError
        For a class defined inside a function or in ``__main__``.
    """
    if "<locals>" in cls.__qualname__ or cls.__module__ == "__main__":
        raise EncodingError(
            f"cannot store {where}: its class {cls.__module__}.{cls.__qualname__} could not be "
            "imported again when the file is read; define it at the top level of an "
            "importable module")
    return f"{cls.__module__}:{cls.__qualname__}"


def _is_json_leaf_tree(value: Any) -> bool:
    if value is None or isinstance(value, (bool, int, float, str)):
        return not isinstance(value, np.generic)
    if isinstance(value, (list, tuple)):
        return all(_is_json_leaf_tree(v) for v in value)
    if isinstance(value, dict):
        return all(isinstance(k, str) and k != _TUPLE_TAG for k in value) and \
            all(_is_json_leaf_tree(v) for v in value.values())
    return False


def _tag_tuples(value: Any) -> Any:
    if isinstance(value, tuple):
        return {_TUPLE_TAG: [_tag_tuples(v) for v in value]}
    if isinstance(value, list):
        return [_tag_tuples(v) for v in value]
    if isinstance(value, dict):
        return {k: _tag_tuples(v) for k, v in value.items()}
    return value


def _untag_tuples(value: Any) -> Any:
    if isinstance(value, dict):
        if set(value) == {_TUPLE_TAG}:
            return tuple(_untag_tuples(v) for v in value[_TUPLE_TAG])
        return {k: _untag_tuples(v) for k, v in value.items()}
    if isinstance(value, list):
        return [_untag_tuples(v) for v in value]
    return value


# ------------------------------------------------------------------------ reading
def read_children(group: h5py.Group) -> dict[str, Any]:
    """Every value stored in ``group`` by :func:`write_value`, by name."""
    out: dict[str, Any] = {}
    for key in group.attrs:
        if key.startswith(_JSON_PREFIX):
            out[key[len(_JSON_PREFIX):]] = _untag_tuples(json.loads(attribute(group, key)))
    for key, obj in members(group).items():
        out[key] = read_object(obj)
    return out


def read_object(obj: h5py.Group | h5py.Dataset) -> Any:
    """Rebuild the value stored in one dataset or group by :func:`write_value`."""
    kind = attribute(obj, "type")
    if isinstance(obj, h5py.Dataset):
        if kind == "scalar":
            return obj[()]
        return np.asarray(obj[()])
    children = read_children(obj)
    if kind in ("system", "dataclass"):
        return import_class(attribute(obj, "class"), obj.name)(**children)
    if kind in ("list", "tuple"):
        items = [children[str(i)] for i in range(len(children))]
        return tuple(items) if kind == "tuple" else items
    if kind == "dict":
        return children
    raise StorageError(f"{obj.file.filename}: object {obj.name} has an unknown stored type "
                       f"{kind!r}")


def read_system(group: h5py.Group) -> HamiltonianSystem:
    """Rebuild a system stored by :func:`write_system`.

    Raises
    ------
    StorageError
        If the group holds no system or its class cannot be imported.
    """
    kind = attribute(group, "type")
    if kind != "system":
        raise StorageError(f"{group.file.filename}: {group.name} does not hold a system "
                           f"(type={kind!r})")
    return read_object(group)


def import_class(path: str, where: str) -> type:
    """The class named ``"module:QualName"``.

    Raises
    ------
    StorageError
        If the module cannot be imported or has no such class.
    """
    module, _, qualname = path.partition(":")
    try:
        obj: Any = importlib.import_module(module)
        for part in qualname.split("."):
            obj = getattr(obj, part)
    except (ImportError, AttributeError) as exc:
        raise StorageError(f"{where} was written by class {qualname} of module {module}, which "
                           f"cannot be imported here ({exc}); make that module importable") \
            from None
    return obj


def read_value(group: h5py.Group, name: str) -> Any:
    """The value stored under ``name`` in ``group`` by :func:`write_value`.

    Raises
    ------
    KeyError
        If nothing is stored under that name.
    """
    key = _JSON_PREFIX + name
    if key in group.attrs:
        return _untag_tuples(json.loads(attribute(group, key)))
    if name in group:
        return read_object(group[name])
    raise KeyError(f"{group.file.filename}: nothing stored under {group.name}/{name}")
