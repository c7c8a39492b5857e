"""Hamiltonian Learning: cells, reversed-stream BPTT, reversible storage, RHEL bridge, errors.

Every exactness claim is checked against something independent of the HL code:
central finite differences, the explicit-loop references of
``physsim.hl.reference`` (themselves validated by finite differences here), or
an RHEL echo written from research/rhel.md section 9 inside this file.
"""

from __future__ import annotations

import numpy as np
import pytest

from physsim import hl
from physsim.hl import tree_leaves, tree_map, tree_max_abs_diff
from physsim.hl.reference import mlp_sgd_reference, rnn_bptt_reference, rnn_sgd_reference

#: tolerances: exact-equivalence claims in float64 (round-off only), FD checks (truncation error)
TOL_EXACT = 1e-12
TOL_REVERSIBLE = 1e-10   # reconstruction round-off of the inverse map accumulates over the sequence
TOL_BRIDGE = 1e-9        # central difference of two echoes: exact for the linear HRU but round-off
TOL_FD = 1e-6            # central FD, step 1e-6: truncation O(1e-12), cancellation O(1e-10) rel.


def _rel_err(a, b):
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.max(np.abs(a - b)) / max(np.max(np.abs(b)), 1e-12))


# --------------------------------------------------------------------------- cells
def _random_tree(tree, rng):
    return tree_map(lambda a: rng.standard_normal(np.shape(a)), tree)


def _cell_cases():
    return {
        "mlp_input": (hl.MLP((3, 5, 4, 2), reads="input"), 3, np.zeros(2)),
        "mlp_state": (hl.MLP((4, 6, 4), activation="sigmoid", reads="state"), 0, np.zeros(4)),
        "layered_mlp": (hl.LayeredMLPCell((3, 5, 2)), 3, None),
        "elman": (hl.ElmanCell(3, 4), 3, None),
        "elman_relu": (hl.ElmanCell(3, 4, activation="relu"), 3, None),
        "midpoint": (hl.MidpointRNNCell(3, 4, dt=0.3), 3, None),
        "linear_hru": (hl.LinearHRUCell(4, 3, dt=0.4), 3, None),
        "linear_readout": (hl.LinearReadout(4, 2, key="current"), 0,
                           {"previous": np.zeros(4), "current": np.zeros(4)}),
        "identity_readout": (hl.IdentityReadout("layer2"), 0,
                             {"layer1": np.zeros(5), "layer2": np.zeros(2)}),
    }


@pytest.mark.parametrize("name", list(_cell_cases()))
def test_cell_vjp_matches_central_differences(name, rng):
    cell, n_in, state_template = _cell_cases()[name]
    params = cell.init_params(rng)
    h = _random_tree(cell.initial_state() if state_template is None else state_template, rng)
    u = rng.standard_normal(max(n_in, 1))
    out, ctx = cell.forward(params, u, h)
    v = _random_tree(out, rng)
    vjp = cell.vjp(params, ctx, v)

    def dot(a, b):
        return sum(float(np.sum(x * y)) for x, y in zip(tree_leaves(a), tree_leaves(b)))

    eps = 1e-6
    du, dh, dp = rng.standard_normal(u.shape), _random_tree(h, rng), _random_tree(params, rng)
    plus = cell(tree_map(lambda a, d: a + eps * d, params, dp), u + eps * du,
                tree_map(lambda a, d: a + eps * d, h, dh))
    minus = cell(tree_map(lambda a, d: a - eps * d, params, dp), u - eps * du,
                 tree_map(lambda a, d: a - eps * d, h, dh))
    fd = (dot(v, plus) - dot(v, minus)) / (2 * eps)
    analytic = dot(vjp.params, dp)
    if vjp.input is not None:
        analytic += float(vjp.input @ du)
    if vjp.state is not None:
        analytic += dot(vjp.state, dh)
    assert abs(fd - analytic) <= TOL_FD * max(1.0, abs(fd))


@pytest.mark.parametrize("cell", [hl.MidpointRNNCell(2, 5, dt=0.2), hl.LinearHRUCell(5, 2, dt=0.5)],
                         ids=["midpoint", "linear_hru"])
def test_reversible_cell_inverse_undoes_forward(cell, rng):
    params = cell.init_params(rng)
    h = _random_tree(cell.initial_state(), rng)
    u = rng.standard_normal(2)
    back = cell.inverse(params, u, cell(params, u, h))
    assert tree_max_abs_diff(back, h) < 1e-14


