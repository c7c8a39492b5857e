"""Sweeps: config checks, grid expansion, metrics against independent references, executors
that agree bit for bit, results that survive SIGKILL, failures recorded, the CLI."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest

from physsim import CoupledOscillators, LinearHRU
from physsim.bptt import bptt_gradient
from physsim.config import load_toml
from physsim.hardware import get_preset
from physsim.losses import MSEReadout
from physsim.rhel import rhel_gradient
from physsim.storage import StorageError, attribute, read_run
from physsim.storage.sweep_file import DONE, FAILED, SweepWriter
from physsim.sweeps import (METRICS, FixedChip, build_hardware, load_sweep, parse_sweep_config,
                            run_sweep)
from physsim.sweeps.cli import cli_sweep
from physsim.sweeps.metrics import PointContext
from physsim.sweeps.problem import build_problem
from physsim.sweeps.tasks import WorkSpec, run_task

hm = pytest.importorskip("hardware_models")

REPO = Path(__file__).resolve().parents[1]


def base_cfg(**over) -> dict:
    """A small linear-HRU sweep (each task takes milliseconds)."""
    cfg = {
        "sweep": {"metrics": ["gradient_fidelity", "echo_return_error"], "seeds": [0, 1]},
        "system": {"type": "linear_hru", "n_units": 6, "n_inputs": 2, "seed": 3},
        "simulation": {"n_steps": 60, "batch": 2},
        "loss": {"kind": "mse", "n_outputs": 2},
        "axes": [{"field": "NoisyAnalog.momentum_noise", "scale": "log", "start": 1e-5,
                  "stop": 1e-2, "num": 3}],
    }
    for key, value in over.items():
        cfg[key] = value
    return cfg


def same_results(a, b) -> bool:
    """Values, curves, status and errors equal (timings and worker names excluded)."""
    return (np.array_equal(a.values, b.values, equal_nan=True)
            and all(np.array_equal(a.curves[k], b.curves[k], equal_nan=True) for k in a.curves)
            and set(a.curves) == set(b.curves) and np.array_equal(a.status, b.status)
            and [e.splitlines()[:1] for e in a.errors] == [e.splitlines()[:1] for e in b.errors])


# ---------------------------------------------------------------------- config
def test_expansion_modes_and_task_seeds():
    axes = [{"field": "mismatch", "values": [0.0, 0.01, 0.02]},
            {"field": "FinitePrecision.input_bits", "values": [4, 8]}]
    grid = parse_sweep_config(base_cfg(axes=axes))
    assert len(grid.points()) == 6
    assert {tuple(sorted(p.settings.items())) for p in grid.points()} == {
        (("FinitePrecision.input_bits", b), ("NoisyAnalog.mismatch", m))
        for m in (0.0, 0.01, 0.02) for b in (4, 8)}
    one = parse_sweep_config(base_cfg(axes=axes, sweep={"metrics": ["echo_return_error"],
                                                        "mode": "one_at_a_time", "n_seeds": 3}))
    pts = one.points()
    assert len(pts) == 5 and all(sum(p.active) == 1 for p in pts)
    assert one.seeds == (0, 1, 2)
    tasks = one.tasks()
    assert [t.task_id for t in tasks] == list(range(15))
    assert all(t.task_id == t.point * 3 + t.seed_index and t.seed == one.seeds[t.seed_index]
               for t in tasks)
    zipped = parse_sweep_config(base_cfg(
        axes=[axes[0], {"field": "flip_noise", "values": [0.0, 1e-3, 1e-2]}],
        sweep={"metrics": ["echo_return_error"], "mode": "zip"}))
    assert [p.settings["NoisyAnalog.flip_noise"] for p in zipped.points()] == [0.0, 1e-3, 1e-2]


def test_log_and_integer_ranges():
    cfg = parse_sweep_config(base_cfg(axes=[
        {"field": "momentum_noise", "scale": "log", "start": 1e-6, "stop": 1e-1, "num": 6},
        {"field": "state_bits", "start": 4, "stop": 16, "num": 4, "integer": True,
         "fixed": {"position_range": 64.0, "momentum_range": 64.0}}],
        sweep={"metrics": ["echo_return_error"], "mode": "one_at_a_time"}))
    np.testing.assert_allclose(cfg.axes[0].values, 10.0 ** np.arange(-6, 0), rtol=1e-12)
    assert cfg.axes[1].values == (4, 8, 12, 16)
    assert cfg.axes[1].fixed == {"FinitePrecision.position_range": 64.0,
                                 "FinitePrecision.momentum_range": 64.0}


@pytest.mark.parametrize("change, message", [
    ({"bogus": {}}, "unknown table(s) ['bogus']"),
    ({"sweep": {"metrics": ["gradient_fidelity"], "sedes": [0]}}, "unknown key(s) ['sedes']"),
    ({"sweep": {"metrics": ["flux_capacitance"]}}, "unknown metric 'flux_capacitance'; valid"),
    ({"axes": [{"field": "mismach", "values": [0.1]}]}, "unknown hardware field 'mismach'"),
    ({"axes": [{"field": "NoisyAnalog.bits", "values": [1]}]}, "unknown NoisyAnalog field"),
    ({"axes": [{"field": "Quantum.noise", "values": [1]}]}, "unknown hardware model 'Quantum'"),
    ({"axes": [{"field": "mismatch", "scale": "log", "start": 0.0, "stop": 1.0, "num": 3}]},
     "a log range needs start > 0"),
    ({"axes": [{"field": "mismatch", "values": [0.1], "start": 0.0}]}, "not both"),
    ({"axes": [{"field": "mismatch", "vals": [0.1]}]}, "unknown key(s) ['vals']"),
    ({"axes": [{"field": "state_bits", "start": 4, "stop": 5, "num": 4, "integer": True}]},
     "repeated values"),
    ({"axes": [{"field": "mismatch", "values": [-0.5]}]}, "must be finite and non-negative"),
    ({"sweep": {"metrics": ["echo_return_error"], "seeds": [0, 0]}}, "repeated seeds"),
    ({"metrics": {"training": {"stepz": 3}}}, "not in [sweep] metrics"),
    ({"hardware": {"NoisyAnalog": {"Q": 3}}}, "unknown key(s) ['Q']"),
    ({"simulation": {"n_steps": 0}}, "[simulation] n_steps: expected a value > 0"),
])
def test_config_errors_name_the_problem(change, message):
    with pytest.raises(ValueError) as exc:
        parse_sweep_config(base_cfg(**change))
    assert message in str(exc.value)


def test_metric_option_errors():
    cfg = base_cfg(sweep={"metrics": ["training"], "seeds": [0]},
                   metrics={"training": {"stepz": 3}})
    with pytest.raises(ValueError, match=r"unknown option\(s\) \['stepz'\]; allowed options"):
        parse_sweep_config(cfg)


def test_build_hardware_composes_preset_and_models():
    assert build_hardware({}, {}).is_ideal
    hw = build_hardware({"preset": "discrete_lc", "FinitePrecision": {"output_bits": 8}},
                        {"NoisyAnalog.flip_noise": 1e-3})
    assert isinstance(hw, hm.Composite)
    kinds = [type(m).__name__ for m in hw.members]
    assert kinds == ["NoisyAnalog", "FinitePrecision", "NoisyAnalog"]
    assert hw.members[0] == get_preset("discrete_lc")
    single = build_hardware({}, {"preset": "cmos_lc"})
    assert single == get_preset("cmos_lc")


# --------------------------------------------------------------------- metrics
def _context(cfg: dict, settings: dict, seed: int = 0) -> PointContext:
    conf = parse_sweep_config(cfg)
    return PointContext(build_problem(conf.problem), build_hardware(conf.hardware, settings),
                        seed, {})


def test_gradient_fidelity_matches_direct_rhel_and_bptt():
    cfg = base_cfg(sweep={"metrics": ["gradient_fidelity"], "seeds": [0]})
    ideal = _context(cfg, {})
    vals, _ = METRICS["gradient_fidelity"].compute(ideal, {"reference": "ideal"})
    # linear device, ideal hardware: RHEL equals BPTT exactly (up to round-off)
    for name in ("A", "step", "B_re", "all"):
        assert abs(vals[f"cosine/{name}"] - 1) < 1e-12
        assert abs(vals[f"norm_ratio/{name}"] - 1) < 1e-9
    noisy = _context(cfg, {"NoisyAnalog.momentum_noise": 1e-2}, seed=5)
    vals, _ = METRICS["gradient_fidelity"].compute(noisy, {"reference": "ideal"})
    p = noisy.problem
    g = rhel_gradient(p.system, p.q0, p.p0, p.inputs, p.loss, hardware=noisy.hardware, seed=5,
                      input_gradient=False)
    ref = bptt_gradient(p.system, p.q0, p.p0, p.inputs, p.loss)
    a, b = g.params["A"].ravel(), ref.params["A"].ravel()
    assert vals["cosine/A"] == pytest.approx(a @ b / np.linalg.norm(a) / np.linalg.norm(b),
                                             abs=1e-14)
    assert vals["norm_ratio/A"] == pytest.approx(np.linalg.norm(a) / np.linalg.norm(b), rel=1e-14)
    assert vals["cosine/all"] < 1 - 1e-6


def test_echo_return_error_is_roundoff_when_ideal_and_linear_in_flip_error():
    cfg = base_cfg(sweep={"metrics": ["echo_return_error"], "seeds": [0]},
                   initial_state={"kind": "random", "scale": 0.3, "seed": 2})
    vals, _ = METRICS["echo_return_error"].compute(_context(cfg, {}), {})
    assert vals["echo_return_error_relative"] < 1e-13
    # the flip error enters a linear device linearly: doubling it doubles the return error
    e1 = METRICS["echo_return_error"].compute(
        _context(cfg, {"NoisyAnalog.flip_gain_error": 1e-4}), {})[0]["echo_return_error"]
    e2 = METRICS["echo_return_error"].compute(
        _context(cfg, {"NoisyAnalog.flip_gain_error": 2e-4}), {})[0]["echo_return_error"]
    assert e1 > 1e-8
    assert e2 / e1 == pytest.approx(2.0, rel=1e-6)


def test_energy_drift_follows_exponential_damping():
    # one undamped unit oscillator, m = k = 1, momentum damping gamma: E(t) ~ E0 exp(-gamma t)
    cfg = base_cfg(system={"type": "coupled_oscillators", "mass": [1.0], "stiffness": [[1.0]],
                           "input_matrix": [[1.0]]},
                   simulation={"n_steps": 1000, "dt": 0.05},
                   initial_state={"kind": "given", "q0": [1.0], "p0": [0.0]},
                   sweep={"metrics": ["energy_drift"], "seeds": [0]}, axes=[])
    gamma = 0.01
    ctx = _context(cfg, {"NoisyAnalog.damping_rate": gamma})
    opts = METRICS["energy_drift"].resolved({"state": "task"})
    vals, _ = METRICS["energy_drift"].compute(ctx, opts)
    # the modulation of the decay by the oscillation is O(gamma / omega) = 1 %
    assert vals["energy_change_final"] == pytest.approx(np.exp(-gamma * 50.0) - 1, rel=0.02)
    ideal, _ = METRICS["energy_drift"].compute(_context(cfg, {}), opts)
    # leapfrog's energy error is bounded by (omega dt)^2 / 4 for an oscillator
    assert ideal["energy_drift_max"] < 0.05 ** 2 / 4 * 1.01


def test_training_by_rhel_equals_bptt_on_an_ideal_linear_device():
    cfg = base_cfg(sweep={"metrics": ["training"], "seeds": [0]}, axes=[])
    ctx = _context(cfg, {})
    m = METRICS["training"]
    rh, rh_c = m.compute(ctx, m.resolved({"steps": 6, "lr": 0.05, "rule": "rhel"}))
    bp, bp_c = m.compute(ctx, m.resolved({"steps": 6, "lr": 0.05, "rule": "bptt"}))
    np.testing.assert_allclose(rh_c["train_loss"], bp_c["train_loss"], rtol=1e-9)
    assert rh["train_loss_final"] == pytest.approx(bp["train_loss_final"], rel=1e-9)
    assert rh["train_loss_final"] < rh["train_loss_initial"]
    assert rh["train_loss_final"] == rh["train_loss_final_ideal"]  # ideal hardware


def test_training_reports_accuracy_for_classification():
    cfg = base_cfg(sweep={"metrics": ["training"], "seeds": [0]}, axes=[],
                   loss={"kind": "pooled_ce", "n_classes": 3},
                   simulation={"n_steps": 40, "batch": 6})
    conf = parse_sweep_config(cfg)
    spec = WorkSpec(conf.config_hash, conf.problem, conf.hardware, conf.metrics,
                    {"training": {"steps": 3}})
    res = run_task(spec, conf.tasks()[0], limit_threads=False)
    assert res.ok, res.error
    acc = res.values["train_accuracy_final"]
    assert acc in {k / 6 for k in range(7)}


def test_fixed_chip_keeps_the_device_and_varies_the_noise():
    s = LinearHRU.random(5, 1, rng=0)
    hw = hm.NoisyAnalog(mismatch=0.05, momentum_noise=1e-3)
    chip = FixedChip(hw, chip_seed=7)
    assert np.array_equal(chip.realize(s, 1).A, hw.realize(s, 7).A)
    assert np.array_equal(chip.realize(s, 1).A, chip.realize(s, 2).A)
    u = np.ones((30, 1))
    t1 = __import__("physsim").simulate(s, np.zeros(5), None, u, hardware=chip, seed=1)
    t2 = __import__("physsim").simulate(s, np.zeros(5), None, u, hardware=chip, seed=2)
    assert not np.array_equal(t1.final_positions, t2.final_positions)


# ---------------------------------------------------------------- executors
def test_same_results_twice_with_1_and_2_workers_and_in_process(tmp_path):
    cfg = parse_sweep_config(base_cfg())
    runs = {}
    for name, kw in [("w1", {"workers": 1}), ("w1_again", {"workers": 1}),
                     ("w2", {"workers": 2}), ("serial", {"workers": 0})]:
        s = run_sweep(cfg, output=tmp_path / f"{name}.h5", progress=False, **kw)
        assert s.n_done == 6 and s.n_failed == 0 and s.n_run == 6
        if name == "w2":
            assert s.executor == "2 local processes"
        runs[name] = load_sweep(tmp_path / f"{name}.h5")
    for name in ("w1_again", "w2", "serial"):
        assert same_results(runs["w1"], runs[name]), name
    # a finished sweep run again computes nothing
    s = run_sweep(cfg, output=tmp_path / "w1.h5", workers=1, progress=False)
    assert s.n_run == 0 and s.n_done == 6


def test_dask_local_cluster_gives_the_local_results(tmp_path):
    distributed = pytest.importorskip("distributed")
    cfg = parse_sweep_config(base_cfg())
    run_sweep(cfg, output=tmp_path / "local.h5", workers=0, progress=False)
    with distributed.LocalCluster(n_workers=2, threads_per_worker=1, processes=True,
                                  dashboard_address=None) as cluster:
        s = run_sweep(cfg, output=tmp_path / "dask.h5", scheduler=cluster.scheduler_address,
                      progress=False)
    assert s.n_done == 6 and "Dask" in s.executor
    assert same_results(load_sweep(tmp_path / "local.h5"), load_sweep(tmp_path / "dask.h5"))


def test_missing_dask_names_the_extra(monkeypatch, tmp_path):
    monkeypatch.setitem(sys.modules, "distributed", None)
    cfg = parse_sweep_config(base_cfg())
    with pytest.raises(ImportError, match=r"physsim\[dask\]"):
        run_sweep(cfg, output=tmp_path / "x.h5", scheduler="tcp://127.0.0.1:1", progress=False)


# ------------------------------------------------------------------- faults
FAULT_TOML = """
[sweep]
name = "fault"
output = "{out}"
seeds = [0, 1]
metrics = ["gradient_fidelity", "echo_return_error"]

