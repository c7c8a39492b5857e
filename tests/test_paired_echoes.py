"""Paired echoes (issue 14): the centred echo pair in mean / half-difference coordinates.

Independent references:

- the NonlinearHRU pair callbacks against the plain formulas evaluated at the
  two states ``qm +- qd`` in arbitrary precision (mpmath, with enough digits
  to resolve ``tanh s+ - tanh s-`` at |s| ~ 900, where ``1 - tanh s`` is
  1e-780; 80-bit ``longdouble`` cannot resolve a difference of relative size
  1e-12 to float64 ulps: its own rounding of ``qm + qd`` is already 5e-8 of it);
- the paired loop against the two-trajectory loop (``paired=False``) where
  the latter is accurate, and against BPTT (physsim's discrete adjoint, which
  tests/test_rhel.py holds against finite differences) where it is not.
"""

from __future__ import annotations

import dataclasses

import mpmath
import numpy as np
import pytest

from physsim import NonlinearHRU
from physsim._kernels import hru as hk
from physsim.bptt import bptt_gradient
from physsim.device_run import State, prepare_batch, prepare_run
from physsim.losses import MSEReadout, nudge_budget, recorded_cotangent
from physsim.passes import (NudgeSource, echo_passes, flip, forward_pass,
                            paired_echo_unavailable)

U64 = float(np.finfo(np.float64).eps)
#: "a few ulps": the pair formulas chain about six roundings and three libm calls
#: (largest measured: 7.3 ulps, the c read-out at |s| ~ 400)
KERNEL_ULPS = 12


# ------------------------------------------------------------------- kernels
def _exact_sets(rng, n_units: int, s_scale: float, ratio: float):
    """Parameters and states whose arguments ``W qm + d + b`` are exact in float64.

    ``W`` has three significant bits and ``qm, d, b`` lie on the grid 2**-24
    below 2**12 in magnitude, so the float64 argument of the mean state is the
    exact one and the reference sees the inputs the kernel sees.  ``qd`` is
    ``ratio * |qm|`` with random signs (any bits).
    """
    grid = 2.0 ** -24
    W = rng.choice([-1.0, -0.75, -0.625, 0.5, 0.625, 0.75, 0.875, 1.0], n_units)
    qm = np.round(rng.uniform(-1.5, 1.5, n_units) / grid) * grid
    d = np.round(rng.uniform(-0.5, 0.5, n_units) / grid) * grid
    b = np.round(rng.uniform(-s_scale, s_scale, n_units) / grid) * grid
    qd = ratio * np.abs(qm) * rng.choice([-1.0, 1.0], n_units) * rng.uniform(0.5, 1.0, n_units)
    c = rng.uniform(-1.0, 1.0, n_units)
    alpha, delta = rng.uniform(0.1, 1.0), rng.uniform(1e-4, 0.2)
    theta = np.concatenate([W, b, c, [alpha, delta]])
    return theta, qm, qd, d


def _mp_potential_parts(theta, q, d):
    """Plain formulas at one state, in mpmath: dV/dq, dV/dtheta blocks, dV/dd."""
    P = (len(theta) - 2) // 3
    W, b, c = (theta[:P], theta[P:2 * P], theta[2 * P:3 * P])
    alpha, delta = mpmath.mpf(theta[-2]), mpmath.mpf(theta[-1])
    out = {"grad": [], "W": [], "b": [], "c": [], "drive": []}
    sq, v = mpmath.mpf(0), mpmath.mpf(0)
    for i in range(P):
        w, ci = mpmath.mpf(W[i]), mpmath.mpf(c[i])
        s = w * q[i] + mpmath.mpf(d[i]) + mpmath.mpf(b[i])
        t, lc = mpmath.tanh(s), mpmath.log(mpmath.cosh(s))
        out["grad"].append(delta * (alpha * q[i] + ci * t))
        out["W"].append(delta * ci * (t * q[i] / w - lc / w ** 2))
        out["b"].append(delta * ci * t / w)
        out["c"].append(delta * lc / w)
        out["drive"].append(delta * ci * t / w)
        sq += q[i] ** 2
        v += alpha * q[i] ** 2 / 2 + ci * lc / w
    out["alpha"] = delta * sq / 2
    out["delta"] = v
    return out


