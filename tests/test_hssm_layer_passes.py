"""The HRU layer runs each physical pass once: its forward pass is reused by the gradient.

RHEL needs a forward pass and one pair of echoes (3 passes of the device), BPTT a forward
pass and the adjoint; the layer's own forward pass is the forward pass of both.  The
gradients must be the same bits as those of the stand-alone gradient functions, which run
their own forward pass, and RHEL must still agree with BPTT.
"""

from __future__ import annotations

import numpy as np
import pytest

import physsim.bptt
import physsim.hssm.layers
import physsim.passes
import physsim.rhel
from physsim.bptt import bptt_gradient
from physsim.losses import CotangentSequence
from physsim.hssm import HRULayer
from physsim.rhel import rhel_gradient

L, H, P = 60, 3, 4


@pytest.fixture
def pass_counter(monkeypatch):
    """Counts calls of forward_pass and echo_passes wherever the layer's path imports them."""
    counts = {"forward": 0, "echo": 0}

    def counting(name, fn):
        def wrapped(*args, **kwargs):
            counts[name] += 1
            return fn(*args, **kwargs)
        return wrapped

    forward = counting("forward", physsim.passes.forward_pass)
    for module in (physsim.hssm.layers, physsim.rhel, physsim.bptt):
        monkeypatch.setattr(module, "forward_pass", forward)
    monkeypatch.setattr(physsim.rhel, "echo_passes",
                        counting("echo", physsim.passes.echo_passes))
    return counts


def _layer(kind, rule, **kwargs):
    layer = HRULayer(kind, H, P, rng=np.random.default_rng(1), rule=rule, **kwargs)
    if kind == "nonlinear":  # a step large enough for the dynamics to matter in 60 steps
        layer.params["log_step"][:] = np.log(0.05)
    return layer


def _data(batch=2):
    rng = np.random.default_rng(2)
    return rng.standard_normal((batch, L, H)), rng.standard_normal((batch, L, H))


def _forward_backward(layer, x, g):
    layer.forward(x)
    return layer.backward(g)


@pytest.mark.parametrize("kind, kwargs, echo_pairs", [
    ("linear", {}, 1),
    ("nonlinear", {"relative_nudge": 1e-4}, 1),  # fixed nudge: no pilot pair
    ("nonlinear", {}, None),                      # balanced nudge: 1 or 2 pairs (info)
])
def test_rhel_layer_runs_one_forward_pass(pass_counter, kind, kwargs, echo_pairs):
    layer = _layer(kind, "rhel", **kwargs)
    x, g = _data()
    _forward_backward(layer, x, g)
    assert pass_counter["forward"] == 1
    passes = layer.last_backward_info["passes"]
    assert pass_counter["echo"] == (echo_pairs if echo_pairs else (passes - 1) // 2)
    assert 1 + 2 * pass_counter["echo"] == passes


@pytest.mark.parametrize("kind", ["linear", "nonlinear"])
def test_bptt_layer_runs_one_forward_pass(pass_counter, kind):
    layer = _layer(kind, "bptt")
    x, g = _data()
    _forward_backward(layer, x, g)
    assert pass_counter == {"forward": 1, "echo": 0}


def test_rule_changed_after_forward_runs_the_pass_again(pass_counter):
    layer = _layer("nonlinear", "bptt")
    x, g = _data()
    layer.forward(x)
    layer.rule = "rhel"  # the recorded pass has no read-out for the balanced nudge
    layer.backward(g)
    assert pass_counter["forward"] == 2


@pytest.mark.parametrize("kind", ["linear", "nonlinear"])
@pytest.mark.parametrize("rule", ["rhel", "bptt"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_reused_forward_pass_gives_the_same_bits(kind, rule, dtype):
    """Layer gradients == the stand-alone gradient function's, which runs its own pass."""
    layer = _layer(kind, rule, dtype=dtype)
    x, g = _data()
    grad_x = _forward_backward(layer, x, g)
    system = layer.system()
    # the layer hands its cotangents over in the device's dtype
    loss = CotangentSequence((g @ layer._readout()).astype(dtype))
    q0 = np.zeros((x.shape[0], system.n_dof))
    if rule == "rhel":
        ref = rhel_gradient(system, q0, None, x, loss, relative_nudge=layer.relative_nudge,
                            dtype=dtype)
    else:
        ref = bptt_gradient(system, q0, None, x, loss, dtype=dtype)
    np.testing.assert_array_equal(grad_x, ref.input_gradient + layer.params["D"] * g)
    B_name = "B" if kind == "nonlinear" else "B_re"
    np.testing.assert_array_equal(layer.grads[B_name], ref.params[B_name])


@pytest.mark.parametrize("kind", ["linear", "nonlinear"])
def test_rhel_layer_agrees_with_bptt_layer(kind):
    x, g = _data()
    rhel, bptt = _layer(kind, "rhel"), _layer(kind, "bptt")
    gx_rhel, gx_bptt = _forward_backward(rhel, x, g), _forward_backward(bptt, x, g)
    np.testing.assert_allclose(gx_rhel, gx_bptt, rtol=0, atol=1e-6 * np.abs(gx_bptt).max())
    for name, ref in bptt.grads.items():
        np.testing.assert_allclose(rhel.grads[name], ref, rtol=0,
                                   atol=1e-6 * max(np.abs(ref).max(), 1e-300), err_msg=name)


def test_forward_without_what_the_estimate_needs_is_refused():
    layer = _layer("nonlinear", "rhel")
    x, g = _data()
    system = layer.system()
    run = physsim.rhel.prepare_run(system)
    batch = physsim.rhel.prepare_batch(run, np.zeros((2, system.n_dof)), None, x)
    bare = physsim.passes.forward_pass(run, batch.start, batch.inputs)  # no read-out
    cotangents = CotangentSequence(g @ layer._readout())  # (2, L, P): dL/dq_k of the layer
    with pytest.raises(ValueError, match="readout=True"):
        # separate echoes: the balanced nudge reads the forward pass's read-out
        rhel_gradient(system, np.zeros((2, system.n_dof)), None, x, cotangents,
                      forward=bare, paired=False)
    with pytest.raises(ValueError, match="record_every=1"):
        bptt_gradient(system, np.zeros((2, system.n_dof)), None, x, cotangents,
                      forward=bare)
