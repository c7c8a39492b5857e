"""The strict TOML loader: read a file, check each table against a typed schema, word the errors.

Every configuration table of physsim (``physsim simulate``/``gradcheck``/``train``/``sweep``
and the HL settings) is a subclass of :class:`Table`: a frozen pydantic model in *strict* mode
that forbids unknown keys.  Strict means that a value of the wrong TOML type is an error, never
converted: ``complex = "false"`` is not a boolean, ``n_steps = 2000.7`` is not an integer.  The
one relaxation is that a float field takes a TOML integer (``dt = 1`` means ``1.0``), as TOML
writers expect.

:func:`validate` turns pydantic's errors into one :class:`ConfigError` whose lines name the
table and key, what was expected and what was given, e.g.::

    [system] complex: expected a boolean (true/false), got the string "false"
"""

from __future__ import annotations

import inspect
import re
import tomllib
from collections.abc import Callable, Iterable, Mapping, Sequence
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import (AfterValidator, BaseModel, ConfigDict, Field,
                      PydanticSchemaGenerationError, PydanticUserError, TypeAdapter,
                      ValidationError, create_model, model_validator)

from ..registry import lookup
from ..validation import check_choice

__all__ = ["ConfigError", "NonNegativeInt", "PositiveFloat", "PositiveInt", "Table",
           "check_keys", "check_tables", "check_value", "describe_value", "load_toml", "one_of",
           "parse_toml", "schema_from_signature", "validate", "validate_all"]

#: An integer > 0 (TOML integer only).
PositiveInt = Annotated[int, Field(gt=0)]
#: An integer >= 0 (TOML integer only).
NonNegativeInt = Annotated[int, Field(ge=0)]
#: A finite number > 0 (a TOML integer is taken as a float).
PositiveFloat = Annotated[float, Field(gt=0)]


def one_of(choices: Mapping[str, Any] | Sequence[str], kind: str) -> Any:
    """The type of a key whose value is a name: a string among ``choices``.

    Parameters
    ----------
    choices : Mapping or sequence of str
        A registry (checked by :func:`physsim.registry.lookup`) or the fixed names of an
        option (checked by :func:`physsim.validation.check_choice`).
    kind : str
        What the names are, for the message (``unknown <kind> 'x'; valid names are: ...``).
    """
    def check(name: str) -> str:
        if isinstance(choices, Mapping):
            lookup(choices, name, kind)
        else:
            check_choice(name, choices, kind)
        return name

    return Annotated[str, AfterValidator(check)]


_STRICT = ConfigDict(strict=True, extra="forbid", frozen=True, allow_inf_nan=False)


class ConfigError(ValueError):
    """A configuration that does not match its schema (one line per problem)."""


class Table(BaseModel):
    """Base of every config table: strict types, no unknown keys, immutable.

    Subclasses declare their keys as annotated fields with defaults; a field without a
    default is a required key.  An unknown key is an error that lists the allowed keys.
    """

    model_config = _STRICT

    @model_validator(mode="before")
    @classmethod
    def _known_keys(cls, data: Any) -> Any:
        if isinstance(data, Mapping):
            unknown = sorted(set(data) - set(cls.model_fields))
            if unknown:
                raise ValueError(f"unknown key(s) {unknown}; allowed keys are: "
                                 f"{', '.join(sorted(cls.model_fields))}")
        return data

    def given(self) -> dict[str, Any]:
        """The keys the file set (not the defaults), as plain Python values."""
        return self.model_dump(exclude_unset=True)


T = TypeVar("T", bound=Table)


def load_toml(path: str | Path) -> dict[str, Any]:
    """Read a TOML file.

    Raises
    ------
    FileNotFoundError
        If the file does not exist.
    ConfigError
        If it is not valid TOML (the file name is in the message).
    """
    path = Path(path)
    if not path.exists():
        raise FileNotFoundError(f"config file {path} does not exist")
    return parse_toml(path.read_text(), str(path))


def parse_toml(text: str, source: str = "<string>") -> dict[str, Any]:
    """Parse TOML text; ``ConfigError`` naming ``source`` if it does not parse."""
    try:
        return tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{source}: invalid TOML: {exc}") from None


