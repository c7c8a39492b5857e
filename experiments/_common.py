"""Helpers shared by the experiment scripts (run as ``python experiments/exp_*.py``)."""

from __future__ import annotations

from pathlib import Path

import numpy as np

from physsim.hl import tree_leaves, tree_map


def reproduce_section(script: str, argv: list[str] | None) -> list[str]:
    """The closing lines of a results note: the command that wrote it, as Markdown.

    Parameters
    ----------
    script : str
        The experiment's ``__file__``.
    argv : list of str or None
        The arguments it was run with.

    Returns
    -------
    list of str
        ``Reproduce:`` and a fenced code block with ``python experiments/<script> <argv>``.
    """
    command = " ".join([f"python experiments/{Path(script).name}", *(argv or [])])
    return ["Reproduce:", "", "```", command, "```", ""]


def param_diff_stats(a, b) -> tuple[float, float]:
    """Largest and mean ``|a - b|`` over every entry of two parameter trees of one structure.

    Parameters
    ----------
    a, b : dict or NamedTuple of ndarray (nested)
        Parameters, costates or gradients with the same keys (matched by key, not order).

    Returns
    -------
    tuple of float
        ``(max, mean)`` absolute difference.
    """
    diffs = np.concatenate([d.ravel() for d in
                            tree_leaves(tree_map(lambda x, y: np.abs(x - y), a, b))])
    return float(diffs.max()), float(diffs.mean())
