"""Outputs a user can rely on (issue 13, points 3, 4 and 7).

3. Every command checks that it can write its outputs before any work, and an
   operating-system error is one line naming the path and the cause; nothing
   already written is lost or left half-written.
4. Sweep workers end with a killed sweep; an unreachable Dask scheduler is a
   one-line error after a timeout the user sets.
7. Figures say what a reader must know at a glance (coinciding curves, driven
   energy, which degrees of freedom, saturated sweep points, status codes).
"""

from __future__ import annotations

import errno
import os
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import psutil
import pytest

import physsim.storage.paths as paths
from physsim import plotting as pl
from physsim.cli import main
from physsim.examples import six_oscillator_drive, six_oscillators
from physsim.simulate import simulate
from physsim.sweeps.cli import STATUS_MEANINGS, standard_figures
from physsim.sweeps.results import load_sweep

ROOT = Path(__file__).resolve().parents[1]
CONFIGS = ROOT / "experiments" / "configs"

SIMULATE_TOML = """
[system]
type = "six_oscillators"

[simulation]
n_steps = 200
dt = 0.1
record_every = 1
record_energy = true

[inputs]
kind = "{inputs}"

[initial_state]
kind = "random"
scale = 0.5
"""

SWEEP_TOML = """
[sweep]
name = "outputs"
output = "{out}"
seeds = [0, 1]
metrics = ["gradient_fidelity"]

[system]
type = "linear_hru"
n_units = 6
n_inputs = 2
seed = 3

[simulation]
n_steps = {n_steps}
batch = 2

[loss]
kind = "mse"
n_outputs = 2

[hardware.FinitePrecision]
input_bits = 8

[[axes]]
field = "FinitePrecision.input_range"
values = {values}
"""


def one_line_error(err: str) -> str:
    """The single line a failed command printed (no traceback)."""
    lines = [ln for ln in err.splitlines() if ln.strip()]
    assert "Traceback" not in err, err
    assert len(lines) == 1, err
    return lines[0]


def forbid(monkeypatch, target: str, what: str) -> None:
    """Make ``target`` (module:attribute) fail the test if the command reaches it."""
    module, attr = target.split(":")

    def refuse(*args, **kwargs):
        raise AssertionError(f"{what} started although its output cannot be written")

    monkeypatch.setattr(sys.modules[module] if module in sys.modules
                        else __import__(module, fromlist=[attr]), attr, refuse)


@pytest.fixture()
def simulate_toml(tmp_path):
    path = tmp_path / "six.toml"
    path.write_text(SIMULATE_TOML.format(inputs="sines"))
    return path


# ------------------------------------------------------------ 3. output paths
def command_cases(tmp_path: Path, simulate_toml: Path, bad: Path) -> dict:
    """Each writing command with its output under ``bad``, and the work it must not start."""
    sweep_toml = tmp_path / "sweep.toml"
    sweep_toml.write_text(SWEEP_TOML.format(out=tmp_path / "s.h5", n_steps=60,
                                            values="[0.1, 10.0]"))
    return {
        "simulate": (["simulate", str(simulate_toml), "--out", str(bad), "--quiet"],
                     "physsim.simulate:simulate"),
        "demo": (["demo", "--quick", "--quiet", "--out", str(bad)], "physsim.demo:simulate"),
        "train": (["train", str(CONFIGS / "hssm_synthetic.toml"), "--rule", "rhel", "--out",
                   str(bad / "run.h5"), "--quiet"], "physsim.hssm.cli:Trainer"),
        "sweep": (["sweep", str(sweep_toml), "--workers", "0", "--quiet", "--out",
                   str(bad / "s.h5")], "physsim.sweeps.runner:build_problem"),
        "plot": (["plot", str(tmp_path / "any.h5"), "--out", str(bad)],
                 "physsim.sweeps.cli:standard_figures"),
    }


