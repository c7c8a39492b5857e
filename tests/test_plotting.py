"""Every plotting function on real results: non-empty figures, labelled axes, the data drawn
is the data computed; ``physsim plot`` on sweep, trajectory, demo and HSSM run files."""

from __future__ import annotations

import io

import numpy as np
import pytest
from matplotlib.collections import PolyCollection
from matplotlib.figure import Figure

from physsim import plotting as pl
from physsim import simulate
from physsim.examples import six_oscillator_drive, six_oscillators
from physsim.losses import MSEReadout
from physsim.rhel import rhel_gradient
from physsim.storage import read_run, save_trajectory
from physsim.sweeps import load_sweep, parse_sweep_config, run_sweep
from physsim.sweeps.cli import cli_plot, standard_figures

pytest.importorskip("hardware_models")


def check_figure(fig: Figure) -> None:
    """Non-empty, every visible panel labelled, and it renders."""
    assert isinstance(fig, Figure)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert panels
    for ax in panels:
        assert ax.get_xlabel().strip() and ax.get_ylabel().strip(), ax.get_title()
        data = [ln for ln in ax.get_lines() if np.size(ln.get_xdata()) > 1] + ax.collections
        assert data, f"empty panel {ax.get_title()!r}"
    buf = io.BytesIO()
    fig.savefig(buf, format="png")
    assert buf.tell() > 5000


def line(ax, label):
    for ln in ax.get_lines():
        if ln.get_label() == label:
            return ln
    raise AssertionError(f"no line {label!r}; lines: {[x.get_label() for x in ax.get_lines()]}")


GRID = {
    "sweep": {"mode": "grid", "seeds": [0, 1],
              "metrics": ["gradient_fidelity", "echo_return_error", "energy_drift", "training"]},
    "system": {"type": "linear_hru", "n_units": 4, "n_inputs": 1, "seed": 1},
    "simulation": {"n_steps": 40, "batch": 2},
    "loss": {"kind": "mse", "n_outputs": 1},
    "axes": [{"field": "preset", "values": ["ideal", "fixed_point_16_reversible"]},
             {"field": "momentum_noise", "scale": "log", "start": 1e-4, "stop": 1e-2, "num": 3}],
    "metrics": {"training": {"steps": 4, "lr": 0.02}},
}


@pytest.fixture(scope="module")
def sweeps(tmp_path_factory):
    """A grid sweep (preset x noise) and two one-at-a-time sweeps on different devices."""
    d = tmp_path_factory.mktemp("sweeps")
    run_sweep(parse_sweep_config(GRID), output=d / "grid.h5", workers=0, progress=False)
    one = {"sweep": {"mode": "one_at_a_time", "seeds": [0, 1, 2],
                     "metrics": ["gradient_fidelity"]},
           "simulation": {"n_steps": 40, "batch": 2}, "loss": {"kind": "mse", "n_outputs": 1},
           "axes": [{"field": "flip_noise", "scale": "log", "start": 1e-5, "stop": 1e-1,
                     "num": 3},
                    {"field": "FinitePrecision.input_bits", "values": [3, 6, 12],
                     "fixed": {"input_range": 4.0}}]}
    out = {}
    for name, system in (("linear", {"type": "linear_hru", "n_units": 4, "n_inputs": 1}),
                         ("nonlinear", {"type": "nonlinear_hru", "n_units": 4, "n_inputs": 1,
                                        "step": 0.1})):
        run_sweep(parse_sweep_config({**one, "system": system}), output=d / f"{name}.h5",
                  workers=0, progress=False)
        out[name] = load_sweep(d / f"{name}.h5")
    return {"grid": load_sweep(d / "grid.h5"), **out, "dir": d}


# ---------------------------------------------------------------- sweep figures
def test_sweep_curves_one_line_per_tensor_draws_the_seed_means(sweeps):
    res = sweeps["grid"]
    fig = pl.plot_sweep_curves(res, "cosine", axis="momentum_noise", lines="tensor",
                               where={"preset": "ideal"}, threshold=0.99)
    check_figure(fig)
    ax = fig.axes[0]
    assert ax.get_xscale() == "log"
    # independent of SweepResults.series: pick the rows by hand
    col = res.columns.index("cosine/step")
    ideal = res.axes[0].values.index("ideal")
    noise = np.array(res.axes[1].values)
    expected = []
    for v in noise:
        pts = [p for p in range(res.n_points) if res.coordinates[p, 0] == ideal
               and res.coordinates[p, 1] == v]
        rows = [t for t in range(len(res.status)) if res.task_point[t] in pts]
        expected.append(np.mean(res.values[rows, col]))
    ln = line(ax, "step")
    np.testing.assert_allclose(ln.get_xdata(), noise)
    np.testing.assert_allclose(ln.get_ydata(), expected, rtol=0, atol=0)
    assert len(ax.get_lines()) == 4 + 1  # A, step, B_re, all, and the threshold
    # the band spans +- one standard deviation across the two seeds
    bands = [c for c in ax.collections if isinstance(c, PolyCollection)]
    assert len(bands) == 4


