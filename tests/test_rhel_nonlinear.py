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
from physsim.systems.hru_reference import (nonlinear_hru_gradient_longdouble,
                                           nonlinear_hru_rhel_longdouble)

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

needs_extended = pytest.mark.skipif(np.finfo(np.longdouble).eps > 1e-18,
                                    reason="np.longdouble is not wider than float64 here")


@pytest.mark.parametrize("name", SYSTEMS)
def test_default_rhel_matches_bptt(name, fpu_chain):
    system, q0, u, loss, dt = nonlinear_problem(name, 1000, fpu_chain)
    ref = bptt_gradient(system, q0, None, u, loss, dt=dt)
    got = rhel_gradient(system, q0, None, u, loss, dt=dt)
    worst, err = max_rel_error(got, ref)
    assert err <= DEFAULT_TOL, f"{name}: {worst} off by {err:.2e} (eps {got.info['eps']:.2e})"
    assert got.info["passes"] in (3, 5)


@pytest.mark.parametrize("name", ["hru_1e-4", "hru_0.1"])
def test_default_rhel_matches_bptt_at_ten_thousand_steps(name):
    system, q0, u, loss, dt = nonlinear_problem(name, 10_000)
    ref = bptt_gradient(system, q0, None, u, loss, dt=dt)
    got = rhel_gradient(system, q0, None, u, loss, dt=dt)
    worst, err = max_rel_error(got, ref)
    assert err <= DEFAULT_TOL, f"{name}: {worst} off by {err:.2e} (eps {got.info['eps']:.2e})"


@pytest.mark.parametrize("name", SYSTEMS)
def test_richardson_matches_bptt(name, fpu_chain):
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


# ------------------------------------------------ paired echoes and an 80-bit reference
@needs_extended
@pytest.mark.parametrize("step", [1e-4, 0.1])
def test_paired_rhel_and_bptt_match_an_80_bit_gradient(step):
    rng = np.random.default_rng(3)
    system = NonlinearHRU.random(8, 3, step=step, rng=rng)
    L = 300
    u = rng.standard_normal((1, L, 3))
    loss = MSEReadout(rng.standard_normal((2, 8)) / np.sqrt(8),
                      0.3 * rng.standard_normal((1, L, 2)))
    truth = nonlinear_hru_gradient_longdouble(system, u, loss.readout, loss.targets)
    q0 = np.zeros(8)
    rhel = rhel_gradient(system, q0, None, u, loss)
    assert rhel.info["paired_echoes"] and rhel.info["passes"] == 3
    for method, tol in ((bptt_gradient(system, q0, None, u, loss), 1e-13), (rhel, 1e-10)):
        for name, ref in truth.items():
            ref = np.asarray(ref, float)
            err = np.max(np.abs(method.params[name].reshape(ref.shape) - ref)) / np.max(np.abs(ref))
            assert err <= tol, (method.method, name, err)


@needs_extended
def test_80_bit_rhel_equals_the_80_bit_adjoint():
    """The two extended-precision references (echoes and a hand-derived adjoint, written
    independently) agree far below float64 resolution: RHEL's identity itself, checked
    without physsim's kernels."""
    rng = np.random.default_rng(4)
    system = NonlinearHRU.random(6, 2, step=0.1, rng=rng)
    L = 200
    u = rng.standard_normal((1, L, 2))
    readout, targets = rng.standard_normal((2, 6)), 0.3 * rng.standard_normal((1, L, 2))
    adjoint = nonlinear_hru_gradient_longdouble(system, u, readout, targets)
    echoes = nonlinear_hru_rhel_longdouble(system, u, readout, targets)
    for name, ref in adjoint.items():
        err = np.max(np.abs(echoes[name] - ref)) / np.max(np.abs(ref))
        assert err <= 1e-16, (name, float(err))


def test_separate_echoes_on_request_and_paired_refusals():
    from hardware_models import NoisyAnalog
    system, q0, u, loss, dt = nonlinear_problem("hru_0.1", 300)
    ref = bptt_gradient(system, q0, None, u, loss)
    separate = rhel_gradient(system, q0, None, u, loss, paired=False)
    assert not separate.info["paired_echoes"] and separate.info["balanced_nudge"]
    assert max_rel_error(separate, ref)[1] <= DEFAULT_TOL
    with pytest.raises(ValueError, match="paired=True.*not the ideal device"):
        rhel_gradient(system, q0, None, u, loss, paired=True,
                      hardware=NoisyAnalog(momentum_noise=1e-6))
    with pytest.raises(ValueError, match="paired=True.*one-sided"):
        rhel_gradient(system, q0, None, u, loss, paired=True, estimator="one_sided")
    with pytest.raises(TypeError, match="paired must be"):
        rhel_gradient(system, q0, None, u, loss, paired="yes")


