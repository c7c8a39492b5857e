"""BPTT against RHEL on offline real datasets, 3 seeds each (issue 5, experiment b).

For every dataset in ``--datasets`` (config ``experiments/configs/hssm_<name>.toml``),
every rule (``bptt``, ``rhel``) and every seed, the script runs

    physsim train experiments/configs/hssm_<name>.toml --rule <rule> --seed <seed> \\
        --out <runs>/<name>_<rule>_seed<seed>.h5 --threads 1 --quiet

(``--jobs`` runs at a time, one numba thread each; a finished run file is reused, an
interrupted one is resumed with ``physsim train --resume``).

Control runs (``--control-datasets``, default: every dataset): BPTT whose every gradient
is multiplied element-wise by ``1 + noise * N(0, 1)`` (``--control-noise``, default 1e-15,
the size of float64 round-off; the noise of step ``s`` comes from
``default_rng([seed, 99, s])``, so a control run resumes bit-identically too).  They
measure how far two runs of the *same* rule and seed drift apart from round-off alone:
RHEL's gradient for linear units equals BPTT's to about 1e-14, so if training amplifies
differences of that size, RHEL and BPTT runs with the same seed are as different as two
BPTT runs whose gradients differ in the last bits.

The report (``rhel_vs_bptt_datasets.md`` and ``.png`` in ``--out``) gives, per dataset:
the test metric at the best validation step (mean and sample standard deviation over the
seeds), the trivial baseline, the checks of the issue, the control, the agreement of the
two rules' gradients at the first training step (same parameters and batch), and the
first training step at which the training losses of RHEL (or of the control) and BPTT
differ by more than a relative 1e-9 (the runs' own histories).

Usage::

    python experiments/exp_rhel_vs_bptt_datasets.py [--datasets A B C] [--seeds 0 1 2]
        [--jobs 2] [--runs DIR] [--out DIR] [--report-only]
        [--control-datasets A B] [--control-noise 1e-15] [--notes FILE]
"""

from __future__ import annotations

import argparse
import datetime
import json
import os
import shlex
import subprocess
import sys
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from physsim.rhel import PAIRED_RELATIVE_NUDGE
from physsim.storage import git_commit, read_run

ROOT = Path(__file__).resolve().parent.parent
CONFIGS = ROOT / "experiments" / "configs"
DEFAULT_OUT = ROOT / "experiments" / "results" / "hssm"
DEFAULT_RUNS = ROOT / "physsim_output" / "train" / "rhel_vs_bptt"
DEFAULT_DATASETS = ("seglearn_watch", "sequential_mnist", "vic_elec")
RULES = ("bptt", "rhel")
#: Run-file tag of the control runs (BPTT with round-off-sized gradient noise).
CONTROL = "bptt_noise"
#: Relative training-loss difference above which two runs count as having parted.
PARTED = 1e-9
#: File in the runs folder recording the code version of every launch.
CODE_VERSIONS = "code_versions.txt"


@dataclass
class DatasetSummary:
    """What the diagnosis paragraph of one dataset is written from.

    Attributes
    ----------
    name : str
        Dataset name.
    bptt_mean, bptt_std, rhel_mean, rhel_std : float
        Test metric over the seeds (mean and sample standard deviation).
    test_metrics : dict
        Per-seed test metric (list) of every run variant: the rules and, if run, the control.
    parted : dict
        Per variant other than BPTT: per seed, the first step whose training loss differs
        from BPTT's by more than :data:`PARTED` (None: never).
    within : bool
        RHEL's mean lies within one BPTT standard deviation of BPTT's.
    best_steps : list of int
        Per seed, the later best-validation step of the RHEL and BPTT runs.
    grad_check : dict or None
        The step-1 gradient comparison (:func:`first_step_gradients`), if computed.
    hru : str
        The model's HRU kind ("linear" or "nonlinear").
    """

    name: str
    bptt_mean: float
    bptt_std: float
    rhel_mean: float
    rhel_std: float
    test_metrics: dict
    parted: dict
    within: bool
    best_steps: list
    grad_check: dict | None
    hru: str


