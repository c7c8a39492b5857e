"""Memory, time and float32 accuracy of RHEL against BPTT (issue 3).

(a) **Peak memory** of one RHEL gradient and one BPTT gradient at
    L = 1,000, 10,000 and 100,000 steps, each in its own process.  The worker
    builds the inputs, runs a tiny warm-up gradient (numba compilation or cache
    load, thread pool, imports), returns the heap it freed to the OS (glibc
    ``malloc_trim``, so the gradient cannot hide in it), records its resident
    set size (RSS) and resets the peak RSS to it (Linux
    ``/proc/self/clear_refs``); the figure is
    the peak RSS after the gradient (``VmHWM``; ``ru_maxrss`` off Linux) minus
    that baseline, i.e. the increase over the inputs, the code and the warm-up.
    RHEL runs in its O(1)-memory configuration: mean-pooled cross-entropy
    read-out (:class:`physsim.losses.PooledCrossEntropy`, a time-constant
    cotangent that needs only the running sum of positions) and
    ``input_gradient=False``.  BPTT uses the same loss; it stores the
    trajectory and always returns the input gradient (B, L, m), so its memory
    grows linearly.  Target: RHEL's increase grows at most 10% from 1k to
    100k steps.

(b) **Wall time** of one RHEL gradient against one BPTT gradient on the same
    problem: LinearHRU P = 256, 16 inputs, batch 8, L = 50,000, pooled
    cross-entropy, float64, RHEL with ``input_gradient=False`` (BPTT has no
    such switch and computes dL/du as well).  Target: RHEL at most 1.5 times
    BPTT.  Best of ``--repeats`` after a warm-up.

(c) **float32 agreement**: RHEL in float32 with default settings against
    float64 BPTT, LinearHRU P = 64, 16 inputs, batch 8, L = 50,000, pooled
    cross-entropy.  Target: cosine >= 0.999 and norm ratio within 1% for
    every parameter tensor and the input gradient (the initial-state
    gradients are printed too, outside the target).

(d) **nonlinear devices** (issue 14): RHEL with default settings (paired
    echoes where the system has pair kernels, else the balanced nudge) and
    with ``estimator="richardson"`` against BPTT, float64, MSE read-out, on
    NonlinearHRU.random(64, 64, step=...) at steps 1e-4, 1e-2 and 0.1, the
    Josephson example (physsim.examples) and the FPU chain of docs/user_systems.md,
    at L = 1,000 and 10,000.  Error of a tensor:
    ``max|g_rhel - g_bptt| / max|g_bptt|`` (every parameter tensor, the
    input gradient and the initial-state gradients); the figure is the worst
    over tensors, systems and lengths.  Targets 1e-6 (default) and 1e-9
    (Richardson).  float32, L = 50,000, NonlinearHRU step 1e-4: smallest
    per-tensor cosine against float64 BPTT (target >= 0.9999, norm within 0.1%).
    For the NonlinearHRU rows, BPTT and default RHEL are also compared with the
    gradient computed in 80-bit arithmetic
    (:func:`physsim.systems.hru_reference.nonlinear_hru_gradient_longdouble`): how
    close float64 itself can come on that device.

Targets are printed, never asserted.

Usage::

    python benchmarks/bench_rhel.py [--quick] [--json FILE] [--repeats N]

JSON keys: ``rhel_mem_growth_1k_to_100k``, ``bptt_mem_growth_1k_to_100k`` (ratio of
the memory increase at the longest length to that at the shortest),
``rhel_over_bptt_time``, ``f32_min_cosine``, ``f32_max_norm_ratio_error``
(largest ``|norm ratio - 1|``), ``nonlinear_default_max_rel_err_f64``,
``nonlinear_richardson_max_rel_err_f64``, ``nonlinear_f32_min_cosine``,
``nonlinear_hru_bptt_vs_80bit_max_rel_err_f64``,
``nonlinear_hru_default_vs_80bit_max_rel_err_f64``,
``nonlinear_hru_rhel80_vs_bptt_max_rel_err`` (paired RHEL run in 80-bit arithmetic,
:func:`physsim.systems.hru_reference.nonlinear_hru_rhel_longdouble`, against float64
BPTT: what the estimator gives when the device's arithmetic is wider).  With
``--quick`` the lengths are smaller (1k, 3k, 10k for memory; P = 32 and L = 2,000
for (b) and (c); P = 16, L = 1,000 for (d), float32 L = 2,000) but the keys keep
their names.
"""

