"""The error every netlist problem raises: file, line, element and why."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class Location:
    """Where a statement comes from.

    Attributes
    ----------
    filename : str
        File name (``"<string>"`` for text given directly).
    line : int
        1-based line number of the statement's first physical line.
    context : str
        For an element flattened out of a subcircuit: the instance path,
        e.g. ``"in subcircuit 'cell' instantiated by x1 at line 12"``.
    """

    filename: str
    line: int
    context: str = ""

    def __str__(self) -> str:
        text = f"{self.filename}:{self.line}"
        return f"{text} ({self.context})" if self.context else text


class NetlistError(ValueError):
    """A netlist that physsim cannot read faithfully.

    Parameters
    ----------
    location : Location
        Where the problem is.
    element : str
        The element or command at fault (e.g. ``"R1"`` or ``".ic"``).
    reason : str
        Why, and what to do instead.
    """

    def __init__(self, location: Location, element: str, reason: str) -> None:
        self.location = location
        self.element = element
        self.reason = reason
        super().__init__(f"{location}: {element}: {reason}")