def _rel(path: Path) -> str:
    try:
        return str(path.resolve().relative_to(ROOT))
    except ValueError:
        return str(path)


def run_path(runs: Path, dataset: str, variant: str, seed: int) -> Path:
    """Run file of one dataset, variant (``bptt``, ``rhel`` or :data:`CONTROL`) and seed."""
    return runs / f"{dataset}_{variant}_seed{seed}.h5"


def command(dataset: str, variant: str, seed: int, runs: Path, noise: float) -> list[str]:
    """The command of one run (new, or resuming its run file)."""
    out = run_path(runs, dataset, variant, seed)
    if variant == CONTROL:
        return ["python", _rel(Path(__file__)), "--control-run", "--datasets", dataset,
                "--seeds", str(seed), "--control-noise", f"{noise:g}", "--runs", _rel(runs)]
    if out.exists():
        return ["physsim", "train", "--resume", _rel(out), "--threads", "1", "--quiet"]
    return ["physsim", "train", _rel(CONFIGS / f"hssm_{dataset}.toml"), "--rule", variant,
            "--seed", str(seed), "--out", _rel(out), "--threads", "1", "--quiet"]


def _finished(path: Path) -> bool:
    if not path.exists():
        return False
    try:
        return read_run(path).result is not None
    except (OSError, ValueError, KeyError):
        return False


def add_gradient_noise(trainer, noise: float) -> None:
    """Multiply every gradient of ``trainer``'s steps by ``1 + noise * N(0, 1)`` element-wise.

    The noise of step ``s`` is drawn from ``default_rng([seed, 99, s])`` (counter-based,
    so an interrupted control run resumes bit-identically).
    """
    model = trainer.model
    exact = model.loss_and_gradients

    def noisy(*args, **kwargs):
        res, grads = exact(*args, **kwargs)
        rng = np.random.default_rng([trainer.seed, 99, trainer.state.step + 1])
        return res, {k: g * (1.0 + noise * rng.standard_normal(g.shape))
                     for k, g in grads.items()}

    model.loss_and_gradients = noisy


def control_run(dataset: str, seed: int, runs: Path, noise: float):
    """Run (or resume) one control run in this process: BPTT with gradient noise."""
    import numba  # noqa: PLC0415

    from physsim.hssm import RunConfig, Trainer  # noqa: PLC0415

    numba.set_num_threads(1)
    path = run_path(runs, dataset, CONTROL, seed)
    if path.exists():
        trainer = Trainer.resume(path, progress=False)
    else:
        trainer = Trainer(RunConfig.from_file(CONFIGS / f"hssm_{dataset}.toml"), rule="bptt",
                          seed=seed, run_file=path, progress=False)
    add_gradient_noise(trainer, noise)
    return trainer.train()


def run_all(datasets, seeds, runs: Path, jobs: int, control_datasets, noise: float) -> list[str]:
    """Run (or resume) every missing run; returns the commands that were executed."""
    runs.mkdir(parents=True, exist_ok=True)
    todo = [(d, r, s) for d in datasets for s in seeds for r in RULES]
    todo += [(d, CONTROL, s) for d in control_datasets for s in seeds]
    todo = [t for t in todo if not _finished(run_path(runs, *t))]
    if not todo:
        return []
    with open(runs / CODE_VERSIONS, "a") as fh:
        stamp = datetime.datetime.now().isoformat(timespec="seconds")
        fh.write(f"{stamp} {git_commit()}: {len(todo)} runs\n")

    # the runs use the physsim of the checkout this script belongs to (not another
    # installed copy), so a copy of the repository can run while the original changes
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(
        [str(ROOT)] + [q for q in os.environ.get("PYTHONPATH", "").split(os.pathsep) if q])}

    def one(item):
        d, r, s = item
        cmd = command(d, r, s, runs, noise)
        # run from the repository root (paths in the command are relative)
        if r == CONTROL:
            argv = [sys.executable] + cmd[1:]
        else:
            argv = [sys.executable, "-m", "physsim.cli"] + cmd[1:]
        t0 = time.perf_counter()
        proc = subprocess.run(argv, cwd=ROOT, capture_output=True, text=True, env=env)
        status = "ok" if proc.returncode == 0 else f"exit {proc.returncode}"
        print(f"[{time.perf_counter() - t0:7.1f} s] {status}: {shlex.join(cmd)}", flush=True)
        if proc.returncode != 0:
            print(proc.stdout[-2000:], proc.stderr[-4000:], sep="\n", file=sys.stderr)
        return shlex.join(cmd)

    with ThreadPoolExecutor(max_workers=max(1, jobs)) as pool:
        return list(pool.map(one, todo))


