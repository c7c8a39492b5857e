"""Cost of the hardware models (issue 4): slowdown against running with no model.

Measures, in one run, a free simulation and one RHEL gradient of a
:class:`physsim.LinearHRU` (P = 256 units, 16 input channels, batch 8,
L = 10,000 steps, float64, per-trajectory inputs) under

* no hardware model (the baseline),
* ``hardware_models.Ideal()`` (target: at most 1.05 times the baseline),
* a full composed noisy model (target: at most 2 times): static mismatch 1 %,
  drift between passes 1e-6, damping Q = 1e5 with fluctuation-dissipation
  thermal noise, flip gain error and flip noise, input, nudge, read-out and
  accumulator noise, and 8-bit input/nudge DACs, read-out and accumulator
  ADCs (aihwkit-style).

The RHEL gradient uses the physical online nudge (``nudge="online"``, O(1)
memory) of a per-step MSE read-out loss.  Configurations are timed in
interleaved rounds (so load from other processes hits them alike) and the
figure is the ratio of the fastest round of each (20 rounds by default).  Each
configuration is run once before timing (numba compilation and caches).

Figures (flat JSON with ``--json FILE``):

``ideal_slowdown_simulate``, ``ideal_slowdown_rhel``
    time with ``Ideal()`` / time with no model.
``noisy_slowdown_simulate``, ``noisy_slowdown_rhel``
    time with the composed noisy model / time with no model.
``noisy_no_drift_slowdown_simulate``, ``noisy_no_drift_slowdown_rhel``
    the noisy model without drift between passes (with drift the RHEL
    controller runs the two echoes one after the other, on two devices).
``*_slowdown_*_cpu``
    the same ratios of process CPU time (all threads), less sensitive to load
    from other processes.
``*_seconds``
    the fastest round of every configuration (wall clock).
``none_ns_per_oscillator_step_per_core``, ``thermal_deviate_ns``
    what the simulate ratio is made of: the baseline's time per
    oscillator-step and core, and the momentum bath's time per degree of
    freedom and step on one thread (one normal deviate, the damping multiply
    and the hook call).

Usage::

    python benchmarks/bench_hardware.py [--quick] [--json FILE] [--rounds N]
"""

from __future__ import annotations

import json
import sys
import time
import warnings
from pathlib import Path

import numba
import numpy as np
from numba import njit

REPO = Path(__file__).resolve().parents[1]
if str(REPO) not in sys.path:
    sys.path.insert(0, str(REPO))

import physsim  # noqa: E402
from hardware_models import FinitePrecision, Ideal, NoisyAnalog, compose  # noqa: E402
from physsim.losses import MSEReadout  # noqa: E402
from physsim.rhel import rhel_gradient  # noqa: E402

from _common import benchmark_parser  # noqa: E402 (benchmarks/_common.py, next to this script)


def noisy_model(drift: float = 1e-6):
    """The full composed noisy model of the benchmark."""
    return compose(
        NoisyAnalog(mismatch=0.01, drift=drift, quality_factor=1e5, thermal_energy=1e-8,
                    flip_gain_error=1e-3, flip_noise=1e-5, input_noise=1e-3, nudge_noise=1e-3,
                    readout_noise=1e-3, accumulator_noise=1e-4),
        FinitePrecision(input_bits=8, input_range=4.0, nudge_bits=8, output_bits=8,
                        output_range=64.0, accumulator_bits=8),
    )


@njit
def _hook_loop(hook, q, p, hw, key, n_steps):
    for step in range(n_steps):
        hook(q, p, hw, key, np.int64(0), np.int64(step))


