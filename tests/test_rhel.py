"""RHEL against BPTT and finite differences: exact for linear systems, O(eps^2) otherwise."""

from __future__ import annotations

import numpy as np
import pytest

from conftest import (DT, NON_REVERSIBLE_INTEGRATORS, REVERSIBLE_INTEGRATORS, TOL,
                      integrator_dt, make_systems)
from physsim import LinearHRU
from physsim.bptt import bptt_gradient, finite_difference_gradient_check, loss_of
from physsim.gradients import compare
from physsim.losses import CotangentSequence, FinalStateLoss, MSEReadout, PooledCrossEntropy
from physsim.rhel import rhel_gradient

LINEAR = ["coupled_diag", "coupled_dense", "linear_hru", "linear_hru_complex"]


def problem(system, rng, L, B=2, kind="mse", reduction="mean"):
    u = 0.5 * rng.standard_normal((B, L, system.n_inputs))
    q0 = 0.1 * rng.standard_normal((B, system.n_dof))
    readout = rng.standard_normal((2, system.n_dof))
    if kind == "mse":
        loss = MSEReadout(readout, rng.standard_normal((B, L, 2)), reduction=reduction)
    elif kind == "pooled":
        loss = PooledCrossEntropy(readout, rng.integers(0, 2, B))
    elif kind == "final":
        loss = FinalStateLoss(readout, rng.standard_normal((B, 2)))
    else:
        loss = CotangentSequence(0.1 * rng.standard_normal((B, L, system.n_dof)) / np.sqrt(L))
    return q0, u, loss


def max_rel_error(result, reference):
    return max(a.max_relative_error for a in compare(result, reference).values())


@pytest.mark.parametrize("name", LINEAR)
@pytest.mark.parametrize("eps", [1e-6, 1e-2, 1.0])
def test_linear_systems_exact_for_any_eps(systems, name, eps, rng):
    sys_ = systems[name]
    # summed squared error: cotangents of order one, so eps is the nudge itself
    q0, u, loss = problem(sys_, rng, L=200, reduction="sum")
    ref = bptt_gradient(sys_, q0, None, u, loss, dt=DT[name])
    got = rhel_gradient(sys_, q0, None, u, loss, eps=eps, dt=DT[name])
    assert set(compare(got, ref)) == set(sys_.param_names) | {"inputs", "q0", "p0"}
    assert max_rel_error(got, ref) < TOL["rhel_linear"]["float64"]


def test_linear_hru_long_sequence_exact(rng):
    # frequencies bounded away from zero: no secular growth of the state over 10^4 steps
    sys_ = LinearHRU.random(8, 3, complex=True, rng=rng).replace(A=rng.uniform(0.2, 1.0, 8))
    q0, u, loss = problem(sys_, rng, L=10_000, B=1, reduction="sum")
    ref = bptt_gradient(sys_, q0, None, u, loss)
    for eps in (1e-6, 1.0):
        got = rhel_gradient(sys_, q0, None, u, loss, eps=eps)
        assert max_rel_error(got, ref) < TOL["rhel_linear"]["float64"]


@pytest.mark.parametrize("step", [1e-4, 0.1])
def test_nonlinear_hru_error_falls_as_eps_squared(step, rng):
    from physsim import NonlinearHRU

    sys_ = NonlinearHRU.random(8, 3, step=step, rng=rng)
    # cotangents of size 0.1/sqrt(L): eps is the nudge relative to that scale
    q0, u, loss = problem(sys_, rng, L=1000, kind="cotangent")
    ref = bptt_gradient(sys_, q0, None, u, loss)
    eps_grid = np.array([1e-3, 1e-2, 1e-1])
    errs = [max_rel_error(rhel_gradient(sys_, q0, None, u, loss, eps=e), ref) for e in eps_grid]
    slope = np.polyfit(np.log(eps_grid), np.log(errs), 1)[0]
    assert abs(slope - 2) < 0.3, errs
    assert errs[0] < 1e-6


@pytest.mark.parametrize("name", LINEAR)
def test_one_sided_default_nudge_is_small_on_linear_systems(systems, name, rng):
    """The one-sided estimate is biased by O(nudge) on linear systems too: no nudge of 1."""
    sys_ = systems[name]
    q0, u, loss = problem(sys_, rng, L=200)
    ref = bptt_gradient(sys_, q0, None, u, loss, dt=DT[name])
    got = rhel_gradient(sys_, q0, None, u, loss, estimator="one_sided", dt=DT[name])
    assert max_rel_error(got, ref) < 1e-2


def test_one_sided_estimator_converges_as_eps(rng):
    from physsim import NonlinearHRU

    sys_ = NonlinearHRU.random(6, 2, step=0.1, rng=rng)
    q0, u, loss = problem(sys_, rng, L=300, kind="cotangent")
    ref = bptt_gradient(sys_, q0, None, u, loss)
    eps_grid = np.array([1e-3, 1e-2, 1e-1])
    errs = [max_rel_error(rhel_gradient(sys_, q0, None, u, loss, eps=e, estimator="one_sided"),
                          ref) for e in eps_grid]
    slope = np.polyfit(np.log(eps_grid), np.log(errs), 1)[0]
    assert abs(slope - 1) < 0.3, errs


@pytest.mark.parametrize("name", ["coupled_diag", "coupled_dense", "linear_hru",
                                  "linear_hru_complex", "nonlinear_hru",
                                  "josephson_circuit"])