def test_function_cell_plugs_a_user_map_into_hl(rng):
    """A user map with a VJP (here h' = tanh(W h + u)) trains exactly like the built-in cell."""
    def forward(p, u, h):
        out = np.tanh(p["W"] @ h + u)
        return out, (h, 1 - out ** 2)

    def vjp(p, ctx, v):
        h, d = ctx
        delta = v * d
        return delta, p["W"].T @ delta, {"W": np.outer(delta, h)}

    user = hl.FunctionCell(forward, vjp, {"W": (3, 3)}, initial_state_fn=lambda dt: np.zeros(3),
                           n_input=3)
    model = hl.HLModel(state_cell=user, output_cell=hl.IdentityReadout(), loss="squared_error")
    params = hl.HLParams({"W": 0.5 * rng.standard_normal((3, 3))}, {})
    u, t = rng.standard_normal((6, 3)), rng.standard_normal((6, 3))
    res = hl.reversed_stream_gradient(model, params, u, t)
    elman = {"recurrent_weight": params.state["W"], "input_weight": np.eye(3), "bias": np.zeros(3)}
    _, g_ref, _ = rnn_bptt_reference("elman", elman, {"weight": np.eye(3), "bias": np.zeros(3)},
                                     u, t, np.ones(6, bool), "squared_error")
    assert tree_max_abs_diff(res.weight_costate.state["W"], g_ref["recurrent_weight"]) < TOL_EXACT


# --------------------------------------------------------------------------- references vs FD
def test_reference_sgd_step_is_the_finite_difference_gradient(rng):
    sizes = (4, 6, 3)
    params = hl.MLP(sizes).init_params(rng)
    x, label = rng.standard_normal((1, 4)), np.array([2])
    grad = tree_map(lambda a, b: a - b, params,
                    mlp_sgd_reference(params, x, label, lr=1.0).params)

    def loss(p):
        hidden = np.tanh(p["weight0"] @ x[0] + p["bias0"])
        z = p["weight1"] @ hidden + p["bias1"]
        return np.log(np.sum(np.exp(z))) - z[2]

    for name in params:
        for idx in [(0,) * params[name].ndim, tuple(s - 1 for s in params[name].shape)]:
            e = np.zeros_like(params[name])
            e[idx] = 1e-6
            fd = (loss({**params, name: params[name] + e})
                  - loss({**params, name: params[name] - e})) / 2e-6
            assert abs(fd - grad[name][idx]) < TOL_FD


def _rnn_loss(cell, sp, rp, u, t, mask, loss, dt, start_state=None, start=0):
    """Forward loss of the reference RNNs written once more, for finite differences."""
    H = sp["bias"].shape[0]
    prev, cur = (np.zeros(H), np.zeros(H)) if start_state is None else start_state
    total = 0.0
    for k in range(start, len(u)):
        f = np.tanh(sp["recurrent_weight"] @ cur + sp["input_weight"] @ u[k] + sp["bias"])
        prev, cur = (cur, f) if cell == "elman" else (cur, prev + 2 * dt * f)
        if mask[k]:
            y = rp["weight"] @ cur + rp["bias"]
            if loss == "squared_error":
                total += 0.5 * np.sum((y - t[k]) ** 2)
            else:
                total += np.log(np.sum(np.exp(y))) - y[int(t[k])]
    return total


@pytest.mark.parametrize("cell", ["elman", "midpoint"])
@pytest.mark.parametrize("truncation", [None, 3])
def test_reference_bptt_matches_finite_differences(cell, truncation, rng):
    n, H, dt = 7, 4, 0.2
    sp = {"recurrent_weight": 0.5 * rng.standard_normal((H, H)),
          "input_weight": rng.standard_normal((H, 2)), "bias": rng.standard_normal(H)}
    rp = {"weight": rng.standard_normal((3, H)), "bias": rng.standard_normal(3)}
    u, t, mask = rng.standard_normal((n, 2)), rng.standard_normal((n, 3)), rng.random(n) < 0.7
    mask[-1] = True
    _, gs, gr = rnn_bptt_reference(cell, sp, rp, u, t, mask, "squared_error",
                                   truncation=truncation, dt=dt)
    start = 0 if truncation is None else n - truncation
    # the truncated gradient differentiates the window only, starting from a fixed-weight state
    H0 = np.zeros(H)
    state = (H0, H0)
    for k in range(start):
        f = np.tanh(sp["recurrent_weight"] @ state[1] + sp["input_weight"] @ u[k] + sp["bias"])
        state = (state[1], f) if cell == "elman" else (state[1], state[0] + 2 * dt * f)
    for group, grads, other in (("state", gs, rp), ("output", gr, sp)):
        base = sp if group == "state" else rp
        for name in base:
            d = rng.standard_normal(base[name].shape)
            eps = 1e-6
            vals = []
            for sign in (1, -1):
                pert = {**base, name: base[name] + sign * eps * d}
                args = (pert, rp) if group == "state" else (sp, pert)
                vals.append(_rnn_loss(cell, *args, u, t, mask, "squared_error", dt,
                                      start_state=state, start=start))
            fd = (vals[0] - vals[1]) / (2 * eps)
            assert abs(fd - np.sum(grads[name] * d)) <= TOL_FD * max(1.0, abs(fd))


# --------------------------------------------------------------------------- reversed stream = BPTT
def _elman_model(n_in, H, n_out, loss="squared_error"):
    return hl.HLModel(state_cell=hl.ElmanCell(n_in, H), output_cell=hl.LinearReadout(H, n_out),
                      loss=loss)