def _check_relative(name, got, exact, scale):
    """|got - exact| <= KERNEL_ULPS u scale, elementwise."""
    got = np.atleast_1d(np.asarray(got, float))
    exact = np.atleast_1d(np.array([float(x) for x in np.atleast_1d(exact)]))
    scale = np.atleast_1d(np.array([float(x) for x in np.atleast_1d(scale)]))
    err = np.abs(got - exact) / np.where(scale > 0, scale, 1.0)
    assert np.all(err <= KERNEL_ULPS * U64), \
        f"{name}: error {err.max() / U64:.1f} ulps of its size (allowed {KERNEL_ULPS})"


@pytest.mark.parametrize("s_scale", [2.0, 30.0, 400.0, 900.0])
@pytest.mark.parametrize("ratio", [1e-12, 1e-8, 1e-4, 1e-1, 1.0])
def test_nl_pair_kernels_against_60_digit_reference(s_scale, ratio):
    """Every nl_pair_* difference output within a few ulps of its own size.

    ``s_scale`` sets the bias, hence |s|: small, beyond log cosh's asymptote (20),
    beyond the overflow guards (300) and near cosh's float64 overflow (710) and
    past it.  Sums over units (the alpha and delta read-outs, and the two-term
    dV/dq and W read-out) are held to the sum of their terms' magnitudes: their
    own cancellation is the problem's, not the pair formula's.
    """
    rng = np.random.default_rng(int(1e6 * ratio) + int(s_scale))
    P = 12
    # 1 - tanh s ~ 2 e^{-2|s|}: digits for it, the difference's ratio and 30 more
    mpmath.mp.dps = 30 + int(0.87 * (s_scale + 2.0)) + int(-np.log10(ratio))
    theta, qm, qd, d = _exact_sets(rng, P, s_scale, ratio)
    mq = [mpmath.mpf(x) for x in qm]
    mqd = [mpmath.mpf(x) for x in qd]
    plus = _mp_potential_parts(theta, [a + e for a, e in zip(mq, mqd)], d)
    minus = _mp_potential_parts(theta, [a - e for a, e in zip(mq, mqd)], d)

    def diff(key):
        return [x - y for x, y in zip(np.atleast_1d(plus[key]), np.atleast_1d(minus[key]))]

    def mag(key):
        return [abs(x) + abs(y) for x, y in zip(np.atleast_1d(plus[key]),
                                                np.atleast_1d(minus[key]))]

    W, c = theta[:P], theta[2 * P:3 * P]
    alpha, delta = theta[-2], theta[-1]
    # dV/dq: mean and half-difference
    out_mean, out_half = np.zeros(P), np.zeros(P)
    hk.nl_pair_grad_potential(qm, qd, d, theta, out_mean, out_half)
    half_exact = [x / 2 for x in diff("grad")]
    # scale: the two terms of the half-difference, delta alpha qd and delta c dtanh / 2
    alpha_term = [abs(delta * alpha * x) for x in qd]
    tanh_term = [abs(h - mpmath.mpf(delta * alpha) * e) for h, e in zip(half_exact, mqd)]
    _check_relative("out_half", out_half, half_exact,
                    [a + t for a, t in zip(alpha_term, tanh_term)])
    plain_p, plain_m = np.zeros(P), np.zeros(P)
    hk.nl_grad_potential(qm + qd, d, theta, plain_p)
    hk.nl_grad_potential(qm - qd, d, theta, plain_m)
    np.testing.assert_allclose(out_mean, (plain_p + plain_m) / 2, rtol=0,
                               atol=1e-14 * np.max(np.abs(plain_p) + np.abs(plain_m)))
    # read-outs: full differences, accumulated with a weight
    w = 0.37
    g = np.zeros(theta.size)
    hk.nl_pair_theta_grad_potential(qm, qd, d, theta, w, g)
    _check_relative("dV/db", g[P:2 * P], [w * x for x in diff("b")], [w * x for x in diff("b")])
    _check_relative("dV/dc", g[2 * P:3 * P], [w * x for x in diff("c")],
                    [w * x for x in diff("c")])
    # the W read-out is c (t q / W - log cosh / W^2): scale each of its two differences
    w_scale = []
    for i in range(P):
        wi, ci = mpmath.mpf(W[i]), mpmath.mpf(c[i])
        s_p = wi * (mq[i] + mqd[i]) + mpmath.mpf(d[i]) + mpmath.mpf(theta[P + i])
        s_m = wi * (mq[i] - mqd[i]) + mpmath.mpf(d[i]) + mpmath.mpf(theta[P + i])
        tq = mpmath.tanh(s_p) * (mq[i] + mqd[i]) - mpmath.tanh(s_m) * (mq[i] - mqd[i])
        lc = mpmath.log(mpmath.cosh(s_p)) - mpmath.log(mpmath.cosh(s_m))
        w_scale.append(abs(w * delta * ci) * (abs(tq / wi) + abs(lc / wi ** 2)))
    _check_relative("dV/dW", g[:P], [w * x for x in diff("W")], w_scale)
    q_dot_scale = sum(abs(4 * a * e) for a, e in zip(mq, mqd))  # |q+|^2 - |q-|^2 = 4 qm.qd
    _check_relative("dV/dalpha", g[3 * P], w * diff("alpha")[0],
                    abs(w * delta) * q_dot_scale / 2)
    lc_scale = sum(abs(mpmath.mpf(c[i]) / mpmath.mpf(W[i]))
                   * abs(mpmath.log(mpmath.cosh(mpmath.mpf(W[i]) * (mq[i] + mqd[i]) + d[i]
                                                + theta[P + i]))
                         - mpmath.log(mpmath.cosh(mpmath.mpf(W[i]) * (mq[i] - mqd[i]) + d[i]
                                                  + theta[P + i])))
                   for i in range(P))
    _check_relative("dV/ddelta", g[3 * P + 1], w * diff("delta")[0],
                    abs(w) * (abs(alpha) * q_dot_scale / 2 + lc_scale))
    gd = np.zeros(P)
    hk.nl_pair_drive_grad_potential(qm, qd, d, theta, w, gd)
    _check_relative("dV/dd", gd, [w * x for x in diff("drive")], [w * x for x in diff("drive")])