[system]
type = "linear_hru"
n_units = 32
n_inputs = 2

[simulation]
n_steps = 1500
batch = 8

[[axes]]
field = "NoisyAnalog.momentum_noise"
scale = "log"
start = 1e-6
stop = 1e-2
num = 8
"""


def test_sigkill_then_resume_gives_every_point_once_and_identical_values(tmp_path):
    out = tmp_path / "fault.h5"
    toml = tmp_path / "fault.toml"
    toml.write_text(FAULT_TOML.format(out=out))
    cmd = [sys.executable, "-m", "physsim.cli", "sweep", str(toml), "--workers", "1", "--quiet"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    try:
        deadline = time.time() + 60
        n_done = 0
        while time.time() < deadline:  # poll the file while the sweep writes it
            if out.exists():
                try:
                    n_done = load_sweep(out).n_done
                except (OSError, KeyError):
                    n_done = 0  # caught between creation and first flush
            if n_done >= 3 or proc.poll() is not None:
                break
            time.sleep(0.05)
        assert proc.poll() is None, f"sweep ended before the kill: {proc.stderr.read()}"
    finally:
        os.killpg(proc.pid, signal.SIGKILL)  # the sweep and its worker processes
        proc.wait()
    killed = load_sweep(out)  # readable after SIGKILL
    assert 3 <= killed.n_done < 16
    done_before = killed.status == DONE
    finished_before = killed.values[done_before]
    resumed = run_sweep(toml, workers=2, progress=False)
    assert resumed.n_done == 16 and resumed.n_failed == 0 and resumed.n_pending == 0
    assert resumed.n_run == 16 - int(done_before.sum())  # finished points were skipped
    after = load_sweep(out)
    np.testing.assert_array_equal(after.values[done_before], finished_before)
    reference = run_sweep(toml, output=tmp_path / "reference.h5", workers=0, progress=False)
    assert reference.n_done == 16
    assert same_results(after, load_sweep(tmp_path / "reference.h5"))


def test_failing_point_is_recorded_and_the_others_complete(tmp_path, capsys):
    # a 500 % mismatch draws negative A (an invalid device): the task fails at run time
    cfg = base_cfg(axes=[{"field": "mismatch", "values": [0.0, 0.01, 5.0]}],
                   sweep={"metrics": ["gradient_fidelity", "echo_return_error"],
                          "seeds": [0, 1], "output": str(tmp_path / "fail.h5")})
    conf = parse_sweep_config(cfg)
    s = run_sweep(conf, workers=1, progress=False)
    assert s.n_failed == 2 and s.n_done == 4
    res = load_sweep(tmp_path / "fail.h5")
    assert np.all(res.status[:4] == DONE) and np.all(res.status[4:] == FAILED)
    for err in res.errors[4:]:
        assert "mismatch produced an invalid LinearHRU" in err
    assert all(e == "" for e in res.errors[:4])
    assert np.all(np.isnan(res.column("cosine/all")[4:]))
    assert np.all(np.isfinite(res.column("cosine/all")[:4]))
    # retry computes only the failed points (they fail again, deterministically)
    again = run_sweep(conf, workers=0, progress=False, retry_failed=True)
    assert again.n_run == 2 and again.n_failed == 2
    # the CLI reports failures with a non-zero status
    toml = tmp_path / "fail.toml"
    toml.write_text(_to_toml(cfg))
    assert cli_sweep([str(toml), "--workers", "0", "--quiet"]) == 1
    assert "mismatch produced an invalid LinearHRU" in capsys.readouterr().err


def test_resume_refuses_another_config_and_a_second_writer(tmp_path):
    conf = parse_sweep_config(base_cfg())
    run_sweep(conf, output=tmp_path / "s.h5", workers=0, progress=False)
    other = parse_sweep_config(base_cfg(simulation={"n_steps": 61, "batch": 2}))
    with pytest.raises(StorageError, match="different configuration"):
        run_sweep(other, output=tmp_path / "s.h5", workers=0, progress=False)
    s = run_sweep(other, output=tmp_path / "s.h5", workers=0, progress=False, overwrite=True)
    assert s.n_run == 6
    problem = build_problem(other.problem)
    from physsim.sweeps.metrics import layout

    cols, curves = layout(problem, other.metrics, other.metric_options)
    with SweepWriter.open(tmp_path / "s.h5", other, cols, curves):
        with pytest.raises(StorageError, match="another process is writing"):
            SweepWriter.open(tmp_path / "s.h5", other, cols, curves)


def test_tree_fingerprint_follows_every_byte_and_name_of_the_sources(tmp_path):
    import hashlib

    from physsim.storage.provenance import tree_fingerprint

    (tmp_path / "pkg" / "sub").mkdir(parents=True)
    (tmp_path / "pkg" / "a.py").write_text("x = 1\n")
    (tmp_path / "pkg" / "sub" / "b.py").write_text("y = 2\n")
    (tmp_path / "pkg" / "notes.txt").write_text("not code")
    first = tree_fingerprint(tmp_path, ("pkg",))
    # independent expectation: SHA-256 over sorted relative paths and bytes, NUL-separated
    expected = hashlib.sha256(b"pkg/a.py\0x = 1\n\0pkg/sub/b.py\0y = 2\n\0").hexdigest()
    assert first == expected[:16]
    (tmp_path / "pkg" / "notes.txt").write_text("changed, still not code")
    assert tree_fingerprint(tmp_path, ("pkg",)) == first
    (tmp_path / "pkg" / "sub" / "b.py").write_text("y = 3\n")  # one byte
    second = tree_fingerprint(tmp_path, ("pkg",))
    assert second != first
    (tmp_path / "pkg" / "sub" / "b.py").rename(tmp_path / "pkg" / "sub" / "c.py")  # a name
    assert tree_fingerprint(tmp_path, ("pkg",)) not in (first, second)
    assert tree_fingerprint(tmp_path, ("missing",)) == "unknown"


def test_resume_with_other_code_warns_and_keeps_the_finished_tasks(tmp_path, monkeypatch):
    import warnings

    import h5py

    import physsim
    from physsim import CodeChangedWarning
    from physsim.storage import provenance
    from physsim.storage.provenance import source_fingerprint, tree_fingerprint

    conf = parse_sweep_config(base_cfg())
    first = run_sweep(conf, output=tmp_path / "s.h5", workers=0, progress=False)
    with h5py.File(tmp_path / "s.h5", "r") as f:
        assert attribute(f, "code_fingerprint") == source_fingerprint()
    # the fingerprint covers the sources of physsim and hardware_models next to it
    checkout = Path(physsim.__file__).resolve().parents[1]
    assert (source_fingerprint.__wrapped__()
            == tree_fingerprint(checkout, ("physsim", "hardware_models")) != "unknown")
    with warnings.catch_warnings():  # the same code: silent
        warnings.simplefilter("error", CodeChangedWarning)
        again = run_sweep(conf, output=tmp_path / "s.h5", workers=0, progress=False)
    assert again.n_run == 0
    monkeypatch.setattr(provenance, "source_fingerprint", lambda: "0123456789abcdef")
    with pytest.warns(CodeChangedWarning, match="started by other code"):
        resumed = run_sweep(conf, output=tmp_path / "s.h5", workers=0, progress=False)
    assert resumed.n_run == 0 and first.n_run > 0


# ------------------------------------------------------------------------ CLI
def _to_toml(cfg: dict) -> str:
    """Minimal TOML writer for the test configs (tables, arrays of tables, scalars, lists)."""
    def value(v):
        if isinstance(v, bool):
            return "true" if v else "false"
        if isinstance(v, str):
            return f'"{v}"'
        if isinstance(v, dict):
            return "{ " + ", ".join(f"{k} = {value(x)}" for k, x in v.items()) + " }"
        if isinstance(v, list):
            return "[" + ", ".join(value(x) for x in v) + "]"
        return repr(v)

    lines = []
    for name, table in cfg.items():
        if name == "axes":
            continue
        if name == "metrics":
            for m, opts in table.items():
                lines.append(f"[metrics.{m}]")
                lines += [f"{k} = {value(v)}" for k, v in opts.items()]
            continue
        lines.append(f"[{name}]")
        lines += [f"{k} = {value(v)}" for k, v in table.items()]
    for ax in cfg.get("axes", []):
        lines.append("[[axes]]")
        lines += [f"{k} = {value(v)}" for k, v in ax.items()]
    return "\n".join(lines) + "\n"


def test_cli_sweep_runs_resumes_and_checks(tmp_path, capsys):
    cfg = base_cfg()
    cfg["sweep"]["output"] = str(tmp_path / "cli.h5")
    toml = tmp_path / "cli.toml"
    toml.write_text(_to_toml(cfg))
    assert load_toml(toml)["axes"][0]["num"] == 3
    assert cli_sweep([str(toml), "--dry-run"]) == 0
    assert "3 points x 2 seeds = 6 tasks" in capsys.readouterr().out
    assert not (tmp_path / "cli.h5").exists()
    assert cli_sweep([str(toml), "--workers", "0", "--quiet"]) == 0
    out = capsys.readouterr().out
    assert "6 done, 0 failed, 0 pending (6 computed now" in out
    assert cli_sweep([str(toml), "--workers", "0", "--quiet"]) == 0
    assert "(0 computed now" in capsys.readouterr().out
    bad = tmp_path / "bad.toml"
    bad.write_text(toml.read_text().replace("momentum_noise", "momentum_nosie"))
    assert cli_sweep([str(bad)]) == 1
    assert "unknown NoisyAnalog field 'momentum_nosie'; valid fields are" in capsys.readouterr().err


@pytest.mark.parametrize("name", sorted(p.name for p in (REPO / "experiments" / "configs")
                                        .glob("sweep_*.toml")))
def test_shipped_sweep_configs_parse(name):
    from physsim.sweeps import load_sweep_config

    import math
    import tomllib

    path = REPO / "experiments" / "configs" / name
    cfg = load_sweep_config(path)
    # independent count from the TOML itself: each axis has its listed values or `num` points
    raw = tomllib.loads(path.read_text())
    sizes = [len(ax["values"]) if "values" in ax else ax["num"] for ax in raw["axes"]]
    n_points = {"grid": math.prod(sizes), "zip": min(sizes),
                "one_at_a_time": sum(sizes)}[raw["sweep"]["mode"]]
    tasks = cfg.tasks()
    assert len(tasks) == n_points * len(raw["sweep"]["seeds"])
    for ax in raw["axes"]:  # every listed value of every axis is run
        if "values" in ax:
            swept = {t.settings.get(ax["field"]) for t in tasks}
            assert set(ax["values"]) <= swept, ax["field"]


def test_results_are_consistent_with_the_physics_of_a_coupled_device(tmp_path):
    # a six-oscillator device under growing flip noise: return error grows with the noise
    cfg = parse_sweep_config({
        "sweep": {"metrics": ["echo_return_error"], "seeds": [0, 1, 2]},
        "system": {"type": "six_oscillators"},
        "simulation": {"n_steps": 200, "dt": 0.1},
        "inputs": {"kind": "sines"},
        "axes": [{"field": "flip_noise", "scale": "log", "start": 1e-6, "stop": 1e-2,
                  "num": 3}]})
    run_sweep(cfg, output=tmp_path / "six.h5", workers=0, progress=False)
    x, y = load_sweep(tmp_path / "six.h5").series("echo_return_error", "flip_noise")
    assert np.all(np.diff(np.mean(y, axis=1)) > 0)
    assert isinstance(build_problem(cfg.problem).system, CoupledOscillators)
    assert isinstance(build_problem(cfg.problem).loss, MSEReadout)


# ------------------------------------------------------------------- HSSM models
HSSM_TABLES = {"data": {"name": "synthetic_frequencies", "n_cases": 40, "length": 12},
               "model": {"hru": "linear", "n_blocks": 1, "hidden": 4, "units": 4},
               "training": {"batch_size": 8, "max_steps": 6, "eval_every": 3}}


def test_hssm_training_metric_matches_a_direct_run_and_feels_the_hardware(tmp_path):
    hssm = pytest.importorskip("physsim.hssm")
    cfg = parse_sweep_config({"sweep": {"metrics": ["hssm_training"], "seeds": [3]},
                              "hssm": HSSM_TABLES,
                              "axes": [{"field": "mismatch", "values": [0.0, 0.2]}]})
    s = run_sweep(cfg, output=tmp_path / "hssm.h5", workers=0, progress=False)
    assert s.n_done == 2, load_sweep(tmp_path / "hssm.h5").errors
    res = load_sweep(tmp_path / "hssm.h5")
    # the ideal point is an ordinary training run with the same seed
    direct = hssm.Trainer(build_problem(cfg.problem).hssm, rule="rhel", seed=3,
                          run_file=tmp_path / "direct.h5", progress=False).train()
    run = read_run(tmp_path / "direct.h5")
    np.testing.assert_array_equal(res.curves["hssm_train_loss"][0], run.history["train"]["loss"])
    assert res.column("hssm_test_metric")[0] == direct.test_metric
    assert res.column("hssm_steps")[0] == 6
    # a 20 % mismatched chip trains differently
    assert not np.array_equal(res.curves["hssm_train_loss"][1], res.curves["hssm_train_loss"][0])


def test_hssm_tables_are_checked():
    pytest.importorskip("physsim.hssm")
    bad = {**HSSM_TABLES, "model": {"hru": "linear", "hiden": 4}}
    with pytest.raises(ValueError, match=r"\[hssm.model\]: unknown key\(s\) \['hiden'\]"):
        parse_sweep_config({"sweep": {"metrics": ["hssm_training"]}, "hssm": bad})
    with pytest.raises(ValueError, match="unknown dataset 'nope'"):
        parse_sweep_config({"sweep": {"metrics": ["hssm_training"]},
                            "hssm": {"data": {"name": "nope"}, "model": {}}})
    with pytest.raises(ValueError, match=r"missing table \[hssm\]"):
        parse_sweep_config({"sweep": {"metrics": ["hssm_training"]}})
    with pytest.raises(ValueError, match=r"missing table\(s\) \['\[system\]'"):
        parse_sweep_config({"sweep": {"metrics": ["gradient_fidelity"]}, "hssm": HSSM_TABLES})


# ------------------------------------------------------------------ thresholds
def _synthetic_results(axis, means):
    """A one-axis sweep result with two seeds whose mean is ``means`` (spread +-0.001)."""
    from physsim.sweeps import SweepResults

    n = len(means)
    values = np.array([[m - 0.001] for m in means] + [[m + 0.001] for m in means])
    order = np.argsort(np.r_[np.arange(n), np.arange(n)], kind="stable")
    return SweepResults(
        path=Path("x.h5"), name="x", config={}, config_text="", mode="grid", axes=[axis],
        coordinates=np.array([[axis.coordinate(v)] for v in axis.values]),
        seeds=np.array([0, 1]), columns=["cosine/all"], values=values[order],
        curves={}, status=np.full(2 * n, DONE, np.int8), errors=[""] * 2 * n,
        warnings=[""] * 2 * n, workers=[""] * 2 * n, hardware=[""] * 2 * n,
        seconds=np.zeros(2 * n), task_point=np.repeat(np.arange(n), 2),
        task_seed=np.tile([0, 1], n))


def test_threshold_interpolates_from_the_good_end():
    from physsim.sweeps import Axis

    noise = Axis("NoisyAnalog.flip_noise", "NoisyAnalog", "flip_noise", (1e-3, 1e-2, 1e-1), "log")
    t = _synthetic_results(noise, [1.0, 0.995, 0.9]).threshold("cosine/all", "flip_noise", 0.99)
    assert t.kind == "crossing" and (t.last_good, t.first_bad) == (1e-2, 1e-1)
    assert t.value == pytest.approx(10 ** (-2 + 0.005 / 0.095), rel=1e-12)
    bits = Axis("FinitePrecision.state_bits", "FinitePrecision", "state_bits", (2, 4, 8))
    t = _synthetic_results(bits, [0.5, 0.98, 1.0]).threshold("cosine/all", "state_bits", 0.99)
    assert (t.last_good, t.first_bad) == (8, 4) and t.value == pytest.approx(6.0)
    assert _synthetic_results(bits, [0.995, 0.999, 1.0]).threshold(
        "cosine/all", 0, 0.99).kind == "above"
    assert _synthetic_results(bits, [0.1, 0.2, 0.3]).threshold(
        "cosine/all", 0, 0.99).kind == "below"
