"""The ``physsim`` command:
``physsim demo | info | simulate | gradcheck | train | sweep | plot``.
"""

from __future__ import annotations

import argparse
import importlib
import sys
from pathlib import Path
from typing import Callable

import numpy as np

#: Subcommands implemented in other modules: name -> "module:function(argv)".
EXTERNAL_COMMANDS = {
    "train": ("physsim.hssm.cli:cli_train", "train a Hamiltonian SSM (RHEL or BPTT)"),
    "sweep": ("physsim.sweeps:cli_sweep", "noise-parameter sweep (local processes or Dask)"),
    "plot": ("physsim.sweeps:cli_plot", "standard figures of a run or sweep file"),
}


def _cmd_info(args) -> int:
    import numba

    from . import INTEGRATORS, __version__
    from .config import SYSTEM_TYPES
    from .hardware import preset_names
    from .registry import HARDWARE_PLUGIN_GROUP

    print(f"physsim {__version__}  (numpy {np.__version__}, numba {numba.__version__}, "
          f"{numba.get_num_threads()} threads)")
    print("\nIntegrators:")
    print(f"  {'name':<18}{'order':>6}{'symplectic':>12}{'reversible':>12}{'stability':>11}")
    for name, cls in INTEGRATORS.items():
        print(f"  {name:<18}{cls.order:>6}{str(cls.symplectic):>12}{str(cls.time_reversible):>12}"
              f"{cls.stability_limit:>11.4f}")
    print("\nSystem types (config [system] type): " + ", ".join(sorted(SYSTEM_TYPES)))
    presets = preset_names()
    none = f"(none registered in entry-point group {HARDWARE_PLUGIN_GROUP!r})"
    print("Hardware presets: " + (", ".join(presets) if presets else none))
    try:
        from .data import available_datasets

        print("Datasets: " + ", ".join(available_datasets()))
    except ImportError:
        pass
    from .sweeps import METRICS

    print("Sweep metrics: " + ", ".join(METRICS))
    return 0


def _device_config(path):
    """The raw tables of a device config file and their checked form."""
    from .config import ConfigError, load_toml, parse_device

    raw = load_toml(path)
    try:
        return raw, parse_device(raw, base_dir=Path(path).parent)
    except ConfigError as exc:
        raise ConfigError(f"{path}: {exc}") from None


#: File endings ``physsim simulate`` reads as SPICE netlists (anything else is a TOML config).
NETLIST_SUFFIXES = (".cir", ".sp", ".spi", ".spice", ".net", ".ckt")


def _simulate_netlist(path: Path, out_dir: str | None, quiet: bool) -> int:
    """``physsim simulate DEVICE.cir``: the netlist's ``.tran`` from rest, with node voltages."""
    from .plotting import save_figure
    from .spice import load_device, simulate_device
    from .spice.figures import plot_node_voltages
    from .storage import check_writable, save_trajectory

    device = load_device(path)
    out = check_writable(out_dir or "physsim_output/simulate", folder=True)
    run = simulate_device(device, progress=not quiet)
    config = {"netlist": str(path.resolve()), "title": device.title,
              "tran": {"step": device.transient.step, "stop": device.transient.stop}}
    file = save_trajectory(out / "trajectory.h5", run.trajectory, config=config,
                           extra_arrays={"node_voltages": (run.node_voltages, "V"),
                                         "node_names": (np.array(run.node_names), "")})
    print(f"run file: {file.resolve()}")
    save_figure(plot_node_voltages(run), out / "node_voltages.png")
    print(f"figure:   {(out / 'node_voltages.png').resolve()}")
    return 0


