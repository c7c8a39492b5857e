"""Integrators against closed forms, exact transfer matrices, scipy, and the invariants RHEL
needs.
"""

from __future__ import annotations

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from conftest import DT, REVERSIBLE_INTEGRATORS, TOL
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


@pytest.mark.parametrize("integrator", ["leapfrog", "velocity_verlet", "yoshida4"])
def test_undriven_oscillator_closed_form(integrator):
    m, k, dt, n = 2.0, 8.0, 1e-3, 3000
    tr = simulate(oscillator(m, k), [1.0], [0.5], n_steps=n, dt=dt, integrator=integrator,
                  record_every=100)
    w = np.sqrt(k / m)
    exact = np.cos(w * tr.times) + 0.5 / (m * w) * np.sin(w * tr.times)
    assert np.max(np.abs(tr.positions[0, :, 0] - exact)) < 1e-5


@pytest.mark.parametrize("integrator", ["leapfrog", "velocity_verlet", "yoshida4"])
def test_driven_oscillator_closed_form(integrator):
    assert abs(run_driven(integrator, 1e-3)) < 1e-5


@pytest.mark.parametrize("integrator,order", [("leapfrog", 2), ("velocity_verlet", 2),
                                              ("yoshida4", 4)])
def test_empirical_order(integrator, order):
    m, k = 2.0, 8.0
    w = np.sqrt(k / m)
    dts = np.array([0.04, 0.02, 0.01, 0.005])
    errs = []
    for dt in dts:
        n = int(round(2.0 / dt))
        tr = simulate(oscillator(m, k), [1.0], [0.0], n_steps=n, dt=dt, integrator=integrator)
        errs.append(abs(tr.final_positions[0, 0] - np.cos(w * 2.0)))
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert abs(slope - order) < 0.2, f"slope {slope:.3f}"
    assert get_integrator(integrator).order == order


def test_empirical_order_driven_leapfrog():
    dts = np.array([0.04, 0.02, 0.01])
    errs = [abs(run_driven("leapfrog", dt)) for dt in dts]
    slope = np.polyfit(np.log(dts), np.log(errs), 1)[0]
    assert abs(slope - 2) < 0.2


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
    dt = DT[name] * (0.5 if integrator == "yoshida4" else 1.0)
    fwd = simulate(sys_, q0, p0, u, dt=dt, integrator=integrator)
    back = simulate(sys_, fwd.final_positions, -fwd.final_momenta, u[::-1], dt=dt,
                    integrator=integrator)
    scale = max(np.abs(fwd.final_positions).max(), np.abs(fwd.final_momenta).max(), 1.0)
    err = max(np.abs(back.final_positions[0] - q0).max(), np.abs(-back.final_momenta[0] - p0).max())
    assert err / scale < TOL["reversibility"]["float64"]


def test_symplectic_euler_is_not_reversible(systems):
    sys_ = systems["coupled_diag"]
    q0 = np.ones(sys_.n_dof)
    fwd = simulate(sys_, q0, None, n_steps=100, dt=0.05, integrator="symplectic_euler")
    back = simulate(sys_, fwd.final_positions, -fwd.final_momenta, n_steps=100, dt=0.05,
                    integrator="symplectic_euler")
    assert np.abs(back.final_positions[0] - q0).max() > 1e-3
    assert not INTEGRATORS["symplectic_euler"].time_reversible


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