def check_keys(table: Mapping[str, Any], allowed: Iterable[str], where: str,
               required: Iterable[str] = ()) -> None:
    """``ConfigError`` for keys (or sub-tables) of ``table`` not in ``allowed`` or missing.

    Used where the keys are not fixed by a :class:`Table` (the tables of a file, options
    of a registered function).
    """
    if not isinstance(table, Mapping):
        raise ConfigError(f"[{where}]: expected a table, got {describe_value(table)}")
    allowed = set(allowed)
    unknown = sorted(set(table) - allowed)
    if unknown:
        raise ConfigError(f"[{where}]: unknown key(s) {unknown}; allowed keys are: "
                          f"{', '.join(sorted(allowed))}")
    missing = sorted(set(required) - set(table))
    if missing:
        raise ConfigError(f"[{where}]: missing key(s) {missing}")


def check_tables(tables: Mapping[str, Any], allowed: Iterable[str],
                 required: Iterable[str] = (), where: str = "") -> None:
    """``ConfigError`` for tables of a file (or of a parent table ``where``) that are not in
    ``allowed``, or ``required`` ones that are missing."""
    inside = f"[{where}]: " if where else ""
    if not isinstance(tables, Mapping):
        raise ConfigError(f"{inside}expected tables, got {describe_value(tables)}")
    allowed = list(allowed)
    unknown = sorted(set(tables) - set(allowed))
    if unknown:
        raise ConfigError(f"{inside}unknown table(s) {unknown}; allowed tables are: "
                          f"{', '.join(allowed)}")
    prefix = f"{where}." if where else ""
    for name in required:
        if name not in tables:
            raise ConfigError(f"{inside}missing table [{prefix}{name}]")
    for name, table in tables.items():
        if not isinstance(table, Mapping):
            raise ConfigError(f"[{prefix}{name}]: expected a table, got {describe_value(table)}")


def validate_all(checks: Mapping[str, Callable[[], Any]]) -> dict[str, Any]:
    """Run several table checks and report all their problems at once.

    Parameters
    ----------
    checks : dict of str to callable
        Name -> a function without arguments that returns the checked table or raises
        :class:`ConfigError`.

    Returns
    -------
    dict
        Name -> checked table.

    Raises
    ------
    ConfigError
        With the lines of every failed check, in order.
    """
    out, problems = {}, []
    for name, check in checks.items():
        try:
            out[name] = check()
        except ConfigError as exc:
            problems.append(str(exc))
    if problems:
        raise ConfigError("\n".join(problems))
    return out


def validate(schema: type[T], table: Any, where: str, *,
             context: Mapping[str, Any] | None = None) -> T:
    """Check ``table`` (a TOML table) against ``schema`` and return the typed table.

    Parameters
    ----------
    schema : type of Table
        The table's schema.
    table : dict
        The parsed TOML table.
    where : str
        The table's name in the file, for messages (``"system"``, ``"hssm.model"``).
    context : dict, optional
        Passed to the schema's validators (``info.context``), e.g. ``base_dir``, the folder
        that relative file names in the table are relative to.

    Raises
    ------
    ConfigError
        One line per problem: ``[where] key: expected ..., got ...``.
    """
    try:
        return schema.model_validate(table, context=context)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, where)) from None


def check_value(annotation: Any, value: Any, where: str, key: str) -> None:
    """Check one value against a type annotation, strictly (as :class:`Table` fields are).

    Raises
    ------
    ConfigError
        ``[where] key: expected ..., got ...``.
    """
    try:
        TypeAdapter(annotation, config=ConfigDict(strict=True, allow_inf_nan=False,
                                                  arbitrary_types_allowed=True)
                    ).validate_python(value)
    except ValidationError as exc:
        raise ConfigError(format_errors(exc, where, prefix=(key,))) from None


def schema_from_signature(func: Callable[..., Any], name: str, *,
                          exclude: Iterable[str] = ()) -> type[Table]:
    """A :class:`Table` whose keys are the keyword parameters of ``func``, typed by its
    annotations (unannotated or unsupported annotations accept any value).

    Used for tables that hold the options of a registered function (dataset loaders).
    """
    exclude = set(exclude)
    fields: dict[str, Any] = {}
    for pname, p in inspect.signature(func, eval_str=True).parameters.items():
        if pname in exclude or p.kind not in (p.KEYWORD_ONLY, p.POSITIONAL_OR_KEYWORD):
            continue
        annotation = Any if p.annotation is p.empty else p.annotation
        try:
            TypeAdapter(annotation)
        except (PydanticSchemaGenerationError, PydanticUserError):
            annotation = Any
        fields[pname] = (annotation, ... if p.default is p.empty else p.default)
    return create_model(name, __base__=Table, **fields)


