"""Pair callbacks of the circuit, quadratic and linear-HRU systems and of the FPU chain.

Issue 14: the paired echo loop (physsim/_kernels/paired.py) carries the two
centred echoes as ``xm = (x+ + x-)/2``, ``xd = (x+ - x-)/2`` and asks each
system for the differences it needs (physsim/_kernels/signatures.py,
``PAIR_CALLBACKS``).  Independent references:

- every pair callback against the *plain* formulas of the system (its
  Hamiltonian's derivatives, written out here from the docstrings, not from
  the kernels) evaluated at ``qm + qd`` and ``qm - qd`` in many-digit
  arithmetic (mpmath, 40 digits beyond the ratio ``|qd| / |qm|``).  80-bit
  ``longdouble`` cannot serve as the reference: its own rounding of
  ``qm + qd`` is 5e-8 of a difference of relative size 1e-12;
- centred RHEL through paired echoes against BPTT (physsim's discrete adjoint,
  held against finite differences in tests/test_rhel.py), where the
  two-trajectory loop with the same tiny nudge loses the difference in
  round-off.

The allowed error of a difference is a few ulps of the *sum of its terms'
magnitudes* (the contract of the pair callbacks): a sum over units, bonds or
matrix columns may cancel by itself, which is the problem's conditioning and
not the pair formula's.  :class:`Pair` tracks that scale alongside the two
values: a leaf's scale is its own difference, a sum adds scales, a product
follows the product rule, and a function of one argument scales its difference
by the argument's relative scale.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Callable

import mpmath
import numpy as np
import pytest

from physsim import CoupledOscillators, LinearHRU
from physsim.bptt import bptt_gradient
from physsim.examples import three_node_josephson_circuit
from physsim.losses import MSEReadout
from physsim.rhel import rhel_gradient
from physsim.systems.circuit import Circuit, CircuitSystem
from test_rhel_nonlinear import fpu_chain  # noqa: F401 (fixture: the FPUChain of the docs)

U64 = float(np.finfo(np.float64).eps)
U32 = float(np.finfo(np.float32).eps)
#: "a few ulps" of the terms' magnitude (largest measured: 1.9, the FPU chain's beta read-out)
KERNEL_ULPS = 4
#: |qd| / |qm| of the kernel tests: from far below any nudge (1e-200; the products of
#: the read-outs stay normal numbers) to echoes as far apart as the states
RATIOS = [1e-200, 1e-12, 1e-8, 1e-4, 1e-1, 1.0]


# ------------------------------------------------------------------ reference arithmetic
class Pair:
    """A quantity at the two states (``plus``, ``minus``, mpmath) and the scale of its
    difference (the sum of the magnitudes of the terms it is made of)."""

    __slots__ = ("plus", "minus", "scale")

    def __init__(self, plus, minus, scale=None):
        self.plus = plus
        self.minus = minus
        self.scale = abs(plus - minus) if scale is None else scale

    @property
    def diff(self):
        return self.plus - self.minus

    @property
    def mean(self):
        return (self.plus + self.minus) / 2

    def __add__(self, other):
        o = as_pair(other)
        return Pair(self.plus + o.plus, self.minus + o.minus, self.scale + o.scale)

    __radd__ = __add__

    def __neg__(self):
        return Pair(-self.plus, -self.minus, self.scale)

    def __sub__(self, other):
        return self + (-as_pair(other))

    def __rsub__(self, other):
        return as_pair(other) - self

    def __mul__(self, other):
        o = as_pair(other)
        # a+ b+ - a- b- = (a+ - a-) mean(b) + mean(a) (b+ - b-)
        return Pair(self.plus * o.plus, self.minus * o.minus,
                    self.scale * abs(o.mean) + abs(self.mean) * o.scale)

    __rmul__ = __mul__

    def __truediv__(self, c):
        return self * (1 / mpmath.mpf(c))

    def apply(self, f):
        """``f`` at both states; its difference inherits the argument's relative scale."""
        fp, fm = f(self.plus), f(self.minus)
        d = self.diff
        ratio = self.scale / abs(d) if d != 0 else (1 if self.scale == 0 else mpmath.inf)
        return Pair(fp, fm, abs(fp - fm) * ratio)