@pytest.mark.parametrize("command", ["simulate", "demo", "train", "sweep", "plot"])
def test_unwritable_output_fails_before_the_work_in_one_line(command, tmp_path, simulate_toml,
                                                             monkeypatch, capsys):
    blocker = tmp_path / "a_file"
    blocker.write_text("not a folder")
    bad = blocker / "out"  # a folder under a regular file: ENOTDIR
    argv, work = command_cases(tmp_path, simulate_toml, bad)[command]
    import physsim.demo  # noqa: F401 (so that the forbidden names resolve)
    import physsim.hssm.cli  # noqa: F401
    import physsim.sweeps.runner  # noqa: F401

    forbid(monkeypatch, work, command)
    assert main(argv) != 0
    line = one_line_error(capsys.readouterr().err)
    assert line.startswith(f"physsim {command}: error: cannot write {bad}")
    assert "Not a directory" in line
    assert blocker.read_text() == "not a folder"


def test_simulate_into_dev_null_fails_at_once(simulate_toml, monkeypatch, capsys):
    forbid(monkeypatch, "physsim.simulate:simulate", "simulate")
    t0 = time.perf_counter()
    assert main(["simulate", str(simulate_toml), "--out", "/dev/null/x"]) == 1
    assert time.perf_counter() - t0 < 5
    line = one_line_error(capsys.readouterr().err)
    assert line == "physsim simulate: error: cannot write /dev/null/x: Not a directory"


@pytest.mark.skipif(os.geteuid() == 0, reason="root writes into read-only folders")
def test_read_only_folder_is_named_with_its_cause(tmp_path, simulate_toml, monkeypatch, capsys):
    folder = tmp_path / "ro"
    folder.mkdir()
    folder.chmod(0o555)
    try:
        forbid(monkeypatch, "physsim.simulate:simulate", "simulate")
        assert main(["simulate", str(simulate_toml), "--out", str(folder)]) == 1
        line = one_line_error(capsys.readouterr().err)
        assert f"cannot write {folder}: Permission denied" in line
        assert list(folder.iterdir()) == []
    finally:
        folder.chmod(0o755)


class _FullDisk:
    """Stands for the ``os`` module of physsim.storage.paths: every write finds the disk full."""

    def __getattr__(self, name):
        return getattr(os, name)

    @staticmethod
    def write(fd, data):
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))