def test_sweep_curves_one_line_per_preset(sweeps):
    res = sweeps["grid"]
    fig = pl.plot_sweep_curves(res, "echo_return_error", axis="momentum_noise", lines="preset",
                               logy=True, spread="minmax")
    check_figure(fig)
    ax = fig.axes[0]
    assert {ln.get_label() for ln in ax.get_lines()} - {pl.SATURATED_LABEL} == {
        "preset = ideal", "preset = fixed_point_16_reversible"}
    assert ax.get_yscale() == "log"
    # noise on the momenta breaks the echo: the return error grows with the noise
    assert np.all(np.diff(line(ax, "preset = ideal").get_ydata()) > 0)


def test_sweep_curves_need_an_axis_and_valid_names(sweeps):
    with pytest.raises(ValueError, match="choose one with axis="):
        pl.plot_sweep_curves(sweeps["grid"], "cosine/all")
    with pytest.raises(ValueError, match="unknown column"):
        pl.plot_sweep_curves(sweeps["grid"], "cosinus", axis="momentum_noise",
                             where={"preset": "ideal"})
    with pytest.raises(ValueError, match="unknown spread"):
        pl.plot_sweep_curves(sweeps["linear"], "cosine/all", axis="flip_noise", spread="iqr")
    with pytest.raises(ValueError, match="several points share"):
        pl.plot_sweep_curves(sweeps["grid"], "cosine/all", axis="momentum_noise")


def test_sweep_overview_one_panel_per_knob_and_line_per_device(sweeps):
    fig = pl.plot_sweep_overview({"LinearHRU": sweeps["linear"],
                                  "NonlinearHRU": sweeps["nonlinear"]}, "cosine/all",
                                 threshold=0.99, one_minus=True, logy=True, spread="minmax")
    check_figure(fig)
    panels = [ax for ax in fig.axes if ax.get_visible()]
    assert len(panels) == 2
    assert {ln.get_label() for ln in panels[0].get_lines()} >= {"LinearHRU", "NonlinearHRU"}
    x, y = sweeps["nonlinear"].series("cosine/all", "input_bits")
    np.testing.assert_allclose(line(panels[1], "NonlinearHRU").get_ydata(), 1 - y.mean(axis=1))
    fig = pl.plot_sweep_overview(sweeps["grid"], "norm_ratio", lines="tensor")
    check_figure(fig)


def test_training_curves_from_a_sweep_and_from_arrays(sweeps):
    res = sweeps["grid"]
    fig = pl.plot_training_curves(res, axis="momentum_noise", where={"preset": "ideal"})
    check_figure(fig)
    groups = res.curve_groups("train_loss", "momentum_noise", {"preset": "ideal"})
    assert len(fig.axes[0].get_lines()) == len(groups) == 3
    label, curves = next(iter(groups.items()))
    np.testing.assert_allclose(line(fig.axes[0], label).get_ydata(), curves.mean(axis=0))
    # training lowers the loss at small noise
    assert np.all(curves[:, -1] < curves[:, 0])
    fig = pl.plot_training_curves({"RHEL": np.array([[3.0, 2.0, 1.0], [3.5, 2.5, 1.5]]),
                                   "BPTT": [3.0, 1.9, 1.1]}, steps={"BPTT": [10, 20, 30]})
    check_figure(fig)
    np.testing.assert_allclose(line(fig.axes[0], "BPTT").get_xdata(), [10, 20, 30])


# ------------------------------------------------------------- physics figures
@pytest.fixture(scope="module")
def trajectory():
    return simulate(six_oscillators(), np.full(6, 0.3), None, n_steps=400, dt=0.1,
                    record_every=2, record_energy=True)


def test_positions_phase_portrait_energy(trajectory):
    for fig in (pl.plot_positions(trajectory, unit="m"), pl.plot_phase_portrait(trajectory),
                pl.plot_energy_error(trajectory, driven=False),
                pl.plot_energy(trajectory.times, trajectory.energy, time_unit="s",
                               energy_unit="J")):
        check_figure(fig)
    fig = pl.plot_energy(trajectory.times, trajectory.energy)
    np.testing.assert_allclose(fig.axes[0].get_lines()[0].get_ydata(), trajectory.energy[0])
    fig = pl.plot_phase_portrait(trajectory, dofs=[2])
    ln = fig.axes[0].get_lines()[0]
    np.testing.assert_allclose(ln.get_xdata(), trajectory.positions[0, :, 2])
    np.testing.assert_allclose(ln.get_ydata(), trajectory.momenta[0, :, 2])


