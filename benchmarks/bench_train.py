"""Time per HSSM training step under RHEL and under BPTT (issues 5, 15).

Models: 2-block linear HSSM (complex LinearHRU, hidden 64, 64 oscillators per block) and
the same with NonlinearHRU units (step 1e-4, the paper's initialisation), 10-class
mean-pool read-out, float64; data: batch 8 of L = 2,000 steps with 6 standard
normal input channels and random labels.  One training step is the forward pass in
training mode, the backward pass (RHEL echoes or BPTT adjoint in each HRU layer, explicit
backward through the digital layers) and an Adam update.  Reported: the best of
``--repeats`` steps after one warm-up step, for each rule, their ratio, and where the time
goes (HRU forward, HRU backward, the rest).  Wall time is what the keys report; the
smallest CPU time of the process is printed too (on a shared machine it shows how much of
the wall time was waiting).

The two rules do different physical work per HRU layer: the layer's forward simulation
is shared and reused by the rule (its final state, and for BPTT its recorded states):
RHEL then runs its two nudged echoes as one pair (paired echoes, where the system has
pair kernels; else two echoes in lock-step, and a second pair when the balanced nudge
of a nonlinear layer needs one), while BPTT runs the discrete adjoint.

Usage::

    python benchmarks/bench_train.py [--quick] [--json FILE] [--repeats N] [--threads N]

JSON keys: ``rhel_step_s``, ``bptt_step_s``, ``rhel_over_bptt`` (linear model),
``nonlinear_rhel_step_s``, ``nonlinear_bptt_step_s``, ``nonlinear_rhel_over_bptt`` (plus
the settings, the breakdown and the 1-minute load average at the start and the end under
other keys).
``--quick``: L = 200, hidden 16, 16 oscillators.
"""

from __future__ import annotations

import json
import os
import time
from dataclasses import asdict, dataclass

import numba
import numpy as np

from physsim.hssm import HSSM, HSSMConfig, HRULayer
from physsim.nn import Adam

from _common import benchmark_parser, load_average  # benchmarks/_common.py, next to this script


@dataclass(frozen=True)
class Sizes:
    """Benchmark problem sizes."""

    n_steps: int
    hidden: int
    units: int
    batch: int = 8
    n_blocks: int = 2
    n_inputs: int = 6
    n_classes: int = 10


FULL = Sizes(n_steps=2_000, hidden=64, units=64)
QUICK = Sizes(n_steps=200, hidden=16, units=16)


class _Timer:
    """Accumulates the time spent in HRULayer.forward / backward (patched on the class)."""

    def __init__(self) -> None:
        self.totals = {"hru_forward": 0.0, "hru_backward": 0.0}
        self._orig = (HRULayer.forward, HRULayer.backward)

    def __enter__(self):
        fwd, bwd = self._orig
        totals = self.totals

        def forward(layer, x, **kw):
            t = time.perf_counter()
            out = fwd(layer, x, **kw)
            totals["hru_forward"] += time.perf_counter() - t
            return out

        def backward(layer, g):
            t = time.perf_counter()
            out = bwd(layer, g)
            totals["hru_backward"] += time.perf_counter() - t
            return out

        HRULayer.forward, HRULayer.backward = forward, backward
        return self

    def __exit__(self, *exc):
        HRULayer.forward, HRULayer.backward = self._orig
        return False


