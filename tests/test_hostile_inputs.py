"""Hostile and unusual inputs get a clear answer (issue 13, points 2, 5, 6 and 8).

Each test runs the command (``physsim.cli.main``, the console script's entry point) or the
call a user makes, and checks the exit status, that the message names the key, argument or
path at fault, and that no output or run file was lost or left half-written.
"""

from __future__ import annotations

import re
import tomllib
import warnings
from pathlib import Path

import numpy as np
import pytest

from physsim import CoupledOscillators, LinearHRU, NonlinearHRU, bptt_gradient, rhel_gradient
from physsim.bptt import loss_of
from physsim.cli import main
from physsim.config import parse_device, parse_system
from physsim.data import load_npz, write_ts
from physsim.losses import MSEReadout
from physsim.storage import load_trajectory, read_run
from physsim.systems.circuit.units import REDUCED_FLUX_QUANTUM

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "experiments" / "configs"
LC_JJ = CONFIGS / "simulate_lc_ladder_josephson.toml"

pytestmark = pytest.mark.usefixtures("one_numba_thread")


def _gradcheck_rows(out: str) -> dict[str, list[str]]:
    """Table rows of ``physsim gradcheck`` by tensor name."""
    rows = {}
    for line in out.splitlines():
        parts = line.split()
        if parts and parts[-1] in ("PASS", "FAIL") and not line.startswith(("PASS", "FAIL")):
            rows[parts[0]] = parts
    return rows


# ---------------------------------------------------------------- 2. gradcheck verdict
def test_gradcheck_passes_on_a_linear_hru(capsys):
    assert main(["gradcheck", str(CONFIGS / "gradcheck_linear_hru.toml")]) == 0
    out = capsys.readouterr().out
    rows = _gradcheck_rows(out)
    assert set(rows) == {"A", "step", "B_re", "B_im", "inputs", "q0", "p0"}
    assert all(r[-1] == "PASS" for r in rows.values())
    assert re.search(r"^PASS: all 7 tensors agree within rtol 0\.0001", out, re.M)


def test_gradcheck_passes_on_an_si_unit_circuit(capsys):
    """Capacitances ~1e-12 F and inverse inductances ~1e9 1/H in one system: every
    finite-difference column is finite and agrees (it printed 1.85e+294 before)."""
    cfg = parse_device(tomllib.loads(LC_JJ.read_text()))
    system = cfg.system.build()
    assert system.units.name == "SI" and system.capacitance.max() < 1e-11
    assert main(["gradcheck", str(LC_JJ)]) == 0
    out = capsys.readouterr().out
    rows = _gradcheck_rows(out)
    for name in ("capacitance", "inverse_inductance", "josephson_energy", "input_matrix"):
        fd_err = float(rows[name][4])   # BPTT~FD max rel err
        assert np.isfinite(fd_err) and fd_err < 1e-6, (name, rows[name])
        assert rows[name][-1] == "PASS"
    assert "PASS: all 7 tensors" in out


def test_si_circuit_gradient_is_the_natural_one_rescaled():
    """The SI read-out counts flux in Phi_0/2pi: the same device in natural units gives the
    same loss, and dL/dC in SI is dL/dC in natural units divided by the capacitance unit
    (an independent check of the scaling behind the SI gradcheck)."""
    raw = tomllib.loads(LC_JJ.read_text())
    from physsim.config import build_loss
    from physsim.config.device import LossTable
    from physsim.systems.circuit import Circuit

    si = parse_system(raw["system"]).build()
    c = Circuit()
    for part in raw["system"]["elements"]:
        kind = part["kind"]
        getattr(c, f"add_{kind}")(**{k: v for k, v in part.items() if k != "kind"})
    c.add_current_source("n1", name="I1")
    nat = c.build(units="natural", time_scale=1e-9)
    un = nat.units
    n_steps, dt = 300, 1e-12
    u_si = 20e-9 * np.random.default_rng(0).standard_normal((1, n_steps, 1))
    loss_si = build_loss(LossTable(), si, u_si, n_steps, dt, 1)
    loss_nat = build_loss(LossTable(), nat, u_si / un.current, n_steps, dt / un.time, 1)
    np.testing.assert_allclose(loss_si.readout * REDUCED_FLUX_QUANTUM, loss_nat.readout)
    g_si = bptt_gradient(si, np.zeros(3), None, u_si, loss_si, dt=dt)
    g_nat = bptt_gradient(nat, np.zeros(3), None, u_si / un.current, loss_nat,
                          dt=dt / un.time)
    assert g_si.loss == pytest.approx(g_nat.loss, rel=1e-9)
    np.testing.assert_allclose(g_si.params["capacitance"] * un.capacitance,
                               g_nat.params["capacitance"], rtol=1e-7,
                               atol=1e-9 * np.abs(g_nat.params["capacitance"]).max())