def _midpoint_model(n_in, H, n_out, dt, loss="squared_error"):
    return hl.HLModel(state_cell=hl.MidpointRNNCell(n_in, H, dt=dt),
                      output_cell=hl.LinearReadout(H, n_out, key="current"), loss=loss)


@pytest.mark.parametrize("tau", [1.0, 0.25])
@pytest.mark.parametrize("truncation", [None, 1, 5])
@pytest.mark.parametrize("targets_at", ["every", "last"])
def test_reversed_stream_costate_equals_bptt(tau, truncation, targets_at, rng):
    n, H = 14, 6
    model = _elman_model(2, H, 3)
    params = model.init_params(rng)
    params = params._replace(state={**params.state,
                                    "recurrent_weight": 2 * params.state["recurrent_weight"]})
    u, t = rng.standard_normal((n, 2)), rng.standard_normal((n, 3))
    mask = np.ones(n, bool) if targets_at == "every" else np.arange(n) == n - 1
    cfg = hl.HLConfig(tau=tau, phi=1.0 / tau, eta=0.0)
    res = hl.reversed_stream_gradient(model, params, u, t, mask, cfg, truncation=truncation,
                                      record_costates=True)
    loss, gs, gr = rnn_bptt_reference("elman", params.state, params.output, u, t, mask,
                                      "squared_error", truncation=truncation)
    assert tree_max_abs_diff(res.weight_costate.state, gs) <= TOL_EXACT
    assert tree_max_abs_diff(res.weight_costate.output, gr) <= TOL_EXACT
    assert res.loss == pytest.approx(loss, rel=1e-14)
    r = n if truncation is None else truncation
    assert res.n_steps == n + r - 1 and len(res.neuron_costates) == r
    # z after the first reversed step is dL/dh_n: the read-out gradient (zero if no target there)
    y_n = params.output["weight"] @ res.final_state + params.output["bias"]
    expected = params.output["weight"].T @ (y_n - t[-1])
    assert np.max(np.abs(res.neuron_costates[0] - expected)) <= TOL_EXACT


def test_reversed_stream_with_damping_or_other_phi_is_not_bptt(rng):
    """tau phi = 1 and eta = 0 are needed: otherwise HL gives a damped / rescaled BPTT."""
    model = _elman_model(2, 5, 2)
    params = model.init_params(rng)
    u, t = rng.standard_normal((10, 2)), rng.standard_normal((10, 2))
    _, gs, _ = rnn_bptt_reference("elman", params.state, params.output, u, t, np.ones(10, bool),
                                  "squared_error")
    for cfg in (hl.HLConfig(tau=1.0, phi=1.0, eta=0.2), hl.HLConfig(tau=1.0, phi=0.5, eta=0.0)):
        res = hl.reversed_stream_gradient(model, params, u, t, None, cfg)
        assert tree_max_abs_diff(res.weight_costate.state, gs) > 1e-3


def test_reversed_velocity_form_matches_finite_differences(rng):
    """dh/dt = tanh(A h + B u + b) - h ... Euler-discretised; HL reversed = gradient of that net."""
    H, n, tau = 4, 9, 0.3
    model = hl.HLModel(state_cell=hl.ElmanCell(2, H), output_cell=hl.LinearReadout(H, 2),
                       loss="squared_error", state_form="velocity")
    params = model.init_params(rng)
    u, t = rng.standard_normal((n, 2)), rng.standard_normal((n, 2))
    res = hl.reversed_stream_gradient(model, params, u, t, None,
                                      hl.HLConfig(tau=tau, phi=1 / tau, eta=0.0))

    def loss(sp):
        h, total = np.zeros(H), 0.0
        for k in range(n):
            pre = sp["recurrent_weight"] @ h + sp["input_weight"] @ u[k] + sp["bias"]
            h = h + tau * np.tanh(pre)
            y = params.output["weight"] @ h + params.output["bias"]
            total += 0.5 * np.sum((y - t[k]) ** 2)
        return total

    for name, value in params.state.items():
        d = rng.standard_normal(value.shape)
        eps = 1e-6
        fd = (loss({**params.state, name: value + eps * d})
              - loss({**params.state, name: value - eps * d})) / (2 * eps)
        assert abs(fd - np.sum(res.weight_costate.state[name] * d)) <= TOL_FD * max(1, abs(fd))


