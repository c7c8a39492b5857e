"""HSSM layers and model: backward passes against central finite differences (float64),
RHEL against BPTT for single layers and whole chained models, and input checks.

The finite-difference references only call ``forward``; BPTT is the discrete adjoint of
the integrator (independent of RHEL), and RHEL is checked against BPTT with the chaining
through the digital layers included.
"""

from __future__ import annotations

import numpy as np
import pytest

from conftest import central_difference_gradient, relative_error
from physsim.gradients import agreement
from physsim.hssm import HRULayer, HSSM, HSSMConfig

RTOL_FD = 1e-6  # relative error allowed between backward and central differences
FD_STEP = 1e-4  # fourth-order stencil: truncation O(h^4), round-off O(1e-16 / h)


pytestmark = pytest.mark.usefixtures("one_numba_thread")


def _derivative(f, arr, direction, h=FD_STEP):
    """Fourth-order central difference of f along ``direction``, perturbing ``arr`` in place."""
    old = arr.copy()
    vals = []
    for s in (2, 1, -1, -2):
        arr[...] = old + s * h * direction
        vals.append(f())
    arr[...] = old
    return (-vals[0] + 8 * vals[1] - 8 * vals[2] + vals[3]) / (12 * h)


LAYER_CASES = [
    pytest.param("linear", True, {}, id="linear-complex"),
    pytest.param("linear", False, {}, id="linear-real"),
    pytest.param("nonlinear", False, {"nonlinear_step": 0.3}, id="nonlinear-log-step"),
    pytest.param("nonlinear", False, {"nonlinear_step": 0.3, "step_parametrization": "raw"},
                 id="nonlinear-raw-step"),
]


def _layer(kind, cplx, kw, rule="bptt", seed=0):
    return HRULayer(kind, 3, 4, rng=np.random.default_rng(seed), complex=cplx, rule=rule, **kw)


@pytest.mark.parametrize("kind, cplx, kw", LAYER_CASES)
def test_hru_layer_backward_matches_finite_differences(kind, cplx, kw):
    """BPTT-rule backward of sum(R * layer(x)) against FD for every raw parameter and x."""
    layer = _layer(kind, cplx, kw)
    rng = np.random.default_rng(1)
    x = rng.standard_normal((2, 12, 3))
    r = rng.standard_normal((2, 12, 3))
    layer.forward(x)
    gx = layer.backward(r)
    grads = {k: v.copy() for k, v in layer.gradients().items()}

    def loss():
        return float(np.sum(layer.forward(x) * r))

    errors = {"x": relative_error(gx, central_difference_gradient(loss, x))}
    for name, p in layer.parameters().items():
        errors[name] = relative_error(grads[name], central_difference_gradient(loss, p))
    assert set(grads) == set(layer.parameters())
    bad = {k: f"{e:.2e}" for k, e in errors.items() if not e < RTOL_FD}
    assert not bad, f"gradients off: {bad}"


@pytest.mark.parametrize("kind, cplx, kw", LAYER_CASES)
def test_hru_layer_rhel_matches_bptt(kind, cplx, kw):
    """RHEL rule = BPTT rule: exact (round-off) for linear units, O(nudge^2) for nonlinear."""
    rng = np.random.default_rng(2)
    x = rng.standard_normal((3, 40, 3))
    r = rng.standard_normal((3, 40, 3))
    out = {}
    for rule in ("bptt", "rhel"):
        layer = _layer(kind, cplx, kw, rule=rule)
        layer.forward(x)
        gx = layer.backward(r)
        out[rule] = {**layer.gradients(), "x": gx}
    tol = 1e-10 if kind == "linear" else 1e-6
    for name, ref in out["bptt"].items():
        assert relative_error(out["rhel"][name], ref) < tol, name
    # every trainable parameter gets a non-zero gradient under RHEL, the step included
    for name, g in out["rhel"].items():
        assert np.linalg.norm(g) > 0, name


