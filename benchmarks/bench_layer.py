"""One HRU layer's gradient at the RHEL paper's sizes, against this machine's roofline (issue 15).

Problem (as the official timings of ``research/official-timings.md``): one
:class:`physsim.hssm.HRULayer` (input projection B, oscillators, read-out C and skip D),
batch 1, H = 64 channels, P oscillators, one sequence of L steps, loss = mean squared
error over all L x H outputs against a random target; every parameter and the input are
in the gradient.  Inputs ``default_rng([seed, 0]).standard_normal((L, H))``, target
``default_rng([seed, 1])...``.  The linear layer is complex (P complex oscillators = 2P
real ones), the nonlinear one has step 1e-4.  ``float32`` is the layer's ``dtype`` (the
device state; inputs, read-out and accumulators stay float64).

Timed, best of ``--repeats`` after a warm-up (numba compilation excluded):

* ``forward``: ``layer.forward(x)``;
* ``bptt`` / ``rhel``: ``layer.forward(x)`` then ``layer.backward(dL/do)`` with the
  layer's rule set to BPTT or RHEL (the layer's defaults otherwise);
* ``roofline``: the unavoidable work done the fastest way this machine allows, measured
  in the same run: the input projection ``u @ B^T`` ((L, H) x (H, n)) and the read-out
  ``y @ C^T`` ((L, n) x (n, H)) as single BLAS products, plus one bare compiled leapfrog
  scan of the n = n_dof independent oscillators on the precomputed drive (linear force,
  or the log-cosh kick of the nonlinear unit), writing the positions; no projection,
  no read-out of dH/dtheta, no hardware hook.

Memory: the peak extra RSS of each of forward, BPTT and RHEL, measured in a fresh
subprocess per configuration (the peak is reset after a warm-up; the inputs and target
are part of the baseline), with the layer's own input, output and input-gradient arrays
(3 x L x H float64) given for scale.

``batch1_thread_speedup``: the RHEL gradient at P = 256, L = 16,000 (float32, linear and
nonlinear; the smaller of the two is the key) with one numba thread over its time with
two.

Usage::

    python benchmarks/bench_layer.py [--quick] [--json FILE] [--repeats N]

JSON keys: ``<layer>_<L>_<P>_<dtype>_{forward,bptt,rhel,roofline}_s``,
``<layer>_<L>_<P>_<dtype>_{forward,bptt,rhel}_extra_mib``, ``..._io_mib``,
``max_rhel_over_roofline``, ``max_bptt_over_roofline``,
``max_nonlinear_over_linear_forward``, ``batch1_thread_speedup``,
``max_rhel_over_official_rhel``, ``max_bptt_over_official_bptt``, ``load_average``.
``--quick`` runs small sizes in seconds (memory of the largest configuration only).
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import subprocess
import sys
import time
from dataclasses import asdict, dataclass

import numba
import numpy as np

import physsim
from physsim.hssm import HRULayer

from _common import benchmark_parser, load_average, run_benchmark
from _common import current_rss_bytes, peak_rss_bytes, release_free_heap, reset_peak_rss

LAYERS = ("linear", "nonlinear")
CHANNELS = 64
NONLINEAR_STEP = 1e-4
WARMUP_STEPS = 64
#: Least repeats of the roofline's parts.
ROOFLINE_REPEATS = 10

#: The official implementation's times on this machine kind, seconds
#: (research/official-timings.md): (layer, L, P, dtype) -> (BPTT, RHEL, forward).
OFFICIAL = {
    ("linear", 1000, 64, "float32"): (0.0327, 0.1067, 0.0219),
    ("linear", 4000, 64, "float32"): (0.2320, 0.4624, 0.0290),
    ("linear", 16000, 64, "float32"): (0.8623, 2.3895, 0.2604),
    ("linear", 50000, 64, "float32"): (2.1159, 10.4615, 0.6086),
    ("nonlinear", 1000, 64, "float32"): (0.0329, 0.0127, 0.0028),
    ("nonlinear", 4000, 64, "float32"): (0.1639, 0.0504, 0.0083),
    ("nonlinear", 16000, 64, "float32"): (0.6030, 0.2151, 0.0293),
    ("nonlinear", 50000, 64, "float32"): (1.7973, 0.7174, 0.0862),
    ("linear", 16000, 256, "float32"): (2.5880, 9.2974, 0.8460),
    ("nonlinear", 16000, 256, "float32"): (0.6910, 0.5851, 0.0873),
    ("linear", 16000, 64, "float64"): (0.8330, 3.3234, 0.2622),
    ("nonlinear", 16000, 64, "float64"): (0.5044, 0.5531, 0.0864),
}


@dataclass(frozen=True)
class Config:
    """One point of the grid."""

    layer: str
    n_steps: int
    units: int
    dtype: str
    seed: int = 0

    @property
    def key(self) -> str:
        return f"{self.layer}_{self.n_steps}_{self.units}_{self.dtype}"


@dataclass(frozen=True)
class Sizes:
    """The grid of one benchmark run: (L, P, dtype) points, each for both layers."""

    points: tuple[tuple[int, int, str], ...]
    threads_point: tuple[int, int]   # (L, P) of the thread-speedup measurement
    memory_points: tuple[tuple[int, int, str], ...]
    repeats: int


FULL = Sizes(points=((1000, 64, "float32"), (4000, 64, "float32"), (16000, 64, "float32"),
                     (50000, 64, "float32"), (16000, 256, "float32"), (16000, 64, "float64")),
             threads_point=(16000, 256),
             memory_points=((1000, 64, "float32"), (4000, 64, "float32"),
                            (16000, 64, "float32"), (50000, 64, "float32"),
                            (16000, 256, "float32"), (16000, 64, "float64")),
             repeats=3)
QUICK = Sizes(points=((200, 8, "float32"), (800, 8, "float32"), (800, 16, "float32"),
                      (800, 8, "float64")),
              threads_point=(800, 16), memory_points=((800, 16, "float32"),), repeats=1)


# ------------------------------------------------------------------- the problem
def build(config: Config):
    """The layer, its input (1, L, H) and the MSE target (1, L, H)."""
    layer = HRULayer(config.layer, CHANNELS, config.units,
                     rng=np.random.default_rng([config.seed, 2]), complex=True,
                     nonlinear_step=NONLINEAR_STEP, dtype=np.dtype(config.dtype).type)
    x = np.random.default_rng([config.seed, 0]).standard_normal((1, config.n_steps, CHANNELS))
    target = np.random.default_rng([config.seed, 1]).standard_normal(x.shape)
    return layer, x, target


def run_method(method: str, layer: HRULayer, x: np.ndarray, target: np.ndarray):
    """``forward`` alone, or forward + backward of the MSE under ``bptt`` / ``rhel``."""
    if method != "forward":
        layer.rule = method  # before the forward pass, which records what the rule needs
    out = layer.forward(x)
    if method == "forward":
        return out
    grad_out = (2.0 / out.size) * (out - target)
    return layer.backward(grad_out)


def best_time(fn, repeats: int) -> float:
    """Best wall time of ``repeats`` calls, seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times)


