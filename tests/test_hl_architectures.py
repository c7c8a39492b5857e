"""HL on the paper's architectures (linear, ResNet, ViT, LSTM) against independent references.

The references are the hand-written gradients of ``physsim.hl.reference``
driven by the explicit-loop ``sgd_reference`` (``torch.optim.SGD``
semantics); they share no code with the HL cells and are checked here against
central finite differences.  HL in mode ``"nonlocal"`` must then reproduce
them bitwise, for the GD and the momentum settings alike (research/hl.md sections
2.1-2.3 and 4).
"""

from __future__ import annotations

import functools
import sys
from pathlib import Path

import numpy as np
import pytest

from physsim import hl
from physsim.hl.datasets import digits_row_sequences, load_imdb_glove, mnist_sample
from physsim.hl.reference import (
    lstm_loss_and_grad,
    mlp_loss_and_grad,
    resnet_loss_and_grad,
    sgd_reference,
    vit_loss_and_grad,
)

ROOT = Path(__file__).resolve().parents[1]

# small sizes of each architecture: (whole-net cell, reference gradient, input width,
# classes, (state cell, output cell) of HL (state/output) or None)
ARCHITECTURES = {
    "linear": (hl.MLP((6, 3)), mlp_loss_and_grad, 6, 3, None),
    "resnet": (hl.ResidualMLP(12, 5, 4, 3), resnet_loss_and_grad, 12, 3, None),
    "vit": (hl.VisionTransformer(8, 4, 6, 3), functools.partial(vit_loss_and_grad, patch_size=4),
            64, 3, None),
    "lstm": (hl.UnrolledLSTM(3, 5, 4, n_out=2), lstm_loss_and_grad, 15, 2,
             (hl.UnrolledLSTM(3, 5, 4), hl.LinearReadout(4, 2))),
}


def _data(name, n=12, seed=0):
    _, _, n_input, n_classes, _ = ARCHITECTURES[name]
    rng = np.random.default_rng(seed)
    return rng.normal(size=(n, n_input)), rng.integers(0, n_classes, n)


def _max_diff(a: dict, b: dict) -> float:
    assert set(a) == set(b)
    return max(float(np.max(np.abs(a[k] - b[k]))) for k in b)


# --------------------------------------------------------------------------- references vs FD
@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_reference_gradient_matches_finite_differences(name):
    cell, loss_and_grad, *_ = ARCHITECTURES[name]
    x, y = _data(name, n=1, seed=3)
    params = cell.init_params(rng=1)
    _, grads, _ = loss_and_grad(params, x[0], int(y[0]))
    assert set(grads) == set(params)
    rng = np.random.default_rng(5)
    for _ in range(3):  # directional derivatives along random directions of all weights
        v = {k: rng.normal(size=p.shape) for k, p in params.items()}
        eps = 1e-6  # the ViT's LayerNorm of small tokens is strongly curved: keep O(eps^2) low
        plus = {k: params[k] + eps * v[k] for k in params}
        minus = {k: params[k] - eps * v[k] for k in params}
        fd = (loss_and_grad(plus, x[0], int(y[0]))[0]
              - loss_and_grad(minus, x[0], int(y[0]))[0]) / (2 * eps)
        exact = sum(float(np.sum(grads[k] * v[k])) for k in params)
        assert abs(fd - exact) <= 1e-7 * max(1.0, abs(exact)), (fd, exact)
    for key, value in params.items():  # and single entries of every parameter
        idx = tuple(rng.integers(0, s) for s in value.shape)
        plus = {k: p.copy() for k, p in params.items()}
        minus = {k: p.copy() for k, p in params.items()}
        plus[key][idx] += 1e-6
        minus[key][idx] -= 1e-6
        fd = (loss_and_grad(plus, x[0], int(y[0]))[0]
              - loss_and_grad(minus, x[0], int(y[0]))[0]) / 2e-6
        assert abs(fd - grads[key][idx]) <= 1e-7 * max(1.0, abs(fd)), (key, fd)


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_cell_input_cotangent_matches_finite_differences(name):
    """The input VJP is not exercised by the weight comparison; check it directly."""
    cell, *_ = ARCHITECTURES[name]
    x, _ = _data(name, n=1, seed=7)
    params = cell.init_params(rng=2)
    out, ctx = cell.forward(params, x[0], None)
    w = np.random.default_rng(8).normal(size=out.shape)
    d_u = cell.vjp(params, ctx, w).input
    v = np.random.default_rng(9).normal(size=x[0].shape)
    eps = 1e-6
    fd = (w @ cell(params, x[0] + eps * v, None) - w @ cell(params, x[0] - eps * v, None)) / (
        2 * eps)
    assert abs(fd - d_u @ v) <= 1e-7 * max(1.0, abs(fd))


