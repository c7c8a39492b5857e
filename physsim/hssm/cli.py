"""``physsim train``: start or resume a training run of an HSSM from a TOML config."""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from ..storage import check_writable, os_error_message
from .config import RunConfig
from .layers import RULES
from .training import Trainer

__all__ = ["cli_train"]


def _parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="physsim train",
        description="Train a Hamiltonian SSM by RHEL or BPTT from a TOML config; checkpoints "
                    "and metrics go to an HDF5 run file.")
    p.add_argument("config", nargs="?", help="TOML config (optional with --resume)")
    p.add_argument("--rule", choices=RULES, help="learning rule of the Hamiltonian layers")
    p.add_argument("--seed", type=int, default=None, help="seed (default 0)")
    p.add_argument("--resume", metavar="RUN.h5", help="continue an interrupted run")
    p.add_argument("--out", metavar="RUN.h5",
                   help="run file (default physsim_output/train/<config>_<rule>_seed<N>.h5)")
    p.add_argument("--overwrite", action="store_true", help="replace an existing run file")
    p.add_argument("--stop-after", type=int, metavar="N",
                   help="pause after N steps in total (checkpoint; resume later)")
    p.add_argument("--threads", type=int, metavar="N",
                   help="numba threads (results do not depend on it; 1 is fastest for small "
                        "models or when several runs share the machine)")
    p.add_argument("--quiet", action="store_true", help="no progress bar")
    return p


def cli_train(argv: list[str] | None = None) -> int:
    """Entry point of ``physsim train`` (returns the exit status).

    ``physsim train CONFIG.toml --rule rhel|bptt [--seed N] [--out RUN.h5]`` starts a run;
    ``physsim train --resume RUN.h5`` continues one (CONFIG, --rule and --seed may be
    given and must then match the run file).
    """
    args = _parser().parse_args(argv)
    try:
        if args.threads is not None:
            import numba  # noqa: PLC0415

            if not 1 <= args.threads <= numba.config.NUMBA_NUM_THREADS:
                raise ValueError(f"--threads must be in [1, {numba.config.NUMBA_NUM_THREADS}], "
                                 f"got {args.threads}")
            numba.set_num_threads(args.threads)
        if args.resume:
            check_writable(args.resume)  # checkpoints replace it: fail now, not after a step
            trainer = Trainer.resume(args.resume, progress=not args.quiet)
            if args.rule is not None and args.rule != trainer.rule:
                raise ValueError(f"--rule {args.rule} contradicts the run file ({trainer.rule})")
            if args.seed is not None and args.seed != trainer.seed:
                raise ValueError(f"--seed {args.seed} contradicts the run file ({trainer.seed})")
            if args.config is not None:
                cfg = RunConfig.from_file(args.config)
                if cfg.to_json() != trainer.config.to_json():
                    raise ValueError(f"{args.config} differs from the configuration stored in "
                                     f"{args.resume}; resume without CONFIG or start a new run")
            print(f"resuming {args.resume} at step {trainer.state.step}")
        else:
            if args.config is None or args.rule is None:
                raise ValueError("give CONFIG and --rule rhel|bptt (or --resume RUN.h5)")
            cfg = RunConfig.from_file(args.config)
            seed = 0 if args.seed is None else args.seed
            out = args.out or (f"physsim_output/train/{Path(args.config).stem}_{args.rule}"
                               f"_seed{seed}.h5")
            check_writable(out)  # before the data are loaded and any step is taken
            trainer = Trainer(cfg, rule=args.rule, seed=seed, run_file=out,
                              progress=not args.quiet, overwrite=args.overwrite)
            print(trainer.dataset.summary())
            print(f"model: {trainer.model.config.hru} HSSM, {trainer.model.config.n_blocks} "
                  f"blocks, {trainer.model.n_parameters()} parameters; rule {args.rule}; "
                  f"run file {out}")
        result = trainer.train(stop_after=args.stop_after)
    except (ValueError, FileNotFoundError, FileExistsError) as exc:
        print(f"physsim train: error: {exc}", file=sys.stderr)
        return 2
    except OSError as exc:  # e.g. the disk filled up during a checkpoint: one line
        print(f"physsim train: error: {os_error_message(exc)}", file=sys.stderr)
        return 2
    r = result
    if r.best_step:
        scores = (f"best validation {r.metric} {r.best_val_metric:.4f} at step {r.best_step}; "
                  f"test {r.metric} {r.test_metric:.4f} (trivial baseline "
                  f"{r.baseline_test_metric:.4f})")
    else:  # stopped before the first evaluation: there is no score to print
        scores = f"not evaluated yet (first evaluation at step {trainer.settings.eval_every})"
    print(f"{r.stop_reason} after {r.steps} steps ({r.wall_time_s:.1f} s); {scores}; "
          f"run file {r.run_file}")
    if not r.finished:
        print(f"resume with: physsim train --resume {r.run_file}")
    return 0