@pytest.mark.parametrize("ratio", [1e-300, 1e-12, 1e-3, 1.0])
def test_nl_pair_kinetic_kernels(ratio):
    """T = delta |p|^2 / 2: the half-difference of T' and the read-out difference 2 delta pm.pd."""
    rng = np.random.default_rng(3)
    P = 9
    theta = np.concatenate([rng.uniform(0.5, 1, P), np.zeros(P), rng.uniform(0, 1, P),
                            [0.4, 0.03]])
    pm = rng.standard_normal(P)
    pd = ratio * rng.standard_normal(P)
    out_mean, out_half = np.zeros(P), np.zeros(P)
    hk.nl_pair_grad_kinetic(pm, pd, theta, out_mean, out_half)
    np.testing.assert_array_equal(out_half, 0.03 * pd)  # one rounding, as delta * p
    np.testing.assert_array_equal(out_mean, 0.03 * pm)
    g = np.zeros(theta.size)
    hk.nl_pair_theta_grad_kinetic(pm, pd, theta, 2.0, g)
    exact = 2.0 * sum((mpmath.mpf(a) + e) ** 2 / 2 - (mpmath.mpf(a) - e) ** 2 / 2
                      for a, e in zip(pm, pd))
    scale = 2.0 * sum(abs(2 * mpmath.mpf(a) * e) for a, e in zip(pm, pd))
    _check_relative("dT/ddelta", g[-1], exact, scale)
    assert np.all(g[:-1] == 0.0)


