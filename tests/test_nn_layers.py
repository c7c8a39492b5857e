"""Tests of physsim.nn: hand-written backward passes against central finite
differences (float64, relative error < 1e-6), Adam against an element-wise reference,
dropout and batch-norm semantics."""

from __future__ import annotations

import numpy as np
import pytest
from scipy.special import logsumexp
from scipy.stats import norm

from conftest import central_difference_gradient, relative_error
from physsim.nn import (
    GELU,
    GLU,
    Adam,
    BatchNorm,
    Dropout,
    Linear,
    MeanPoolClassifier,
    Residual,
    Sequential,
    SubsampleTanhRegressor,
    mean_squared_error,
    softmax_cross_entropy,
)

RTOL_FD = 1e-6  # relative error allowed between backward and central differences


def check_layer_gradients(layer, x, *, training=False, dropout_seed=0, **fwd_kw):
    """Compare input and parameter gradients of ``sum(R * layer(x))`` with finite differences.

    The dropout generator is re-seeded for every forward so the mask is fixed.
    """
    x = np.array(x, dtype=np.float64)

    def run():
        return layer.forward(
            x, training=training, rng=np.random.default_rng(dropout_seed), **fwd_kw
        )

    y = run()
    r = np.random.default_rng(99).normal(size=y.shape)
    gx = layer.backward(r).copy()
    gparams = {k: v.copy() for k, v in layer.gradients().items()}

    def loss():
        return float(np.sum(run() * r))

    errors = {"x": relative_error(gx, central_difference_gradient(loss, x))}
    for name, p in layer.parameters().items():
        errors[name] = relative_error(gparams[name], central_difference_gradient(loss, p))
    for name, e in errors.items():
        assert e < RTOL_FD, f"{type(layer).__name__}: gradient of {name} off by {e:.2e}"
    return errors


def _x(shape=(3, 5, 4), seed=0):
    return np.random.default_rng(seed).normal(size=shape)


# --------------------------------------------------------------------------- gradients


def test_linear_gradients_and_init():
    rng = np.random.default_rng(0)
    lin = Linear(4, 3, rng=rng)
    assert lin.params["weight"].shape == (3, 4) and lin.params["bias"].shape == (3,)
    check_layer_gradients(lin, _x())
    check_layer_gradients(Linear(4, 2, rng=rng, bias=False), _x((6, 4)))
    big = Linear(400, 300, rng=rng)
    lim = 1 / np.sqrt(400)
    for p in big.params.values():  # uniform(-1/sqrt(fan_in), 1/sqrt(fan_in))
        assert np.abs(p).max() <= lim and np.abs(p).max() > 0.99 * lim
        sigma = lim / np.sqrt(3)  # std of U(-lim, lim)
        assert abs(p.mean()) < 5 * sigma / np.sqrt(p.size)
        assert abs(p.std() / sigma - 1) < 0.1
    with pytest.raises(ValueError, match="4 input channels"):
        lin.forward(_x((2, 3, 5)))


def test_batchnorm_gradients_train_and_eval():
    bn = BatchNorm(4)
    check_layer_gradients(bn, _x(), training=True)
    bn.forward(_x(seed=1) * 3 + 1, training=True)
    check_layer_gradients(bn, _x(seed=2), training=False)


def test_gelu_gradients_and_exact_form():
    check_layer_gradients(GELU(), _x() * 2)
    x = np.linspace(-4, 4, 41)
    np.testing.assert_allclose(GELU().forward(x), x * norm.cdf(x), rtol=1e-14, atol=1e-16)


def test_glu_gradients_and_value():
    glu = GLU(4, rng=np.random.default_rng(1))
    check_layer_gradients(glu, _x())
    p = glu.params
    x = _x(seed=3)
    a = np.einsum("btc,hc->bth", x, p["weight1"]) + p["bias1"]
    c = np.einsum("btc,hc->bth", x, p["weight2"]) + p["bias2"]
    np.testing.assert_allclose(glu.forward(x), a / (1 + np.exp(-c)), rtol=1e-13)


def test_dropout_gradients():
    check_layer_gradients(Dropout(0.3), _x(), training=True)
    check_layer_gradients(Dropout(0.3), _x(), training=False)


