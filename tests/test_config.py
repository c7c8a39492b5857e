"""The strict config layer: every key of every table of every command rejects a value of the
wrong TOML type with ``[table] key`` named; the three bugs of issue 12; unknown keys; every
shipped example config loads through its command's schema."""

from __future__ import annotations

import copy
import tomllib
from pathlib import Path

import numpy as np
import pytest

from physsim.cli import main
from physsim.config import ConfigError, load_toml, parse_device
from physsim.config.device import (SYSTEM_TYPES, CheckTable, InitialStateTable, InputsTable,
                                   LossTable, OutputTable, RhelTable, SimulationTable)
from physsim.hl.config import HLTable, hl_config_from_table, sgd_to_hl
from physsim.hssm import RunConfig
from physsim.hssm.config import TrainingSettings, model_table
from physsim.sweeps import METRICS, parse_sweep_config
from physsim.sweeps.config import AxisTable, SweepTable

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"

# ------------------------------------------------------------------ the TOML type of each key
# Written out here (not read from the schemas), so that the test holds the schemas to an
# independent statement of what each key is; ``test_every_key_is_listed`` makes a new key
# fail until it is added here.
INT, FLOAT, BOOL, STR, ARRAY, TABLE = "int", "float", "bool", "str", "array", "table"
NAMES = "one name or an array of names"

#: A value of another TOML type, and the words the error must use for it.
WRONG = {
    INT: (2.5, "got the float 2.5"),
    FLOAT: ("1.0", 'got the string "1.0"'),
    BOOL: ("false", 'got the string "false"'),
    STR: (3, "got the integer 3"),
    ARRAY: ("x", 'got the string "x"'),
    TABLE: ([1], "got the array [1]"),
    NAMES: (3, "got the integer 3"),
}

DEVICE_KEYS = {
    "simulation": {"n_steps": INT, "dt": FLOAT, "integrator": STR, "dtype": STR, "batch": INT,
                   "record_every": INT, "record_energy": BOOL, "seed": INT, "hardware": STR},
    "inputs": {"kind": STR, "amplitude": FLOAT, "seed": INT, "frequencies": ARRAY},
    "initial_state": {"kind": STR, "scale": FLOAT, "seed": INT, "q0": ARRAY, "p0": ARRAY},
    "loss": {"kind": STR, "n_outputs": INT, "n_classes": INT, "seed": INT, "target": STR},
    "rhel": {"eps": FLOAT, "relative_nudge": FLOAT, "estimator": STR, "nudge": STR},
    "check": {"n_directions": INT, "rel_step": FLOAT, "seed": INT},
    "output": {"folder": STR},
}
DEVICE_SCHEMAS = {"simulation": SimulationTable, "inputs": InputsTable,
                  "initial_state": InitialStateTable, "loss": LossTable, "rhel": RhelTable,
                  "check": CheckTable, "output": OutputTable}

#: Per system type: a valid table and the type of each key (``type`` is checked by name).
SYSTEMS = {
    "six_oscillators": ({"variant": "teacher"}, {"variant": STR}),
    "coupled_oscillators": ({"mass": [1.0, 2.0], "stiffness": [[2.0, -1.0], [-1.0, 2.0]],
                             "input_matrix": [[1.0], [0.0]]},
                            {"mass": ARRAY, "stiffness": ARRAY, "input_matrix": ARRAY}),
    "linear_hru": ({"n_units": 3, "n_inputs": 1},
                   {"n_units": INT, "n_inputs": INT, "complex": BOOL, "seed": INT}),
    "nonlinear_hru": ({"n_units": 3, "n_inputs": 1},
                      {"n_units": INT, "n_inputs": INT, "step": FLOAT, "seed": INT}),
    "circuit": ({"elements": [{"kind": "capacitor", "node_a": "a", "node_b": "gnd",
                               "capacitance": 1e-12},
                              {"kind": "inductor", "node_a": "a", "node_b": "gnd",
                               "inductance": 1e-9}]},
                {"elements": ARRAY, "sources": ARRAY}),
    "netlist": ({"netlist": str(Path(__file__).resolve().parents[1] / "experiments" / "configs"
                                / "spice" / "source_sin.cir")},
                {"netlist": STR, "units": STR, "time_scale": FLOAT}),
}