def test_system_kernels_pairs():
    """NonlinearHRU offers the five pair callbacks; half a set is refused by name."""
    assert NonlinearHRU.kernels.has_pairs
    assert NonlinearHRU.kernels.typed(np.float32).has_pairs
    without = dataclasses.replace(NonlinearHRU.kernels, pair_grad_kinetic=None,
                                  pair_grad_potential=None, pair_theta_grad_kinetic=None,
                                  pair_theta_grad_potential=None,
                                  pair_drive_grad_potential=None)
    assert not without.has_pairs
    with pytest.raises(ValueError, match="pair_drive_grad_potential"):
        dataclasses.replace(without, pair_grad_kinetic=hk.nl_pair_grad_kinetic)


# ---------------------------------------------------------------------- loop
L_STEPS = 2000


@pytest.fixture(scope="module")
def problem():
    """NonlinearHRU step 0.1 (its round-off-limited case), L = 2000, MSE read-out."""
    rng = np.random.default_rng(0)
    system = NonlinearHRU.random(16, 16, step=0.1, rng=rng)
    u = rng.standard_normal((1, L_STEPS, 16))
    loss = MSEReadout(rng.standard_normal((2, 16)) / 4,
                      0.3 * rng.standard_normal((1, L_STEPS, 2)))
    return system, np.zeros(16), u, loss


def _centred(system, q0, u, loss, rel, *, dtype=np.float64, hardware=None, **echo_options):
    """Centred RHEL through the passes API; gradients of every tensor and the measurement."""
    run = prepare_run(system, dtype=dtype, hardware=hardware)
    batch = prepare_batch(run, q0, None, u, None)
    fwd = forward_pass(run, batch.start, batch.inputs, record_every=1)
    aux = loss.cotangents(fwd.positions[:, 1:], final_positions=fwd.final.q)
    source = NudgeSource(recorded_cotangent, aux, np.zeros((1, 1)))
    eps = rel * float(np.max(np.abs(fwd.final.p))) / nudge_budget(aux)
    echo = echo_passes(run, flip(run, fwd.final), batch.inputs, nudges=(eps, -eps),
                       nudge_source=source, keep_drive=True, **echo_options)
    denom = 2.0 * eps
    grads = system.gradient_to_params(-np.sum(echo.readout.theta, axis=0) / denom,
                                      -np.sum(echo.readout.input_matrix, axis=0) / denom)
    grads["inputs"] = -echo.readout.inputs / denom
    grads["q0"] = echo.final_difference.p / denom  # RHEL paper Cor. A.7: q <-> p
    grads["p0"] = echo.final_difference.q / denom
    return grads, echo


def _rel_errors(got, ref):
    return {k: float(np.max(np.abs(got[k] - ref[k])) / np.max(np.abs(ref[k]))) for k in ref}


@pytest.fixture(scope="module")
def reference(problem):
    system, q0, u, loss = problem
    res = bptt_gradient(system, q0, None, u, loss)
    return {**res.params, "inputs": res.input_gradient, "q0": res.initial_position_gradient,
            "p0": res.initial_momentum_gradient}


def test_paired_equals_two_trajectories_where_those_are_accurate(problem):
    """At a moderate nudge the old loop's round-off is small: both loops must agree.

    Relative nudge 1e-4 (eps ~ 1e-2): the old loop's round-off is u |read-out| /
    eps ~ 1e-11 relative here (measured: the two loops differ by 1e-11 to 3e-11);
    the tolerance 1e-9 leaves a factor 30.  The end states ``qm +- qd`` must be
    the two echoes' states to a few ulps of the state (only rounding differs).
    """
    system, q0, u, loss = problem
    paired, echo_p = _centred(system, q0, u, loss, 1e-4, paired=True)
    old, echo_o = _centred(system, q0, u, loss, 1e-4, paired=False)
    assert echo_p.paired and not echo_o.paired
    for k, e in _rel_errors(paired, old).items():
        assert e < 1e-9, f"{k}: paired and two-trajectory loops differ by {e:.1e}"
    for a, b in zip(echo_p.final, echo_o.final):
        scale = np.max(np.abs(b.q)) + np.max(np.abs(b.p))
        assert np.max(np.abs(a.q - b.q)) < 1e-10 * scale
        assert np.max(np.abs(a.p - b.p)) < 1e-10 * scale