# --------------------------------------------------------------------------- HL vs reference
def _hl_run(name, variant, theta0, x, y, cfg, mode="nonlocal"):
    cell, _, _, _, split = ARCHITECTURES[name]
    if variant == "output":
        model, params = hl.HLModel(output_cell=cell, loss="cross_entropy"), hl.HLParams({}, theta0)
    elif variant == "state":
        model = hl.HLModel(state_cell=cell, output_cell=hl.IdentityReadout(),
                           loss="cross_entropy")
        params = hl.HLParams(theta0, {})
    else:
        model = hl.HLModel(state_cell=split[0], output_cell=split[1], loss="cross_entropy")
        state = {k: v for k, v in theta0.items() if not k.startswith("head_")}
        params = hl.HLParams(state, {"weight": theta0["head_weight"],
                                     "bias": theta0["head_bias"]})
    res = hl.run_hl(model, params, hl.Stream.from_samples(x, y), cfg, mode=mode)
    if variant == "output":
        return res.params.output
    if variant == "state":
        return res.params.state
    return {**res.params.state, "head_weight": res.params.output["weight"],
            "head_bias": res.params.output["bias"]}


CASES = [(name, variant) for name, spec in sorted(ARCHITECTURES.items())
         for variant in ("output", "state") + (("state_output",) if spec[4] else ())]


@pytest.mark.parametrize("name,variant", CASES)
@pytest.mark.parametrize("setting", sorted(hl.PAPER_OPTIMIZER_SETTINGS))
def test_hl_reproduces_sgd(name, variant, setting):
    cell, loss_and_grad, *_ = ARCHITECTURES[name]
    x, y = _data(name)
    x, y = np.concatenate([x, x[::-1]]), np.concatenate([y, y[::-1]])  # two epochs
    theta0 = cell.init_params(rng=4)
    sgd, tau = hl.get_paper_setting(setting)
    # ten times the paper's learning rate so that a few steps move the weights visibly
    sgd = hl.SGDSettings(lr=10 * sgd.lr, momentum=sgd.momentum, dampening=sgd.dampening)
    ref = sgd_reference(loss_and_grad, theta0, x, y, sgd.lr, sgd.momentum, sgd.dampening)
    theta = _hl_run(name, variant, theta0, x, y, hl.sgd_to_hl(sgd, tau=tau))
    assert _max_diff(ref.params, theta0) > 1e-4  # the comparison is not vacuous
    # bitwise, momentum included: HL's coefficients are lr, momentum and fl(1 - dampening)
    # exactly, and after a reset it scales the costate after the VJP, as SGD dampens
    assert _max_diff(theta, ref.params) == 0.0


@pytest.mark.parametrize("name", sorted(ARCHITECTURES))
def test_local_mode_runs_and_is_not_sgd(name):
    cell, loss_and_grad, *_ = ARCHITECTURES[name]
    x, y = _data(name, n=20)
    theta0 = cell.init_params(rng=4)
    cfg = hl.sgd_to_hl(0.1)
    ref = sgd_reference(loss_and_grad, theta0, x, y, 0.1)
    theta = _hl_run(name, "output", theta0, x, y, cfg, mode="local")
    assert all(np.all(np.isfinite(v)) for v in theta.values())
    assert _max_diff(theta, theta0) > 1e-4       # it learns something
    assert _max_diff(theta, ref.params) > 1e-5   # but it is not SGD (old costate)


