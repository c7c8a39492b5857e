"""Hamiltonian Learning on an RNN: reversed stream vs BPTT on sklearn digits (64-step sequences).

Each 8x8 digit is read pixel by pixel (row-major, intensities / 16) as a
64-step sequence of one input; a linear read-out of the last state classifies
it (softmax cross-entropy on the last token only), batch size 1, one SGD step
per sequence, float64.  Three variants, each against an independently written
BPTT + SGD (``physsim.hl.reference.rnn_sgd_reference``):

* ``elman-full``: tanh Elman RNN, HL reversed stream with full length
  (``tau phi = 1``, ``eta = 0``; research/hl.md section 2.4);
* ``elman-trunc``: the same with truncation length ``r`` (``--truncation``);
* ``midpoint-reversible``: the two-step midpoint (leapfrog) RNN trained with
  ``storage="reversible"``: past states are recomputed backwards, nothing is
  stored; the reference is BPTT of the same leapfrog-discretised network.

Writes ``digits_rnn.md`` (final-weight differences, losses, test accuracy) and
``digits_rnn_loss.png`` into ``--out`` (default ``experiments/results/hl``).
Needs scikit-learn.

Usage::

    python experiments/exp_hl_digits_rnn.py [--train 1000] [--epochs 4] [--out DIR]
"""

from __future__ import annotations

import argparse
import sys
import time
from pathlib import Path

import numpy as np

from physsim import hl
from physsim.hl.reference import rnn_bptt_reference, rnn_sgd_reference

from _common import param_diff_stats, reproduce_section  # experiments/_common.py

DEFAULT_OUT = Path(__file__).resolve().parent / "results" / "hl"


def _accuracy(model, params, x, y) -> float:
    correct = 0
    for xi, yi in zip(x, y):
        h = model.initial_state()
        for k in range(xi.shape[0]):
            h, _ = model.state_step(params, xi[k], h, 1.0)
        correct += int(np.argmax(model.predict(params, None, h)) == yi)
    return correct / len(y)