def time_steps(rule: str, sizes: Sizes, repeats: int, seed: int = 0,
               hru: str = "linear") -> dict:
    """Best and median wall time of one training step (after a warm-up step)."""
    cfg = HSSMConfig(n_inputs=sizes.n_inputs, n_outputs=sizes.n_classes, task="classification",
                     hru=hru, complex=hru == "linear", n_blocks=sizes.n_blocks,
                     hidden=sizes.hidden, units=sizes.units, rule=rule)
    model = HSSM(cfg, seed)
    rng = np.random.default_rng(seed + 1)
    x = rng.standard_normal((sizes.batch, sizes.n_steps, sizes.n_inputs))
    y = rng.integers(0, sizes.n_classes, sizes.batch)
    opt = Adam(lr=1e-4)

    def step(k: int) -> None:
        _, grads = model.loss_and_gradients(x, y, rng=np.random.default_rng([seed, k]))
        opt.step(model.parameters(), grads)

    step(0)  # warm-up: numba cache load, thread pool
    times, cpu, parts = [], [], []
    for k in range(1, repeats + 1):
        with _Timer() as timer:
            t0, c0 = time.perf_counter(), time.process_time()
            step(k)
            times.append(time.perf_counter() - t0)
            cpu.append(time.process_time() - c0)
        parts.append(dict(timer.totals, other=times[-1] - sum(timer.totals.values())))
    best = int(np.argmin(times))
    return {"best_s": times[best], "median_s": float(np.median(times)), "breakdown": parts[best],
            "cpu_s": float(min(cpu))}


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark, print a table and return the flat result dict."""
    p = benchmark_parser(__doc__, quick_help="small sizes (seconds)",
                         repeats_help="timed steps per rule")
    p.add_argument("--threads", type=int, default=None, help="numba threads (default: all)")
    args = p.parse_args(argv)
    if args.repeats is not None and args.repeats < 1:
        p.error("--repeats must be a positive integer")
    sizes = QUICK if args.quick else FULL
    repeats = args.repeats or (5 if args.quick else 3)
    if args.threads:
        numba.set_num_threads(args.threads)
    load_start = load_average()
    res = {rule: time_steps(rule, sizes, repeats) for rule in ("rhel", "bptt")}
    nonlinear = {rule: time_steps(rule, sizes, repeats, hru="nonlinear")
                 for rule in ("rhel", "bptt")}
    load_end = load_average()
    out = {
        "rhel_step_s": res["rhel"]["best_s"],
        "bptt_step_s": res["bptt"]["best_s"],
        "rhel_over_bptt": res["rhel"]["best_s"] / res["bptt"]["best_s"],
        "rhel_step_median_s": res["rhel"]["median_s"],
        "rhel_step_cpu_s": res["rhel"]["cpu_s"],
        "bptt_step_cpu_s": res["bptt"]["cpu_s"],
        "bptt_step_median_s": res["bptt"]["median_s"],
        **{f"{rule}_{k}_s": v for rule in res for k, v in res[rule]["breakdown"].items()},
        "nonlinear_rhel_step_s": nonlinear["rhel"]["best_s"],
        "nonlinear_bptt_step_s": nonlinear["bptt"]["best_s"],
        "nonlinear_rhel_over_bptt": nonlinear["rhel"]["best_s"] / nonlinear["bptt"]["best_s"],
        **{f"nonlinear_{rule}_{k}_s": v for rule in nonlinear
           for k, v in nonlinear[rule]["breakdown"].items()},
        **{f"size_{k}": v for k, v in asdict(sizes).items()},
        "repeats": repeats,
        "numba_threads": numba.get_num_threads(),
        "quick": bool(args.quick),
        "load_average_start": load_start,
        "load_average_end": load_end,
    }
    print(f"HSSM training step: 2 blocks, hidden {sizes.hidden}, units {sizes.units}, batch "
          f"{sizes.batch}, L = {sizes.n_steps}, float64, {numba.get_num_threads()} numba "
          f"threads, best of {repeats}")
    print(f"  {'model':<10}{'rule':<6}{'step [s]':>10}{'median':>10}{'CPU [s]':>10}"
          f"{'HRU fwd':>10}{'HRU bwd':>10}{'other':>10}")
    for model, results in (("linear", res), ("nonlinear", nonlinear)):
        for rule in ("rhel", "bptt"):
            r, b = results[rule], results[rule]["breakdown"]
            print(f"  {model:<10}{rule:<6}{r['best_s']:>10.3f}{r['median_s']:>10.3f}"
                  f"{r['cpu_s']:>10.3f}{b['hru_forward']:>10.3f}{b['hru_backward']:>10.3f}"
                  f"{b['other']:>10.3f}")
    print(f"  RHEL / BPTT time per step: linear {out['rhel_over_bptt']:.2f}, nonlinear "
          f"{out['nonlinear_rhel_over_bptt']:.2f}")
    print(f"  1-minute load average: {load_start:.2f} at the start, {load_end:.2f} at the end "
          f"({os.cpu_count()} CPUs)")
    if max(load_start, load_end) > 0.5:
        print("  warning: other processes shared the cores; wall times may be inflated (the "
              "CPU-time column is less affected)")
    if args.json:
        with open(args.json, "w") as fh:
            json.dump(out, fh, indent=2)
    return out


if __name__ == "__main__":
    main()