TRAINING_KEYS = {"lr": FLOAT, "beta1": FLOAT, "beta2": FLOAT, "adam_eps": FLOAT,
                 "batch_size": INT, "max_steps": INT, "eval_every": INT,
                 "checkpoint_every": INT, "patience": INT, "eval_batch_size": INT}
MODEL_KEYS = {"hru": STR, "complex": BOOL, "n_blocks": INT, "hidden": INT, "units": INT,
              "dropout": FLOAT, "output_step": INT, "nonlinear_step": FLOAT,
              "step_parametrization": STR, "rule": STR, "eps": FLOAT, "relative_nudge": FLOAT,
              "estimator": STR, "hardware": STR, "dtype": STR, "log_eps": FLOAT}
#: Options of the synthetic_frequencies loader (typed by its signature).
DATA_KEYS = {"n_cases": INT, "length": INT, "n_classes": INT, "noise": FLOAT, "seed": INT}

SWEEP_KEYS = {"metrics": NAMES, "name": STR, "output": STR, "mode": STR, "seeds": ARRAY,
              "n_seeds": INT}
AXIS_KEYS = {"field": STR, "values": ARRAY, "start": FLOAT, "stop": FLOAT, "num": INT,
             "scale": STR, "integer": BOOL, "label": STR, "fixed": TABLE}
#: Options of each sweep metric ([metrics.<name>] tables).
METRIC_OPTION_KEYS = {
    "gradient_fidelity": {"reference": STR},
    "echo_return_error": {},
    "energy_drift": {"n_steps": INT, "state": STR, "state_scale": FLOAT, "state_seed": INT,
                     "record_every": INT},
    "training": {"steps": INT, "lr": FLOAT, "rule": STR, "params": ARRAY},
    "hssm_training": {"rule": STR},
}
HL_KEYS = {"setting": STR, "lr": FLOAT, "momentum": FLOAT, "dampening": FLOAT, "tau": FLOAT,
           "beta": FLOAT, "eta": FLOAT, "phi": FLOAT, "s": INT, "reset_weight_costate": BOOL}


def test_every_key_is_listed():
    """The lists above cover every key of every schema (a new key cannot escape the tests)."""
    for table, schema in DEVICE_SCHEMAS.items():
        assert set(schema.model_fields) == set(DEVICE_KEYS[table]), table
    assert set(SYSTEM_TYPES) == set(SYSTEMS)
    for name, schema in SYSTEM_TYPES.items():
        assert set(schema.model_fields) - {"type"} == set(SYSTEMS[name][1]), name
    assert set(TrainingSettings.model_fields) == set(TRAINING_KEYS)
    assert set(model_table().model_fields) == set(MODEL_KEYS)
    assert set(SweepTable.model_fields) == set(SWEEP_KEYS)
    assert set(AxisTable.model_fields) == set(AXIS_KEYS)
    assert set(HLTable.model_fields) == set(HL_KEYS)
    assert set(METRICS) == set(METRIC_OPTION_KEYS)
    for name, metric in METRICS.items():
        assert set(metric.options) == set(METRIC_OPTION_KEYS[name]), name


def _assert_rejected(parse, config, where: str, key: str, kind: str) -> None:
    """``parse(config)`` fails naming ``[where] key`` and the wrong value in words."""
    with pytest.raises(ConfigError) as exc:
        parse(config)
    message = str(exc.value)
    assert f"[{where}] {key}:" in message, message
    assert WRONG[kind][1] in message, message


# ----------------------------------------------------------------------------- device config
DEVICE_BASE = {"system": {"type": "linear_hru", "n_units": 3, "n_inputs": 1},
               "simulation": {"n_steps": 5}}