from __future__ import annotations

import argparse
import functools
import gc
import importlib.util
import json
import os
import re
import subprocess
import sys
import tempfile
import time
from dataclasses import asdict, dataclass
from pathlib import Path

import numba
import numpy as np

import physsim
from physsim import LinearHRU, NonlinearHRU
from physsim.bptt import bptt_gradient
from physsim.examples import three_node_josephson_circuit
from physsim.gradients import compare
from physsim.losses import MSEReadout, PooledCrossEntropy
from physsim.rhel import rhel_gradient
from physsim.systems.hru_reference import (nonlinear_hru_gradient_longdouble,
                                           nonlinear_hru_rhel_longdouble)

from _common import (benchmark_parser, current_rss_bytes, peak_rss_bytes, release_free_heap,
                     reset_peak_rss, run_benchmark)

# issue 3 targets (reported, not asserted)
TARGET_RHEL_MEM_GROWTH = 1.10
TARGET_TIME_RATIO = 1.5
TARGET_COSINE = 0.999
TARGET_NORM_RATIO_ERROR = 0.01
N_CLASSES = 10
WARMUP_STEPS = 64


@dataclass(frozen=True)
class Problem:
    """A LinearHRU gradient problem: sizes and seed."""

    units: int
    inputs: int
    batch: int
    n_steps: int
    seed: int = 0


@dataclass(frozen=True)
class Sizes:
    """Sizes of one benchmark run."""

    memory_lengths: tuple[int, ...]
    memory_units: int
    time_units: int
    time_steps: int
    f32_units: int
    f32_steps: int
    batch: int
    inputs: int
    repeats: int
    nonlinear_lengths: tuple[int, ...] = (1_000, 10_000)
    nonlinear_units: int = 64
    nonlinear_f32_steps: int = 50_000


FULL = Sizes(memory_lengths=(1_000, 10_000, 100_000), memory_units=256, time_units=256,
             time_steps=50_000, f32_units=64, f32_steps=50_000, batch=8, inputs=16, repeats=2)
QUICK = Sizes(memory_lengths=(1_000, 3_000, 10_000), memory_units=32, time_units=32,
              time_steps=2_000, f32_units=32, f32_steps=2_000, batch=8, inputs=16, repeats=3,
              nonlinear_lengths=(1_000,), nonlinear_units=16, nonlinear_f32_steps=2_000)


# ------------------------------------------------------------------ problems
def build(problem: Problem):
    """System, initial positions, inputs and a loss factory for ``problem``.

    Inputs are standard normal (B, L, m); the read-out (10 classes) is
    normal / sqrt(P) and the labels uniform.  A new loss object is made per
    gradient because the losses keep the run length.
    """
    rng = np.random.default_rng(problem.seed)
    system = LinearHRU.random(problem.units, problem.inputs, rng=rng)
    u = rng.standard_normal((problem.batch, problem.n_steps, problem.inputs))
    readout = rng.standard_normal((N_CLASSES, problem.units)) / np.sqrt(problem.units)
    labels = rng.integers(0, N_CLASSES, problem.batch)
    q0 = np.zeros((problem.batch, problem.units))

    def make_loss() -> PooledCrossEntropy:
        return PooledCrossEntropy(readout, labels)

    return system, q0, u, make_loss


