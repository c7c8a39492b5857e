"""Integrators against closed forms, exact transfer matrices, scipy, and the invariants RHEL
needs.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from conftest import (ALL_INTEGRATORS, DT, NON_REVERSIBLE_INTEGRATORS,
                      REVERSIBLE_INTEGRATORS, TOL, integrator_dt)
from physsim import INTEGRATORS, CoupledOscillators, get_integrator, simulate


def oscillator(mass=2.0, k=8.0):
    return CoupledOscillators(mass=np.array([mass]), stiffness=np.array([[k]]),
                              input_matrix=np.ones((1, 1)))


def driven_exact(t, x0, v0, m, k, f0, big_omega):
    """Closed form of m x'' = -k x + f0 cos(Omega t)."""
    w = np.sqrt(k / m)
    c = f0 / (m * (w**2 - big_omega**2))
    return (x0 - c) * np.cos(w * t) + v0 / w * np.sin(w * t) + c * np.cos(big_omega * t)


def run_driven(integrator, dt, t_end=2.0, m=2.0, k=8.0, f0=0.7, big_omega=1.3):
    n = int(round(t_end / dt))
    # inputs sampled at the step midpoints: a second-order zero-order hold
    u = f0 * np.cos(big_omega * (np.arange(n) + 0.5) * dt)[:, None]
    tr = simulate(oscillator(m, k), [0.3], [0.2 * m], u, dt=dt, integrator=integrator)
    return tr.final_positions[0, 0] - driven_exact(t_end, 0.3, 0.2, m, k, f0, big_omega)


def order_bound(integrator: str, dt: float, omega: float, t_end: float, order=None) -> float:
    """Global error allowed for a unit-amplitude oscillator: ``(omega dt)^order omega t / 4``.

    The leading phase error of a splitting of order r grows like ``c (omega dt)^r omega t``;
    the constants of the registered methods are below 1/4 (leapfrog's is 1/24), so the bound
    fails if the method is of lower order than it claims.
    """
    order = get_integrator(integrator).order if order is None else order
    return (omega * dt) ** order * omega * t_end / 4


def empirical_order(errors, dts) -> float:
    """Slope of log(error) against log(dt)."""
    return float(np.polyfit(np.log(dts), np.log(errors), 1)[0])


@pytest.mark.parametrize("integrator", ALL_INTEGRATORS)
def test_undriven_oscillator_closed_form(integrator):
    m, k, dt, n = 2.0, 8.0, 1e-3, 3000
    tr = simulate(oscillator(m, k), [1.0], [0.5], n_steps=n, dt=dt, integrator=integrator,
                  record_every=100)
    w = np.sqrt(k / m)
    exact = np.cos(w * tr.times) + 0.5 / (m * w) * np.sin(w * tr.times)
    err = np.max(np.abs(tr.positions[0, :, 0] - exact))
    assert err < order_bound(integrator, dt, w, n * dt), err


# Inputs held over each step (sampled at its midpoint) approximate the continuous drive to
# second order, so with a drive no integrator can show more than order 2.
def driven_order(integrator: str) -> int:
    return min(get_integrator(integrator).order, 2)


@pytest.mark.parametrize("integrator", ALL_INTEGRATORS)
def test_driven_oscillator_closed_form(integrator):
    w, dt = np.sqrt(8.0 / 2.0), 1e-3
    err = abs(run_driven(integrator, dt))
    assert err < order_bound(integrator, dt, w, 2.0, order=driven_order(integrator)), err


@pytest.mark.parametrize("integrator", ALL_INTEGRATORS)
def test_empirical_order_is_the_declared_order(integrator):
    m, k = 2.0, 8.0
    w = np.sqrt(k / m)
    dts = np.array([0.04, 0.02, 0.01, 0.005])
    errs = []
    for dt in dts:
        n = int(round(2.0 / dt))
        tr = simulate(oscillator(m, k), [1.0], [0.0], n_steps=n, dt=dt, integrator=integrator)
        errs.append(abs(tr.final_positions[0, 0] - np.cos(w * 2.0)))
    slope = empirical_order(errs, dts)
    assert abs(slope - get_integrator(integrator).order) < 0.2, f"slope {slope:.3f}"


@pytest.mark.parametrize("integrator", ALL_INTEGRATORS)
def test_empirical_order_driven(integrator):
    # steps small enough for Yoshida 4's fourth-order term to be negligible next to the
    # hold's second-order one (at dt = 0.04 the slope is still 1.83)
    dts = np.array([0.02, 0.01, 0.005])
    slope = empirical_order([abs(run_driven(integrator, dt)) for dt in dts], dts)
    assert abs(slope - driven_order(integrator)) < 0.2, f"slope {slope:.3f}"


def test_leapfrog_matches_exact_transfer_matrix(rng):
    """The position-velocity-position step of a driven oscillator is an exact 2x2 affine map."""
    m, k, h = 1.5, 3.0, 0.3
    a = h * h * k / m
    transfer = np.array([[1 - a / 2, h / m * (1 - a / 4)], [-h * k, 1 - a / 2]])
    forcing = np.array([h * h / (2 * m), h])  # response of (q, p) to a unit force held one step
    u = rng.standard_normal(200)
    x = np.array([0.4, -0.1])
    for f in u:
        x = transfer @ x + forcing * f
    tr = simulate(oscillator(m, k), [0.4], [-0.1], u[:, None], dt=h)
    np.testing.assert_allclose([tr.final_positions[0, 0], tr.final_momenta[0, 0]], x,
                               rtol=1e-12, atol=1e-12)
    assert np.isclose(np.linalg.det(transfer), 1.0)


@pytest.mark.parametrize("integrator", ALL_INTEGRATORS)
def test_step_is_the_affine_map_of_its_operation_table(integrator, rng):
    """On a driven oscillator every drift/kick is an exact 2x2 affine map; the compiled
    loops must compose them in the order of the integrator's own table."""
    m, k, h = 1.5, 3.0, 0.3
    u = rng.standard_normal(50)
    x = np.array([0.4, -0.1])
    for f in u:
        start = x
        for op, c in INTEGRATORS[integrator].operations:
            if op == "drift":
                x = np.array([x[0] + c * h * x[1] / m, x[1]])
            else:  # a start kick takes the force at the step's start position
                q_force = x[0] if op == "kick" else start[0]
                x = np.array([x[0], x[1] - c * h * (k * q_force - f)])
    tr = simulate(oscillator(m, k), [0.4], [-0.1], u[:, None], dt=h, integrator=integrator)
    np.testing.assert_allclose([tr.final_positions[0, 0], tr.final_momenta[0, 0]], x,
                               rtol=1e-12, atol=1e-12)


def harmonic_transfer(integrator: str, h_omega: float) -> np.ndarray:
    """One step of the integrator's table on x'' = -x (unit mass and stiffness), as a 2x2
    matrix acting on (q, p)."""
    m = np.eye(2)
    for op, c in INTEGRATORS[integrator].operations:
        if op == "start_kick":  # p -= c h q_start: a term on the step's start state
            m = m + np.array([[0.0, 0.0], [-c * h_omega, 0.0]])
            continue
        if op == "drift":
            step = np.array([[1.0, c * h_omega], [0.0, 1.0]])
        else:
            step = np.array([[1.0, 0.0], [-c * h_omega, 1.0]])
        m = step @ m
    return m


@pytest.mark.parametrize("integrator", ALL_INTEGRATORS)
def test_declared_stability_limit_is_where_the_oscillator_stops_being_bounded(integrator):
    """|trace| of the transfer matrix (unit determinant when symplectic) first reaches 2
    at stability_limit; simulate refuses a step just past it and runs one just below."""
    limit = INTEGRATORS[integrator].stability_limit
    grid = np.linspace(1e-3, 0.999 * limit, 400)
    assert all(abs(np.trace(harmonic_transfer(integrator, x))) < 2 for x in grid)
    assert abs(np.trace(harmonic_transfer(integrator, 1.001 * limit))) > 2
    system = oscillator(mass=1.0, k=100.0)  # omega = 10 rad/s
    simulate(system, [1.0], n_steps=5, dt=0.999 * limit / 10, integrator=integrator)
    with pytest.raises(ValueError, match="stability limit"):
        simulate(system, [1.0], n_steps=5, dt=1.001 * limit / 10, integrator=integrator)


@pytest.mark.parametrize("name", ["coupled_dense", "nonlinear_hru"])
def test_energy_has_no_secular_drift(systems, name):
    sys_ = systems[name]
    dt = DT[name]
    rng = np.random.default_rng(1)
    q0 = rng.standard_normal(sys_.n_dof)
    tr = simulate(sys_, q0, None, n_steps=100_000, dt=dt, record_every=100, record_energy=True)
    e = tr.energy[0]
    rel = np.abs(e - e[0]) / abs(e[0])
    tenth = len(rel) // 10
    # bounded oscillation, not growth: the last tenth is no worse than the first tenth
    assert rel[-tenth:].max() < 1.5 * rel[:tenth].max() + 1e-13
    # and bounded by a constant times (omega dt)^2
    assert rel.max() < (sys_.max_frequency() * dt) ** 2


@pytest.mark.parametrize("integrator", REVERSIBLE_INTEGRATORS)
@pytest.mark.parametrize("name", ["coupled_diag", "coupled_dense", "linear_hru",
                                  "linear_hru_complex", "nonlinear_hru",
                                  "josephson_circuit"])
def test_time_reversibility(systems, name, integrator):
    sys_ = systems[name]
    rng = np.random.default_rng(3)
    L = 10_000
    # a gentler drive for the Josephson circuit keeps it out of its chaotic regime, where
    # round-off grows exponentially and no integrator can retrace 10^4 steps to 1e-12
    amplitude = 0.05 if name == "josephson_circuit" else 0.3
    u = amplitude * rng.standard_normal((L, sys_.n_inputs))
    q0, p0 = amplitude * rng.standard_normal((2, sys_.n_dof)) / 0.3
    dt = integrator_dt(name, integrator)
    fwd = simulate(sys_, q0, p0, u, dt=dt, integrator=integrator)
    back = simulate(sys_, fwd.final_positions, -fwd.final_momenta, u[::-1], dt=dt,
                    integrator=integrator)
    scale = max(np.abs(fwd.final_positions).max(), np.abs(fwd.final_momenta).max(), 1.0)
    err = max(np.abs(back.final_positions[0] - q0).max(), np.abs(-back.final_momenta[0] - p0).max())
    assert err / scale < TOL["reversibility"]["float64"]


@pytest.mark.parametrize("integrator", NON_REVERSIBLE_INTEGRATORS)
def test_non_reversible_integrators_do_not_retrace(systems, integrator):
    """The reversibility test can fail: a method declared non-reversible misses by far."""
    sys_ = systems["coupled_diag"]
    q0 = np.ones(sys_.n_dof)
    fwd = simulate(sys_, q0, None, n_steps=100, dt=0.05, integrator=integrator)
    back = simulate(sys_, fwd.final_positions, -fwd.final_momenta, n_steps=100, dt=0.05,
                    integrator=integrator)
    assert np.abs(back.final_positions[0] - q0).max() > 1e-3


@pytest.mark.parametrize("integrator", ALL_INTEGRATORS)
def test_declared_reversibility_is_a_palindromic_table(integrator):
    """A drift/kick composition is time-symmetric exactly when its table reads the same
    backwards (merged half-drifts included), so the flag cannot drift from the table."""
    cls = INTEGRATORS[integrator]
    ops = cls.operations
    palindrome = all(a[0] == b[0] and np.isclose(a[1], b[1]) for a, b in zip(ops, ops[::-1]))
    # a start kick refers back to the step's first state, so no table holding one is
    # symmetric under reversal, palindromic or not
    symmetric = palindrome and all(op != "start_kick" for op, _ in ops)
    assert cls.time_reversible == symmetric


def test_nonlinear_hru_agrees_with_solve_ivp(systems):
    sys_ = systems["nonlinear_hru"]
    rng = np.random.default_rng(5)
    q0, p0 = rng.standard_normal(sys_.n_dof), rng.standard_normal(sys_.n_dof)
    u = rng.standard_normal(sys_.n_inputs)
    theta = sys_.pack_theta()
    d = sys_.input_matrix @ u
    k = sys_.kernels

    def rhs(t, y):
        n = sys_.n_dof
        gq, gp = np.empty(n), np.empty(n)
        k.grad_kinetic(y[n:], theta, gp)
        k.grad_potential(y[:n], d, theta, gq)
        return np.concatenate([gp, -gq])

    t_end = 5.0
    ref = solve_ivp(rhs, (0, t_end), np.concatenate([q0, p0]), method="DOP853", rtol=1e-12,
                    atol=1e-12)
    for dt, tol in [(0.01, 1e-3), (0.005, 2.5e-4)]:
        n = int(round(t_end / dt))
        tr = simulate(sys_, q0, p0, np.tile(u, (n, 1)), dt=dt)
        err = np.abs(tr.final_positions[0] - ref.y[:sys_.n_dof, -1]).max()
        assert err < tol, (dt, err)
