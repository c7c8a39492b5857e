"""SPICE text -> typed, flattened :class:`~physsim.spice.netlist.Netlist`.

Two stages: :func:`~physsim.spice.lexer.logical_lines` gives statements;
this module evaluates ``.param`` expressions, reads ``.model``, ``.tran``
and ``.subckt`` definitions, and turns every element line (top level or
inside an instantiated subcircuit) into a typed element with SI values.
Anything it does not support is a :class:`NetlistError` naming the file,
line, element and reason; nothing is dropped silently.
"""

from __future__ import annotations

import os
import re
from collections.abc import Mapping
from dataclasses import dataclass, field

from .errors import Location, NetlistError
from .expressions import ExpressionError, evaluate, parse_number
from .lexer import LogicalLine, Token, logical_lines
from .netlist import (Capacitor, CurrentSource, Element, Inductor, JosephsonJunction,
                      MutualInductance, Netlist, Transient, VoltageSource)
from .waveforms import Dc, Pulse, Pwl, Sin, Waveform

#: Ground node names (after lower-casing).
GROUND = ("0", "gnd")

#: Element letters physsim refuses, with the reason given to the user.
UNSUPPORTED_ELEMENTS = {
    "r": "resistors dissipate energy and physsim's circuits are Hamiltonian (lossless); model "
         "loss with the hardware model's damping instead (e.g. hardware='discrete_lc', or "
         "NoisyAnalog(quality_factor=...))",
    "d": "diodes are not modelled (physsim's circuits are lossless LC and Josephson networks)",
    "q": "bipolar transistors are not modelled (lossless LC and Josephson networks only)",
    "m": "MOSFETs are not modelled (lossless LC and Josephson networks only)",
    "j": "JFETs are not modelled; a Josephson junction is a 'B' element here, as in JoSIM and "
         "WRspice: B<name> n+ n- <model> with .model <model> jj(icrit=..., cap=...)",
    "z": "MESFETs are not modelled (lossless LC and Josephson networks only)",
    "e": "controlled sources (E, F, G, H) are not supported: only independent I and V sources",
    "f": "controlled sources (E, F, G, H) are not supported: only independent I and V sources",
    "g": "controlled sources (E, F, G, H) are not supported: only independent I and V sources",
    "h": "controlled sources (E, F, G, H) are not supported: only independent I and V sources",
    "s": "switches are not supported (a switch is not a Hamiltonian element)",
    "w": "switches are not supported (a switch is not a Hamiltonian element)",
    "t": "transmission lines are not supported; approximate one by an LC ladder (L and C "
         "sections)",
    "o": "lossy transmission lines are not supported (they dissipate)",
    "u": "distributed RC lines are not supported (they dissipate)",
    "y": "transmission lines are not supported; approximate one by an LC ladder",
    "p": "phase sources (JoSIM 'P') are not supported; drive with I or V sources",
    "a": "XSPICE code models are not supported",
    "n": "device models (OSDI) are not supported",
}

#: Dot-commands that change nothing in a transient run of an ideal circuit; skipped and
#: recorded in ``Netlist.ignored``.
IGNORED_COMMANDS = (".options", ".option", ".opt", ".print", ".plot", ".probe", ".save",
                    ".width", ".title", ".meas", ".measure", ".temp", ".four")

#: Dot-commands that matter and are refused, with the reason.
REFUSED_COMMANDS = {
    ".ic": "initial conditions are not read from netlists: physsim starts from rest (zero node "
           "fluxes and charges, as ngspice's '.tran ... uic' without .ic); give q0/p0 to "
           "physsim.simulate instead",
    ".nodeset": "physsim computes no DC operating point (it starts from rest)",
    ".include": "included files are not supported: paste the text into this netlist",
    ".inc": "included files are not supported: paste the text into this netlist",
    ".lib": "libraries are not supported: paste the needed subcircuits and models here",
    ".global": "global nodes are not supported (only ground, 0 or gnd, is global)",
    ".func": "user functions are not supported; use .param expressions",
    ".ac": "physsim runs transient analysis (.tran) only",
    ".dc": "physsim runs transient analysis (.tran) only",
    ".op": "physsim runs transient analysis (.tran) only (it computes no operating point)",
    ".noise": "physsim runs transient analysis (.tran) only; noise comes from hardware models",
    ".tf": "physsim runs transient analysis (.tran) only",
    ".sens": "physsim runs transient analysis (.tran) only",
    ".pz": "physsim runs transient analysis (.tran) only",
    ".disto": "physsim runs transient analysis (.tran) only",
}