def test_residual_block_gradients_as_in_hssm():
    """A full digital HSSM block around a stand-in for the HRU: norm, map, GELU,
    dropout, GLU, dropout, residual."""
    rng = np.random.default_rng(5)
    block = Residual(
        Sequential(
            [
                ("norm", BatchNorm(4)),
                ("hru_stand_in", Linear(4, 4, rng=rng)),
                ("gelu", GELU()),
                ("drop1", Dropout(0.2)),
                ("glu", GLU(4, rng=rng)),
                ("drop2", Dropout(0.2)),
            ]
        )
    )
    names = set(block.parameters())
    assert names == {
        "hru_stand_in.weight",
        "hru_stand_in.bias",
        "glu.weight1",
        "glu.bias1",
        "glu.weight2",
        "glu.bias2",
    }
    assert set(block.state()) == {"norm.running_mean", "norm.running_var", "norm.initialised"}
    check_layer_gradients(block, _x(), training=True)
    check_layer_gradients(block, _x(), training=False)


def test_mean_pool_classifier_gradients_with_and_without_lengths():
    head = MeanPoolClassifier(4, 3, rng=np.random.default_rng(2))
    check_layer_gradients(head, _x())
    check_layer_gradients(head, _x(), lengths=np.array([5, 2, 4]))
    x = _x()
    x_padded = x.copy()
    x_padded[1, 2:] = 123.0  # padding must not influence the pooled mean
    lengths = np.array([5, 2, 4])
    np.testing.assert_allclose(
        head.forward(x, lengths=lengths), head.forward(x_padded, lengths=lengths)
    )
    w, b = head.params["weight"], head.params["bias"]
    np.testing.assert_allclose(head.forward(x), x.mean(axis=1) @ w.T + b, rtol=1e-13)


def test_subsample_tanh_regressor_gradients_and_indices():
    head = SubsampleTanhRegressor(4, 2, output_step=3, rng=np.random.default_rng(3))
    x = _x((2, 11, 4))
    y = head.forward(x)
    assert y.shape == (2, 3, 2)  # steps 2, 5, 8
    w, b = head.params["weight"], head.params["bias"]
    np.testing.assert_allclose(y, np.tanh(x[:, [2, 5, 8]] @ w.T + b), rtol=1e-13)
    check_layer_gradients(head, x)
    g = head.backward(np.ones_like(y))
    mask = np.zeros(11, bool)
    mask[[2, 5, 8]] = True
    assert np.all(g[:, ~mask] == 0) and np.all(np.abs(g[:, mask]).sum(-1) > 0)


@pytest.mark.parametrize("log_eps", [0.0, 1e-8, 0.3])
def test_softmax_cross_entropy_value_grad_accuracy(log_eps):
    rng = np.random.default_rng(4)
    logits = rng.normal(size=(6, 4)) * 3
    labels = rng.integers(0, 4, size=6)
    res = softmax_cross_entropy(logits, labels, log_eps=log_eps)
    p = np.exp(logits - logsumexp(logits, axis=1, keepdims=True))
    expected = -np.mean(np.log(p[np.arange(6), labels] + log_eps))
    assert res.loss == pytest.approx(expected, rel=1e-12)
    fd = central_difference_gradient(
        lambda: softmax_cross_entropy(logits, labels, log_eps=log_eps).loss, logits)
    assert relative_error(res.grad, fd) < RTOL_FD
    assert res.accuracy == pytest.approx(np.mean(np.argmax(logits, 1) == labels))
    big = softmax_cross_entropy(np.array([[1000.0, -1000.0]]), np.array([1]))
    assert big.loss == pytest.approx(2000.0)
    np.testing.assert_allclose(big.grad, [[1.0, -1.0]])  # softmax minus one-hot, no overflow
    with pytest.raises(ValueError, match="labels"):
        softmax_cross_entropy(logits, labels + 4)


def test_mean_squared_error():
    rng = np.random.default_rng(6)
    pred, target = rng.normal(size=(3, 4, 2)), rng.normal(size=(3, 4, 2))
    res = mean_squared_error(pred, target)
    assert res.loss == pytest.approx(np.mean((pred - target) ** 2))
    fd = central_difference_gradient(lambda: mean_squared_error(pred, target).loss, pred)
    assert relative_error(res.grad, fd) < RTOL_FD
    assert res.accuracy is None