def gradient(method: str, system, q0, u, loss, dtype=np.float64):
    """One gradient by ``method`` ("rhel" in its O(1)-memory configuration, or "bptt")."""
    if method == "rhel":
        return rhel_gradient(system, q0, None, u, loss, dtype=dtype, input_gradient=False)
    if method == "bptt":
        return bptt_gradient(system, q0, None, u, loss, dtype=dtype)
    raise ValueError(f"unknown method {method!r}; valid names are: rhel, bptt")


# ------------------------------------------------------------- (a) memory
def memory_worker(method: str, problem: Problem) -> dict:
    """Measure one gradient's memory in this process (run in a fresh subprocess).

    Returns
    -------
    dict
        ``baseline_mb`` (RSS before the gradient, after the inputs and a
        warm-up), ``peak_mb`` (peak RSS after it), ``increase_mb`` (their
        difference), ``inputs_mb``, ``seconds`` and ``peak_reset`` (False if
        the peak could not be reset after the warm-up, so it may include it).
    """
    system, q0, u, make_loss = build(problem)
    gradient(method, system, q0, np.ascontiguousarray(u[:, :WARMUP_STEPS]), make_loss())
    gc.collect()
    release_free_heap()
    reset = reset_peak_rss()
    baseline = current_rss_bytes()
    t0 = time.perf_counter()
    gradient(method, system, q0, u, make_loss())
    seconds = time.perf_counter() - t0
    peak = peak_rss_bytes()
    mb = 1024.0**2
    return dict(method=method, n_steps=problem.n_steps, baseline_mb=baseline / mb,
                peak_mb=peak / mb, increase_mb=(peak - baseline) / mb, inputs_mb=u.nbytes / mb,
                seconds=seconds, peak_reset=reset)


def measure_memory_in_subprocess(method: str, problem: Problem) -> dict:
    """Run :func:`memory_worker` in a new interpreter and return its result."""
    env = dict(os.environ)
    # the child imports the same physsim as this process
    root = os.path.dirname(os.path.dirname(os.path.abspath(physsim.__file__)))
    env["PYTHONPATH"] = os.pathsep.join([root] + [p for p in env.get("PYTHONPATH", "").split(
        os.pathsep) if p])
    cmd = [sys.executable, os.path.abspath(__file__), "--memory-worker",
           json.dumps({"method": method, **asdict(problem)})]
    proc = subprocess.run(cmd, capture_output=True, text=True, env=env)
    if proc.returncode != 0:
        raise RuntimeError(f"memory worker {method} L={problem.n_steps} failed "
                           f"(exit {proc.returncode}):\n{proc.stderr[-4000:]}")
    return json.loads(proc.stdout.strip().splitlines()[-1])


# --------------------------------------------------------------- (b) time
def best_time(fn, repeats: int) -> tuple[float, list[float]]:
    """Best wall time of ``repeats`` calls and all times, seconds."""
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return min(times), times


def measure_time(problem: Problem, repeats: int) -> dict:
    """Best wall time of RHEL and BPTT gradients (and of a bare forward run, for scale)."""
    system, q0, u, make_loss = build(problem)
    warm = np.ascontiguousarray(u[:, :WARMUP_STEPS])
    out = {}
    for method in ("rhel", "bptt"):
        gradient(method, system, q0, warm, make_loss())
        out[method], out[method + "_all"] = best_time(
            lambda m=method: gradient(m, system, q0, u, make_loss()), repeats)
    physsim.simulate(system, q0, None, warm, sum_positions=True)
    out["forward"], _ = best_time(
        lambda: physsim.simulate(system, q0, None, u, sum_positions=True), repeats)
    out["ratio"] = out["rhel"] / out["bptt"]
    return out


# ------------------------------------------------------ (c) float32 agreement
def measure_float32(problem: Problem) -> dict:
    """Per-tensor agreement of float32 RHEL (defaults) with float64 BPTT."""
    system, q0, u, make_loss = build(problem)
    reference = bptt_gradient(system, q0, None, u, make_loss(), dtype=np.float64)
    result = rhel_gradient(system, q0, None, u, make_loss(), dtype=np.float32)
    agreements = compare(result, reference)
    targeted = [name for name in agreements if name in system.param_names or name == "inputs"]
    return dict(agreements=agreements, targeted=targeted, eps=result.info["eps"],
                min_cosine=min(agreements[n].cosine for n in targeted),
                max_norm_ratio_error=max(abs(agreements[n].norm_ratio - 1.0) for n in targeted))