#: Transient functions of SPICE sources (only DC, SIN, PULSE and PWL are supported).
TRANSIENT_FUNCTIONS = ("sin", "pulse", "pwl", "exp", "sffm", "am", "trrandom", "trnoise")
_SPEC_KEYWORDS = ("dc", "ac") + TRANSIENT_FUNCTIONS

#: Parameters of a ``jj`` model that are supported.
JJ_MODEL_PARAMETERS = ("icrit", "cap", "rtype")


@dataclass
class _Subckt:
    name: str
    ports: tuple[str, ...]
    defaults: dict[str, str]          # parameter -> expression text
    body: list[LogicalLine]
    location: Location


@dataclass
class _Scope:
    """Where an element line is being read: the parameters and node names it sees."""

    params: dict[str, float]
    node_map: dict[str, str] = field(default_factory=dict)
    prefix: str = ""                  # "x1" or "x1.x2" inside instances, "" at top level
    context: str = ""

    def node(self, name: str) -> str:
        if name in GROUND:
            return "0"
        if name in self.node_map:
            return self.node_map[name]
        return f"{self.prefix}.{name}" if self.prefix else name

    def element(self, name: str) -> str:
        return f"{name[0]}.{self.prefix}.{name}" if self.prefix else name

    def where(self, line: LogicalLine) -> Location:
        loc = line.location
        return Location(loc.filename, loc.line, self.context) if self.context else loc


def read_netlist(path: str | os.PathLike) -> Netlist:
    """Read a SPICE netlist file.

    Parameters
    ----------
    path : str or path-like
        The ``.cir`` / ``.sp`` / ``.net`` file.

    Returns
    -------
    Netlist

    Raises
    ------
    NetlistError
        On anything unsupported or malformed (file, line, element and why).
    OSError
        If the file cannot be read.
    """
    with open(path, encoding="utf-8") as fh:
        return parse_netlist(fh.read(), filename=os.fspath(path))


def parse_netlist(text: str, filename: str = "<string>") -> Netlist:
    """Parse SPICE netlist text (see :mod:`physsim.spice` for the supported subset).

    Parameters
    ----------
    text : str
        The netlist; its first line is the title.
    filename : str
        Name used in error messages.

    Returns
    -------
    Netlist

    Raises
    ------
    NetlistError
        On anything unsupported or malformed.
    """
    title, lines = logical_lines(text, filename)
    top: list[LogicalLine] = []
    param_lines: list[LogicalLine] = []
    model_lines: list[LogicalLine] = []
    tran_lines: list[LogicalLine] = []
    subckts: dict[str, _Subckt] = {}
    ignored: list[str] = []
    open_subckt: _Subckt | None = None
    in_control = False
    for line in lines:
        head = line.head
        if in_control:
            in_control = head != ".endc"
            continue
        if head == ".control":
            in_control = True
            ignored.append(".control")
            continue
        if head == ".end":
            break
        if head == ".subckt":
            if open_subckt is not None:
                raise NetlistError(line.location, ".subckt", f"nested subcircuit definitions are "
                                   f"not supported (inside {open_subckt.name!r})")
            open_subckt = _subckt_header(line)
            if open_subckt.name in subckts:
                raise NetlistError(line.location, ".subckt",
                                   f"subcircuit {open_subckt.name!r} is defined twice")
            subckts[open_subckt.name] = open_subckt
            continue
        if head == ".ends":
            if open_subckt is None:
                raise NetlistError(line.location, ".ends", ".ends without .subckt")
            open_subckt = None
            continue
        if head in (".model",):
            model_lines.append(line)
        elif open_subckt is not None:
            open_subckt.body.append(line)
        elif head in (".param", ".params"):
            param_lines.append(line)
        elif head == ".tran":
            tran_lines.append(line)
        elif head.startswith("."):
            _check_command(line, ignored)
        else:
            top.append(line)
    if open_subckt is not None:
        raise NetlistError(open_subckt.location, f".subckt {open_subckt.name}",
                           "no matching .ends")
    params: dict[str, float] = {}
    for line in param_lines:
        params.update(_param_assignments(line, params))
    if len(tran_lines) > 1:
        raise NetlistError(tran_lines[1].location, ".tran", "more than one .tran analysis")
    transient = _transient(tran_lines[0], params) if tran_lines else None
    models = _models(model_lines, params)
    reader = _Reader(subckts, models, transient)
    elements: list[Element] = []
    for line in top:
        elements.extend(reader.element(line, _Scope(dict(params))))
    return Netlist(title=title, elements=tuple(elements), transient=transient,
                   filename=filename, ignored=tuple(dict.fromkeys(ignored)))


