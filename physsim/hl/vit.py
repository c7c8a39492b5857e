"""One-layer vision transformer cell (the paper's MNIST ViT, research/hl.md section 4).

Layout for a square ``image_size x image_size`` image cut into
``n_patches = (image_size / patch_size)^2`` non-overlapping patches of
``patch_size^2`` pixels, width ``d`` (the paper: 28x28 MNIST, 7x7 patches,
so 16 patches of 49 pixels, ``d = 30``)::

    E   = P W_p^T + b_p                      patch embedding, P: (n_patches, patch_size^2)
    X   = [c; E] + pos                       class token c prepended, learned positions
    Y   = LayerNorm(X) * gamma + beta        the one LayerNorm (pre-attention)
    A   = softmax(Q K^T / sqrt(d)),  Q, K, V = Y W_{q,k,v}^T + b_{q,k,v}   one head
    R   = X + (A V) W_o^T + b_o              attention with residual
    Z   = R + GELU(R W_1^T + b_1) W_2^T + b_2   feed-forward d -> d -> d with residual
    y   = W_h Z[0] + b_h                     classifier on the class token

The class token (not mean pooling) feeds the classifier, as in the original
ViT.  The paper says "1 LayerNorm" and "FFN 30->30"; where it puts the
LayerNorm is not said, here it is before the attention.  GELU is the exact
(erf) form.
"""

from __future__ import annotations

from typing import Any

import numpy as np
from scipy.special import erf

from .cell import Cell, CellVJP, check_positive_int

__all__ = ["VisionTransformer"]

_INV_SQRT2 = 1.0 / np.sqrt(2.0)
_INV_SQRT_2PI = 1.0 / np.sqrt(2.0 * np.pi)