def test_fixed_nudge_skips_the_pilot():
    system, q0, u, loss, dt = nonlinear_problem("hru_1e-2", 200)
    assert rhel_gradient(system, q0, None, u, loss, eps=1e-3).info["passes"] == 3
    assert rhel_gradient(system, q0, None, u, loss, estimator="one_sided").info["passes"] == 2


# ------------------------------------------------ layers from arrays and official layouts
def _sigmoid(x):
    return 1.0 / (1.0 + np.exp(-x))


def official_linhru(arrays, u):
    """numpy transcription of the official LinHRU layer (rhel.md Sec. 3.2), u (L, H)."""
    a = np.maximum(arrays["A_diag"], 0.0)
    dt = _sigmoid(arrays["steps"])
    B = arrays["B"][..., 0] + 1j * arrays["B"][..., 1]
    C = arrays["C"][..., 0] + 1j * arrays["C"][..., 1]
    z = np.zeros(a.size, complex)
    y = np.zeros(a.size, complex)
    out = []
    for u_k in u:
        b = B @ u_k
        z, y = ((1 - dt**2 * a / 2) * z - dt * a * y + dt * b,
                dt * (1 - dt**2 * a / 4) * z + (1 - dt**2 * a / 2) * y + dt**2 / 2 * b)
        out.append((C @ y).real + arrays["D"] * u_k)
    return np.array(out)


def official_nonlinhru(arrays, u, kick_at="start"):
    """numpy transcription of the official NonlinHRU layer (models/NonlinHRU.py as
    described in rhel.md Sec. 3.3): kick at the start-of-step position, or (``"half"``)
    at the half-step position as in the RHEL paper's Def. A.3."""
    W, b, alpha = arrays["W_diag"], arrays["b"], float(arrays["alpha"][0])
    c = _sigmoid(_sigmoid(arrays["c"]))
    step = float(arrays["step"][0])
    z = np.zeros(W.size)
    y = np.zeros(W.size)
    out = []
    for u_k in u:
        bu = arrays["B"] @ u_k
        y_half = y + 0.5 * step * z
        y_kick = y if kick_at == "start" else y_half
        z = z - step * (alpha * y_kick + c * np.tanh(W * y_kick + bu + b))
        y = y_half + 0.5 * step * z
        out.append(arrays["C"] @ y + arrays["D"] * u_k)
    return np.array(out)


def official_arrays(kind, P, H, rng, step=0.05):
    """Arrays in the official names and layouts (values drawn by the test)."""
    if kind == "linear":
        return {"A_diag": rng.uniform(-0.2, 1.0, P), "steps": rng.uniform(0.0, 1.0, P),
                "B": rng.uniform(-0.5, 0.5, (P, H, 2)), "C": rng.uniform(-0.5, 0.5, (H, P, 2)),
                "D": rng.standard_normal(H)}
    return {"W_diag": rng.uniform(0.5, 1.0, P), "b": 0.1 * rng.standard_normal(P),
            "c": rng.uniform(-1, 1, P), "alpha": rng.uniform(0.1, 1.0, 1),
            "step": np.array([step]), "B": rng.uniform(-0.5, 0.5, (P, H)),
            "C": rng.uniform(-0.5, 0.5, (H, P)), "D": rng.standard_normal(H)}


@pytest.mark.parametrize("kind", ["linear", "nonlinear"])
@pytest.mark.parametrize("step_parametrization", ["log", "raw"])
def test_official_layer_loader_matches_transcription(kind, step_parametrization):
    from physsim.hssm.official import hru_layer_from_official

    rng = np.random.default_rng(3)
    P, H, L = 6, 3, 200
    arrays = official_arrays(kind, P, H, rng)
    u = rng.standard_normal((L, H))
    layer = hru_layer_from_official(kind, arrays, step_parametrization=step_parametrization)
    got = layer.forward(u[None])[0]
    if kind == "linear":
        want = official_linhru(arrays, u)
    else:
        # physsim's leapfrog kicks at the half step: the paper's map, not the official one
        want = official_nonlinhru(arrays, u, kick_at="half")
        assert np.max(np.abs(got - official_nonlinhru(arrays, u))) > 1e-8
    np.testing.assert_allclose(got, want, rtol=1e-11, atol=1e-12)


def test_layer_from_arrays_draws_nothing_and_checks_names():
    from physsim.hssm.layers import HRULayer

    rng = np.random.default_rng(0)
    P, H = 4, 2
    arrays = {"W": rng.uniform(0.5, 1, P), "b": np.zeros(P), "c_raw": np.zeros(P),
              "alpha_raw": np.array([0.3]), "step": np.array([0.01]),
              "B": rng.standard_normal((P, H)), "C": rng.standard_normal((H, P)),
              "D": np.ones(H)}
    layer = HRULayer.from_arrays("nonlinear", arrays)
    assert layer.step_parametrization == "raw"
    for name, value in arrays.items():
        np.testing.assert_array_equal(layer.params[name], value)
        assert layer.params[name] is not value  # copied
    with pytest.raises(KeyError, match="missing.*'C'"):
        HRULayer.from_arrays("nonlinear", {k: v for k, v in arrays.items() if k != "C"})
    with pytest.raises(ValueError, match="'B' must have shape"):
        HRULayer.from_arrays("nonlinear", {**arrays, "B": np.zeros((P + 1, H))})