def _cmd_simulate(args) -> int:
    if Path(args.config).suffix.lower() in NETLIST_SUFFIXES:
        return _simulate_netlist(Path(args.config), args.out, args.quiet)
    from .config import build_initial_state, build_inputs
    from .config.device import InputsTable
    from .plotting import plot_energy_error, plot_positions, save_figure
    from .simulate import simulate
    from .storage import check_writable, save_trajectory

    raw, cfg = _device_config(args.config)
    out = check_writable(args.out or cfg.output.folder, folder=True)
    system = cfg.system.build()
    sim = cfg.simulation
    dt = sim.dt if sim.dt is not None else system.default_dt
    u = build_inputs(cfg.inputs or InputsTable(), system, sim.n_steps, dt or 1.0, sim.batch)
    q0, p0 = build_initial_state(cfg.initial_state, system, sim.batch)
    traj = simulate(system, q0, p0, u, n_steps=None if u is not None else sim.n_steps, dt=dt,
                    integrator=sim.integrator, record_every=sim.record_every,
                    record_energy=sim.record_energy, hardware=sim.hardware, seed=sim.seed,
                    dtype=sim.dtype, progress=not args.quiet)
    run = save_trajectory(out / "trajectory.h5", traj, config=raw, hardware_model=sim.hardware)
    print(f"run file: {run.resolve()}")
    if traj.positions is not None:
        save_figure(plot_positions(traj), out / "positions.png")
        print(f"figure:   {(out / 'positions.png').resolve()}")
    if traj.energy is not None:
        driven = u is not None and bool(np.any(u != 0))
        save_figure(plot_energy_error(traj, driven=driven, hardware=sim.hardware),
                    out / "energy_error.png")
        print(f"figure:   {(out / 'energy_error.png').resolve()}")
    return 0


#: Default ``physsim gradcheck --rtol`` by the dtype of the RHEL run: float64 leaves
#: central-difference truncation (~1e-9 at step 1e-5) and the O(eps^2) bias of the default
#: nudge (~1e-8) well inside; float32 RHEL accumulates ~1e-4 of round-off over 1e3 steps.
GRADCHECK_RTOL = {"float64": 1e-4, "float32": 1e-2}


def _cmd_gradcheck(args) -> int:
    from .bptt import (bptt_gradient, finite_difference_errors,
                       finite_difference_gradient_check, loss_of)
    from .config import build_initial_state, build_inputs, build_loss
    from .config.device import InputsTable
    from .gradients import compare
    from .rhel import rhel_gradient

    _, cfg = _device_config(args.config)
    system = cfg.system.build()
    sim = cfg.simulation
    rtol = GRADCHECK_RTOL[sim.dtype] if args.rtol is None else args.rtol
    dt = sim.dt if sim.dt is not None else system.default_dt
    u = build_inputs(cfg.inputs or InputsTable(kind="noise"), system, sim.n_steps, dt or 1.0,
                     sim.batch)
    q0, p0 = build_initial_state(cfg.initial_state, system, sim.batch)
    loss = build_loss(cfg.loss, system, u, sim.n_steps, dt, sim.batch)
    common = dict(n_steps=None if u is not None else sim.n_steps, dt=dt,
                  integrator=sim.integrator)
    rh = cfg.rhel
    g_r = rhel_gradient(system, q0, p0, u, loss, eps=rh.eps, relative_nudge=rh.relative_nudge,
                        estimator=rh.estimator, nudge=rh.nudge, hardware=sim.hardware,
                        seed=sim.seed, dtype=sim.dtype, **common)
    g_b = bptt_gradient(system, q0, p0, u, loss, **common)
    ck = cfg.check
    fd = finite_difference_gradient_check(
        lambda s: loss_of(s, q0, p0, u, loss, **common), system, g_b.params,
        n_directions=ck.n_directions, rel_step=ck.rel_step, rng=ck.seed)
    agree = compare(g_r, g_b)
    print(f"{type(system).__name__}, L={g_b.info['n_steps']}, {g_r.method}, "
          f"eps={g_r.info['eps']:.3g}, nudge={g_r.info['nudge']}, dtype={g_r.info['dtype']}, "
          f"rtol={rtol:.3g}")
    print(f"{'tensor':<20}{'RHEL~BPTT cos':>15}{'norm ratio':>13}{'max rel err':>13}"
          f"{'BPTT~FD max rel err':>21}  verdict")
    failed = []
    for name, a in agree.items():
        fd_err, ok = "", a.max_relative_error <= rtol
        if name in fd:
            err = float(np.max(finite_difference_errors(fd[name])))
            fd_err, ok = f"{err:.2e}", ok and err <= rtol
        if not ok:
            failed.append(name)
        print(f"{name:<20}{a.cosine:>15.10f}{a.norm_ratio:>13.8f}{a.max_relative_error:>13.2e}"
              f"{fd_err:>21}  {'PASS' if ok else 'FAIL'}")
    if failed:
        print(f"FAIL: {len(failed)} of {len(agree)} tensors disagree beyond rtol {rtol:.3g}: "
              f"{', '.join(failed)}")
        return 1
    print(f"PASS: all {len(agree)} tensors agree within rtol {rtol:.3g} (RHEL vs BPTT; BPTT vs "
          f"finite differences, steps of {ck.rel_step:.3g} of each parameter element)")
    return 0