@pytest.mark.parametrize("kind", ["linear", "nonlinear"])
def test_hru_layer_one_sided_estimator(kind):
    """Forward + one echo: an O(nudge) bias (for linear units too), small at the default."""
    rng = np.random.default_rng(2)
    x, r = rng.standard_normal((2, 3, 40, 3))
    out = {}
    for rule in ("bptt", "rhel"):
        layer = HRULayer(kind, 3, 4, rng=np.random.default_rng(0), rule=rule,
                         estimator="one_sided", nonlinear_step=0.3)
        layer.forward(x)
        gx = layer.backward(r)
        out[rule] = {**layer.gradients(), "x": gx}
    assert layer.last_backward_info["estimator"] == "one_sided"
    for name, ref in out["bptt"].items():
        assert relative_error(out["rhel"][name], ref) < 1e-3, name


def test_nonlinear_step_is_trained_by_rhel():
    """The step lives in H: RHEL returns its exact (non-zero) gradient, equal to BPTT's."""
    g = {}
    for rule in ("rhel", "bptt"):
        layer = HRULayer("nonlinear", 2, 3, rng=np.random.default_rng(5), nonlinear_step=0.2,
                         rule=rule)
        x = np.random.default_rng(6).standard_normal((2, 30, 2))
        layer.forward(x)
        layer.backward(np.ones((2, 30, 2)))
        g[rule] = float(layer.grads["log_step"][0])
    assert abs(g["bptt"]) > 1e-3
    assert g["rhel"] == pytest.approx(g["bptt"], rel=1e-7)


def test_hru_layer_parametrisation_and_init():
    """Physical parameters follow the paper's maps and initial ranges."""
    lin = HRULayer("linear", 4, 50, rng=np.random.default_rng(0))
    s = lin.system()
    p = lin.params
    assert np.all(s.A == np.maximum(p["A_raw"], 0)) and np.all((s.A >= 0) & (s.A <= 1))
    assert np.allclose(s.step, 1 / (1 + np.exp(-p["steps_raw"])))
    assert np.all((s.step > 0.5) & (s.step < 0.732))
    assert s.complex and s.n_dof == 100 and lin.n_dof == 100
    assert np.max(np.abs(p["B_re"])) <= 0.5 and np.max(np.abs(p["C_im"])) <= 1 / np.sqrt(50)
    nl = HRULayer("nonlinear", 4, 50, rng=np.random.default_rng(0))
    s = nl.system()
    assert s.step == pytest.approx(1e-4)
    assert np.all((s.c > 0.5) & (s.c < 0.732))  # sigmoid(sigmoid(U(-1, 1)))
    assert np.all((s.W >= 0.5) & (s.W <= 1)) and np.all(s.b == 0) and 0.1 <= s.alpha <= 1


def test_complex_readout_is_real_part_of_complex_product():
    """o = Re(C y) + D x with y = y_re + i y_im from the two oscillator banks."""
    layer = HRULayer("linear", 3, 4, rng=np.random.default_rng(3))
    x = np.random.default_rng(4).standard_normal((2, 10, 3))
    o = layer.forward(x)
    y = layer._cache[1]
    p = layer.params
    yc = y[..., :4] + 1j * y[..., 4:]
    expected = np.real(yc @ (p["C_re"] + 1j * p["C_im"]).T) + p["D"] * x
    np.testing.assert_allclose(o, expected, rtol=1e-13, atol=1e-13)


def test_hru_layer_errors():
    rng = np.random.default_rng(0)
    with pytest.raises(ValueError, match="valid names are: linear, nonlinear"):
        HRULayer("quadratic", 2, 2, rng=rng)
    layer = HRULayer("linear", 2, 2, rng=rng)
    with pytest.raises(ValueError, match="valid names are: rhel, bptt"):
        layer.rule = "ep"
    with pytest.raises(ValueError, match=r"expects \(batch, length, 2\)"):
        layer.forward(np.zeros((1, 5, 3)))
    with pytest.raises(RuntimeError, match="before forward"):
        HRULayer("linear", 2, 2, rng=rng).backward(np.zeros((1, 5, 2)))
    with pytest.raises(TypeError, match="Generator"):
        HRULayer("linear", 2, 2, rng=0)
    with pytest.raises(ValueError, match="nonlinear_step must be positive"):
        HRULayer("nonlinear", 2, 2, rng=rng, nonlinear_step=0.0)


