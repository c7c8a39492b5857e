"""Hardware models: ideal, noisy analog, finite precision, composition, presets, reproducibility.

Every check is against something independent of the code under test: closed
forms (damped oscillator, Ornstein-Uhlenbeck variance, equipartition),
scipy's normal distribution, exact grid arithmetic, the BPTT gradient of the
realised device, or plain bitwise equality where the physics demands it.
"""

from __future__ import annotations

import dataclasses
import warnings

import numba
import numpy as np
import pytest
import scipy.constants
import scipy.stats

import physsim
from hardware_models import (Composite, FinitePrecision, Ideal, NoisyAnalog, SaturationWarning,
                             compose, dof_physics, thermal_energy)
from hardware_models import _hooks
from hardware_models import _rng
from hardware_models._rng import ziggurat
from hardware_models._rng import (ZIGGURAT_LAYERS, ZIGGURAT_R, normal_array, uniform_array,
                                  ziggurat_radius, ziggurat_tables)
from physsim import CoupledOscillators, LinearHRU, NonlinearHRU
from physsim.bptt import bptt_gradient
from physsim.gradients import agreement
from physsim.hardware import build_model, get_preset, preset_names, preset_summaries
from physsim.hardware import no_step_hook
from physsim.losses import FinalStateLoss, MSEReadout
from physsim.rhel import rhel_gradient

from conftest import DT


def _flat(result) -> np.ndarray:
    return np.concatenate([np.ravel(result.params[k]) for k in sorted(result.params)])


def _hru_problem(P=8, m=2, L=200, B=2, seed=0):
    rng = np.random.default_rng(seed)
    system = LinearHRU.random(P, m, rng=seed + 1)
    u = rng.uniform(-1.0, 1.0, (B, L, m))
    q0 = rng.uniform(-0.5, 0.5, (B, P))
    loss = MSEReadout(rng.standard_normal((1, P)), rng.standard_normal((B, L, 1)))
    return system, q0, u, loss


def _free_hru(P=64):
    """Linear HRU with A = 0 and no input: no force, so momenta change only by the hook."""
    rng = np.random.default_rng(3)
    return LinearHRU(A=np.zeros(P), step=rng.uniform(0.2, 0.9, P), B_re=np.zeros((P, 1)))


# ------------------------------------------------------------------ generator
def test_counter_normals_are_standard_normal():
    z = normal_array((4, 250, 1000), seed=11, pass_index=0, stream=1, step_axis=True).ravel()
    assert abs(z.mean()) < 5 / np.sqrt(z.size)
    assert abs(z.var() - 1) < 5 * np.sqrt(2 / z.size)
    assert scipy.stats.kstest(z, "norm").pvalue > 1e-3
    # tails: the ziggurat's tail branch (beyond its base strip R) must reproduce P(|z| > R)
    r = ZIGGURAT_R
    expected = 2 * scipy.stats.norm.sf(r) * z.size
    assert abs(np.count_nonzero(np.abs(z) > r) - expected) < 5 * np.sqrt(expected)
    u = uniform_array((1000, 1000), seed=11, pass_index=0, stream=2).ravel()
    assert scipy.stats.kstest(u, "uniform").pvalue > 1e-3


def test_ziggurat_tables_close_at_the_mode():
    # Marsaglia & Tsang's published 256-layer radius, recomputed from scratch
    assert ziggurat_radius(256) == pytest.approx(3.6541528853610088, rel=1e-14)
    assert ziggurat_radius(ZIGGURAT_LAYERS) == pytest.approx(ZIGGURAT_R, rel=1e-14)
    x, f = ziggurat_tables(ZIGGURAT_LAYERS, ZIGGURAT_R)
    # every layer has the base strip's area v, and the top layer ends at the mode
    v = x[0] * np.exp(-0.5 * ZIGGURAT_R ** 2)
    areas = x[1:-1] * (f[2:] - f[1:-1])
    np.testing.assert_allclose(areas, v, rtol=1e-9)  # the last one reaches f(0) = 1


def test_normals_beyond_the_fast_path_follow_the_density():
    # a sample large enough that the wedge and tail branches run thousands of times:
    # compare the histogram with the normal density, bin by bin (chi-square)
    z = normal_array((2, 500, 2000), seed=3, pass_index=1, stream=1, step_axis=True).ravel()
    edges = np.concatenate([[-np.inf], np.linspace(-4.5, 4.5, 91), [np.inf]])
    counts = np.histogram(z, edges)[0]
    expected = np.diff(scipy.stats.norm.cdf(edges)) * z.size
    assert scipy.stats.chisquare(counts, expected).pvalue > 1e-3


def test_counter_draws_are_keyed_not_streamed():
    full = normal_array((3, 40, 5), 7, 1, 4, step_offset=0, step_axis=True)
    chunk = normal_array((3, 15, 5), 7, 1, 4, step_offset=20, step_axis=True)
    np.testing.assert_array_equal(full[:, 20:35], chunk)
    # other trajectories, passes, streams and seeds are uncorrelated
    big = normal_array((2, 2000, 10), 7, 1, 4, step_axis=True)
    others = [big[1], normal_array((1, 2000, 10), 7, 2, 4, step_axis=True)[0],
              normal_array((1, 2000, 10), 7, 1, 5, step_axis=True)[0],
              normal_array((1, 2000, 10), 8, 1, 4, step_axis=True)[0]]
    for o in others:
        assert abs(np.corrcoef(big[0].ravel(), o.ravel())[0, 1]) < 5 / np.sqrt(o.size)