def test_echo_trajectories_show_the_passes_and_the_gap():
    dev = six_oscillators()
    u = six_oscillator_drive(120, 0.1)
    target = simulate(six_oscillators("teacher"), np.zeros(6), None, u, dt=0.1, record_every=1)
    readout = np.zeros((1, 6))
    readout[0, 3] = 1.0
    loss = MSEReadout(readout, target.positions[:, 1:, 3:4])
    g = rhel_gradient(dev, np.zeros(6), None, u, loss, dt=0.1, record_echoes=True)
    echo = g.info["echo_positions"]
    fig = pl.plot_echo_trajectories(echo, dof=3, dt=0.1, time_unit="s")
    check_figure(fig)
    top, bottom = fig.axes
    labels = {ln.get_label() for ln in top.get_lines()}
    assert labels == {"forward", "echo (+eps)", "echo (-eps)", "time-reversed forward"}
    gap = line(bottom, "echo(+) - echo(-)").get_ydata()
    np.testing.assert_allclose(gap, (echo["plus"][0, :, 3] - echo["minus"][0, :, 3])[::-1])
    assert np.max(np.abs(gap)) > 0  # the nudges break the time-reversal symmetry


def test_learning_curves():
    fig = pl.plot_training_curves({"RHEL": [1.0, 0.5, 0.2], "BPTT": [1.0, 0.4, 0.1]},
                                  spread="none")
    check_figure(fig)


# ----------------------------------------------------------------- physsim plot
def test_physsim_plot_on_sweep_and_trajectory_files(sweeps, trajectory, tmp_path, capsys):
    figs = standard_figures(sweeps["dir"] / "grid.h5")
    assert {"gradient_cosine", "gradient_norm_ratio", "echo_return_error", "energy_drift",
            "training_final_loss"} <= set(figs)
    for fig in figs.values():
        check_figure(fig)
    assert cli_plot([str(sweeps["dir"] / "linear.h5"), "--out", str(tmp_path / "lin")]) == 0
    assert (tmp_path / "lin" / "gradient_cosine.png").stat().st_size > 5000
    path = save_trajectory(tmp_path / "traj.h5", trajectory)
    assert cli_plot([str(path), "--out", str(tmp_path / "traj")]) == 0
    written = sorted(p.name for p in (tmp_path / "traj").iterdir())
    assert written == ["energy.png", "energy_error.png", "phase_portrait.png", "positions.png"]
    bad = tmp_path / "other.h5"
    import h5py

    with h5py.File(bad, "w") as f:
        f.attrs["kind"] = "mystery"
    assert cli_plot([str(bad)]) == 1
    assert "no standard figures for a file of kind 'mystery'; known kinds are" in \
        capsys.readouterr().err


def test_physsim_plot_on_demo_and_hssm_run_files(tmp_path):
    from physsim.demo import run_demo

    files = run_demo(tmp_path / "demo", n_steps=60, train_steps=2, hardware=None,
                     progress=False)
    figs = standard_figures(files["run"])
    assert set(figs) == {"positions", "energy", "echo_trajectories", "learning_curves"}
    for fig in figs.values():
        check_figure(fig)
    hssm = pytest.importorskip("physsim.hssm")
    cfg = tmp_path / "hssm.toml"
    cfg.write_text('[data]\nname = "synthetic_frequencies"\nn_cases = 40\nlength = 12\n'
                   '[model]\nhru = "linear"\nn_blocks = 1\nhidden = 4\nunits = 4\n'
                   '[training]\nbatch_size = 8\nmax_steps = 6\neval_every = 2\n')
    assert hssm.cli_train([str(cfg), "--rule", "rhel", "--out", str(tmp_path / "run.h5"),
                           "--quiet"]) == 0
    figs = standard_figures(tmp_path / "run.h5")
    assert set(figs) == {"loss", "metric"}
    for fig in figs.values():
        check_figure(fig)
    run = read_run(tmp_path / "run.h5")
    val = line(figs["loss"].axes[0], "validation")
    np.testing.assert_allclose(val.get_xdata(), run.history["eval"]["step"])
    np.testing.assert_allclose(val.get_ydata(), run.history["eval"]["val_loss"])
