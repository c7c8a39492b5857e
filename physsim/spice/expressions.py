"""Numbers with SPICE engineering suffixes and a small, safe arithmetic expression evaluator.

Expressions are parsed by a recursive-descent parser over a fixed grammar;
nothing is ever handed to Python's ``eval``.  Grammar (case-insensitive)::

    expr   := term (("+" | "-") term)*
    term   := unary (("*" | "/") unary)*
    unary  := ("+" | "-") unary | power
    power  := atom (("^" | "**") unary)?          (right-associative)
    atom   := NUMBER | NAME | NAME "(" expr ("," expr)* ")" | "(" expr ")"

``NUMBER`` is a SPICE number: ``1.5``, ``2e-12``, ``10p``, ``1meg``, ``3.3nH``
(scale factors f p n u m k meg g t, and mil; letters after the scale factor,
or after a plain number, are units and ignored, as in SPICE; ``m`` is milli,
``meg`` mega).  ``NAME`` is a parameter or the constant ``pi``.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import Decimal

#: Scale factors of SPICE numbers (ngspice manual, section 2.3), longest first.
SCALE_FACTORS = (("meg", "1e6"), ("mil", "25.4e-6"), ("t", "1e12"), ("g", "1e9"), ("k", "1e3"),
                 ("m", "1e-3"), ("u", "1e-6"), ("n", "1e-9"), ("p", "1e-12"), ("f", "1e-15"))

#: Functions allowed in expressions, by name: (callable, number of arguments).
FUNCTIONS = {
    "sqrt": (math.sqrt, 1), "exp": (math.exp, 1), "ln": (math.log, 1), "log": (math.log, 1),
    "log10": (math.log10, 1), "sin": (math.sin, 1), "cos": (math.cos, 1),
    "tan": (math.tan, 1), "atan": (math.atan, 1), "abs": (abs, 1), "min": (min, 2),
    "max": (max, 2), "pow": (math.pow, 2),
}
#: Named constants.
CONSTANTS = {"pi": math.pi}

_NUMBER = re.compile(r"(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?[a-z]*")
_NAME = re.compile(r"[a-z_][a-z0-9_]*")
_OPERATORS = ("**", "+", "-", "*", "/", "^", "(", ")", ",")


class ExpressionError(ValueError):
    """An expression or number that cannot be evaluated (the message says why)."""


def parse_number(text: str) -> float:
    """Value of one SPICE number token, e.g. ``"10p"`` -> 1e-11, ``"1meg"`` -> 1e6.

    Parameters
    ----------
    text : str
        The token (case-insensitive).

    Returns
    -------
    float

    Raises
    ------
    ExpressionError
        If ``text`` is not a number.
    """
    word = text.strip().lower()
    match = _NUMBER.fullmatch(word)
    if match is None:
        raise ExpressionError(f"{text!r} is not a number")
    mantissa = re.match(r"(?:\d+\.?\d*|\.\d+)(?:e[+-]?\d+)?", word).group(0)
    suffix = word[len(mantissa):]
    for name, scale in SCALE_FACTORS:
        if suffix.startswith(name):
            # in decimal, so "3n" is exactly the float nearest 3e-9 (3 * 1e-9 is not)
            return float(Decimal(mantissa) * Decimal(scale))
    return float(mantissa)  # no scale factor: trailing letters are a unit (V, A, H, s, ...)


def _tokens(text: str) -> list[str]:
    out: list[str] = []
    pos, low = 0, text.lower()
    while pos < len(low):
        ch = low[pos]
        if ch.isspace():
            pos += 1
            continue
        match = _NUMBER.match(low, pos) if (ch.isdigit() or ch == ".") else _NAME.match(low, pos)
        if match is not None:
            out.append(match.group(0))
            pos = match.end()
            continue
        op = next((o for o in _OPERATORS if low.startswith(o, pos)), None)
        if op is None:
            raise ExpressionError(f"unexpected character {text[pos]!r} in expression {text!r}")
        out.append(op)
        pos += len(op)
    return out


def evaluate(text: str, params: Mapping[str, float]) -> float:
    """Evaluate an arithmetic expression with parameters.

    Parameters
    ----------
    text : str
        The expression (braces or quotes around it already removed).
    params : mapping of str to float
        Parameter values by lower-case name.

    Returns
    -------
    float

    Raises
    ------
    ExpressionError
        On a syntax error, an unknown name, a wrong number of function
        arguments, or an arithmetic error (division by zero, domain error).
    """
    tokens = _tokens(text)
    if not tokens:
        raise ExpressionError("empty expression")
    parser = _Parser(tokens, params, text)
    value = parser.expr()
    if parser.pos != len(tokens):
        raise ExpressionError(f"unexpected {tokens[parser.pos]!r} in expression {text!r}")
    if not math.isfinite(value):
        raise ExpressionError(f"expression {text!r} is not finite ({value})")
    return value


class _Parser:
    def __init__(self, tokens: list[str], params: Mapping[str, float], text: str) -> None:
        self.tokens, self.params, self.text, self.pos = tokens, params, text, 0

    def peek(self) -> str | None:
        return self.tokens[self.pos] if self.pos < len(self.tokens) else None

    def take(self, expected: str | None = None) -> str:
        tok = self.peek()
        if tok is None or (expected is not None and tok != expected):
            want = f"{expected!r}" if expected else "more"
            raise ExpressionError(f"expected {want} in expression {self.text!r}, got "
                                  f"{'the end' if tok is None else repr(tok)}")
        self.pos += 1
        return tok

    def expr(self) -> float:
        value = self.term()
        while self.peek() in ("+", "-"):
            value = value + self.term() if self.take() == "+" else value - self.term()
        return value

    def term(self) -> float:
        value = self.unary()
        while self.peek() in ("*", "/"):
            if self.take() == "*":
                value *= self.unary()
            else:
                divisor = self.unary()
                if divisor == 0:
                    raise ExpressionError(f"division by zero in expression {self.text!r}")
                value /= divisor
        return value

    def unary(self) -> float:
        if self.peek() in ("+", "-"):
            return -self.unary() if self.take() == "-" else self.unary()
        return self.power()

    def power(self) -> float:
        base = self.atom()
        if self.peek() in ("^", "**"):
            self.take()
            try:
                return float(base ** self.unary())
            except (OverflowError, ZeroDivisionError) as exc:
                raise ExpressionError(f"{exc} in expression {self.text!r}") from None
        return base

    def atom(self) -> float:
        tok = self.take()
        if tok == "(":
            value = self.expr()
            self.take(")")
            return value
        if tok[0].isdigit() or tok[0] == ".":
            return parse_number(tok)
        if not _NAME.fullmatch(tok):
            raise ExpressionError(f"unexpected {tok!r} in expression {self.text!r}")
        if self.peek() == "(":
            return self.call(tok)
        if tok in self.params:
            return float(self.params[tok])
        if tok in CONSTANTS:
            return CONSTANTS[tok]
        known = ", ".join(sorted(self.params)) or "(none)"
        raise ExpressionError(f"unknown parameter {tok!r} in expression {self.text!r}; "
                              f"parameters are: {known}")

    def call(self, name: str) -> float:
        if name not in FUNCTIONS:
            raise ExpressionError(f"unknown function {name!r} in expression {self.text!r}; "
                                  f"functions are: {', '.join(FUNCTIONS)}")
        func, n_args = FUNCTIONS[name]
        self.take("(")
        args = [self.expr()]
        while self.peek() == ",":
            self.take()
            args.append(self.expr())
        self.take(")")
        if len(args) != n_args:
            raise ExpressionError(f"{name}() takes {n_args} argument(s), got {len(args)} in "
                                  f"expression {self.text!r}")
        try:
            return float(func(*args))
        except (ValueError, OverflowError) as exc:
            raise ExpressionError(f"{name}{tuple(args)}: {exc} in expression "
                                  f"{self.text!r}") from None
