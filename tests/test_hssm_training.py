"""HSSM training: loss reduction under both rules, bit-identical resume (step limit and
signal), run-file contents, configuration errors and the ``physsim train`` entry point."""

from __future__ import annotations

import json
import os
import signal
import sys
from pathlib import Path

import h5py
import numpy as np
import pytest

from physsim.hssm import RunConfig, Trainer, cli_train, load_data
from physsim.storage import read_run
from physsim.storage.training_run import KIND as RUN_KIND

CLASSIFY = """
[data]
name = "synthetic_frequencies"
n_cases = 120
length = 32

[model]
hru = "{hru}"
n_blocks = 2
hidden = 8
units = 8
nonlinear_step = 0.3

[training]
lr = 1e-2
batch_size = 16
max_steps = {steps}
eval_every = {eval_every}
checkpoint_every = {ckpt}
patience = 0
"""

REGRESS = """
[data]
name = "synthetic_smoothing"
n_cases = 64
length = 32
output_step = 4

[model]
n_blocks = 1
hidden = 8
units = 8
complex = false

[training]
lr = 1e-2
batch_size = 8
max_steps = 60
eval_every = 20
patience = 0
"""


pytestmark = pytest.mark.usefixtures("one_numba_thread")


def _cfg(hru="linear", steps=60, eval_every=10, ckpt=10):
    return RunConfig.from_text(CLASSIFY.format(hru=hru, steps=steps, eval_every=eval_every,
                                               ckpt=ckpt))


@pytest.mark.parametrize("hru", ["linear", "nonlinear"])
@pytest.mark.parametrize("rule", ["rhel", "bptt"])
def test_short_training_reduces_loss(tmp_path, rule, hru):
    """60 Adam steps divide the training loss by at least 3 and beat chance clearly."""
    tr = Trainer(_cfg(hru), rule=rule, seed=0, run_file=tmp_path / "run.h5", progress=False)
    result = tr.train()
    losses = np.array([row[1] for row in tr.state.history["train"]])
    assert losses.size == 60 and result.stop_reason == "max_steps"
    assert losses[-10:].mean() < losses[0] / 3, (losses[0], losses[-10:].mean())
    assert result.best_val_metric > 0.6  # chance: 1/3
    assert result.test_metric > result.baseline_test_metric + 0.25


def test_regression_training_reduces_loss(tmp_path):
    tr = Trainer(RunConfig.from_text(REGRESS), rule="rhel", seed=1, run_file=tmp_path / "r.h5",
                 progress=False)
    result = tr.train()
    losses = np.array([row[1] for row in tr.state.history["train"]])
    assert result.metric == "mse"
    assert losses[-10:].mean() < losses[0] / 3
    assert result.test_metric < 0.5 * result.baseline_test_metric


def test_rules_give_the_same_training_for_a_linear_model(tmp_path):
    """RHEL is exact for linear units: the two rules train to the same parameters (to round-off)."""
    p = {}
    for rule in ("rhel", "bptt"):
        tr = Trainer(_cfg(steps=20), rule=rule, seed=2, run_file=tmp_path / f"{rule}.h5",
                     progress=False)
        tr.train()
        p[rule] = tr.model.parameters()
    for k in p["bptt"]:
        np.testing.assert_allclose(p["rhel"][k], p["bptt"][k], rtol=1e-7, atol=1e-9)


def test_step_batch_is_what_train_step_uses(tmp_path):
    """step_batch(s) returns the cases and dropout generator of step s; an epoch's batches
    are disjoint; bad step numbers are refused."""
    tr = Trainer(_cfg(), rule="bptt", seed=7, run_file=tmp_path / "run.h5", progress=False)
    seen = {}
    exact = tr.model.loss_and_gradients

    def spy(x, y, lengths, *, rng):
        seen.update(x=x.copy(), y=y.copy(), lengths=lengths.copy(), draw=rng.random())
        return exact(x, y, lengths, rng=rng)

    tr.model.loss_and_gradients = spy
    tr.train_step(3)
    x, y, lengths, rng = tr.step_batch(3)
    assert np.array_equal(x, seen["x"]) and np.array_equal(y, seen["y"])
    assert np.array_equal(lengths, seen["lengths"]) and rng.random() == seen["draw"]
    train = tr.dataset.train
    per_epoch = train.n_cases // 16
    rows = [tuple(r) for s in range(1, per_epoch + 1) for r in
            tr.step_batch(s)[0].reshape(16, -1)]
    assert len(set(rows)) == per_epoch * 16  # no case twice in an epoch
    for bad in (0, -1, 1.5, True):
        with pytest.raises(ValueError, match="step must be a positive integer"):
            tr.step_batch(bad)


