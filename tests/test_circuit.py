"""Circuit builder and Josephson circuit system: physics against independent references.

References used: closed-form LC and plasma frequencies, hand-written Kirchhoff
equations integrated by scipy's DOP853, central finite differences of the
energy callbacks, CoupledOscillators (for the linear case), energy
conservation and time reversibility of the symmetric integrators.
"""

from __future__ import annotations


import numpy as np
import pytest
import scipy.linalg
from scipy.integrate import solve_ivp

from kernel_checks import check_callbacks
from physsim import INTEGRATORS, CoupledOscillators, simulate
from physsim._kernels import circuit as ck
from physsim.bptt import bptt_gradient, finite_difference_gradient_check, loss_of
from physsim.gradients import compare
from physsim.losses import MSEReadout
from physsim.rhel import rhel_gradient
from physsim.systems.circuit import (
    FLUX_QUANTUM,
    REDUCED_FLUX_QUANTUM,
    Circuit,
    CircuitSystem,
    CircuitUnits,
)

PHI = REDUCED_FLUX_QUANTUM  # one radian of phase, in Wb
CALLBACKS = ("grad_kinetic", "grad_potential", "kinetic", "potential", "theta_grad_kinetic",
             "theta_grad_potential", "drive_grad_potential", "hvp_kinetic", "hvp_potential",
             "theta_vjp_kinetic", "theta_vjp_potential", "drive_vjp_potential")

# element values of the three-node test circuit (SI)
C_A, C_B, C_AB, C_C, C_JB = 1.0e-12, 0.8e-12, 0.2e-12, 1.5e-12, 0.1e-12
L_AB, L_C, L_BC, L_S = 2e-9, 1e-9, 3e-9, 4e-9
IC_AB, IC_B = 0.3e-6, 0.5e-6


def three_node_circuit(units: str = "SI") -> CircuitSystem:
    """Nodes a, b, c; junctions a-b and b-gnd; current source at a, voltage source at c."""
    c = Circuit()
    c.add_capacitor("a", "gnd", C_A)
    c.add_capacitor("b", "gnd", C_B)
    c.add_capacitor("a", "b", C_AB)
    c.add_capacitor("c", "gnd", C_C)
    c.add_inductor("a", "b", L_AB)
    c.add_inductor("c", "gnd", L_C)
    c.add_inductor("b", "c", L_BC)
    c.add_josephson_junction("a", "b", critical_current=IC_AB)
    c.add_josephson_junction("b", "gnd", critical_current=IC_B, capacitance=C_JB)
    c.add_current_source("a", name="Ia")
    c.add_voltage_source("c", inductance=L_S, name="Vc")
    return c.build(units=units)


def kirchhoff_rhs(t, y, u):
    """Hand-written node equations of :func:`three_node_circuit` (SI), y = [fluxes, charges].

    Charges are C times node voltages; dQ/dt is the net current into each node.
    """
    fa, fb, fc = y[:3]
    cap = np.array([[C_A + C_AB, -C_AB, 0.0],
                    [-C_AB, C_B + C_AB + C_JB, 0.0],
                    [0.0, 0.0, C_C]])
    volts = np.linalg.solve(cap, y[3:])
    i_source, flux_source = u
    k = 2 * np.pi / FLUX_QUANTUM
    i_ab = (fa - fb) / L_AB + IC_AB * np.sin(k * (fa - fb))   # a -> b through L and J
    i_b = IC_B * np.sin(k * fb)                                 # b -> gnd through J
    i_bc = (fb - fc) / L_BC                                     # b -> c
    i_c = fc / L_C + (fc - flux_source) / L_S                   # c -> gnd and into the source
    return np.concatenate([volts, [i_source - i_ab, i_ab - i_b - i_bc, i_bc - i_c]])


# ---------------------------------------------------------------- linear limit
def test_lc_equals_coupled_oscillators_and_closed_form():
    c1, c2, cc, l1, l2, lc = 1e-12, 2e-12, 0.3e-12, 1e-9, 3e-9, 5e-9
    c = Circuit()
    c.add_capacitor(1, 0, c1)
    c.add_capacitor(2, "gnd", c2)
    c.add_capacitor(1, 2, cc)
    c.add_inductor(1, "gnd", l1)
    c.add_inductor(2, 0, l2)
    c.add_inductor(1, 2, lc)
    c.add_current_source(1)
    sys = c.build()
    assert sys.n_junctions == 0 and sys.node_names == ("1", "2")
    mass = np.array([[c1 + cc, -cc], [-cc, c2 + cc]])
    stiff = np.array([[1 / l1 + 1 / lc, -1 / lc], [-1 / lc, 1 / l2 + 1 / lc]])
    ref = CoupledOscillators(mass=mass, stiffness=stiff, input_matrix=[[1.0], [0.0]])
    np.testing.assert_allclose(sys.normal_mode_frequencies(), ref.normal_mode_frequencies(),
                               rtol=1e-12)
    np.testing.assert_allclose(sys.max_frequency(), ref.max_frequency(), rtol=1e-12)
    q0 = np.array([1e-15, -2e-15])
    p0 = np.array([3e-19, 1e-19])
    u = np.random.default_rng(0).normal(0, 1e-6, (300, 1))
    a = simulate(sys, q0, p0, u, dt=2e-12)
    b = simulate(ref, q0, p0, u, dt=2e-12)
    np.testing.assert_allclose(a.final_positions, b.final_positions, rtol=1e-11, atol=1e-26)
    np.testing.assert_allclose(a.final_momenta, b.final_momenta, rtol=1e-11, atol=1e-30)
    np.testing.assert_allclose(sys.energy(q0, p0, u[0]), ref.energy(q0, p0, u[0]), rtol=1e-13)


