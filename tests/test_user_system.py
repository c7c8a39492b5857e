"""The user-defined-system example of docs/user_systems.md, run and checked.

The code blocks of the page are extracted and executed as they stand (the
module block is saved as ``fpu_chain.py`` under pytest's cache directory so
numba's on-disk cache survives between runs), then the FPU-beta chain is
checked against closed-form normal modes, scipy's DOP853, finite
differences, energy conservation and time reversal.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest
from scipy.integrate import solve_ivp

from kernel_checks import check_callbacks
from physsim import INTEGRATORS, simulate
from physsim.bptt import bptt_gradient, finite_difference_gradient_check, loss_of
from physsim.gradients import compare
from physsim.losses import MSEReadout
from physsim.rhel import rhel_gradient

DOC = Path(__file__).resolve().parents[1] / "docs" / "user_systems.md"
MODULE_MARKER = "# fpu_chain.py"


def _code_blocks() -> list[str]:
    return re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def fpu(request):
    """The ``fpu_chain`` module exactly as printed in the docs."""
    blocks = [b for b in _code_blocks() if b.startswith(MODULE_MARKER)]
    assert len(blocks) == 1, "docs/user_systems.md must hold exactly one fpu_chain.py block"
    folder = Path(request.config.cache.mkdir("user_system_example"))
    path = folder / "fpu_chain.py"
    # rewrite only on change: numba's cache is keyed by the file's timestamp
    if not path.exists() or path.read_text() != blocks[0]:
        path.write_text(blocks[0])
    spec = importlib.util.spec_from_file_location("fpu_chain", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fpu_chain"] = module  # the usage block imports it by this name
    spec.loader.exec_module(module)
    yield module
    sys.modules.pop("fpu_chain", None)


def fpu_rhs(t, y, mass, k, beta, force):
    """Hand-written FPU-beta equations of motion with fixed ends, y = [q, p]."""
    n = y.size // 2
    q = np.concatenate([[0.0], y[:n], [0.0]])
    r = np.diff(q)                      # n + 1 bond extensions
    tension = k * r + beta * r**3
    return np.concatenate([y[n:] / mass, tension[1:] - tension[:-1] + force])


# ------------------------------------------------------------------------ tests
def test_docs_usage_block_runs(fpu, capsys):
    usage = [b for b in _code_blocks() if not b.startswith(MODULE_MARKER)]
    assert usage
    for block in usage:
        exec(compile(block, str(DOC), "exec"), {"__name__": "docs_example"})
    printed = capsys.readouterr().out
    drift = float(re.search(r"excursion over 4000 steps: (\S+)", printed).group(1))
    assert drift < 1e-2


def test_callbacks_against_finite_differences(fpu):
    rng = np.random.default_rng(0)
    chain = fpu.FPUChain(mass=1.3, stiffness=0.8, beta=1.7, input_matrix=rng.normal(size=(5, 2)))
    check_callbacks(chain, rng)
    assert chain.kernels.has_adjoint


def test_harmonic_limit_matches_closed_form_modes(fpu):
    n, mass, k = 6, 2.0, 3.0
    chain = fpu.FPUChain(mass=mass, stiffness=k, beta=0.0, input_matrix=np.zeros((n, 1)))
    # stiffness matrix of the fixed-end chain, written out by hand
    kmat = k * (2 * np.eye(n) - np.eye(n, k=1) - np.eye(n, k=-1))
    np.testing.assert_allclose(chain.normal_mode_frequencies(),
                               np.sqrt(np.linalg.eigvalsh(kmat / mass)), rtol=1e-12)
    j = 3
    omega = chain.normal_mode_frequencies()[j - 1]
    shape = np.sin(j * np.pi * np.arange(1, n + 1) / (n + 1))
    for dt in (0.05, 0.025):
        steps = int(round(30 / (omega * dt)))
        tr = simulate(chain, 0.1 * shape, n_steps=steps, dt=dt, record_every=1)
        exact = 0.1 * shape[None, :] * np.cos(omega * tr.times)[:, None]
        err = np.max(np.abs(tr.positions[0] - exact)) / 0.1
        # leapfrog phase error omega t (omega dt)^2 / 24 at t = 30 / omega
        assert err < 30 * (omega * dt) ** 2 / 24 * 1.1


def test_driven_anharmonic_chain_matches_solve_ivp(fpu):
    n, mass, k, beta = 5, 1.0, 1.0, 4.0
    rng = np.random.default_rng(1)
    b = rng.normal(size=(n, 2))
    chain = fpu.FPUChain(mass=mass, stiffness=k, beta=beta, input_matrix=b)
    q0 = 0.4 * rng.normal(size=n)
    blocks, t_block = rng.normal(0, 0.3, (8, 2)), 2.5   # inputs constant over each block
    y = np.concatenate([q0, np.zeros(n)])
    for t, u in enumerate(blocks):
        sol = solve_ivp(fpu_rhs, (t * t_block, (t + 1) * t_block), y, method="DOP853",
                        rtol=1e-12, atol=1e-13, args=(mass, k, beta, b @ u))
        y = sol.y[:, -1]
    errors = []
    for per_block in (100, 200):
        dt = t_block / per_block
        tr = simulate(chain, q0, None, np.repeat(blocks, per_block, axis=0), dt=dt)
        errors.append(max(np.max(np.abs(tr.final_positions[0] - y[:n])),
                          np.max(np.abs(tr.final_momenta[0] - y[n:]))) / np.max(np.abs(y)))
    assert errors[1] < 1e-3
    assert 3.5 < errors[0] / errors[1] < 4.5     # leapfrog is second order


def test_energy_bounded_without_drift(fpu):
    chain = fpu.FPUChain(mass=1.0, stiffness=1.0, beta=1.0, input_matrix=np.zeros((8, 1)))
    q0 = 0.5 * np.sin(np.pi * np.arange(1, 9) / 9)
    dt = 0.05
    tr = simulate(chain, q0, n_steps=100_000, dt=dt, record_every=10, record_energy=True)
    rel = np.abs(tr.energy[0] - tr.energy[0, 0]) / tr.energy[0, 0]
    tenth = rel.size // 10
    omega = chain.max_frequency()
    assert rel.max() < (omega * dt) ** 2
    assert rel[-tenth:].max() < 1.2 * rel[:tenth].max()


@pytest.mark.parametrize("name", [n for n, cls in INTEGRATORS.items() if cls.time_reversible])
def test_time_reversal(fpu, name):
    rng = np.random.default_rng(2)
    chain = fpu.FPUChain(mass=1.0, stiffness=1.0, beta=1.0, input_matrix=rng.normal(size=(6, 2)))
    # moderate amplitude: in the chaotic regime (amplitudes ~1) round-off grows exponentially
    # and no integrator returns to 1e-12
    q0, p0 = 0.1 * rng.normal(size=(2, 6))
    u = 0.02 * rng.normal(size=(10_000, 2))
    fwd = simulate(chain, q0, p0, u, dt=0.05, integrator=name)
    back = simulate(chain, fwd.final_positions, -fwd.final_momenta, u[::-1], dt=0.05,
                    integrator=name)
    scale = max(np.abs(q0).max(), np.abs(p0).max())
    np.testing.assert_allclose(back.final_positions[0], q0, rtol=0, atol=1e-12 * scale)
    np.testing.assert_allclose(-back.final_momenta[0], p0, rtol=0, atol=1e-12 * scale)


def test_learning_rules_on_the_user_system(fpu):
    rng = np.random.default_rng(3)
    chain = fpu.FPUChain(mass=1.2, stiffness=0.9, beta=1.5, input_matrix=rng.normal(size=(5, 2)))
    u = 0.3 * rng.normal(size=(2, 200, 2))
    q0 = 0.2 * rng.normal(size=(2, 5))
    loss = MSEReadout(rng.normal(size=(2, 5)), 0.2 * rng.normal(size=(2, 200, 2)))
    dt = 0.1
    ref = bptt_gradient(chain, q0, None, u, loss, dt=dt)
    checks = finite_difference_gradient_check(lambda s: loss_of(s, q0, None, u, loss, dt=dt),
                                              chain, ref.params)
    for name, rows in checks.items():
        np.testing.assert_allclose(rows[:, 1], rows[:, 0], rtol=1e-6, err_msg=name)
    got = rhel_gradient(chain, q0, None, u, loss, relative_nudge=1e-4, dt=dt)
    assert max(a.max_relative_error for a in compare(got, ref).values()) < 1e-5


def test_user_system_validation(fpu):
    with pytest.raises(ValueError, match="mass > 0"):
        fpu.FPUChain(mass=-1.0, stiffness=1.0, beta=0.0, input_matrix=np.zeros((3, 1)))
    chain = fpu.FPUChain(mass=1.0, stiffness=1.0, beta=0.0, input_matrix=np.zeros((3, 1)))
    with pytest.raises(ValueError, match="stability limit"):
        simulate(chain, np.zeros(3), n_steps=1, dt=2.0 / chain.max_frequency())


def test_float32_run_after_kernels_were_called_from_python(fpu):
    """A kernel first called from Python with float32 arrays (numba then infers a
    float64 return for ``s = 0.0`` accumulators) must not break a float32 run:
    the compiled loops need ``float32(...)``.  Fresh dispatchers make the call
    order of this test independent of the rest of the suite."""
    import dataclasses

    from numba import njit

    from physsim.systems import SystemKernels

    fresh = SystemKernels(**{f.name: None if getattr(fpu.FPUChain.kernels, f.name) is None
                             else njit(getattr(fpu.FPUChain.kernels, f.name).py_func)
                             for f in dataclasses.fields(SystemKernels)})

    class FreshChain(fpu.FPUChain):
        kernels = fresh

    chain = FreshChain(mass=1.0, stiffness=1.0, beta=0.5, input_matrix=np.eye(3)[:, :1])
    p32 = np.ones(3, np.float32)
    theta32 = chain.pack_theta(np.float32)
    lazily = fresh.kinetic(p32, theta32)  # Python call: numba picks the return type
    assert lazily == pytest.approx(1.5)
    assert fresh.kinetic.overloads[tuple(fresh.kinetic.signatures[0])].signature.return_type \
        .bitwidth == 64, "the scenario needs a lazily compiled float64-returning overload"

    q0 = np.array([[0.1, -0.2, 0.05]])
    u = np.sin(np.linspace(0, 3, 40))[None, :, None]
    runs = {dt: simulate(chain, q0, None, u, dt=0.05, record_every=1, record_energy=True,
                         dtype=dt) for dt in (np.float32, np.float64)}
    assert runs[np.float32].positions.dtype == np.float32
    np.testing.assert_allclose(runs[np.float32].positions, runs[np.float64].positions,
                               atol=1e-5)
    np.testing.assert_allclose(runs[np.float32].energy, runs[np.float64].energy, rtol=1e-4)
