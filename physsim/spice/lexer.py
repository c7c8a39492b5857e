"""From netlist text to logical lines of tokens.

SPICE's lexical rules as implemented here:

- the first line is the title (it is never an element, as in SPICE);
- a line starting with ``*`` is a comment; ``;`` and ``$`` start an inline
  comment (``$`` only at the start of a word, so names may contain it);
- a line starting with ``+`` continues the previous logical line;
- everything is case-insensitive (text is lower-cased; the title keeps its case);
- ``{...}`` and ``'...'`` group an expression into one token; ``(``, ``)``,
  ``=`` and ``,`` are tokens of their own; anything else separated by
  whitespace is a word.
"""

from __future__ import annotations

from dataclasses import dataclass

from .errors import Location, NetlistError


@dataclass(frozen=True)
class Token:
    """One token of a logical line.

    Attributes
    ----------
    kind : str
        ``"word"``, ``"expr"`` (a braced or quoted expression, delimiters
        removed), or the punctuation itself: ``"("``, ``")"``, ``"="``, ``","``.
    text : str
        Lower-cased text.
    """

    kind: str
    text: str


@dataclass(frozen=True)
class LogicalLine:
    """One statement: its tokens, its raw (lower-cased, comment-free) text and where it starts.

    Attributes
    ----------
    tokens : tuple of Token
    text : str
    location : Location
    """

    tokens: tuple[Token, ...]
    text: str
    location: Location

    @property
    def head(self) -> str:
        """The first word: an element name or a dot-command."""
        return self.tokens[0].text


def _strip_comment(line: str) -> str:
    cut = len(line)
    semi = line.find(";")
    if semi >= 0:
        cut = semi
    for i, ch in enumerate(line[:cut]):
        if ch == "$" and (i == 0 or line[i - 1].isspace()):
            cut = i
            break
    return line[:cut]


def tokenize(text: str, location: Location) -> tuple[Token, ...]:
    """Split one logical line (lower-cased) into tokens.

    Parameters
    ----------
    text : str
        The logical line, comments removed.
    location : Location
        For error messages.

    Returns
    -------
    tuple of Token
    """
    out: list[Token] = []
    pos = 0
    while pos < len(text):
        ch = text[pos]
        if ch.isspace():
            pos += 1
        elif ch in "{'":
            close = "}" if ch == "{" else "'"
            end = text.find(close, pos + 1)
            if end < 0:
                raise NetlistError(location, text.split()[0] if text.split() else "?",
                                   f"unclosed {ch!r}: an expression starting at column "
                                   f"{pos + 1} has no closing {close!r}")
            out.append(Token("expr", text[pos + 1:end].strip()))
            pos = end + 1
        elif ch in "()=,":
            out.append(Token(ch, ch))
            pos += 1
        else:
            end = pos
            while end < len(text) and not text[end].isspace() and text[end] not in "(){}'=,":
                end += 1
            out.append(Token("word", text[pos:end]))
            pos = end
    return tuple(out)


def logical_lines(text: str, filename: str = "<string>") -> tuple[str, list[LogicalLine]]:
    """The title and the logical lines of a netlist.

    Parameters
    ----------
    text : str
        Netlist text.
    filename : str
        For error messages.

    Returns
    -------
    title : str
        The first line (SPICE's title line), stripped.
    lines : list of LogicalLine
        Statements in file order, comments removed and continuations joined.
    """
    physical = text.splitlines()
    title = physical[0].strip() if physical else ""
    pending: list[tuple[int, str]] = []  # (line number, text) of the open logical line
    lines: list[LogicalLine] = []

    def close() -> None:
        if pending:
            number = pending[0][0]
            joined = " ".join(part for _, part in pending).strip().lower()
            loc = Location(filename, number)
            if joined:
                lines.append(LogicalLine(tokenize(joined, loc), joined, loc))
            pending.clear()

    for number, raw in enumerate(physical[1:], start=2):
        body = raw.strip()
        if not body or body.startswith("*"):
            continue
        body = _strip_comment(body).strip()
        if body.startswith("+"):
            if not pending:
                raise NetlistError(Location(filename, number), "+",
                                   "a continuation line with nothing to continue")
            pending.append((number, body[1:]))
            continue
        close()
        if body:
            pending.append((number, body))
    close()
    return title, lines