def collect(datasets, seeds, runs: Path, control_datasets=()) -> dict:
    """Per (dataset, variant): the run records of every seed."""
    out: dict = {}
    wanted = [(d, r) for d in datasets for r in RULES] + [(d, CONTROL) for d in control_datasets]
    for d, r in wanted:
        recs = []
        for s in seeds:
            path = run_path(runs, d, r, s)
            if not _finished(path):
                raise FileNotFoundError(f"run {path} is missing or unfinished; run without "
                                        "--report-only")
            recs.append(read_run(path))
        out[(d, r)] = recs
    return out


def _stats(values):
    v = np.asarray(values, float)
    return float(v.mean()), float(v.std(ddof=1)) if v.size > 1 else 0.0


def loss_divergence(a, b) -> np.ndarray:
    """Relative difference of two runs' training losses over their common steps."""
    la, lb = a.history["train"]["loss"], b.history["train"]["loss"]
    n = min(la.size, lb.size)
    return np.abs(la[:n] - lb[:n]) / np.abs(lb[:n])


def first_parting_step(a, b) -> int | None:
    """First step at which the training losses differ by more than :data:`PARTED` (or None)."""
    rel = loss_divergence(a, b)
    above = np.flatnonzero(rel > PARTED)
    return int(a.history["train"]["step"][above[0]]) if above.size else None


def first_step_gradients(dataset: str, seed: int) -> dict:
    """RHEL against BPTT at the first training step of a run: same parameters, same batch,
    same dropout masks.  Returns the worst tensor's relative difference, cosine and norm
    ratio, and the time of each gradient."""
    import numba  # noqa: PLC0415

    from physsim.gradients import agreement  # noqa: PLC0415
    from physsim.hssm import RunConfig, Trainer  # noqa: PLC0415

    numba.set_num_threads(1)
    cfg = RunConfig.from_file(CONFIGS / f"hssm_{dataset}.toml")
    with tempfile.TemporaryDirectory() as tmp:  # the trainer writes nothing before train()
        trainer = Trainer(cfg, rule="bptt", seed=seed, run_file=Path(tmp) / "x.h5",
                          progress=False)
    model = trainer.model
    buffers = {k: v.copy() for k, v in model.state().items()}
    grads, times = {}, {}
    for rule in RULES:
        model.rule = rule
        model.load_state(buffers)
        x, y, lengths, rng = trainer.step_batch(1)
        t0 = time.perf_counter()
        grads[rule] = {k: v.copy() for k, v in
                       model.loss_and_gradients(x, y, lengths, rng=rng)[1].items()}
        times[rule] = time.perf_counter() - t0
    rel = {k: float(np.linalg.norm(grads["rhel"][k] - g) / np.linalg.norm(g))
           for k, g in grads["bptt"].items()}
    agree = [agreement(grads["rhel"][k], g) for k, g in grads["bptt"].items()]
    return {"max_rel_diff": max(rel.values()), "worst_tensor": max(rel, key=rel.get),
            "min_cosine": min(a.cosine for a in agree),
            "max_ratio_dev": max(abs(a.norm_ratio - 1) for a in agree), "time_s": times}