# ---------------------------------------------------------------- error wording
_EXPECTED = {
    "int_type": "an integer", "int_parsing": "an integer",
    "float_type": "a number", "float_parsing": "a number",
    "bool_type": "a boolean (true/false)", "bool_parsing": "a boolean (true/false)",
    "string_type": "a string",
    "list_type": "an array", "tuple_type": "an array", "set_type": "an array",
    "dict_type": "a table", "model_type": "a table", "model_attributes_type": "a table",
    "dataclass_type": "a table", "finite_number": "a finite number",
    "none_required": "nothing (leave the key out)",
}
_BOUNDS = {"greater_than": ">", "greater_than_equal": ">=", "less_than": "<",
           "less_than_equal": "<="}


def describe_value(value: Any) -> str:
    """A value in words for error messages: ``the string "false"``, ``the integer -5``."""
    if isinstance(value, bool):
        return f"the boolean {'true' if value else 'false'}"
    if isinstance(value, str):
        return f'the string "{value}"'
    if isinstance(value, int):
        return f"the integer {value}"
    if isinstance(value, float):
        return f"the float {value!r}"
    if isinstance(value, Mapping):
        return f"a table {dict(value)!r}"
    if isinstance(value, (list, tuple)):
        return f"the array {list(value)!r}"
    return f"{type(value).__name__} {value!r}"


def _key(loc: tuple) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _expected(err: dict) -> str | None:
    """What a type or bound error expected, in words (None for other errors)."""
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "literal_error":
        names = [n.strip("'") for n in re.split(r",\s*|\s+or\s+", str(ctx["expected"])) if n]
        return f"one of: {', '.join(names)}"
    if kind in _BOUNDS:
        return f"a value {_BOUNDS[kind]} {next(iter(ctx.values()))}"
    return _EXPECTED.get(kind)


def _problem(err: dict) -> str:
    kind, ctx = err["type"], err.get("ctx") or {}
    if kind == "missing":
        return "missing (required key)"
    if kind in ("value_error", "assertion_error"):
        return str(ctx.get("error", err["msg"]))
    if kind == "extra_forbidden":
        return "unknown key"
    given = describe_value(err["input"])
    if kind == "literal_error":
        names = [n.strip("'") for n in re.split(r",\s*|\s+or\s+", str(ctx["expected"])) if n]
        return f"got {given}; valid names are: {', '.join(names)}"
    expected = _expected(err)
    if expected is None:
        return f"{err['msg']}, got {given}"
    return f"expected {expected}, got {given}"


def _union_member(part: Any) -> bool:
    """True for the parts pydantic adds to a location inside a union (``int``,
    ``literal['random']``, ``list[float]``), which are no key of the file."""
    return isinstance(part, str) and (not part.isidentifier()
                                      or part in ("int", "float", "str", "bool", "none"))


def format_errors(exc: ValidationError, where: str, prefix: tuple = ()) -> str:
    """One line per error of ``exc``: ``[where] key: problem`` (``[where]: problem`` for
    problems of the whole table).  The errors of the members of a union become one line,
    ``expected A or B, got ...``."""
    lines: dict[str, None] = {}
    unions: dict[tuple, list[dict]] = {}
    for err in exc.errors(include_url=False):
        loc = prefix + tuple(err["loc"])
        if any(_union_member(p) for p in err["loc"]):
            key = prefix + tuple(p for p in err["loc"] if not _union_member(p))
            unions.setdefault(key, []).append(err)
            continue
        problem = _problem(err)
        if problem.startswith("["):  # a nested table's error, already located
            lines[problem] = None
        else:
            lines[f"[{where}] {_key(loc)}: {problem}" if loc else f"[{where}]: {problem}"] = None
    for loc, errs in unions.items():
        expected = [e for e in map(_expected, errs) if e]
        problem = (f"expected {' or '.join(dict.fromkeys(expected))}, got "
                   f"{describe_value(errs[0]['input'])}" if len(expected) == len(errs)
                   else "; ".join(dict.fromkeys(map(_problem, errs))))
        lines[f"[{where}] {_key(loc)}: {problem}" if loc else f"[{where}]: {problem}"] = None
    return "\n".join(lines)