@pytest.mark.parametrize("table,key,kind", [(t, k, v) for t, keys in DEVICE_KEYS.items()
                                            for k, v in keys.items()])
def test_device_tables_reject_wrong_types(table, key, kind):
    cfg = copy.deepcopy(DEVICE_BASE)
    cfg.setdefault(table, {})[key] = WRONG[kind][0]
    _assert_rejected(parse_device, cfg, table, key, kind)


@pytest.mark.parametrize("system_type,key,kind", [(s, k, v) for s, (_, keys) in SYSTEMS.items()
                                                  for k, v in keys.items()])
def test_system_tables_reject_wrong_types(system_type, key, kind):
    table = {"type": system_type, **copy.deepcopy(SYSTEMS[system_type][0]), key: WRONG[kind][0]}
    _assert_rejected(parse_device, {"system": table, "simulation": {"n_steps": 5}}, "system",
                     key, kind)


@pytest.mark.parametrize("system_type", sorted(SYSTEMS))
def test_valid_system_tables_build(system_type):
    table = {"type": system_type, **SYSTEMS[system_type][0]}
    system = parse_device({"system": table, "simulation": {"n_steps": 5}}).system.build()
    assert system.n_dof >= 1


def test_bug_complex_false_string_is_rejected():
    """Issue 12: ``complex = "false"`` trained a complex model (bare bool() on a string)."""
    text = ('[data]\nname = "synthetic_frequencies"\n[model]\ncomplex = "false"\n')
    with pytest.raises(ConfigError) as exc:
        RunConfig.from_text(text)
    assert '[model] complex: expected a boolean (true/false), got the string "false"' \
        in str(exc.value)
    cfg = {**copy.deepcopy(DEVICE_BASE)}
    cfg["system"]["complex"] = "false"
    with pytest.raises(ConfigError, match=r'\[system\] complex: expected a boolean \(true/false'
                                          r'\), got the string "false"'):
        parse_device(cfg)
    # the boolean false gives a real model: two real banks would double the oscillators
    ok = RunConfig.from_text(text.replace('"false"', "false"))
    assert ok.model["complex"] is False
    real = parse_device({**DEVICE_BASE, "system": {**DEVICE_BASE["system"], "complex": False}})
    cplx = parse_device({**DEVICE_BASE, "system": {**DEVICE_BASE["system"], "complex": True}})
    assert real.system.build().n_dof < cplx.system.build().n_dof


def test_bug_fractional_step_count_is_rejected():
    """Issue 12: ``n_steps = 2000.7`` ran 2000 steps; ``max_steps = 2000.7`` likewise."""
    with pytest.raises(ConfigError) as exc:
        parse_device(tomllib.loads('[system]\ntype = "linear_hru"\nn_units = 2\nn_inputs = 1\n'
                                   '[simulation]\nn_steps = 2000.7\n'))
    assert "[simulation] n_steps: expected an integer, got the float 2000.7" in str(exc.value)
    with pytest.raises(ConfigError, match=r"\[training\] max_steps: expected an integer, "
                                          r"got the float 2000.7"):
        RunConfig.from_text('[data]\nname = "synthetic_frequencies"\n[model]\n'
                            '[training]\nmax_steps = 2000.7\n')
    # an integral float is not an integer either: TOML writes integers without a point
    with pytest.raises(ConfigError, match="n_steps: expected an integer, got the float 2000.0"):
        parse_device({**DEVICE_BASE, "simulation": {"n_steps": 2000.0}})


@pytest.mark.parametrize("value,words", [("two thousand", 'got the string "two thousand"'),
                                         (-5, "expected a value > 0, got the integer -5"),
                                         (0, "expected a value > 0, got the integer 0"),
                                         (True, "got the boolean true")])
def test_bug_bad_step_counts_name_the_key(value, words):
    with pytest.raises(ConfigError) as exc:
        parse_device({**DEVICE_BASE, "simulation": {"n_steps": value}})
    assert "[simulation] n_steps:" in str(exc.value) and words in str(exc.value)
    with pytest.raises(ConfigError) as exc:
        RunConfig.from_tables({"data": {"name": "synthetic_frequencies"}, "model": {},
                               "training": {"max_steps": value}}, text="")
    assert "[training] max_steps:" in str(exc.value) and words in str(exc.value)