def test_gradcheck_fails_with_exit_status_1(capsys):
    """A tolerance no floating-point result meets: every compared tensor FAILs, exit 1."""
    assert main(["gradcheck", str(CONFIGS / "gradcheck_linear_hru.toml"), "--rtol",
                 "1e-30"]) == 1
    out = capsys.readouterr().out
    rows = _gradcheck_rows(out)
    assert rows["A"][-1] == "FAIL" and rows["step"][-1] == "FAIL"
    assert re.search(r"^FAIL: \d+ of 7 tensors disagree beyond rtol 1e-30: A", out, re.M)


def test_gradcheck_fails_when_the_device_read_out_is_wrong(tmp_path, capsys):
    """A device whose DAC/ADC quantise and add noise: its RHEL gradient is off by ~10 %
    from the ideal BPTT; the default rtol catches it (BPTT and finite differences agree)."""
    from physsim.hardware import preset_names

    if "aihwkit_default_io" not in preset_names():
        pytest.skip("the hardware_models presets are not installed")
    text = (CONFIGS / "gradcheck_linear_hru.toml").read_text()
    cfg = tmp_path / "noisy_io.toml"
    cfg.write_text(text.replace("n_steps = 500\n", 'n_steps = 500\nhardware = '
                                '"aihwkit_default_io"\n'))
    with warnings.catch_warnings():      # the DAC/ADC saturate now and then: not the point
        warnings.simplefilter("ignore")
        assert main(["gradcheck", str(cfg)]) == 1
    out = capsys.readouterr().out
    rows = _gradcheck_rows(out)
    assert rows["A"][-1] == "FAIL" and float(rows["A"][3]) > 1e-3
    assert float(rows["A"][4]) < 1e-4    # the BPTT~FD column is not what failed
    assert re.search(r"^FAIL: \d+ of 7 tensors disagree beyond rtol 0\.0001", out, re.M)


def test_gradcheck_rtol_must_be_positive(capsys):
    with pytest.raises(SystemExit) as exc:
        main(["gradcheck", str(CONFIGS / "gradcheck_linear_hru.toml"), "--rtol", "-1"])
    assert exc.value.code == 2
    assert "--rtol" in capsys.readouterr().err


