"""RHEL with default settings on nonlinear devices, against BPTT (issue 14).

Relative error of a tensor: ``max|g_rhel - g_bptt| / max|g_bptt|`` (every
parameter tensor, the input gradient and the initial-state gradients).  The
reference is physsim's discrete adjoint (BPTT) of the same integrator, which
``tests/test_rhel.py`` holds against finite differences.
"""

from __future__ import annotations

import importlib.util
import re
import sys
from pathlib import Path

import numpy as np
import pytest

from physsim import NonlinearHRU
from physsim.bptt import bptt_gradient
from physsim.examples import three_node_josephson_circuit
from physsim.losses import MSEReadout
from physsim.rhel import rhel_gradient

DOC = Path(__file__).resolve().parents[1] / "docs" / "user_systems.md"
#: issue 14 targets (float64, default settings / Richardson)
DEFAULT_TOL = 1e-6
RICHARDSON_TOL = 1e-9


def max_rel_error(result, reference) -> tuple[str, float]:
    """Worst tensor and its error ``max|a - b| / max|b|``."""
    ra, rb = result.tensors(), reference.tensors()
    errs = {k: float(np.max(np.abs(ra[k] - rb[k])) / np.max(np.abs(rb[k]))) for k in rb
            if k in ra and np.max(np.abs(rb[k])) > 0}
    worst = max(errs, key=errs.get)
    return worst, errs[worst]


@pytest.fixture(scope="module")
def fpu_chain(request):
    """``FPUChain`` exactly as printed in docs/user_systems.md."""
    block = [b for b in re.findall(r"```python\n(.*?)```", DOC.read_text(), flags=re.S)
             if b.startswith("# fpu_chain.py")][0]
    folder = Path(request.config.cache.mkdir("user_system_example"))
    path = folder / "fpu_chain.py"
    if not path.exists() or path.read_text() != block:
        path.write_text(block)
    spec = importlib.util.spec_from_file_location("fpu_chain", path)
    module = importlib.util.module_from_spec(spec)
    sys.modules["fpu_chain"] = module
    spec.loader.exec_module(module)
    yield module.FPUChain
    sys.modules.pop("fpu_chain", None)


def nonlinear_problem(name: str, L: int, fpu=None, seed: int = 0):
    """(system, q0, inputs, loss, dt) of a named nonlinear device with an MSE read-out."""
    rng = np.random.default_rng(seed)
    if name.startswith("hru"):
        step = float(name.split("_")[1])
        system = NonlinearHRU.random(16, 16, step=step, rng=rng)
        dt, scale = None, 1.0
    elif name == "josephson":
        system, dt, scale = three_node_josephson_circuit("natural"), 0.005, 1.0
    else:
        n = 8
        system = fpu(mass=1.0, stiffness=1.0, beta=2.0, input_matrix=np.eye(n)[:, :1])
        dt, scale = 0.1, 0.1
    n, m = system.n_dof, system.input_matrix.shape[1]
    u = scale * rng.standard_normal((1, L, m))
    loss = MSEReadout(rng.standard_normal((2, n)) / np.sqrt(n),
                      0.3 * rng.standard_normal((1, L, 2)))
    return system, np.zeros(n), u, loss, dt


SYSTEMS = ["hru_1e-4", "hru_1e-2", "hru_0.1", "josephson", "fpu"]


@pytest.mark.parametrize("name", SYSTEMS)
def test_default_rhel_matches_bptt(name, fpu_chain):
    system, q0, u, loss, dt = nonlinear_problem(name, 1000, fpu_chain)
    ref = bptt_gradient(system, q0, None, u, loss, dt=dt)
    got = rhel_gradient(system, q0, None, u, loss, dt=dt)
    worst, err = max_rel_error(got, ref)
    assert err <= DEFAULT_TOL, f"{name}: {worst} off by {err:.2e} (eps {got.info['eps']:.2e})"
    assert got.info["passes"] in (3, 5)


@pytest.mark.parametrize("name", ["hru_1e-2", "hru_0.1", "josephson", "fpu"])
def test_richardson_matches_bptt(name, fpu_chain):
    # hru_1e-4 is left out: its W read-out has a round-off floor near 1e-9 (module docs
    # of physsim.rhel) and Richardson reaches 4e-10 to 1e-6 there depending on L.
    system, q0, u, loss, dt = nonlinear_problem(name, 1000, fpu_chain)
    ref = bptt_gradient(system, q0, None, u, loss, dt=dt)
    got = rhel_gradient(system, q0, None, u, loss, dt=dt, estimator="richardson")
    worst, err = max_rel_error(got, ref)
    assert err <= RICHARDSON_TOL, f"{name}: {worst} off by {err:.2e}"
    assert got.info["passes"] in (5, 7)


def test_richardson_converges_at_fourth_order():
    # bias-dominated range (round-off far below): centred error ~ eps^2, Richardson ~ eps^4
    system, q0, u, loss, dt = nonlinear_problem("hru_0.1", 300)
    ref = bptt_gradient(system, q0, None, u, loss)
    eps_grid = np.array([0.4, 0.2, 0.1, 0.05])
    errs = {}
    for est in ("centred", "richardson"):
        errs[est] = [np.linalg.norm(rhel_gradient(system, q0, None, u, loss, eps=e,
                                                  estimator=est).params["W"]
                                    - ref.params["W"]) for e in eps_grid]
    slope2 = np.polyfit(np.log(eps_grid), np.log(errs["centred"]), 1)[0]
    slope4 = np.polyfit(np.log(eps_grid), np.log(errs["richardson"]), 1)[0]
    assert abs(slope2 - 2.0) < 0.3, (slope2, errs)
    assert abs(slope4 - 4.0) < 0.5, (slope4, errs)


def test_float32_long_run_matches_float64_bptt():
    system, q0, u, loss, dt = nonlinear_problem("hru_1e-4", 5000)
    ref = bptt_gradient(system, q0, None, u, loss)
    got = rhel_gradient(system, q0, None, u, loss, dtype=np.float32)
    ra, rb = got.tensors(), ref.tensors()
    for name in ("W", "b", "c", "alpha", "B"):
        a, b = ra[name].ravel(), rb[name].ravel()
        cos = a @ b / (np.linalg.norm(a) * np.linalg.norm(b))
        assert cos >= 0.9999, (name, cos)
        assert abs(np.linalg.norm(a) / np.linalg.norm(b) - 1) <= 1e-3, name


def test_fixed_nudge_skips_the_pilot():
    system, q0, u, loss, dt = nonlinear_problem("hru_1e-2", 200)
    assert rhel_gradient(system, q0, None, u, loss, eps=1e-3).info["passes"] == 3
    assert rhel_gradient(system, q0, None, u, loss, estimator="one_sided").info["passes"] == 2