def plot(records: dict, datasets, path: Path) -> None:
    """Top: validation metric against step, every seed and rule.  Bottom: relative
    difference of the training losses of RHEL and of the control against BPTT (same seed)."""
    import matplotlib  # noqa: PLC0415

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt  # noqa: PLC0415

    fig, axes = plt.subplots(2, len(datasets), figsize=(4.6 * len(datasets), 6.6),
                             squeeze=False)
    colors = {"bptt": "tab:blue", "rhel": "tab:orange", CONTROL: "tab:green"}
    floor = 1e-17
    for col, d in enumerate(datasets):
        ax = axes[0, col]
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
        ax = axes[1, col]
        for variant, label in (("rhel", "RHEL vs BPTT"), (CONTROL, "BPTT + noise vs BPTT")):
            if (d, variant) not in records:
                continue
            for j, (rec, ref) in enumerate(zip(records[(d, variant)], records[(d, "bptt")])):
                rel = np.maximum(loss_divergence(rec, ref), floor)
                ax.plot(rec.history["train"]["step"][:rel.size], rel, color=colors[variant],
                        lw=0.8, alpha=0.8, label=label if j == 0 else None)
        ax.set_yscale("log")
        ax.set_ylim(floor / 2, 10)
        ax.axhline(PARTED, color="k", lw=0.6, ls=":")
        ax.set_xlabel("training step")
        ax.set_ylabel("relative difference of training loss")
        ax.grid(alpha=0.3)
        ax.legend(fontsize=8)
    fig.tight_layout()
    fig.savefig(path, dpi=110)
    plt.close(fig)


def _welch_p(a, b) -> float:
    from scipy.stats import ttest_ind  # noqa: PLC0415

    a, b = np.asarray(a, float), np.asarray(b, float)
    if np.all(a == a[0]) and np.all(b == b[0]):
        return 1.0 if a[0] == b[0] else 0.0
    return float(ttest_ind(a, b, equal_var=False).pvalue)


