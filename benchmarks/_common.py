"""Helpers shared by the benchmark scripts (run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os
import resource
import sys


def load_average() -> float:
    """1-minute load average (NaN where the OS has none): cores other processes take."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


def benchmark_parser(doc: str, *, quick_help: str, repeats_help: str | None = None,
                     json_type=str) -> argparse.ArgumentParser:
    """The options every benchmark takes: ``--quick``, ``--json FILE`` and, if asked, ``--repeats``.

    Parameters
    ----------
    doc : str
        The script's docstring; its first line is the description.
    quick_help : str
        What ``--quick`` shrinks (it must run in seconds).
    repeats_help : str, optional
        Help of ``--repeats N`` (timed calls, best kept); omitted when None.
    json_type : callable
        Type of the ``--json`` value (``str`` or ``pathlib.Path``).

    Returns
    -------
    argparse.ArgumentParser
        Further options may be added by the caller.
    """
    parser = argparse.ArgumentParser(description=doc.strip().splitlines()[0])
    parser.add_argument("--quick", action="store_true", help=quick_help)
    parser.add_argument("--json", metavar="FILE", type=json_type,
                        help="write the figures as a flat JSON object")
    if repeats_help is not None:
        parser.add_argument("--repeats", type=int, default=None, help=repeats_help)
    return parser


def with_repeats(parser: argparse.ArgumentParser, sizes, repeats: int | None):
    """``sizes`` (a dataclass with a ``repeats`` field) with ``--repeats`` applied."""
    if repeats is None:
        return sizes
    if repeats < 1:
        parser.error("--repeats must be a positive integer")
    return dataclasses.replace(sizes, repeats=repeats)


def report(result: dict, table: str, json_path: str | None) -> dict:
    """Print the table, write ``result["figures"]`` as flat JSON if asked, return them."""
    print(table)
    if json_path:
        with open(json_path, "w") as fh:
            json.dump(result["figures"], fh, indent=2)
        print(f"wrote {json_path}")
    return result["figures"]


def run_benchmark(name: str, args: argparse.Namespace, parser: argparse.ArgumentParser,
                  quick, full, run, format_table, setting: str) -> dict:
    """Pick the sizes, print one header line, run, print the table and report the figures.

    Parameters
    ----------
    name : str
        Script name for the header (e.g. ``"bench_rhel"``).
    args, parser
        The parsed ``--quick``, ``--repeats`` and ``--json`` options and their parser.
    quick, full
        Size dataclasses (with a ``repeats`` field) for ``--quick`` and the full run.
    run : callable
        ``run(sizes, log=...) -> result`` with ``result["figures"]`` a flat dict.
    format_table : callable
        ``format_table(result, sizes) -> str``.
    setting : str
        What the header says about the machine and software besides the load average.

    Returns
    -------
    dict
        The figures (as written to ``--json``).
    """
    sizes = with_repeats(parser, quick if args.quick else full, args.repeats)
    print(f"{name} ({'quick' if args.quick else 'full'}): {setting}, "
          f"load average {load_average():.2f}", flush=True)
    result = run(sizes, log=lambda s: print(s, flush=True))
    return report(result, format_table(result, sizes), args.json)


# ------------------------------------------------ memory of a process (Linux first)
def current_rss_bytes() -> int:
    """Resident set size now (Linux /proc; falls back to the peak elsewhere)."""
    try:
        with open("/proc/self/statm") as fh:
            return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE")
    except OSError:
        return peak_rss_bytes()


def peak_rss_bytes() -> int:
    """Peak RSS of this address space, bytes.

    Linux: ``VmHWM`` of /proc/self/status, which :func:`reset_peak_rss`
    resets.  ``ru_maxrss`` is not used there: across ``exec`` Linux carries
    the parent's peak over into the child's ``ru_maxrss``, so a worker started
    by a large parent would report the parent's peak.  Elsewhere ``ru_maxrss``.
    """
    try:
        with open("/proc/self/status") as fh:
            for line in fh:
                if line.startswith("VmHWM:"):
                    return int(line.split()[1]) * 1024
    except OSError:
        pass
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    return int(peak) * (1 if sys.platform == "darwin" else 1024)  # bytes on macOS, KiB on Linux


def reset_peak_rss() -> bool:
    """Reset the peak RSS to the current RSS (Linux >= 4.0); False where not possible.

    Without it the peak would include transients of the warm-up (e.g. LLVM
    compiling on a cold numba cache), which are not the gradient's memory.
    """
    try:
        with open("/proc/self/clear_refs", "w") as fh:
            fh.write("5")
    except OSError:
        return False
    return True


def release_free_heap() -> bool:
    """Give memory freed by the warm-up back to the OS (glibc ``malloc_trim``); False elsewhere.

    Otherwise the gradient would reuse the warm-up's freed blocks without its
    RSS growing, and an O(1)-memory gradient would show no increase at all.
    """
    try:
        import ctypes  # noqa: PLC0415

        return bool(ctypes.CDLL("libc.so.6").malloc_trim(0) or True)
    except (OSError, AttributeError):
        return False