@pytest.mark.parametrize("truncation", [None, 4])
def test_reversed_mode_training_equals_bptt_sgd(truncation, rng):
    N, n, H = 6, 8, 5
    model = _elman_model(1, H, 4, loss="cross_entropy")
    params = model.init_params(rng)
    u = rng.standard_normal((N, n, 1))
    labels = rng.integers(0, 4, N)
    stream = hl.Stream.from_sequences(u, labels, target_at="last")
    res = hl.run_hl(model, params, stream, hl.bptt_config(lr=0.1, tau=0.5), mode="reversed",
                    truncation=truncation)
    mask = np.zeros((N, n), bool)
    mask[:, -1] = True
    ref = rnn_sgd_reference("elman", params.state, params.output, u,
                            np.repeat(labels[:, None], n, 1), mask, "cross_entropy", 0.1,
                            truncation=truncation)
    assert tree_max_abs_diff(res.params.state, ref.params["state"]) <= TOL_EXACT
    assert tree_max_abs_diff(res.params.output, ref.params["output"]) <= TOL_EXACT
    np.testing.assert_allclose(res.losses, ref.losses, rtol=1e-13)
    r = n if truncation is None else truncation
    assert res.n_steps == N * (n + r - 1)


# --------------------------------------------------------------------------- reversible storage
@pytest.mark.parametrize("truncation", [None, 6])
def test_reversible_storage_matches_leapfrog_bptt(truncation, rng):
    n, H, dt = 40, 6, 0.1
    model = _midpoint_model(2, H, 3, dt)
    params = model.init_params(rng)
    u, t = rng.standard_normal((n, 2)), rng.standard_normal((n, 3))
    mask = rng.random(n) < 0.5
    mask[-1] = True
    _, gs, gr = rnn_bptt_reference("midpoint", params.state, params.output, u, t, mask,
                                   "squared_error", truncation=truncation, dt=dt)
    res = hl.reversed_stream_gradient(model, params, u, t, mask, truncation=truncation,
                                      storage="reversible")
    assert res.reconstruction_error is not None and res.reconstruction_error < 1e-13
    scale = max(np.max(np.abs(leaf)) for leaf in tree_leaves(gs))
    assert tree_max_abs_diff(res.weight_costate.state, gs) <= TOL_REVERSIBLE * max(1, scale)
    assert tree_max_abs_diff(res.weight_costate.output, gr) <= TOL_REVERSIBLE * max(1, scale)
    # not the Euler (Elman) gradient: the trained network is the leapfrog-discretised one
    _, gs_euler, _ = rnn_bptt_reference("elman", params.state, params.output, u, t, mask,
                                        "squared_error", truncation=truncation)
    assert tree_max_abs_diff(gs_euler, gs) > 1e-3


def test_reconstruction_error_detects_a_non_inverse(rng):
    """A cell whose 'inverse' is off by 1e-6 is caught by the O(1) reconstruction check."""
    class SloppyMidpoint(hl.MidpointRNNCell):
        def inverse_with_context(self, params, u, h_next):
            h, ctx = super().inverse_with_context(params, u, h_next)
            return {**h, "previous": h["previous"] + 1e-6}, ctx

    model = hl.HLModel(state_cell=SloppyMidpoint(1, 3, dt=0.1),
                       output_cell=hl.LinearReadout(3, 2, key="current"), loss="squared_error")
    params = model.init_params(rng)
    res = hl.reversed_stream_gradient(model, params, rng.standard_normal((20, 1)),
                                      rng.standard_normal((20, 2)), storage="reversible")
    assert res.reconstruction_error > 1e-7


def test_reversible_training_run_matches_leapfrog_bptt_sgd(rng):
    N, n, H, dt = 4, 30, 5, 0.1
    model = _midpoint_model(1, H, 3, dt, loss="cross_entropy")
    params = model.init_params(rng)
    u, labels = rng.standard_normal((N, n, 1)), rng.integers(0, 3, N)
    stream = hl.Stream.from_sequences(u, labels, target_at="last")
    res = hl.run_hl(model, params, stream, hl.bptt_config(lr=0.2), mode="reversed",
                    storage="reversible")
    mask = np.zeros((N, n), bool)
    mask[:, -1] = True
    ref = rnn_sgd_reference("midpoint", params.state, params.output, u,
                            np.repeat(labels[:, None], n, 1), mask, "cross_entropy", 0.2, dt=dt)
    assert tree_max_abs_diff(res.params.state, ref.params["state"]) <= TOL_REVERSIBLE
    assert tree_max_abs_diff(res.params.output, ref.params["output"]) <= TOL_REVERSIBLE
    assert res.max_reconstruction_error < 1e-13