# ------------------------------------------------------------------- values
def _value(token: Token, params: Mapping[str, float], loc: Location, what: str) -> float:
    try:
        if token.kind == "word":
            try:
                return parse_number(token.text)
            except ExpressionError:
                return evaluate(token.text, params)  # a bare expression such as 2*cval
        if token.kind == "expr":
            return evaluate(token.text, params)
    except ExpressionError as exc:
        raise NetlistError(loc, what, str(exc)) from None
    raise NetlistError(loc, what, f"expected a value, got {token.text!r}")


def _split_assignments(text: str, loc: Location, what: str) -> list[tuple[str, str]]:
    """``a=1 b = {a*2} c='a+b'`` -> [(a, "1"), (b, "a*2"), (c, "a+b")] from raw text."""
    marks = list(re.finditer(r"([a-z_][a-z0-9_]*)\s*=(?!=)", text))
    if not marks:
        raise NetlistError(loc, what, f"expected name=value assignments, got {text!r}")
    lead = text[:marks[0].start()].strip()
    if lead:
        raise NetlistError(loc, what, f"unexpected {lead!r} before the first name=value")
    out = []
    for i, m in enumerate(marks):
        end = marks[i + 1].start() if i + 1 < len(marks) else len(text)
        expr = text[m.end():end].strip().rstrip(",").strip()
        if len(expr) >= 2 and expr[0] + expr[-1] in ("{}", "''"):
            expr = expr[1:-1]
        if not expr:
            raise NetlistError(loc, what, f"{m.group(1)}= has no value")
        out.append((m.group(1), expr))
    return out


def _param_assignments(line: LogicalLine, params: Mapping[str, float]) -> dict[str, float]:
    rest = line.text.split(None, 1)[1] if len(line.text.split(None, 1)) > 1 else ""
    scope = dict(params)
    for name, expr in _split_assignments(rest, line.location, line.head):
        try:
            scope[name] = evaluate(expr, scope)
        except ExpressionError as exc:
            raise NetlistError(line.location, f".param {name}", str(exc)) from None
    return {k: v for k, v in scope.items() if k not in params or params[k] != v}


# ----------------------------------------------------------------- commands
def _check_command(line: LogicalLine, ignored: list[str]) -> None:
    head = line.head
    if head in IGNORED_COMMANDS:
        ignored.append(head)
        return
    if head in REFUSED_COMMANDS:
        raise NetlistError(line.location, head, REFUSED_COMMANDS[head])
    raise NetlistError(line.location, head, "unknown dot-command; supported: .param, .model, "
                       ".tran, .subckt/.ends, .end (ignored as harmless: "
                       f"{', '.join(IGNORED_COMMANDS)}, .control/.endc)")