def test_floats_take_toml_integers():
    cfg = parse_device({**DEVICE_BASE, "simulation": {"n_steps": 5, "dt": 1},
                        "inputs": {"kind": "noise", "amplitude": 2}})
    assert cfg.simulation.dt == 1.0 and isinstance(cfg.simulation.dt, float)
    assert cfg.inputs.amplitude == 2.0 and isinstance(cfg.inputs.amplitude, float)


def test_non_finite_floats_are_rejected():
    with pytest.raises(ConfigError, match=r"\[inputs\] amplitude: expected a finite number"):
        parse_device({**DEVICE_BASE, "inputs": {"amplitude": float("nan")}})


def test_unknown_keys_and_tables_list_what_is_allowed():
    with pytest.raises(ConfigError, match=r"\[simulation\]: unknown key\(s\) \['n_step'\]; "
                                          r"allowed keys are: batch, dt, dtype, hardware"):
        parse_device({**DEVICE_BASE, "simulation": {"n_step": 5}})
    with pytest.raises(ConfigError, match=r"unknown table\(s\) \['simulations'\]; allowed "
                                          r"tables are: system, simulation"):
        parse_device({**DEVICE_BASE, "simulations": {}})
    with pytest.raises(ConfigError, match=r"\[training\]: unknown key\(s\) \['epochs'\]; "
                                          r"allowed keys are: adam_eps, batch_size"):
        RunConfig.from_text('[data]\nname = "synthetic_frequencies"\n[model]\n'
                            '[training]\nepochs = 3\n')
    with pytest.raises(ConfigError, match=r"\[hl\]: unknown key\(s\) \['momentun'\]"):
        hl_config_from_table({"lr": 0.1, "momentun": 0.5})


def test_names_go_through_the_registry_lookup():
    with pytest.raises(ConfigError, match=r"\[simulation\] integrator: unknown integrator 'rk4'; "
                                          r"valid names are: leapfrog"):
        parse_device({**DEVICE_BASE, "simulation": {"n_steps": 5, "integrator": "rk4"}})
    with pytest.raises(ConfigError, match=r"\[system\] type: unknown system type 'qubit'; valid "
                                          r"names are: circuit, coupled_oscillators"):
        parse_device({**DEVICE_BASE, "system": {"type": "qubit"}})
    with pytest.raises(ConfigError, match=r"\[rhel\] estimator: unknown RHEL estimator 'twice'"):
        parse_device({**DEVICE_BASE, "rhel": {"estimator": "twice"}})
    with pytest.raises(ConfigError, match=r"unknown circuit element 'resistor'; valid names are: "
                                          r"capacitor, inductor, josephson_junction"):
        parse_device({**DEVICE_BASE, "system": {"type": "circuit",
                                                "elements": [{"kind": "resistor"}]}})
    with pytest.raises(ConfigError, match=r"\[model\] hru: got the string \"gru\"; valid names "
                                          r"are: linear, nonlinear"):
        RunConfig.from_text('[data]\nname = "synthetic_frequencies"\n[model]\nhru = "gru"\n')
    with pytest.raises(ConfigError, match=r"\[data\] name: unknown dataset 'mnist'; valid names "
                                          r"are: .*synthetic_frequencies"):
        RunConfig.from_text('[data]\nname = "mnist"\n[model]\n')
    with pytest.raises(ConfigError, match=r"\[hl\] setting: .*unknown optimiser setting 'Adam'; "
                                          r"valid names are: GD-a, GD-b, Mom-a, Mom-b"):
        hl_config_from_table({"setting": "Adam"})