def test_sgd_reference_snapshots_and_correct_flags():
    x, y = _data("linear", n=6)
    theta0 = ARCHITECTURES["linear"][0].init_params(rng=0)
    run = sgd_reference(mlp_loss_and_grad, theta0, x, y, 0.1, snapshot_every=3)
    assert len(run.snapshots) == 3 and _max_diff(run.snapshots[0], theta0) == 0.0
    assert _max_diff(run.snapshots[-1], run.params) == 0.0
    assert run.correct.dtype == bool and run.correct.shape == (6,)


# --------------------------------------------------------------------------- data
def test_mnist_sample_is_balanced():
    images, labels = mnist_sample(n_per_class=3, seed=1)
    assert images.shape == (30, 784) and 0.0 <= images.min() and images.max() <= 1.0
    assert np.array_equal(np.bincount(labels), np.full(10, 3))


def test_digits_row_sequences_are_balanced_rows():
    from sklearn.datasets import load_digits

    seqs, labels = digits_row_sequences(n_per_class=4, classes=(3, 8))
    assert seqs.shape == (8, 8, 8) and np.array_equal(np.bincount(labels), [4, 4])
    images, digits = load_digits(return_X_y=True)
    # every sequence is one image of the right digit read row by row
    for seq, label in zip(seqs, labels):
        matches = np.flatnonzero(np.all(images == seq.reshape(64) * 16.0, axis=1))
        assert matches.size and digits[matches[0]] == (3, 8)[label]
    with pytest.raises(ValueError, match="two different digits"):
        digits_row_sequences(classes=(3, 3))


def test_imdb_loader_fails_offline_with_instructions(tmp_path):
    with pytest.raises(FileNotFoundError, match="aclImdb_v1.tar.gz.*glove.6B.zip"):
        load_imdb_glove(tmp_path / "aclImdb", tmp_path / "glove.6B.50d.txt")


def test_imdb_loader_reads_local_files(tmp_path):
    for label, words in (("neg", "bad awful"), ("pos", "good great")):
        folder = tmp_path / "aclImdb" / "train" / label
        folder.mkdir(parents=True)
        for i in range(2):
            (folder / f"{i}_1.txt").write_text(f"A {words} film, unknownword!")
    glove = tmp_path / "glove.txt"
    glove.write_text("bad 1 0\nawful 2 0\ngood 0 1\ngreat 0 2\nfilm 5 5\n")
    seqs, labels = load_imdb_glove(tmp_path / "aclImdb", glove, n_per_class=2, n_steps=4)
    assert seqs.shape == (4, 4, 2) and labels.tolist() == [0, 1, 0, 1]
    assert np.array_equal(seqs[0], [[1, 0], [2, 0], [5, 5], [0, 0]])  # unknown word skipped
    assert np.array_equal(seqs[1], [[0, 1], [0, 2], [5, 5], [0, 0]])


# --------------------------------------------------------------------------- experiment
def test_experiment_quick_json(tmp_path):
    sys.path.insert(0, str(ROOT / "experiments"))
    try:
        import exp_hl_architectures
    finally:
        sys.path.pop(0)
    out = tmp_path / "summary.json"
    summary = exp_hl_architectures.main(["--quick", "--only", "linear", "lstm", "--no-plot",
                                         "--json", str(out)])
    assert out.exists()
    assert summary["max_weight_diff_all"] <= 1e-12
    assert summary["max_weight_diff_lstm_GD-a_state_output"] == 0.0
    assert summary["local_max_weight_diff_lstm_GD-a"] > 1e-5