# ------------------------------------------------------------------- the roofline
@numba.njit(cache=True, nogil=True)
def _oscillator_scan(drive, stiffness, step, W, c, bias, alpha, nonlinear, positions):
    """Leapfrog (drift-kick-drift) of n independent oscillators on a precomputed drive.

    ``drive`` (L, n), per-unit ``stiffness``/``step`` (linear force
    ``-step (stiffness q - d)``) or the log-cosh force ``-step (alpha q + c tanh(W q + d +
    bias))``; writes the positions after every step into ``positions`` (L, n).
    """
    L, n = drive.shape
    q = np.zeros(n, drive.dtype)
    p = np.zeros(n, drive.dtype)
    half = drive.dtype.type(0.5)
    for k in range(L):
        d = drive[k]
        for i in range(n):
            qi = q[i] + half * step[i] * p[i]
            if nonlinear:
                force = alpha * qi + c[i] * np.tanh(W[i] * qi + d[i] + bias[i])
            else:
                force = stiffness[i] * qi - d[i]
            p[i] -= step[i] * force
            q[i] = qi + half * step[i] * p[i]
            positions[k, i] = q[i]
    return q


def roofline(layer: HRULayer, x: np.ndarray, repeats: int) -> dict:
    """Best time of the unavoidable work: two BLAS projections and one bare scan."""
    dtype = np.dtype(layer.dtype)
    u = np.ascontiguousarray(x[0], dtype=dtype)                   # (L, H)
    system = layer.system()
    b_t = np.ascontiguousarray(system.input_matrix.T, dtype=dtype)  # (H, n)
    c_t = np.ascontiguousarray(layer._readout().T, dtype=dtype)     # (n, H)
    n = b_t.shape[1]
    ones = np.ones(n, dtype)
    if layer.kind == "linear":
        stiffness = np.tile(np.asarray(system.A, dtype), n // system.A.size)
        step = np.tile(np.asarray(system.step, dtype), n // system.A.size)
        args = (stiffness, step, ones, ones, ones, dtype.type(0.0), False)
    else:
        args = (ones, np.full(n, system.step, dtype), np.asarray(system.W, dtype),
                np.asarray(system.c, dtype), np.asarray(system.b, dtype),
                dtype.type(system.alpha), True)
    positions = np.empty((u.shape[0], n), dtype)
    _oscillator_scan(u[:8] @ b_t, *args, positions[:8])  # compile / load

    def work():
        drive = u @ b_t
        _oscillator_scan(drive, *args, positions)
        return positions @ c_t

    parts = {"roofline": best_time(work, repeats),
             "projections": best_time(lambda: (u @ b_t, positions @ c_t), repeats),
             "scan": best_time(lambda: _oscillator_scan(u @ b_t, *args, positions), repeats)}
    return parts


# ------------------------------------------------------------------- memory
def memory_worker(config: Config) -> dict:
    """Peak extra RSS of forward, BPTT and RHEL (run in a fresh subprocess), MiB."""
    layer, x, target = build(config)
    warm = np.ascontiguousarray(x[:, :WARMUP_STEPS])
    for method in ("forward", "bptt", "rhel"):
        run_method(method, layer, warm, target[:, :WARMUP_STEPS])
    out = {}
    for method in ("forward", "bptt", "rhel"):
        layer._cache = None
        gc.collect()
        release_free_heap()
        reset_peak_rss()
        baseline = current_rss_bytes()
        result = run_method(method, layer, x, target)
        out[method] = (peak_rss_bytes() - baseline) / 1024.0**2
        del result
    return out


def memory_in_subprocess(config: Config) -> dict:
    """Run :func:`memory_worker` in a new interpreter and return its result."""
    env = dict(os.environ)
    root = os.path.dirname(os.path.dirname(os.path.abspath(physsim.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(
        os.pathsep) if p])
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-worker",
           json.dumps(asdict(config))]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"memory worker {config.key} failed (exit {proc.returncode}):\n"
                           f"{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# ------------------------------------------------------------------- the run
def measure(config: Config, repeats: int) -> dict:
    """Times of forward, BPTT, RHEL and the roofline for one configuration, seconds."""
    layer, x, target = build(config)
    warm = np.ascontiguousarray(x[:, :WARMUP_STEPS])
    out = {}
    for method in ("forward", "bptt", "rhel"):
        run_method(method, layer, warm, target[:, :WARMUP_STEPS])
        out[method] = best_time(lambda m=method: run_method(m, layer, x, target), repeats)
    out["rhel_passes"] = layer.last_backward_info.get("passes", 3)
    # the roofline is cheap and its parts short: more repeats keep a descheduled run (a
    # loaded machine) from setting it
    out.update(roofline(layer, x, max(repeats, ROOFLINE_REPEATS)))
    return out


def thread_speedup(sizes: Sizes, layer_kind: str) -> float:
    """RHEL gradient time with one numba thread over its time with two."""
    L, P = sizes.threads_point
    layer, x, target = build(Config(layer_kind, L, P, "float32"))
    run_method("rhel", layer, x[:, :WARMUP_STEPS], target[:, :WARMUP_STEPS])
    threads = numba.get_num_threads()
    times = {}
    try:
        for n in (1, min(2, numba.config.NUMBA_NUM_THREADS)):
            numba.set_num_threads(n)
            times[n] = best_time(lambda: run_method("rhel", layer, x, target), sizes.repeats)
    finally:
        numba.set_num_threads(threads)
    return times[1] / times[max(times)]


def run(sizes: Sizes, log=print) -> dict:
    """Every measurement of the benchmark; ``result["figures"]`` is the flat JSON."""
    figures: dict[str, float] = {"load_average": load_average()}
    rows = []
    for L, P, dtype in sizes.points:
        for layer_kind in LAYERS:
            config = Config(layer_kind, L, P, dtype)
            t = measure(config, sizes.repeats)
            k = config.key
            for name in ("forward", "bptt", "rhel", "roofline"):
                figures[f"{k}_{name}_s"] = t[name]
            figures[f"{k}_rhel_passes"] = t["rhel_passes"]
            figures[f"{k}_io_mib"] = 3 * L * CHANNELS * 8 / 1024.0**2
            if (L, P, dtype) in sizes.memory_points:
                mem = memory_in_subprocess(config)
                for name in ("forward", "bptt", "rhel"):
                    figures[f"{k}_{name}_extra_mib"] = mem[name]
            rows.append((config, t))
            log(f"  {k}: forward {t['forward']:.3f} s, bptt {t['bptt']:.3f} s, rhel "
                f"{t['rhel']:.3f} s ({t['rhel_passes']} passes), roofline {t['roofline']:.4f} s"
                f" (projections {t['projections']:.4f}, scan {t['scan']:.4f})")
    figures["max_rhel_over_roofline"] = max(t["rhel"] / t["roofline"] for _, t in rows)
    figures["max_bptt_over_roofline"] = max(t["bptt"] / t["roofline"] for _, t in rows)
    by_key = {c.key: t for c, t in rows}
    figures["max_nonlinear_over_linear_forward"] = max(
        t["forward"] / by_key[Config("linear", c.n_steps, c.units, c.dtype).key]["forward"]
        for c, t in rows if c.layer == "nonlinear")
    official = [(c, t, OFFICIAL[(c.layer, c.n_steps, c.units, c.dtype)]) for c, t in rows
                if (c.layer, c.n_steps, c.units, c.dtype) in OFFICIAL]
    if official:
        figures["max_rhel_over_official_rhel"] = max(t["rhel"] / o[1] for _, t, o in official)
        figures["max_bptt_over_official_bptt"] = max(t["bptt"] / o[0] for _, t, o in official)
    speedups = {kind: thread_speedup(sizes, kind) for kind in LAYERS}
    for kind, s in speedups.items():
        figures[f"{kind}_batch1_thread_speedup"] = s
    figures["batch1_thread_speedup"] = min(speedups.values())
    figures["load_average_end"] = load_average()
    return {"figures": figures, "rows": rows}


def format_table(result: dict, sizes: Sizes) -> str:
    """The grid as a table with the ratios the issue's targets are stated in."""
    f = result["figures"]
    head = ("| layer | L | P | dtype | forward s | BPTT s | RHEL s (passes) | roofline s | "
            "RHEL/roof | BPTT/roof | nonlin/lin fwd | RHEL/official | BPTT/official | "
            "RHEL extra MiB (io MiB) |")
    lines = [head, "|" + "---|" * (head.count("|") - 1)]
    for c, t in result["rows"]:
        k = c.key
        lin = f.get(f"linear_{c.n_steps}_{c.units}_{c.dtype}_forward_s")
        ratio_fwd = f"{t['forward'] / lin:.2f}" if c.layer == "nonlinear" and lin else ""
        o = OFFICIAL.get((c.layer, c.n_steps, c.units, c.dtype))
        mem = f.get(f"{k}_rhel_extra_mib")
        lines.append(
            f"| {c.layer} | {c.n_steps} | {c.units} | {c.dtype} | {t['forward']:.3f} | "
            f"{t['bptt']:.3f} | {t['rhel']:.3f} ({t['rhel_passes']}) | {t['roofline']:.4f} | "
            f"{t['rhel'] / t['roofline']:.1f} | {t['bptt'] / t['roofline']:.1f} | {ratio_fwd} | "
            + (f"{t['rhel'] / o[1]:.2f} | {t['bptt'] / o[0]:.2f} | " if o else " |  | ")
            + (f"{mem:.0f} ({f[k + '_io_mib']:.0f}) |" if mem is not None else " |"))
    lines.append("")
    for name, target, op in (("max_rhel_over_roofline", 4.0, "<="),
                             ("max_bptt_over_roofline", 3.0, "<="),
                             ("max_nonlinear_over_linear_forward", 1.5, "<="),
                             ("batch1_thread_speedup", 1.6, ">="),
                             ("max_rhel_over_official_rhel", 0.25, "<="),
                             ("max_bptt_over_official_bptt", 0.5, "<=")):
        if name in f:
            ok = f[name] <= target if op == "<=" else f[name] >= target
            lines.append(f"{name}: {f[name]:.2f} (target {op} {target}): "
                         f"{'met' if ok else 'NOT met'}")
    lines.append(f"load average {f['load_average']:.2f} at the start, "
                 f"{f['load_average_end']:.2f} at the end")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; print the table, write JSON if asked, return the JSON figures."""
    parser = benchmark_parser(__doc__, quick_help="small sizes (seconds)",
                              repeats_help="timed calls per measurement; the best is reported")
    parser.add_argument("--memory-worker", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_worker:
        print(json.dumps(memory_worker(Config(**json.loads(args.memory_worker)))))
        return {}
    return run_benchmark("bench_layer", args, parser, QUICK, FULL, run, format_table,
                         f"physsim from {os.path.dirname(physsim.__file__)}, numba "
                         f"{numba.__version__}, {numba.get_num_threads()} threads, "
                         f"H = {CHANNELS}, batch 1")


if __name__ == "__main__":
    main(sys.argv[1:])
