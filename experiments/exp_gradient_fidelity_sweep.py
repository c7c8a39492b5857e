"""Gradient fidelity of RHEL under every noise knob of NoisyAnalog and FinitePrecision.

Runs the two sweeps ``experiments/configs/sweep_gradient_fidelity_{linear,nonlinear}_hru.toml``
(each knob swept alone, 3 seeds; the reference is BPTT on the ideal device), then
writes into ``--out`` (default ``experiments/results/sweeps``):

* ``gradient_fidelity.png``: ``1 - cosine`` (all parameters) against every knob,
  both devices, with the 0.99 level;
* ``gradient_fidelity.md``: per knob and device, where the cosine falls below
  0.99, for all parameters together and for the worst parameter tensor.

The sweep files go to ``physsim_output/sweeps`` (re-running resumes them).

Usage::

    python experiments/exp_gradient_fidelity_sweep.py [--workers N] [--scheduler ADDR] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

import numpy as np

from physsim.plotting import plot_sweep_overview, save_figure
from physsim.sweeps import load_sweep, load_sweep_config, run_sweep

HERE = Path(__file__).resolve().parent
CONFIGS = {"LinearHRU": HERE / "configs" / "sweep_gradient_fidelity_linear_hru.toml",
           "NonlinearHRU": HERE / "configs" / "sweep_gradient_fidelity_nonlinear_hru.toml"}
DEFAULT_OUT = HERE / "results" / "sweeps"
LEVEL = 0.99


def worst_tensor(res, axis) -> tuple[str, object]:
    """The parameter tensor whose cosine crosses the level first, and its threshold."""
    tensors = [c for c in res.columns if c.startswith("cosine/") and c != "cosine/all"]
    found = [(c.split("/", 1)[1], res.threshold(c, axis, LEVEL)) for c in tensors]
    crossing = [(n, t) for n, t in found if t.kind == "crossing"]
    if crossing:
        ax = res.axes[res.axis_index(axis)]
        if ax.categorical:
            return crossing[0]
        # the knob value that is least harmful yet already fails: nearest to the good end
        x, y = res.series(tensors[0], axis)
        good_low = np.nanmean(y[0]) >= np.nanmean(y[-1])
        key = (lambda nt: nt[1].value) if good_low else (lambda nt: -nt[1].value)
        return min(crossing, key=key)
    below = [(n, t) for n, t in found if t.kind == "below"]
    return below[0] if below else found[0]


def summary_table(results: dict) -> list[str]:
    """Markdown rows: knob, then per device the all-parameter and worst-tensor thresholds."""
    names = list(results)
    first = results[names[0]]
    head = "| knob (field) | " + " | ".join(
        f"{n}: all parameters | {n}: first tensor below" for n in names) + " |"
    rows = [head, "|" + "---|" * (1 + 2 * len(names))]
    for ax in first.axes:
        cells = [f"{ax.label} (`{ax.field}`)"]
        for n in names:
            res = results[n]
            t_all = res.threshold("cosine/all", ax.label, LEVEL)
            tensor, t_w = worst_tensor(res, ax.label)
            cells += [str(t_all), f"{tensor}: {t_w}"]
        rows.append("| " + " | ".join(cells) + " |")
    return rows


def main(argv: list[str] | None = None) -> dict:
    """Run (or resume) both sweeps and write the figure and the summary."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--workers", type=int, default=None, help="local processes (all cores)")
    parser.add_argument("--scheduler", default=None, help="dask.distributed scheduler address")
    parser.add_argument("--out", default=str(DEFAULT_OUT), help="folder for .md and .png")
    args = parser.parse_args(argv)
    out = Path(args.out)
    out.mkdir(parents=True, exist_ok=True)
    results = {}
    for name, path in CONFIGS.items():
        cfg = load_sweep_config(path)
        s = run_sweep(cfg, workers=args.workers, scheduler=args.scheduler)
        if s.n_failed:
            print(f"{name}: {s.n_failed} task(s) failed; see {s.path}", file=sys.stderr)
        results[name] = load_sweep(s.path)
    fig = plot_sweep_overview(results, "cosine/all", threshold=LEVEL, one_minus=True, logy=True,
                              spread="minmax", ncols=5)
    save_figure(fig, out / "gradient_fidelity.png", dpi=100)
    first = next(iter(results.values()))
    cfg_lin = results["LinearHRU"].config["problem"]
    lines = [
        "# Gradient fidelity of RHEL under hardware noise",
        "",
        "Produced by `python experiments/exp_gradient_fidelity_sweep.py` from the sweeps",
        f"`{CONFIGS['LinearHRU'].relative_to(HERE.parent)}` and "
        f"`{CONFIGS['NonlinearHRU'].relative_to(HERE.parent)}`.",
        "",
        f"Each knob of `NoisyAnalog` and `FinitePrecision` is swept alone (all others ideal), "
        f"{first.n_seeds} seeds per value (a seed fixes the device instance and all noise).  "
        "At each point RHEL (centred, recorded nudges, float64) measures the gradient of an "
        "MSE read-out loss on the noisy device; it is compared with BPTT on the *ideal* "
        "device.  Devices: a LinearHRU (16 units, random paper initialisation) and a "
        "NonlinearHRU (16 units, step 0.1), 2 inputs of white noise, "
        f"{cfg_lin['simulation']['n_steps']} steps, batch {cfg_lin['simulation']['batch']}.",
        "",
        f"The table gives where the cosine similarity (mean over seeds) falls below {LEVEL}: "
        "interpolated between the last swept value at or above it and the first below "
        "(log-interpolated for log ranges).  \"all parameters\" is the cosine of the "
        "concatenated parameter gradient, which the largest tensor dominates; \"first "
        "tensor below\" is the tensor that crosses first.  For word lengths and the "
        "quality factor, the device is good *above* the threshold.",
        "",
        *summary_table(results),
        "",
        "![1 - cosine against every knob](gradient_fidelity.png)",
        "",
        "Compute time summed over tasks: "
        + ", ".join(f"{n} {np.nansum(r.seconds):.0f} s ({r.n_done} tasks done, "
                    f"{r.n_failed} failed)" for n, r in results.items())
        + f"; physsim {first.attrs.get('physsim_version')}.",
    ]
    notes = out / "gradient_fidelity_notes.md"
    if notes.exists():
        lines += ["", notes.read_text().strip()]
    (out / "gradient_fidelity.md").write_text("\n".join(lines) + "\n")
    print("\n".join(summary_table(results)))
    print(f"\nwrote {out / 'gradient_fidelity.md'} and {out / 'gradient_fidelity.png'}")
    return results


if __name__ == "__main__":
    main()
