"""Memory of the HL reversed stream: stored states vs reversible recomputation.

The reversed stream (research/hl.md section 2.4) needs the forward states while
it walks back.  ``storage="stored"`` keeps all ``n + 1`` of them (O(n));
``storage="reversible"`` keeps only the last one and recomputes the others with
the inverse two-step midpoint (leapfrog) step (O(1); section 2.6).

Each (storage, length) point runs in its own subprocess: the inputs
(``(n, 1)`` float64, labels, tags) are built first, then ``tracemalloc``
records the peak of the memory allocated *on top of them* during one call of
:func:`physsim.hl.reversed_stream_gradient`.  Peak RSS (``ru_maxrss``) minus
the RSS before the call is reported alongside.  Time per step comes from a
separate untraced call in the same subprocess (full size only).  ``--quick``
uses 4 hidden units, and stored states up to 10,000 steps only.

Network: two-step midpoint tanh RNN, ``dt = 0.01``, weak antisymmetric coupling,
no bias, Gaussian inputs, one classification loss at the last step.  The
reconstruction is accurate to ~1e-14 over 1e5 steps here (1e3 time units);
with ``dt = 0.05`` (5e3 time units) round-off amplification by the reversed
dynamics made the recomputed states drift by O(1e-5..1) in our runs: check
``reconstruction_error`` for long sequences.

Figures (flat JSON with ``--json FILE``):

``reversible_mem_growth_1k_to_100k``
    extra memory at 100,000 steps / extra memory at 1,000 steps, reversible (target ~1).
``stored_mem_growth_1k_to_100k`` (full size) / ``stored_mem_growth_1k_to_10k`` (``--quick``)
    the same for stored states (baseline, ~ the length ratio).
``reversible_grad_rel_err_vs_stored_*``
    max |g_rev - g_stored| / max |g_stored| at each length run with both storages.
``reversible_reconstruction_error_*``
    max abs error of the recomputed initial state (the O(1) built-in check).
``hru_*`` (full size only)
    the same memory and accuracy figures for the linear HRU (symplectic leapfrog).
``reversible_over_stored_time_*`` (full size only)
    time ratio at the same length; ``--quick`` skips the untraced timing runs.

Usage::

    python benchmarks/bench_hl.py [--quick] [--json FILE]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import subprocess
import sys
import time
from pathlib import Path

import numpy as np

from _common import benchmark_parser  # benchmarks/_common.py, next to this script

REPO = Path(__file__).resolve().parents[1]


def _rss_bytes() -> int:
    with open("/proc/self/status") as fh:
        for line in fh:
            if line.startswith("VmRSS:"):
                return int(line.split()[1]) * 1024
    return 0


def _child(length: int, storage: str, hidden: int, seed: int, timing: bool, cell: str) -> dict:
    import tracemalloc

    from physsim import hl

    rng = np.random.default_rng(seed)
    # inputs of the stream (the reversed stream replays them, so they are not counted)
    inputs = rng.standard_normal((length, 1))
    labels = np.zeros(length, dtype=np.int64)
    labels[-1] = 3
    has_target = np.zeros(length, dtype=bool)
    has_target[-1] = True
    if cell == "midpoint":
        model = hl.HLModel(state_cell=hl.MidpointRNNCell(1, hidden, dt=0.01),
                           output_cell=hl.LinearReadout(hidden, 10, key="current"),
                           loss="cross_entropy")
        params = model.init_params(rng=seed)
        # near-conservative, non-chaotic dynamics (weak antisymmetric coupling, no bias): the
        # two-step midpoint rule amplifies reconstruction round-off like the tangent dynamics
        # do, so strongly coupled (chaotic) nets cannot be reversed over 1e5 steps
        w = params.state["recurrent_weight"]
        params.state["recurrent_weight"] = 0.5 * (w - w.T)
        params.state["bias"][:] = 0.0
    else:  # linear HRU: symplectic leapfrog, round-off grows only slowly when reversed
        model = hl.HLModel(state_cell=hl.LinearHRUCell(hidden, 1, dt=0.5),
                           output_cell=hl.LinearReadout(hidden, 10, key="position"),
                           loss="cross_entropy")
        params = model.init_params(rng=seed)

    def run():
        return hl.reversed_stream_gradient(model, params, inputs, labels, has_target,
                                           storage=storage)

    seconds = None
    if timing:  # untraced run: tracemalloc slows allocation-heavy Python loops several-fold
        t0 = time.perf_counter()
        result = run()
        seconds = time.perf_counter() - t0
        del result
    rss_before = _rss_bytes()
    tracemalloc.start()
    base, _ = tracemalloc.get_traced_memory()
    result = run()
    _, peak = tracemalloc.get_traced_memory()
    tracemalloc.stop()
    rss_peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * 1024
    grad = np.concatenate([np.ravel(a) for a in (*result.weight_costate.state.values(),
                                                 *result.weight_costate.output.values())])
    return {"length": length, "storage": storage, "extra_bytes": int(peak - base),
            "rss_increase_bytes": int(max(rss_peak - rss_before, 0)), "seconds": seconds,
            "reconstruction_error": result.reconstruction_error,
            "gradient": grad.tolist()}


def _measure(length: int, storage: str, hidden: int, seed: int, timing: bool,
             cell: str = "midpoint") -> dict:
    env = dict(os.environ)
    env["PYTHONPATH"] = str(REPO) + os.pathsep + env.get("PYTHONPATH", "")
    cmd = [sys.executable, __file__, "--child", "--length", str(length), "--storage", storage,
           "--hidden", str(hidden), "--seed", str(seed), "--cell", cell]
    cmd += ["--timing"] if timing else []
    out = subprocess.run(cmd, capture_output=True, text=True, env=env, check=False)
    if out.returncode != 0:
        raise RuntimeError(f"benchmark child failed ({cell}, {storage}, n={length}):\n"
                           f"{out.stderr}")
    return json.loads(out.stdout.strip().splitlines()[-1])


def _rel_err(run: dict, reference: dict) -> float:
    g, g_ref = np.asarray(run["gradient"]), np.asarray(reference["gradient"])
    return float(np.max(np.abs(g - g_ref)) / np.max(np.abs(g_ref)))


def _label(n: int) -> str:
    return f"{n // 1000}k" if n % 1000 == 0 else str(n)


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print the figures and return them as a flat dict."""
    parser = benchmark_parser(__doc__, quick_help="small hidden size, fewer points",
                              json_type=Path)
    parser.add_argument("--seed", type=int, default=0)
    parser.add_argument("--child", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--length", type=int, help=argparse.SUPPRESS)
    parser.add_argument("--storage", help=argparse.SUPPRESS)
    parser.add_argument("--timing", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--cell", default="midpoint", help=argparse.SUPPRESS)
    parser.add_argument("--hidden", type=int, default=None, help="hidden units (32; quick: 8)")
    args = parser.parse_args(argv)
    if args.child:
        print(json.dumps(_child(args.length, args.storage, args.hidden, args.seed, args.timing,
                                args.cell)))
        return {}

    hidden = args.hidden or (4 if args.quick else 32)
    timing = not args.quick
    lengths = {"reversible": [1_000, 100_000] if args.quick else [1_000, 10_000, 100_000],
               "stored": [1_000, 10_000] if args.quick else [1_000, 10_000, 100_000]}
    runs: dict[tuple[str, int], dict] = {}
    for storage, ns in lengths.items():
        for n in ns:
            runs[storage, n] = r = _measure(n, storage, hidden, args.seed, timing)
            speed = "" if r["seconds"] is None else f", {r['seconds'] / n * 1e6:6.1f} us/step"
            print(f"{storage:10s} n={n:>7d}: extra {r['extra_bytes'] / 1e6:9.3f} MB (tracemalloc), "
                  f"RSS +{r['rss_increase_bytes'] / 1e6:8.3f} MB{speed}", flush=True)

    figures: dict[str, float | int | str] = {"hidden": hidden, "quick": bool(args.quick)}
    for storage, ns in lengths.items():
        for n in ns:
            figures[f"{storage}_extra_bytes_{_label(n)}"] = runs[storage, n]["extra_bytes"]
            run = runs[storage, n]
            figures[f"{storage}_rss_increase_bytes_{_label(n)}"] = run["rss_increase_bytes"]
            if timing:
                figures[f"{storage}_us_per_step_{_label(n)}"] = run["seconds"] / n * 1e6
            if storage == "reversible":
                figures[f"reversible_reconstruction_error_{_label(n)}"] = (
                    run["reconstruction_error"])
        lo, hi = ns[0], ns[-1]
        figures[f"{storage}_mem_growth_{_label(lo)}_to_{_label(hi)}"] = (
            runs[storage, hi]["extra_bytes"] / runs[storage, lo]["extra_bytes"])
    common = sorted(set(lengths["reversible"]) & set(lengths["stored"]))
    for n in common:
        figures[f"reversible_grad_rel_err_vs_stored_{_label(n)}"] = _rel_err(
            runs["reversible", n], runs["stored", n])
    common = common[-1]
    if timing:
        figures[f"reversible_over_stored_time_{_label(common)}"] = (
            runs["reversible", common]["seconds"] / runs["stored", common]["seconds"])
    if not args.quick:
        # the physical reversible cell of the HL-RHEL bridge: linear HRU (symplectic leapfrog)
        hru = {(s, n): _measure(n, s, hidden, args.seed, timing=False, cell="hru")
               for s in ("reversible", "stored") for n in (1_000, 100_000)}
        figures["hru_reversible_mem_growth_1k_to_100k"] = (
            hru["reversible", 100_000]["extra_bytes"] / hru["reversible", 1_000]["extra_bytes"])
        figures["hru_stored_mem_growth_1k_to_100k"] = (
            hru["stored", 100_000]["extra_bytes"] / hru["stored", 1_000]["extra_bytes"])
        figures["hru_reversible_grad_rel_err_vs_stored_100k"] = _rel_err(
            hru["reversible", 100_000], hru["stored", 100_000])
        figures["hru_reversible_reconstruction_error_100k"] = (
            hru["reversible", 100_000]["reconstruction_error"])
    for key, value in figures.items():
        print(f"{key}: {value:.4g}" if isinstance(value, float) else f"{key}: {value}")
    if args.json is not None:
        args.json.write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main(sys.argv[1:])
