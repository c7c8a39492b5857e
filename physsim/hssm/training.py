"""Training HSSMs by RHEL or BPTT: the trainer (mini-batch Adam, evaluation, early stopping,
checkpoints and resume).

The run config is :class:`physsim.hssm.config.RunConfig` (``[data]``, ``[model]``,
``[training]``), the dataset comes from :mod:`physsim.hssm.data_table`, the command line is
:mod:`physsim.hssm.cli`.  The learning rule and the seed are given on the command line
(``physsim train CONFIG --rule rhel --seed 0``); the seed drives the initialisation, the data
split (for loaders that take a ``seed`` not set in ``[data]``), the mini-batch order, dropout
and hardware noise.

Reproducibility and resume
--------------------------
All randomness after initialisation is counter-based: the batch order of epoch ``e`` is
``default_rng([seed, 1, e]).permutation(n_train)``, dropout at step ``s`` uses
``default_rng([seed, 2, s])``, hardware noise a seed derived from ``(seed, 3, s)``.
A checkpoint therefore needs only the step counter besides the parameters, the Adam
state, the batch-norm buffers, the best-so-far model and the history, and a resumed
run gives bit-identical parameters to an uninterrupted one.

The run file (checkpoints, history, result) is written and read by
:mod:`physsim.storage.training_run` (layout there).
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import time
from dataclasses import asdict, dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from ..data import SequenceDataset
from ..nn import Adam
from ..storage import provenance
from ..storage.provenance import now_utc, warn_if_code_changed
from ..storage.training_run import RunRecord, read_run, write_run
from ..validation import check_choice
from .config import RunConfig
from .data_table import load_data
from .layers import RULES
from .model import HSSM

RNG_SCHEME = ("counter-based: batch order of epoch e = default_rng([seed, 1, e]); dropout at "
              "step s = default_rng([seed, 2, s]); hardware seed at step s from "
              "SeedSequence([seed, 3, s]) (evaluation: [seed, 4, s])")


# ====================================================================== results
@dataclass
class TrainResult:
    """Summary of a training run.

    Attributes
    ----------
    run_file : Path
        The HDF5 run file.
    rule : str
        ``"rhel"`` or ``"bptt"``.
    seed : int
    steps : int
        Optimisation steps done.
    stop_reason : str
        ``"max_steps"``, ``"early_stopping"`` or ``"paused"`` (stopped on request or by a
        signal; resume with the run file).
    metric : str
        ``"accuracy"`` (classification) or ``"mse"`` (regression).
    best_step : int
        Step of the best validation metric (0: never evaluated).
    best_val_metric, best_val_loss : float
    test_metric, test_loss : float
        Test split at the best validation step.
    baseline_test_metric : float
        Trivial predictor on the test split: majority training class (accuracy) or the
        training-target mean (MSE).
    wall_time_s : float
        Wall-clock time over all segments of the run.
    """

    run_file: Path
    rule: str
    seed: int
    steps: int
    stop_reason: str
    metric: str
    best_step: int
    best_val_metric: float
    best_val_loss: float
    test_metric: float
    test_loss: float
    baseline_test_metric: float
    wall_time_s: float

    @property
    def finished(self) -> bool:
        """True unless the run was paused."""
        return self.stop_reason != "paused"


def baseline_metric(dataset: SequenceDataset) -> float:
    """Test metric of the trivial predictor (majority class, or mean of training targets)."""
    if dataset.task == "classification":
        majority = np.bincount(dataset.train.y, minlength=dataset.n_classes).argmax()
        return float(np.mean(dataset.test.y == majority))
    mean = dataset.train.y.mean(axis=(0, 1))
    return float(np.mean((dataset.test.y - mean) ** 2))


def evaluate(model: HSSM, split, batch_size: int) -> tuple[float, float]:
    """Mean loss and metric of ``model`` (evaluation mode) over a data split."""
    tot_loss = tot_metric = 0.0
    n = 0
    for xb, yb, lb in split.batches(batch_size):
        out = model.forward(xb, lb, training=False)
        k = len(yb)
        tot_loss += model.loss(out, yb).loss * k
        tot_metric += model.metric(out, yb) * k
        n += k
    return tot_loss / n, tot_metric / n


def _given_by_data(dataset: SequenceDataset) -> dict[str, Any]:
    """The :class:`~physsim.hssm.model.HSSMConfig` fields that the data fix."""
    given: dict[str, Any] = {"n_inputs": dataset.n_channels, "task": dataset.task}
    if dataset.task == "classification":
        given["n_outputs"] = int(dataset.n_classes)
    else:
        given["n_outputs"] = int(dataset.train.y.shape[2])
        given["output_step"] = int(dataset.output_step or 1)
    return given


def _hardware_seed(seed: int, stream: int, step: int) -> int:
    return int(np.random.SeedSequence([seed, stream, step]).generate_state(1, np.uint32)[0])


# ====================================================================== trainer
class TrainingDivergedError(ValueError):
    """Training stopped because the loss or the parameters stopped being usable (lower lr).

    The run file is left as its last checkpoint wrote it.
    """


@dataclass
class _LoopState:
    step: int = 0
    best_step: int = 0
    best_val_metric: float = float("nan")
    best_val_loss: float = float("nan")
    test_metric: float = float("nan")
    test_loss: float = float("nan")
    bad_evals: int = 0
    running_loss_sum: float = 0.0
    running_metric_sum: float = 0.0
    running_count: int = 0
    wall_time_s: float = 0.0
    stop_reason: str = ""
    history: dict[str, list] = field(
        default_factory=lambda: {"train": [], "eval": [], "test": []})


_HISTORY_COLUMNS = {
    "train": ("step", "loss", "metric", "wall_time_s"),
    "eval": ("step", "train_loss", "train_metric", "val_loss", "val_metric"),
    "test": ("step", "test_loss", "test_metric"),
}


class Trainer:
    """Mini-batch Adam training of an HSSM with evaluation, early stopping and checkpoints.

    Parameters
    ----------
    config : RunConfig
        Parsed configuration.
    rule : {"rhel", "bptt"}
        Learning rule of the Hamiltonian layers.
    seed : int, default 0
        Seed of everything random (see the module docstring).
    run_file : str or Path
        HDF5 run file (checkpoints, history, result).
    dataset : SequenceDataset, optional
        Use this dataset instead of loading ``config.data`` (e.g. in tests).
    progress : bool, default True
        Show a tqdm progress bar with loss and metric.
    overwrite : bool, default False
        Replace an existing run file (otherwise that is an error: resume it instead).

    Examples
    --------
    >>> cfg = RunConfig.from_file("experiments/configs/hssm_synthetic.toml")  # doctest: +SKIP
    >>> result = Trainer(cfg, rule="rhel", seed=0, run_file="run.h5").train()  # doctest: +SKIP
    """

    def __init__(self, config: RunConfig, *, rule: str, seed: int = 0,
                 run_file: str | Path, dataset: SequenceDataset | None = None,
                 progress: bool = True, overwrite: bool = False, _resuming: bool = False) -> None:
        if not isinstance(config, RunConfig):
            raise TypeError(f"config must be a RunConfig, got {type(config).__name__}")
        self.rule = check_choice(rule, RULES, "learning rule")
        if isinstance(seed, bool) or not isinstance(seed, (int, np.integer)) or seed < 0:
            raise ValueError(f"seed must be a non-negative integer, got {seed!r}")
        self.seed = int(seed)
        self.config = config
        self.settings = config.training
        self.run_file = Path(run_file)
        if self.run_file.exists() and not (overwrite or _resuming):
            raise FileExistsError(f"run file {self.run_file} exists; resume it (--resume) or "
                                  "pass overwrite=True (--overwrite)")
        self.progress = progress
        self.dataset = dataset if dataset is not None else load_data(config.data, self.seed)
        self.model = HSSM.from_config(config.model, seed=self.seed, rule=self.rule,
                                      **_given_by_data(self.dataset))
        s = self.settings
        self.optimizer = Adam(lr=s.lr, beta1=s.beta1, beta2=s.beta2, eps=s.adam_eps)
        self.state = _LoopState()
        self.best_params = {k: v.copy() for k, v in self.model.parameters().items()}
        self.best_buffers = {k: v.copy() for k, v in self.model.state().items()}
        self.baseline = baseline_metric(self.dataset)
        self.metric_name = "accuracy" if self.dataset.task == "classification" else "mse"
        n_train = self.dataset.train.n_cases
        self._batch = min(s.batch_size, n_train)
        self._steps_per_epoch = n_train // self._batch
        self._perm_epoch = -1
        self._perm = np.arange(n_train)
        self._created = now_utc()
        self._code_fingerprints = [provenance.source_fingerprint()]

    # ------------------------------------------------------------------ resume
    @classmethod
    def resume(cls, run_file: str | Path, *, dataset: SequenceDataset | None = None,
               progress: bool = True) -> "Trainer":
        """Rebuild a trainer from a run file's configuration and checkpoint.

        Raises
        ------
        ValueError
            If the file is not an HSSM run file.
        """
        path = Path(run_file)
        record = read_run(path)
        a = record.attrs
        fingerprints = record.code_fingerprints or ["unknown"]
        if warn_if_code_changed(path, fingerprints[-1], "the resumed run is not the run that "
                                "code would have finished; the run file lists every "
                                "fingerprint that trained it", written="was last trained"):
            fingerprints = fingerprints + [provenance.source_fingerprint()]
        source = str(a.get("config_source", path))
        tr = cls(RunConfig.from_text(str(a["config_toml"]), source, base_dir=Path(source).parent),
                 rule=str(a["rule"]), seed=int(a["seed"]), run_file=path, dataset=dataset,
                 progress=progress, _resuming=True)
        tr._created = str(a["created"])
        tr._code_fingerprints = fingerprints
        tr._load_checkpoint(record)
        return tr

    def _load_checkpoint(self, record: RunRecord) -> None:
        self.model.load_parameters(record.params)
        if len(self.model.state()):
            self.model.load_state(record.buffers)
        self.optimizer.load_state_dict(record.adam)
        self.best_params = record.best_params
        self.best_buffers = record.best_buffers
        a = record.checkpoint
        st = self.state
        st.step = int(a["step"])
        st.best_step = int(a["best_step"])
        for k in ("best_val_metric", "best_val_loss", "test_metric", "test_loss",
                  "running_loss_sum", "running_metric_sum", "wall_time_s"):
            setattr(st, k, float(a[k]))
        st.bad_evals = int(a["bad_evals"])
        st.running_count = int(a["running_count"])
        st.stop_reason = str(a.get("stop_reason", ""))
        for part, cols in _HISTORY_COLUMNS.items():
            g = record.history[part]
            st.history[part] = [tuple(row) for row in zip(*(g[c] for c in cols))]

    # ---------------------------------------------------------------- training
    def _batch_indices(self, step: int) -> np.ndarray:
        epoch, pos = divmod(step - 1, self._steps_per_epoch)
        if epoch != self._perm_epoch:
            n = self.dataset.train.n_cases
            self._perm = np.random.default_rng([self.seed, 1, epoch]).permutation(n)
            self._perm_epoch = epoch
        return self._perm[pos * self._batch:(pos + 1) * self._batch]

    def step_batch(self, step: int) -> tuple[np.ndarray, np.ndarray, np.ndarray,
                                             np.random.Generator]:
        """Inputs, targets, lengths and dropout generator of optimisation step ``step``.

        Parameters
        ----------
        step : int
            1-based step number.

        Returns
        -------
        x : ndarray, shape (batch, L, n_inputs)
        y : ndarray
            Labels (batch,) or targets (batch, L // output_step, n_out).
        lengths : ndarray of int, shape (batch,)
        rng : numpy.random.Generator
            A fresh generator of the step's dropout masks (``default_rng([seed, 2, step])``).
        """
        if isinstance(step, bool) or not isinstance(step, (int, np.integer)) or step < 1:
            raise ValueError(f"step must be a positive integer, got {step!r}")
        tr = self.dataset.train
        idx = self._batch_indices(int(step))
        return tr.x[idx], tr.y[idx], tr.lengths[idx], np.random.default_rng([self.seed, 2, step])

    def train_step(self, step: int) -> tuple[float, float]:
        """Run optimisation step number ``step`` (1-based); returns its loss and metric."""
        x, y, lengths, dropout_rng = self.step_batch(step)
        self.model.set_hardware_seed(_hardware_seed(self.seed, 3, step))
        res, grads = self.model.loss_and_gradients(x, y, lengths, rng=dropout_rng)
        self.optimizer.step(self.model.parameters(), grads)
        metric = res.accuracy if self.dataset.task == "classification" else res.loss
        return float(res.loss), float(metric)

    def _checked_step(self, step: int) -> tuple[float, float]:
        """:meth:`train_step`, with divergence reported as :class:`TrainingDivergedError`.

        A non-finite loss, or a model that refuses its own parameters (an HRU step driven
        to 0, ...) after at least one update, is divergence; before any update a
        ``ValueError`` is a problem of the data or model and passes through.
        """
        last = self.state.history["train"][-1][1] if self.state.history["train"] else None
        before = "" if last is None else f" (loss {last:.4g} at step {step - 1})"
        advice = (f"lower lr (now {self.settings.lr:g}); the run file {self.run_file} keeps "
                  f"its last checkpoint")
        try:
            loss, metric = self.train_step(step)
        except (ValueError, FloatingPointError) as exc:
            if self.state.step == 0:
                raise
            raise TrainingDivergedError(f"training diverged at step {step}: the parameters left "
                                        f"the model's valid range{before}: {exc}; {advice}"
                                        ) from None
        if not np.isfinite(loss):
            raise TrainingDivergedError(f"training diverged at step {step}: loss {loss}{before}; "
                                        f"{advice}")
        return loss, metric

    def _better(self, val_metric: float, val_loss: float) -> bool:
        best = self.state.best_val_metric
        if np.isnan(best):
            return True
        if self.metric_name == "accuracy":
            # accuracy moves in steps of 1 / n_val: on a tie the lower validation loss wins,
            # so that small validation sets do not stop a run that is still improving
            return val_metric > best or (val_metric == best
                                         and val_loss < self.state.best_val_loss)
        return val_metric < best

    def _evaluate(self, step: int) -> None:
        st, s = self.state, self.settings
        self.model.set_hardware_seed(_hardware_seed(self.seed, 4, step))
        val_loss, val_metric = evaluate(self.model, self.dataset.val, s.eval_batch_size)
        n = max(st.running_count, 1)
        st.history["eval"].append((step, st.running_loss_sum / n, st.running_metric_sum / n,
                                   val_loss, val_metric))
        st.running_loss_sum = st.running_metric_sum = 0.0
        st.running_count = 0
        if self._better(val_metric, val_loss):
            st.best_step, st.best_val_metric, st.best_val_loss = step, val_metric, val_loss
            st.bad_evals = 0
            self.best_params = {k: v.copy() for k, v in self.model.parameters().items()}
            self.best_buffers = {k: v.copy() for k, v in self.model.state().items()}
            st.test_loss, st.test_metric = evaluate(self.model, self.dataset.test,
                                                    s.eval_batch_size)
            st.history["test"].append((step, st.test_loss, st.test_metric))
        else:
            st.bad_evals += 1

    def train(self, *, stop_after: int | None = None) -> TrainResult:
        """Train until ``max_steps``, early stopping, ``stop_after`` steps or a signal.

        Parameters
        ----------
        stop_after : int, optional
            Pause (checkpoint and return, ``stop_reason="paused"``) once this many steps
            are done in total; the run resumes with :meth:`resume`.

        Returns
        -------
        TrainResult

        Notes
        -----
        SIGINT (Ctrl-C) or SIGTERM finishes the current step, writes a checkpoint and
        returns a paused result; a second signal aborts at once.
        """
        st, s = self.state, self.settings
        if st.stop_reason in ("max_steps", "early_stopping"):
            return self._result()
        st.stop_reason = ""
        limit = s.max_steps if stop_after is None else min(int(stop_after), s.max_steps)
        if st.step == 0:
            self.write_checkpoint()
        signals = _SignalFlag()
        bar = None
        if self.progress:
            from tqdm.auto import tqdm  # noqa: PLC0415

            bar = tqdm(total=s.max_steps, initial=st.step,
                       desc=f"{self.dataset.name} {self.rule} seed {self.seed}", unit="step")
        t_segment = time.perf_counter()
        wall0 = st.wall_time_s
        try:
            with signals:
                while st.step < limit:
                    step = st.step + 1
                    loss, metric = self._checked_step(step)
                    st.step = step
                    st.running_loss_sum += loss
                    st.running_metric_sum += metric
                    st.running_count += 1
                    st.wall_time_s = wall0 + time.perf_counter() - t_segment
                    st.history["train"].append((step, loss, metric, st.wall_time_s))
                    if step % s.eval_every == 0 or step == s.max_steps:
                        self._evaluate(step)
                        if s.patience and st.bad_evals > s.patience:
                            st.stop_reason = "early_stopping"
                    if step == s.max_steps and not st.stop_reason:
                        st.stop_reason = "max_steps"
                    if bar is not None:
                        bar.update(1)
                        bar.set_postfix(self._postfix(loss, metric), refresh=False)
                    if st.stop_reason:
                        break
                    if signals.raised:
                        st.stop_reason = "paused"
                        break
                    if s.checkpoint_every and step % s.checkpoint_every == 0 and step < limit:
                        self.write_checkpoint()
        finally:
            if bar is not None:
                bar.close()
        if not st.stop_reason:
            st.stop_reason = "paused"  # reached stop_after
        self.write_checkpoint()
        return self._result()

    def _postfix(self, loss: float, metric: float) -> dict[str, str]:
        st = self.state
        post = {"loss": f"{loss:.4f}", self.metric_name[:3]: f"{metric:.3f}"}
        if st.history["eval"]:
            post["val"] = f"{st.history['eval'][-1][4]:.4f}"
        if st.best_step:
            post["test@best"] = f"{st.test_metric:.4f}"
        return post

    def _result(self) -> TrainResult:
        st = self.state
        return TrainResult(run_file=self.run_file, rule=self.rule, seed=self.seed,
                           steps=st.step, stop_reason=st.stop_reason, metric=self.metric_name,
                           best_step=st.best_step, best_val_metric=st.best_val_metric,
                           best_val_loss=st.best_val_loss, test_metric=st.test_metric,
                           test_loss=st.test_loss, baseline_test_metric=self.baseline,
                           wall_time_s=st.wall_time_s)

    # ---------------------------------------------------------------- run file
    def write_checkpoint(self) -> Path:
        """Write the run file (configuration, checkpoint, history, result) atomically."""
        st = self.state
        done = st.stop_reason in ("max_steps", "early_stopping")
        checkpoint = {"step": st.step, "best_step": st.best_step, "bad_evals": st.bad_evals,
                      "running_count": st.running_count, "stop_reason": st.stop_reason,
                      "rng_scheme": RNG_SCHEME}
        for k in ("best_val_metric", "best_val_loss", "test_metric", "test_loss",
                  "running_loss_sum", "running_metric_sum", "wall_time_s"):
            checkpoint[k] = float(getattr(st, k))
        history = {}
        for part, cols in _HISTORY_COLUMNS.items():
            rows = st.history[part]
            history[part] = {col: np.array([r[j] for r in rows],
                                           dtype=np.int64 if col == "step" else np.float64)
                             for j, col in enumerate(cols)}
        record = RunRecord(
            attrs={"created": self._created,
                   "status": "finished" if done else ("paused" if st.stop_reason
                                                      else "running"),
                   "rule": self.rule, "seed": self.seed, "config_toml": self.config.text,
                   "config_source": self.config.source, "config_json": self.config.to_json(),
                   "model_config_json": json.dumps(self.model.config.to_dict()),
                   "dataset": self.dataset.summary(),
                   "n_parameters": self.model.n_parameters(), "metric": self.metric_name},
            checkpoint=checkpoint, params=self.model.parameters(), buffers=self.model.state(),
            adam=self.optimizer.state_dict(), best_params=self.best_params,
            best_buffers=self.best_buffers, history=history,
            result=asdict(self._result()) if done else None,
            code_fingerprints=self._code_fingerprints)
        return write_run(self.run_file, record)


class _SignalFlag:
    """Context manager: the first SIGINT/SIGTERM sets ``raised``; a second one aborts."""

    def __init__(self) -> None:
        self.raised = False
        self._old: dict[int, Any] = {}

    def _handler(self, signum, frame):
        if self.raised:
            raise KeyboardInterrupt
        self.raised = True
        print(f"\nsignal {signum}: finishing the current step and writing a checkpoint "
              "(send again to abort)", file=sys.stderr)

    def __enter__(self):
        if threading.current_thread() is threading.main_thread():
            for sig in (signal.SIGINT, signal.SIGTERM):
                self._old[sig] = signal.signal(sig, self._handler)
        return self

    def __exit__(self, *exc):
        for sig, old in self._old.items():
            signal.signal(sig, old)
        return False