def test_paired_matches_bptt_at_a_tiny_nudge(problem, reference):
    """Relative nudge 1e-10: paired echoes within 1e-9 of BPTT on every tensor, the old
    loop not (its round-off u |x| / eps is ~1e-5 there; measured 7e-6 to 1.6e-5)."""
    system, q0, u, loss = problem
    paired, _ = _centred(system, q0, u, loss, 1e-10)
    old, _ = _centred(system, q0, u, loss, 1e-10, paired=False)
    err_paired = _rel_errors(paired, reference)
    err_old = _rel_errors(old, reference)
    for k, e in err_paired.items():
        assert e < 1e-9, f"{k}: paired echoes {e:.1e} off BPTT"
    assert max(err_old.values()) > 100 * max(err_paired.values()), (err_old, err_paired)


def test_online_cotangent_source(problem):
    """An online (state-dependent) nudge source runs paired and agrees with the old loop
    at a moderate nudge (its state dependence is differenced plainly)."""
    system, q0, u, loss = problem
    run = prepare_run(system)
    batch = prepare_batch(run, q0, None, u, None)
    fwd = forward_pass(run, batch.start, batch.inputs)
    source = NudgeSource(*loss.online_source(n_steps=L_STEPS, position_sum=None,
                                             final_positions=fwd.final.q))
    assert not source.fixed
    results = [echo_passes(run, flip(run, fwd.final), batch.inputs, nudges=(1e-3, -1e-3),
                           nudge_source=source, paired=p) for p in (True, False)]
    assert results[0].paired
    ref = results[1].readout.theta
    assert np.max(np.abs(results[0].readout.theta - ref)) < 1e-8 * np.max(np.abs(ref))


def test_float32_paired(problem, reference):
    """float32 paired echoes at a small nudge against float64 BPTT: cosine and norm per tensor."""
    system, q0, u, loss = problem
    got, echo = _centred(system, q0, u, loss, 1e-6, dtype=np.float32)
    assert echo.paired and echo.final[0].q.dtype == np.float32
    for k, ref in reference.items():
        a, b = np.ravel(got[k]), np.ravel(ref)
        cosine = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
        assert cosine > 0.9999, f"{k}: cosine {cosine}"
        assert abs(np.linalg.norm(a) / np.linalg.norm(b) - 1) < 1e-3, k


def test_batch_and_chunking_bit_identical(problem):
    """Chunk sizes 1, 7 and the default give the same bits (on_chunk sees the two echoes
    at every chunk); each trajectory of a batch gives the bits of its own run."""
    system, _, _, loss = problem
    rng = np.random.default_rng(5)
    L = 60
    q0 = 0.3 * rng.standard_normal((3, 16))
    u = rng.standard_normal((3, L, 16))
    run = prepare_run(system)
    batch = prepare_batch(run, q0, None, u, None)
    fwd = forward_pass(run, batch.start, batch.inputs, record_every=1)
    aux = MSEReadout(loss.readout, 0.3 * rng.standard_normal((3, L, 2))).cotangents(
        fwd.positions[:, 1:], final_positions=fwd.final.q)
    eps = 1e-6 * float(np.max(np.abs(fwd.final.p))) / nudge_budget(aux)
    start = flip(run, fwd.final)
    seen = []
    results = {}
    for chunk in (1, 7, 16384):
        results[chunk] = echo_passes(
            run, start, batch.inputs, nudges=(eps, -eps),
            nudge_source=NudgeSource(recorded_cotangent, aux, np.zeros((1, 1))),
            keep_drive=True, chunk_size=chunk,
            on_chunk=(lambda e, n, s: seen.append((e, n, s.q.copy()))) if chunk == 1 else None)
    for chunk in (1, 7):
        a, b = results[chunk], results[16384]
        assert a.paired
        np.testing.assert_array_equal(a.readout.theta, b.readout.theta)
        np.testing.assert_array_equal(a.readout.input_matrix, b.readout.input_matrix)
        np.testing.assert_array_equal(a.readout.inputs, b.readout.inputs)
        np.testing.assert_array_equal(a.final_difference.q, b.final_difference.q)
        np.testing.assert_array_equal(a.final[1].p, b.final[1].p)
    assert len(seen) == 2 * L and seen[-1][1] == L
    np.testing.assert_array_equal(seen[-2][2], results[1].final[0].q)
    np.testing.assert_array_equal(seen[-1][2], results[1].final[1].q)
    for i in range(3):
        lone = echo_passes(
            run, State(start.q[i:i + 1], start.p[i:i + 1]), prepare_batch(
                run, q0[i], None, u[i:i + 1], None).inputs, nudges=(eps, -eps),
            nudge_source=NudgeSource(recorded_cotangent, aux[i:i + 1].copy(), np.zeros((1, 1))),
            keep_drive=True)
        np.testing.assert_array_equal(lone.readout.theta[0], results[7].readout.theta[i])
        np.testing.assert_array_equal(lone.readout.inputs[0], results[7].readout.inputs[i])
        np.testing.assert_array_equal(lone.final_difference.p[0],
                                      results[7].final_difference.p[i])