def test_hardware_presets_are_looked_up_in_the_registry():
    from physsim.hardware import preset_names

    with pytest.raises(ConfigError, match=r"\[simulation\] hardware: unknown hardware preset "
                                          r"'cmos'; valid names are: " + ", ".join(preset_names())):
        parse_device({**DEVICE_BASE, "simulation": {"n_steps": 5, "hardware": "cmos"}})
    assert parse_device({**DEVICE_BASE, "simulation": {"n_steps": 5, "hardware": "cmos_lc"}}
                        ).simulation.hardware == "cmos_lc"
    with pytest.raises(ConfigError, match=r"\[model\] hardware: unknown hardware preset 'x'"):
        RunConfig.from_text('[data]\nname = "synthetic_frequencies"\n[model]\nhardware = "x"\n')
    with pytest.raises(ConfigError, match=r"\[hardware\] preset: unknown hardware preset 'x'"):
        parse_sweep_config({**copy.deepcopy(SWEEP_BASE), "hardware": {"preset": "x"}})
    with pytest.raises(ConfigError, match=r"\[axes\[0\]\] values\[1\]: unknown hardware preset"):
        parse_sweep_config({**copy.deepcopy(SWEEP_BASE),
                            "axes": [{"field": "preset", "values": ["cmos_lc", "cmos"]}]})


def test_circuit_parts_are_checked_against_the_builder():
    part = {"kind": "capacitor", "node_a": "a", "node_b": "gnd", "capacitance": "1 pF"}
    with pytest.raises(ConfigError, match=r"\[system.elements\[0\]\] capacitance: expected a "
                                          r"number, got the string \"1 pF\""):
        parse_device({**DEVICE_BASE, "system": {"type": "circuit", "elements": [part]}})
    part = {"kind": "capacitor", "node_a": "a", "node_b": "gnd", "capacity": 1e-12}
    with pytest.raises(ConfigError, match=r"unknown key\(s\) \['capacity'\]"):
        parse_device({**DEVICE_BASE, "system": {"type": "circuit", "elements": [part]}})


def test_union_types_give_one_line_naming_every_alternative():
    from typing import Literal

    from physsim.config import Table, validate

    class Options(Table):
        arrangement: Literal["random"] | int = "random"

    with pytest.raises(ConfigError) as exc:
        validate(Options, {"arrangement": 2.5}, "data")
    assert str(exc.value) == ("[data] arrangement: expected one of: random or an integer, got "
                              "the float 2.5")


def test_all_problems_of_a_file_are_reported_together():
    cfg = {"system": {**DEVICE_BASE["system"], "complex": "false"},
           "simulation": {"n_steps": 2000.7}, "loss": {"n_outputs": "two"}}
    with pytest.raises(ConfigError) as exc:
        parse_device(cfg)
    lines = str(exc.value).splitlines()
    assert [line.split(":")[0] for line in lines] == ["[system] complex",
                                                      "[simulation] n_steps",
                                                      "[loss] n_outputs"]


def test_one_device_config_serves_simulate_and_gradcheck(tmp_path):
    """A gradcheck file (with [loss], [rhel]) simulates; its [loss] is ignored."""
    assert main(["simulate", str(CONFIGS / "gradcheck_linear_hru.toml"), "--out",
                 str(tmp_path), "--quiet"]) == 0
    assert (tmp_path / "trajectory.h5").exists()
    bad = tmp_path / "bad.toml"
    bad.write_text('[system]\ntype = "linear_hru"\nn_units = 2\nn_inputs = 1\ncomplex = "false"\n'
                   '[simulation]\nn_steps = 3\n')
    for command in ("simulate", "gradcheck"):
        assert main([command, str(bad), "--out", str(tmp_path)] if command == "simulate"
                    else [command, str(bad)]) == 1


# ----------------------------------------------------------------------------- train config
TRAIN_BASE = {"data": {"name": "synthetic_frequencies"}, "model": {}, "training": {}}


@pytest.mark.parametrize("table,key,kind",
                         [("training", k, v) for k, v in TRAINING_KEYS.items()]
                         + [("model", k, v) for k, v in MODEL_KEYS.items()]
                         + [("data", k, v) for k, v in DATA_KEYS.items()])