def _transient(line: LogicalLine, params: Mapping[str, float]) -> Transient:
    words = [t for t in line.tokens[1:] if t.kind != ","]
    uic = any(t.kind == "word" and t.text == "uic" for t in words)
    values = [_value(t, params, line.location, ".tran") for t in words
              if not (t.kind == "word" and t.text == "uic")]
    if len(values) < 2 or len(values) > 4:
        raise NetlistError(line.location, ".tran", "expected .tran TSTEP TSTOP [TSTART [TMAX]] "
                           f"[UIC], got {line.text!r}")
    step, stop = values[0], values[1]
    if step <= 0 or stop <= 0:
        raise NetlistError(line.location, ".tran", f"TSTEP and TSTOP must be positive, got "
                           f"{step!r} and {stop!r}")
    if len(values) > 2 and values[2] != 0:
        raise NetlistError(line.location, ".tran", f"TSTART must be 0 (physsim records from "
                           f"the start), got {values[2]!r}")
    return Transient(step=step, stop=stop, uic=uic)


def _models(lines: list[LogicalLine], params: Mapping[str, float]) -> dict[str, dict]:
    models: dict[str, dict] = {}
    for line in lines:
        match = re.match(r"\.model\s+([^\s(]+)\s+([a-z_][a-z0-9_]*)\s*(.*)$", line.text)
        if match is None:
            raise NetlistError(line.location, ".model", "expected .model NAME TYPE(PARAMS)")
        name, kind, raw = match.groups()
        if name in models:
            raise NetlistError(line.location, f".model {name}", "model defined twice")
        body = raw.strip()
        if body.startswith("(") and body.endswith(")"):
            body = body[1:-1]
        values: dict[str, float] = {}
        if body.strip():
            for key, expr in _split_assignments(body.replace(",", " "), line.location,
                                                f".model {name}"):
                try:
                    values[key] = evaluate(expr, params)
                except ExpressionError as exc:
                    raise NetlistError(line.location, f".model {name}", str(exc)) from None
        models[name] = {"type": kind, "params": values, "location": line.location}
    return models


def _subckt_header(line: LogicalLine) -> _Subckt:
    words = line.text.split()
    if len(words) < 2:
        raise NetlistError(line.location, ".subckt", "expected .subckt NAME PORTS... [PARAMS]")
    text = " ".join(words[1:]).replace("params:", " ")
    eq = text.find("=")
    if eq >= 0:
        before = text[:eq].rstrip()
        cut = before.rfind(" ")
        positional, assignments = text[:cut].split(), text[cut:]
        defaults = dict(_split_assignments(assignments, line.location, ".subckt"))
    else:
        positional, defaults = text.split(), {}
    return _Subckt(positional[0], tuple(positional[1:]), defaults, [], line.location)


