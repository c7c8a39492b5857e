"""The passes API (physsim.passes) and the in-situ training loop (physsim.insitu).

The passes are checked against physical invariants (time reversal: an un-nudged
echo of an ideal device retraces the forward pass), against each other where two
code paths must agree (two echoes in lock-step, or one after the other on a
drifting device), and the training loop against a hand-written Adam step.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pytest

from conftest import DT, make_systems
from physsim import CoupledOscillators, LinearHRU
from physsim.bptt import bptt_gradient, loss_of
from physsim.demo import SpringParametrisation
from physsim.device_run import State, prepare_batch, prepare_run
from physsim.examples import (SIX_OSC_OUTPUT, six_oscillator_drive, six_oscillator_springs,
                              six_oscillators)
from physsim.hardware import HardwareModel
from physsim.insitu import NamedParameters, train_in_situ
from physsim.losses import CotangentSequence, MSEReadout, recorded_cotangent
from physsim.passes import NudgeSource, echo_passes, flip, forward_pass, run_for_pass
from physsim.rhel import rhel_gradient

SYSTEMS = make_systems(np.random.default_rng(11))
KINDS = ["coupled_dense", "linear_hru", "linear_hru_complex", "nonlinear_hru",
         "josephson_circuit"]


def _task(name: str, batch: int = 3, length: int = 400, seed: int = 0):
    """A driven batch of one of the conftest systems, from a random state."""
    system = SYSTEMS[name]
    rng = np.random.default_rng(seed)
    scale = 0.3 if name != "josephson_circuit" else 0.1
    q0 = scale * rng.standard_normal((batch, system.n_dof))
    p0 = scale * rng.standard_normal((batch, system.n_dof))
    u = 0.2 * rng.standard_normal((batch, length, system.n_inputs))
    return system, q0, p0, u


@pytest.mark.parametrize("name", KINDS)
def test_unnudged_echo_returns_to_the_flipped_start_and_reads_out_the_forward_pass(name):
    system, q0, p0, u = _task(name)
    run = prepare_run(system, dt=DT[name])
    batch = prepare_batch(run, q0, p0, u)
    start_q, start_p = batch.start.q.copy(), batch.start.p.copy()
    fwd = forward_pass(run, batch.start, batch.inputs, readout=True, keep_drive=True)
    # the passes never write their start state
    np.testing.assert_array_equal(batch.start.q, start_q)
    np.testing.assert_array_equal(batch.start.p, start_p)
    flipped = flip(run, fwd.final)
    np.testing.assert_array_equal(flipped.q, fwd.final.q)
    np.testing.assert_array_equal(flipped.p, -fwd.final.p)
    echo = echo_passes(run, flipped, batch.inputs, nudges=(0.0,), keep_drive=True)
    end = echo.final[0]
    scale = np.max(np.abs(np.concatenate([fwd.final.q, fwd.final.p], axis=1)))
    # time reversal: the echo of the ideal device ends at (q0, -p0) up to round-off
    assert np.max(np.abs(end.q - q0)) < 1e-12 * scale
    assert np.max(np.abs(end.p + p0)) < 1e-12 * scale
    # ... and it passes the same half-step states backwards, so it reads out the same
    # dH/dtheta (T depends on p through p^2) and the same drive gradients per step
    for got, ref in [(echo.readout.theta, fwd.readout.theta),
                     (echo.readout.input_matrix, fwd.readout.input_matrix),
                     (echo.readout.inputs, fwd.readout.inputs)]:
        assert got.shape == ref.shape
        assert np.max(np.abs(got - ref)) < 1e-10 * max(1.0, np.max(np.abs(ref)))


def test_forward_pass_records_the_states_it_passes_through():
    system, q0, p0, u = _task("coupled_dense", batch=2, length=30)
    run = prepare_run(system, dt=DT["coupled_dense"])
    batch = prepare_batch(run, q0, p0, u)
    whole = forward_pass(run, batch.start, batch.inputs, record_every=1, sum_positions=True)
    assert whole.positions.shape == (2, 31, system.n_dof)
    np.testing.assert_array_equal(whole.positions[:, 0], q0)
    np.testing.assert_array_equal(whole.positions[:, -1], whole.final.q)
    np.testing.assert_allclose(whole.position_sum, whole.positions[:, 1:].sum(axis=1),
                               rtol=1e-13)
    # restarting from a recorded state continues the same trajectory (chunking is exact)
    half = prepare_batch(run, whole.positions[:, 10], whole.momenta[:, 10], u[:, 10:])
    rest = forward_pass(run, half.start, half.inputs)
    np.testing.assert_array_equal(rest.final.q, whole.final.q)
    np.testing.assert_array_equal(rest.final.p, whole.final.p)


def _nudge_source(run, length, rng):
    cot = rng.standard_normal((3, length, run.system.n_dof))
    return NudgeSource(recorded_cotangent, cot, np.zeros((1, 1)))


def test_two_echoes_in_lock_step_read_the_difference_of_two_single_echoes():
    system, q0, p0, u = _task("nonlinear_hru", length=200)
    run = prepare_run(system, dt=DT["nonlinear_hru"])
    batch = prepare_batch(run, q0, p0, u)
    start = flip(run, forward_pass(run, batch.start, batch.inputs).final)
    source = _nudge_source(run, 200, np.random.default_rng(3))
    # paired=False: the two-trajectory loop (a centred pair would run as paired echoes,
    # tests/test_paired_echoes.py)
    pair = echo_passes(run, start, batch.inputs, nudges=(1e-3, -1e-3), nudge_source=source,
                       keep_drive=True, paired=False)
    plus = echo_passes(run, start, batch.inputs, nudges=(1e-3,), nudge_source=source,
                       keep_drive=True)
    minus = echo_passes(run, start, batch.inputs, nudges=(-1e-3,), nudge_source=source,
                        keep_drive=True)
    np.testing.assert_array_equal(pair.final[0].q, plus.final[0].q)
    np.testing.assert_array_equal(pair.final[1].p, minus.final[0].p)
    for field in ("theta", "input_matrix", "inputs"):
        diff = getattr(plus.readout, field) - getattr(minus.readout, field)
        np.testing.assert_allclose(getattr(pair.readout, field), diff, rtol=0,
                                   atol=1e-12 * np.max(np.abs(diff)))
    # the nudge moved the echoes apart: the difference is not round-off
    assert np.max(np.abs(pair.readout.theta)) > 1e-6


@dataclass(frozen=True)
class _SoftensAfterForward(HardwareModel):
    """Test model: the springs soften by a pass-dependent factor after the forward pass."""

    def between_passes(self, system, seed, pass_index):
        if pass_index == 0:
            return system
        return system.replace(stiffness=system.stiffness * (1.0 - 0.01 * pass_index))


def test_drift_between_passes_runs_each_echo_on_its_own_device():
    system, q0, p0, u = _task("coupled_dense", length=150)
    hw = _SoftensAfterForward()
    run = prepare_run(system, dt=DT["coupled_dense"], hardware=hw)
    batch = prepare_batch(run, q0, p0, u)
    start = flip(run, forward_pass(run, batch.start, batch.inputs).final)
    source = _nudge_source(run, 150, np.random.default_rng(4))
    seen: dict[int, list] = {0: [], 1: []}

    def record(echo, done, state):
        seen[echo].append((done, state.q.copy()))

    both = echo_passes(run, start, batch.inputs, nudges=(0.1, -0.1), nudge_source=source,
                       keep_drive=True, chunk_size=40, on_chunk=record)
    assert len(both.hardware_reports) == 2  # one after the other
    for echo in (0, 1):  # each echo reported its own chunks, ending at its own final state
        assert [done for done, _ in seen[echo]] == [40, 80, 120, 150]
        np.testing.assert_array_equal(seen[echo][-1][1], both.final[echo].q)
    singles = []
    for pass_index, nudge in [(1, 0.1), (2, -0.1)]:
        drifted = run_for_pass(run, pass_index)
        assert drifted is not run
        np.testing.assert_allclose(drifted.system.stiffness,
                                   system.stiffness * (1 - 0.01 * pass_index), rtol=1e-15)
        # the same echo on a run prepared from the drifted device directly
        direct = prepare_run(drifted.system, dt=DT["coupled_dense"], realize=False)
        singles.append(echo_passes(direct, start, batch.inputs, nudges=(nudge,),
                                   nudge_source=source, keep_drive=True))
    np.testing.assert_array_equal(both.final[0].q, singles[0].final[0].q)
    np.testing.assert_array_equal(both.final[1].q, singles[1].final[0].q)
    for field in ("theta", "input_matrix", "inputs"):
        diff = getattr(singles[0].readout, field) - getattr(singles[1].readout, field)
        np.testing.assert_allclose(getattr(both.readout, field), diff, rtol=1e-14, atol=0)
    # without drift the run is the same object
    ideal = prepare_run(system, dt=DT["coupled_dense"])
    assert run_for_pass(ideal, 1) is ideal


def test_echo_arguments_are_checked():
    system, q0, p0, u = _task("linear_hru", length=10)
    run = prepare_run(system)
    batch = prepare_batch(run, q0, p0, u)
    with pytest.raises(ValueError, match="need a nudge_source"):
        echo_passes(run, batch.start, batch.inputs, nudges=(1.0,))
    with pytest.raises(ValueError, match="one or two values"):
        echo_passes(run, batch.start, batch.inputs, nudges=(0.0, 0.0, 0.0))
    with pytest.raises(ValueError, match="batch size 3 but the states have 1"):
        forward_pass(run, State(batch.start.q[:1], batch.start.p[:1]), batch.inputs)


# --------------------------------------------------------------- in-situ training
def _six_oscillator_task(n_steps=300):
    u = six_oscillator_drive(n_steps, 0.1)
    target = six_oscillators("teacher")
    from physsim import simulate  # noqa: PLC0415

    y = simulate(target, np.zeros(6), None, u, dt=0.1, record_every=1).positions
    readout = np.zeros((1, 6))
    readout[0, SIX_OSC_OUTPUT] = 1.0
    loss = MSEReadout(readout, y[:, 1:, SIX_OSC_OUTPUT:SIX_OSC_OUTPUT + 1])
    springs = six_oscillator_springs("student")
    pairs = tuple(zip(*np.nonzero(springs["coupling_springs"])))
    theta0 = {"log_masses": np.log(springs["masses"]),
              "log_ground": np.log(springs["ground_springs"]),
              "log_coupling": np.log([springs["coupling_springs"][i, j] for i, j in pairs])}
    param = SpringParametrisation(pairs, six_oscillators("student").input_matrix)
    return param, theta0, u, loss


@pytest.mark.parametrize("rule", ["rhel", "bptt"])
def test_in_situ_loop_takes_a_hand_written_adam_step_and_lowers_the_loss(rule):
    param, theta0, u, loss = _six_oscillator_task()
    lr = 0.04
    # Adam's first step from zero moments: m_hat = g, v_hat = g^2
    g = bptt_gradient(param.to_system(theta0), np.zeros(6), None, u, loss, dt=0.1)
    g_theta = param.chain(theta0, g.params)
    expected = {k: theta0[k] - lr * g_theta[k] / (np.abs(g_theta[k]) + 1e-8) for k in theta0}
    one = train_in_situ(param, theta0, np.zeros(6), None, u, loss, steps=1, lr=lr, rule=rule,
                        dt=0.1)
    for k in theta0:
        np.testing.assert_allclose(one.theta[k], expected[k], rtol=1e-12, atol=1e-14)
    assert one.losses[0] == pytest.approx(g.loss, rel=1e-12)
    assert one.chip is None
    trained = train_in_situ(param, theta0, np.zeros(6), None, u, loss, steps=25, lr=lr,
                            rule=rule, dt=0.1)
    final = loss_of(trained.system, np.zeros(6), None, u, loss, dt=0.1)
    assert final < 0.2 * trained.losses[0]
    for k in theta0:  # theta0 is not written
        assert not np.array_equal(trained.theta[k], theta0[k])


def test_in_situ_training_on_a_chip_keeps_the_device_and_varies_the_noise():
    system = CoupledOscillators(mass=np.array([1.0, 1.5]), stiffness=np.array([[2.0, -0.3],
                                                                               [-0.3, 1.0]]),
                                input_matrix=np.eye(2))

    @dataclass(frozen=True)
    class _NoisyChip(HardwareModel):
        """Test model: a fixed mass error per chip seed, read-out noise per run seed."""

        def realize(self, system, seed):
            return system.replace(mass=system.mass * (1.0 + 0.01 * (seed + 1)))

        def read_outputs(self, values, seed, pass_index):
            return values + 1e-3 * np.random.default_rng(seed).standard_normal(values.shape)

    u = 0.3 * np.random.default_rng(0).standard_normal((60, 2))
    target = 0.1 * np.ones((1, 2))
    from physsim.losses import FinalStateLoss  # noqa: PLC0415

    loss = FinalStateLoss(np.eye(2), target)
    param = NamedParameters.of(system, ["stiffness"])
    common = dict(steps=3, lr=0.01, rule="rhel", hardware=_NoisyChip(), dt=0.1)
    a = train_in_situ(param, param.initial(), np.zeros(2), None, u, loss, chip_seed=4,
                      noise_seeds=[7, 8, 9], **common)
    b = train_in_situ(param, param.initial(), np.zeros(2), None, u, loss, chip_seed=4,
                      noise_seeds=[7, 8, 9], **common)
    c = train_in_situ(param, param.initial(), np.zeros(2), None, u, loss, chip_seed=4,
                      noise_seeds=[1, 2, 3], **common)
    np.testing.assert_array_equal(a.losses, b.losses)  # reproducible from the seeds
    assert not np.array_equal(a.losses, c.losses)
    assert a.chip.chip_seed == 4
    np.testing.assert_array_equal(a.chip.realize(system, 0).mass, system.mass * 1.05)


def test_named_parameters_floors_and_errors():
    hru = LinearHRU(A=np.array([1.0, 2.0]), step=np.array([0.5, 0.2]), B_re=np.ones((2, 1)))
    param = NamedParameters.of(hru, ["A", "step"])
    assert param.floors == {"A": 0.0, "step": pytest.approx(2e-4)}
    theta = {"A": np.array([-1.0, 3.0]), "step": np.array([1e-9, 0.3])}
    param.project(theta)
    np.testing.assert_array_equal(theta["A"], [0.0, 3.0])
    np.testing.assert_allclose(theta["step"], [2e-4, 0.3])
    np.testing.assert_array_equal(param.to_system(theta).A, [0.0, 3.0])
    with pytest.raises(ValueError, match=r"unknown parameter\(s\) \['K'\] to train; valid"):
        NamedParameters.of(hru, ["K"])
    with pytest.raises(ValueError, match="unknown training rule 'sgd'"):
        train_in_situ(param, param.initial(), np.zeros(2), None, np.ones((5, 1)),
                      MSEReadout(np.eye(2), np.zeros((1, 5, 2))), steps=1, lr=0.1, rule="sgd")


def test_cotangent_sequence_of_another_width_is_refused_before_any_pass():
    """A (B, L, n) sequence must match the system's n_dof (the echo loop reads n per step)."""
    system, q0, p0, u = _task("linear_hru", length=30)
    wrong = CotangentSequence(np.ones((3, 30, system.n_dof - 1)))
    for gradient in (rhel_gradient, bptt_gradient):
        with pytest.raises(ValueError, match=f"have {system.n_dof - 1} positions per step, "
                                             f"the system has n_dof = {system.n_dof}"):
            gradient(system, q0, p0, u, wrong)


@pytest.mark.parametrize("n_rows", [20, 40])
def test_per_step_loss_data_of_another_length_is_refused_before_any_pass(n_rows):
    """Targets / cotangents must have one row per step (the echo loop reads row k-1 at k)."""
    system, q0, p0, u = _task("linear_hru", length=30)
    losses = [CotangentSequence(np.ones((3, n_rows, system.n_dof))),
              MSEReadout(np.eye(system.n_dof)[:1], np.zeros((3, n_rows, 1)))]
    for loss in losses:
        for gradient, options in [(rhel_gradient, {"nudge": "online"}),
                                  (rhel_gradient, {}), (bptt_gradient, {})]:
            with pytest.raises(ValueError, match=f"have {n_rows} steps, the run has 30"):
                gradient(system, q0, p0, u, loss, **options)