def test_train_tables_reject_wrong_types(table, key, kind):
    tables = copy.deepcopy(TRAIN_BASE)
    tables[table][key] = WRONG[kind][0]
    _assert_rejected(lambda t: RunConfig.from_tables(t, text=""), tables, table, key, kind)


# ----------------------------------------------------------------------------- sweep config
SWEEP_BASE = {"sweep": {"metrics": ["echo_return_error"], "seeds": [0]},
              "system": {"type": "linear_hru", "n_units": 2, "n_inputs": 1},
              "simulation": {"n_steps": 5}}


@pytest.mark.parametrize("key,kind", sorted(SWEEP_KEYS.items()))
def test_sweep_table_rejects_wrong_types(key, kind):
    cfg = copy.deepcopy(SWEEP_BASE)
    cfg["sweep"].pop("seeds")
    cfg["sweep"][key] = WRONG[kind][0]
    _assert_rejected(parse_sweep_config, cfg, "sweep", key, kind)


@pytest.mark.parametrize("metric,key,kind", [(m, k, v)
                                             for m, keys in METRIC_OPTION_KEYS.items()
                                             for k, v in keys.items()])
def test_metric_option_tables_reject_wrong_types(metric, key, kind):
    cfg = copy.deepcopy(SWEEP_BASE)
    cfg["sweep"]["metrics"] = [metric]
    cfg["metrics"] = {metric: {key: WRONG[kind][0]}}
    if metric == "hssm_training":
        cfg["hssm"] = copy.deepcopy(TRAIN_BASE)
    _assert_rejected(parse_sweep_config, cfg, f"metrics.{metric}", key, kind)


@pytest.mark.parametrize("key,kind", sorted(AXIS_KEYS.items()))
def test_axis_tables_reject_wrong_types(key, kind):
    axis = {"field": "NoisyAnalog.mismatch", key: WRONG[kind][0]}
    _assert_rejected(parse_sweep_config, {**copy.deepcopy(SWEEP_BASE), "axes": [axis]},
                     "axes[0]", key, kind)


@pytest.mark.parametrize("table,key,kind", [(t, k, v) for t, keys in DEVICE_KEYS.items()
                                            if t in ("inputs", "initial_state", "loss", "rhel")
                                            for k, v in keys.items()]
                         + [("simulation", k, DEVICE_KEYS["simulation"][k])
                            for k in ("n_steps", "dt", "integrator", "dtype", "batch")])
def test_sweep_device_tables_reject_wrong_types(table, key, kind):
    cfg = copy.deepcopy(SWEEP_BASE)
    cfg.setdefault(table, {})[key] = WRONG[kind][0]
    _assert_rejected(parse_sweep_config, cfg, table, key, kind)


def test_sweep_simulation_takes_no_hardware_or_recording():
    cfg = copy.deepcopy(SWEEP_BASE)
    cfg["simulation"]["hardware"] = "cmos_lc"
    with pytest.raises(ConfigError, match=r"\[simulation\]: unknown key\(s\) \['hardware'\]"):
        parse_sweep_config(cfg)


def test_sweep_hardware_fields_are_typed_by_the_model():
    cfg = {**copy.deepcopy(SWEEP_BASE), "hardware": {"NoisyAnalog": {"mismatch": "0.1"}}}
    with pytest.raises(ConfigError, match=r'\[hardware.NoisyAnalog\] mismatch: expected a number, '
                                          r'got the string "0.1"'):
        parse_sweep_config(cfg)
    cfg = {**copy.deepcopy(SWEEP_BASE), "hardware": {"FinitePrecision": {"state_bits": 7.5}}}
    with pytest.raises(ConfigError, match=r"\[hardware.FinitePrecision\] state_bits: expected an "
                                          r"integer, got the float 7.5"):
        parse_sweep_config(cfg)
    axis = {"field": "FinitePrecision.state_bits", "values": [8, 9.5]}
    with pytest.raises(ConfigError, match=r"\[axes\[0\]\] values\[1\]: expected an integer"):
        parse_sweep_config({**copy.deepcopy(SWEEP_BASE), "axes": [axis]})
    # a range over an integer field is fine once rounded
    axis = {"field": "FinitePrecision.state_bits", "start": 8, "stop": 12, "num": 3,
            "integer": True}
    sweep = parse_sweep_config({**copy.deepcopy(SWEEP_BASE), "axes": [axis]})
    assert sweep.axes[0].values == (8, 10, 12)