@numba.njit
def _scalar_normals(n, key):
    """The deviates of ``add_normals`` one unit at a time, from the layout in its docstring."""
    out = np.empty(n)
    n_pairs = n // 2
    for unit in range(n):
        if unit < 2 * n_pairs:
            high = unit >= n_pairs
            bits = _rng.unit_bits(key, np.uint64(unit - n_pairs if high else unit))
        else:  # odd n: the last unit, low half of pair n_pairs
            high = False
            bits = _rng.unit_bits(key, np.uint64(n_pairs))
        half = bits >> np.uint64(32) if high else bits & np.uint64(0xFFFFFFFF)
        z, layer, accepted = ziggurat._half_candidate(half)
        chain = bits ^ ziggurat._HIGH_CHAIN if high else bits  # the documented chain seeds
        out[unit] = z if accepted else ziggurat._ziggurat_rejected(chain, z, layer)
    return out


@numba.njit
def _vector_normals(x, x0, n, decay, d0, weight, w0, key):
    _rng.add_normals(x, x0, n, decay, d0, weight, w0, key)


@pytest.mark.parametrize("n", [1, 2, 3, 127, 128, 129, 257, 300])
def test_blocked_normals_equal_the_unit_by_unit_definition(n):
    # the SIMD blocks, the flagged fix-ups, offsets and the odd unit against a plain loop
    rng = np.random.default_rng(n)
    for trial in range(20):
        key = np.uint64(rng.integers(0, 2**63))
        x = rng.standard_normal(n + 5)
        decay = rng.uniform(0.5, 1.0, n + 1)
        weight = rng.uniform(0.5, 2.0, n + 3)
        expected = x.copy()
        expected[5:] = decay[1:] * x[5:] + weight[3:] * _scalar_normals(n, key)
        got = x.copy()
        _vector_normals(got, 5, n, decay, 1, weight, 3, key)
        np.testing.assert_array_equal(got, expected)
        scalar = x.copy()
        _vector_normals(scalar, 5, n, 1.0, 0, 2.5, 0, key)
        np.testing.assert_array_equal(scalar[5:], x[5:] + 2.5 * _scalar_normals(n, key))