@pytest.mark.filterwarnings("ignore:the input DAC saturated")
def test_fallbacks_and_refusals(problem):
    """Non-ideal hardware, start kicks, uncentred nudges and systems without pair callbacks
    run the two-trajectory loop; paired=True names the unmet condition."""
    system, q0, u, loss = problem
    noisy = prepare_run(system, hardware="aihwkit_8bit_io")
    assert "not the ideal device" in paired_echo_unavailable(noisy)
    official = prepare_run(system, integrator="official_nonlinear_hru")
    assert "start kicks" in paired_echo_unavailable(official)
    assert paired_echo_unavailable(prepare_run(system)) is None
    _, echo = _centred(system, q0, u[:, :50], _short(loss, 50), 1e-4, hardware="aihwkit_8bit_io")
    assert not echo.paired and echo.final_difference is not None
    with pytest.raises(ValueError, match="not the ideal device"):
        _centred(system, q0, u[:, :50], _short(loss, 50), 1e-4, hardware="aihwkit_8bit_io",
                 paired=True)
    run = prepare_run(system)
    batch = prepare_batch(run, q0, None, u[:, :50], None)
    start = flip(run, forward_pass(run, batch.start, batch.inputs).final)
    source = NudgeSource(recorded_cotangent, np.ones((1, 50, 16)), np.zeros((1, 1)))
    with pytest.raises(ValueError, match=r"centred pair \(e, -e\)"):
        echo_passes(run, start, batch.inputs, nudges=(1e-3, -2e-3), nudge_source=source,
                    paired=True)
    assert not echo_passes(run, start, batch.inputs, nudges=(1e-3, -2e-3),
                           nudge_source=source).paired


def _short(loss, n):
    return MSEReadout(loss.readout, loss.targets[:, :n])


def test_system_without_pairs_unchanged(problem):
    """A system without pair callbacks runs the old loop, bit for bit as paired=False."""
    system, q0, u, loss = problem
    plain_kernels = dataclasses.replace(
        NonlinearHRU.kernels, pair_grad_kinetic=None, pair_grad_potential=None,
        pair_theta_grad_kinetic=None, pair_theta_grad_potential=None,
        pair_drive_grad_potential=None)

    class PlainHRU(NonlinearHRU):
        kernels = plain_kernels

    plain = PlainHRU(**system.constructor_fields())
    assert "offers no pair callbacks" in paired_echo_unavailable(prepare_run(plain))
    short = _short(loss, 200)
    _, auto = _centred(plain, q0, u[:, :200], short, 1e-6)
    _, forced = _centred(system, q0, u[:, :200], short, 1e-6, paired=False)
    assert not auto.paired
    np.testing.assert_array_equal(auto.readout.theta, forced.readout.theta)
    np.testing.assert_array_equal(auto.final_difference.q, forced.final_difference.q)
    with pytest.raises(ValueError, match="PlainHRU offers no pair callbacks"):
        _centred(plain, q0, u[:, :200], short, 1e-6, paired=True)