def as_pair(x) -> Pair:
    """A constant (the same at both states) as a :class:`Pair` of zero scale."""
    if isinstance(x, Pair):
        return x
    v = mpmath.mpf(x)
    return Pair(v, v, mpmath.mpf(0))


def zero_pairs(shape) -> np.ndarray:
    out = np.empty(shape, dtype=object)
    for idx in np.ndindex(*shape):
        out[idx] = as_pair(0)
    return out


def mp_array(a) -> np.ndarray:
    """A float64 array as an object array of exact mpmath numbers."""
    a = np.asarray(a, dtype=float)
    out = np.empty(a.shape, dtype=object)
    for idx in np.ndindex(*a.shape):
        out[idx] = mpmath.mpf(float(a[idx]))
    return out


# ------------------------------------------------------------ plain formulas, per system
# Each returns the plain derivatives at x = (Pair per entry): dT/dp or dV/dq (list),
# dT/dtheta or dV/dtheta (dict of block name -> object array of Pair, missing blocks
# are zero) and, for the potential, dV/dd (list).
def ref_kinetic_quadratic(p, blocks, name):
    """T = p.Minv.p / 2, Minv diagonal (n,) or dense (n, n), block ``name``."""
    minv = blocks[name]
    n = len(p)
    if minv.ndim == 1:
        grad = [minv[i] * p[i] for i in range(n)]
        g = np.array([p[i] * p[i] / 2 for i in range(n)], dtype=object)
    else:
        grad = [sum((minv[i, j] * p[j] for j in range(n)), as_pair(0)) for i in range(n)]
        g = np.empty((n, n), dtype=object)
        for i in range(n):
            for j in range(n):
                g[i, j] = p[i] * p[j] / 2
    return grad, {name: g}


def ref_potential_quadratic(q, d, blocks, name):
    """V = q.K.q / 2 - d.q, K dense (n, n), block ``name``."""
    k = blocks[name]
    n = len(q)
    grad = [sum((k[i, j] * q[j] for j in range(n)), as_pair(0)) - d[i] for i in range(n)]
    g = np.empty((n, n), dtype=object)
    for i in range(n):
        for j in range(n):
            g[i, j] = q[i] * q[j] / 2
    return grad, {name: g}, [-q[i] for i in range(n)]


def ref_kinetic_circuit(p, blocks):
    return ref_kinetic_quadratic(p, blocks, "inverse_capacitance")


def ref_potential_circuit(q, d, blocks):
    """Quadratic part plus -sum_j E_j cos(kappa phi_j), phi = D q."""
    grad, g, drive = ref_potential_quadratic(q, d, blocks, "inverse_inductance")
    kappa = blocks["flux_to_phase"][0]
    e, dmat = blocks["josephson_energy"], blocks["junction_incidence"]
    n, nj = len(q), len(e)
    g_e = zero_pairs((nj,))
    g_d = zero_pairs((nj, n))
    g_kappa = as_pair(0)
    for j in range(nj):
        phi = sum((dmat[j, k] * q[k] for k in range(n)), as_pair(0))
        sn = (kappa * phi).apply(mpmath.sin)
        cs = (kappa * phi).apply(mpmath.cos)
        for k in range(n):
            grad[k] = grad[k] + e[j] * kappa * sn * dmat[j, k]
            g_d[j, k] = e[j] * kappa * sn * q[k]
        g_e[j] = -cs
        g_kappa = g_kappa + e[j] * sn * phi
    g.update({"josephson_energy": g_e, "junction_incidence": g_d,
              "flux_to_phase": np.array([g_kappa], dtype=object)})
    return grad, g, drive


def ref_kinetic_linear_hru(p, blocks):
    """T = sum_i delta_i p_i^2 / 2 over every bank."""
    delta = blocks["step"]
    P = len(delta)
    grad = [delta[i % P] * p[i] for i in range(len(p))]
    g = zero_pairs((P,))
    for i in range(len(p)):
        g[i % P] = g[i % P] + p[i] * p[i] / 2
    return grad, {"step": g}


