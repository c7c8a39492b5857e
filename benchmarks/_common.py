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
