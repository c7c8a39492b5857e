"""Helpers shared by the experiment scripts (run as ``python experiments/exp_*.py``)."""

from __future__ import annotations

from pathlib import Path


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
