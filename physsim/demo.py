"""The main job: a six-oscillator device simulated, then trained by RHEL (``physsim demo``).

1. Simulate the paper's six coupled oscillators under a drive on oscillator 1;
   save positions and the energy error.
2. Learn the masses and springs by RHEL so that oscillator 4 tracks the output
   of a *teacher* device of the same topology: check the first RHEL gradient
   against BPTT, train with Adam under the ideal device and under a realistic
   hardware preset, and train the same student by BPTT for comparison.
3. Write one HDF5 run file and the figures into one folder and print a summary.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from .bptt import bptt_gradient, loss_of
from .examples import SIX_OSC_OUTPUT, six_oscillator_drive, six_oscillator_springs, six_oscillators
from .gradients import compare
from .hardware import get_preset, preset_names
from .insitu import Parametrisation, train_in_situ
from .losses import MSEReadout
from .plotting import (plot_echo_trajectories, plot_energy_error, plot_positions,
                       plot_training_curves, save_figure)
from .rhel import rhel_gradient
from .simulate import simulate
from .storage import DemoRecord, DemoTraining, check_writable, write_demo_run
from .systems.coupled import CoupledOscillators, springs_to_stiffness, stiffness_gradient_to_springs

DT = 0.1  # s; the fastest normal mode has omega ~ 1.6 rad/s, so omega dt ~ 0.16


@dataclass
class SpringParametrisation(Parametrisation):
    """Log-parametrised masses and springs of a fixed spring topology.

    Trainable values are ``log_masses`` (n,), ``log_ground`` (n,) and
    ``log_coupling`` (number of pairwise springs,), so every physical value
    stays positive; the input matrix is fixed.
    """

    pairs: tuple[tuple[int, int], ...]
    input_matrix: np.ndarray

    def to_system(self, theta: dict[str, np.ndarray]) -> CoupledOscillators:
        """The six-oscillator device of these log-masses and log-springs."""
        n = theta["log_masses"].size
        coupling = np.zeros((n, n))
        for (i, j), v in zip(self.pairs, np.exp(theta["log_coupling"])):
            coupling[i, j] = v
        return CoupledOscillators(mass=np.exp(theta["log_masses"]),
                                  stiffness=springs_to_stiffness(np.exp(theta["log_ground"]),
                                                                 coupling),
                                  input_matrix=self.input_matrix)

    def chain(self, theta: dict[str, np.ndarray], grads: dict[str, np.ndarray]
              ) -> dict[str, np.ndarray]:
        """Gradients of the log-parameters from mass and stiffness gradients."""
        g_ground, g_coupling = stiffness_gradient_to_springs(grads["stiffness"])
        g_pairs = np.array([g_coupling[i, j] for i, j in self.pairs])
        return {"log_masses": grads["mass"] * np.exp(theta["log_masses"]),
                "log_ground": g_ground * np.exp(theta["log_ground"]),
                "log_coupling": g_pairs * np.exp(theta["log_coupling"])}


def _initial_theta(springs: dict[str, np.ndarray], pairs) -> dict[str, np.ndarray]:
    return {"log_masses": np.log(springs["masses"]),
            "log_ground": np.log(springs["ground_springs"]),
            "log_coupling": np.log([springs["coupling_springs"][i, j] for i, j in pairs])}


def _train(label, rule, parametrisation, theta0, u, loss, *, steps, lr, hardware=None, seed=0,
           progress=True) -> DemoTraining:
    """One demo training run (:func:`physsim.insitu.train_in_situ`) and its final loss.

    In situ, the chip's mismatch is drawn once from ``seed`` while the thermal
    and read-out noise of training step ``k`` uses seed ``k``.
    """
    t0 = time.perf_counter()
    result = train_in_situ(parametrisation, theta0, np.zeros(6), None, u, loss, steps=steps,
                           lr=lr, rule=rule, hardware=hardware, chip_seed=seed, dt=DT,
                           progress=progress, label=label)
    # the loss the trained device achieves: on its own chip (one noisy forward
    # pass with a seed no training step used) when trained in situ
    final_loss = float(loss_of(result.system, np.zeros(6), None, u, loss, dt=DT,
                               hardware=result.chip, seed=steps))
    return DemoTraining(loss=np.asarray(result.losses, dtype=np.float64), final_loss=final_loss,
                        seconds=time.perf_counter() - t0, theta=result.theta)


def run_demo(out_dir: str | Path = "physsim_output/demo", *, n_steps: int = 600,
             train_steps: int = 120, lr: float = 0.04, hardware: str | None = "default",
             progress: bool = True, seed: int = 0) -> dict[str, Path]:
    """Run the demo and write its files.

    Parameters
    ----------
    out_dir : str or Path
        Output folder (created).
    n_steps : int
        Sequence length (steps of ``DT`` = 0.1 s).
    train_steps : int
        Adam steps per training run.
    lr : float
        Adam learning rate (on log-parameters).
    hardware : str or None
        Hardware preset for the "realistic device" run; ``"default"`` picks
        the ``"discrete_lc"`` preset when one is registered (``hardware_models``
        registers it); None skips that run.
    progress : bool
        Show progress bars.
    seed : int
        Seed of the chip instance (static mismatch) of the hardware run; the
        per-step noise of training step ``k`` uses seed ``k``.

    Returns
    -------
    dict of str to Path
        The files written.

    Raises
    ------
    physsim.storage.OutputError
        Before any work, if ``out_dir`` cannot be created or written (the
        one-line message names the folder and the cause).
    """
    out = check_writable(out_dir, folder=True)  # before any work: a bad folder fails at once
    files: dict[str, Path] = {}
    u = six_oscillator_drive(n_steps, DT)

    # 1. simulation of the nominal device
    device = six_oscillators("student")
    traj = simulate(device, np.zeros(6), None, u, dt=DT, record_every=1, record_energy=True)
    files["positions"] = out / "positions.png"
    save_figure(plot_positions(traj, unit="m"), files["positions"])
    files["energy"] = out / "energy_error.png"
    undriven = simulate(device, np.full(6, 0.5), None, n_steps=20 * n_steps, dt=DT,
                        record_every=10, record_energy=True)
    save_figure(plot_energy_error(undriven, driven=False), files["energy"])

    # 2. learning task: oscillator 4 of the student tracks oscillator 4 of the teacher
    teacher = six_oscillators("teacher")
    target = simulate(teacher, np.zeros(6), None, u, dt=DT, record_every=1)
    readout = np.zeros((1, 6))
    readout[0, SIX_OSC_OUTPUT] = 1.0
    loss = MSEReadout(readout, target.positions[:, 1:, SIX_OSC_OUTPUT:SIX_OSC_OUTPUT + 1])
    springs = six_oscillator_springs("student")
    pairs = tuple(zip(*np.nonzero(springs["coupling_springs"])))
    param = SpringParametrisation(pairs, device.input_matrix)
    theta0 = _initial_theta(springs, pairs)

    g_rhel = rhel_gradient(device, np.zeros(6), None, u, loss, dt=DT, record_echoes=True)
    g_bptt = bptt_gradient(device, np.zeros(6), None, u, loss, dt=DT)
    agreement = compare(g_rhel, g_bptt)
    files["echoes"] = out / "echo_trajectories.png"
    save_figure(plot_echo_trajectories(g_rhel.info["echo_positions"], dof=SIX_OSC_OUTPUT, dt=DT,
                                       time_unit="s"), files["echoes"])

    runs = {}  # label -> DemoTraining, in the order the runs ran
    label = "RHEL, ideal device"
    runs[label] = _train(label, "rhel", param, theta0, u, loss, steps=train_steps, lr=lr,
                         progress=progress)
    preset = None
    if hardware is not None:
        preset = _resolve_preset(hardware)
        if preset is not None:
            label = f"RHEL, {preset[0]}"
            runs[label] = _train(label, "rhel", param, theta0, u, loss, steps=train_steps,
                                 lr=lr, hardware=preset[1], seed=seed, progress=progress)
    label = "BPTT, ideal device"
    runs[label] = _train(label, "bptt", param, theta0, u, loss, steps=train_steps, lr=lr,
                         progress=progress)
    files["learning_curves"] = out / "learning_curves.png"
    save_figure(learning_curves_figure({label: r.loss for label, r in runs.items()}),
                files["learning_curves"])

    # 3. run file
    files["run"] = out / "demo_run.h5"
    write_demo_run(files["run"], DemoRecord(
        settings={"dt": DT, "n_steps": n_steps, "train_steps": train_steps, "lr": lr,
                  "hardware": preset[0] if preset else None, "seed": seed},
        device=device, teacher=teacher,
        simulation={"times": traj.times, "positions": traj.positions[0],
                    "energy": traj.energy[0], "inputs": u, "target": loss.targets[0]},
        gradient_check={name: {"cosine": a.cosine, "norm_ratio": a.norm_ratio,
                               "max_relative_error": a.max_relative_error}
                        for name, a in agreement.items()},
        echo_positions={key: arr[0] for key, arr in g_rhel.info["echo_positions"].items()},
        training=runs))

    _print_summary(agreement, runs, files)
    return files


def learning_curves_figure(losses: dict[str, np.ndarray]):
    """The demo's learning curves: MSE loss per Adam step of each training run.

    One figure for ``physsim demo`` and ``physsim plot demo_run.h5``.  On the
    ideal device RHEL and BPTT give the same steps, so their curves coincide;
    the figure says so and draws BPTT dashed on top of a wide RHEL line.

    Parameters
    ----------
    losses : dict of str to array, shape (train_steps,)
        Loss [m^2] before each step, by run label.

    Returns
    -------
    matplotlib.figure.Figure
    """
    return plot_training_curves(losses, spread="none", ylabel="MSE loss [m^2]",
                                xlabel="Adam step")


def _resolve_preset(hardware: str):
    """``(name, model)`` of the preset asked for; None when ``"default"`` is not registered."""
    name = "discrete_lc" if hardware == "default" else hardware
    if hardware == "default" and name not in preset_names():
        print(f"Skipping the realistic-device run: no hardware preset {name!r} is registered "
              "(install hardware_models).")
        return None
    return name, get_preset(name)


def _print_summary(agreement, runs, files) -> None:
    print("\nRHEL vs BPTT on the first gradient (six oscillators, float64):")
    print(f"  {'tensor':<14}{'cosine':>14}{'norm ratio':>14}{'max rel err':>14}")
    for name, a in agreement.items():
        print(f"  {name:<14}{a.cosine:>14.10f}{a.norm_ratio:>14.10f}{a.max_relative_error:>14.2e}")
    print("\nTraining (oscillator 4 tracks the teacher device):")
    print(f"  {'run':<34}{'initial loss':>14}{'final loss':>14}{'time [s]':>10}")
    for label, r in runs.items():
        print(f"  {label:<34}{r.loss[0]:>14.4e}{r.final_loss:>14.4e}{r.seconds:>10.1f}")
    print("\nFiles:")
    for key, path in files.items():
        print(f"  {key:<16}{path.resolve()}")