def report(records: dict, datasets, seeds, runs: Path, out: Path, jobs: int,
           control_datasets=(), noise: float = 1e-15, grad_checks: dict | None = None,
           notes: Path | None = None) -> str:
    """Write the markdown report and the figure; returns the markdown text.

    ``notes`` is a hand-written markdown file inserted before the dataset details (e.g.
    the history of earlier runs)."""
    import tomllib  # noqa: PLC0415

    grad_checks = grad_checks or {}
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
    diag = ["| dataset | step-1 gradients, RHEL vs BPTT: max relative difference over tensors "
            "| first step where training losses differ > 1e-9, RHEL vs BPTT (per seed) "
            f"| same, BPTT + {noise:g} noise vs BPTT (per seed) | control (BPTT + {noise:g} "
            "noise) | control within 1 std of BPTT | Welch t-test p, RHEL vs BPTT |",
            "|---|---|---|---|---|---|---|"]
    details, summaries = [], []
    for d in datasets:
        bp = records[(d, "bptt")]
        metric = bp[0].attrs["metric"]
        base = bp[0].result["baseline_test_metric"]
        variants = list(RULES) + ([CONTROL] if (d, CONTROL) in records else [])
        vals = {r: [rec.result["test_metric"] for rec in records[(d, r)]] for r in variants}
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
        parted = {v: [first_parting_step(a, b) for a, b in zip(records[(d, v)], bp)]
                  for v in variants[1:]}
        fmt_steps = lambda v: ", ".join("never" if s is None else str(s)  # noqa: E731
                                        for s in parted[v]) if v in parted else "not run"
        gc = grad_checks.get(d)
        gc_s = (f"{gc['max_rel_diff']:.1e} (`{gc['worst_tensor']}`; min cosine "
                f"{gc['min_cosine']:.15f}, max abs(norm ratio - 1) {gc['max_ratio_dev']:.1e})"
                if gc else "not computed")
        if CONTROL in vals:
            mc_, sc_ = _stats(vals[CONTROL])
            ctrl_s, ctrl_within = fmt(mc_, sc_), ("yes" if abs(mc_ - mb) <= sb else "NO") + \
                f" (diff {abs(mc_ - mb):.3g})"
        else:
            ctrl_s = ctrl_within = "not run"
        diag.append(f"| {d} | {gc_s} | {fmt_steps('rhel')} | {fmt_steps(CONTROL)} | {ctrl_s} | "
                    f"{ctrl_within} | {_welch_p(vals['rhel'], vals['bptt']):.2f} |")
        # the last best-validation step of the seed's two runs: the test metrics are taken
        # there, so runs that part only after it report the same test metric
        best = [max(a.result["best_step"], b.result["best_step"])
                for a, b in zip(records[(d, "rhel")], bp)]
        summaries.append(DatasetSummary(d, mb, sb, mr, sr, vals, parted, within, best, gc,
                                        mc["hru"]))
        cfg = tomllib.loads(bp[0].attrs["config_toml"])
        ds_line = bp[0].attrs["dataset"].splitlines()
        per_seed = "; ".join(
            f"seed {s}: " + ", ".join(f"{'BPTT + noise' if v == CONTROL else v.upper()} "
                                      f"{vals[v][j]:.4f}" for v in variants)
            for j, s in enumerate(seeds))
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
              "![validation curves and divergence of the runs](rhel_vs_bptt_datasets.png)", "",
              "## Why the two rules' runs differ at all", "",
              "For linear HRUs RHEL's gradient equals BPTT's up to round-off at any nudge; "
              "for nonlinear ones the centred estimate has an O(eps^2) bias in the nudge eps, "
              "which RHEL's default on the ideal device (paired echoes at a relative nudge of "
              f"{PAIRED_RELATIVE_NUDGE:g}, module docstring of `physsim.rhel`) puts far below "
              "round-off (the runs' commit is under \"Code and commands\"). The table below "
              f"checks this at the first training step of the seed-{seeds[0]} run (its model, "
              "batch and dropout masks, float64), and then measures, from the runs' own "
              "histories, when the training losses of RHEL and BPTT runs with the same seed "
              "stop agreeing. The control runs "
              "are BPTT runs whose every gradient is multiplied element-wise by "
              f"`1 + {noise:g} * N(0, 1)`: a perturbation of the size of float64 round-off, "
              "with no RHEL involved. If the control parts from BPTT about as early as RHEL "
              "does, the difference between the rules' runs is round-off amplified by the "
              "training dynamics, not a difference between the rules.", "", *diag, ""]
    lines += _diagnosis_text(summaries, noise)
    if notes is not None:
        lines += [notes.read_text().rstrip(), ""]
    lines += ["## Datasets and settings", ""]
    lines += details
    lines += ["## Code and commands", ""]
    versions = (runs / CODE_VERSIONS).read_text().splitlines() \
        if (runs / CODE_VERSIONS).exists() else []
    if versions:
        lines += ["Code version of each launch of the runs (time, git commit, runs started):",
                  "", "```", *versions, "```", ""]
    lines += ["All runs (this script, from the repository root):", "", "```",
              f"python experiments/exp_rhel_vs_bptt_datasets.py --datasets {' '.join(datasets)} "
              f"--seeds {' '.join(map(str, seeds))} --jobs {jobs} --runs {_rel(runs)}"
              + (f" --out {_rel(out)}" if out.resolve() != DEFAULT_OUT.resolve() else "")
              + (f" --control-datasets {' '.join(control_datasets)} --control-noise {noise:g}"
                 if control_datasets else " --control-datasets")
              + (f" --notes {_rel(notes)}" if notes is not None else ""), "```",
              "", "which executes, for each run:", "", "```"]
    for d in datasets:
        for s in seeds:
            for r in RULES:
                lines.append(shlex.join(
                    ["physsim", "train", _rel(CONFIGS / f"hssm_{d}.toml"), "--rule", r,
                     "--seed", str(s), "--out", _rel(run_path(runs, d, r, s)),
                     "--threads", "1", "--quiet"]))
    for d in control_datasets:
        for s in seeds:
            lines.append(shlex.join(command(d, CONTROL, s, runs, noise)))
    lines += ["```", "", "(an interrupted run is continued with `physsim train --resume "
              "RUN.h5 --threads 1 --quiet`, or the control command again; both give the same "
              "result as an uninterrupted run).", ""]
    text = "\n".join(lines)
    out.mkdir(parents=True, exist_ok=True)
    (out / "rhel_vs_bptt_datasets.md").write_text(text)
    plot(records, datasets, out / "rhel_vs_bptt_datasets.png")
    return text