def test_single_lc_frequency_and_trajectory_closed_form():
    cap, ind = 2e-12, 5e-9
    c = Circuit()
    c.add_capacitor("x", "gnd", cap)
    c.add_inductor("x", "gnd", ind)
    sys = c.build()
    omega = 1 / np.sqrt(ind * cap)
    np.testing.assert_allclose(sys.normal_mode_frequencies(), [omega], rtol=1e-13)
    np.testing.assert_allclose(sys.max_frequency(), omega, rtol=1e-13)
    for dt in (omega**-1 * 0.05, omega**-1 * 0.025):
        n = int(round(20 / (omega * dt)))
        tr = simulate(sys, [1e-15], n_steps=n, dt=dt, record_every=1)
        exact = 1e-15 * np.cos(omega * tr.times)
        err = np.max(np.abs(tr.positions[0, :, 0] - exact)) / 1e-15
        # leapfrog phase error omega t (omega dt)^2 / 24 at t = 20 / omega
        assert err < 20 * (omega * dt) ** 2 / 24 * 1.1


def test_source_input_units_closed_form():
    """A step of current I (A) into a parallel LC, and a flux step (Wb) through L_s."""
    cap, ind, ls = 1e-12, 2e-9, 3e-9
    c = Circuit()
    c.add_capacitor("n", "gnd", cap)
    c.add_inductor("n", "gnd", ind)
    c.add_current_source("n", name="I")
    c.add_voltage_source("n", inductance=ls, name="V")
    sys = c.build()
    assert sys.input_units == ("A", "Wb") and sys.input_names == ("I", "V")
    omega = np.sqrt((1 / ind + 1 / ls) / cap)
    dt = 0.01 / omega
    n = int(round(10 / (omega * dt)))
    current, source_flux = 0.2e-6, 0.5e-15
    steady = (current + source_flux / ls) / (1 / ind + 1 / ls)  # flux where currents balance
    u = np.tile([current, source_flux], (n, 1))
    tr = simulate(sys, [0.0], None, u, dt=dt, record_every=1)
    exact = steady * (1 - np.cos(omega * tr.times))
    np.testing.assert_allclose(tr.positions[0, :, 0], exact, atol=1e-3 * steady)


# ------------------------------------------------------------- kernel checks
def random_system(seed: int = 0) -> CircuitSystem:
    """A 3-node circuit with O(1) values (kernels are unit-agnostic), junctions 0-1 and 1-gnd."""
    rng = np.random.default_rng(seed)
    a = rng.normal(size=(3, 3))
    cap = a @ a.T + 3 * np.eye(3)
    k = rng.normal(size=(3, 3))
    d = np.array([[1.0, -1.0, 0.0], [0.0, 1.0, 0.0], [0.3, -0.7, 1.1]])
    return CircuitSystem(capacitance=cap, inverse_inductance=k + k.T,
                         josephson_energy=[0.9, 1.7, 0.6], junction_incidence=d,
                         input_matrix=rng.normal(size=(3, 2)), flux_quantum=2 * np.pi / 1.3)


def theta_directions(system: CircuitSystem) -> list[np.ndarray]:
    """Unit perturbations of theta; symmetric matrix blocks move (i, j) and (j, i) together."""
    dirs, offset = [], 0
    for blk in system.theta_layout:
        if blk.name in ("inverse_capacitance", "inverse_inductance"):
            n = blk.shape[0]
            for i in range(n):
                for j in range(i, n):
                    v = np.zeros(system.pack_theta().size)
                    v[offset + i * n + j] = 1.0
                    v[offset + j * n + i] = 1.0
                    dirs.append(v)
        else:
            for i in range(blk.size):
                v = np.zeros(system.pack_theta().size)
                v[offset + i] = 1.0
                dirs.append(v)
        offset += blk.size
    return dirs


def central_difference(f, x, direction, eps=1e-6):
    return (f(x + eps * direction) - f(x - eps * direction)) / (2 * eps)


@pytest.fixture(scope="module")
def kernel_case():
    sys = random_system()
    rng = np.random.default_rng(1)
    q, p, v = rng.normal(size=(3, 3)) * 1.5
    d = rng.normal(size=3)
    return sys, sys.pack_theta(), q, p, v, d


def test_theta_layout_matches_documentation(kernel_case):
    sys, theta, *_ = kernel_case
    n, nj = 3, 3
    assert theta.size == 2 * n * n + 1 + nj + nj * n
    nj_k, k_off, e_off, d_off = ck.junction_layout(theta, n)
    assert (nj_k, k_off, e_off, d_off) == (nj, n * n, n * n + 1, n * n + 1 + nj)
    blocks = sys.unpack_theta(theta)
    np.testing.assert_allclose(blocks["inverse_capacitance"] @ sys.capacitance, np.eye(n),
                               atol=1e-13)
    np.testing.assert_array_equal(blocks["junction_incidence"], sys.junction_incidence)
    assert blocks["flux_to_phase"][0] == pytest.approx(1.3)


def test_compiled_callbacks_match_python(kernel_case):
    sys, theta, q, p, v, d = kernel_case
    k = sys.kernels
    w = 0.7

    def run(fn, *args, n_out):
        out = np.linspace(-1, 1, n_out)
        res = fn(*args, out)
        return out if res is None else res

    nt, n = theta.size, q.size
    cases = {
        "grad_kinetic": ((p, theta), n), "grad_potential": ((q, d, theta), n),
        "theta_grad_kinetic": ((p, theta, w), nt), "theta_grad_potential": ((q, d, theta, w), nt),
        "drive_grad_potential": ((q, d, theta, w), n), "hvp_kinetic": ((p, theta, v), n),
        "hvp_potential": ((q, d, theta, v), n), "theta_vjp_kinetic": ((p, theta, v, w), nt),
        "theta_vjp_potential": ((q, d, theta, v, w), nt),
        "drive_vjp_potential": ((q, d, theta, v, w), n),
    }
    for name, (args, n_out) in cases.items():
        fn = getattr(k, name)
        np.testing.assert_allclose(run(fn, *args, n_out=n_out),
                                   run(fn.py_func, *args, n_out=n_out), rtol=1e-13, atol=1e-13,
                                   err_msg=name)
    assert k.kinetic(p, theta) == pytest.approx(k.kinetic.py_func(p, theta), rel=1e-14)
    assert k.potential(q, d, theta) == pytest.approx(k.potential.py_func(q, d, theta), rel=1e-14)
    assert set(CALLBACKS) == {f for f in CALLBACKS if getattr(k, f) is not None}
    assert k.has_adjoint