def test_end_to_end_loss_gradient_through_network():
    """Encoder + block + read-out + loss against finite differences of the loss itself."""
    rng = np.random.default_rng(7)
    net = Sequential(
        [
            ("enc", Linear(3, 4, rng=rng)),
            (
                "block",
                Residual(
                    Sequential([("norm", BatchNorm(4)), ("gelu", GELU()), ("glu", GLU(4, rng=rng))])
                ),
            ),
            ("head", MeanPoolClassifier(4, 3, rng=rng)),
        ]
    )
    x = _x((4, 6, 3))
    labels = np.array([0, 2, 1, 2])

    def loss():
        return softmax_cross_entropy(net.forward(x, training=True), labels).loss

    res = softmax_cross_entropy(net.forward(x, training=True), labels)
    net.backward(res.grad)
    grads = {k: v.copy() for k, v in net.gradients().items()}
    assert set(grads) == {
        "enc.weight",
        "enc.bias",
        "block.glu.weight1",
        "block.glu.bias1",
        "block.glu.weight2",
        "block.glu.bias2",
        "head.weight",
        "head.bias",
    }
    for name, p in net.parameters().items():
        assert relative_error(grads[name], central_difference_gradient(loss, p)) < RTOL_FD, name


def test_backward_before_forward_raises():
    with pytest.raises(RuntimeError, match="before forward"):
        GELU().backward(np.ones(3))


# --------------------------------------------------------------------------- dropout


def test_dropout_reproducible_and_scaled():
    x = np.ones((50, 40, 100))
    d = Dropout(0.3)
    a = d.forward(x, training=True, rng=np.random.default_rng(11))
    b = d.forward(x, training=True, rng=np.random.default_rng(11))
    c = d.forward(x, training=True, rng=np.random.default_rng(12))
    np.testing.assert_array_equal(a, b)
    assert not np.array_equal(a, c)
    kept = a != 0
    np.testing.assert_allclose(a[kept], 1 / 0.7, rtol=1e-15)
    n = x.size
    frac = 1 - kept.mean()
    assert abs(frac - 0.3) < 5 * np.sqrt(0.3 * 0.7 / n)  # binomial, 5 sigma
    assert abs(a.mean() - 1.0) < 5 * np.sqrt(0.3 / 0.7 / n)  # inverted dropout keeps the mean
    np.testing.assert_array_equal(d.forward(x, training=False), x)
    with pytest.raises(TypeError, match="Generator"):
        d.forward(x, training=True)
    with pytest.raises(ValueError):
        Dropout(1.0)


# --------------------------------------------------------------------------- batch norm


def test_batchnorm_statistics_over_batch_and_time():
    rng = np.random.default_rng(8)
    x = rng.normal(size=(4, 7, 3)) * np.array([1.0, 5.0, 0.1]) + np.array([2.0, -3.0, 10.0])
    bn = BatchNorm(3)
    y = bn.forward(x, training=True)
    flat = x.reshape(-1, 3)
    np.testing.assert_allclose(
        y.reshape(-1, 3), (flat - flat.mean(0)) / np.sqrt(flat.var(0) + 1e-5), rtol=1e-12
    )
    # per time step the mean over the batch alone is NOT zero: statistics span time too
    assert np.abs(y.mean(axis=0)).max() > 0.1


def test_batchnorm_running_averages_and_eval():
    rng = np.random.default_rng(9)
    x1 = rng.normal(1.0, 2.0, size=(3, 5, 2))
    x2 = rng.normal(-1.0, 0.5, size=(3, 5, 2))
    bn = BatchNorm(2)
    bn.forward(x1, training=True)
    f1, f2 = x1.reshape(-1, 2), x2.reshape(-1, 2)
    np.testing.assert_allclose(bn.buffers["running_mean"], f1.mean(0))  # first batch initialises
    np.testing.assert_allclose(bn.buffers["running_var"], f1.var(0))
    bn.forward(x2, training=True)
    rm = 0.99 * f1.mean(0) + 0.01 * f2.mean(0)
    rv = 0.99 * f1.var(0) + 0.01 * f2.var(0)
    np.testing.assert_allclose(bn.buffers["running_mean"], rm, rtol=1e-13)
    np.testing.assert_allclose(bn.buffers["running_var"], rv, rtol=1e-13)
    x3 = rng.normal(size=(2, 4, 2))
    before = {k: v.copy() for k, v in bn.state().items()}
    y3 = bn.forward(x3, training=False)
    np.testing.assert_allclose(y3, (x3 - rm) / np.sqrt(rv + 1e-5), rtol=1e-12)
    for k, v in bn.state().items():  # eval does not touch the running averages
        np.testing.assert_array_equal(v, before[k])
    fresh = BatchNorm(2)
    fresh.load_state(bn.state())
    np.testing.assert_allclose(fresh.forward(x3), y3)


