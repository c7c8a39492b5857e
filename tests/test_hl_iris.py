"""HL on Iris (4-30-3 tanh MLP, batch 1, 40 epochs): exact SGD/momentum, and the local mode.

Needs scikit-learn (ships Iris offline; the ``test`` extra installs it).
The reference is ``physsim.hl.reference.mlp_sgd_reference``, an explicit-loop
``torch.optim.SGD`` written independently of the HL code and validated against
finite differences in ``test_hl.py``.
"""

from __future__ import annotations

import numpy as np
import pytest

from physsim import hl
from physsim.hl import tree_max_abs_diff
from physsim.hl.reference import mlp_sgd_reference

sklearn_datasets = pytest.importorskip("sklearn.datasets")

EPOCHS = 40


@pytest.fixture(scope="module")
def iris():
    x, y = sklearn_datasets.load_iris(return_X_y=True)
    x = (x - x.mean(axis=0)) / x.std(axis=0)
    order = np.concatenate([np.random.default_rng(epoch).permutation(len(x))
                            for epoch in range(EPOCHS)])
    mlp = hl.MLP((4, 30, 3), activation="tanh")
    return {"x": x, "y": y, "xs": x[order], "ys": y[order], "mlp": mlp,
            "theta0": mlp.init_params(rng=2024)}


@pytest.fixture(scope="module")
def references(iris):
    return {name: mlp_sgd_reference(iris["theta0"], iris["xs"], iris["ys"], s.lr, s.momentum,
                                    s.dampening)
            for name, (s, _) in hl.PAPER_OPTIMIZER_SETTINGS.items()}


@pytest.mark.parametrize("setting", list(hl.PAPER_OPTIMIZER_SETTINGS))
def test_hl_output_and_state_equal_sgd(setting, iris, references):
    sgd, tau = hl.get_paper_setting(setting)
    cfg = hl.sgd_to_hl(sgd, tau=tau)
    stream = hl.Stream.from_samples(iris["xs"], iris["ys"])
    ref = references[setting]
    out_model = hl.HLModel(output_cell=iris["mlp"], loss="cross_entropy")
    out = hl.run_hl(out_model, hl.HLParams({}, iris["theta0"]), stream, cfg, mode="nonlocal")
    state_model = hl.HLModel(state_cell=iris["mlp"], output_cell=hl.IdentityReadout(),
                             loss="cross_entropy")
    state = hl.run_hl(state_model, hl.HLParams(iris["theta0"], {}), stream, cfg, mode="nonlocal")
    # bitwise: HL's Euler coefficients are the SGD floats exactly (sgd_to_hl, HLConfig)
    assert tree_max_abs_diff(out.params.output, ref.params) == 0.0
    assert tree_max_abs_diff(state.params.state, ref.params) == 0.0
    # the loss values come from two separately written loss evaluations: equal to round-off
    np.testing.assert_allclose(out.losses, ref.losses, rtol=1e-10)
    assert ref.losses[-150:].mean() < 0.5 * ref.losses[:150].mean()   # it did train

    # negative controls: without the ordering constraint (Algorithm 1 verbatim) HL is not SGD
    out_local = hl.run_hl(out_model, hl.HLParams({}, iris["theta0"]), stream, cfg, mode="local")
    assert tree_max_abs_diff(out_local.params.output, ref.params) > 1e-5
    state_local = hl.run_hl(state_model, hl.HLParams(iris["theta0"], {}), stream, cfg,
                            mode="local")
    assert tree_max_abs_diff(state_local.params.state, ref.params) > 1e-5
    if sgd.momentum != 0 and sgd.dampening != 0:
        # ... and without tau phi_0 = 1 it misses PyTorch's undamped first buffer
        no_fix = hl.HLConfig(tau=cfg.tau, beta=cfg.beta, eta=cfg.eta, phi=cfg.phi_at(1))
        out_no_fix = hl.run_hl(out_model, hl.HLParams({}, iris["theta0"]), stream, no_fix)
        assert tree_max_abs_diff(out_no_fix.params.output, ref.params) > 1e-5


def _dataset_loss(mlp, theta, x, y):
    ce = hl.SoftmaxCrossEntropy()
    return float(np.mean([ce.value(mlp(theta, xi, None), yi) for xi, yi in zip(x, y)]))


def test_local_pipelined_mode_learns_but_is_not_bp(iris):
    """Fully local HL: layers are neuron states updated in parallel, one layer per step.

    Each sample is held 3 steps and the target is present from the 3rd (when the signal
    has reached the output).  The weights are scored as an ordinary MLP on all of Iris.
    """
    epochs = 10
    n = epochs * 150
    xs, ys = iris["xs"][:n], iris["ys"][:n]
    model = hl.HLModel(state_cell=hl.LayeredMLPCell((4, 30, 3)),
                       output_cell=hl.IdentityReadout("layer2"), loss="cross_entropy")
    stream = hl.Stream.from_samples(xs, ys, hold=3, target_delay=2, reset_state=False)
    cfg = hl.HLConfig(tau=1.0, beta=0.01, eta=0.5, phi=1.0)
    res = hl.run_hl(model, hl.HLParams(iris["theta0"], {}), stream, cfg, mode="local")
    before = _dataset_loss(iris["mlp"], iris["theta0"], iris["x"], iris["y"])
    after = _dataset_loss(iris["mlp"], res.params.state, iris["x"], iris["y"])
    assert after < before / 3.0
    sgd = mlp_sgd_reference(iris["theta0"], xs, ys, lr=0.01)
    assert tree_max_abs_diff(res.params.state, sgd.params) > 1e-2