class VisionTransformer(Cell):
    """One encoder layer, one attention head, class-token classifier (module docstring).

    Parameters
    ----------
    image_size : int
        Side of the square input image in pixels; the input ``u`` is the
        row-major flattened image of shape ``(image_size**2,)``.
    patch_size : int
        Side of a square patch; must divide ``image_size``.
    d_model : int
        Token width (also the attention and feed-forward width).
    n_out : int
        Number of classes.
    layer_norm_eps : float, default 1e-5
        Added to the variance in the LayerNorm (PyTorch default).

    Notes
    -----
    Parameters: ``patch_weight`` ``(d, patch_size^2)``, ``patch_bias`` ``(d,)``,
    ``class_token`` ``(d,)``, ``position`` ``(n_patches + 1, d)``,
    ``norm_scale``, ``norm_shift`` ``(d,)``, ``query_weight``, ``key_weight``,
    ``value_weight``, ``attention_out_weight``, ``ffn_weight1``, ``ffn_weight2``
    ``(d, d)`` with biases ``query_bias`` ... ``ffn_bias2`` ``(d,)``,
    ``head_weight`` ``(n_out, d)``, ``head_bias`` ``(n_out,)``.  As state
    network its state is the logits vector ``(n_out,)``.
    """

    _SQUARE = ("query", "key", "value", "attention_out", "ffn1", "ffn2")

    def __init__(self, image_size: int, patch_size: int, d_model: int, n_out: int,
                 layer_norm_eps: float = 1e-5) -> None:
        self.image_size = check_positive_int("image_size", image_size)
        self.patch_size = check_positive_int("patch_size", patch_size)
        if self.image_size % self.patch_size:
            raise ValueError(f"patch_size {patch_size} does not divide image_size {image_size}")
        self.d_model = check_positive_int("d_model", d_model)
        self.n_out = check_positive_int("n_out", n_out)
        if not (np.isfinite(layer_norm_eps) and layer_norm_eps > 0):
            raise ValueError(f"layer_norm_eps must be > 0, got {layer_norm_eps!r}")
        self.eps = float(layer_norm_eps)
        self.n_side = self.image_size // self.patch_size
        self.n_patches = self.n_side ** 2
        self.n_input = self.image_size ** 2

    @property
    def param_shapes(self) -> dict[str, tuple[int, ...]]:
        """Names and shapes of the parameters (see the class docstring)."""
        d = self.d_model
        shapes: dict[str, tuple[int, ...]] = {
            "patch_weight": (d, self.patch_size ** 2), "patch_bias": (d,),
            "class_token": (d,), "position": (self.n_patches + 1, d),
            "norm_scale": (d,), "norm_shift": (d,)}
        for name in ("query", "key", "value", "attention_out"):
            shapes[f"{name}_weight"] = (d, d)
            shapes[f"{name}_bias"] = (d,)
        shapes.update({"ffn_weight1": (d, d), "ffn_bias1": (d,),
                       "ffn_weight2": (d, d), "ffn_bias2": (d,),
                       "head_weight": (self.n_out, d), "head_bias": (self.n_out,)})
        return shapes

    def init_params(self, rng=None, dtype: Any = np.float64) -> dict[str, np.ndarray]:
        """Linear layers uniform in ``+-1/sqrt(fan_in)``; LayerNorm scale 1, shift 0;
        class token and positions normal with standard deviation 0.02 (ViT)."""
        rng = np.random.default_rng(rng)
        out = {}
        for name, shape in self.param_shapes.items():
            if name == "norm_scale":
                out[name] = np.ones(shape, dtype=dtype)
            elif name == "norm_shift":
                out[name] = np.zeros(shape, dtype=dtype)
            elif name in ("class_token", "position"):
                out[name] = (0.02 * rng.standard_normal(shape)).astype(dtype)
            else:
                fan_in = self.patch_size ** 2 if name.startswith("patch") else self.d_model
                bound = 1.0 / np.sqrt(fan_in)
                out[name] = rng.uniform(-bound, bound, size=shape).astype(dtype)
        return out

    def initial_state(self, dtype: Any = np.float64) -> np.ndarray:
        """Zero logits vector of shape ``(n_out,)`` (state-network use)."""
        return np.zeros(self.n_out, dtype=dtype)

    def patches(self, u: np.ndarray) -> np.ndarray:
        """Cut the flattened image into patches, row-major: ``(n_patches, patch_size**2)``."""
        s, p = self.n_side, self.patch_size
        return u.reshape(s, p, s, p).transpose(0, 2, 1, 3).reshape(self.n_patches, p * p)

    def forward(self, params, u, h):
        """Evaluate the map; see :meth:`Cell.forward`."""
        if np.shape(u) != (self.n_input,):
            raise ValueError(f"VisionTransformer expects a flattened image of shape "
                             f"({self.n_input},), got {np.shape(u)}")
        p = params
        patches = self.patches(u)
        embedded = patches @ p["patch_weight"].T + p["patch_bias"]
        x = np.concatenate([p["class_token"][None, :], embedded]) + p["position"]
        centred = x - x.mean(axis=1, keepdims=True)
        inv_std = 1.0 / np.sqrt((centred * centred).mean(axis=1, keepdims=True) + self.eps)
        x_hat = centred * inv_std
        y = x_hat * p["norm_scale"] + p["norm_shift"]
        q = y @ p["query_weight"].T + p["query_bias"]
        k = y @ p["key_weight"].T + p["key_bias"]
        v = y @ p["value_weight"].T + p["value_bias"]
        scores = (q @ k.T) * (1.0 / np.sqrt(self.d_model))
        scores = np.exp(scores - scores.max(axis=1, keepdims=True))
        attn = scores / scores.sum(axis=1, keepdims=True)
        mixed = attn @ v
        r = x + (mixed @ p["attention_out_weight"].T + p["attention_out_bias"])
        pre = r @ p["ffn_weight1"].T + p["ffn_bias1"]
        cdf = 0.5 * (1.0 + erf(pre * _INV_SQRT2))
        act = pre * cdf
        z = r + (act @ p["ffn_weight2"].T + p["ffn_bias2"])
        logits = p["head_weight"] @ z[0] + p["head_bias"]
        ctx = (patches, x_hat, inv_std, y, q, k, v, attn, mixed, r, pre, cdf, act, z)
        return logits, ctx

    def vjp(self, params, ctx, cotangent):
        """Vector-Jacobian product; see :meth:`Cell.vjp`."""
        p = params
        patches, x_hat, inv_std, y, q, k, v, attn, mixed, r, pre, cdf, act, z = ctx
        g = {"head_weight": np.outer(cotangent, z[0]), "head_bias": cotangent.copy()}
        d_z = np.zeros_like(z)
        d_z[0] = p["head_weight"].T @ cotangent
        # feed-forward block with residual
        g["ffn_weight2"] = d_z.T @ act
        g["ffn_bias2"] = d_z.sum(axis=0)
        d_pre = (d_z @ p["ffn_weight2"]) * (cdf + pre * np.exp(-0.5 * pre * pre) * _INV_SQRT_2PI)
        g["ffn_weight1"] = d_pre.T @ r
        g["ffn_bias1"] = d_pre.sum(axis=0)
        d_r = d_z + d_pre @ p["ffn_weight1"]
        # attention with residual
        g["attention_out_weight"] = d_r.T @ mixed
        g["attention_out_bias"] = d_r.sum(axis=0)
        d_mixed = d_r @ p["attention_out_weight"]
        d_attn = d_mixed @ v.T
        d_v = attn.T @ d_mixed
        d_scores = attn * (d_attn - (d_attn * attn).sum(axis=1, keepdims=True))
        d_scores = d_scores * (1.0 / np.sqrt(self.d_model))
        d_q = d_scores @ k
        d_k = d_scores.T @ q
        d_y = np.zeros_like(y)
        for name, d_out in (("query", d_q), ("key", d_k), ("value", d_v)):
            g[f"{name}_weight"] = d_out.T @ y
            g[f"{name}_bias"] = d_out.sum(axis=0)
            d_y = d_y + d_out @ p[f"{name}_weight"]
        # LayerNorm
        g["norm_scale"] = (d_y * x_hat).sum(axis=0)
        g["norm_shift"] = d_y.sum(axis=0)
        d_x_hat = d_y * p["norm_scale"]
        d_x = d_r + inv_std * (d_x_hat - d_x_hat.mean(axis=1, keepdims=True)
                               - x_hat * (d_x_hat * x_hat).mean(axis=1, keepdims=True))
        # embedding
        g["position"] = d_x
        g["class_token"] = d_x[0].copy()
        g["patch_weight"] = d_x[1:].T @ patches
        g["patch_bias"] = d_x[1:].sum(axis=0)
        s, ps = self.n_side, self.patch_size
        d_patches = d_x[1:] @ p["patch_weight"]
        d_u = d_patches.reshape(s, s, ps, ps).transpose(0, 2, 1, 3).reshape(self.n_input)
        g = {name: g[name] for name in self.param_shapes}
        return CellVJP(input=d_u, state=None, params=g)
