"""The hardware plug from outside: a model defined here, registered by name, used everywhere.

The model below lives in this test, not in ``hardware_models``: it registers itself with
``physsim.hardware`` as a third-party package would (through the entry-point group, here
directly), and must then work by name in ``simulate``, RHEL and a sweep.  Its effects are
checked against what they must be by linearity, not against earlier output.  The import
direction (physsim never imports hardware_models) is checked on the source tree.
"""

from __future__ import annotations

import ast
import dataclasses
import functools
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest

import physsim
from physsim import CoupledOscillators, LinearHRU
from physsim.bptt import bptt_gradient
from physsim.hardware import (MODELS, PRESETS, HardwareModel, build_model, compose,
                              get_model_class, get_preset, model_fields, preset_names,
                              register_model, register_preset)
from physsim.losses import MSEReadout
from physsim.registry import (HARDWARE_PLUGIN_GROUP, Registry, hardware_plugin_packages,
                              lookup, plugin_entry_points)
from physsim.rhel import rhel_gradient
from physsim.sweeps import load_sweep, parse_sweep_config, run_sweep

REPO = Path(__file__).resolve().parents[1]


@dataclasses.dataclass(frozen=True)
class GainDevice(HardwareModel):
    """A device whose input DAC has a gain and whose momentum reversal has a gain.

    Parameters
    ----------
    input_gain : float
        Factor on every written input (1: ideal DAC).
    flip_gain : float
        The flip maps ``p -> -flip_gain * p`` (1: a perfect reversal).
    """

    input_gain: float = 1.0
    flip_gain: float = 1.0

    @property
    def is_ideal(self) -> bool:  # type: ignore[override]
        """True when both gains are 1."""
        return self.input_gain == 1.0 and self.flip_gain == 1.0

    def write_inputs(self, inputs, seed, pass_index, step_offset):
        """The DAC: inputs times ``input_gain``."""
        return self.input_gain * np.asarray(inputs)

    def flip(self, q, p, seed, pass_index):
        """Momentum reversal with a gain."""
        return q, -self.flip_gain * np.asarray(p)

    def describe(self):
        """Class and fields."""
        return {"hardware": "GainDevice", **dataclasses.asdict(self)}


@pytest.fixture
def gain_device():
    """``GainDevice`` registered as a model, ``double_drive`` (input gain 2) as a preset."""
    register_model(GainDevice)
    register_preset("double_drive", functools.partial(GainDevice, input_gain=2.0),
                    "test device: every input written twice as large")
    try:
        yield GainDevice
    finally:
        MODELS.unregister("GainDevice")
        PRESETS.unregister("double_drive")


def _oscillators() -> CoupledOscillators:
    k = np.array([[2.0, -0.5, 0.0], [-0.5, 1.5, -0.3], [0.0, -0.3, 1.0]])
    return CoupledOscillators(mass=np.array([1.0, 2.0, 0.5]), stiffness=k,
                              input_matrix=np.array([[1.0], [0.0], [0.5]]))


# ------------------------------------------------------------------------- by name
def test_a_registered_model_is_known_by_name_with_its_fields(gain_device):
    assert get_model_class("GainDevice") is GainDevice
    fields = model_fields("GainDevice")
    assert list(fields) == ["input_gain", "flip_gain"]
    assert fields["flip_gain"].type is float and fields["flip_gain"].default == 1.0
    assert not fields["flip_gain"].required
    assert build_model("GainDevice", {"flip_gain": 1.5}) == GainDevice(flip_gain=1.5)
    assert get_preset("double_drive", flip_gain=0.5) == GainDevice(input_gain=2.0, flip_gain=0.5)
    # the plugin's own models and presets are there too, loaded through the entry point
    assert {"NoisyAnalog", "FinitePrecision", "GainDevice"} <= set(MODELS)
    assert {"discrete_lc", "double_drive"} <= set(preset_names())


def test_simulate_by_name_applies_the_model(gain_device):
    # a linear device started at rest: inputs written twice as large give exactly twice the
    # trajectory (every operation of the step is linear, and scaling by 2 is exact in binary)
    system = _oscillators()
    u = np.random.default_rng(0).standard_normal((80, 1))
    zero = np.zeros(system.n_dof)
    ideal = physsim.simulate(system, zero, inputs=u, dt=0.05)
    doubled = physsim.simulate(system, zero, inputs=u, dt=0.05, hardware="double_drive")
    assert np.any(ideal.final_positions != 0)
    np.testing.assert_array_equal(doubled.final_positions, 2.0 * ideal.final_positions)
    np.testing.assert_array_equal(doubled.final_momenta, 2.0 * ideal.final_momenta)
    # the same model as a foreign member of the registered composition
    composed = compose(get_preset("ideal"), GainDevice(input_gain=2.0))
    again = physsim.simulate(system, zero, inputs=u, dt=0.05, hardware=composed)
    np.testing.assert_array_equal(again.final_positions, doubled.final_positions)