def _cmd_demo(args) -> int:
    from .demo import run_demo

    run_demo(args.out, progress=not args.quiet,
             **({"n_steps": 300, "train_steps": 30} if args.quick else {}))
    return 0


def _external(name: str) -> Callable[[list[str]], int]:
    target, _ = EXTERNAL_COMMANDS[name]
    module, func = target.split(":")
    try:
        mod = importlib.import_module(module)
    except ImportError as exc:
        raise SystemExit(f"physsim {name}: not available ({exc})") from exc
    return getattr(mod, func)


def _positive_float(text: str) -> float:
    """An argparse type: a finite float > 0."""
    try:
        value = float(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}") from None
    if not (np.isfinite(value) and value > 0):
        raise argparse.ArgumentTypeError(f"expected a positive number, got {text!r}")
    return value


def build_parser() -> argparse.ArgumentParser:
    """The argument parser of the ``physsim`` command."""
    parser = argparse.ArgumentParser(prog="physsim", description=__doc__)
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    p = sub.add_parser("demo", help="six-oscillator device: simulate and train by RHEL (main job)")
    p.add_argument("--out", default="physsim_output/demo", help="output folder")
    p.add_argument("--quick", action="store_true", help="smaller run (seconds)")
    p.add_argument("--quiet", action="store_true", help="no progress bars")
    p.set_defaults(func=_cmd_demo)
    p = sub.add_parser("info", help="versions, integrators, systems, presets, datasets")
    p.set_defaults(func=_cmd_info)
    p = sub.add_parser("simulate", help="simulate a system described by a TOML file or a "
                                        "SPICE netlist")
    p.add_argument("config", help="TOML file ([system], [simulation], [inputs], [initial_state]) "
                                  "or SPICE netlist (.cir, .sp, ...: runs its .tran)")
    p.add_argument("--out", help="output folder (default physsim_output/simulate)")
    p.add_argument("--quiet", action="store_true")
    p.set_defaults(func=_cmd_simulate)
    p = sub.add_parser("gradcheck", help="RHEL vs BPTT vs finite differences for a TOML problem")
    p.add_argument("config", help="TOML file ([system], [simulation], [loss], [rhel], [check])")
    p.add_argument("--rtol", type=_positive_float, default=None,
                   help="largest relative error that passes (RHEL vs BPTT and BPTT vs finite "
                        "differences); default " + ", ".join(
                            f"{v:g} for {k}" for k, v in GRADCHECK_RTOL.items())
                        + " (the [simulation] dtype); exit status 1 on failure")
    p.set_defaults(func=_cmd_gradcheck)
    for name, (_, help_text) in EXTERNAL_COMMANDS.items():
        sub.add_parser(name, help=help_text, add_help=False)
    return parser


def main(argv: list[str] | None = None) -> int:
    """Entry point of the ``physsim`` console script."""
    argv = list(sys.argv[1:] if argv is None else argv)
    if argv and argv[0] in EXTERNAL_COMMANDS:
        return int(_external(argv[0])(argv[1:]) or 0)
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.command is None:
        parser.print_help()
        return 2
    try:
        return int(args.func(args) or 0)
    except (ValueError, FileNotFoundError, NotImplementedError) as exc:
        print(f"physsim {args.command}: error: {exc}", file=sys.stderr)
        return 1
    except OSError as exc:  # e.g. the disk filled up while writing: one line, no traceback
        from .storage import os_error_message

        print(f"physsim {args.command}: error: {os_error_message(exc)}", file=sys.stderr)
        return 1


if __name__ == "__main__":  # pragma: no cover
    sys.exit(main())