def _assert_same_run(a: Trainer, b: Trainer):
    pa, pb = a.model.parameters(), b.model.parameters()
    assert set(pa) == set(pb)
    for k in pa:
        assert np.array_equal(pa[k], pb[k]), k
    for k in a.best_params:
        assert np.array_equal(a.best_params[k], b.best_params[k]), k
    sa, sb = a.optimizer.state_dict(), b.optimizer.state_dict()
    assert all(np.array_equal(sa[k], sb[k]) for k in sa)
    for k, v in a.model.state().items():
        assert np.array_equal(v, b.model.state()[k]), k
    for part in ("train", "eval", "test"):
        ha = [r[:3] for r in a.state.history[part]]  # wall time differs
        hb = [r[:3] for r in b.state.history[part]]
        assert ha == hb, part
    assert a.state.best_step == b.state.best_step


@pytest.mark.parametrize("stop_after", [7, 10])
def test_resume_gives_bit_identical_parameters(tmp_path, stop_after):
    """Pause after k steps (between checkpoints or on one), resume: same final state."""
    cfg = _cfg(hru="nonlinear", steps=25, eval_every=5, ckpt=4)
    full = Trainer(cfg, rule="rhel", seed=3, run_file=tmp_path / "full.h5", progress=False)
    full.train()
    part = Trainer(cfg, rule="rhel", seed=3, run_file=tmp_path / "part.h5", progress=False)
    res = part.train(stop_after=stop_after)
    assert res.stop_reason == "paused" and res.steps == stop_after
    assert read_run(tmp_path / "part.h5").attrs["status"] == "paused"
    resumed = Trainer.resume(tmp_path / "part.h5", progress=False)
    assert resumed.state.step == stop_after
    final = resumed.train()
    assert final.stop_reason == "max_steps" and final.steps == 25
    _assert_same_run(full, resumed)
    rec_full, rec_part = read_run(tmp_path / "full.h5"), read_run(tmp_path / "part.h5")
    for k in rec_full.params:
        assert np.array_equal(rec_full.params[k], rec_part.params[k])


def test_resume_from_an_older_checkpoint(tmp_path):
    """A hard kill loses the steps after the last checkpoint; they are recomputed identically."""
    cfg = _cfg(steps=20, eval_every=5, ckpt=6)
    full = Trainer(cfg, rule="bptt", seed=4, run_file=tmp_path / "full.h5", progress=False)
    full.train()
    crashed = Trainer(cfg, rule="bptt", seed=4, run_file=tmp_path / "crash.h5", progress=False)
    crashed.train(stop_after=6)  # the file now holds the checkpoint of step 6 ...
    for step in range(7, 10):  # ... and the process goes on without checkpointing, then dies
        crashed.train_step(step)
    resumed = Trainer.resume(tmp_path / "crash.h5", progress=False)
    assert resumed.state.step == 6
    resumed.train()
    _assert_same_run(full, resumed)


def test_resume_with_other_code_warns_and_records_both_fingerprints(tmp_path, monkeypatch):
    import warnings

    from physsim import CodeChangedWarning
    from physsim.storage import provenance
    from physsim.storage.provenance import source_fingerprint

    cfg = _cfg(steps=10, eval_every=5, ckpt=4)
    run = Trainer(cfg, rule="bptt", seed=4, run_file=tmp_path / "r.h5", progress=False)
    run.train(stop_after=4)
    stored = json.loads(str(read_run(tmp_path / "r.h5").attrs["code_fingerprints"]))
    assert stored == [source_fingerprint()]
    with warnings.catch_warnings():  # the same code: silent
        warnings.simplefilter("error", CodeChangedWarning)
        Trainer.resume(tmp_path / "r.h5", progress=False)
    monkeypatch.setattr(provenance, "source_fingerprint", lambda: "0123456789abcdef")
    with pytest.warns(CodeChangedWarning, match="last trained by other code"):
        resumed = Trainer.resume(tmp_path / "r.h5", progress=False)
    resumed.train()
    stored = json.loads(str(read_run(tmp_path / "r.h5").attrs["code_fingerprints"]))
    assert stored == [source_fingerprint(), "0123456789abcdef"]