def test_rhel_by_name_measures_the_gradient_of_the_device_with_the_model(gain_device):
    # RHEL on a linear device equals BPTT to round-off; the device that writes 2 u moves as
    # the ideal device driven by 2 u, so the gradients of the parameters that do not multiply
    # the input (A, step) are BPTT's with inputs 2 u.  (The echo reads dH/dB against the
    # nominal inputs, not the written ones, so B's gradient is not compared here.)
    system = LinearHRU.random(6, 2, rng=3)
    rng = np.random.default_rng(1)
    u = rng.standard_normal((60, 2))
    q0 = 0.3 * rng.standard_normal(system.n_dof)
    loss = MSEReadout(rng.standard_normal((2, system.n_dof)), rng.standard_normal((60, 2)))
    got = rhel_gradient(system, q0, None, u, loss, hardware="double_drive", input_gradient=False)
    expected = bptt_gradient(system, q0, None, 2.0 * u, loss)
    unscaled = bptt_gradient(system, q0, None, u, loss)
    for name in ("A", "step"):
        g, ref = got.params[name], expected.params[name]
        np.testing.assert_allclose(g, ref, rtol=1e-8, atol=1e-10 * np.max(np.abs(ref)))
        assert not np.allclose(g, unscaled.params[name], rtol=1e-3), name


def test_a_sweep_over_a_field_of_the_registered_model(gain_device, tmp_path):
    # one unit oscillator (m = k = 1) from (q0, p0) = (1, 0), no input, leapfrog steps of h:
    # the step is the matrix M = D K D (drift h/2, kick h, drift h/2).  The flip
    # p -> -(1 + d) p_T adds (0, -d p_T) to the ideally flipped state, which returns exactly
    # to (q0, -p0); so by linearity the echo misses by |M^n (0, -d p_T)|.
    h, n = 0.1, 100
    drift = np.array([[1.0, h / 2], [0.0, 1.0]])
    kick = np.array([[1.0, 0.0], [-h, 1.0]])
    step_n = np.linalg.matrix_power(drift @ kick @ drift, n)
    x_end = step_n @ np.array([1.0, 0.0])
    gains = [1.0, 1.001, 1.002]
    cfg = parse_sweep_config({
        "sweep": {"metrics": ["echo_return_error"], "seeds": [0]},
        "system": {"type": "coupled_oscillators", "mass": [1.0], "stiffness": [[1.0]],
                   "input_matrix": [[1.0]]},
        "simulation": {"n_steps": n, "dt": h},
        "inputs": {"kind": "zeros"},
        "initial_state": {"kind": "given", "q0": [1.0], "p0": [0.0]},
        "loss": {"kind": "mse", "n_outputs": 1},
        "axes": [{"field": "flip_gain", "values": gains}],  # a plain name finds its model
    })
    assert cfg.axes[0].field == "GainDevice.flip_gain"
    run_sweep(cfg, output=tmp_path / "gain.h5", workers=0, progress=False)
    res = load_sweep(tmp_path / "gain.h5")
    assert res.n_done == 3
    err = res.column("echo_return_error")
    rel = res.column("echo_return_error_relative")
    assert err[0] < 1e-13  # a perfect flip: round-off only
    for k, gain in enumerate(gains[1:], start=1):
        expected = np.linalg.norm(step_n @ np.array([0.0, -(gain - 1.0) * x_end[1]]))
        assert err[k] == pytest.approx(expected, rel=1e-8)
        assert rel[k] == pytest.approx(expected / np.linalg.norm(x_end), rel=1e-8)


