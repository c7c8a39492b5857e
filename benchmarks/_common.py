"""Helpers shared by the benchmark scripts (run as ``python benchmarks/bench_*.py``)."""

from __future__ import annotations

import argparse
import dataclasses
import json
import os


def load_average() -> float:
    """1-minute load average (NaN where the OS has none): cores other processes take."""
    return os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")


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