# --------------------------------------------------------------------------- HL <-> RHEL bridge
def _rhel_echo_linear_hru(stiffness, B, C, c, dt, u, targets, eps):
    """RHEL on the linear HRU, from research/rhel.md section 9, independent of physsim.hl.

    Forward: leapfrog with b_k = B u_k from rest, keeping only the final state and
    the recorded cotangents ybar_k = dL/dy_k of L = sum_k 1/2 |C y_{k+1} + c - t_k|^2.
    Echo: flip the momentum, nudge it by +-eps ybar, replay the inputs backwards.
    Returns the per-step echo differences Sigma_x (Phi+ - Phi-)/(2 eps) (position and
    momentum parts) and the parameter gradients -(dt/2eps)(G+ - G-).
    """
    n, N = len(u), len(stiffness)
    y, p = np.zeros(N), np.zeros(N)
    ybar = {}
    for k in range(n):
        y_half = y + 0.5 * dt * p
        p = p - dt * (stiffness * y_half - B @ u[k])
        y = y_half + 0.5 * dt * p
        ybar[k + 1] = C.T @ (C @ y + c - targets[k])
    echoes, sums = {}, {}
    for sign in (1, -1):
        ye, pe = y.copy(), -p + sign * eps * ybar[n]
        states = [(ye.copy(), pe.copy())]
        g_a, g_B = np.zeros(N), np.zeros_like(B)
        for j in range(1, n + 1):
            uj = u[n - j]
            y_half = ye + 0.5 * dt * pe
            g_a += 0.5 * y_half ** 2             # dV/da at the half-step position
            g_B += -np.outer(y_half, uj)          # dV/dB, V = 1/2 a y^2 - (B u).y
            pe = pe - dt * (stiffness * y_half - B @ uj)
            ye = y_half + 0.5 * dt * pe
            if j < n:
                pe = pe + sign * eps * ybar[n - j]
            states.append((ye.copy(), pe.copy()))
        echoes[sign], sums[sign] = states, (g_a, g_B)
    # Sigma_x swaps position and momentum: lambda_y <- momentum difference, lambda_p <- position one
    diffs = [((ep[1] - em[1]) / (2 * eps), (ep[0] - em[0]) / (2 * eps))
             for ep, em in zip(echoes[1], echoes[-1])]
    grads = {"stiffness": -(dt / (2 * eps)) * (sums[1][0] - sums[-1][0]),
             "input_weight": -(dt / (2 * eps)) * (sums[1][1] - sums[-1][1])}
    return diffs, grads