def ref_potential_linear_hru(q, d, blocks):
    """V = sum_i delta_i (A_i q_i^2 / 2 - d_i q_i) over every bank."""
    a, delta = blocks["A"], blocks["step"]
    P = len(a)
    grad, drive = [], []
    g_a, g_delta = zero_pairs((P,)), zero_pairs((P,))
    for i in range(len(q)):
        k = i % P
        grad.append(delta[k] * (a[k] * q[i] - d[i]))
        drive.append(-delta[k] * q[i])
        g_a[k] = g_a[k] + delta[k] * q[i] * q[i] / 2
        g_delta[k] = g_delta[k] + (a[k] * q[i] * q[i] / 2 - d[i] * q[i])
    return grad, {"A": g_a, "step": g_delta}, drive


def ref_kinetic_fpu(p, blocks):
    """T = sum_i p_i^2 / (2 m) with theta = [1/m, k, beta]."""
    minv = blocks["inverse_mass"][0]
    s = sum((p[i] * p[i] / 2 for i in range(len(p))), as_pair(0))
    return [minv * x for x in p], {"inverse_mass": np.array([s], dtype=object)}


def ref_potential_fpu(q, d, blocks):
    """V = sum_b (k r_b^2 / 2 + beta r_b^4 / 4) - d.q, r_b = q_b - q_{b-1}, fixed walls."""
    k, beta = blocks["stiffness"][0], blocks["beta"][0]
    n = len(q)
    wall = as_pair(0)
    grad = [-as_pair(x) for x in d]
    s2, s4 = as_pair(0), as_pair(0)
    for b in range(n + 1):
        r = (q[b] if b < n else wall) - (q[b - 1] if b > 0 else wall)
        tension = k * r + beta * r * r * r
        if b < n:
            grad[b] = grad[b] + tension
        if b > 0:
            grad[b - 1] = grad[b - 1] - tension
        s2 = s2 + r * r / 2
        s4 = s4 + r * r * r * r / 4
    return (grad, {"stiffness": np.array([s2], dtype=object),
                   "beta": np.array([s4], dtype=object)}, [-x for x in q])


# ------------------------------------------------------------------------ the systems
@dataclass
class PairCase:
    """A system, the scales of its states and drive, and its plain formulas."""

    system: object
    q_scale: float
    p_scale: float
    d_scale: float
    ref_kinetic: Callable
    ref_potential: Callable


def _random_circuit(rng, n, nj, incidence):
    """A stable CircuitSystem from random dense matrices in natural units (kappa = 1).

    ``incidence="junctions"``: each row +1/-1 on a random node pair (or one node and
    ground); ``"general"``: arbitrary real entries (the kernels treat D entry by entry).
    """
    a, k = rng.normal(size=(2, n, n))
    cap = a @ a.T + n * np.eye(n)
    d = np.zeros((nj, n))
    for j in range(nj):
        if incidence == "general":
            d[j] = rng.normal(size=n)
        else:
            nodes = rng.choice(n, size=2, replace=False)
            d[j, nodes[0]] = 1.0
            if rng.random() < 0.7:
                d[j, nodes[1]] = -1.0
    return CircuitSystem(capacitance=cap, inverse_inductance=k @ k.T + np.eye(n),
                         josephson_energy=rng.uniform(0.2, 2.0, nj), junction_incidence=d,
                         input_matrix=rng.normal(size=(n, 2)), flux_quantum=2 * np.pi)


def _lc_with_mutual_inductance():
    """An LC network from the builder, two inductors magnetically coupled (dense K)."""
    c = Circuit()
    c.add_capacitor("a", "gnd", 1.0e-12)
    c.add_capacitor("b", "gnd", 0.8e-12)
    c.add_capacitor("a", "b", 0.2e-12)
    c.add_capacitor("c", "gnd", 1.5e-12)
    la = c.add_inductor("a", "gnd", 2e-9)
    lb = c.add_inductor("b", "c", 3e-9)
    c.add_inductor("c", "gnd", 1e-9)
    c.add_mutual_inductance(la, lb, 0.4)
    c.add_current_source("a")
    c.add_voltage_source("c", inductance=4e-9)
    return c


def _circuit_case(system):
    # node fluxes over several periods of every junction (|kappa phi| up to ~30 rad)
    kappa = system.flux_to_phase
    q_scale = 15.0 / kappa
    k_scale = np.max(np.abs(system.inverse_inductance))
    p_scale = q_scale * np.sqrt(k_scale * np.max(np.abs(system.capacitance)))
    return PairCase(system, q_scale, p_scale, k_scale * q_scale, ref_kinetic_circuit,
                    ref_potential_circuit)


