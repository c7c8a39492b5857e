"""Provenance of experiment results: the git commit of the code that produced them."""

from __future__ import annotations

import subprocess
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent


def code_version(root: Path = ROOT) -> str:
    """Short git commit of ``root`` and whether its ``physsim/`` has uncommitted changes.

    Returns ``"unknown"`` outside a git checkout.
    """
    def git(*args: str) -> str:
        return subprocess.run(["git", *args], cwd=root, capture_output=True,
                              text=True).stdout.strip()

    commit = git("rev-parse", "--short=12", "HEAD") or "unknown"
    dirty = git("status", "--porcelain", "--", "physsim")
    return commit + (" (with uncommitted changes in physsim/)" if dirty else "")