def test_sweep_hssm_tables_are_named_inside_hssm():
    cfg = {"sweep": {"metrics": ["hssm_training"]},
           "hssm": {"data": {"name": "synthetic_frequencies"}, "model": {"complex": "false"}}}
    with pytest.raises(ConfigError, match=r'\[hssm.model\] complex: expected a boolean'):
        parse_sweep_config(cfg)


# ----------------------------------------------------------------------------- HL settings
@pytest.mark.parametrize("key,kind", sorted(HL_KEYS.items()))
def test_hl_table_rejects_wrong_types(key, kind):
    _assert_rejected(hl_config_from_table, {key: WRONG[kind][0]}, "hl", key, kind)


def test_hl_table_gives_the_coefficients_of_each_way():
    # SGD with momentum: beta = lr/tau, eta = (1 - momentum)/tau (hl.md section 2.1)
    cfg = hl_config_from_table({"lr": 0.01, "momentum": 0.1, "dampening": 0.5, "tau": 0.5})
    assert cfg.beta == pytest.approx(0.02) and cfg.eta == pytest.approx(1.8)
    assert cfg.phi_at(0) == pytest.approx(2.0) and cfg.phi_at(1) == pytest.approx(1.0)
    assert hl_config_from_table({"setting": "Mom-b"}) == sgd_to_hl(0.01, 0.1, 0.5, tau=0.5)
    direct = hl_config_from_table({"tau": 2, "beta": 0.5, "eta": 0.25, "s": 1})
    assert (direct.tau, direct.beta, direct.eta, direct.s) == (2.0, 0.5, 0.25, 1)
    with pytest.raises(ConfigError, match="not SGD settings and coefficients"):
        hl_config_from_table({"lr": 0.1, "beta": 0.5})
    with pytest.raises(ConfigError, match=r"\[hl\] s: got the integer 0; valid names are: -1, 1$"):
        hl_config_from_table({"s": 0})


def test_hl_config_takes_no_strings_for_numbers():
    from physsim.hl import HLConfig

    with pytest.raises(ValueError, match="tau must be a real number, got '1.0'"):
        HLConfig(tau="1.0")
    with pytest.raises(ValueError, match="eta must be a real number, got True"):
        HLConfig(eta=True)
    assert HLConfig(tau=np.float32(0.5)).tau == 0.5


# ----------------------------------------------------------------------------- shipped configs
def _configs(prefix: str) -> list[str]:
    return sorted(p.name for p in CONFIGS.glob(f"{prefix}*.toml"))


@pytest.mark.parametrize("name", _configs("simulate_") + _configs("gradcheck_"))
def test_shipped_device_configs_load(name):
    cfg = parse_device(load_toml(CONFIGS / name), base_dir=CONFIGS)
    assert cfg.system.build().n_dof >= 1


@pytest.mark.parametrize("name", _configs("hssm_"))
def test_shipped_training_configs_load(name):
    cfg = RunConfig.from_file(CONFIGS / name)
    assert cfg.data["name"] and cfg.training.max_steps >= 1


def test_every_shipped_config_has_a_schema():
    """Every example is one of the kinds loaded above (sweep files: through the same layer in
    tests/test_sweeps.py::test_shipped_sweep_configs_parse, with their task counts)."""
    names = {p.name for p in CONFIGS.glob("*.toml")}
    covered = set(_configs("simulate_") + _configs("gradcheck_") + _configs("hssm_")
                  + _configs("sweep_"))
    assert names == covered and len(names) >= 10