# ----------------------------------------------------------------------------- model
def _model(hru, task="classification", *, step=0.2, rule="bptt", seed=0):
    cfg = HSSMConfig(n_inputs=3, n_outputs=4 if task == "classification" else 2, task=task,
                     hru=hru, n_blocks=2, hidden=5, units=4, nonlinear_step=step, rule=rule,
                     output_step=5)
    return HSSM(cfg, seed)


def _batch(task, L=50):
    rng = np.random.default_rng(11)
    x = rng.standard_normal((3, L, 3))
    if task == "classification":
        return x, rng.integers(0, 4, 3), np.array([L, L - 7, L - 20])
    return x, np.tanh(rng.standard_normal((3, L // 5, 2))), None


MODEL_CASES = [pytest.param("linear", "classification", id="linear-classification"),
               pytest.param("nonlinear", "classification", id="nonlinear-classification"),
               pytest.param("linear", "regression", id="linear-regression"),
               pytest.param("nonlinear", "regression", id="nonlinear-regression")]


@pytest.mark.parametrize("hru, task", MODEL_CASES)
def test_hssm_bptt_matches_finite_differences(hru, task):
    """Whole model in training mode (batch statistics, fixed dropout masks) against FD
    along two random directions per parameter tensor, and along the input."""
    model = _model(hru, task)
    x, y, lengths = _batch(task)
    res, grads = model.loss_and_gradients(x, y, lengths, rng=np.random.default_rng(5))
    grads = {k: v.copy() for k, v in grads.items()}
    gx = model.backward(res.grad)  # input gradient (same forward cache)

    def loss():
        out = model.forward(x, lengths, training=True, rng=np.random.default_rng(5))
        return model.loss(out, y).loss

    d = np.random.default_rng(8)
    errors = {}
    for name, p in list(model.parameters().items()) + [("x", x)]:
        g = gx if name == "x" else grads[name]
        for j in range(2):
            v = d.standard_normal(p.shape)
            v /= np.linalg.norm(v)
            errors[f"{name}[{j}]"] = abs(_derivative(loss, p, v) - np.sum(g * v)) / max(
                np.linalg.norm(g), 1e-300)
    bad = {k: f"{e:.2e}" for k, e in errors.items() if not e < RTOL_FD}
    assert not bad, f"directional derivatives off: {bad}"


@pytest.mark.parametrize("hru, task", MODEL_CASES)
def test_hssm_rhel_matches_bptt(hru, task):
    """RHEL chained through the digital layers = BPTT: cosine >= 0.99999 and norm ratio
    within 1e-4 for every parameter tensor (2 blocks, L = 50, float64)."""
    model = _model(hru, task)
    x, y, lengths = _batch(task)
    ref = {k: v.copy() for k, v in
           model.loss_and_gradients(x, y, lengths, rng=np.random.default_rng(5))[1].items()}
    model.rule = "rhel"
    assert model.rule == "rhel"
    _, got = model.loss_and_gradients(x, y, lengths, rng=np.random.default_rng(5))
    assert [layer.last_backward_info["method"] for layer in model.hru_layers] == \
        ["rhel-centred"] * 2
    for name, g in got.items():
        a = agreement(g, ref[name])
        assert a.cosine >= 0.99999 and abs(a.norm_ratio - 1) <= 1e-4, (name, a)


def test_hssm_structure_and_names():
    model = _model("nonlinear")
    names = set(model.parameters())
    for i in range(2):
        for k in ("W", "b", "c_raw", "alpha_raw", "log_step", "B", "C", "D"):
            assert f"blocks.{i}.hru.{k}" in names
        for k in ("weight1", "bias1", "weight2", "bias2"):
            assert f"blocks.{i}.glu.{k}" in names
    assert {"encoder.weight", "encoder.bias", "readout.weight", "readout.bias"} <= names
    assert set(model.state()) == {f"blocks.{i}.norm.{k}" for i in range(2)
                                  for k in ("running_mean", "running_var", "initialised")}
    assert model.n_parameters() == sum(v.size for v in model.parameters().values())
    # the same seed gives the same model; another seed another
    a, b, c = (_model("linear", seed=s).parameters() for s in (3, 3, 4))
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert not all(np.array_equal(a[k], c[k]) for k in a)


def test_hssm_eval_mode_is_deterministic_and_masks_padding():
    model = _model("linear")
    x, _, lengths = _batch("classification")
    model.forward(x, lengths, training=True, rng=np.random.default_rng(0))  # fill BN stats
    o1 = model.forward(x, lengths)
    x2 = x.copy()
    x2[1, lengths[1]:] = 100.0  # padded steps of case 1 (causal model: earlier steps unchanged)
    o2 = model.forward(x2, lengths)
    np.testing.assert_array_equal(o1, model.forward(x, lengths))
    np.testing.assert_allclose(o2, o1, rtol=1e-12)


def test_hssm_config_errors():
    base = dict(n_inputs=2, n_outputs=3, task="classification")
    with pytest.raises(ValueError, match=r"unknown key\(s\) \['blocks'\]; allowed keys"):
        HSSMConfig.from_dict({"blocks": 2}, **base)
    with pytest.raises(ValueError, match="contradicts the data"):
        HSSMConfig.from_dict({"n_inputs": 5}, **base)
    with pytest.raises(ValueError, match="valid names are: linear, nonlinear"):
        HSSMConfig(**base, hru="lstm")
    with pytest.raises(ValueError, match="valid names are: classification, regression"):
        HSSMConfig(n_inputs=2, n_outputs=3, task="ranking")
    with pytest.raises(ValueError, match="n_blocks must be a positive integer"):
        HSSMConfig(**base, n_blocks=0)
    with pytest.raises(ValueError, match="dropout must be in"):
        HSSMConfig(**base, dropout=1.0)
    with pytest.raises(ValueError, match="relative_nudge must be a positive number"):
        HSSMConfig(**base, relative_nudge=-1.0)
    with pytest.raises(ValueError, match="expects inputs"):
        HSSM(HSSMConfig(**base)).forward(np.zeros((1, 4, 3)))


def test_hssm_float32_device_rhel_close_to_float64_bptt():
    """float32 device simulation under RHEL (scaled nudge) against float64 BPTT."""
    x, y, lengths = _batch("classification", L=200)
    ref = _model("linear").loss_and_gradients(x, y, lengths, rng=np.random.default_rng(5))[1]
    ref = {k: v.copy() for k, v in ref.items()}
    cfg = HSSMConfig(n_inputs=3, n_outputs=4, task="classification", n_blocks=2, hidden=5,
                     units=4, rule="rhel", dtype="float32")
    _, got = HSSM(cfg, 0).loss_and_gradients(x, y, lengths, rng=np.random.default_rng(5))
    for name, g in got.items():
        a = agreement(g, ref[name])
        assert a.cosine > 0.9999 and abs(a.norm_ratio - 1) < 1e-3, (name, a)


def test_hssm_passes_the_hardware_model_to_every_layer():
    """A reversible fixed-point device: RHEL runs on it and sees it; BPTT refuses it."""
    x, y, lengths = _batch("classification")
    cfg = dict(n_inputs=3, n_outputs=4, task="classification", n_blocks=2, hidden=5, units=4)
    ideal = HSSM(HSSMConfig(**cfg), 0)
    device = HSSM(HSSMConfig(**cfg, hardware="fixed_point_16_reversible", rule="rhel"), 0)
    assert all(layer.hardware == "fixed_point_16_reversible" for layer in device.hru_layers)
    with pytest.warns(Warning):  # the preset's fixed-point range saturates on these inputs
        out = device.forward(x, lengths)
        res, grads = device.loss_and_gradients(x, y, lengths, rng=np.random.default_rng(0))
    assert not np.allclose(out, ideal.forward(x, lengths))
    # the gradients are the device's, not the ideal model's (finite alone could not fail)
    ideal.rule = "rhel"
    _, ideal_grads = ideal.loss_and_gradients(x, y, lengths, rng=np.random.default_rng(0))
    assert all(np.all(np.isfinite(g)) for g in grads.values())
    assert any(not np.allclose(grads[k], ideal_grads[k]) for k in grads)
    device.rule = "bptt"
    with pytest.raises(ValueError, match="cannot be differentiated"), pytest.warns(Warning):
        device.loss_and_gradients(x, y, lengths, rng=np.random.default_rng(0))