def test_the_two_halves_of_a_pair_are_independent_normals():
    # units h and h + n // 2 share one hash: their joint histogram must factorise
    n, steps = 64, 4000
    z = np.stack([_rng.keyed_normals(n, 5, 1, _rng.STREAM_BATH, 0, step)
                  for step in range(steps)])
    low, high = z[:, :n // 2].ravel(), z[:, n // 2:].ravel()
    assert abs(np.corrcoef(low, high)[0, 1]) < 5 / np.sqrt(low.size)
    assert abs(np.corrcoef(low**2, high**2)[0, 1]) < 5 / np.sqrt(low.size)
    edges = np.array([-np.inf, -1.5, -0.5, 0.0, 0.5, 1.5, np.inf])
    table = np.histogram2d(low, high, [edges, edges])[0]
    assert scipy.stats.chi2_contingency(table)[1] > 1e-3
    for half in (low, high):
        counts = np.histogram(half, edges)[0]
        expected = np.diff(scipy.stats.norm.cdf(edges)) * half.size
        assert scipy.stats.chisquare(counts, expected).pvalue > 1e-3


# ------------------------------------------------------------------ ideal
@pytest.mark.parametrize("name", ["coupled_diag", "coupled_dense", "linear_hru",
                                  "linear_hru_complex", "nonlinear_hru"])
@pytest.mark.parametrize("dtype", [np.float64, np.float32])
def test_ideal_is_bit_identical_to_no_model(systems, name, dtype):
    system = systems[name]
    rng = np.random.default_rng(1)
    q0 = rng.uniform(-0.5, 0.5, (3, system.n_dof))
    u = rng.uniform(-1, 1, (3, 60, system.n_inputs))
    energy = dtype == np.float64
    ref = physsim.simulate(system, q0, None, u, dt=DT[name], record_every=1,
                           record_energy=energy, dtype=dtype)
    for hw in (Ideal(), "ideal", NoisyAnalog(), FinitePrecision(), compose(Ideal(), Ideal())):
        t = physsim.simulate(system, q0, None, u, dt=DT[name], record_every=1,
                             record_energy=energy, dtype=dtype, hardware=hw, seed=5)
        np.testing.assert_array_equal(t.positions, ref.positions)
        np.testing.assert_array_equal(t.momenta, ref.momenta)
        if energy:
            np.testing.assert_array_equal(t.energy, ref.energy)
    hook, hw_params = Ideal().step_hook(system, np.float64, 1.0)
    assert hook is no_step_hook and hw_params.size == 0


def test_ideal_rhel_gradient_is_identical_to_no_model():
    system, q0, u, loss = _hru_problem()
    ref = rhel_gradient(system, q0, None, u, loss)
    for hw in (Ideal(), "ideal", compose(Ideal(), NoisyAnalog(), FinitePrecision())):
        g = rhel_gradient(system, q0, None, u, loss, hardware=hw, seed=9)
        for k in ref.params:
            np.testing.assert_array_equal(g.params[k], ref.params[k])
        np.testing.assert_array_equal(g.initial_position_gradient,
                                      ref.initial_position_gradient)


# ------------------------------------------------------- noise and dissipation
def test_dof_physics_masses_and_frequencies(systems):
    lin = systems["linear_hru"]
    mass, omega, diagonal = dof_physics(lin)
    np.testing.assert_allclose(mass, 1 / lin.step, rtol=1e-12)
    np.testing.assert_allclose(omega, lin.step * np.sqrt(lin.A), rtol=1e-12)
    assert diagonal
    osc = systems["coupled_diag"]
    mass, omega, diagonal = dof_physics(osc)
    np.testing.assert_allclose(mass, osc.mass, rtol=1e-12)
    np.testing.assert_allclose(omega, np.sqrt(np.diag(osc.stiffness) / osc.mass), rtol=1e-12)
    assert diagonal
    assert not dof_physics(systems["coupled_dense"])[2]
    # cached by parameter values: another device of the same kind gets its own numbers
    stiffer = lin.replace(A=4.0 * lin.A)
    np.testing.assert_allclose(dof_physics(stiffer)[1], 2.0 * lin.step * np.sqrt(lin.A),
                               rtol=1e-12)
    assert not dof_physics(lin)[0].flags.writeable


def test_raw_momentum_noise_has_the_specified_variance():
    system = _free_hru()
    sigma = 3e-3
    t = physsim.simulate(system, np.zeros((4, system.n_dof)), n_steps=100, record_every=1,
                         hardware=NoisyAnalog(momentum_noise=sigma), seed=2)
    increments = np.diff(t.momenta, axis=1)  # (4, 100, 64): 25,600 samples
    assert abs(increments.var() / sigma**2 - 1) < 0.05
    assert abs(increments.mean()) < 5 * sigma / np.sqrt(increments.size)
    # positions only drift with the momenta: the hook never touches them
    # (the momentum of a step is the one left by the previous step's hook)
    np.testing.assert_allclose(np.diff(t.positions, axis=1), system.step * t.momenta[:, :-1],
                               rtol=1e-12, atol=1e-14 * np.abs(t.positions).max())


def test_langevin_update_is_the_exact_ornstein_uhlenbeck_step():
    system = _free_hru()
    gamma, kT, dt = 0.05, 2e-3, 1.0
    t = physsim.simulate(system, np.zeros((4, system.n_dof)), np.full((4, system.n_dof), 0.3),
                         n_steps=100, record_every=1, seed=4,
                         hardware=NoisyAnalog(damping_rate=gamma, thermal_energy=kT))
    decay = np.exp(-gamma * dt)
    residual = t.momenta[:, 1:] - decay * t.momenta[:, :-1]
    expected_var = (1 / system.step) * kT * (1 - decay**2)  # m_i kT (1 - e^{-2 gamma dt})
    assert abs(np.mean(residual**2 / expected_var) - 1) < 0.05


def test_fluctuation_dissipation_relaxes_every_mode_to_kT():
    rng = np.random.default_rng(0)
    n = 8
    masses = rng.uniform(0.5, 2.0, n)
    omega = rng.uniform(0.5, 1.5, n)
    osc = CoupledOscillators(mass=masses, stiffness=np.diag(masses * omega**2),
                             input_matrix=np.zeros((n, 1)))
    kT = 1e-3
    t = physsim.simulate(osc, np.zeros((64, n)), n_steps=22000, dt=0.05, record_every=20,
                         record_energy=True, seed=3,
                         hardware=NoisyAnalog(quality_factor=5.0, thermal_energy=kT))
    per_mode = t.energy[:, 100:].mean() / n  # after 2,000 steps (> 10 energy decay times)
    assert abs(per_mode / kT - 1) < 0.05


@pytest.mark.parametrize("Q", [8.0, 50.0])
def test_damping_follows_the_closed_form_for_Q(Q):
    w0, m = 2.0, 0.5
    osc = CoupledOscillators(mass=np.array([m]), stiffness=np.array([[m * w0**2]]),
                             input_matrix=np.zeros((1, 1)))
    dt = 0.002
    n_steps = int(3 * Q / w0 / dt)  # three energy e-folds
    t = physsim.simulate(osc, np.array([1.0]), np.array([0.0]), n_steps=n_steps, dt=dt,
                         record_every=50, record_energy=True,
                         hardware=NoisyAnalog(quality_factor=Q))
    # m q'' + (w0 / Q) m q' + m w0^2 q = 0 from q = 1, q' = 0
    g = w0 / Q
    wd = np.sqrt(w0**2 - g**2 / 4)
    s = t.times
    q = np.exp(-g * s / 2) * (np.cos(wd * s) + g / (2 * wd) * np.sin(wd * s))
    v = -g / 2 * q + np.exp(-g * s / 2) * (-wd * np.sin(wd * s) + g / 2 * np.cos(wd * s))
    energy = 0.5 * m * v**2 + 0.5 * m * w0**2 * q**2
    np.testing.assert_allclose(t.energy[0], energy, rtol=0.01)
    assert energy[-1] / energy[0] < 0.06  # the check spans the decay, not just its start


@pytest.mark.parametrize("damping", [{"quality_factor": 4.0}, {"damping_rate": 0.3}])
def test_coupled_kinetic_energy_relaxes_to_the_boltzmann_distribution(systems, damping):
    """Dense mass matrix (coupling capacitances): <p p^T> = kT M, <q q^T> = kT K^-1."""
    osc = systems["coupled_dense"]
    kT = 2e-3
    t = physsim.simulate(osc, np.zeros((64, 4)), n_steps=16000, dt=0.05, record_every=10,
                         record_energy=True, seed=6,
                         hardware=NoisyAnalog(thermal_energy=kT, **damping))
    p = t.momenta[:, 100:].reshape(-1, 4)
    q = t.positions[:, 100:].reshape(-1, 4)
    mass = osc.mass
    cov_p, cov_q = p.T @ p / len(p), q.T @ q / len(q)
    assert np.max(np.abs(cov_p - kT * mass)) < 0.05 * kT * np.max(np.abs(mass))
    k_inv = np.linalg.inv(osc.stiffness)
    assert np.max(np.abs(cov_q - kT * k_inv)) < 0.05 * kT * np.max(np.abs(k_inv))
    assert abs(t.energy[:, 100:].mean() / (4 * kT) - 1) < 0.05


# ----------------------------------------------------------------- mismatch
def test_mismatch_has_the_specified_relative_spread():
    rng = np.random.default_rng(0)
    P = 4000
    system = LinearHRU(A=rng.uniform(0.2, 1.0, P), step=rng.uniform(0.2, 0.9, P),
                       B_re=rng.uniform(-1, 1, (P, 2)))
    hw = NoisyAnalog(mismatch=0.03, mismatch_by_parameter={"step": 0.01})
    dev = hw.realize(system, seed=4)
    spreads = {"A": 0.03, "step": 0.01, "B_re": 0.03}
    for name, sigma in spreads.items():
        rel = dev.params[name] / system.params[name] - 1
        assert abs(rel.std() / sigma - 1) < 0.05, name
        assert abs(rel.mean()) < 5 * sigma / np.sqrt(rel.size)
    # the same seed is the same chip; another seed another chip
    np.testing.assert_array_equal(hw.realize(system, seed=4).A, dev.A)
    assert not np.array_equal(hw.realize(system, seed=5).A, dev.A)


def test_mismatch_keeps_symmetric_matrices_symmetric():
    n = 60
    rng = np.random.default_rng(2)
    k = rng.uniform(0.5, 1.5, (n, n))
    osc = CoupledOscillators(mass=np.ones(n), stiffness=np.diag(np.full(n, 40.0)) + k + k.T,
                             input_matrix=np.ones((n, 1)))
    dev = NoisyAnalog(mismatch=0.02).realize(osc, seed=1)
    np.testing.assert_array_equal(dev.stiffness, dev.stiffness.T)
    rel = dev.stiffness / osc.stiffness - 1
    upper = rel[np.triu_indices(n)]
    assert abs(upper.std() / 0.02 - 1) < 0.1


def test_rhel_under_mismatch_is_exact_for_the_realised_device():
    """Static mismatch is the same in all passes: RHEL = BPTT of the realised chip (B.7-4)."""
    system, q0, u, loss = _hru_problem()
    hw = NoisyAnalog(mismatch=0.1)
    g = rhel_gradient(system, q0, None, u, loss, hardware=hw, seed=3)
    chip = hw.realize(system, seed=3)
    ref_chip = bptt_gradient(chip, q0, None, u, loss)
    ref_nominal = bptt_gradient(system, q0, None, u, loss)
    for k in ref_chip.params:
        np.testing.assert_allclose(g.params[k], ref_chip.params[k], rtol=1e-8,
                                   atol=1e-10 * np.abs(ref_chip.params[k]).max())
    assert agreement(_flat(g), _flat(ref_nominal)).cosine < 0.999  # the twin is wrong


# -------------------------------------------------------------- drift, flip
def test_drift_between_passes_is_a_random_walk_from_the_forward_device():
    rng = np.random.default_rng(0)
    P = 3000
    system = LinearHRU(A=rng.uniform(0.2, 1.0, P), step=np.full(P, 0.5), B_re=np.ones((P, 1)))
    hw = NoisyAnalog(drift=0.01)
    assert hw.between_passes(system, 1, 0) is system
    assert NoisyAnalog().between_passes(system, 1, 2) is system
    d1 = hw.between_passes(system, 1, 1).A / system.A - 1
    d2 = hw.between_passes(system, 1, 2).A / system.A - 1
    assert abs(d1.std() / 0.01 - 1) < 0.05
    assert abs((d2 - d1).std() / 0.01 - 1) < 0.05       # a fresh step...
    assert abs(np.corrcoef(d1, d2 - d1)[0, 1]) < 0.1    # ...independent of the first


def test_flip_gain_error_and_noise():
    hw = NoisyAnalog(flip_gain_error=0.02, flip_noise=1e-3)
    p = np.full((50, 200), 0.7)
    q = np.ones_like(p)
    q2, p2 = hw.flip(q, p, seed=1, pass_index=1)
    assert q2 is q
    eta = p2 + 1.02 * p
    assert abs(eta.mean()) < 5 * 1e-3 / np.sqrt(eta.size)
    assert abs(eta.std() / 1e-3 - 1) < 0.05
    np.testing.assert_array_equal(Ideal().flip(q, p, 1, 1)[1], -p)


# ------------------------------------------------------------ finite precision
def test_fixed_point_error_is_at_most_half_a_step_and_saturation_is_counted():
    fp = FinitePrecision(state_bits=10, position_range=3.0, momentum_range=0.5)
    dq, dp = fp.position_quantum, fp.momentum_quantum
    assert (dq, dp) == (4.0 / 512, 0.5 / 512)  # ranges rounded up to powers of two
    hook, hw = fp.step_hook(LinearHRU.random(4, 1, rng=0), np.float64, 1.0)
    rng = np.random.default_rng(0)
    q = rng.uniform(-5, 5, 4000)
    p = rng.uniform(-0.6, 0.6, 4000)
    q1, p1 = q.copy(), p.copy()
    hook(q1, p1, hw, np.array([0, 0], dtype=np.int64), np.int64(0), np.int64(0))
    kq, kp = np.round(q / dq), np.round(p / dp)
    inside_q = (kq >= -512) & (kq <= 511)
    inside_p = (kp >= -512) & (kp <= 511)
    assert np.all(np.abs(q1 - q)[inside_q] <= dq / 2)
    assert np.all(np.abs(p1 - p)[inside_p] <= dp / 2)
    np.testing.assert_array_equal(np.round(q1 / dq), q1 / dq)  # on the grid
    assert q1.max() == 4.0 - dq and q1.min() == -4.0            # saturated at the ends
    assert p1.max() == 0.5 - dp and p1.min() == -0.5
    with pytest.warns(SaturationWarning, match="saturated"):
        report = fp.end_of_pass(hw, 0)
    assert report == {"stage0_fixed_point_saturated": {"positions": int((~inside_q).sum()),
                                                       "momenta": int((~inside_p).sum())}}
    assert (~inside_q).sum() > 0 and (~inside_p).sum() > 0
    assert fp.end_of_pass(hw, 0)["stage0_fixed_point_saturated"]["positions"] == 0  # reset


def test_saturation_inside_a_run_is_reported_not_silent():
    system = LinearHRU.random(6, 1, rng=1)
    fp = FinitePrecision(state_bits=12, position_range=0.25, momentum_range=0.25)
    with pytest.warns(SaturationWarning, match="fixed-point state saturated"):
        t = physsim.simulate(system, np.full(6, 0.2), inputs=np.ones((50, 1)), hardware=fp)
    (counts,) = t.hardware_report.values()
    assert counts["positions"] + counts["momenta"] > 0
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        t = physsim.simulate(system, np.full(6, 0.01), inputs=np.zeros((50, 1)),
                             hardware=fp.with_changes(position_range=4.0, momentum_range=4.0))
    assert list(t.hardware_report.values())[0] == {"positions": 0, "momenta": 0}


def test_stochastic_rounding_is_unbiased():
    fp = FinitePrecision(state_bits=8, rounding="stochastic")
    hook, hw = fp.step_hook(LinearHRU.random(1, 1, rng=0), np.float64, 1.0)
    d = fp.position_quantum
    x = np.full(20000, 0.3 * d + 5 * d)
    y = x.copy()
    hook(y, np.zeros(1), hw, np.array([1, 0], dtype=np.int64), np.int64(0), np.int64(0))
    assert set(np.unique(y / d)) == {5.0, 6.0}
    assert abs(np.mean(y - x)) < 5 * 0.5 * d / np.sqrt(x.size)


@pytest.mark.parametrize("system_kind", ["linear", "nonlinear"])
def test_reversible_rounding_retraces_the_forward_pass_bit_for_bit(system_kind):
    rng = np.random.default_rng(0)
    n_units, L = 16, 10_000
    system = LinearHRU.random(n_units, 3, rng=1) if system_kind == "linear" else \
        NonlinearHRU.random(n_units, 3, step=0.5, rng=2)
    u = 0.1 * rng.uniform(-1, 1, (2, L, 3))
    results = {}
    for rounding in ("reversible", "nearest"):
        hw = FinitePrecision(state_bits=24, position_range=64, momentum_range=64,
                             rounding=rounding)
        q0, p0 = hw.to_grid(rng.uniform(-1, 1, (2, n_units)), rng.uniform(-1, 1, (2, n_units)))
        with warnings.catch_warnings():
            warnings.simplefilter("error", SaturationWarning)  # no saturation may hide here
            fwd = physsim.simulate(system, q0, p0, u, hardware=hw)
            qf, pf = hw.flip(fwd.final_positions, fwd.final_momenta, 0, 1)
            echo = physsim.simulate(system, qf, pf, u[:, ::-1], hardware=hw)
        results[rounding] = (np.array_equal(echo.final_positions, q0)
                             and np.array_equal(-echo.final_momenta, p0))
    assert results == {"reversible": True, "nearest": False}


def test_reduced_float_formats():
    hook, hw = FinitePrecision(arithmetic="float16").step_hook(LinearHRU.random(1, 1, rng=0),
                                                               np.float64, 1.0)
    rng = np.random.default_rng(0)
    x = np.concatenate([rng.standard_normal(5000) * 10.0 ** rng.integers(-9, 5, 5000),
                        [70000.0, -1e6]])
    y = x.copy()
    hook(y, np.zeros(1), hw, np.array([0, 0], dtype=np.int64), np.int64(0), np.int64(0))
    with np.errstate(over="ignore"):
        ref = x.astype(np.float16).astype(np.float64)
    ref[np.isinf(ref)] = np.sign(ref[np.isinf(ref)]) * 65504.0  # saturating, not inf
    np.testing.assert_array_equal(y, ref)
    with pytest.warns(SaturationWarning, match="overflow"):
        report = FinitePrecision().end_of_pass(hw, 0)
    assert list(report.values())[0]["positions"] == 2
    hook, hw = FinitePrecision(arithmetic="float32").step_hook(LinearHRU.random(1, 1, rng=0),
                                                               np.float64, 1.0)
    y = x[:-2].copy()
    hook(y, np.zeros(1), hw, np.array([0, 0], dtype=np.int64), np.int64(0), np.int64(0))
    np.testing.assert_array_equal(y, x[:-2].astype(np.float32).astype(np.float64))


def test_converters_quantise_within_half_a_step_and_warn_on_saturation():
    fp = FinitePrecision(input_bits=6, input_range=2.0, output_bits=8, output_range=1.0,
                         nudge_bits=5)
    rng = np.random.default_rng(0)
    u = rng.uniform(-1.9, 1.9, (2, 300, 3))
    w = fp.write_inputs(u, 0, 0, 0)
    step = 2.0 / 31
    assert np.all(np.abs(w - u) <= step / 2 + 1e-15)
    np.testing.assert_allclose(np.round(w / step), w / step, atol=1e-12)
    with pytest.warns(SaturationWarning, match="read-out ADC saturated on 1 of"):
        r = fp.read_outputs(np.array([[0.5, 3.0]]), 0, 0)
    assert r[0, 1] == 1.0
    cot = rng.standard_normal((2, 40, 4)) * np.array([1.0, 100.0])[:, None, None]
    n = fp.write_nudges(cot, 0, 1)  # auto range: per-trajectory full scale, never saturates
    scale = np.abs(cot).max(axis=(1, 2), keepdims=True) / 15
    assert np.all(np.abs(n - cot) <= scale / 2 + 1e-12)


def test_parameter_quantisation():
    system = LinearHRU.random(50, 2, rng=0)
    dev = FinitePrecision(parameter_bits=6).realize(system, 0)
    for name in system.param_names:
        x = system.params[name]
        step = np.abs(x).max() / 31
        assert np.all(np.abs(dev.params[name] - x) <= step / 2 + 1e-15)
        assert len(np.unique(dev.params[name])) <= 63


# ----------------------------------------------------------------- composition
def test_composition_applies_members_in_order_and_keeps_their_noise():
    noise = NoisyAnalog(readout_noise=0.3)
    adc = FinitePrecision(output_bits=6, output_range=4.0)
    both = compose(noise, adc)
    x = np.random.default_rng(0).uniform(-1, 1, (3, 20))
    np.testing.assert_array_equal(both.read_outputs(x, 5, 0),
                                  adc.read_outputs(noise.read_outputs(x, 5, 0), 5, 0))
    # a composition of one model is that model, bit for bit, in a run
    system = _free_hru(8)
    hw = NoisyAnalog(momentum_noise=1e-3, quality_factor=50.0)
    a = physsim.simulate(system, np.ones(8), n_steps=30, hardware=hw, seed=2)
    b = physsim.simulate(system, np.ones(8), n_steps=30, hardware=compose(hw), seed=2)
    np.testing.assert_array_equal(a.final_momenta, b.final_momenta)
    # two identical noisy members draw independent noise: the variances add
    t = physsim.simulate(system, np.zeros((8, 8)), n_steps=400, record_every=1, seed=1,
                         hardware=compose(NoisyAnalog(momentum_noise=1e-3),
                                          NoisyAnalog(momentum_noise=1e-3)))
    assert abs(np.diff(t.momenta, axis=1).var() / 2e-6 - 1) < 0.05
    # nesting flattens; names resolve to presets
    c = compose(both, "ideal")
    assert len(c.members) == 3 and isinstance(c.members[2], Ideal)


def test_composite_of_mismatch_thermal_noise_and_adc_runs_as_one_model():
    system, q0, u, loss = _hru_problem(L=100)
    hw = compose(NoisyAnalog(mismatch=0.01), NoisyAnalog(quality_factor=1e3, thermal_energy=1e-6),
                 FinitePrecision(output_bits=8, output_range=8.0, state_bits=30,
                                 position_range=64, momentum_range=64))
    hook, hw_params = hw.step_hook(system, np.float64, 1.0)
    assert hook is _hooks.device_hook and int(hw_params[0]) == 2  # bath, then fixed point
    t = physsim.simulate(system, q0, None, u, hardware=hw, seed=1)
    assert t.system is not system and not np.array_equal(t.system.A, system.A)
    g = rhel_gradient(system, q0, None, u, loss, hardware=hw, seed=1)
    assert np.all(np.isfinite(_flat(g)))
    two_reversible = compose(FinitePrecision(state_bits=16, rounding="reversible"),
                             FinitePrecision(state_bits=12, rounding="reversible"))
    with pytest.raises(ValueError, match="at most one member"):
        physsim.simulate(system, q0, None, u, hardware=two_reversible)


# ------------------------------------------------------------ reproducibility
def test_same_seed_same_bits_whatever_threads_and_chunks():
    system, q0, u, loss = _hru_problem(P=16, L=300, B=5)
    hw = compose(NoisyAnalog(quality_factor=300.0, thermal_energy=1e-4, input_noise=1e-3,
                             flip_noise=1e-4, mismatch=0.01),
                 FinitePrecision(state_bits=24, position_range=256, momentum_range=256,
                                 rounding="stochastic"))
    ref = physsim.simulate(system, q0, None, u, hardware=hw, seed=7, record_every=10)
    n_threads = numba.get_num_threads()
    try:
        for threads, chunk in ((1, 1024), (n_threads, 7), (1, 64)):
            numba.set_num_threads(threads)
            t = physsim.simulate(system, q0, None, u, hardware=hw, seed=7, record_every=10,
                                 chunk_size=chunk)
            np.testing.assert_array_equal(t.positions, ref.positions)
            np.testing.assert_array_equal(t.momenta, ref.momenta)
    finally:
        numba.set_num_threads(n_threads)
    grads = []
    try:
        for threads, chunk in ((n_threads, 1024), (1, 1024), (n_threads, 50)):
            numba.set_num_threads(threads)
            with warnings.catch_warnings():
                warnings.simplefilter("error", SaturationWarning)
                grads.append(rhel_gradient(system, q0, None, u, loss, hardware=hw, seed=7,
                                           chunk_size=chunk).params)
    finally:
        numba.set_num_threads(n_threads)
    # the noise is keyed by (seed, pass, trajectory, step) and every accumulator,
    # the input-matrix read-out included, is summed step by step in the loops:
    # thread count and chunking must not change a bit
    for g in grads[1:]:
        for k in ("A", "step", "B_re"):
            np.testing.assert_array_equal(g[k], grads[0][k])
    other = physsim.simulate(system, q0, None, u, hardware=hw, seed=8, record_every=10)
    assert not np.array_equal(other.positions, ref.positions)


def test_trajectories_of_a_batch_get_independent_noise():
    system = _free_hru(16)
    hw = NoisyAnalog(momentum_noise=1e-2, input_noise=0.1)
    shared_inputs = np.zeros((200, 1))
    t = physsim.simulate(system, np.zeros((3, 16)), None, shared_inputs, hardware=hw, seed=1,
                         record_every=1)
    a, b = np.diff(t.momenta[0], axis=0), np.diff(t.momenta[1], axis=0)
    assert abs(np.corrcoef(a.ravel(), b.ravel())[0, 1]) < 5 / np.sqrt(a.size)
    # trajectory 0's noise does not depend on the batch around it
    t1 = physsim.simulate(system, np.zeros((1, 16)), None, shared_inputs, hardware=hw, seed=1,
                          record_every=1)
    np.testing.assert_array_equal(t1.momenta[0], t.momenta[0])
    # input noise is per trajectory even when the inputs are shared by the batch
    w = NoisyAnalog(input_noise=0.1)
    assert w.per_trajectory_inputs
    sys2 = LinearHRU(A=np.ones(4), step=np.full(4, 0.5), B_re=np.ones((4, 1)))
    t = physsim.simulate(sys2, np.zeros((2, 4)), None, shared_inputs, hardware=w, seed=1)
    assert not np.array_equal(t.final_positions[0], t.final_positions[1])


# -------------------------------------------------- RHEL convergence per knob
_KNOBS = {
    # name: (grid from large to small knob value, model factory)
    "momentum_noise": ([1e-4, 1e-5, 1e-6, 1e-7], lambda v: NoisyAnalog(momentum_noise=v)),
    # Q high enough that the damping's own error (1 - cosine ~ 4e-11 at Q = 1e6) stays
    # well below the noise's (~ kT / Q) over the whole grid
    "thermal_energy": ([1e-1, 1e-2, 1e-3, 1e-4],
                       lambda v: NoisyAnalog(quality_factor=1e6, thermal_energy=v)),
    "1/quality_factor": ([1e-1, 1e-2, 1e-3, 1e-4], lambda v: NoisyAnalog(quality_factor=1 / v)),
    "mismatch": ([1e-1, 1e-2, 1e-3, 1e-4], lambda v: NoisyAnalog(mismatch=v)),
    "flip_gain_error": ([1e-1, 1e-2, 1e-3, 1e-4], lambda v: NoisyAnalog(flip_gain_error=v)),
    "flip_noise": ([1e-1, 1e-2, 1e-3, 1e-4], lambda v: NoisyAnalog(flip_noise=v)),
    "input_noise": ([1e-1, 1e-2, 1e-3, 1e-4], lambda v: NoisyAnalog(input_noise=v)),
    "nudge_noise": ([1e-1, 1e-2, 1e-3, 1e-4], lambda v: NoisyAnalog(nudge_noise=v)),
    "accumulator_noise": ([1e-1, 1e-2, 1e-3, 1e-4],
                          lambda v: NoisyAnalog(accumulator_noise=v)),
    "2^-state_bits": ([2.0**-18, 2.0**-22, 2.0**-26, 2.0**-30],
                      lambda v: FinitePrecision(state_bits=int(-np.log2(v)), position_range=256,
                                                momentum_range=256)),
    "2^-input_bits": ([2.0**-4, 2.0**-8, 2.0**-12, 2.0**-16],
                      lambda v: FinitePrecision(input_bits=int(-np.log2(v)))),
    "2^-nudge_bits": ([2.0**-4, 2.0**-8, 2.0**-12, 2.0**-16],
                      lambda v: FinitePrecision(nudge_bits=int(-np.log2(v)))),
    "2^-accumulator_bits": ([2.0**-4, 2.0**-8, 2.0**-12, 2.0**-16],
                            lambda v: FinitePrecision(accumulator_bits=int(-np.log2(v)))),
    "2^-parameter_bits": ([2.0**-4, 2.0**-8, 2.0**-12, 2.0**-16],
                          lambda v: FinitePrecision(parameter_bits=int(-np.log2(v)))),
}


@pytest.mark.parametrize("knob", sorted(_KNOBS))
def test_rhel_converges_to_the_ideal_gradient_as_the_knob_goes_to_zero(knob):
    grid, make = _KNOBS[knob]
    system, q0, u, loss = _hru_problem()
    ideal = _flat(bptt_gradient(system, q0, None, u, loss))
    cosines = []
    with warnings.catch_warnings():
        warnings.simplefilter("error", SaturationWarning)
        for v in grid:
            g = rhel_gradient(system, q0, None, u, loss, hardware=make(v), seed=5)
            cosines.append(agreement(_flat(g), ideal).cosine)
    assert np.all(np.diff(cosines) > 0), cosines
    assert cosines[-1] > 0.9999, cosines


def test_readout_noise_and_adc_bits_reach_the_observed_loss():
    """Read-out hooks act on the observed final state (loss value and nudge scale)."""
    rng = np.random.default_rng(4)
    system = LinearHRU.random(8, 2, rng=1)
    q0 = rng.uniform(-0.5, 0.5, (2, 8))
    u = rng.uniform(-1, 1, (2, 150, 2))
    loss = FinalStateLoss(rng.standard_normal((2, 8)), rng.standard_normal((2, 2)))
    true_loss = rhel_gradient(system, q0, None, u, loss).loss
    for make, grid in ((lambda v: NoisyAnalog(readout_noise=v), [1e-1, 1e-2, 1e-3, 1e-4]),
                       (lambda v: FinitePrecision(output_bits=v, output_range=16.0),
                        [4, 8, 12, 16])):
        err = [abs(rhel_gradient(system, q0, None, u, loss, hardware=make(v), seed=2).loss
                   - true_loss) for v in grid]
        assert np.all(np.diff(err) < 0) and err[-1] < 1e-3 * abs(true_loss), err


def test_rhel_converges_as_drift_between_passes_vanishes():
    # with drift the two echoes run one after the other on two devices, the second
    # subtracting its drive part from the first's: the input gradient checks that path
    system, q0, u, loss = _hru_problem()
    bptt = bptt_gradient(system, q0, None, u, loss)
    ideal = _flat(bptt)
    cos, cos_input = [], []
    for v in (1e-2, 1e-3, 1e-4, 1e-5):
        g = rhel_gradient(system, q0, None, u, loss, hardware=NoisyAnalog(drift=v), seed=5)
        cos.append(agreement(_flat(g), ideal).cosine)
        cos_input.append(agreement(g.input_gradient.ravel(), bptt.input_gradient.ravel()).cosine)
    assert np.all(np.diff(cos) > 0) and cos[-1] > 0.999, cos
    assert np.all(np.diff(cos_input) > 0) and cos_input[-1] > 0.999, cos_input


# ------------------------------------------------------------- presets, errors
def test_every_preset_runs_and_is_summarised():
    from physsim.examples import three_node_josephson_circuit

    assert {"ideal", "cmos_lc", "discrete_lc", "superconducting", "photonic",
            "aihwkit_8bit_io"} <= set(preset_names())
    assert set(preset_summaries()) == set(preset_names())
    # an LC circuit in SI units (1 pF, 1 nH: omega = 3.2e10 rad/s), a Josephson circuit in
    # natural units, and a unit-scale HRU (no physical energy unit)
    lc = CoupledOscillators(mass=np.full(3, 1e-12), stiffness=np.eye(3) * 1e9,
                            input_matrix=np.eye(3)[:, :1])
    jj = three_node_josephson_circuit()
    hru = LinearHRU.random(6, 1, rng=0)
    for name in preset_names():
        hw = get_preset(name)
        assert isinstance(hw, physsim.HardwareModel)
        for system, q0, dt in ((lc, 1e-12, 1e-12), (jj, 0.0, 0.05 / jj.max_frequency()),
                               (hru, 0.1, 1.0)):
            hot = bool(getattr(hw, "temperature", None))
            with warnings.catch_warnings():
                warnings.simplefilter("ignore", SaturationWarning)
                if hot and system is hru:
                    with pytest.raises(ValueError, match="no physical energy unit"):
                        physsim.simulate(system, np.full(system.n_dof, q0), n_steps=20,
                                         hardware=name)
                    continue
                t = physsim.simulate(system, np.full(system.n_dof, q0),
                                     inputs=np.zeros((20, system.n_inputs)), dt=dt,
                                     hardware=name, seed=1)
            assert np.all(np.isfinite(t.final_positions)), name
            if hot:
                assert np.any(t.final_momenta != 0), name  # the thermal bath acted
    si_kT = get_preset("discrete_lc").thermal_energy_of(lc)
    assert si_kT == pytest.approx(thermal_energy(300.0)) == pytest.approx(4.14e-21, rel=1e-3)
    # natural circuit units: energies in hbar / tau (tau = 1 ns): kT / (hbar / tau) at 20 mK
    nat_kT = get_preset("superconducting").thermal_energy_of(jj)
    assert nat_kT == pytest.approx(scipy.constants.k * 0.020 / (scipy.constants.hbar / 1e-9),
                                   rel=1e-9)
    assert get_preset("discrete_lc", quality_factor=1e3).quality_factor == 1e3


@pytest.mark.parametrize("make, match", [
    (lambda: get_preset("quartz"), "unknown hardware preset 'quartz'; valid names are: "),
    (lambda: get_preset("discrete_lc", temp=4.0), r"unknown NoisyAnalog field\(s\) \['temp'\]"),
    (lambda: NoisyAnalog(quality_factor=9.0, temperature=4.0, thermal_energy=1.0), "not both"),
    (lambda: NoisyAnalog(temperature=-4.0), "temperature must be finite and non-negative"),
    (lambda: get_preset("photonic", mismatch=0.1), "is a composition"),
    (lambda: build_model("NoisyAnalog", {"momentum_sigma": 1.0}), "valid fields are"),
    (lambda: NoisyAnalog(momentum_noise=-1e-3), "momentum_noise must be finite and non-neg"),
    (lambda: NoisyAnalog(mismatch=float("nan")), "mismatch must be finite"),
    (lambda: NoisyAnalog(readout_noise="loud"), "readout_noise must be a number"),
    (lambda: NoisyAnalog(quality_factor=0.0), "quality_factor must be positive"),
    (lambda: NoisyAnalog(quality_factor=10.0, damping_rate=0.1), "not both"),
    (lambda: NoisyAnalog(thermal_energy=1e-3), "needs damping"),
    (lambda: NoisyAnalog(flip_gain_error=-1.0), "flip_gain_error must be finite and > -1"),
    (lambda: NoisyAnalog(mismatch_by_parameter={"A": -0.1}), r"mismatch_by_parameter\['A'\]"),
    (lambda: FinitePrecision(state_bits=0), "between 2 and 53 bits"),
    (lambda: FinitePrecision(output_bits=1), "between 2 and 53 bits"),
    (lambda: FinitePrecision(input_bits=8.5), "integer number of bits"),
    (lambda: FinitePrecision(output_range=-1.0), "output_range must be finite and positive"),
    (lambda: FinitePrecision(rounding="truncate"), "unknown FinitePrecision.rounding 'truncate'"),
    (lambda: FinitePrecision(arithmetic="bfloat16"), "valid names are: float64, float32"),
    (lambda: FinitePrecision(rounding="reversible"), "set state_bits"),
    (lambda: compose(), "at least one"),
])
def test_bad_configurations_give_clear_errors(make, match):
    with pytest.raises(ValueError, match=match):
        make()


def test_errors_that_need_the_system():
    system = LinearHRU.random(4, 1, rng=0)
    with pytest.raises(ValueError, match="unknown parameter name.*valid names are: A, step, B_re"):
        physsim.simulate(system, np.zeros(4), n_steps=2,
                         hardware=NoisyAnalog(mismatch_by_parameter={"stiffness": 0.1}))
    with pytest.raises(ValueError, match="exceeds the 24-bit significand of float32"):
        physsim.simulate(system, np.zeros(4), n_steps=2, dtype=np.float32,
                         hardware=FinitePrecision(state_bits=30))
    with pytest.raises(ValueError, match="mismatch produced an invalid LinearHRU"):
        physsim.simulate(system, np.zeros(4), n_steps=2,
                         hardware=NoisyAnalog(mismatch_by_parameter={"step": 5.0}), seed=0)
    with pytest.raises(TypeError, match="Composite members must be"):
        Composite((1.0,))
    with pytest.raises(ValueError, match="unknown hardware preset 'quartz'; valid names are: "
                                         "aihwkit_8bit_io, aihwkit_default_io, cmos_lc"):
        physsim.simulate(system, np.zeros(4), n_steps=2, hardware="quartz")
    with pytest.raises(ValueError, match="cannot be differentiated"):  # BPTT refuses rounding
        bptt_gradient(system, np.zeros(4), None, np.zeros((5, 1)),
                      FinalStateLoss(np.ones((1, 4)), np.zeros(1)),
                      hardware=FinitePrecision(state_bits=16, position_range=4.0))


def test_models_are_frozen_dataclasses_with_documented_fields():
    for cls, knob in ((NoisyAnalog, "mismatch"), (FinitePrecision, "state_bits")):
        assert dataclasses.is_dataclass(cls)
        with pytest.raises(dataclasses.FrozenInstanceError):
            setattr(cls(), knob, 8)
        doc = cls.__doc__
        for f in dataclasses.fields(cls):
            assert f.name in doc, f"{cls.__name__}.{f.name} is not documented"
    assert hash(NoisyAnalog(mismatch_by_parameter={"A": 0.1})) == \
        hash(NoisyAnalog(mismatch_by_parameter={"A": 0.1}))
