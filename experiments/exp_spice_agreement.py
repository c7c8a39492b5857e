"""physsim against ngspice on the cross-check netlists: node-voltage error at two steps.

For every netlist in ``experiments/configs/spice/`` (or those given), runs
``ngspice -b`` (reltol 1e-10, internal steps of at most 1/50 of the
``.tran`` step, from rest) and physsim's leapfrog at the ``.tran`` step and at
half of it, and reports ``max |V_physsim - V_ngspice| / max |V_ngspice|`` over
all nodes and times, and the ratio of the two (4 for a second-order method).

Usage::

    python experiments/exp_spice_agreement.py [NETLIST.cir ...] [--json OUT.json]
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import numpy as np

from physsim.spice import load_device, simulate_device
from physsim.spice.ngspice import ngspice_transient

HERE = Path(__file__).resolve().parent
NETLISTS = sorted((HERE / "configs" / "spice").glob("*.cir"))


def agreement(path: Path) -> dict:
    """Relative node-voltage errors of physsim against ngspice at the ``.tran`` step and half."""
    device = load_device(path)
    ref = ngspice_transient(path.read_text(), device.circuit.nodes)
    amplitude = float(np.max(np.abs(ref.node_voltages)))
    step = device.transient.step
    errors = {}
    for refine in (1, 2):
        run = simulate_device(device, dt=step / refine, record_every=refine)
        errors[step / refine] = float(np.max(np.abs(run.node_voltages - ref.node_voltages))
                                      / amplitude)
    coarse, fine = errors.values()
    return {"netlist": path.name, "nodes": len(device.circuit.nodes),
            "amplitude_V": amplitude, "errors": {f"{dt:.3g}": e for dt, e in errors.items()},
            "ratio": coarse / fine}


def main(argv: list[str] | None = None) -> int:
    """Print the table (and write JSON if asked); returns the exit status."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("netlists", nargs="*", type=Path, default=NETLISTS)
    parser.add_argument("--json", type=Path, help="also write the figures to this JSON file")
    args = parser.parse_args(argv)
    rows = [agreement(p) for p in args.netlists]
    print(f"{'netlist':28s} {'nodes':>5s} {'err(dt)':>10s} {'err(dt/2)':>10s} {'ratio':>6s}  dt")
    for row in rows:
        (dt, e1), (_, e2) = row["errors"].items()
        print(f"{row['netlist']:28s} {row['nodes']:5d} {e1:10.2e} {e2:10.2e} "
              f"{row['ratio']:6.2f}  {dt} s")
    if args.json:
        args.json.write_text(json.dumps(rows, indent=2) + "\n")
    return 0


if __name__ == "__main__":
    sys.exit(main())
