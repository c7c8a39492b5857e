"""Minimal tree utilities for named parameter, state and costate containers.

HL keeps weights, neuron states and their costates as *named* containers
(``dict`` of arrays, possibly nested, and ``NamedTuple``) instead of flat
vectors with magic slices.  These helpers map a function over the leaves of
such containers, which is all the HL integrator needs (axpy-type updates).
"""

from __future__ import annotations

from typing import Any, Callable

import numpy as np

Tree = Any  # ndarray | dict[str, Tree] | NamedTuple of Trees


def _is_namedtuple(obj: Any) -> bool:
    return isinstance(obj, tuple) and hasattr(obj, "_fields")


def tree_map(fn: Callable[..., Any], tree: Tree, *rest: Tree) -> Tree:
    """Apply ``fn`` leaf-wise to one or more trees of identical structure.

    Parameters
    ----------
    fn : callable
        Called as ``fn(leaf, *other_leaves)`` for every leaf.
    tree, *rest : Tree
        Containers (``dict``, ``NamedTuple``) of arrays with the same keys.

    Returns
    -------
    Tree
        A container of the same structure holding ``fn``'s results.
    """
    if isinstance(tree, dict):
        for other in rest:
            if not isinstance(other, dict) or len(other) != len(tree):
                _structure_error(tree, *rest)
        out = {}
        for key, value in tree.items():
            try:
                others = [other[key] for other in rest]
            except KeyError:
                _structure_error(tree, *rest)
            out[key] = tree_map(fn, value, *others)
        return out
    if _is_namedtuple(tree):
        return type(tree)(*(tree_map(fn, leaf, *(other[i] for other in rest))
                            for i, leaf in enumerate(tree)))
    return fn(tree, *rest)


def _structure_error(*trees: Tree) -> None:
    raise ValueError("tree structures differ: " + " vs ".join(
        str(list(t)) if isinstance(t, dict) else type(t).__name__ for t in trees))


def tree_leaves(tree: Tree) -> list[np.ndarray]:
    """Leaves of ``tree`` in a deterministic order (dict insertion order)."""
    if isinstance(tree, dict):
        return [leaf for k in tree for leaf in tree_leaves(tree[k])]
    if _is_namedtuple(tree):
        return [leaf for sub in tree for leaf in tree_leaves(sub)]
    return [tree]


def tree_zeros_like(tree: Tree) -> Tree:
    """Return a tree of zero arrays with the shapes and dtypes of ``tree``."""
    return tree_map(np.zeros_like, tree)


def tree_copy(tree: Tree) -> Tree:
    """Deep copy of the arrays of ``tree``."""
    return tree_map(lambda a: np.array(a, copy=True), tree)


def tree_max_abs_diff(a: Tree, b: Tree) -> float:
    """Largest absolute element-wise difference between two trees."""
    diffs = tree_leaves(tree_map(lambda x, y: float(np.max(np.abs(x - y), initial=0.0)), a, b))
    return float(max(diffs, default=0.0))


def tree_all_finite(tree: Tree) -> bool:
    """Return True when every leaf holds only finite numbers."""
    return all(bool(np.all(np.isfinite(leaf))) for leaf in tree_leaves(tree))


def tree_lincomb(decay: float, x: Tree, *terms: tuple[float, Tree | None]) -> Tree:
    """``decay * x + sum(coef * term)`` leaf-wise: the Euler update of a costate.

    Terms given as ``None`` are skipped; a coefficient of exactly 1 is not
    multiplied and a decay of exactly 0 drops ``x``, so that the update has the
    same floating-point form as ``omega <- mu omega + (1 - rho) g`` of
    SGD/momentum (bitwise equality with the references needs this).

    Parameters
    ----------
    decay : float
        Factor multiplying ``x``.
    x : Tree
    *terms : (float, Tree or None)
        Coefficients and trees with the structure of ``x``.

    Returns
    -------
    Tree
        Same structure as ``x``; zeros if every part was dropped.
    """
    present = [(c, t) for c, t in terms if t is not None]
    coefs = [c for c, _ in present]

    def leaf(xl, *tl):
        out = decay * xl if decay != 0.0 else None
        for c, t in zip(coefs, tl):
            term = t if c == 1.0 else c * t
            out = term if out is None else out + term
        return np.zeros_like(xl) if out is None else out

    return tree_map(leaf, x, *(t for _, t in present))
