"""The command line: demo, info, simulate, gradcheck, and clear errors for bad configs."""

from __future__ import annotations

from pathlib import Path

import h5py
import numpy as np

from physsim.cli import main

CONFIGS = Path(__file__).resolve().parents[1] / "experiments" / "configs"


def test_info(capsys):
    assert main(["info"]) == 0
    out = capsys.readouterr().out
    assert "leapfrog" in out and "yoshida4" in out


def test_simulate_writes_run_file_and_figures(tmp_path, capsys):
    assert main(["simulate", str(CONFIGS / "simulate_six_oscillators.toml"), "--out",
                 str(tmp_path), "--quiet"]) == 0
    with h5py.File(tmp_path / "trajectory.h5") as f:
        assert f["trajectory/positions"].shape == (1, 2001, 6)
    assert (tmp_path / "positions.png").stat().st_size > 1000
    assert (tmp_path / "energy_error.png").stat().st_size > 1000


def test_gradcheck_prints_agreement(capsys):
    assert main(["gradcheck", str(CONFIGS / "gradcheck_linear_hru.toml")]) == 0
    out = capsys.readouterr().out
    rows = [line.split() for line in out.splitlines() if line.startswith(("A ", "B_re", "step"))]
    assert len(rows) == 3
    for row in rows:
        assert float(row[1]) > 0.999999 and abs(float(row[2]) - 1) < 1e-6


def test_bad_config_names_the_problem(tmp_path, capsys):
    cfg = tmp_path / "bad.toml"
    cfg.write_text('[system]\ntype = "quantum_computer"\n[simulation]\nn_steps = 3\n')
    assert main(["simulate", str(cfg), "--out", str(tmp_path)]) == 1
    err = capsys.readouterr().err
    assert "unknown system type 'quantum_computer'; valid names are:" in err
    cfg.write_text('[system]\ntype = "linear_hru"\nn_units = 2\nn_inputs = 1\nfoo = 1\n'
                   '[simulation]\nn_steps = 3\n')
    assert main(["simulate", str(cfg), "--out", str(tmp_path)]) == 1
    assert "unknown key(s) ['foo']" in capsys.readouterr().err
    assert main(["simulate", str(tmp_path / "missing.toml")]) == 1


def test_demo_quick(tmp_path, capsys):
    assert main(["demo", "--quick", "--quiet", "--out", str(tmp_path)]) == 0
    out = capsys.readouterr().out
    assert "RHEL vs BPTT" in out
    with h5py.File(tmp_path / "demo_run.h5") as f:
        runs = list(f["training"])
        assert any(r.startswith("RHEL") for r in runs) and any(r.startswith("BPTT") for r in runs)
        for r in runs:
            loss = f["training"][r]["loss"][()]
            assert np.all(np.isfinite(loss))
        ideal = f["training"]["RHEL, ideal device"]
        assert ideal.attrs["final_loss"] < 0.5 * ideal["loss"][0]
        # the six oscillators are linear: RHEL and BPTT give the same steps
        np.testing.assert_allclose(ideal["loss"][()],
                                   f["training"]["BPTT, ideal device"]["loss"][()], rtol=1e-8)
        chip = [r for r in runs if r.startswith("RHEL") and r != "RHEL, ideal device"]
        assert chip and np.isfinite(f["training"][chip[0]].attrs["final_loss"])
    for name in ("positions", "energy_error", "echo_trajectories", "learning_curves"):
        assert (tmp_path / f"{name}.png").stat().st_size > 1000