def test_sigint_pauses_with_a_checkpoint(tmp_path, monkeypatch):
    """Ctrl-C finishes the current step, writes the run file and returns a paused result."""
    cfg = _cfg(steps=15, eval_every=5, ckpt=0)
    full = Trainer(cfg, rule="rhel", seed=5, run_file=tmp_path / "full.h5", progress=False)
    full.train()
    tr = Trainer(cfg, rule="rhel", seed=5, run_file=tmp_path / "sig.h5", progress=False)
    original = tr.train_step

    def step_then_signal(step):
        out = original(step)
        if step == 8:
            os.kill(os.getpid(), signal.SIGINT)
        return out

    monkeypatch.setattr(tr, "train_step", step_then_signal)
    res = tr.train()
    assert res.stop_reason == "paused" and res.steps == 8
    assert signal.getsignal(signal.SIGINT) is signal.default_int_handler
    resumed = Trainer.resume(tmp_path / "sig.h5", progress=False)
    resumed.train()
    _assert_same_run(full, resumed)


def test_run_file_contents(tmp_path):
    cfg = _cfg(steps=20, eval_every=5, ckpt=5)
    tr = Trainer(cfg, rule="bptt", seed=6, run_file=tmp_path / "run.h5", progress=False)
    res = tr.train()
    assert not (tmp_path / "run.h5.partial").exists()
    rec = read_run(tmp_path / "run.h5")
    a = rec.attrs
    assert a["kind"] == RUN_KIND and a["status"] == "finished"
    assert a["rule"] == "bptt" and a["seed"] == 6 and a["metric"] == "accuracy"
    assert a["config_toml"] == cfg.text and '"hidden": 8' in a["config_json"]
    versions = json.loads(a["versions"])
    for k in ("physsim", "python", "numpy", "numba", "h5py"):
        assert versions[k] and versions[k] != "missing"
    assert list(rec.history["train"]["step"]) == list(range(1, 21))
    assert list(rec.history["eval"]["step"]) == [5, 10, 15, 20]
    assert rec.history["test"]["step"][-1] == res.best_step
    assert rec.result["test_metric"] == pytest.approx(res.test_metric)
    assert rec.result["stop_reason"] == "max_steps" and rec.step == 20
    # the best parameters are those of the best validation step: re-evaluate them
    with h5py.File(tmp_path / "run.h5") as f:
        assert f["checkpoint"].attrs["best_step"] == res.best_step
    tr.model.load_parameters(rec.best_params)
    tr.model.load_state(tr.best_buffers)
    from physsim.hssm import evaluate

    _, test_metric = evaluate(tr.model, tr.dataset.test, 64)
    assert test_metric == pytest.approx(res.test_metric)


def test_early_stopping(tmp_path):
    text = CLASSIFY.format(hru="linear", steps=500, eval_every=2, ckpt=0).replace(
        "patience = 0", "patience = 2").replace("lr = 1e-2", "lr = 1e-9")
    res = Trainer(RunConfig.from_text(text), rule="bptt", seed=0, run_file=tmp_path / "e.h5",
                  progress=False).train()
    assert res.stop_reason == "early_stopping"
    assert res.steps < 500 and res.steps == res.best_step + 3 * 2