# --------------------------------------------------------------------------- Adam


def _adam_reference(theta0, grad_fn, steps, lr, b1=0.9, b2=0.999, eps=1e-8):
    """Element-wise Adam written from Kingma & Ba (2015), Algorithm 1, in plain Python."""
    theta = [float(v) for v in theta0]
    m = [0.0] * len(theta)
    v = [0.0] * len(theta)
    for t in range(1, steps + 1):
        g = grad_fn(np.array(theta))
        for i in range(len(theta)):
            m[i] = b1 * m[i] + (1 - b1) * g[i]
            v[i] = b2 * v[i] + (1 - b2) * g[i] ** 2
            m_hat = m[i] / (1 - b1**t)
            v_hat = v[i] / (1 - b2**t)
            theta[i] -= lr * m_hat / (v_hat**0.5 + eps)
    return np.array(theta)


def _quadratic():
    rng = np.random.default_rng(10)
    q = rng.normal(size=(5, 5))
    a = q @ q.T + 5 * np.eye(5)
    b = rng.normal(size=5)
    return a, b, (lambda th: a @ th - b)  # gradient of 0.5 th^T A th - b^T th


def test_adam_matches_reference_on_quadratic():
    a, b, grad = _quadratic()
    theta0 = np.arange(5, dtype=float) - 2.0
    params = {"w": theta0[:3].copy(), "u": theta0[3:].copy()}
    opt = Adam(lr=0.05)
    for _ in range(200):
        th = np.concatenate([params["w"], params["u"]])
        g = grad(th)
        opt.step(params, {"w": g[:3], "u": g[3:]})
    ours = np.concatenate([params["w"], params["u"]])
    ref = _adam_reference(theta0, grad, 200, lr=0.05)
    np.testing.assert_allclose(ours, ref, rtol=1e-12, atol=1e-14)
    # and it actually minimises the quadratic
    assert np.linalg.norm(ours - np.linalg.solve(a, b)) < 0.05 * np.linalg.norm(
        theta0 - np.linalg.solve(a, b)
    )


def test_adam_state_roundtrip_resumes_exactly():
    _, _, grad = _quadratic()
    p_cont = {"w": np.ones(5)}
    cont = Adam(lr=0.01)
    for _ in range(15):
        cont.step(p_cont, {"w": grad(p_cont["w"])})
    p = {"w": np.ones(5)}
    first = Adam(lr=0.01)
    for _ in range(10):
        first.step(p, {"w": grad(p["w"])})
    state = first.state_dict()
    assert all(isinstance(v, np.ndarray) for v in state.values())
    resumed = Adam(lr=123.0)  # hyper-parameters come from the state
    resumed.load_state_dict({k: v.copy() for k, v in state.items()})
    for _ in range(5):
        resumed.step(p, {"w": grad(p["w"])})
    np.testing.assert_array_equal(p["w"], p_cont["w"])


def test_adam_rejects_bad_input():
    opt = Adam()
    p = {"w": np.zeros(3)}
    with pytest.raises(ValueError, match="names differ"):
        opt.step(p, {"v": np.zeros(3)})
    with pytest.raises(ValueError, match="shape"):
        opt.step(p, {"w": np.zeros(4)})
    with pytest.raises(FloatingPointError, match="'w'"):
        opt.step(p, {"w": np.array([0.0, np.nan, 1.0])})
    np.testing.assert_array_equal(p["w"], 0.0)
    with pytest.raises(ValueError):
        Adam(lr=0.0)


def test_adam_trains_layers_in_place():
    """Adam on layer.parameters() changes the layer itself (no copies)."""
    rng = np.random.default_rng(12)
    net = Sequential([Linear(2, 3, rng=rng), GELU(), MeanPoolClassifier(3, 2, rng=rng)])
    x = rng.normal(size=(16, 5, 2))
    labels = (x[:, :, 0].mean(1) > 0).astype(int)
    opt = Adam(lr=0.05)
    losses = []
    for _ in range(100):
        res = softmax_cross_entropy(net.forward(x, training=True), labels)
        net.backward(res.grad)
        opt.step(net.parameters(), net.gradients())
        losses.append(res.loss)
    assert losses[-1] < 0.3 * losses[0]