@pytest.mark.parametrize("code", [errno.EROFS, errno.EACCES, errno.EDQUOT])
def test_a_folder_that_refuses_new_files_is_named_with_the_cause(code, tmp_path, simulate_toml,
                                                                 monkeypatch, capsys):
    """Read-only file system, no permission, quota: as the kernel reports them (root or not)."""

    class Refusing:
        @staticmethod
        def mkstemp(prefix, dir):
            raise OSError(code, os.strerror(code), os.path.join(dir, prefix + "x"))

    folder = tmp_path / "folder"
    folder.mkdir()
    monkeypatch.setattr(paths, "tempfile", Refusing())
    forbid(monkeypatch, "physsim.simulate:simulate", "simulate")
    assert main(["simulate", str(simulate_toml), "--out", str(folder)]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert line == f"physsim simulate: error: cannot write {folder}: {os.strerror(code)}"


def test_full_disk_is_found_before_the_run_and_keeps_existing_outputs(
        tmp_path, simulate_toml, monkeypatch, capsys):
    out = tmp_path / "out"
    assert main(["simulate", str(simulate_toml), "--out", str(out), "--quiet"]) == 0
    before = {p.name: p.read_bytes() for p in out.iterdir()}
    assert {"trajectory.h5", "positions.png", "energy_error.png"} <= set(before)
    capsys.readouterr()
    monkeypatch.setattr(paths, "os", _FullDisk())
    forbid(monkeypatch, "physsim.simulate:simulate", "simulate")
    assert main(["simulate", str(simulate_toml), "--out", str(out)]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert line == f"physsim simulate: error: cannot write {out}: No space left on device"
    after = {p.name: p.read_bytes() for p in out.iterdir()}
    assert after == before  # nothing lost, no probe or partial file left


def test_disk_full_while_writing_a_figure_keeps_the_old_figure(tmp_path, simulate_toml,
                                                               monkeypatch, capsys):
    from matplotlib.figure import Figure

    out = tmp_path / "out"
    assert main(["simulate", str(simulate_toml), "--out", str(out), "--quiet"]) == 0
    old_png = (out / "positions.png").read_bytes()
    capsys.readouterr()

    def half_write(self, fname, **kwargs):
        Path(fname).write_bytes(b"\x89PNG half")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC), str(fname))

    monkeypatch.setattr(Figure, "savefig", half_write)
    assert main(["simulate", str(simulate_toml), "--out", str(out), "--quiet"]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert "No space left on device" in line and str(out) in line
    assert (out / "positions.png").read_bytes() == old_png
    assert not [p for p in out.iterdir() if "partial" in p.name]


def test_sweep_with_unwritable_results_file_leaves_the_old_file(tmp_path, monkeypatch, capsys):
    toml = tmp_path / "sweep.toml"
    out = tmp_path / "s.h5"
    toml.write_text(SWEEP_TOML.format(out=out, n_steps=60, values="[0.1, 10.0]"))
    assert main(["sweep", str(toml), "--workers", "0", "--quiet"]) == 0
    before = out.read_bytes()
    capsys.readouterr()
    monkeypatch.setattr(paths, "os", _FullDisk())
    forbid(monkeypatch, "physsim.sweeps.runner:build_problem", "sweep")
    assert main(["sweep", str(toml), "--workers", "0", "--quiet", "--overwrite"]) == 1
    line = one_line_error(capsys.readouterr().err)
    assert line == f"physsim sweep: error: cannot write {out}: No space left on device"
    assert out.read_bytes() == before


def test_hdf5_errors_become_one_line_with_path_and_cause(tmp_path):
    import h5py

    (tmp_path / "a_file").write_text("")
    target = tmp_path / "a_file" / "run.h5"
    with pytest.raises(OSError) as info:
        h5py.File(target, "w")
    assert paths.os_error_message(info.value) == f"{target}: Not a directory"


# ------------------------------------------------------- 4. process lifecycle
def live_descendants(processes) -> list:
    return [p for p in processes if p.is_running() and p.status() != psutil.STATUS_ZOMBIE]


def test_killed_sweep_takes_its_workers_along(tmp_path):
    out = tmp_path / "long.h5"
    toml = tmp_path / "long.toml"
    values = "[" + ", ".join(str(v) for v in np.geomspace(0.1, 10.0, 16)) + "]"
    toml.write_text(SWEEP_TOML.format(out=out, n_steps=40000, values=values))
    cmd = [sys.executable, "-m", "physsim.cli", "sweep", str(toml), "--workers", "2",
           "--quiet"]
    proc = subprocess.Popen(cmd, cwd=tmp_path, start_new_session=True,
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)
    descendants: list = []
    try:
        parent = psutil.Process(proc.pid)
        deadline = time.time() + 120
        while time.time() < deadline and proc.poll() is None:
            descendants = parent.children(recursive=True)
            workers = [p for p in descendants if p.pid != proc.pid]
            if len(workers) >= 2 and out.exists():
                break
            time.sleep(0.1)
        time.sleep(2.0)  # the workers are busy with tasks now
        descendants = parent.children(recursive=True)
        assert proc.poll() is None, f"the sweep ended before the kill: {proc.stderr.read()}"
        assert len(descendants) >= 2
        proc.send_signal(signal.SIGKILL)  # only the sweep process, as a crash would
        proc.wait()
        deadline = time.time() + 10
        while live_descendants(descendants) and time.time() < deadline:
            time.sleep(0.1)
        alive = live_descendants(descendants)
        assert not alive, f"still running 10 s after the sweep died: {alive}"
    finally:
        for p in live_descendants(descendants):
            p.kill()
        if proc.poll() is None:
            proc.kill()
            proc.wait()


def test_worker_watchdog_follows_the_sweep_process_not_its_parent():
    """A forkserver worker's parent is the fork server: the watchdog follows the sweep itself."""
    sweep = subprocess.Popen([sys.executable, "-c", "import time; time.sleep(120)"])
    code = ("import sys, time\n"
            "from physsim.sweeps.executors import _exit_with_parent\n"
            f"_exit_with_parent({sweep.pid})\n"
            "print('guarded', flush=True)\n"
            "time.sleep(120)\n")
    worker = subprocess.Popen([sys.executable, "-c", code], stdout=subprocess.PIPE, text=True)
    try:
        assert worker.stdout.readline().strip() == "guarded"
        assert worker.poll() is None  # the sweep lives: the worker waits for tasks
        sweep.kill()
        sweep.wait()
        t0 = time.time()
        assert worker.wait(timeout=10) != 0
        assert time.time() - t0 < 5
    finally:
        for p in (sweep, worker):
            if p.poll() is None:
                p.kill()
                p.wait()


def test_unreachable_scheduler_is_one_line_after_the_timeout(tmp_path, capsys):
    pytest.importorskip("distributed")
    toml = tmp_path / "sweep.toml"
    out = tmp_path / "s.h5"
    toml.write_text(SWEEP_TOML.format(out=out, n_steps=60, values="[0.1, 10.0]"))
    t0 = time.perf_counter()
    assert main(["sweep", str(toml), "--scheduler", "tcp://127.0.0.1:1", "--connect-timeout",
                 "1.5", "--quiet"]) == 1
    assert time.perf_counter() - t0 < 15
    line = one_line_error(capsys.readouterr().err)
    assert "cannot reach the Dask scheduler at tcp://127.0.0.1:1 within 1.5 s" in line
    assert "--connect-timeout" in line
    assert not out.exists()  # nothing written for a sweep that never started


# ------------------------------------------------------------------ 7. figures
def test_coinciding_curves_are_said_and_both_visible():
    base = np.geomspace(1.0, 1e-2, 40)
    fig = pl.plot_training_curves({"RHEL": base, "noisy": 2 * base, "BPTT": base * (1 + 3e-9)},
                                  spread="none")
    ax = fig.axes[0]
    rhel, noisy, bptt = (next(ln for ln in ax.get_lines() if ln.get_label().startswith(name))
                         for name in ("RHEL", "noisy", "BPTT"))
    assert bptt.get_linestyle() != rhel.get_linestyle()
    assert rhel.get_linewidth() > 2 * bptt.get_linewidth()  # the wide line shows around it
    assert bptt.get_zorder() > rhel.get_zorder()
    texts = [t.get_text() for t in ax.texts]
    assert texts == ["RHEL and BPTT coincide to 3e-09 (max relative difference)"]
    assert noisy.get_linestyle() == "-" and noisy.get_linewidth() < rhel.get_linewidth()
    # several curves on one: one note for the group
    fig = pl.plot_training_curves({"a": base, "b": base, "c": base * (1 + 1e-6), "d": 3 * base},
                                  spread="none")
    assert [t.get_text() for t in fig.axes[0].texts] == [
        "a, b and c coincide to 1e-06 (max relative difference)"]
    # curves apart by more than a line width are drawn plainly, without a note
    fig = pl.plot_training_curves({"RHEL": base, "BPTT": base * 1.05}, spread="none")
    assert not fig.axes[0].texts
    assert len({ln.get_linestyle() for ln in fig.axes[0].get_lines()}) == 1


@pytest.fixture(scope="module")
def demo_run(tmp_path_factory):
    out = tmp_path_factory.mktemp("demo")
    assert main(["demo", "--quick", "--quiet", "--out", str(out)]) == 0
    return out / "demo_run.h5"


def test_demo_learning_curves_say_rhel_and_bptt_coincide(demo_run):
    ax = standard_figures(demo_run)["learning_curves"].axes[0]
    texts = [t.get_text() for t in ax.texts]
    assert len(texts) == 1
    assert texts[0].startswith("RHEL, ideal device and BPTT, ideal device coincide")
    labels = [ln.get_label() for ln in ax.get_lines()]
    assert "BPTT, ideal device (dashed, on RHEL, ideal device)" in labels
    assert len(labels) == 3  # ideal RHEL, RHEL on the chip, BPTT


def test_energy_figure_says_a_driven_system_does_not_conserve_energy(tmp_path, capsys):
    for inputs in ("sines", "zeros"):
        toml = tmp_path / f"{inputs}.toml"
        toml.write_text(SIMULATE_TOML.format(inputs=inputs))
        assert main(["simulate", str(toml), "--out", str(tmp_path / inputs), "--quiet"]) == 0
        title = standard_figures(tmp_path / inputs / "trajectory.h5")["energy_error"] \
            .axes[0].get_title()
        if inputs == "sines":
            assert "not conserved" in title and "work of the drive" in title
        else:
            assert title.startswith("energy conservation")


def test_energy_figure_names_a_non_ideal_hardware_model():
    from physsim.hardware import preset_names

    if "discrete_lc" not in preset_names():
        pytest.skip("hardware_models not installed")
    traj = simulate(six_oscillators(), np.full(6, 0.5), None, n_steps=100, dt=0.1,
                    record_every=1, record_energy=True, hardware="discrete_lc")
    title = pl.plot_energy_error(traj, driven=False, hardware="discrete_lc").axes[0].get_title()
    assert "non-ideal" in title and "energy conservation" not in title


def test_phase_portrait_says_which_degrees_of_freedom_it_shows():
    u = six_oscillator_drive(100, 0.1)
    traj = simulate(six_oscillators(), np.zeros(6), None, u, dt=0.1, record_every=1)
    ax = pl.plot_phase_portrait(traj).axes[0]
    assert "showing 4 of 6 degrees of freedom: 1-4" in ax.get_title()
    assert [ln.get_label() for ln in ax.get_lines()] == [
        f"dof {i} (q{i}, p{i})" for i in range(1, 5)]
    ax = pl.plot_phase_portrait(traj, dofs=[0, 5]).axes[0]
    assert "showing 2 of 6 degrees of freedom: 1, 6" in ax.get_title()


def test_saturated_sweep_points_are_reported_and_marked(tmp_path, capsys):
    toml = tmp_path / "sat.toml"
    out = tmp_path / "sat.h5"
    toml.write_text(SWEEP_TOML.format(out=out, n_steps=60, values="[0.1, 10.0]"))
    assert main(["sweep", str(toml), "--workers", "0", "--quiet"]) == 0
    printed = capsys.readouterr().out
    assert "2 done task(s) saturated" in printed
    assert "input_range = 0.1, seed 0): SaturationWarning: the input DAC saturated" in printed
    assert "input_range = 10" not in printed  # a full scale of 10 never clips
    res = load_sweep(out)
    np.testing.assert_array_equal(res.saturated, res.coordinates[res.task_point, 0] == 0.1)
    fig = standard_figures(out)["gradient_cosine"]
    marks = [ln for ax in fig.axes for ln in ax.get_lines()
             if ln.get_label().lstrip("_") == pl.SATURATED_LABEL]
    assert marks and all(ln.get_marker() == "x" for ln in marks)
    assert all(list(ln.get_xdata()) == [0.1] for ln in marks)
    assert pl.SATURATED_LABEL in [t.get_text() for t in fig.legends[0].get_texts()]


def test_saturated_points_end_their_training_curves_with_a_mark(tmp_path, capsys):
    toml = tmp_path / "train.toml"
    out = tmp_path / "train.h5"
    toml.write_text(SWEEP_TOML.format(out=out, n_steps=60, values="[0.1, 10.0]")
                    .replace('metrics = ["gradient_fidelity"]', 'metrics = ["training"]'))
    assert main(["sweep", str(toml), "--workers", "0", "--quiet"]) == 0
    ax = pl.plot_training_curves(load_sweep(out), axis="input_range").axes[0]
    saturated = next(ln for ln in ax.get_lines() if ln.get_label() == "input_range = 0.1")
    marks = [ln for ln in ax.get_lines() if ln.get_label().lstrip("_") == pl.SATURATED_LABEL]
    assert len(marks) == 1 and marks[0].get_marker() == "x"
    assert list(marks[0].get_xdata()) == [saturated.get_xdata()[-1]]
    assert list(marks[0].get_ydata()) == [saturated.get_ydata()[-1]]


def test_physsim_plot_prints_the_status_legend(tmp_path, capsys):
    toml = tmp_path / "sat.toml"
    out = tmp_path / "sat.h5"
    toml.write_text(SWEEP_TOML.format(out=out, n_steps=60, values="[0.1, 10.0]"))
    assert main(["sweep", str(toml), "--workers", "0", "--quiet"]) == 0
    capsys.readouterr()
    assert main(["plot", str(out), "--out", str(tmp_path / "figs")]) == 0
    printed = capsys.readouterr().out
    for code, (name, meaning) in STATUS_MEANINGS.items():
        count = 4 if name == "done" else 0
        assert f"  {code} {name:<8}{count:>6}  {meaning}" in printed
    assert "    saturated     2  (done)" in printed