def make_case(kind: str, fpu_chain_class=None, seed: int = 0) -> PairCase:
    rng = np.random.default_rng(seed)
    if kind == "circuit_lc_mutual":
        return _circuit_case(_lc_with_mutual_inductance().build(units="natural"))
    if kind == "circuit_josephson":
        return _circuit_case(_random_circuit(rng, 5, 4, "junctions"))
    if kind == "circuit_general_incidence":
        return _circuit_case(_random_circuit(rng, 4, 3, "general"))
    if kind == "circuit_si":
        return _circuit_case(three_node_josephson_circuit("SI"))
    if kind.startswith("coupled"):
        n = 5
        a, k = rng.normal(size=(2, n, n))
        mass = rng.uniform(0.5, 2.0, n) if kind == "coupled_diag" else a @ a.T + n * np.eye(n)
        system = CoupledOscillators(mass=mass, stiffness=k @ k.T + np.eye(n),
                                    input_matrix=rng.normal(size=(n, 2)))
        name = "inverse_mass"
        return PairCase(system, 1.0, 1.0, 1.0,
                        lambda p, blocks: ref_kinetic_quadratic(p, blocks, name),
                        lambda q, d, blocks: ref_potential_quadratic(q, d, blocks, "stiffness"))
    if kind.startswith("linear_hru"):
        system = LinearHRU.random(6, 3, complex=kind == "linear_hru_complex", rng=rng)
        return PairCase(system, 1.0, 1.0, 1.0, ref_kinetic_linear_hru, ref_potential_linear_hru)
    if kind == "fpu":
        system = fpu_chain_class(mass=1.3, stiffness=0.8, beta=1.7,
                                 input_matrix=rng.normal(size=(6, 2)))
        return PairCase(system, 1.0, 1.0, 1.0, ref_kinetic_fpu, ref_potential_fpu)
    raise ValueError(f"unknown case {kind!r}")


KINDS = ["circuit_lc_mutual", "circuit_josephson", "circuit_general_incidence", "circuit_si",
         "coupled_diag", "coupled_dense", "linear_hru_real", "linear_hru_complex", "fpu"]


def _states(rng, scale: float, n: int, ratio: float):
    """``xm`` of size ``scale`` and ``xd = ratio |xm|`` with random signs."""
    xm = scale * rng.uniform(-1.0, 1.0, n)
    xd = ratio * np.abs(xm) * rng.choice([-1.0, 1.0], n) * rng.uniform(0.5, 1.0, n)
    return xm, xd


def _pairs(xm, xd) -> list[Pair]:
    """Exact ``xm +- xd`` per entry (mpmath has the digits for it)."""
    out = []
    for a, b in zip(xm, xd):
        ma, mb = mpmath.mpf(float(a)), mpmath.mpf(float(b))
        out.append(Pair(ma + mb, ma - mb))
    return out


def _check(what, got, exact_pairs, factor, u=U64, ulps=KERNEL_ULPS):
    """``got`` within ``ulps`` of ``factor * scale`` of ``factor * diff`` of the pairs."""
    got = np.asarray(got, dtype=float).ravel()
    exact = np.array([float(factor * x.diff) for x in np.ravel(exact_pairs)])
    scale = np.array([float(abs(factor) * x.scale) for x in np.ravel(exact_pairs)])
    err = np.abs(got - exact)
    bad = err > ulps * u * scale
    assert not np.any(bad), (
        f"{what}: error up to {np.max(err / np.where(scale > 0, scale, 1.0)) / u:.1f} ulps of "
        f"the terms' size (allowed {ulps}); entries {np.flatnonzero(bad)[:5]}: got "
        f"{got[bad][:3]}, exact {exact[bad][:3]}")


def _check_blocks(what, case, g, ref_blocks, factor):
    """Every theta block of ``g`` against the reference (missing blocks: exactly zero)."""
    got = case.system.unpack_theta(g)
    for name, block in got.items():
        if name in ref_blocks:
            _check(f"{what}[{name}]", block, ref_blocks[name], factor)
        else:
            assert np.all(block == 0.0), f"{what}[{name}] should be untouched"