# ----------------------------------------------------------------- elements
class _Reader:
    """Reads element lines into typed elements, expanding subcircuit instances."""

    def __init__(self, subckts: dict[str, _Subckt], models: dict[str, dict],
                 transient: Transient | None) -> None:
        self.subckts, self.models, self.transient = subckts, models, transient
        self._active: list[str] = []

    def element(self, line: LogicalLine, scope: _Scope) -> list[Element]:
        name = line.head
        letter = name[0]
        loc = scope.where(line)
        if name.startswith(".param"):
            scope.params.update(_param_assignments(line, scope.params))
            return []
        if name.startswith("."):
            _check_command(line, [])  # inside a subcircuit: refuse what matters
            return []
        if letter in UNSUPPORTED_ELEMENTS:
            raise NetlistError(loc, name, UNSUPPORTED_ELEMENTS[letter])
        method = {"c": self._two_terminal, "l": self._two_terminal, "k": self._coupling,
                  "b": self._junction, "i": self._source, "v": self._source,
                  "x": self._instance}.get(letter)
        if method is None:
            raise NetlistError(loc, name, f"unknown element letter {letter!r}; supported: C, L, "
                               f"K, B (Josephson junction), I, V, X (subcircuit instance)")
        return method(line, scope, loc)

    @staticmethod
    def _nodes(line: LogicalLine, count: int, loc: Location) -> list[str]:
        toks = line.tokens[1:1 + count]
        if len(toks) < count or any(t.kind != "word" for t in toks):
            raise NetlistError(loc, line.head, f"expected {count} node name(s) after the element "
                               f"name, got {line.text!r}")
        return [t.text for t in toks]

    def _two_terminal(self, line, scope, loc):
        kind = {"c": "capacitance", "l": "inductance"}[line.head[0]]
        a, b = (scope.node(n) for n in self._nodes(line, 2, loc))
        rest = line.tokens[3:]
        if len(rest) != 1:
            extra = " ".join(t.text for t in rest[1:]) if rest else ""
            why = (f"expected exactly one {kind} value" + (f"; unsupported extra '{extra}' "
                   f"(initial conditions and multipliers are not read)" if extra else ""))
            raise NetlistError(loc, line.head, why)
        value = _value(rest[0], scope.params, loc, line.head)
        if value <= 0:
            raise NetlistError(loc, line.head, f"{kind} must be positive, got {value!r}")
        cls = Capacitor if kind == "capacitance" else Inductor
        return [cls(scope.element(line.head), a, b, value, loc)]

    def _coupling(self, line, scope, loc):
        toks = line.tokens[1:]
        if len(toks) != 3 or toks[0].kind != "word" or toks[1].kind != "word":
            raise NetlistError(loc, line.head, "expected K<name> L<a> L<b> coefficient")
        for t in toks[:2]:
            if not t.text.startswith("l"):
                raise NetlistError(loc, line.head, f"couples inductors only; {t.text!r} is not "
                                   f"an inductor name (L...)")
        k = _value(toks[2], scope.params, loc, line.head)
        return [MutualInductance(scope.element(line.head), scope.element(toks[0].text),
                                 scope.element(toks[1].text), k, loc)]

    def _junction(self, line, scope, loc):
        a, b = (scope.node(n) for n in self._nodes(line, 2, loc))
        toks = line.tokens[3:]
        if not toks or toks[0].kind != "word":
            raise NetlistError(loc, line.head, "expected B<name> n+ n- MODEL [area=A]")
        model_name = toks[0].text
        area = 1.0
        rest = toks[1:]
        if len(rest) == 3 and rest[0].text == "area" and rest[1].kind == "=":
            area = _value(rest[2], scope.params, loc, line.head)
        elif len(rest) == 1:
            area = _value(rest[0], scope.params, loc, line.head)
        elif rest:
            raise NetlistError(loc, line.head, f"unsupported junction options "
                               f"{' '.join(t.text for t in rest)!r}; only area=A is read")
        if area <= 0:
            raise NetlistError(loc, line.head, f"area must be positive, got {area!r}")
        model = self.models.get(model_name)
        if model is None:
            raise NetlistError(loc, line.head, f"unknown model {model_name!r}; models are: "
                               f"{', '.join(self.models) or '(none)'}")
        if model["type"] != "jj":
            raise NetlistError(loc, line.head, f"model {model_name!r} is of type "
                               f"{model['type']!r}; a B element needs a jj model")
        mp = model["params"]
        where = model["location"]
        for key in mp:
            if key not in JJ_MODEL_PARAMETERS:
                why = ("is a resistance: dissipation is not part of physsim's lossless "
                       "junction; use the hardware model's damping instead"
                       if key in ("r0", "rn", "rsub", "rs", "rnormal") else "is not modelled")
                raise NetlistError(where, f".model {model_name}", f"jj parameter {key!r} {why}; "
                                   f"supported: {', '.join(JJ_MODEL_PARAMETERS)}")
        if mp.get("rtype", 0) != 0:
            raise NetlistError(where, f".model {model_name}", "rtype must be 0: a resistive "
                               "junction (RCSJ) dissipates; physsim's junction is lossless "
                               "(use the hardware model's damping for loss)")
        if "icrit" not in mp or mp["icrit"] <= 0:
            raise NetlistError(where, f".model {model_name}", "a jj model needs icrit > 0 (A)")
        cap = mp.get("cap", 0.0)
        if cap < 0:
            raise NetlistError(where, f".model {model_name}", f"cap must be >= 0, got {cap!r}")
        return [JosephsonJunction(scope.element(line.head), a, b, mp["icrit"] * area,
                                  cap * area, loc)]

    def _source(self, line, scope, loc):
        a, b = (scope.node(n) for n in self._nodes(line, 2, loc))
        waveform = self._waveform(line, line.tokens[3:], scope.params, loc)
        cls = CurrentSource if line.head[0] == "i" else VoltageSource
        return [cls(scope.element(line.head), a, b, waveform, loc)]

    def _waveform(self, line, toks, params, loc) -> Waveform:
        dc = None
        function = None
        i = 0
        while i < len(toks):
            tok = toks[i]
            if tok.kind == "word" and tok.text == "dc":
                if i + 1 >= len(toks):
                    raise NetlistError(loc, line.head, "DC without a value")
                dc = _value(toks[i + 1], params, loc, line.head)
                i += 2
            elif tok.kind == "word" and tok.text == "ac":
                # small-signal magnitude [phase]: no effect on a transient run
                i += 1
                for _ in range(2):
                    if (i < len(toks) and toks[i].kind in ("word", "expr")
                            and toks[i].text not in _SPEC_KEYWORDS):
                        i += 1
            elif tok.kind == "word" and tok.text in TRANSIENT_FUNCTIONS:
                if function is not None:
                    raise NetlistError(loc, line.head, "more than one transient function")
                args, i = self._arguments(line, toks, i + 1, params, loc)
                function = self._function(line, tok.text, args, loc)
            elif dc is None and function is None and tok.kind in ("word", "expr"):
                dc = _value(tok, params, loc, line.head)
                i += 1
            else:
                raise NetlistError(loc, line.head, f"unexpected {tok.text!r} in the source "
                                   f"specification; expected [DC] value, SIN(...), PULSE(...) "
                                   f"or PWL(...)")
        if function is not None:
            return function
        return Dc(0.0 if dc is None else dc)

    @staticmethod
    def _arguments(line, toks, i, params, loc):
        if i < len(toks) and toks[i].kind == "(":
            i += 1
            args = []
            while i < len(toks) and toks[i].kind != ")":
                if toks[i].kind != ",":
                    if toks[i].kind not in ("word", "expr"):
                        raise NetlistError(loc, line.head, f"unexpected {toks[i].text!r}")
                    args.append(_value(toks[i], params, loc, line.head))
                i += 1
            if i >= len(toks):
                raise NetlistError(loc, line.head, "unclosed '(' in the source function")
            return args, i + 1
        args = []
        while i < len(toks) and toks[i].kind in ("word", "expr", ","):
            if toks[i].kind != ",":
                args.append(_value(toks[i], params, loc, line.head))
            i += 1
        return args, i

    def _function(self, line, name, args, loc) -> Waveform:
        tran = self.transient

        def default(what: str, value: float | None) -> float:
            if tran is None:
                raise NetlistError(loc, line.head, f"{name.upper()} needs {what} (its default "
                                   f"comes from .tran, and there is none)")
            return value

        try:
            if name == "sin":
                if not 2 <= len(args) <= 6:
                    raise NetlistError(loc, line.head, "expected SIN(VO VA [FREQ [TD [THETA "
                                       f"[PHASE]]]]), got {len(args)} value(s)")
                freq = args[2] if len(args) > 2 else 1.0 / default("FREQ", tran and tran.stop)
                rest = list(args[3:]) + [0.0] * (6 - max(len(args), 3))
                return Sin(args[0], args[1], freq, *rest)
            if name == "pulse":
                if not 2 <= len(args) <= 7:
                    raise NetlistError(loc, line.head, "expected PULSE(V1 V2 [TD [TR [TF [PW "
                                       f"[PER]]]]]), got {len(args)} value(s)")
                full = list(args) + [None] * (7 - len(args))
                td = full[2] or 0.0
                tr = full[3] or default("TR", tran and tran.step)
                tf = full[4] or default("TF", tran and tran.step)
                pw = full[5] if full[5] is not None else default("PW", tran and tran.stop)
                per = full[6] or default("PER", tran and tran.stop)
                return Pulse(args[0], args[1], td, tr, tf, pw, per)
            if name == "pwl":
                if len(args) < 2 or len(args) % 2:
                    raise NetlistError(loc, line.head, "expected PWL(T1 V1 T2 V2 ...) with "
                                       f"pairs, got {len(args)} value(s)")
                return Pwl(tuple(args[0::2]), tuple(args[1::2]))
        except ValueError as exc:
            if isinstance(exc, NetlistError):
                raise
            raise NetlistError(loc, line.head, str(exc)) from None
        raise NetlistError(loc, line.head, f"transient function {name.upper()} is not "
                           f"supported; supported: DC, SIN, PULSE, PWL")

    def _instance(self, line, scope, loc):
        toks = line.tokens[1:]
        positional: list[str] = []
        i = 0
        while i < len(toks) and not (i + 1 < len(toks) and toks[i + 1].kind == "="):
            if toks[i].kind != "word":
                raise NetlistError(loc, line.head, f"unexpected {toks[i].text!r}")
            if toks[i].text != "params:":
                positional.append(toks[i].text)
            i += 1
        if not positional:
            raise NetlistError(loc, line.head, "expected X<name> NODES... SUBCKT [name=value]")
        sub_name, nodes = positional[-1], positional[:-1]
        sub = self.subckts.get(sub_name)
        if sub is None:
            raise NetlistError(loc, line.head, f"unknown subcircuit {sub_name!r}; defined: "
                               f"{', '.join(self.subckts) or '(none)'}")
        if len(nodes) != len(sub.ports):
            raise NetlistError(loc, line.head, f"subcircuit {sub_name!r} has {len(sub.ports)} "
                               f"port(s) ({' '.join(sub.ports)}), the instance gives "
                               f"{len(nodes)}")
        if sub_name in self._active:
            raise NetlistError(loc, line.head, f"subcircuit {sub_name!r} instantiates itself")
        overrides: dict[str, float] = {}
        while i < len(toks):
            if i + 2 >= len(toks) or toks[i + 1].kind != "=":
                raise NetlistError(loc, line.head, "expected name=value after the subcircuit "
                                   "name")
            key = toks[i]
            if key.text not in sub.defaults:
                raise NetlistError(loc, line.head, f"subcircuit {sub_name!r} has no parameter "
                                   f"{key.text!r}; parameters: {', '.join(sub.defaults) or '-'}")
            overrides[key.text] = _value(toks[i + 2], scope.params, loc, line.head)
            i += 3
        params = dict(scope.params)
        for key, expr in sub.defaults.items():
            if key in overrides:
                params[key] = overrides[key]
                continue
            try:
                params[key] = evaluate(expr, params)
            except ExpressionError as exc:
                raise NetlistError(sub.location, f".subckt {sub_name}", str(exc)) from None
        prefix = f"{scope.prefix}.{line.head}" if scope.prefix else line.head
        inner = _Scope(params, {p: scope.node(n) for p, n in zip(sub.ports, nodes)}, prefix,
                       f"in subcircuit {sub_name!r} instantiated by {prefix} at line "
                       f"{line.location.line}")
        self._active.append(sub_name)
        try:
            out: list[Element] = []
            for body_line in sub.body:
                out.extend(self.element(body_line, inner))
        finally:
            self._active.pop()
        return out