def _nonlinear_problem(name: str, units: int, n_steps: int, seed: int = 0):
    """(system, q0, inputs, loss, dt) of a named nonlinear device, MSE read-out."""
    rng = np.random.default_rng(seed)
    if name.startswith("hru"):
        system, dt, scale = NonlinearHRU.random(units, units, step=float(name[4:]), rng=rng), \
            None, 1.0
    elif name == "josephson":
        system, dt, scale = three_node_josephson_circuit("natural"), 0.005, 1.0
    else:
        system, dt, scale = _fpu_chain()(mass=1.0, stiffness=1.0, beta=2.0,
                                         input_matrix=np.eye(8)[:, :1]), 0.1, 0.1
    n, m = system.n_dof, system.input_matrix.shape[1]
    u = scale * rng.standard_normal((1, n_steps, m))
    loss = MSEReadout(rng.standard_normal((2, n)) / np.sqrt(n),
                      0.3 * rng.standard_normal((1, n_steps, 2)))
    return system, np.zeros(n), u, loss, dt


@functools.cache
def _fpu_chain():
    """The FPUChain class of docs/user_systems.md (its code block, executed)."""
    doc = Path(__file__).resolve().parents[1] / "docs" / "user_systems.md"
    block = [b for b in re.findall(r"```python\n(.*?)```", doc.read_text(), flags=re.S)
             if b.startswith("# fpu_chain.py")][0]
    path = Path(tempfile.gettempdir()) / "physsim_bench_fpu" / "fpu_chain.py"
    path.parent.mkdir(exist_ok=True)
    if not path.exists() or path.read_text() != block:
        path.write_text(block)  # rewritten only on change: numba caches by timestamp
    spec = importlib.util.spec_from_file_location("fpu_chain", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fpu_chain"] = module  # dataclasses look their module up by name
    spec.loader.exec_module(module)
    return module.FPUChain


def _max_rel_error(result, reference) -> float:
    ra, rb = result.tensors(), reference.tensors()
    return max(float(np.max(np.abs(ra[k] - rb[k])) / np.max(np.abs(rb[k]))) for k in rb
               if k in ra and np.max(np.abs(rb[k])) > 0)


def _max_rel_error_to(params: dict, truth: dict) -> float:
    """Worst ``max|a - b| / max|b|`` of float64 parameter gradients against an 80-bit set."""
    return max(float(np.max(np.abs(np.asarray(params[k], np.longdouble).reshape(t.shape) - t))
                     / np.max(np.abs(t))) for k, t in truth.items())


def measure_nonlinear(sizes: Sizes, log=print) -> dict:
    """(d): worst relative errors of default and Richardson RHEL; float32 cosine."""
    rows = []
    for n_steps in sizes.nonlinear_lengths:
        for name in ("hru_1e-4", "hru_1e-2", "hru_0.1", "josephson", "fpu"):
            system, q0, u, loss, dt = _nonlinear_problem(name, sizes.nonlinear_units, n_steps)
            ref = bptt_gradient(system, q0, None, u, loss, dt=dt)
            row = dict(system=name, n_steps=n_steps)
            for est in ("centred", "richardson"):
                got = rhel_gradient(system, q0, None, u, loss, dt=dt, estimator=est)
                row[est] = _max_rel_error(got, ref)
                row[est + "_passes"] = got.info["passes"]
                row["paired"] = got.info["paired_echoes"]
                if est == "centred" and name.startswith("hru"):
                    # how far float64 itself is from the gradient: an 80-bit reference
                    truth = nonlinear_hru_gradient_longdouble(system, u, loss.readout,
                                                              loss.targets)
                    row["bptt_vs_80bit"] = _max_rel_error_to(ref.params, truth)
                    row["default_vs_80bit"] = _max_rel_error_to(got.params, truth)
                    # the same estimator with the device's arithmetic in 80 bits
                    rhel80 = nonlinear_hru_rhel_longdouble(system, u, loss.readout,
                                                           loss.targets)
                    row["rhel80_vs_bptt"] = _max_rel_error_to(
                        rhel80, {k: np.asarray(v, np.longdouble) for k, v in ref.params.items()})
            floor = (f"; against 80-bit: BPTT {row['bptt_vs_80bit']:.1e}, default "
                     f"{row['default_vs_80bit']:.1e}; 80-bit RHEL against BPTT "
                     f"{row['rhel80_vs_bptt']:.1e}" if "bptt_vs_80bit" in row else "")
            log(f"  (d) {name:>9} L={n_steps:>6}: default {row['centred']:.1e} "
                f"({row['centred_passes']} passes), Richardson {row['richardson']:.1e} "
                f"({row['richardson_passes']} passes), "
                f"{'paired' if row['paired'] else 'separate'} echoes{floor}")
            rows.append(row)
    system, q0, u, loss, dt = _nonlinear_problem("hru_1e-4", sizes.nonlinear_units,
                                                 sizes.nonlinear_f32_steps)
    ref = bptt_gradient(system, q0, None, u, loss)
    got = rhel_gradient(system, q0, None, u, loss, dtype=np.float32)
    agreements = {k: a for k, a in compare(got, ref).items() if k in system.param_names}
    log("  (d) float32 L={}: ".format(sizes.nonlinear_f32_steps)
        + ", ".join(f"{k} {a.cosine:.6f}/{a.norm_ratio:.5f}" for k, a in agreements.items()))
    return dict(rows=rows, f32=agreements,
                default=max(r["centred"] for r in rows),
                richardson=max(r["richardson"] for r in rows),
                bptt_vs_80bit=max(r["bptt_vs_80bit"] for r in rows if "bptt_vs_80bit" in r),
                default_vs_80bit=max(r["default_vs_80bit"] for r in rows
                                     if "default_vs_80bit" in r),
                rhel80_vs_bptt=max(r["rhel80_vs_bptt"] for r in rows if "rhel80_vs_bptt" in r),
                f32_min_cosine=min(a.cosine for a in agreements.values()),
                f32_max_norm_ratio_error=max(abs(a.norm_ratio - 1) for a in agreements.values()))


# ------------------------------------------------------------------ driver
def run(sizes: Sizes, log=print) -> dict:
    """Run (a), (b) and (c); return the detailed results and the JSON figures."""
    # compile (or load) every kernel here once, so the workers find a warm numba cache
    system, q0, u, make_loss = build(Problem(sizes.memory_units, sizes.inputs, sizes.batch,
                                             WARMUP_STEPS))
    for method in ("rhel", "bptt"):
        gradient(method, system, q0, u, make_loss())
    memory = []
    for method in ("rhel", "bptt"):
        for n_steps in sizes.memory_lengths:
            problem = Problem(sizes.memory_units, sizes.inputs, sizes.batch, n_steps)
            r = measure_memory_in_subprocess(method, problem)
            log(f"  (a) {method:4s} L={n_steps:>7}: +{r['increase_mb']:.3f} MB "
                f"(inputs {r['inputs_mb']:.1f} MB, {r['seconds']:.1f} s)")
            memory.append(r)

    def growth(method):
        inc = {r["n_steps"]: r["increase_mb"] for r in memory if r["method"] == method}
        return inc[sizes.memory_lengths[-1]] / inc[sizes.memory_lengths[0]]

    timing = measure_time(Problem(sizes.time_units, sizes.inputs, sizes.batch, sizes.time_steps),
                          sizes.repeats)
    log(f"  (b) RHEL {timing['rhel']:.2f} s, BPTT {timing['bptt']:.2f} s, "
        f"forward {timing['forward']:.2f} s")
    f32 = measure_float32(Problem(sizes.f32_units, sizes.inputs, sizes.batch, sizes.f32_steps))
    log(f"  (c) min cosine {f32['min_cosine']:.6f}, max |norm ratio - 1| "
        f"{f32['max_norm_ratio_error']:.2e}")
    nonlinear = measure_nonlinear(sizes, log)
    figures = {
        "nonlinear_default_max_rel_err_f64": nonlinear["default"],
        "nonlinear_richardson_max_rel_err_f64": nonlinear["richardson"],
        "nonlinear_hru_bptt_vs_80bit_max_rel_err_f64": nonlinear["bptt_vs_80bit"],
        "nonlinear_hru_default_vs_80bit_max_rel_err_f64": nonlinear["default_vs_80bit"],
        "nonlinear_hru_rhel80_vs_bptt_max_rel_err": nonlinear["rhel80_vs_bptt"],
        "nonlinear_f32_min_cosine": nonlinear["f32_min_cosine"],
        "rhel_mem_growth_1k_to_100k": growth("rhel"),
        "bptt_mem_growth_1k_to_100k": growth("bptt"),
        "rhel_over_bptt_time": timing["ratio"],
        "f32_min_cosine": f32["min_cosine"],
        "f32_max_norm_ratio_error": f32["max_norm_ratio_error"],
    }
    return dict(memory=memory, timing=timing, float32=f32, nonlinear=nonlinear,
                figures=figures)


def format_table(result: dict, sizes: Sizes) -> str:
    """Readable tables of (a), (b), (c) and the verdicts on the targets."""
    f = result["figures"]
    lengths = sizes.memory_lengths

    def verdict(ok):
        return "met" if ok else "MISSED"

    lines = [f"(a) peak memory increase over inputs + warm-up, LinearHRU P={sizes.memory_units}, "
             f"{sizes.inputs} inputs, batch {sizes.batch}, pooled cross-entropy (MB)",
             f"{'L':>9}" + "".join(f"{m:>12}" for m in ("RHEL", "BPTT", "inputs"))]
    for n_steps in lengths:
        row = {r["method"]: r for r in result["memory"] if r["n_steps"] == n_steps}
        lines.append(f"{n_steps:>9}{row['rhel']['increase_mb']:>12.3f}"
                     f"{row['bptt']['increase_mb']:>12.1f}{row['rhel']['inputs_mb']:>12.1f}")
    if not all(r["peak_reset"] for r in result["memory"]):
        lines.append("(peak RSS could not be reset after the warm-up: peaks may include it)")
    lines.append("(RSS counts 4 KiB pages: increases below about 0.1 MB differ by a few pages "
                 "from run to run)")
    lines += [
        f"growth {lengths[0]} -> {lengths[-1]} steps: RHEL x{f['rhel_mem_growth_1k_to_100k']:.3f} "
        f"(target <= x{TARGET_RHEL_MEM_GROWTH}: "
        f"{verdict(f['rhel_mem_growth_1k_to_100k'] <= TARGET_RHEL_MEM_GROWTH)}), "
        f"BPTT x{f['bptt_mem_growth_1k_to_100k']:.1f} (x{lengths[-1] / lengths[0]:.0f} for linear)",
        "",
    ]
    t = result["timing"]
    lines += [
        f"(b) one gradient, LinearHRU P={sizes.time_units}, {sizes.inputs} inputs, batch "
        f"{sizes.batch}, L={sizes.time_steps}, float64 (best of {sizes.repeats}; "
        f"{numba.get_num_threads()} numba threads)",
        f"    RHEL (input_gradient=False) {t['rhel']:8.2f} s   "
        f"[{', '.join(f'{x:.2f}' for x in t['rhel_all'])}]",
        f"    BPTT (always with dL/du)    {t['bptt']:8.2f} s   "
        f"[{', '.join(f'{x:.2f}' for x in t['bptt_all'])}]",
        f"    bare forward simulate       {t['forward']:8.2f} s   (RHEL = forward + 2 echoes)",
        f"RHEL / BPTT = {f['rhel_over_bptt_time']:.3f} (target <= {TARGET_TIME_RATIO}: "
        f"{verdict(f['rhel_over_bptt_time'] <= TARGET_TIME_RATIO)})",
        "",
    ]
    c = result["float32"]
    lines += [
        f"(c) float32 RHEL (defaults, eps={c['eps']:.3g}) vs float64 BPTT, LinearHRU "
        f"P={sizes.f32_units}, {sizes.inputs} inputs, batch {sizes.batch}, L={sizes.f32_steps}",
        f"{'tensor':>10}{'cosine':>12}{'norm ratio':>12}{'max rel err':>13}",
    ]
    for name, a in c["agreements"].items():
        note = "" if name in c["targeted"] else "   (not in target)"
        lines.append(f"{name:>10}{a.cosine:>12.6f}{a.norm_ratio:>12.6f}"
                     f"{a.max_relative_error:>13.2e}{note}")
    ok = (f["f32_min_cosine"] >= TARGET_COSINE
          and f["f32_max_norm_ratio_error"] <= TARGET_NORM_RATIO_ERROR)
    lines.append(f"min cosine {f['f32_min_cosine']:.6f} (>= {TARGET_COSINE}), "
                 f"max |norm ratio - 1| {f['f32_max_norm_ratio_error']:.2e} "
                 f"(<= {TARGET_NORM_RATIO_ERROR}): {verdict(ok)}")
    d = result["nonlinear"]
    lines += ["", "(d) nonlinear devices, float64, worst tensor max|a-b|/max|b| against BPTT",
              f"default    {f['nonlinear_default_max_rel_err_f64']:.2e} (<= 1e-6: "
              f"{verdict(f['nonlinear_default_max_rel_err_f64'] <= 1e-6)})",
              f"Richardson {f['nonlinear_richardson_max_rel_err_f64']:.2e} (<= 1e-9: "
              f"{verdict(f['nonlinear_richardson_max_rel_err_f64'] <= 1e-9)})",
              f"float32 min cosine {f['nonlinear_f32_min_cosine']:.6f} (>= 0.9999), max |norm "
              f"ratio - 1| {d['f32_max_norm_ratio_error']:.1e} (<= 1e-3): "
              + verdict(f["nonlinear_f32_min_cosine"] >= 0.9999
                        and d["f32_max_norm_ratio_error"] <= 1e-3),
              "NonlinearHRU against its 80-bit gradient (how close float64 can come): BPTT "
              f"{f['nonlinear_hru_bptt_vs_80bit_max_rel_err_f64']:.1e}, default RHEL "
              f"{f['nonlinear_hru_default_vs_80bit_max_rel_err_f64']:.1e}; RHEL with the "
              "device in 80-bit arithmetic against float64 BPTT "
              f"{f['nonlinear_hru_rhel80_vs_bptt_max_rel_err']:.1e}"]
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    """Run the benchmark; print the tables, write JSON if asked, return the JSON figures."""
    parser = benchmark_parser(
        __doc__,
        quick_help=("small sizes (under a minute): memory at L=1k/3k/10k with P=32; "
                    "P=32, L=2,000 for time and float32"),
        repeats_help="timed gradients per method in (b); the best is reported")
    parser.add_argument("--memory-worker", metavar="SPEC", help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.memory_worker:
        spec = json.loads(args.memory_worker)
        method = spec.pop("method")
        print(json.dumps(memory_worker(method, Problem(**spec))))
        return {}
    return run_benchmark("bench_rhel", args, parser, QUICK, FULL, run, format_table,
                         f"physsim from {os.path.dirname(physsim.__file__)}, numba "
                         f"{numba.__version__}, {numba.get_num_threads()} threads")


if __name__ == "__main__":
    main(sys.argv[1:])