def main(argv: list[str] | None = None) -> dict:
    """Run the three variants; returns the table rows keyed by variant name."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--train", type=int, default=1000, help="training sequences (default 1000)")
    parser.add_argument("--test", type=int, default=500, help="test sequences (default 500)")
    parser.add_argument("--epochs", type=int, default=4, help="epochs (default 4)")
    parser.add_argument("--hidden", type=int, default=32, help="hidden units (default 32)")
    parser.add_argument("--truncation", type=int, default=16, help="r of elman-trunc (default 16)")
    parser.add_argument("--dt", type=float, default=0.1, help="midpoint RNN step (default 0.1)")
    parser.add_argument("--seed", type=int, default=0, help="seed of split, order and weights")
    parser.add_argument("--out", type=Path, default=DEFAULT_OUT, help="output directory")
    parser.add_argument("--no-plot", action="store_true", help="skip the PNG")
    args = parser.parse_args(argv)
    if min(args.train, args.test, args.epochs, args.hidden, args.truncation) < 1:
        parser.error("--train, --test, --epochs, --hidden, --truncation must be >= 1")

    from sklearn.datasets import load_digits  # optional dependency (extra "test")

    images, labels = load_digits(return_X_y=True)
    if args.train + args.test > len(images):
        parser.error(f"--train + --test must be <= {len(images)}")
    seqs = (images / 16.0)[:, :, None]               # (1797, 64, 1)
    rng = np.random.default_rng(args.seed)
    split = rng.permutation(len(images))
    train, test = split[:args.train], split[args.train:args.train + args.test]
    order = np.concatenate([train[rng.permutation(args.train)] for _ in range(args.epochs)])
    xs, ys = seqs[order], labels[order]
    n_steps = seqs.shape[1]
    mask = np.zeros((len(order), n_steps), bool)
    mask[:, -1] = True
    y_every = np.repeat(ys[:, None], n_steps, axis=1)

    H = args.hidden
    variants = {
        "elman-full": dict(cell=hl.ElmanCell(1, H), key=None, ref="elman", lr=0.005,
                           truncation=None, storage="stored"),
        "elman-trunc": dict(cell=hl.ElmanCell(1, H), key=None, ref="elman", lr=0.005,
                            truncation=args.truncation, storage="stored"),
        "midpoint-reversible": dict(cell=hl.MidpointRNNCell(1, H, dt=args.dt), key="current",
                                    ref="midpoint", lr=0.02, truncation=None,
                                    storage="reversible"),
    }
    rows, curves = {}, {}
    for name, v in variants.items():
        t0 = time.perf_counter()
        model = hl.HLModel(state_cell=v["cell"], output_cell=hl.LinearReadout(H, 10, key=v["key"]),
                           loss="cross_entropy")
        params0 = model.init_params(rng=args.seed + 1)
        # per-sequence gradient check at the initial weights (first 20 training sequences)
        grad_err = 0.0
        for i in range(20):
            res = hl.reversed_stream_gradient(model, params0, xs[i], y_every[i], mask[i],
                                              truncation=v["truncation"], storage=v["storage"])
            _, gs, gr = rnn_bptt_reference(v["ref"], params0.state, params0.output, xs[i],
                                           y_every[i], mask[i], "cross_entropy",
                                           truncation=v["truncation"], dt=args.dt)
            grad_err = max(grad_err, param_diff_stats(res.weight_costate,
                                                      hl.HLParams(gs, gr))[0])
        # training: HL reversed stream, one run over all epochs (progress bar on a terminal)
        stream = hl.Stream.from_sequences(xs, ys, target_at="last")
        hl_run = hl.run_hl(model, params0, stream, hl.bptt_config(v["lr"]), mode="reversed",
                           truncation=v["truncation"], storage=v["storage"],
                           progress=sys.stderr.isatty())
        t_hl = time.perf_counter() - t0
        ref = rnn_sgd_reference(v["ref"], params0.state, params0.output, xs, y_every, mask,
                                "cross_entropy", v["lr"], truncation=v["truncation"], dt=args.dt)
        ref_params = hl.HLParams(ref.params["state"], ref.params["output"])
        rows[name] = {
            **v, "grad_err": grad_err,
            "weights": param_diff_stats(hl_run.params, ref_params),
            "loss_diff": float(np.max(np.abs(hl_run.losses - ref.losses))),
            "loss_first": float(hl_run.losses[:args.train].mean()),
            "loss_last": float(hl_run.losses[-args.train:].mean()),
            "acc_hl": _accuracy(model, hl_run.params, seqs[test], labels[test]),
            "acc_ref": _accuracy(model, ref_params, seqs[test], labels[test]),
            "hl_steps": hl_run.n_steps, "seconds_hl": t_hl,
            "recon": hl_run.max_reconstruction_error,
        }
        curves[name] = (hl_run.losses, ref.losses)
        r = rows[name]
        print(f"{name}: grad err {grad_err:.1e}, final weights max {r['weights'][0]:.1e}, "
              f"loss {r['loss_first']:.3f} -> {r['loss_last']:.3f}, test acc {r['acc_hl']:.3f} "
              f"({time.perf_counter() - t0:.1f} s)")

    args.out.mkdir(parents=True, exist_ok=True)
    _write_table(args.out / "digits_rnn.md", rows, args, reproduce_section(__file__, argv))
    if not args.no_plot:
        _plot(args.out / "digits_rnn_loss.png", curves, args.train)
    return rows


def _write_table(path, rows, args, reproduce) -> None:
    lines = [
        "# Hamiltonian Learning on an RNN: reversed stream vs BPTT (sklearn digits)",
        "",
        f"Digits read pixel by pixel as 64-step sequences (1 input), {args.hidden} tanh units, "
        f"linear read-out of the last state, cross-entropy on the last token, batch size 1, "
        f"{args.train} training / {args.test} test sequences, {args.epochs} epochs, seed "
        f"{args.seed}, float64. HL: mode `reversed` with `bptt_config(lr)` (tau phi = 1, "
        f"eta = 0, omega reset per sequence, one weight update per sequence). Reference: "
        f"`physsim.hl.reference.rnn_sgd_reference` (explicit-loop BPTT + SGD, independent "
        f"of the HL code).",
        "",
        "| variant | network | r | storage | lr | max abs grad diff (20 seqs, init) | "
        "final weights max / mean abs diff | max loss diff | train loss epoch 1 -> last | "
        "test acc HL / ref | HL steps | max state reconstruction error |",
        "|---|---|---|---|---|---|---|---|---|---|---|---|",
    ]
    for name, r in rows.items():
        net = ("Elman (Euler)" if r["ref"] == "elman"
               else f"two-step midpoint, dt = {args.dt:g}")
        lines.append(
            f"| {name} | {net} | {r['truncation'] or 64} | {r['storage']} | {r['lr']:g} | "
            f"{r['grad_err']:.1e} | {r['weights'][0]:.1e} / {r['weights'][1]:.1e} | "
            f"{r['loss_diff']:.1e} | {r['loss_first']:.3f} -> {r['loss_last']:.3f} | "
            f"{r['acc_hl']:.3f} / {r['acc_ref']:.3f} | {r['hl_steps']} | "
            f"{'n/a' if r['recon'] is None else format(r['recon'], '.1e')} |")
    lines += [
        "",
        "HL steps = sequences x (64 forward + r - 1 reversed). The midpoint variant stores no "
        "states: they are recomputed by the inverse leapfrog step while the reversed stream "
        "walks back (memory: `benchmarks/bench_hl.py`). Plain SGD without clipping on "
        "pixel-level sequences is slow and can be unstable for the Elman net; the point here "
        "is the equality of the trajectories, not the accuracy.",
        "",
        "![loss curves](digits_rnn_loss.png)",
        "",
        *reproduce,
    ]
    Path(path).write_text("\n".join(lines))


def _plot(path, curves, per_epoch) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    window = max(per_epoch // 10, 1)
    kernel = np.ones(window) / window
    fig, axes = plt.subplots(1, len(curves), figsize=(5 * len(curves), 3.4),
                             constrained_layout=True, squeeze=False)
    for ax, (name, (hl_losses, ref_losses)) in zip(axes[0], curves.items()):
        for losses, label, style in ((ref_losses, "BPTT + SGD reference",
                                      dict(color="k", lw=3, alpha=0.35)),
                                     (hl_losses, "HL reversed stream", dict(color="C0", lw=1.2))):
            smooth = np.convolve(losses, kernel, mode="valid")
            ax.plot(np.arange(window, len(losses) + 1) / per_epoch, smooth, label=label, **style)
        ax.set_title(name)
        ax.set_xlabel("epoch")
    axes[0][0].set_ylabel(f"training loss (running mean of {window})")
    axes[0][0].legend(fontsize=8)
    fig.savefig(path, dpi=80)
    plt.close(fig)


if __name__ == "__main__":
    main(sys.argv[1:])