@pytest.mark.parametrize("storage", ["stored", "reversible"])
def test_hl_reversed_costate_equals_rhel_echo_difference(storage, rng):
    n, N, n_in, n_out, dt = 25, 5, 2, 3, 0.3
    cell = hl.LinearHRUCell(N, n_in, dt)
    model = hl.HLModel(state_cell=cell, output_cell=hl.LinearReadout(N, n_out, key="position"),
                       loss="squared_error")
    params = model.init_params(rng)
    u, targets = rng.standard_normal((n, n_in)), rng.standard_normal((n, n_out))
    res = hl.reversed_stream_gradient(model, params, u, targets, None, hl.HLConfig(),
                                      storage=storage, record_costates=True)
    diffs, grads = _rhel_echo_linear_hru(params.state["stiffness"], params.state["input_weight"],
                                         params.output["weight"], params.output["bias"], dt, u,
                                         targets, eps=1e-2)
    # HL costate step j is dL/dPhi_{n-j}; the echo after j steps (and its nudge) retraces Phi_{n-j}
    for j in range(n):
        z = res.neuron_costates[j]
        assert np.max(np.abs(z["position"] - diffs[j][0])) <= TOL_BRIDGE
        assert np.max(np.abs(z["momentum"] - diffs[j][1])) <= TOL_BRIDGE
    assert tree_max_abs_diff(res.weight_costate.state, grads) <= TOL_BRIDGE
    assert np.max(np.abs(res.neuron_costates[n // 2]["position"])) > 1e-2  # not trivially zero


# --------------------------------------------------------------------------- local mode (no data)
def test_local_and_nonlocal_differ_only_by_ordering_for_an_output_net(rng):
    """Stateless model: local uses omega_t for the update, nonlocal omega_{t+tau}."""
    model = hl.HLModel(output_cell=hl.MLP((3, 4, 2)), loss="cross_entropy")
    params = model.init_params(rng)
    x, y = rng.standard_normal((20, 3)), rng.integers(0, 2, 20)
    cfg = hl.HLConfig(tau=1.0, beta=0.1, eta=0.5, phi=1.0)
    stream = hl.Stream.from_samples(x, y)
    local = hl.run_hl(model, params, stream, cfg, mode="local")
    nonlocal_ = hl.run_hl(model, params, stream, cfg, mode="nonlocal")
    # by hand: omega' = (1 - tau eta) omega + tau phi g; local theta' = theta - tau beta omega
    theta, omega = dict(params.output), {k: np.zeros_like(v) for k, v in params.output.items()}
    for i in range(20):
        stepped = mlp_sgd_reference(theta, x[i:i + 1], y[i:i + 1], 1.0).params
        g = tree_map(lambda a, b: a - b, theta, stepped)
        theta = {k: theta[k] - 0.1 * omega[k] for k in theta}
        omega = {k: 0.5 * omega[k] + 1.0 * g[k] for k in omega}
    assert tree_max_abs_diff(local.params.output, theta) < 1e-13
    assert tree_max_abs_diff(local.params.output, nonlocal_.params.output) > 1e-4


# --------------------------------------------------------------------------- configuration
def test_sgd_to_hl_mapping_values():
    cfg = hl.sgd_to_hl(0.01, momentum=0.1, dampening=0.5, tau=0.5)
    assert cfg.beta == pytest.approx(0.02) and cfg.eta == pytest.approx(1.8)
    assert cfg.phi_at(0) == pytest.approx(2.0) and cfg.phi_at(1) == pytest.approx(1.0)
    assert cfg.tau * cfg.beta == pytest.approx(0.01) and cfg.costate_decay == pytest.approx(0.1)
    gd = hl.sgd_to_hl(0.001, dampening=0.7, tau=0.5)   # PyTorch ignores dampening without momentum
    assert gd.phi_at(0) == gd.phi_at(5) == pytest.approx(2.0) and gd.eta == pytest.approx(2.0)
    b = hl.bptt_config(0.05, tau=0.25)
    assert b.tau * b.phi == 1.0 and b.eta == 0.0 and b.reset_weight_costate


@pytest.mark.parametrize("setting", sorted(hl.PAPER_OPTIMIZER_SETTINGS))
def test_paper_settings_applied_coefficients_are_exact(setting):
    """The momentum, step and loss scale one HL step applies are the SGD floats, bit for bit.

    Read off hl_step itself: with no target the weight costate is only decayed, so
    omega = 1 gives the decay; a target with omega = 0 and theta = 0 gives tau phi_k g and
    -tau beta tau phi_k g.  Compared with torch.optim.SGD's fl(mu), lr and fl(1 - rho).
    """
    sgd, tau = hl.get_paper_setting(setting)
    cfg = hl.sgd_to_hl(sgd, tau=tau)
    cell = hl.MLP((2, 2))
    model = hl.HLModel(output_cell=cell, loss="cross_entropy")
    params = hl.HLParams({}, tree_map(np.zeros_like, cell.init_params(rng=0)))
    ones = hl.HLCostate({}, hl.HLParams({}, tree_map(np.ones_like, params.output)))
    u = np.array([0.5, -1.0])
    _, decayed, _, _ = hl.hl_step(model, params, ones, {}, u, None, cfg, k=3, local=False)
    for leaf in tree_leaves(decayed.weight):
        assert np.all(leaf == sgd.momentum)            # exactly mu, not mu +- an ulp
    grad = model.output_loss(params, u, {}, 1)[2]
    zero = model.zero_costate(params, {})
    for k, scale in ((0, 1.0), (5, 1.0 - sgd.dampening if sgd.momentum else 1.0)):
        theta, driven, _, _ = hl.hl_step(model, params, zero, {}, u, 1, cfg, k=k, local=False)
        for key, g in grad.items():
            assert np.array_equal(driven.weight.output[key], scale * g)
            assert np.array_equal(theta.output[key], 0.0 - sgd.lr * (scale * g))
    assert cfg.costate_decay == sgd.momentum and cfg.tau_beta == sgd.lr


def test_float_eta_cannot_give_the_paper_momenta():
    """Why sgd_to_hl gives eta exactly: no float eta near (1 - mu)/tau realises mu.

    For tau eta in [1/2, 1] the subtraction 1 - fl(tau eta) is exact (Sterbenz), a multiple
    of 2**-53, which fl(0.05) and fl(0.1) are not; checked on 1000 floats either side.
    """
    for setting in ("Mom-a", "Mom-b"):
        sgd, tau = hl.get_paper_setting(setting)
        eta = (1.0 - sgd.momentum) / tau
        for direction in (np.inf, -np.inf):
            e = eta
            for _ in range(1000):
                assert hl.HLConfig(tau=tau, eta=e).costate_decay != sgd.momentum
                e = float(np.nextafter(e, direction))
        assert hl.sgd_to_hl(sgd, tau=tau).costate_decay == sgd.momentum


def test_per_weight_beta_scales_each_weight(rng):
    """beta as a tree: equal values reproduce the scalar run, a zero freezes its weight."""
    model = hl.HLModel(output_cell=hl.MLP((3, 4, 2)), loss="cross_entropy")
    params = model.init_params(rng)
    stream = hl.Stream.from_samples(rng.standard_normal((12, 3)), rng.integers(0, 2, 12))
    scalar = hl.run_hl(model, params, stream, hl.HLConfig(beta=0.1, eta=0.5))
    same = tree_map(lambda a: np.full(a.shape, 0.1), params)
    tree_run = hl.run_hl(model, params, stream, hl.HLConfig(beta=same, eta=0.5))
    assert tree_max_abs_diff(scalar.params, tree_run.params) == 0.0
    frozen = hl.HLParams({}, {**same.output, "weight0": np.zeros((4, 3))})
    frozen_run = hl.run_hl(model, params, stream, hl.HLConfig(beta=frozen, eta=0.5))
    np.testing.assert_array_equal(frozen_run.params.output["weight0"], params.output["weight0"])
    assert np.max(np.abs(frozen_run.params.output["weight1"] - params.output["weight1"])) > 1e-3
    with pytest.raises(ValueError, match="structure of the parameters"):
        hl.run_hl(model, params, stream, hl.HLConfig(beta=hl.HLParams({}, {"w": np.ones(2)})))


def test_sign_switch_plus_one_integrates_the_original_costate_sign(rng):
    """s = +1 flips the forcing of the costates: the output-net update becomes gradient ascent."""
    model = hl.HLModel(output_cell=hl.MLP((3, 4, 2)), loss="cross_entropy")
    params = model.init_params(rng)
    x, y = rng.standard_normal((10, 3)), rng.integers(0, 2, 10)
    res = hl.run_hl(model, params, hl.Stream.from_samples(x, y),
                    hl.HLConfig(tau=1.0, beta=0.01, eta=1.0, phi=1.0, s=1))
    ascent = mlp_sgd_reference(params.output, x, y, lr=-0.01)
    assert tree_max_abs_diff(res.params.output, ascent.params) < 1e-14


def test_runs_resume_exactly_from_state_costate_and_step_offset(rng):
    """Splitting a stream in two runs (carrying h, [z, omega] and k) changes nothing."""
    model = hl.HLModel(state_cell=hl.LayeredMLPCell((3, 5, 2)),
                       output_cell=hl.IdentityReadout("layer2"), loss="cross_entropy")
    params = model.init_params(rng)
    x, y = rng.standard_normal((30, 3)), rng.integers(0, 2, 30)
    cfg = hl.HLConfig(tau=0.5, beta=0.05, eta=0.4, phi=hl.ExponentialPhi(2.0, -0.05, 0.5))
    whole = hl.run_hl(model, params, hl.Stream.from_samples(x, y, hold=2, reset_state=False),
                      cfg, mode="local")
    first = hl.run_hl(model, params, hl.Stream.from_samples(x[:13], y[:13], hold=2,
                                                            reset_state=False), cfg, mode="local")
    second = hl.run_hl(model, first.params,
                       hl.Stream.from_samples(x[13:], y[13:], hold=2, reset_state=False), cfg,
                       mode="local", initial_state=first.state, costate=first.costate,
                       step_offset=first.n_steps)
    assert tree_max_abs_diff(whole.params, second.params) == 0.0
    assert tree_max_abs_diff(whole.costate, second.costate) == 0.0
    np.testing.assert_array_equal(whole.losses, np.concatenate([first.losses, second.losses]))


def test_exponential_phi_is_an_exponential_learning_rate_schedule(rng):
    model = hl.HLModel(output_cell=hl.MLP((3, 4, 2)), loss="cross_entropy")
    params = model.init_params(rng)
    x, y = rng.standard_normal((15, 3)), rng.integers(0, 2, 15)
    tau, rate = 0.5, -0.1
    cfg = hl.HLConfig(tau=tau, beta=0.2, eta=1 / tau, phi=hl.ExponentialPhi(1 / tau, rate, tau))
    res = hl.run_hl(model, params, hl.Stream.from_samples(x, y), cfg)
    theta = dict(params.output)
    for i in range(15):
        lr = 0.1 * np.exp(rate * i * tau)
        theta = mlp_sgd_reference(theta, x[i:i + 1], y[i:i + 1], lr).params
    assert tree_max_abs_diff(res.params.output, theta) < 1e-13


@pytest.mark.parametrize("kwargs, match", [
    ({"eta": -0.1}, "eta must be >= 0"),
    ({"tau": 0.0}, "tau must be > 0"),
    ({"tau": -1.0}, "tau must be > 0"),
    ({"tau": np.nan}, "tau must be finite"),
    ({"beta": -1.0}, "beta must be >= 0"),
    ({"phi": 0.0}, "phi must be > 0"),
    ({"s": 0}, "sign switch"),
])
def test_config_rejects_inconsistent_settings(kwargs, match):
    with pytest.raises(ValueError, match=match):
        hl.HLConfig(**kwargs)


def test_sgd_settings_reject_values_outside_the_hl_range():
    with pytest.raises(ValueError, match="momentum must be in"):
        hl.sgd_to_hl(0.1, momentum=1.5)
    with pytest.raises(ValueError, match="dampening must be in"):
        hl.sgd_to_hl(0.1, momentum=0.5, dampening=1.0)
    with pytest.raises(ValueError, match="lr must be > 0"):
        hl.sgd_to_hl(0.0)
    with pytest.raises(ValueError, match="valid names"):
        hl.get_paper_setting("Adam")


def test_callable_phi_is_validated_at_use(rng):
    model = hl.HLModel(output_cell=hl.MLP((2, 2)), loss="squared_error")
    cfg = hl.HLConfig(phi=lambda k: 1.0 if k < 2 else -1.0)
    stream = hl.Stream(inputs=np.ones((4, 2)), targets=np.zeros((4, 2)))
    with pytest.raises(ValueError, match=r"phi\(2\) must be > 0"):
        hl.run_hl(model, model.init_params(rng), stream, cfg)


# --------------------------------------------------------------------------- stream tags and errors
def test_modes_refuse_streams_without_the_tags_they_need(rng):
    state_model = hl.HLModel(state_cell=hl.MLP((2, 3)), output_cell=hl.IdentityReadout(),
                             loss="squared_error")
    untagged = hl.Stream(inputs=rng.standard_normal((5, 2)), targets=rng.standard_normal((5, 3)))
    with pytest.raises(ValueError, match="needs stream tag 'reset'"):
        hl.run_hl(state_model, state_model.init_params(rng), untagged, hl.HLConfig())
    rnn = _elman_model(2, 3, 3)
    with pytest.raises(ValueError, match="needs stream tag 'sample_end'"):
        hl.run_hl(rnn, rnn.init_params(rng), untagged, hl.HLConfig(), mode="reversed")
    cut = hl.Stream(inputs=np.ones((5, 2)), sample_end=np.array([0, 0, 1, 0, 0], bool))
    with pytest.raises(ValueError, match="ends in the middle of a sequence"):
        hl.run_hl(rnn, rnn.init_params(rng), cut, hl.HLConfig(), mode="reversed")
    # the local mode needs no tags
    hl.run_hl(state_model, state_model.init_params(rng), untagged, hl.HLConfig(beta=0.01),
              mode="local")


def test_bad_options_raise_clear_errors(rng):
    rnn = _elman_model(2, 3, 3)
    params = rnn.init_params(rng)
    stream = hl.Stream.from_sequences(rng.standard_normal((2, 4, 2)),
                                      rng.standard_normal((2, 4, 3)))
    with pytest.raises(ValueError, match="unknown HL mode .backprop.; valid names are"):
        hl.run_hl(rnn, params, stream, hl.HLConfig(), mode="backprop")
    with pytest.raises(ValueError, match="needs a ReversibleCell"):
        hl.run_hl(rnn, params, stream, hl.HLConfig(), mode="reversed", storage="reversible")
    with pytest.raises(ValueError, match="valid"):
        hl.run_hl(rnn, params, stream, hl.HLConfig(), mode="reversed", storage="disk")
    with pytest.raises(ValueError, match="truncation must be a positive integer"):
        hl.run_hl(rnn, params, stream, hl.HLConfig(), mode="reversed", truncation=0)
    with pytest.raises(ValueError, match="apply to mode 'reversed' only"):
        hl.run_hl(rnn, params, stream, hl.HLConfig(), mode="nonlocal", truncation=3)
    with pytest.raises(ValueError, match="input features"):
        hl.run_hl(rnn, params, hl.Stream.from_sequences(np.ones((1, 3, 5))), hl.HLConfig(),
                  mode="reversed")
    with pytest.raises(ValueError, match="differ from the expected"):
        hl.run_hl(rnn, hl.HLParams({"W": np.ones(3)}, params.output), stream, hl.HLConfig())
    with pytest.raises(ValueError, match="needs a state network"):
        out_only = hl.HLModel(output_cell=hl.MLP((2, 3)), loss="squared_error")
        hl.run_hl(out_only, out_only.init_params(rng), stream, hl.HLConfig(), mode="reversed")
    with pytest.raises(ValueError, match="valid names"):
        hl.MLP((2, 3), activation="softsign")
    with pytest.raises(ValueError, match="valid names"):
        hl.HLModel(output_cell=hl.MLP((2, 3)), loss="hinge")
    with pytest.raises(ValueError, match="state_form"):
        hl.HLModel(output_cell=hl.MLP((2, 3)), loss="squared_error", state_form="implicit")
    with pytest.raises(ValueError, match="NaN or inf"):
        hl.Stream(inputs=np.array([[0.0, np.nan]]))
    with pytest.raises(ValueError, match="shape"):
        hl.Stream(inputs=np.ones((3, 2)), reset=np.ones(4, bool))
    with pytest.raises(ValueError, match="dt must be a positive"):
        hl.MidpointRNNCell(1, 2, dt=0.0)


@pytest.mark.filterwarnings("ignore::RuntimeWarning")  # overflow on the way to inf is the point
def test_divergence_raises_floating_point_error(rng):
    model = hl.HLModel(output_cell=hl.MLP((2, 2)), loss="squared_error")
    stream = hl.Stream(inputs=np.ones((200, 2)), targets=np.zeros((200, 2)))
    with pytest.raises(FloatingPointError, match="non-finite loss"):
        hl.run_hl(model, model.init_params(rng), stream, hl.HLConfig(beta=50.0, eta=0.0))


def test_stream_constructors_set_tags():
    s = hl.Stream.from_samples(np.zeros((3, 2)), np.array([0, 1, 2]), hold=3, target_delay=1)
    assert len(s) == 9
    np.testing.assert_array_equal(s.sample_end, np.tile([False, False, True], 3))
    np.testing.assert_array_equal(s.reset, np.tile([True, False, False], 3))
    np.testing.assert_array_equal(s.has_target, np.tile([False, True, True], 3))
    q = hl.Stream.from_sequences(np.zeros((2, 4, 1)), np.array([1, 0]), target_at="last")
    assert q.sequences() == [(0, 4), (4, 8)]
    np.testing.assert_array_equal(q.has_target, np.tile([False, False, False, True], 2))