def test_config_errors(tmp_path):
    with pytest.raises(ValueError, match=r"unknown table\(s\) \['optim'\]"):
        RunConfig.from_text(CLASSIFY.format(hru="linear", steps=1, eval_every=1, ckpt=1)
                            + "\n[optim]\nlr = 1\n")
    with pytest.raises(ValueError, match=r"\[training\]: unknown key\(s\) \['epochs'\]"):
        RunConfig.from_text('[data]\nname = "x"\n[model]\n[training]\nepochs = 3\n')
    with pytest.raises(ValueError, match=r"\[model\]: unknown key\(s\) \['layers'\]"):
        RunConfig.from_text('[data]\nname = "x"\n[model]\nlayers = 3\n')
    with pytest.raises(ValueError, match="missing table \\[model\\]"):
        RunConfig.from_text('[data]\nname = "x"\n')
    with pytest.raises(ValueError, match=r"\[training\] lr: expected a value > 0"):
        RunConfig.from_text('[data]\nname = "x"\n[model]\n[training]\nlr = -1.0\n')
    with pytest.raises(ValueError, match="invalid TOML"):
        RunConfig.from_text("[data\n")
    with pytest.raises(ValueError, match="unknown dataset 'mnist'; valid names are: .*"
                                         "synthetic_frequencies"):
        load_data({"name": "mnist"})
    with pytest.raises(ValueError, match=r"does not take \['window'\]; its options are"):
        load_data({"name": "synthetic_frequencies", "window": 3})
    with pytest.raises(ValueError, match="valid names are: linear, nonlinear"):
        Trainer(RunConfig.from_text(CLASSIFY.format(hru="gru", steps=1, eval_every=1, ckpt=1)),
                rule="rhel", run_file=tmp_path / "x.h5", progress=False)
    with pytest.raises(ValueError, match="valid names are: rhel, bptt"):
        Trainer(_cfg(), rule="ep", run_file=tmp_path / "x.h5", progress=False)
    (tmp_path / "exists.h5").write_bytes(b"")
    with pytest.raises(FileExistsError, match="resume it"):
        Trainer(_cfg(), rule="rhel", run_file=tmp_path / "exists.h5", progress=False)
    with pytest.raises(ValueError, match="other.h5 is not a physsim hssm_run file"):
        with h5py.File(tmp_path / "other.h5", "w") as f:
            f.attrs["kind"] = "something"
        Trainer.resume(tmp_path / "other.h5")


def test_cli_train_and_resume(tmp_path, capsys):
    config = tmp_path / "cfg.toml"
    config.write_text(CLASSIFY.format(hru="linear", steps=12, eval_every=4, ckpt=4))
    run = tmp_path / "run.h5"
    assert cli_train([str(config), "--rule", "rhel", "--seed", "1", "--out", str(run),
                      "--quiet", "--stop-after", "5"]) == 0
    out = capsys.readouterr().out
    assert "paused after 5 steps" in out and f"physsim train --resume {run}" in out
    assert cli_train(["--resume", str(run), "--rule", "bptt", "--quiet"]) == 2
    assert "contradicts the run file" in capsys.readouterr().err
    assert cli_train([str(config), "--rule", "rhel", "--seed", "1", "--out", str(run),
                      "--quiet"]) == 2
    assert "exists" in capsys.readouterr().err
    assert cli_train(["--resume", str(run), str(config), "--quiet"]) == 0
    assert "max_steps after 12 steps" in capsys.readouterr().out
    assert read_run(run).attrs["status"] == "finished"
    # a second uninterrupted run gives the same parameters
    run2 = tmp_path / "run2.h5"
    assert cli_train([str(config), "--rule", "rhel", "--seed", "1", "--out", str(run2),
                      "--quiet"]) == 0
    a, b = read_run(run).params, read_run(run2).params
    assert all(np.array_equal(a[k], b[k]) for k in a)
    assert cli_train([str(config), "--quiet"]) == 2
    assert "--rule" in capsys.readouterr().err
    bad = tmp_path / "bad.toml"
    bad.write_text('[data]\nname = "synthetic_frequencies"\n[model]\nunits = "many"\n')
    assert cli_train([str(bad), "--rule", "rhel", "--out", str(tmp_path / "b.h5"),
                      "--quiet"]) == 2


def test_shipped_configs_are_valid():
    """Every experiments/configs/hssm_*.toml parses, names a known dataset with options its
    loader takes, and describes a valid model (nothing is loaded)."""
    from pathlib import Path

    from physsim.hssm import HSSMConfig
    from physsim.hssm.data_table import check_data_table

    from physsim.data import DATASETS

    folder = Path(__file__).resolve().parent.parent / "experiments" / "configs"
    paths = sorted(folder.glob("hssm_*.toml"))
    assert len(paths) >= 4
    covered = set()
    for path in paths:
        cfg = RunConfig.from_file(path)
        check_data_table(cfg.data)
        HSSMConfig.from_dict(cfg.model, n_inputs=3, n_outputs=2, task="classification")
        covered.add(cfg.data["name"])
    missing = set(DATASETS) - covered
    assert not missing, f"no config in experiments/configs for {sorted(missing)}"