def _diagnosis_text(summaries: list[DatasetSummary], noise) -> list[str]:
    """One paragraph per dataset on when its same-seed runs part and on the check, then the
    interpretation when any runs part."""
    def steps(parts):
        return ", ".join("never" if s is None else str(s) for s in parts)

    out = []
    chaotic = []
    for sm in summaries:
        d, parted, vals, best, gc = sm.name, sm.parted, sm.test_metrics, sm.best_steps, \
            sm.grad_check
        mb, sb, mr, sr = sm.bptt_mean, sm.bptt_std, sm.rhel_mean, sm.rhel_std
        k = abs(mr - mb) / sb if sb > 0 else (0.0 if mr == mb else float("inf"))
        verdict = (f"RHEL's mean lies {k:.2g} BPTT standard deviations from BPTT's (BPTT "
                   f"{mb:.4g} ± {sb:.2g}, RHEL {mr:.4g} ± {sr:.2g}): the check "
                   + ("passes." if sm.within else "**fails**."))
        rhel_steps = [s for s in parted["rhel"] if s is not None]
        if not rhel_steps:
            text = (f"**{d}**: the RHEL and BPTT runs with the same seed never part (training "
                    "losses equal to 1e-9 at every step), so the rules give the same numbers. ")
        else:
            text = (f"**{d}**: the RHEL and BPTT runs with the same seed have equal training "
                    f"losses (to 1e-9) up to step {min(rhel_steps) - 1} at least, then part "
                    f"(first differing step per seed: {steps(parted['rhel'])}). ")
            ctrl = [s for s in parted.get(CONTROL, []) if s is not None]
            same_metrics = vals["rhel"] == vals["bptt"]
            if all(s is None or s > b for s, b in zip(parted["rhel"], best)):
                text += ("The best validation steps, where the test metric is taken, come "
                         f"earlier ({', '.join(map(str, best))}), so the rules' test metrics "
                         "are the same. ")
            elif same_metrics:
                text += ("The runs part before the best validation steps "
                         f"({', '.join(map(str, best))}), yet every seed's test metric is the "
                         "same under both rules: they stay close after parting. ")
            elif ctrl or CONTROL not in parted:
                # round-off itself grows until runs part: a chaotic training process
                chaotic.append(d)
            if CONTROL in parted:
                mc_, _ = _stats(vals[CONTROL])
                kc = abs(mc_ - mb) / sb if sb > 0 else float("inf")
                text += (f"BPTT with {noise:g} gradient noise parts from plain BPTT at "
                         + (f"steps {steps(parted[CONTROL])}" if ctrl else "no step")
                         + f" and ends with a mean {kc:.2g} BPTT standard deviations from "
                         "BPTT's. ")
                if not ctrl:
                    text += ("So what separates the rules' runs is larger than the "
                             "control's perturbation: the step-1 gradients differ by "
                             + (f"{gc['max_rel_diff']:.1e} (relative)" if gc else
                                f"more than {noise:g}")
                             + (" (on a nonlinear HRU: the O(eps^2) bias of RHEL's finite "
                                "nudge and the round-off of both computations, which that "
                                "number does not tell apart). " if sm.hru == "nonlinear"
                                else ". "))
        out += [text + verdict, ""]
    if chaotic:
        n_seeds = len(summaries[0].test_metrics["bptt"])
        out += ["Interpretation: where round-off-sized perturbations grow until the runs part "
                f"before their test metrics are taken ({', '.join(chaotic)}), a run with a "
                "given seed is one draw of "
                "a chaotic process, and RHEL and BPTT runs with the same seed are as good as "
                "independent draws: the same seed does not pair them. Whether such a dataset "
                "passes the one-standard-deviation check is then partly chance: it fails with "
                f"probability {100 * chance_of_failing(n_seeds):.0f} % for {n_seeds} seeds even "
                "if both rules were the same algorithm (Monte Carlo with two independent sets "
                "of normal draws; the sample standard deviation of few draws is often much "
                "smaller than the spread). A pass or a failure there says little about the "
                "learning rules; the step-1 gradient check and the control are the direct "
                "evidence. The numbers are reported as run, with no seed selection and no "
                "config change.", ""]
    return out