# ------------------------------------------------------------------------ kernel tests
@pytest.mark.parametrize("ratio", RATIOS)
@pytest.mark.parametrize("kind", KINDS)
def test_pair_kernels_against_many_digit_reference(kind, ratio, fpu_chain):  # noqa: F811
    """out_half and the three read-out differences within a few ulps of their terms."""
    case = make_case(kind, fpu_chain)
    system, kernels = case.system, case.system.kernels
    assert kernels.has_pairs
    rng = np.random.default_rng(int(-np.log10(ratio)) + 17 * KINDS.index(kind))
    n, nd, theta = system.n_dof, system.n_drive, system.pack_theta()
    mpmath.mp.dps = 40 + int(-np.log10(ratio))
    blocks = {name: mp_array(v) for name, v in system.unpack_theta(theta).items()}
    qm, qd = _states(rng, case.q_scale, n, ratio)
    pm, pd = _states(rng, case.p_scale, n, ratio)
    d = case.d_scale * rng.standard_normal(nd)
    w = 0.37

    # kinetic energy
    grad_t, theta_t = case.ref_kinetic(_pairs(pm, pd), blocks)
    out_mean, out_half = np.zeros(n), np.zeros(n)
    kernels.pair_grad_kinetic(pm, pd, theta, out_mean, out_half)
    _check("dT/dp half", out_half, grad_t, 0.5)
    g = np.zeros(theta.size)
    kernels.pair_theta_grad_kinetic(pm, pd, theta, w, g)
    _check_blocks("dT/dtheta", case, g, theta_t, w)
    plus, minus = np.zeros(n), np.zeros(n)
    kernels.grad_kinetic(pm + pd, theta, plus)
    kernels.grad_kinetic(pm - pd, theta, minus)
    np.testing.assert_allclose(out_mean, (plus + minus) / 2, rtol=0,
                               atol=1e-14 * np.max(np.abs(plus) + np.abs(minus)))

    # potential energy
    grad_v, theta_v, drive_v = case.ref_potential(_pairs(qm, qd), mp_array(d), blocks)
    kernels.pair_grad_potential(qm, qd, d, theta, out_mean, out_half)
    _check("dV/dq half", out_half, grad_v, 0.5)
    g = np.zeros(theta.size)
    kernels.pair_theta_grad_potential(qm, qd, d, theta, w, g)
    _check_blocks("dV/dtheta", case, g, theta_v, w)
    g_drive = np.zeros(nd)
    kernels.pair_drive_grad_potential(qm, qd, d, theta, w, g_drive)
    _check("dV/dd", g_drive, drive_v, w)
    kernels.grad_potential(qm + qd, d, theta, plus)
    kernels.grad_potential(qm - qd, d, theta, minus)
    np.testing.assert_allclose(out_mean, (plus + minus) / 2, rtol=0,
                               atol=1e-13 * np.max(np.abs(plus) + np.abs(minus)))


def test_pair_kernels_accumulate_and_compile_for_float32():
    """Read-outs add to ``out``; every pair callback has its exact float32 signature."""
    case = make_case("circuit_josephson")
    kernels, theta = case.system.kernels, case.system.pack_theta()
    rng = np.random.default_rng(1)
    qm, qd = _states(rng, case.q_scale, case.system.n_dof, 1e-3)
    d = rng.standard_normal(case.system.n_drive)
    fresh = np.zeros(theta.size)
    kernels.pair_theta_grad_potential(qm, qd, d, theta, 0.5, fresh)
    base = rng.standard_normal(theta.size)
    added = base.copy()
    kernels.pair_theta_grad_potential(qm, qd, d, theta, 0.5, added)
    np.testing.assert_allclose(added - base, fresh, rtol=0, atol=4 * U64 * np.max(np.abs(base)))
    typed = kernels.typed(np.float32)
    assert typed.has_pairs
    f32 = np.float32
    out_mean, out_half = np.zeros(qm.size, f32), np.zeros(qm.size, f32)
    typed.pair_grad_potential(qm.astype(f32), qd.astype(f32), d.astype(f32),
                              theta.astype(f32), out_mean, out_half)
    want_mean, want_half = np.zeros(qm.size), np.zeros(qm.size)
    kernels.pair_grad_potential(qm.astype(f32).astype(float), qd.astype(f32).astype(float),
                                d.astype(f32).astype(float), theta.astype(f32).astype(float),
                                want_mean, want_half)
    np.testing.assert_allclose(out_half, want_half, rtol=0,
                               atol=8 * U32 * np.max(np.abs(want_half)))