def test_hssm_from_official_maps_every_array():
    from physsim.hssm import HSSMConfig
    from physsim.hssm.official import hssm_from_official, hru_arrays_from_official

    rng = np.random.default_rng(5)
    N, H, P = 3, 4, 5
    config = HSSMConfig(n_inputs=N, n_outputs=2, task="classification", hru="linear",
                        n_blocks=2, hidden=H, units=P)
    arrays = {"linear_encoder.weight": rng.standard_normal((H, N)),
              "linear_encoder.bias": rng.standard_normal(H),
              "linear_layer.weight": rng.standard_normal((2, H)),
              "linear_layer.bias": rng.standard_normal(2)}
    for i in range(2):
        for name, value in official_arrays("linear", P, H, rng).items():
            arrays[f"blocks.{i}.ssm.{name}"] = value
        for j in (1, 2):
            arrays[f"blocks.{i}.glu.w{j}.weight"] = rng.standard_normal((H, H))
            arrays[f"blocks.{i}.glu.w{j}.bias"] = rng.standard_normal(H)
    model = hssm_from_official(config, arrays)
    params = model.parameters()
    np.testing.assert_array_equal(params["encoder.weight"], arrays["linear_encoder.weight"])
    np.testing.assert_array_equal(params["readout.bias"], arrays["linear_layer.bias"])
    np.testing.assert_array_equal(params["blocks.1.glu.weight2"],
                                  arrays["blocks.1.glu.w2.weight"])
    u = rng.standard_normal((30, H))
    for i, layer in enumerate(model.hru_layers):
        official = {n: arrays[f"blocks.{i}.ssm.{n}"] for n in ("A_diag", "steps", "B", "C", "D")}
        np.testing.assert_allclose(layer.forward(u[None])[0], official_linhru(official, u),
                                   rtol=1e-11, atol=1e-12)
        assert set(hru_arrays_from_official("linear", official)) == set(layer.params)
    with pytest.raises(KeyError, match="unknown"):
        hssm_from_official(config, {**arrays, "extra": np.zeros(1)})


# ------------------------------------------------ the official NonlinHRU step
def test_official_step_refused_by_rhel_with_reason():
    system = NonlinearHRU.random(4, 2, step=0.05, rng=0)
    u = np.random.default_rng(0).standard_normal((1, 20, 2))
    loss = MSEReadout(np.eye(4)[:1], np.zeros((1, 20, 1)))
    with pytest.raises(ValueError, match="official_nonlinear_hru.*is not.*retrace"):
        rhel_gradient(system, np.zeros(4), None, u, loss, integrator="official_nonlinear_hru")


def test_official_step_matches_transcription_forward_and_bptt():
    from physsim.hssm.official import hru_layer_from_official

    rng = np.random.default_rng(7)
    P, H, L = 5, 3, 60
    arrays = official_arrays("nonlinear", P, H, rng, step=0.2)
    u = rng.standard_normal((L, H))
    r = rng.standard_normal((L, H))
    layer = hru_layer_from_official("nonlinear", arrays, step_parametrization="raw",
                                    integrator="official_nonlinear_hru", rule="bptt")
    out = layer.forward(u[None])[0]
    np.testing.assert_allclose(out, official_nonlinhru(arrays, u), rtol=1e-12, atol=1e-13)
    # BPTT of the loss sum(r * o) against central differences of the transcription
    layer.backward(r[None])
    names = {"W_diag": "W", "b": "b", "c": "c_raw", "alpha": "alpha_raw", "step": "step",
             "B": "B"}
    h = 1e-6
    for official_name, name in names.items():
        flat = arrays[official_name].reshape(-1)
        for i in range(min(flat.size, 3)):
            plus = {k: v.copy() for k, v in arrays.items()}
            minus = {k: v.copy() for k, v in arrays.items()}
            plus[official_name].reshape(-1)[i] += h
            minus[official_name].reshape(-1)[i] -= h
            fd = (np.sum(r * official_nonlinhru(plus, u))
                  - np.sum(r * official_nonlinhru(minus, u))) / (2 * h)
            got = layer.grads[name].reshape(-1)[i]
            assert abs(got - fd) <= 1e-6 * max(1.0, abs(fd)), (name, i, got, fd)
    # and the official step is not the leapfrog: the dynamics differ at this step
    leapfrog = hru_layer_from_official("nonlinear", arrays, step_parametrization="raw")
    assert np.max(np.abs(leapfrog.forward(u[None])[0] - out)) > 1e-6
