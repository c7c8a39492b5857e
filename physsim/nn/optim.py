"""Optimisers over named parameter dicts (numpy, in-place updates).

:class:`Adam` matches ``optax.adam`` (used by the RHEL code): with gradient ``g`` at
step ``t = 1, 2, ...``::

    m <- beta1 m + (1 - beta1) g
    v <- beta2 v + (1 - beta2) g^2
    theta <- theta - lr * (m / (1 - beta1^t)) / (sqrt(v / (1 - beta2^t)) + eps)

Its state converts to a flat dict of plain arrays (:meth:`Adam.state_dict`) for
checkpoints (e.g. HDF5) and back (:meth:`Adam.load_state_dict`).
"""

from __future__ import annotations

from typing import Mapping

import numpy as np

__all__ = ["Adam"]


class Adam:
    """Adam optimiser (Kingma & Ba 2015) over ``{name: array}`` parameters.

    Parameters
    ----------
    lr : float, default 1e-3
        Learning rate (step size, in units of the parameters).
    beta1, beta2 : float, default 0.9, 0.999
        Decay rates of the first and second moment estimates.
    eps : float, default 1e-8
        Added to ``sqrt(v_hat)`` in the denominator (optax's ``eps``).

    Notes
    -----
    :meth:`step` updates the given arrays **in place**, so it works on
    ``layer.parameters()`` of any :mod:`physsim.nn` layer or container. Moment
    estimates are created on the first step for the names seen then; later steps must
    use the same names and shapes.
    """

    def __init__(
        self, lr: float = 1e-3, beta1: float = 0.9, beta2: float = 0.999, eps: float = 1e-8
    ) -> None:
        if not lr > 0:
            raise ValueError(f"lr must be positive, got {lr}")
        for nm, b in (("beta1", beta1), ("beta2", beta2)):
            if not 0.0 <= b < 1.0:
                raise ValueError(f"{nm} must be in [0, 1), got {b}")
        if not eps >= 0:
            raise ValueError(f"eps must be non-negative, got {eps}")
        self.lr, self.beta1, self.beta2, self.eps = (
            float(lr),
            float(beta1),
            float(beta2),
            float(eps),
        )
        self.t = 0
        self.m: dict[str, np.ndarray] = {}
        self.v: dict[str, np.ndarray] = {}

    def step(self, params: Mapping[str, np.ndarray], grads: Mapping[str, np.ndarray]) -> None:
        """Apply one Adam update to ``params`` in place.

        Parameters
        ----------
        params : mapping of str to ndarray
            Parameters to update (modified in place).
        grads : mapping of str to ndarray
            Gradient of the loss for each parameter, same names and shapes.

        Raises
        ------
        ValueError
            If names or shapes disagree (with the parameters or with earlier steps).
        FloatingPointError
            If a gradient contains NaN or inf (nothing is updated then).
        """
        if set(params) != set(grads):
            raise ValueError(
                "parameter and gradient names differ: only in params "
                f"{sorted(set(params) - set(grads))}, "
                f"only in grads {sorted(set(grads) - set(params))}"
            )
        if self.m and set(params) != set(self.m):
            raise ValueError(
                f"parameter names changed since the first step: now {sorted(params)}, "
                f"state has {sorted(self.m)}"
            )
        for k, p in params.items():
            g = grads[k]
            if g.shape != p.shape:
                raise ValueError(f"gradient of {k!r} has shape {g.shape}, parameter has {p.shape}")
            if not np.all(np.isfinite(g)):
                raise FloatingPointError(
                    f"gradient of {k!r} contains NaN or inf; no update applied"
                )
        if not self.m:
            self.m = {k: np.zeros_like(p) for k, p in params.items()}
            self.v = {k: np.zeros_like(p) for k, p in params.items()}
        self.t += 1
        b1, b2 = self.beta1, self.beta2
        c1 = 1.0 - b1**self.t
        c2 = 1.0 - b2**self.t
        for k, p in params.items():
            g = grads[k]
            m, v = self.m[k], self.v[k]
            m *= b1
            m += (1.0 - b1) * g
            v *= b2
            v += (1.0 - b2) * g * g
            p -= self.lr * (m / c1) / (np.sqrt(v / c2) + self.eps)

    def state_dict(self) -> dict[str, np.ndarray]:
        """Optimiser state as plain arrays.

        Returns
        -------
        dict
            ``"step"`` (0-d int64), ``"hyper"`` (lr, beta1, beta2, eps), and
            ``"m/<name>"``, ``"v/<name>"`` copies of the moment estimates.
        """
        out = {
            "step": np.array(self.t, dtype=np.int64),
            "hyper": np.array([self.lr, self.beta1, self.beta2, self.eps]),
        }
        for k in self.m:
            out[f"m/{k}"] = self.m[k].copy()
            out[f"v/{k}"] = self.v[k].copy()
        return out

    def load_state_dict(self, state: Mapping[str, np.ndarray]) -> None:
        """Restore a state from :meth:`state_dict` (copies the arrays).

        Parameters
        ----------
        state : mapping of str to ndarray
        """
        if "step" not in state or "hyper" not in state:
            raise KeyError("Adam state must contain 'step' and 'hyper'")
        self.t = int(state["step"])
        self.lr, self.beta1, self.beta2, self.eps = (float(v) for v in np.asarray(state["hyper"]))
        m_keys = {k[2:] for k in state if k.startswith("m/")}
        v_keys = {k[2:] for k in state if k.startswith("v/")}
        if m_keys != v_keys:
            raise KeyError(
                f"inconsistent Adam state: m for {sorted(m_keys)}, v for {sorted(v_keys)}"
            )
        self.m = {k: np.array(state[f"m/{k}"], copy=True) for k in m_keys}
        self.v = {k: np.array(state[f"v/{k}"], copy=True) for k in v_keys}