def test_gradients_against_finite_differences(kernel_case):
    sys, theta, q, p, v, d = kernel_case
    k = sys.kernels
    n = q.size
    eye = np.eye(n)

    def grad(fn, *args):
        out = np.full(n, 123.0)  # overwritten, not accumulated
        fn(*args, out)
        return out

    # dT/dp, dV/dq
    fd_t = [central_difference(lambda x: k.kinetic(x, theta), p, e) for e in eye]
    fd_v = [central_difference(lambda x: k.potential(x, d, theta), q, e) for e in eye]
    np.testing.assert_allclose(grad(k.grad_kinetic, p, theta), fd_t, rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(grad(k.grad_potential, q, d, theta), fd_v, rtol=1e-8, atol=1e-9)
    # Hessian-vector products: directional derivative of the gradients along v
    np.testing.assert_allclose(
        grad(k.hvp_kinetic, p, theta, v),
        central_difference(lambda x: grad(k.grad_kinetic, x, theta), p, v), rtol=1e-7, atol=1e-8)
    np.testing.assert_allclose(
        grad(k.hvp_potential, q, d, theta, v),
        central_difference(lambda x: grad(k.grad_potential, x, d, theta), q, v),
        rtol=1e-7, atol=1e-8)

    w = 0.7
    rng = np.random.default_rng(5)

    def accumulated(fn, *args, size):
        start = rng.normal(size=size)
        out = start.copy()
        fn(*args, w, out)
        return (out - start) / w  # callbacks add w * gradient

    g_tk = accumulated(k.theta_grad_kinetic, p, theta, size=theta.size)
    g_tv = accumulated(k.theta_grad_potential, q, d, theta, size=theta.size)
    g_vjp_t = accumulated(k.theta_vjp_kinetic, p, theta, v, size=theta.size)
    g_vjp_v = accumulated(k.theta_vjp_potential, q, d, theta, v, size=theta.size)
    for direction in theta_directions(sys):
        checks = (
            (g_tk, lambda th: k.kinetic(p, th)),
            (g_tv, lambda th: k.potential(q, d, th)),
            (g_vjp_t, lambda th: v @ grad(k.grad_kinetic, p, th)),
            (g_vjp_v, lambda th: v @ grad(k.grad_potential, q, d, th)),
        )
        for g, f in checks:
            assert g @ direction == pytest.approx(central_difference(f, theta, direction),
                                                  rel=1e-7, abs=1e-8)
    # drive: dV/dd and d(v.dV/dq)/dd
    g_d = accumulated(k.drive_grad_potential, q, d, theta, size=n)
    g_dv = accumulated(k.drive_vjp_potential, q, d, theta, v, size=n)
    np.testing.assert_allclose(g_d, [central_difference(lambda x: k.potential(q, x, theta), d, e)
                                     for e in eye], rtol=1e-8, atol=1e-9)
    np.testing.assert_allclose(
        g_dv, [central_difference(lambda x: v @ grad(k.grad_potential, q, x, theta), d, e)
               for e in eye], rtol=1e-8, atol=1e-9)


def test_named_parameter_gradients_against_finite_differences():
    """Chain rule of _gradient_to_params: dH/d(capacitance, 1/L, E_J, B) by finite differences."""
    sys = three_node_circuit(units="natural")  # O(1) numbers, same code path as SI
    rng = np.random.default_rng(3)
    q, p = rng.normal(size=(2, 3))
    u = rng.normal(size=2)
    theta = sys.pack_theta()
    g = np.zeros(theta.size)
    sys.kernels.theta_grad_kinetic(p, theta, 1.0, g)
    d = sys.input_matrix @ u
    sys.kernels.theta_grad_potential(q, d, theta, 1.0, g)
    g_drive = np.zeros(3)
    sys.kernels.drive_grad_potential(q, d, theta, 1.0, g_drive)
    named = sys.gradient_to_params(g, np.outer(g_drive, u))
    assert set(named) == set(sys.param_names)
    for name in sys.param_names:
        value = sys.params[name]
        direction = rng.normal(size=value.shape)
        if name in ("capacitance", "inverse_inductance"):
            direction = direction + direction.T
        scale = 1e-4 * max(np.max(np.abs(value)), 1.0)

        def energy(x, name=name):
            return float(sys.replace(**{name: x}).energy(q, p, u))

        fd = (energy(value + scale * direction) - energy(value - scale * direction)) / (2 * scale)
        assert np.sum(named[name] * direction) == pytest.approx(fd, rel=1e-6), name


# ----------------------------------------------------------- energy & frequency
def test_energy_matches_hand_written_hamiltonian():
    sys = three_node_circuit()
    rng = np.random.default_rng(4)
    q = rng.normal(size=3) * PHI
    p = rng.normal(size=3) * 1e-18
    u = np.array([0.1e-6, 0.2 * PHI])
    cap = np.array([[C_A + C_AB, -C_AB, 0.0], [-C_AB, C_B + C_AB + C_JB, 0.0], [0.0, 0.0, C_C]])
    fa, fb, fc = q
    ej_ab, ej_b = IC_AB * PHI, IC_B * PHI
    energy = (0.5 * p @ np.linalg.solve(cap, p)
              + (fa - fb) ** 2 / (2 * L_AB) + fc**2 / (2 * L_C) + (fb - fc) ** 2 / (2 * L_BC)
              + (fc - u[1]) ** 2 / (2 * L_S) - u[1] ** 2 / (2 * L_S)  # constant dropped
              - u[0] * fa - ej_ab * np.cos((fa - fb) / PHI) - ej_b * np.cos(fb / PHI))
    assert sys.energy(q, p, u) == pytest.approx(energy, rel=1e-12)


def test_plasma_frequency_closed_form():
    cap, ic = 1e-12, 1e-6
    c = Circuit()
    c.add_josephson_junction("j", "gnd", critical_current=ic, capacitance=cap)
    sys = c.build()
    plasma = np.sqrt(2 * np.pi * ic / (FLUX_QUANTUM * cap))
    np.testing.assert_allclose(sys.normal_mode_frequencies(), [plasma], rtol=1e-13)
    np.testing.assert_allclose(sys.max_frequency(), plasma, rtol=1e-13)
    # at phase pi the junction is an inverted pendulum: negative curvature
    np.testing.assert_allclose(sys.normal_mode_frequencies([np.pi * PHI]), [-plasma], rtol=1e-12)


def test_max_frequency_bounds_the_hessian_everywhere():
    sys = three_node_circuit()
    omega_max = sys.max_frequency()
    np.testing.assert_allclose(omega_max, sys.normal_mode_frequencies()[-1], rtol=1e-12)
    theta = sys.pack_theta()
    rng = np.random.default_rng(6)
    worst = 0.0
    for _ in range(200):
        q = rng.uniform(-np.pi, np.pi, 3) * PHI * 3
        hess = np.empty((3, 3))
        for i, e in enumerate(np.eye(3)):
            sys.kernels.hvp_potential(q, np.zeros(3), theta, e, hess[:, i])
        w2 = scipy.linalg.eigh(0.5 * (hess + hess.T), sys.capacitance, eigvals_only=True)
        worst = max(worst, w2[-1])
    assert worst <= omega_max**2 * (1 + 1e-12)
    with pytest.raises(ValueError, match="stability limit"):
        simulate(sys, np.zeros(3), n_steps=2, dt=2.01 / omega_max)
    simulate(sys, np.zeros(3), n_steps=2, dt=1.99 / omega_max)


# ----------------------------------------------------------- simulation vs scipy
def _reference_run(q0, blocks, t_block):
    phi_scale, q_scale = PHI, 1e-17
    atol = 1e-14 * np.array([phi_scale] * 3 + [q_scale] * 3)
    y = np.concatenate([q0, np.zeros(3)])
    for k, u in enumerate(blocks):
        sol = solve_ivp(kirchhoff_rhs, (k * t_block, (k + 1) * t_block), y, method="DOP853",
                        rtol=1e-12, atol=atol, args=(u,))
        y = sol.y[:, -1]
    return y


def test_driven_josephson_circuit_matches_solve_ivp():
    sys = three_node_circuit()
    omega = sys.max_frequency()
    rng = np.random.default_rng(0)
    n_blocks, t_total = 10, 2e-9
    blocks = np.stack([rng.normal(0, 0.1e-6, n_blocks), rng.normal(0, 0.3 * PHI, n_blocks)], 1)
    q0 = np.array([0.8, -0.5, 0.3]) * PHI  # phases of order 1 rad: strongly nonlinear
    ref = _reference_run(q0, blocks, t_total / n_blocks)
    q_scale = np.max(np.abs(ref[3:]))
    def final_error(name, n_steps):
        dt = t_total / n_steps
        u = np.repeat(blocks, n_steps // n_blocks, axis=0)  # zero-order hold, same blocks
        tr = simulate(sys, q0, None, u, dt=dt, integrator=name)
        err = max(np.max(np.abs(tr.final_positions[0] - ref[:3])) / PHI,
                  np.max(np.abs(tr.final_momenta[0] - ref[3:])) / q_scale)
        if name == "leapfrog":
            # harmonic phase-error estimate omega T (omega dt)^2 / 24, with margin
            assert err < 2 * omega * t_total * (omega * dt) ** 2 / 24
        return err

    errors = {}
    for name, cls in INTEGRATORS.items():
        # halving the step divides the error by 2^order, once the error is small enough
        # to be in the asymptotic regime: a method whose amplitudes grow at every step
        # (the official NonlinHRU step, determinant 1 + (h omega)^2 / 2) is still far from
        # it at the shared step, so its step is halved until the error is below 0.5
        # (symplectic Euler, still pre-asymptotic at the shared step, shows 1.74 = 2^0.80)
        n_steps = 2000
        errors[name, n_steps] = final_error(name, n_steps)
        while errors[name, n_steps] > 0.5 and n_steps < 2 ** 18:
            n_steps *= 2
            errors[name, n_steps] = final_error(name, n_steps)
        errors[name, 2 * n_steps] = final_error(name, 2 * n_steps)
        observed = np.log2(errors[name, n_steps] / errors[name, 2 * n_steps])
        assert abs(observed - cls.order) < 0.25, (name, n_steps, observed)
    assert errors["yoshida4", 2000] < 1e-4


# ---------------------------------------------------------------- invariants
def test_energy_conservation_is_second_order_and_does_not_drift():
    sys = three_node_circuit()
    omega = sys.max_frequency()
    q0 = np.array([0.8, -0.5, 0.3]) * PHI
    e_min = -np.sum(sys.josephson_energy)  # potential minimum, at zero flux
    worst = []
    for dt in (1e-12, 0.5e-12):
        tr = simulate(sys, q0, n_steps=100_000, dt=dt, record_every=10, record_energy=True)
        e = tr.energy[0]
        rel = np.abs(e - e[0]) / (e[0] - e_min)  # relative to the energy above the minimum
        tenth = rel.size // 10
        assert rel.max() < 0.5 * (omega * dt) ** 2
        assert rel[-tenth:].max() < 1.2 * rel[:tenth].max()  # bounded, no secular drift
        worst.append(rel.max())
    assert 3.5 < worst[0] / worst[1] < 4.5


@pytest.mark.parametrize("name", [n for n, cls in INTEGRATORS.items() if cls.time_reversible])
def test_time_reversal_returns_to_the_initial_state(name):
    sys = three_node_circuit()
    rng = np.random.default_rng(2)
    n_steps, dt = 10_000, 1e-12
    u = np.stack([rng.normal(0, 0.1e-6, n_steps), rng.normal(0, 0.3 * PHI, n_steps)], 1)
    q0 = np.array([0.8, -0.5, 0.3]) * PHI
    p0 = np.array([1.0, -2.0, 0.5]) * 1e-17  # node charges of order C omega Phi0/2pi
    fwd = simulate(sys, q0, p0, u, dt=dt, integrator=name)
    back = simulate(sys, fwd.final_positions, -fwd.final_momenta, u[::-1], dt=dt,
                    integrator=name)
    assert np.abs(fwd.final_momenta[0] - p0).max() > np.abs(p0).max()  # it went somewhere
    np.testing.assert_allclose(back.final_positions[0], q0, rtol=0, atol=1e-12 * np.abs(q0).max())
    np.testing.assert_allclose(-back.final_momenta[0], p0, rtol=0, atol=1e-12 * np.abs(p0).max())


@pytest.mark.parametrize("name", [n for n, cls in INTEGRATORS.items()
                                  if not cls.time_reversible])
def test_non_reversible_integrators_are_not_reversible_here(name):
    """The reversal test can fail: a non-reversible integrator misses by far more than 1e-12."""
    sys = three_node_circuit()
    q0 = np.array([0.8, -0.5, 0.3]) * PHI
    fwd = simulate(sys, q0, n_steps=1000, dt=1e-12, integrator=name)
    back = simulate(sys, fwd.final_positions, -fwd.final_momenta, n_steps=1000, dt=1e-12,
                    integrator=name)
    assert np.max(np.abs(back.final_positions[0] - q0)) > 1e-6 * np.abs(q0).max()


# ------------------------------------------------------------------------ units
def test_natural_units_reproduce_si_and_allow_float32():
    si = three_node_circuit("SI")
    nat = three_node_circuit("natural")
    un = nat.units
    assert un.flux == pytest.approx(PHI) and un.time == 1e-9 and nat.time_unit == "ns"
    assert nat.flux_to_phase == pytest.approx(1.0)
    np.testing.assert_allclose(nat.normal_mode_frequencies() / un.time,
                               si.normal_mode_frequencies(), rtol=1e-12)
    rng = np.random.default_rng(8)
    n_steps = 2000
    u = np.stack([rng.normal(0, 0.1e-6, n_steps), rng.normal(0, 0.3 * PHI, n_steps)], 1)
    q0 = np.array([0.8, -0.5, 0.3])           # rad
    p0 = np.array([2.0, -1.0, 0.5])           # Cooper pairs
    a = simulate(si, q0 * un.flux, p0 * un.charge, u, dt=1e-12)
    u_nat = u / [un.current, un.flux]          # inputs in 2e/ns and Phi0/2pi
    assert nat.input_units == ("2e/ns", "Phi0/2pi")
    assert np.abs(nat.input_matrix).max() < 1e3 and np.abs(u_nat).max() < 1e4
    b = simulate(nat, q0, p0, u_nat, dt=1e-3)
    np.testing.assert_allclose(b.final_positions * un.flux, a.final_positions, rtol=1e-9,
                               atol=1e-9 * PHI)
    np.testing.assert_allclose(b.final_momenta * un.charge, a.final_momenta, rtol=1e-9,
                               atol=1e-9 * np.abs(a.final_momenta).max())
    np.testing.assert_allclose(nat.energy(q0, p0, u_nat[0]) * un.energy,
                               si.energy(q0 * un.flux, p0 * un.charge, u[0]), rtol=1e-12)
    c = simulate(nat, q0, p0, u_nat, dt=1e-3, dtype=np.float32)
    assert c.final_positions.dtype == np.float32
    np.testing.assert_allclose(c.final_positions, b.final_positions, atol=1e-3)


# ------------------------------------------------------------------ builder errors
def test_builder_errors_are_clear():
    c = Circuit()
    c.add_capacitor("a", "gnd", 1e-12)
    for bad in (0, -1e-12, np.nan, np.inf, "big", True, None):
        with pytest.raises(ValueError, match="finite positive number in F"):
            c.add_capacitor("a", "gnd", bad)
    with pytest.raises(ValueError, match="finite positive number in H"):
        c.add_inductor("a", "gnd", 0.0)
    with pytest.raises(ValueError, match="finite positive number in A"):
        c.add_josephson_junction("a", "gnd", critical_current=-1e-6)
    with pytest.raises(ValueError, match="non-negative"):
        c.add_josephson_junction("a", "gnd", critical_current=1e-6, capacitance=-1.0)
    with pytest.raises(ValueError, match="to itself"):
        c.add_inductor("a", "a", 1e-9)
    with pytest.raises(ValueError, match="to itself"):
        c.add_inductor("gnd", 0, 1e-9)
    with pytest.raises(ValueError, match="node name"):
        c.add_inductor(1.5, "a", 1e-9)
    with pytest.raises(ValueError, match="series inductance"):
        c.add_voltage_source("a")
    c.add_current_source("a", name="drive")
    with pytest.raises(ValueError, match="duplicate element name 'drive'.*names in use"):
        c.add_current_source("a", name="drive")
    with pytest.raises(ValueError, match="duplicate"):
        c.add_voltage_source("a", inductance=1e-9, name="drive")
    c.add_current_source("nowhere", name="lost")
    with pytest.raises(ValueError, match="unknown node 'nowhere'.*nodes are: a"):
        c.build()
    with pytest.raises(ValueError, match="unknown units 'cgs'.*SI, natural"):
        Circuit().build(units="cgs")
    with pytest.raises(ValueError, match="no nodes"):
        Circuit().build()


def test_singular_capacitance_is_refused():
    c = Circuit()
    c.add_capacitor("a", "gnd", 1e-12)
    c.add_josephson_junction("a", "b", critical_current=1e-6)   # b has no capacitance
    c.add_inductor("b", "gnd", 1e-9)
    with pytest.raises(ValueError, match="'b' have no capacitance.*singular"):
        c.build()
    c = Circuit()
    c.add_capacitor("x", "y", 1e-12)                            # floating pair
    c.add_inductor("x", "gnd", 1e-9)
    c.add_capacitor("z", "gnd", 1e-12)
    with pytest.raises(ValueError, match="'x', 'y' form a floating island"):
        c.build()
    # a junction's own capacitance is enough
    c = Circuit()
    c.add_josephson_junction("a", "gnd", critical_current=1e-6, capacitance=1e-12)
    assert c.build().n_dof == 1


def test_system_validation_and_metadata():
    sys = three_node_circuit()
    assert sys.node_names == ("a", "b", "c")
    assert sys.junction_names == ("J1", "J2")
    assert sys.node_index("b") == 1
    with pytest.raises(ValueError, match="unknown node 'q'; nodes are: a, b, c"):
        sys.node_index("q")
    np.testing.assert_array_equal(sys.junction_incidence, [[1, -1, 0], [0, 1, 0]])
    np.testing.assert_allclose(sys.josephson_energy, [IC_AB * PHI, IC_B * PHI], rtol=1e-15)
    np.testing.assert_allclose(sys.input_matrix, [[1, 0], [0, 0], [0, 1 / L_S]], rtol=1e-15)
    assert sys.describe()["input_units"] == ["A", "Wb"]
    with pytest.raises(ValueError, match="positive definite"):
        sys.replace(capacitance=-sys.capacitance)
    with pytest.raises(ValueError, match="josephson_energy"):
        sys.replace(josephson_energy=[1.0, np.nan])
    with pytest.raises(ValueError, match="junction_incidence must have shape"):
        sys.replace(josephson_energy=[1.0, 2.0, 3.0])
    bigger = sys.replace(josephson_energy=2 * sys.josephson_energy)
    assert bigger.max_frequency() > sys.max_frequency()
    assert CircuitUnits.natural(1e-12).time_label == "ps"
    assert CircuitUnits.natural(1e-12).current_label == "2e/ps"
    assert CircuitUnits.natural(2.5e-9).time_label == "2.5e-09 s"  # no named prefix
    assert CircuitUnits.si().time_label == "s" and CircuitUnits.si().current_label == "A"


def test_float32_parameter_gradients_need_natural_units():
    """Documented limitation: in SI, h * dT/dC^-1 ~ 1e-47 underflows float32; natural units fit."""
    si = three_node_circuit("SI")
    nat = three_node_circuit("natural")
    p_nat = np.array([2.0, -1.0, 0.5])
    h_nat, h_si = 1e-3, 1e-12
    for system, p, h, expect_zero in ((si, p_nat * nat.units.charge, h_si, True),
                                      (nat, p_nat, h_nat, False)):
        g64 = np.zeros(system.pack_theta().size)
        system.kernels.theta_grad_kinetic(p, system.pack_theta(), h, g64)
        g32 = np.zeros(g64.size, np.float32)
        system.kernels.theta_grad_kinetic(p.astype(np.float32), system.pack_theta(np.float32),
                                          np.float32(h), g32)
        assert np.all(g64[:9] != 0)
        if expect_zero:
            assert np.all(g32 == 0)
        else:
            np.testing.assert_allclose(g32, g64, rtol=1e-6)


def test_shared_callback_checks(kernel_case):
    """The project-wide callback checker agrees (numba vs py_func, finite differences)."""
    check_callbacks(kernel_case[0], np.random.default_rng(11))
    check_callbacks(three_node_circuit("natural"), np.random.default_rng(12))


# ------------------------------------------------------------ learning rules
def _learning_problem(system, rng, n_steps=300, batch=2):
    """Inputs, initial phases and an MSE read-out loss, in natural units (O(1) numbers)."""
    u = np.stack([rng.normal(0, 300, (batch, n_steps)), rng.normal(0, 0.3, (batch, n_steps))], -1)
    q0 = rng.normal(0, 0.5, (batch, system.n_dof))
    loss = MSEReadout(rng.normal(size=(2, system.n_dof)), rng.normal(size=(batch, n_steps, 2)))
    return q0, u, loss


def test_rhel_and_bptt_on_a_josephson_circuit():
    """BPTT equals finite differences; RHEL converges to BPTT as eps^2 (nonlinear system)."""
    nat = three_node_circuit("natural")
    assert not nat.is_linear
    q0, u, loss = _learning_problem(nat, np.random.default_rng(0))
    dt = 0.005  # ns; omega_max dt = 0.28
    ref = bptt_gradient(nat, q0, None, u, loss, dt=dt)
    checks = finite_difference_gradient_check(
        lambda s: loss_of(s, q0, None, u, loss, dt=dt), nat, ref.params)
    for name, rows in checks.items():
        np.testing.assert_allclose(rows[:, 1], rows[:, 0], rtol=1e-6, err_msg=name)
    errors = []
    for rel in (1e-3, 1e-4):
        got = rhel_gradient(nat, q0, None, u, loss, relative_nudge=rel, dt=dt)
        errors.append(max(a.max_relative_error for a in compare(got, ref).values()))
    assert 70 < errors[0] / errors[1] < 130, errors   # O(eps^2) bias
    assert errors[1] < 1e-6


def test_si_gradients_are_the_natural_unit_gradients_rescaled():
    """The same device and loss in SI and natural units: gradients differ only by unit factors."""
    nat, si = three_node_circuit("natural"), three_node_circuit("SI")
    un = nat.units
    q0, u, loss = _learning_problem(nat, np.random.default_rng(1), n_steps=200)
    input_unit = np.array([un.current, un.flux])            # SI per natural input unit
    loss_si = MSEReadout(loss.readout / un.flux, loss.targets)
    dt = 0.005
    g_nat = bptt_gradient(nat, q0, None, u, loss, dt=dt)
    g_si = bptt_gradient(si, q0 * un.flux, None, u * input_unit, loss_si, dt=dt * un.time)
    assert g_si.loss == pytest.approx(g_nat.loss, rel=1e-9)
    scale = {"capacitance": un.capacitance, "inverse_inductance": un.inverse_inductance,
             "josephson_energy": un.energy}
    for name, unit in scale.items():
        np.testing.assert_allclose(g_si.params[name] * unit, g_nat.params[name], rtol=1e-7,
                                   atol=1e-7 * np.abs(g_nat.params[name]).max(), err_msg=name)
    np.testing.assert_allclose(g_si.params["input_matrix"] * un.current / input_unit,
                               g_nat.params["input_matrix"], rtol=1e-7)
    np.testing.assert_allclose(g_si.input_gradient * input_unit, g_nat.input_gradient,
                               rtol=1e-7, atol=1e-7 * np.abs(g_nat.input_gradient).max())
    # RHEL in SI needs an eps matched to SI magnitudes (charges ~1e-17 C, dL/dq ~ 1/Phi0)
    got = rhel_gradient(si, q0 * un.flux, None, u * input_unit, loss_si, eps=1e-36,
                        dt=dt * un.time)
    assert max(a.max_relative_error for a in compare(got, g_si).values()) < 1e-6


# -------------------------------------------------------- mutual inductance
def coupled_ladder(k12=0.4, k23=-0.3):
    """Three nodes, three inductors (two of them coupled to a third), a current source."""
    c = Circuit()
    c.add_capacitor("a", "gnd", 1.0e-12)
    c.add_capacitor("b", "gnd", 0.7e-12)
    c.add_capacitor("a", "b", 0.2e-12)
    c.add_capacitor("c", "gnd", 1.3e-12)
    c.add_inductor("a", "gnd", 2e-9, name="L1")
    c.add_inductor("b", "c", 3e-9, name="L2")
    c.add_inductor("c", "gnd", 1.5e-9, name="L3")
    c.add_inductor("a", "c", 4e-9, name="L4")  # uncoupled, stamped directly
    c.add_mutual_inductance("L1", "L2", k12)
    c.add_mutual_inductance("L2", "L3", k23)
    c.add_current_source("a", name="drive")
    return c


def test_mutual_inductance_closed_form_normal_modes():
    # two identical LC resonators coupled by k: omega = 1 / sqrt(L (1 +- k) C)
    l_, c_, k = 5e-9, 1e-12, 0.3
    circ = Circuit()
    circ.add_capacitor(1, "gnd", c_)
    circ.add_capacitor(2, "gnd", c_)
    circ.add_inductor(1, "gnd", l_, name="La")
    circ.add_inductor(2, "gnd", l_, name="Lb")
    circ.add_mutual_inductance("La", "Lb", k)
    expected = np.sort(1 / np.sqrt(l_ * np.array([1 + k, 1 - k]) * c_))
    np.testing.assert_allclose(circ.build().normal_mode_frequencies(), expected, rtol=1e-12)


def test_zero_coupling_is_the_uncoupled_circuit():
    coupled = coupled_ladder(0.0, 0.0).build()
    plain = Circuit()
    for br in coupled_ladder().branches:
        getattr(plain, {"capacitor": "add_capacitor", "inductor": "add_inductor"}[br.kind])(
            br.node_a, br.node_b, br.value)
    np.testing.assert_allclose(coupled.inverse_inductance, plain.build().inverse_inductance,
                               rtol=1e-12)


def _branch_current_reference(circ, u_of_t, t_end):
    """Node voltages from Kirchhoff's laws in branch currents, independent of A^T L^-1 A.

    State (V, I): C dV/dt = -A^T I + B u(t) and L_b dI/dt = A V, with the full
    branch inductance matrix L_b (mutual inductances off the diagonal).
    """
    nodes = circ.nodes
    idx = {n: i for i, n in enumerate(nodes)}
    inductors = [b for b in circ.branches if b.kind == "inductor"]
    pos = {b.name: i for i, b in enumerate(inductors)}
    n, nb = len(nodes), len(inductors)
    cap = np.zeros((n, n))
    for b in circ.branches:
        if b.kind == "capacitor":
            for x, y, sgn in ((b.node_a, b.node_a, 1), (b.node_b, b.node_b, 1),
                              (b.node_a, b.node_b, -1), (b.node_b, b.node_a, -1)):
                if x != "gnd" and y != "gnd":
                    cap[idx[x], idx[y]] += sgn * b.value
    inc = np.zeros((nb, n))
    for b in inductors:
        if b.node_a != "gnd":
            inc[pos[b.name], idx[b.node_a]] = 1
        if b.node_b != "gnd":
            inc[pos[b.name], idx[b.node_b]] = -1
    lmat = np.diag([b.value for b in inductors])
    for k in circ.couplings:
        i, j = pos[k.inductor_a], pos[k.inductor_b]
        lmat[i, j] = lmat[j, i] = k.coefficient * np.sqrt(lmat[i, i] * lmat[j, j])
    bvec = np.zeros(n)
    for s in circ.sources:
        bvec[idx[s.node]] += 1.0

    def rhs(t, y):
        v, cur = y[:n], y[n:]
        return np.concatenate([np.linalg.solve(cap, -inc.T @ cur + bvec * u_of_t(t)),
                               np.linalg.solve(lmat, inc @ v)])

    sol = solve_ivp(rhs, (0.0, t_end), np.zeros(n + nb), method="DOP853", rtol=1e-12,
                    atol=1e-20)
    return sol.y[:n, -1]


def test_mutual_inductance_matches_branch_current_kirchhoff():
    circ = coupled_ladder()
    sys = circ.build()
    amp, f = 1e-6, 3e9

    def u_of_t(t):
        return amp * np.sin(2 * np.pi * f * t)

    t_end = 1e-9
    ref = _branch_current_reference(circ, u_of_t, t_end)
    scale = np.max(np.abs(ref))
    errors = []
    for n_steps in (2000, 4000):
        dt = t_end / n_steps
        u = u_of_t((np.arange(n_steps) + 0.5) * dt)[:, None]  # midpoint of each step
        tr = simulate(sys, np.zeros(3), None, u, dt=dt)
        volts = sys.inverse_capacitance @ tr.final_momenta[0]
        errors.append(np.max(np.abs(volts - ref)) / scale)
    assert errors[0] < 1e-3
    assert 3.5 < errors[0] / errors[1] < 4.5  # leapfrog's order 2


def test_mutual_inductance_energy_is_conserved_and_is_the_branch_energy():
    circ = coupled_ladder()
    sys = circ.build()
    q0 = np.array([1.0, -0.5, 0.7]) * 1e-15
    # energy through branch currents: I = L_b^-1 (A Phi) over ALL inductors (independent route)
    idx = {n: i for i, n in enumerate(circ.nodes)}
    inductors = [b for b in circ.branches if b.kind == "inductor"]
    pos = {b.name: i for i, b in enumerate(inductors)}
    lmat = np.diag([b.value for b in inductors])
    for k in circ.couplings:
        i, j = pos[k.inductor_a], pos[k.inductor_b]
        lmat[i, j] = lmat[j, i] = k.coefficient * np.sqrt(lmat[i, i] * lmat[j, j])
    branch_flux = np.array([(q0[idx[b.node_a]] if b.node_a != "gnd" else 0.0)
                            - (q0[idx[b.node_b]] if b.node_b != "gnd" else 0.0)
                            for b in inductors])
    e_branch = 0.5 * branch_flux @ np.linalg.solve(lmat, branch_flux)
    np.testing.assert_allclose(sys.energy(q0, np.zeros(3)), e_branch, rtol=1e-12)
    omega = sys.max_frequency()
    worst = []
    for dt in (2e-12, 1e-12):
        tr = simulate(sys, q0, n_steps=20_000, dt=dt, record_every=10, record_energy=True)
        rel = np.abs(tr.energy[0] - e_branch) / e_branch
        assert rel.max() < 0.5 * (omega * dt) ** 2
        worst.append(rel.max())
    assert 3.5 < worst[0] / worst[1] < 4.5


def test_value_gradients_against_finite_differences():
    circ = coupled_ladder()
    circ.add_josephson_junction("b", "gnd", 0.4e-6, capacitance=0.1e-12, name="J1")
    rng = np.random.default_rng(3)
    sys = circ.build(units="natural")
    weights = {name: rng.normal(size=np.shape(getattr(sys, name)))
               for name in ("capacitance", "inverse_inductance", "josephson_energy")}
    weights = {k: 0.5 * (w + w.T) if w.ndim == 2 else w for k, w in weights.items()}

    def functional(values):
        s = circ.with_values(values).build(units="natural")
        return sum(np.sum(w * getattr(s, name)) for name, w in weights.items())

    grads = circ.value_gradients(sys, weights)
    base = circ.values
    assert set(grads) == set(base) == {"C1", "C2", "C3", "C4", "L1", "L2", "L3", "L4", "J1",
                                       "K1", "K2"}
    for name, value in base.items():
        h = 1e-5 * abs(value)
        fd = (functional({name: value + h}) - functional({name: value - h})) / (2 * h)
        assert grads[name] == pytest.approx(fd, rel=1e-6, abs=1e-9 * abs(fd) + 1e-300), name


def test_mutual_inductance_errors_are_clear():
    circ = coupled_ladder()
    with pytest.raises(ValueError, match="'C1' is not one"):
        circ.add_mutual_inductance("L1", "C1", 0.1)
    with pytest.raises(ValueError, match="already coupled"):
        circ.add_mutual_inductance("L2", "L1", 0.1)
    with pytest.raises(ValueError, match=r"in \(-1, 1\)"):
        circ.add_mutual_inductance("L1", "L3", 1.0)
    with pytest.raises(ValueError, match="with itself"):
        circ.add_mutual_inductance("L1", "L1", 0.1)
    strong = Circuit()
    for i in range(3):
        strong.add_capacitor(i + 1, "gnd", 1e-12)
        strong.add_inductor(i + 1, "gnd", 1e-9, name=f"L{i}")
    strong.add_mutual_inductance("L0", "L1", 0.9)
    strong.add_mutual_inductance("L1", "L2", 0.9)
    strong.add_mutual_inductance("L0", "L2", -0.9)
    with pytest.raises(ValueError, match="not positive definite"):
        strong.build()
    with pytest.raises(ValueError, match="unknown element"):
        circ.with_values({"nope": 1.0})