def chance_of_failing(n_seeds: int, n_trials: int = 200_000) -> float:
    """Probability that the mean of ``n_seeds`` draws lies more than one sample standard
    deviation from the mean of ``n_seeds`` other draws of the same normal distribution."""
    rng = np.random.default_rng(0)
    a = rng.standard_normal((n_trials, n_seeds))
    b = rng.standard_normal((n_trials, n_seeds))
    return float(np.mean(np.abs(b.mean(axis=1) - a.mean(axis=1)) > a.std(axis=1, ddof=1)))


def main(argv: list[str] | None = None) -> str:
    """Run the missing runs and write the report; returns the markdown text."""
    p = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    p.add_argument("--datasets", nargs="+", default=list(DEFAULT_DATASETS))
    p.add_argument("--seeds", nargs="+", type=int, default=[0, 1, 2])
    p.add_argument("--jobs", type=int, default=2, help="runs at a time (one thread each)")
    p.add_argument("--runs", type=Path, default=DEFAULT_RUNS, help="folder of the run files")
    p.add_argument("--out", type=Path, default=DEFAULT_OUT, help="folder of the report")
    p.add_argument("--report-only", action="store_true", help="only read existing run files")
    p.add_argument("--control-datasets", nargs="*", default=None,
                   help="datasets that get control runs (default: all; none if given empty)")
    p.add_argument("--control-noise", type=float, default=1e-15,
                   help="relative gradient noise of the control runs")
    p.add_argument("--notes", type=Path, default=None,
                   help="markdown file of hand-written notes to include in the report")
    p.add_argument("--control-run", action="store_true",
                   help="internal: run the control of one dataset and seed in this process")
    args = p.parse_args(argv)
    for d in args.datasets:
        if not (CONFIGS / f"hssm_{d}.toml").exists():
            raise SystemExit(f"no config {CONFIGS / f'hssm_{d}.toml'} for dataset {d!r}")
    if args.notes is not None and not args.notes.is_file():
        raise SystemExit(f"--notes {args.notes}: no such file")
    if not args.control_noise > 0:
        raise SystemExit(f"--control-noise must be positive, got {args.control_noise}")
    if args.control_run:
        if len(args.datasets) != 1 or len(args.seeds) != 1:
            raise SystemExit("--control-run takes exactly one dataset and one seed")
        res = control_run(args.datasets[0], args.seeds[0], args.runs, args.control_noise)
        print(f"{res.stop_reason} after {res.steps} steps; test {res.metric} "
              f"{res.test_metric:.4f}")
        return ""
    control = args.datasets if args.control_datasets is None else args.control_datasets
    unknown = set(control) - set(args.datasets)
    if unknown:
        raise SystemExit(f"--control-datasets {sorted(unknown)} are not among --datasets")
    if not args.report_only:
        run_all(args.datasets, args.seeds, args.runs, args.jobs, control, args.control_noise)
    records = collect(args.datasets, args.seeds, args.runs, control)
    grad_checks = {d: first_step_gradients(d, args.seeds[0]) for d in args.datasets}
    text = report(records, args.datasets, args.seeds, args.runs, args.out, args.jobs, control,
                  args.control_noise, grad_checks, args.notes)
    print(text.split("\n## Datasets")[0])
    return text


if __name__ == "__main__":
    main(sys.argv[1:])