def test_physsim_train_command(tmp_path, capsys):
    """``physsim train CONFIG --rule R --seed N`` through the console script's dispatcher,
    then ``--resume`` of a paused run, and an unknown rule refused by argparse."""
    from physsim.cli import main

    config = tmp_path / "cfg.toml"
    config.write_text(CLASSIFY.format(hru="linear", steps=6, eval_every=3, ckpt=3))
    run = tmp_path / "run.h5"
    assert main(["train", str(config), "--rule", "bptt", "--seed", "2", "--out", str(run),
                 "--quiet", "--stop-after", "3"]) == 0
    assert main(["train", "--resume", str(run), "--quiet"]) == 0
    assert "max_steps after 6 steps" in capsys.readouterr().out
    rec = read_run(run)
    assert rec.attrs["rule"] == "bptt" and rec.attrs["seed"] == 2 and rec.step == 6
    with pytest.raises(SystemExit):
        main(["train", str(config), "--rule", "hebbian"])
    assert "invalid choice: 'hebbian'" in capsys.readouterr().err


def _experiment_module(name, monkeypatch):
    import importlib.util

    folder = Path(__file__).resolve().parent.parent / "experiments"
    monkeypatch.syspath_prepend(str(folder))  # the scripts import their helpers from there
    path = folder / f"{name}.py"
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    monkeypatch.setitem(sys.modules, name, module)  # dataclasses look their module up there
    spec.loader.exec_module(module)
    return module


def test_rhel_vs_bptt_report_tells_chaos_from_a_gradient_bias(monkeypatch):
    """The report calls same-seed runs chaotic only when round-off alone (the control) parts
    them too; a control that never parts points to the rules' own gradient difference."""
    exp = _experiment_module("exp_rhel_vs_bptt_datasets", monkeypatch)
    ctrl = exp.CONTROL

    def summary(name, rhel, control, parted_rhel, parted_ctrl, best, hru):
        vals = {"bptt": [0.90, 0.92, 0.94], "rhel": rhel, ctrl: control}
        mb, sb = exp._stats(vals["bptt"])
        mr, sr = exp._stats(rhel)
        return exp.DatasetSummary(name, mb, sb, mr, sr, vals,
                                  {"rhel": parted_rhel, ctrl: parted_ctrl}, abs(mr - mb) <= sb,
                                  best, {"max_rel_diff": 9e-9}, hru)

    chaotic = summary("chaotic", [0.91, 0.95, 0.90], [0.93, 0.90, 0.92], [30, 40, 50],
                      [35, 45, 60], [500, 500, 500], "linear")
    biased = summary("biased", [0.90, 0.92, 0.94], [0.90, 0.92, 0.94], [80, 90, 100],
                     [None, None, None], [500, 500, 500], "nonlinear")
    late = summary("late", [0.90, 0.92, 0.94], [0.90, 0.92, 0.94], [900, None, 800],
                   [None, None, None], [500, 500, 500], "linear")
    text = "\n".join(exp._diagnosis_text([chaotic, biased, late], 1e-15))
    paragraphs = {p.split("**")[1]: p for p in text.split("\n") if p.startswith("**")}
    interpretation = [p for p in text.split("\n") if p.startswith("Interpretation")]
    assert len(interpretation) == 1 and "(chaotic)" in interpretation[0]
    assert "same under both rules" in paragraphs["biased"]
    assert "O(eps^2) bias" in paragraphs["biased"] and "9.0e-09" in paragraphs["biased"]
    assert "come earlier" in paragraphs["late"]
    assert "O(eps^2)" not in paragraphs["late"]  # a linear model has no nudge bias to blame


def test_accuracy_ties_are_broken_by_the_validation_loss(tmp_path, monkeypatch):
    """On a tiny validation set accuracy often repeats: an equal accuracy with a lower loss
    is a new best (and resets the patience count); with a higher loss it is not."""
    from physsim.hssm import training

    tr = Trainer(_cfg(), rule="bptt", seed=0, run_file=tmp_path / "run.h5", progress=False)
    scripted = iter([(1.0, 0.5), (0.8, 0.5), (0.9, 0.5), (2.0, 0.6)])  # (loss, accuracy)

    def fake_evaluate(model, split, batch_size):
        return next(scripted) if split is tr.dataset.val else (0.0, 0.0)

    monkeypatch.setattr(training, "evaluate", fake_evaluate)
    expected = [(10, 0), (20, 0), (20, 1), (40, 0)]  # (best step, bad evaluations) after each
    for step, (best_step, bad) in zip((10, 20, 30, 40), expected):
        tr._evaluate(step)
        assert (tr.state.best_step, tr.state.bad_evals) == (best_step, bad), step
