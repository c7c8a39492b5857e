"""BPTT against RHEL on offline real datasets, 3 seeds each (issue 5, experiment b).

For every dataset in ``--datasets`` (config ``experiments/configs/hssm_<name>.toml``),
every rule (``bptt``, ``rhel``) and every seed, the script runs

    physsim train experiments/configs/hssm_<name>.toml --rule <rule> --seed <seed> \\
        --out <runs>/<name>_<rule>_seed<seed>.h5 --threads 1 --quiet

(``--jobs`` runs at a time, one numba thread each; a finished run file is reused, an
interrupted one is resumed with ``physsim train --resume``), then reads the run files
and writes ``rhel_vs_bptt_datasets.md`` (test metric at the best validation step, mean
and standard deviation over seeds, the trivial baseline, the checks of the issue and the
exact commands) and ``rhel_vs_bptt_datasets.png`` (validation curves) into ``--out``.

Usage::

    python experiments/exp_rhel_vs_bptt_datasets.py [--datasets A B C] [--seeds 0 1 2]
        [--jobs 2] [--runs DIR] [--out DIR] [--report-only]
"""

from __future__ import annotations

import argparse
import json
import shlex
import subprocess
import sys
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import numpy as np

from physsim.hssm import read_run

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "experiments" / "configs"
DEFAULT_OUT = ROOT / "experiments" / "results" / "hssm"
DEFAULT_RUNS = ROOT / "physsim_output" / "train" / "rhel_vs_bptt"
DEFAULT_DATASETS = ("seglearn_watch", "sequential_mnist", "vic_elec")
RULES = ("bptt", "rhel")


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def command(dataset: str, rule: str, seed: int, runs: Path) -> list[str]:
    """The ``physsim train`` command of one run (new, or resuming its run file)."""
    out = runs / f"{dataset}_{rule}_seed{seed}.h5"
    if out.exists():
        return ["physsim", "train", "--resume", _rel(out), "--threads", "1", "--quiet"]
    return ["physsim", "train", _rel(CONFIGS / f"hssm_{dataset}.toml"), "--rule", rule,
            "--seed", str(seed), "--out", _rel(out), "--threads", "1", "--quiet"]


def _finished(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        return read_run(path).result is not None
    except (OSError, ValueError, KeyError):
        return False


def run_all(datasets, seeds, runs: Path, jobs: int) -> list[str]:
    """Run (or resume) every missing run; returns the commands that were executed."""
    runs.mkdir(parents=True, exist_ok=True)
    todo = [(d, r, s) for d in datasets for s in seeds for r in RULES
            if not _finished(runs / f"{d}_{r}_seed{s}.h5")]
    executed: list[str] = []

    def one(item):
        d, r, s = item
        cmd = command(d, r, s, runs)
        # the console script, run from the repository root (paths in the command are relative)
        argv = [sys.executable, "-m", "physsim.cli"] + cmd[1:]
        t0 = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True)
        status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
        print(f"[{time.perf_counter() - t0:7.1f} s] {status}: {shlex.join(cmd)}", flush=True)
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-4000:], sep="\n", file=sys.stderr)
        return shlex.join(cmd)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        executed = list(pool.map(one, todo))
    return executed


def collect(datasets, seeds, runs: Path) -> dict:
    """Per dataset and rule: the run records of every seed."""
    out: dict = {}
    for d in datasets:
        for r in RULES:
            recs = []
            for s in seeds:
                path = runs / f"{d}_{r}_seed{s}.h5"
                if not _finished(path):
                    raise FileNotFoundError(f"run {path} is missing or unfinished; run without "
                                            "--report-only")
                recs.append(read_run(path))
            out[(d, r)] = recs
    return out


