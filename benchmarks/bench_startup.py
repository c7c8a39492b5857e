"""Start-up and first-run time of the ``physsim`` command (issue 13, point 1).

Each case runs the installed ``physsim`` console script (``python -m
physsim.cli`` where there is none) in a subprocess, with ``NUMBA_CACHE_DIR``
pointing at a temporary folder:

* ``cold_help_s``: ``physsim --help`` with an empty numba cache;
* ``cold_demo_quick_s``: ``physsim demo --quick --quiet`` with an empty cache
  (every kernel the demo uses is compiled: the time a new user waits);
* ``warm_demo_quick_s``: the same demo again, with the cache the cold run left;
* ``warm_help_s``, ``warm_info_s``: ``physsim --help`` and ``physsim info``
  with that warm cache.

Wall-clock seconds; warm cases are the best of ``--repeats`` runs, cold cases
run once each (a cold run fills its cache).  The machine may be shared: the
load average before and after is printed and stored, and so is the CPU time
(user + system) of each case, which depends less on other processes.

Targets (issue 13, 2-core machine): ``cold_help_s`` <= 2, ``warm_info_s`` <=
1, ``cold_demo_quick_s`` <= 60.  They are printed, never asserted.

Usage::

    python benchmarks/bench_startup.py [--quick] [--json FILE] [--repeats N]

``--quick`` runs each warm case once.  JSON keys: ``cold_help_s``,
``warm_help_s``, ``warm_info_s``, ``cold_demo_quick_s``, ``warm_demo_quick_s``
and, for each, ``<case>_cpu_s``; ``compile_notices`` (lines the cold demo
printed about compiling), ``load_before``, ``load_after``.
"""

from __future__ import annotations

import os
import resource
import shutil
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from _common import benchmark_parser, load_average, report

TARGETS = {"cold_help_s": 2.0, "warm_info_s": 1.0, "cold_demo_quick_s": 60.0}
#: Start of the line physsim prints before compiling a time loop.
NOTICE = "physsim: compiling"


def physsim_command() -> list[str]:
    """The ``physsim`` console script of this interpreter's environment, or ``-m physsim.cli``."""
    script = Path(sys.executable).with_name("physsim")
    return [str(script)] if script.is_file() else [sys.executable, "-m", "physsim.cli"]


def timed(args: list[str], cache_dir: Path, cwd: Path) -> tuple[float, float, str]:
    """Run ``physsim ARGS``; return wall seconds, CPU seconds (user + system) and stderr.

    Raises
    ------
    RuntimeError
        If the command fails (its stderr is in the message).
    """
    env = dict(os.environ, NUMBA_CACHE_DIR=str(cache_dir))
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(physsim_command() + args, env=env, cwd=cwd, capture_output=True,
                          text=True)
    wall = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise RuntimeError(f"physsim {' '.join(args)} exited with {proc.returncode}:\n"
                           f"{proc.stderr}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return wall, cpu, proc.stderr


def run(repeats: int, log) -> dict:
    """Time every case; ``result["figures"]`` is the flat dict written to ``--json``."""
    figures: dict[str, float | int] = {"load_before": load_average()}
    work = Path(tempfile.mkdtemp(prefix="bench_startup_"))
    try:
        cold_help_cache = work / "cold_help_cache"
        cache = work / "numba_cache"

        def case(key: str, args: list[str], cache_dir: Path, n: int) -> str:
            runs = [timed(args, cache_dir, work) for _ in range(n)]
            wall, cpu, stderr = min(runs)
            figures[key] = wall
            figures[key.removesuffix("_s") + "_cpu_s"] = cpu
            log(f"  {key:<20}{wall:8.2f} s  (cpu {cpu:6.2f} s)")
            return stderr

        case("cold_help_s", ["--help"], cold_help_cache, 1)
        stderr = case("cold_demo_quick_s", ["demo", "--quick", "--quiet", "--out",
                                            str(work / "demo")], cache, 1)
        figures["compile_notices"] = sum(line.startswith(NOTICE)
                                         for line in stderr.splitlines())
        case("warm_demo_quick_s", ["demo", "--quick", "--quiet", "--out", str(work / "demo")],
             cache, repeats)
        case("warm_help_s", ["--help"], cache, repeats)
        case("warm_info_s", ["info"], cache, repeats)
    finally:
        shutil.rmtree(work, ignore_errors=True)
    figures["load_after"] = load_average()
    return {"figures": figures}


def format_table(figures: dict) -> str:
    """The figures against their targets, one line each."""
    lines = [f"{'case':<20}{'wall [s]':>10}{'cpu [s]':>10}{'target [s]':>12}"]
    for key in ("cold_help_s", "warm_help_s", "warm_info_s", "cold_demo_quick_s",
                "warm_demo_quick_s"):
        target = TARGETS.get(key)
        verdict = "" if target is None else (
            f"{'<=' if figures[key] <= target else '> '} {target:g}")
        lines.append(f"{key:<20}{figures[key]:>10.2f}"
                     f"{figures[key.removesuffix('_s') + '_cpu_s']:>10.2f}{verdict:>12}")
    lines.append(f"compile notices printed by the cold demo: {figures['compile_notices']}; "
                 f"load average {figures['load_before']:.2f} before, "
                 f"{figures['load_after']:.2f} after")
    return "\n".join(lines)


def main(argv: list[str] | None = None) -> dict:
    """Parse the options, run the cases, print and optionally write the figures."""
    parser = benchmark_parser(
        __doc__, quick_help="each warm case once",
        repeats_help="runs of each warm case (best is kept; default 3, 1 with --quick)")
    args = parser.parse_args(argv)
    repeats = args.repeats if args.repeats is not None else (1 if args.quick else 3)
    if repeats < 1:
        parser.error("--repeats must be a positive integer")
    print(f"bench_startup ({'quick' if args.quick else 'full'}): {os.cpu_count()} cores, "
          f"command {' '.join(physsim_command())}, load average {load_average():.2f}",
          flush=True)
    figures = run(repeats, log=lambda s: print(s, flush=True))["figures"]
    return report({"figures": figures}, format_table(figures), args.json)


if __name__ == "__main__":
    main()
