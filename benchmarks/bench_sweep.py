"""Throughput of a 16-point sweep on 1 and on 2 local worker processes.

The sweep: a LinearHRU (32 units, batch 8, white-noise inputs, MSE read-out),
16 values of ``NoisyAnalog.momentum_noise`` (log range), one seed, metrics
``gradient_fidelity`` (RHEL on the noisy device vs ideal BPTT) and
``echo_return_error``.  Each task is a few hundred milliseconds to a second of
numba work on one thread.  The time is the wall time of :func:`run_sweep`
end to end (worker start-up, the per-worker BPTT reference, writing every
point to the HDF5 file), so the speed-up is what a user sees; the two runs
must give identical results, which is checked.

Figures (flat JSON with ``--json FILE``):

``points_per_s_1_worker``, ``points_per_s_2_workers``
    Finished points per second.
``speedup_2_workers``
    Ratio of the two (target >= 1.7 on 2 cores at full size).
``seconds_1_worker``, ``seconds_2_workers``, ``n_points``, ``n_steps``, ``cores``
    Raw numbers.
``load_average_before``
    1-minute load average when the benchmark started: other processes on the
    machine take cores from the workers, and the speed-up says nothing then
    (a warning is printed when it is above 0.5).

``--quick`` uses 1,500 steps per sequence instead of 48,000 (worker start-up is
then a larger share of the time, so the speed-up is lower).

Usage::

    python benchmarks/bench_sweep.py [--quick] [--json FILE]
"""

from __future__ import annotations

import json
import os
import tempfile
import time
from pathlib import Path

import numpy as np

from physsim.sweeps import load_sweep, parse_sweep_config, run_sweep

from _common import benchmark_parser, load_average


def sweep_config(n_steps: int):
    """The 16-point benchmark sweep."""
    return parse_sweep_config({
        "sweep": {"name": "bench_sweep", "seeds": [0],
                  "metrics": ["gradient_fidelity", "echo_return_error"]},
        "system": {"type": "linear_hru", "n_units": 32, "n_inputs": 2, "seed": 0},
        "simulation": {"n_steps": n_steps, "batch": 8},
        "inputs": {"kind": "noise", "seed": 1},
        "loss": {"kind": "mse", "n_outputs": 2},
        "axes": [{"field": "NoisyAnalog.momentum_noise", "scale": "log", "start": 1e-8,
                  "stop": 1e-1, "num": 16}],
    })


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; returns the figures."""
    parser = benchmark_parser(__doc__, quick_help="shorter sequences (seconds)")
    args = parser.parse_args(argv)
    # about one second of numba work per point at full size (the kernels of this
    # version run ~4x faster than when 12,000 steps gave that)
    n_steps = 1500 if args.quick else 48000
    cfg = sweep_config(n_steps)
    n_points = len(cfg.tasks())
    cores = len(os.sched_getaffinity(0))
    load = load_average()
    out: dict = {"n_points": n_points, "n_steps": n_steps, "cores": cores,
                 "load_average_before": load}
    with tempfile.TemporaryDirectory() as tmp:
        # compile/load the numba caches once, outside the timings
        run_sweep(sweep_config(50), output=Path(tmp) / "warm.h5", workers=0, progress=False)
        results = {}
        for workers in (1, 2):
            path = Path(tmp) / f"w{workers}.h5"
            t0 = time.perf_counter()
            s = run_sweep(cfg, output=path, workers=workers, progress=False)
            dt = time.perf_counter() - t0
            if s.n_done != n_points:
                raise RuntimeError(f"{workers} worker(s): {s.n_done} of {n_points} points done")
            results[workers] = load_sweep(path)
            key = "1_worker" if workers == 1 else f"{workers}_workers"
            out[f"seconds_{key}"] = dt
            out[f"points_per_s_{key}"] = n_points / dt
        same = np.array_equal(results[1].values, results[2].values, equal_nan=True)
        if not same:
            raise RuntimeError("1 and 2 workers gave different results")
    out["speedup_2_workers"] = out["points_per_s_2_workers"] / out["points_per_s_1_worker"]
    print(f"16-point sweep, LinearHRU 32 units, {n_steps} steps, batch 8 ({cores} cores)")
    print(f"  1 worker : {out['seconds_1_worker']:6.2f} s  {out['points_per_s_1_worker']:6.2f} "
          "points/s")
    print(f"  2 workers: {out['seconds_2_workers']:6.2f} s  {out['points_per_s_2_workers']:6.2f} "
          "points/s")
    print(f"  speed-up : {out['speedup_2_workers']:.2f}  (target >= 1.7 on 2 cores); results "
          "identical")
    if load > 0.5:
        print(f"  warning: the load average was {load:.2f} when the benchmark started; other "
              "processes shared the cores, so the speed-up understates the executor")
    if args.json:
        Path(args.json).write_text(json.dumps(out, indent=2))
    return out


if __name__ == "__main__":
    main()