def _stats(values):
    v = np.asarray(values, float)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def plot(records: dict, datasets, path: Path) -> None:
    """Validation metric against step, every seed, both rules, one panel per dataset."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(1, len(datasets), figsize=(4.6 * len(datasets), 3.4))
    axes = np.atleast_1d(axes)
    colors = {"bptt": "tab:blue", "rhel": "tab:orange"}
    for ax, d in zip(axes, datasets):
        for r in RULES:
            for j, rec in enumerate(records[(d, r)]):
                h = rec.history["eval"]
                ax.plot(h["step"], h["val_metric"], color=colors[r], alpha=0.8,
                        ls="-" if r == "bptt" else "--", label=r.upper() if j == 0 else None)
        metric = records[(d, RULES[0])][0].attrs["metric"]
        ax.set_title(d, fontsize=10)
        ax.set_xlabel("training step")
        ax.set_ylabel(f"validation {metric}")
        if metric == "mse":
            ax.set_yscale("log")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def report(records: dict, datasets, seeds, runs: Path, out: Path, jobs: int) -> str:
    """Write the markdown table and the figure; returns the markdown text."""
    import tomllib  # noqa: PLC0415

    lines = ["# BPTT vs RHEL on offline real datasets", "",
             f"HSSMs trained from the same seeds ({', '.join(map(str, seeds))}) under "
             "each rule; the test metric is taken at the best validation step (early stopping "
             "on the validation metric). Mean and sample standard deviation over the seeds. "
             "The seed sets the initialisation, the data split (where the loader draws one), "
             "the batch order and the dropout masks, so BPTT and RHEL runs with the same seed "
             "see the same data in the same order.", ""]
    lines += ["| dataset | model | metric | trivial baseline | BPTT | RHEL | RHEL within 1 std of "
              "BPTT | both beat baseline | steps (BPTT / RHEL) | s per step (BPTT / RHEL) |",
              "|---|---|---|---|---|---|---|---|---|---|"]
    details = []
    for d in datasets:
        bp = records[(d, "bptt")]
        metric = bp[0].attrs["metric"]
        base = bp[0].result["baseline_test_metric"]
        vals = {r: [rec.result["test_metric"] for rec in records[(d, r)]] for r in RULES}
        mb, sb = _stats(vals["bptt"])
        mr, sr = _stats(vals["rhel"])
        within = abs(mr - mb) <= sb
        if metric == "accuracy":
            beat = min(mb, mr) >= base + 0.2
            fmt = lambda m, s: f"{100 * m:.1f} ± {100 * s:.1f} %"  # noqa: E731
            base_s = f"{100 * base:.1f} % (majority class)"
        else:
            beat = max(mb, mr) <= 0.5 * base
            fmt = lambda m, s: f"{m:.4f} ± {s:.4f}"  # noqa: E731
            base_s = f"{base:.4f} (training mean)"
        steps = {r: np.mean([rec.result["steps"] for rec in records[(d, r)]]) for r in RULES}
        sps = {r: np.mean([rec.result["wall_time_s"] / rec.result["steps"]
                           for rec in records[(d, r)]]) for r in RULES}
        mc = json.loads(bp[0].attrs["model_config_json"])
        model = (f"{mc['hru']}{' complex' if mc['hru'] == 'linear' and mc['complex'] else ''}, "
                 f"{mc['n_blocks']} blocks, H {mc['hidden']}, P {mc['units']}")
        lines.append(f"| {d} | {model} | test {metric} | {base_s} | {fmt(mb, sb)} | "
                     f"{fmt(mr, sr)} | "
                     f"{'yes' if within else 'NO'} (diff {abs(mr - mb):.3g}, std {sb:.3g}) | "
                     f"{'yes' if beat else 'NO'} | {steps['bptt']:.0f} / {steps['rhel']:.0f} | "
                     f"{sps['bptt']:.2f} / {sps['rhel']:.2f} |")
        cfg = tomllib.loads(bp[0].attrs["config_toml"])
        ds_line = bp[0].attrs["dataset"].splitlines()
        per_seed = "; ".join(f"seed {s}: BPTT {vb:.4f}, RHEL {vr:.4f}"
                             for s, vb, vr in zip(seeds, vals["bptt"], vals["rhel"]))
        details += [f"### {d}", "", "```", *ds_line, "```", "",
                    f"Per seed (test {metric}): {per_seed}.", "",
                    "Config `experiments/configs/hssm_" + d + ".toml`: "
                    + "; ".join(f"[{t}] " + ", ".join(f"{k} = {v!r}" for k, v in cfg[t].items())
                                for t in ("data", "model", "training") if t in cfg) + ".", ""]
    lines += ["", "Checks of the issue: RHEL's mean test metric within one standard deviation "
              "of BPTT's; both clearly better than the trivial predictor (classification: at "
              "least 20 points of accuracy above the majority class; regression: at most half "
              "the mean predictor's MSE). Seconds per step are wall-clock times with one numba "
              "thread per run and several runs sharing a 2-core machine with other jobs, so "
              "they are indicative only (see `benchmarks/bench_train.py` for timings).", "",
              "![validation curves](rhel_vs_bptt_datasets.png)", "", "## Datasets and settings",
              ""]
    lines += details
    lines += ["## Commands", "",
              "All runs (this script, from the repository root):", "", "```",
              f"python experiments/exp_rhel_vs_bptt_datasets.py --datasets {' '.join(datasets)} "
              f"--seeds {' '.join(map(str, seeds))} --jobs {jobs} --runs {_rel(runs)}", "```",
              "", "which executes, for each run:", "", "```"]
    for d in datasets:
        for s in seeds:
            for r in RULES:
                lines.append(shlex.join(
                    ["physsim", "train", _rel(CONFIGS / f"hssm_{d}.toml"), "--rule", r,
                     "--seed", str(s), "--out", _rel(runs / f"{d}_{r}_seed{s}.h5"),
                     "--threads", "1", "--quiet"]))
    lines += ["```", "", "(an interrupted run is continued with `physsim train --resume "
              "RUN.h5 --threads 1 --quiet`, which gives the same result as an uninterrupted run).",
              ""]
    text = "\n".join(lines)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rhel_vs_bptt_datasets.md").write_text(text)
    plot(records, datasets, out / "rhel_vs_bptt_datasets.png")
    return text


def main(argv: list[str] | None = None) -> str:
    """Run the missing runs and write the report; returns the markdown text."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=list(DEFAULT_DATASETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=2, help="runs at a time (one thread each)")
    p.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="folder of the run files")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder of the report")
    p.add_argument("--report-only", action="store_true", help="only read existing run files")
    args = p.parse_args(argv)
    for d in args.datasets:
        if not (CONFIGS / f"hssm_{d}.toml").exists():
            raise SystemExit(f"no config {CONFIGS / f'hssm_{d}.toml'} for dataset {d!r}")
    if not args.report_only:
        run_all(args.datasets, args.seeds, args.runs, args.jobs)
    records = collect(args.datasets, args.seeds, args.runs)
    text = report(records, args.datasets, args.seeds, args.runs, args.out, args.jobs)
    print(text.split("\n## Datasets")[0])
    return text


if __name__ == "__main__":
    main(sys.argv[1:])