# -------------------------------------------------------------- paired echoes end to end
E2E_KINDS = ["circuit_lc_mutual", "circuit_josephson_mutual", "circuit_josephson",
             "coupled_diag", "coupled_dense", "linear_hru_real", "linear_hru_complex", "fpu"]
#: paired RHEL against BPTT, float64, L = 1000 (largest measured: 1e-13)
PAIRED_TOL = 1e-11


def e2e_problem(kind: str, fpu_chain_class, L: int, seed: int = 0):
    """(system, q0, inputs, loss, dt) of one system kind with an MSE read-out."""
    rng = np.random.default_rng(seed)
    if kind == "circuit_josephson_mutual":
        circuit = _lc_with_mutual_inductance()
        circuit.add_josephson_junction("a", "b", critical_current=0.3e-6)
        system = circuit.build(units="natural")
    elif kind == "fpu":
        system = fpu_chain_class(mass=1.0, stiffness=1.0, beta=2.0,
                                 input_matrix=np.eye(8)[:, :1])
    else:
        system = make_case(kind, fpu_chain_class, seed).system
    dt = None if kind.startswith("linear_hru") else 0.3 / system.max_frequency()
    n, m = system.n_dof, system.input_matrix.shape[1]
    u = (0.3 if kind == "fpu" else 1.0) * rng.standard_normal((1, L, m))
    loss = MSEReadout(rng.standard_normal((2, n)) / np.sqrt(n),
                      0.3 * rng.standard_normal((1, L, 2)))
    return system, np.zeros(n), u, loss, dt


def tensor_errors(result, reference) -> dict[str, float]:
    """``max|a - b| / max|b|`` per tensor (tensors that are not identically zero)."""
    ra, rb = result.tensors(), reference.tensors()
    return {k: float(np.max(np.abs(ra[k] - rb[k])) / np.max(np.abs(rb[k]))) for k in rb
            if k in ra and rb[k].size and np.max(np.abs(rb[k])) > 0}


@pytest.mark.parametrize("kind", E2E_KINDS)
def test_paired_rhel_with_tiny_nudge_matches_bptt(kind, fpu_chain):  # noqa: F811
    """Centred RHEL, fixed nudge 1e-10 of the state scale: paired echoes match BPTT per
    tensor to round-off, the two-trajectory loop with the same nudge does not."""
    system, q0, u, loss, dt = e2e_problem(kind, fpu_chain, 1000)
    ref = bptt_gradient(system, q0, None, u, loss, dt=dt)
    paired = rhel_gradient(system, q0, None, u, loss, dt=dt, relative_nudge=1e-10)
    separate = rhel_gradient(system, q0, None, u, loss, dt=dt, relative_nudge=1e-10,
                             paired=False)
    assert paired.info["paired_echoes"] and paired.info["passes"] == 3
    assert not separate.info["paired_echoes"]
    err_paired, err_separate = tensor_errors(paired, ref), tensor_errors(separate, ref)
    for name, err in err_paired.items():
        assert err <= PAIRED_TOL, f"{kind}: {name} off by {err:.2e}"
        # the old loop loses the 1e-10 echo difference in round-off (measured 1e-7..5e-5)
        assert err_separate[name] >= 1e3 * max(err, U64), (name, err, err_separate[name])
    default = rhel_gradient(system, q0, None, u, loss, dt=dt)
    assert default.info["paired_echoes"]
    assert max(tensor_errors(default, ref).values()) <= PAIRED_TOL


@pytest.mark.parametrize("kind", ["circuit_josephson_mutual", "coupled_dense",
                                  "linear_hru_complex", "fpu"])
def test_paired_rhel_in_float32(kind, fpu_chain):  # noqa: F811
    """float32 states run the pair callbacks in float32 (read-outs in float64)."""
    system, q0, u, loss, dt = e2e_problem(kind, fpu_chain, 1000)
    ref = bptt_gradient(system, q0, None, u, loss, dt=dt)
    got = rhel_gradient(system, q0, None, u, loss, dt=dt, dtype=np.float32)
    assert got.info["paired_echoes"]
    # float32 round-off over 1000 steps (measured up to 1.4e-4, the FPU chain's beta)
    for name, err in tensor_errors(got, ref).items():
        assert err <= 1e-3, f"{kind}: {name} off by {err:.2e}"