# ------------------------------------------------------------------------- errors
def test_a_model_that_overrides_a_hook_is_not_the_ideal_device():
    """A user model that forgets to say it is not ideal is still not taken for the ideal one
    (the ideal device gets paired echoes, which bypass the per-step hook and the DACs)."""

    @dataclasses.dataclass(frozen=True)
    class QuietNudgeDAC(HardwareModel):
        def write_nudges(self, cotangents, seed, pass_index):
            return 0.5 * np.asarray(cotangents)

    assert HardwareModel().is_ideal
    assert not QuietNudgeDAC().is_ideal
    hru = LinearHRU.random(4, 2, rng=0)
    u = np.random.default_rng(1).standard_normal((1, 50, 2))
    loss = MSEReadout(np.ones((1, hru.n_dof)), np.zeros((1, 50, 1)))
    ideal = rhel_gradient(hru, np.zeros(hru.n_dof), None, u, loss)
    dac = rhel_gradient(hru, np.zeros(hru.n_dof), None, u, loss, hardware=QuietNudgeDAC())
    assert ideal.info["paired_echoes"] and not dac.info["paired_echoes"]
    # the DAC halves every nudge; RHEL divides by the nominal nudge: half the gradient
    np.testing.assert_allclose(dac.params["A"], 0.5 * ideal.params["A"], rtol=1e-10)


def test_unknown_names_list_the_valid_ones(gain_device):
    system = _oscillators()
    with pytest.raises(ValueError, match=r"unknown hardware preset 'quartz'; valid names are: "
                                         r".*discrete_lc.*double_drive"):
        physsim.simulate(system, np.zeros(3), n_steps=5, dt=0.1, hardware="quartz")
    with pytest.raises(ValueError, match=r"unknown hardware model 'Gain'; valid names are: "
                                         r".*GainDevice.*NoisyAnalog"):
        get_model_class("Gain")
    with pytest.raises(ValueError, match=r"unknown GainDevice field\(s\) \['gain'\]; valid "
                                         r"fields are: input_gain, flip_gain"):
        build_model("GainDevice", {"gain": 2.0})
    with pytest.raises(ValueError, match="already registered"):
        register_preset("discrete_lc", GainDevice, "a second discrete_lc")
    with pytest.raises(TypeError, match="dataclass deriving from HardwareModel"):
        register_model(dict)


def test_registry_lookup_and_lazy_loader():
    loads = []
    reg = Registry("colour", loader=lambda: loads.append(reg.register("red", 1)))
    reg.register("blue", 2)
    assert loads == []  # registering does not load
    assert reg.lookup("red") == 1 and loads == [1]
    assert reg.names() == ("blue", "red") and len(reg) == 2 and loads == [1]
    with pytest.raises(ValueError, match="unknown colour 'green'; valid names are: blue, red"):
        reg.lookup("green")
    with pytest.raises(ValueError, match="unknown thing 'x'; valid names are: a, b"):
        lookup({"b": 1, "a": 2}, "x", "thing")


# ---------------------------------------------------------------- import direction
def _hardware_models_imports(root: Path) -> list[str]:
    """Every import of hardware_models in the Python files below ``root`` (AST, any depth)."""
    found = []
    for path in sorted(root.rglob("*.py")):
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            names: list[str] = []
            if isinstance(node, ast.Import):
                names = [a.name for a in node.names]
            elif isinstance(node, ast.ImportFrom) and node.level == 0:
                names = [node.module or ""]
            elif isinstance(node, ast.Call) and node.args and \
                    isinstance(node.args[0], ast.Constant) and \
                    isinstance(node.args[0].value, str) and \
                    getattr(node.func, "attr", getattr(node.func, "id", "")) in (
                        "import_module", "__import__"):
                names = [node.args[0].value]
            found += [f"{path.relative_to(root.parent)}:{node.lineno} {n}" for n in names
                      if n.split(".")[0] == "hardware_models"]
    return found


def test_physsim_never_imports_hardware_models():
    assert _hardware_models_imports(REPO / "physsim") == []
    # and at run time: importing physsim, its CLI, demo and sweeps loads no plugin, while the
    # plugin's folder is known from its entry point (for the numba-cache refresh)
    code = ("import sys, physsim, physsim.cli, physsim.demo, physsim.sweeps\n"
            "from physsim.registry import hardware_plugin_packages\n"
            "folders = [str(p.folder) for p in hardware_plugin_packages()]\n"
            "assert 'hardware_models' not in sys.modules, 'imported'\n"
            "print(folders)\n")
    out = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True,
                         cwd=REPO, timeout=600)
    assert out.returncode == 0, out.stderr
    assert str(REPO / "hardware_models") in out.stdout


def test_hardware_models_registers_through_the_entry_point_group():
    eps = {ep.name: ep.value for ep in plugin_entry_points(HARDWARE_PLUGIN_GROUP)}
    assert eps.get("hardware_models") == "hardware_models.plugin:register"
    [pkg] = [p for p in hardware_plugin_packages() if p.name == "hardware_models"]
    assert pkg.folder == REPO / "hardware_models" and pkg.distribution is not None
