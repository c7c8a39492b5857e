"""Run a netlist's transient analysis in ngspice (the reference physsim is checked against).

ngspice must be installed (Debian/Ubuntu: ``apt-get install ngspice``).  The
netlist is run in batch mode with tight tolerances from rest (``uic``) and
its node voltages are interpolated onto the ``.tran`` step grid
(``linearize``).  ngspice has no Josephson junction (its ``B`` element is a
behavioural source), so only LC netlists can be run.
"""

from __future__ import annotations

import re
import shutil
import subprocess
import tempfile
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .parser import parse_netlist


@dataclass(frozen=True)
class NgspiceRun:
    """Node voltages from ngspice.

    Attributes
    ----------
    times : ndarray, shape (T,)
        The ``.tran`` grid (s), from 0.
    node_voltages : ndarray, shape (T, n)
        Volts, one column per requested node.
    node_names : tuple of str
        Column names.
    """

    times: np.ndarray
    node_voltages: np.ndarray
    node_names: tuple[str, ...]


def ngspice_available() -> bool:
    """True if an ``ngspice`` executable is on the PATH."""
    return shutil.which("ngspice") is not None


def ngspice_transient(netlist: str, nodes: tuple[str, ...] | list[str], *,
                      max_step_fraction: float = 0.02, reltol: float = 1e-10,
                      timeout: float = 120.0) -> NgspiceRun:
    """Run the netlist's ``.tran`` in ``ngspice -b`` and return node voltages on its step grid.

    Parameters
    ----------
    netlist : str
        Netlist text with a ``.tran TSTEP TSTOP`` line; any ``.control``
        block and ``.end`` are replaced by this function's own.
    nodes : sequence of str
        Node names to record (lower-case, as physsim names them).
    max_step_fraction : float
        ngspice's largest internal step, as a fraction of ``TSTEP``.
    reltol : float
        ngspice's relative tolerance (``chgtol``, ``abstol`` and ``vntol``
        are set far below circuit scales so that ``reltol`` governs).
    timeout : float
        Seconds before the run is abandoned.

    Returns
    -------
    NgspiceRun

    Raises
    ------
    FileNotFoundError
        If ngspice is not installed.
    RuntimeError
        If ngspice fails (its output is included).
    """
    exe = shutil.which("ngspice")
    if exe is None:
        raise FileNotFoundError("ngspice is not installed (apt-get install ngspice)")
    parsed = parse_netlist(netlist)
    if parsed.transient is None:
        raise ValueError("the netlist has no .tran TSTEP TSTOP line")
    step, stop = parsed.transient.step, parsed.transient.stop
    body = re.sub(r"(?ims)^\s*\.control\b.*?^\s*\.endc\b[^\n]*\n?", "", netlist)
    body = re.sub(r"(?im)^\s*\.end\s*$", "", body).rstrip() + "\n"
    vectors = " ".join(f"v({n})" for n in nodes)
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(tmp) / "out.txt"
        deck = Path(tmp) / "deck.cir"
        deck.write_text(
            body + f".options reltol={reltol!r} abstol=1e-18 vntol=1e-15 chgtol=1e-24 "
            f"trtol=1 method=trap\n.control\ntran {step!r} {stop!r} 0 "
            f"{step * max_step_fraction!r} uic\nlinearize {vectors}\nwrdata {out} {vectors}\n"
            f"quit 0\n.endc\n.end\n")
        proc = subprocess.run([exe, "-b", str(deck)], capture_output=True, text=True,
                              timeout=timeout, check=False)
        if proc.returncode != 0 or not out.exists():
            raise RuntimeError(f"ngspice failed (exit {proc.returncode}):\n"
                               f"{proc.stdout[-2000:]}\n{proc.stderr[-2000:]}")
        data = np.loadtxt(out, ndmin=2)
    return NgspiceRun(times=data[:, 0], node_voltages=data[:, 1::2],
                      node_names=tuple(nodes))