def thermal_deviate_ns(system, n_steps: int) -> float:
    """Cost of the momentum bath per degree of freedom and step, one thread (ns).

    The per-step hook of ``NoisyAnalog(quality_factor=1e5, thermal_energy=1e-8)``
    applied alone to one trajectory: one normal deviate, a damping multiply and
    the hook call, per degree of freedom.
    """
    hook, hw = NoisyAnalog(quality_factor=1e5, thermal_energy=1e-8).step_hook(
        system, np.float64, system.default_dt)
    q, p = np.zeros(system.n_dof), np.ones(system.n_dof)
    key = np.array([1, 0], dtype=np.int64)
    _hook_loop(hook, q, p, hw, key, 10)
    best = np.inf
    for _ in range(5):
        t0 = time.perf_counter()
        _hook_loop(hook, q, p, hw, key, n_steps)
        best = min(best, time.perf_counter() - t0)
    return best / (n_steps * system.n_dof) * 1e9


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; return (and optionally write) the figures."""
    ap = benchmark_parser(__doc__, quick_help="L = 1,000 instead of 10,000")
    ap.add_argument("--rounds", type=int, default=None, help="timing rounds (default 20, quick 6)")
    args = ap.parse_args(argv)

    P, m, B = 256, 16, 8
    L = 1_000 if args.quick else 10_000
    # 20 rounds: a simulation takes ~0.03 s, so single rounds are noisy; with 20 the
    # simulate ratio varied 1.64-1.79 over 7 runs.  (Larger swings between runs, 1.6
    # to 2.3, came from false sharing between threads, fixed in physsim._memory.)
    rounds = args.rounds or (6 if args.quick else 20)
    rng = np.random.default_rng(0)
    system = physsim.LinearHRU.random(P, m, rng=1)
    u = rng.uniform(-1.0, 1.0, (B, L, m))
    q0 = rng.uniform(-0.5, 0.5, (B, P))
    loss = MSEReadout(rng.standard_normal((4, P)) / np.sqrt(P), rng.standard_normal((B, L, 4)))
    models = {"none": None, "ideal": Ideal(), "noisy": noisy_model(),
              "noisy_no_drift": noisy_model(drift=0.0)}

    def run_simulate(hw):
        physsim.simulate(system, q0, None, u, hardware=hw, seed=1)

    def run_rhel(hw):
        rhel_gradient(system, q0, None, u, loss, nudge="online", hardware=hw, seed=1)

    tasks = {"simulate": run_simulate, "rhel": run_rhel}
    times: dict[tuple[str, str], list[float]] = {(t, k): [] for t in tasks for k in models}
    cpu: dict[tuple[str, str], list[float]] = {(t, k): [] for t in tasks for k in models}
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")  # converter saturation is not what is measured here
        for fn in tasks.values():       # warm-up: compilation, caches
            for hw in models.values():
                fn(hw)
        keys = list(models)
        for r in range(rounds):
            # rotate the order every round: a run's speed depends a little on what
            # ran just before it (allocator and thread wake-up state), and a fixed
            # order would charge that to one model
            order = keys[r % len(keys):] + keys[:r % len(keys)]
            for tname, fn in tasks.items():
                for key in order:
                    hw = models[key]
                    c0, t0 = time.process_time(), time.perf_counter()
                    fn(hw)
                    times[(tname, key)].append(time.perf_counter() - t0)
                    cpu[(tname, key)].append(time.process_time() - c0)
    best = {k: min(v) for k, v in times.items()}
    best_cpu = {k: min(v) for k, v in cpu.items()}
    figures = {}
    for tname in tasks:
        for key in ("ideal", "noisy", "noisy_no_drift"):
            figures[f"{key}_slowdown_{tname}"] = best[(tname, key)] / best[(tname, "none")]
            # CPU time of all threads: less sensitive to other processes on the machine
            figures[f"{key}_slowdown_{tname}_cpu"] = \
                best_cpu[(tname, key)] / best_cpu[(tname, "none")]
        for key in models:
            figures[f"{key}_{tname}_seconds"] = best[(tname, key)]
    # what the simulate ratio is made of, per core: the baseline's cost of an
    # oscillator-step and the bath's cost of one deviate (the bulk of the noisy extra)
    threads = numba.get_num_threads()
    figures["none_ns_per_oscillator_step_per_core"] = \
        best[("simulate", "none")] * threads / (B * L * P) * 1e9
    figures["thermal_deviate_ns"] = thermal_deviate_ns(system, 2_000 if args.quick else 20_000)
    print(f"LinearHRU P={P}, m={m}, batch {B}, L={L:,}, float64, {rounds} interleaved rounds "
          f"(fastest round)")
    for tname in tasks:
        print(f"  {tname:9s} none {best[(tname, 'none')]:.3f} s   ideal "
              f"{best[(tname, 'ideal')]:.3f} s ({figures[f'ideal_slowdown_{tname}']:.3f}x, "
              f"target <= 1.05)   noisy {best[(tname, 'noisy')]:.3f} s "
              f"({figures[f'noisy_slowdown_{tname}']:.3f}x, target <= 2)")
        print(f"  {'':9s} noisy without drift {figures[f'noisy_no_drift_slowdown_{tname}']:.3f}x"
              f"; CPU-time ratios: ideal {figures[f'ideal_slowdown_{tname}_cpu']:.3f}x, noisy "
              f"{figures[f'noisy_slowdown_{tname}_cpu']:.3f}x, without drift "
              f"{figures[f'noisy_no_drift_slowdown_{tname}_cpu']:.3f}x")
    print(f"  per core: {figures['none_ns_per_oscillator_step_per_core']:.2f} ns per "
          f"oscillator-step without a model ({threads} threads); thermal bath alone "
          f"{figures['thermal_deviate_ns']:.2f} ns per degree of freedom and step (one thread)")
    if args.json:
        Path(args.json).write_text(json.dumps(figures, indent=2))
    return figures


if __name__ == "__main__":
    main()
