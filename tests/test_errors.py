"""Bad input gets a clear error that says what is wrong (never a numba crash or a silent NaN)."""

from __future__ import annotations

import numpy as np
import pytest

from physsim import CoupledOscillators, LinearHRU, NonlinearHRU, get_integrator, simulate


def osc(n=3):
    return CoupledOscillators(mass=np.ones(n), stiffness=np.eye(n), input_matrix=np.ones((n, 1)))


def test_wrong_shapes_name_the_argument():
    s = osc()
    with pytest.raises(ValueError, match=r"q0 must have shape \(3,\)"):
        simulate(s, np.zeros(4), n_steps=5, dt=0.1)
    with pytest.raises(ValueError, match=r"p0 must have shape"):
        simulate(s, np.zeros(3), np.zeros(2), n_steps=5, dt=0.1)
    with pytest.raises(ValueError, match=r"inputs must have shape \(L, 1\)"):
        simulate(s, np.zeros(3), None, np.zeros((10, 2)), dt=0.1)
    with pytest.raises(ValueError, match="batch size"):
        simulate(s, np.zeros((2, 3)), None, np.zeros((3, 10, 1)), dt=0.1)
    with pytest.raises(ValueError, match=r"input_matrix must have shape \(3, m\)"):
        CoupledOscillators(mass=np.ones(3), stiffness=np.eye(3), input_matrix=np.ones((2, 1)))
    with pytest.raises(ValueError, match=r"stiffness must have shape \(2, 2\).*got \(3, 3\)"):
        CoupledOscillators(mass=np.ones(2), stiffness=np.eye(3), input_matrix=np.ones((3, 1)))


@pytest.mark.parametrize("where", ["q0", "p0", "inputs"])
def test_nan_and_inf_in_states_and_inputs(where):
    s = osc()
    args = {"q0": np.zeros(3), "p0": np.zeros(3), "inputs": np.zeros((5, 1))}
    args[where] = args[where].copy()
    args[where].flat[0] = np.nan if where != "p0" else np.inf
    with pytest.raises(ValueError, match=f"{where} contains 1 NaN or infinite"):
        simulate(s, args["q0"], args["p0"], args["inputs"], dt=0.1)


def test_nan_in_parameters():
    with pytest.raises(ValueError, match="stiffness contains"):
        CoupledOscillators(mass=np.ones(2), stiffness=np.array([[1.0, np.nan], [np.nan, 1.0]]),
                           input_matrix=np.ones((2, 1)))
    with pytest.raises(ValueError, match="A contains"):
        LinearHRU(A=np.array([np.inf]), step=np.ones(1), B_re=np.ones((1, 1)))
    with pytest.raises(ValueError, match="alpha contains"):
        NonlinearHRU(W=np.ones(1), b=np.zeros(1), c=np.ones(1), alpha=np.nan, step=0.1,
                     B=np.ones((1, 1)))


@pytest.mark.parametrize("dt", [0.0, -0.1, np.nan, np.inf])
def test_bad_time_step(dt):
    with pytest.raises(ValueError, match="dt must be a finite positive number"):
        simulate(osc(), np.zeros(3), n_steps=5, dt=dt)


def test_non_symmetric_stiffness():
    k = np.array([[2.0, 1.0], [0.0, 2.0]])
    with pytest.raises(ValueError, match="stiffness must be symmetric"):
        CoupledOscillators(mass=np.ones(2), stiffness=k, input_matrix=np.ones((2, 1)))


def test_mass_matrix_not_positive_definite():
    m = np.array([[1.0, 2.0], [2.0, 1.0]])
    with pytest.raises(ValueError, match="mass must be positive definite"):
        CoupledOscillators(mass=m, stiffness=np.eye(2), input_matrix=np.ones((2, 1)))
    with pytest.raises(ValueError, match="masses must be positive"):
        CoupledOscillators(mass=np.array([1.0, -1.0]), stiffness=np.eye(2),
                           input_matrix=np.ones((2, 1)))


def test_unstable_step_is_refused_with_the_limit():
    s = CoupledOscillators(mass=np.ones(1), stiffness=np.array([[100.0]]),
                           input_matrix=np.ones((1, 1)))  # omega = 10 rad/s
    with pytest.raises(ValueError, match=r"dt\*omega_max = 2\.5 >= 2.*use dt < 0\.2"):
        simulate(s, [1.0], n_steps=10, dt=0.25)
    simulate(s, [1.0], n_steps=10, dt=0.19)  # just inside the limit
    with pytest.raises(ValueError, match="yoshida4"):
        simulate(s, [1.0], n_steps=10, dt=0.19, integrator="yoshida4")
    hru = LinearHRU(A=np.array([5.0]), step=np.array([1.0]), B_re=np.ones((1, 1)))
    with pytest.raises(ValueError, match="stability limit"):
        simulate(hru, [0.0], n_steps=10)


def test_unknown_names_list_the_valid_ones():
    with pytest.raises(ValueError, match="unknown integrator 'rk4'; valid names are: leapfrog"):
        get_integrator("rk4")
    with pytest.raises(ValueError, match="dtype must be float64 or float32"):
        simulate(osc(), np.zeros(3), n_steps=5, dt=0.1, dtype=np.float16)
    with pytest.raises(ValueError, match="unknown parameter"):
        osc().replace(springs=np.eye(3))


def test_bad_recording_options():
    with pytest.raises(ValueError, match="record_every"):
        simulate(osc(), np.zeros(3), n_steps=5, dt=0.1, record_every=-1)
    with pytest.raises(ValueError, match="record_energy needs record_every"):
        simulate(osc(), np.zeros(3), n_steps=5, dt=0.1, record_energy=True)
    with pytest.raises(ValueError, match="n_steps"):
        simulate(osc(), np.zeros(3), dt=0.1)


def test_state_blowing_up_is_reported():
    # a drive near the float64 limit overflows the momenta within a few steps
    with pytest.raises(FloatingPointError, match="NaN or infinite"):
        simulate(osc(), np.zeros(3), None, np.full((200, 1), 1e308), dt=0.1)