def test_bptt_matches_finite_differences(systems, name, rng):
    sys_ = systems[name]
    q0, u, loss = problem(sys_, rng, L=60)
    ref = bptt_gradient(sys_, q0, None, u, loss, dt=DT[name])
    fd = finite_difference_gradient_check(
        lambda s: loss_of(s, q0, None, u, loss, dt=DT[name]), sys_, ref.params, rng=1)
    for pname, rows in fd.items():
        np.testing.assert_allclose(rows[:, 1], rows[:, 0], rtol=TOL["bptt_fd"]["float64"],
                                   atol=1e-9, err_msg=pname)
    # inputs and initial state through the same finite differences
    h = 1e-6
    du = rng.standard_normal(u.shape)
    fd_u = (loss_of(sys_, q0, None, u + h * du, loss, dt=DT[name])
            - loss_of(sys_, q0, None, u - h * du, loss, dt=DT[name])) / (2 * h)
    assert np.isclose(fd_u, np.sum(ref.input_gradient * du), rtol=1e-6, atol=1e-10)
    dq = rng.standard_normal(q0.shape)
    fd_q = (loss_of(sys_, q0 + h * dq, None, u, loss, dt=DT[name])
            - loss_of(sys_, q0 - h * dq, None, u, loss, dt=DT[name])) / (2 * h)
    assert np.isclose(fd_q, np.sum(ref.initial_position_gradient * dq), rtol=1e-6, atol=1e-10)


MATRIX_SYSTEMS = make_systems(np.random.default_rng(11))


@pytest.mark.parametrize("name", list(MATRIX_SYSTEMS))
@pytest.mark.parametrize("integrator", REVERSIBLE_INTEGRATORS)
@pytest.mark.parametrize("estimator", ["centred", "one_sided"])
@pytest.mark.parametrize("nudge", ["recorded", "online"])
def test_matrix_systems_integrators_estimators_nudges(name, integrator, estimator, nudge):
    """Every combination agrees with BPTT within its estimator's bias at a small eps."""
    rng = np.random.default_rng(2)
    sys_ = MATRIX_SYSTEMS[name]
    q0, u, loss = problem(sys_, rng, L=100)
    dt = integrator_dt(name, integrator)
    ref = bptt_gradient(sys_, q0, None, u, loss, dt=dt, integrator=integrator)
    got = rhel_gradient(sys_, q0, None, u, loss, dt=dt, integrator=integrator, eps=1e-4,
                        estimator=estimator, nudge=nudge)
    exact = estimator == "centred" and nudge == "recorded" and name in LINEAR
    tol = 1e-9 if exact else 1e-2
    for tensor, a in compare(got, ref).items():
        assert a.max_relative_error < tol, (tensor, a)


@pytest.mark.parametrize("kind", ["pooled", "final"])
def test_other_losses(systems, kind, rng):
    sys_ = systems["linear_hru_complex"]
    q0, u, loss = problem(sys_, rng, L=150, kind=kind)
    ref = bptt_gradient(sys_, q0, None, u, loss)
    for nudge in ("recorded", "online"):
        got = rhel_gradient(sys_, q0, None, u, loss, nudge=nudge)
        assert max_rel_error(got, ref) < 1e-9
        assert np.isclose(got.loss, ref.loss)


def test_float32_pooled_readout_default_settings(rng):
    """float32, P=64, 16 inputs, L=5000, mean-pooled read-out: matches float64 BPTT."""
    sys_ = LinearHRU.random(64, 16, rng=rng)
    B, L = 2, 5000
    u = rng.standard_normal((B, L, 16))
    loss = PooledCrossEntropy(rng.standard_normal((4, sys_.n_dof)) / 8, np.array([1, 3]))
    ref = bptt_gradient(sys_, np.zeros(sys_.n_dof), None, u, loss)
    got = rhel_gradient(sys_, np.zeros(sys_.n_dof), None, u, loss, dtype=np.float32)
    for tensor, a in compare(got, ref).items():
        if tensor in ("q0", "p0"):
            continue
        assert a.cosine >= 0.999 and abs(a.norm_ratio - 1) < 0.01, (tensor, a)


@pytest.mark.parametrize("integrator", NON_REVERSIBLE_INTEGRATORS)
def test_refuses_non_reversible_integrator(systems, rng, integrator):
    sys_ = systems["coupled_diag"]
    q0, u, loss = problem(sys_, rng, L=10)
    with pytest.raises(ValueError, match="time-reversible"):
        rhel_gradient(sys_, q0, None, u, loss, dt=0.05, integrator=integrator)


def test_bad_options_raise(systems, rng):
    sys_ = systems["linear_hru"]
    q0, u, loss = problem(sys_, rng, L=10)
    with pytest.raises(ValueError, match="valid names"):
        rhel_gradient(sys_, q0, None, u, loss, estimator="forward")
    with pytest.raises(ValueError, match="valid names"):
        rhel_gradient(sys_, q0, None, u, loss, nudge="psychic")
    with pytest.raises(ValueError, match="eps"):
        rhel_gradient(sys_, q0, None, u, loss, eps=-1.0)
    with pytest.raises(ValueError, match="batch"):
        rhel_gradient(sys_, q0[:1].repeat(3, 0), None, u[:1], loss)


def test_batch_gives_mean_gradient(systems, rng):
    sys_ = systems["linear_hru"]
    q0, u, loss = problem(sys_, rng, L=50, B=2, kind="mse")
    both = rhel_gradient(sys_, q0, None, u, loss)
    singles = [rhel_gradient(sys_, q0[b:b + 1], None, u[b:b + 1],
                             MSEReadout(loss.readout, loss.targets[b:b + 1])) for b in range(2)]
    for name in sys_.param_names:
        np.testing.assert_allclose(both.params[name],
                                   0.5 * (singles[0].params[name] + singles[1].params[name]),
                                   rtol=1e-9, atol=1e-14)