# ------------------------------------------------------- 5. errors that name the culprit
def test_stiffness_of_the_wrong_shape_is_named(tmp_path, capsys):
    with pytest.raises(ValueError, match=r"^stiffness must have shape \(2, 2\).*got \(3, 3\)"):
        CoupledOscillators(mass=np.ones(2), stiffness=np.eye(3), input_matrix=np.ones((2, 1)))
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[system]\ntype = "coupled_oscillators"\nmass = [1.0, 1.0]\n'
                   'stiffness = [[1.0, 0.0, 0.0], [0.0, 1.0, 0.0], [0.0, 0.0, 1.0]]\n'
                   'input_matrix = [[1.0], [0.0]]\n[simulation]\nn_steps = 10\n')
    assert main(["simulate", str(cfg), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "stiffness must have shape (2, 2)" in err and "(3, 3)" in err
    assert "mass must" not in err
    assert not (tmp_path / "out" / "trajectory.h5").exists()


def test_readout_of_the_wrong_width_is_named():
    system = LinearHRU.random(3, 1, rng=0)
    loss = MSEReadout(np.ones((2, 2)), np.zeros((10, 2)))
    u = np.zeros((10, 1))
    expected = r"readout must have shape \(n_outputs, n_dof\) = \(2, 3\).*got \(2, 2\)"
    for call in (lambda: rhel_gradient(system, np.zeros(3), None, u, loss),
                 lambda: bptt_gradient(system, np.zeros(3), None, u, loss),
                 lambda: loss_of(system, np.zeros(3), None, u, loss)):
        with pytest.raises(ValueError, match=expected):
            call()


def test_zero_units_fail_at_construction(tmp_path, capsys):
    for make in (LinearHRU.random, NonlinearHRU.random):
        with pytest.raises(ValueError, match="n_units must be a positive integer, got 0"):
            make(0, 2)
    with pytest.raises(ValueError, match=r"n_units >= 1"):
        LinearHRU(A=np.zeros(0), step=np.zeros(0), B_re=np.zeros((0, 2)))
    cfg = tmp_path / "zero.toml"
    cfg.write_text('[system]\ntype = "linear_hru"\nn_units = 0\nn_inputs = 1\n'
                   '[simulation]\nn_steps = 10\n')
    assert main(["simulate", str(cfg), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert "[system] n_units" in err and "got the integer 0" in err and "zero-size" not in err


@pytest.mark.parametrize("value", ['"two thousand"', "-5"])
def test_n_steps_of_the_wrong_kind_names_the_key(tmp_path, capsys, value):
    cfg = tmp_path / "steps.toml"
    cfg.write_text(f'[system]\ntype = "six_oscillators"\n[simulation]\nn_steps = {value}\n')
    assert main(["simulate", str(cfg), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    assert str(cfg) in err and "simulation" in err and "n_steps" in err
    assert value.strip('"') in err


def test_recording_that_cannot_fit_in_memory_is_refused_before_running(tmp_path, capsys):
    cfg = tmp_path / "huge.toml"
    cfg.write_text('[system]\ntype = "six_oscillators"\n[simulation]\nn_steps = 1000000000000\n'
                   'dt = 0.01\nrecord_every = 1\n[inputs]\nkind = "zeros"\n')
    assert main(["simulate", str(cfg), "--out", str(tmp_path / "out"), "--quiet"]) == 1
    err = capsys.readouterr().err
    # 1e12 + 1 states of 6 positions, 6 momenta and the energy, 8 bytes each
    need = (10**12 + 1) * 13 * 8 / 2**30
    m = re.search(r"recording 1000000000001 states of 1 x 6 \(float64\) needs ([\d.]+) GiB, "
                  r"more than the ([\d.]+) GiB of memory available; .*record_every >= (\d+)",
                  err)
    assert m and float(m.group(1)) == round(need, 1), err
    every = int(m.group(3))        # the advice fits: (L // every + 1) states in the memory
    assert (10**12 // every + 1) * 13 * 8 / 2**30 <= float(m.group(2))
    assert "MemoryError" not in err
    assert not (tmp_path / "out" / "trajectory.h5").exists()


TRAIN = """
[data]
name = "synthetic_frequencies"
n_cases = 60
length = 24

[model]
n_blocks = 1
hidden = 4
units = 4

[training]
lr = {lr}
batch_size = 8
max_steps = 40
eval_every = 20
checkpoint_every = 1
"""


def test_diverging_training_says_so_and_keeps_its_run_file(tmp_path, capsys):
    cfg, run = tmp_path / "div.toml", tmp_path / "div.h5"
    cfg.write_text(TRAIN.format(lr="1e6"))
    assert main(["train", str(cfg), "--rule", "bptt", "--out", str(run), "--quiet"]) == 2
    err = capsys.readouterr().err
    m = re.search(r"training diverged at step (\d+): .*lower lr \(now 1e\+06\)", err)
    assert m, err
    assert "step must be positive, got min 0" not in err.split("range")[0]
    record = read_run(run)            # intact: a complete file of the last good checkpoint
    assert record.checkpoint["step"] == int(m.group(1)) - 1
    assert all(np.all(np.isfinite(v)) for v in record.params.values())


def test_a_run_stopped_before_its_first_evaluation_prints_no_nan(tmp_path, capsys):
    cfg, run = tmp_path / "stop.toml", tmp_path / "stop.h5"
    cfg.write_text(TRAIN.format(lr="1e-2"))
    assert main(["train", str(cfg), "--rule", "bptt", "--out", str(run), "--quiet",
                 "--stop-after", "2"]) == 0
    out = capsys.readouterr().out
    assert "nan" not in out
    assert "not evaluated yet (first evaluation at step 20)" in out
    assert read_run(run).checkpoint["step"] == 2


# ---------------------------------------------------------------- 6. your own data
MODEL = """
[model]
n_blocks = 1
hidden = 4
units = 4

[training]
batch_size = 8
max_steps = 2
eval_every = 1
"""


def _cases(rng, n, channels, length):
    labels = rng.integers(0, 2, n)
    t = np.arange(length)[:, None]
    series = [np.sin((0.3 + 0.4 * k) * t + np.arange(channels)) +
              0.1 * rng.standard_normal((length, channels)) for k in labels]
    return series, np.array(["slow", "fast"])[labels]


@pytest.mark.parametrize("channels", [1, 3])
def test_train_from_a_ts_folder(tmp_path, capsys, channels):
    rng = np.random.default_rng(channels)
    data = tmp_path / "mydata"
    data.mkdir()
    x_tr, y_tr = _cases(rng, 30, channels, 20)
    x_te, y_te = _cases(rng, 10, channels, 20)
    write_ts(data / "Waves_TRAIN.ts", x_tr, y_tr)
    write_ts(data / "Waves_TEST.ts", x_te, y_te)
    cfg = tmp_path / "ts.toml"
    cfg.write_text('[data]\nts_folder = "mydata"\nval_fraction = 0.2\n' + MODEL)
    run = tmp_path / "ts.h5"
    assert main(["train", str(cfg), "--rule", "bptt", "--out", str(run), "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "Waves (classification" in out and f"test  x(10, 20, {channels})" in out
    n_train, n_val = (int(re.search(rf"{s} +x\((\d+), 20, {channels}\)", out).group(1))
                      for s in ("train", "val"))
    assert n_train + n_val == 30 and 4 <= n_val <= 8     # 20 % of TRAIN, by class
    record = read_run(run)
    assert record.checkpoint["step"] == 2 and record.attrs["status"] == "finished"


def test_train_from_an_npz_with_validation_arrays(tmp_path, capsys):
    rng = np.random.default_rng(5)
    x = rng.standard_normal((50, 16))              # univariate: (cases, length)
    y = rng.integers(0, 3, 50)
    path = tmp_path / "arrays.npz"
    np.savez(path, x_train=x[:30], y_train=y[:30], x_val=x[30:40], y_val=y[30:40],
             x_test=x[40:], y_test=y[40:])
    ds = load_npz(path)
    mean, std = x[:30].mean(), x[:30].std()        # train-only standardisation
    np.testing.assert_allclose(ds.val.x[:, :, 0], (x[30:40] - mean) / std, rtol=1e-12)
    np.testing.assert_array_equal(ds.test.y, y[40:])
    cfg = tmp_path / "npz.toml"
    cfg.write_text('[data]\nnpz = "arrays.npz"\n' + MODEL)
    run = tmp_path / "npz.h5"
    assert main(["train", str(cfg), "--rule", "bptt", "--out", str(run), "--quiet"]) == 0
    assert "val   x(10, 16, 1)" in capsys.readouterr().out
    assert read_run(run).attrs["status"] == "finished"


def test_sweep_reads_own_data_relative_to_the_sweep_file(tmp_path, monkeypatch):
    from physsim.sweeps.config import load_sweep_config
    from physsim.sweeps.problem import build_problem

    rng = np.random.default_rng(7)
    x, y = rng.standard_normal((40, 12)), rng.integers(0, 2, 40)
    folder = tmp_path / "study"
    folder.mkdir()
    np.savez(folder / "arrays.npz", x_train=x[:30], y_train=y[:30], x_test=x[30:],
             y_test=y[30:])
    sweep = folder / "sweep.toml"
    hssm_tables = MODEL.replace("[model]", "[hssm.model]").replace("[training]", "[hssm.training]")
    sweep.write_text('[sweep]\nmetrics = ["hssm_training"]\nseeds = [0]\n'
                     '[hssm.data]\nnpz = "arrays.npz"\n' + hssm_tables)
    elsewhere = tmp_path / "elsewhere"
    elsewhere.mkdir()
    monkeypatch.chdir(elsewhere)           # a worker's working directory is not the sweep's
    cfg = load_sweep_config(sweep)
    assert Path(cfg.problem["hssm"]["data"]["npz"]) == folder / "arrays.npz"
    model = build_problem(cfg.problem).hssm
    assert Path(model.data["npz"]) == folder / "arrays.npz"
    # a relative path that does not exist next to the sweep file is refused, naming the key
    sweep.write_text(sweep.read_text().replace("arrays.npz", "missing.npz"))
    with pytest.raises(ValueError, match=r"hssm.data\] npz: .*missing\.npz"):
        load_sweep_config(sweep)


@pytest.mark.parametrize("data, message", [
    ('npz = "missing.npz"', r"\[data\] npz: .*missing\.npz is not an existing file"),
    ('ts_folder = "nowhere"', r"\[data\] ts_folder: .*nowhere is not an existing folder"),
    ('npz = "a.npz"\nname = "synthetic_frequencies"', r"exactly one of name .*got name and npz"),
    ('npz = "a.npz"\nmax_length = 3', r"does not take \['max_length'\]"),
    ('npz = "a.npz"\ntask = "clustering"', r"\[data\] task"),
])
def test_own_data_errors_name_the_key(tmp_path, capsys, data, message):
    np.savez(tmp_path / "a.npz", x_train=np.zeros((4, 3)), y_train=np.zeros(4),
             x_test=np.zeros((2, 3)), y_test=np.zeros(2))
    cfg = tmp_path / "bad.toml"
    cfg.write_text(f"[data]\n{data}\n" + MODEL)
    run = tmp_path / "bad.h5"
    assert main(["train", str(cfg), "--rule", "bptt", "--out", str(run), "--quiet"]) == 2
    assert re.search(message, capsys.readouterr().err)
    assert not run.exists()


def test_npz_without_required_arrays_lists_what_it_has(tmp_path):
    path = tmp_path / "partial.npz"
    np.savez(path, x_train=np.zeros((4, 3)), y_train=np.zeros(4), x_val=np.zeros((2, 3)))
    with pytest.raises(ValueError, match=r"lacks \['x_test', 'y_test'\].*holds \['x_train', "
                                         r"'x_val', 'y_train'\]"):
        load_npz(path)
    (tmp_path / "text.npz").write_text("not an archive")
    with pytest.raises(ValueError, match="is not an .npz archive"):
        load_npz(tmp_path / "text.npz")


def test_npz_regression_targets_without_outputs_are_refused(tmp_path):
    """y_train of shape (cases, 0, channels): no output step exists (was a ZeroDivisionError)."""
    path = tmp_path / "empty_targets.npz"
    np.savez(path, x_train=np.zeros((10, 8)), y_train=np.zeros((10, 0, 1)),
             x_test=np.zeros((3, 8)), y_test=np.zeros((3, 0, 1)))
    with pytest.raises(ValueError, match=r"y_train must have shape \(cases, n_outputs, "
                                         r"target_channels\).*got \(10, 0, 1\)"):
        load_npz(path, task="regression")


# ------------------------------------------------------------ 8. circuits from TOML
def test_lc_ladder_josephson_example_simulates_and_saves(tmp_path, capsys):
    out = tmp_path / "run"
    assert main(["simulate", str(LC_JJ), "--out", str(out), "--quiet"]) == 0
    traj = load_trajectory(out / "trajectory.h5")
    assert traj.positions.shape == (1, 2001, 3)
    system = traj.system
    # capacitance matrix from the element values: C1, C2, C3 + the junction's 5 fF
    np.testing.assert_allclose(system.capacitance, np.diag([1e-12, 0.8e-12, 1.205e-12]),
                               rtol=1e-12)
    # inverse inductance: Lg1 to ground at n1, L12 between n1 and n2, L23 between n2, n3
    g1, g12, g23 = 1 / 4e-9, 1 / 2e-9, 1 / 3e-9
    np.testing.assert_allclose(system.inverse_inductance,
                               [[g1 + g12, -g12, 0], [-g12, g12 + g23, -g23], [0, -g23, g23]],
                               rtol=1e-12)
    # E_J = I_c Phi_0 / 2pi
    np.testing.assert_allclose(system.josephson_energy, [100e-9 * REDUCED_FLUX_QUANTUM],
                               rtol=1e-12)
    # the junction is driven into its nonlinear range (phase of order 0.1 rad or more)
    phase = traj.positions[0, :, 2] / REDUCED_FLUX_QUANTUM
    assert 0.05 < np.abs(phase).max() < np.pi


def test_circuit_docs_example_is_a_valid_config():
    """The TOML blocks of docs/circuits_toml.md that hold a [system] table parse and build."""
    text = (ROOT / "docs" / "circuits_toml.md").read_text()
    blocks = [b for b in re.findall(r"```toml\n(.*?)```", text, re.S) if "[system]" in b]
    assert blocks
    for block in blocks:
        tables = tomllib.loads(block)
        tables.setdefault("simulation", {"n_steps": 10})
        system = parse_device(tables).system.build()
        assert system.n_dof >= 1
