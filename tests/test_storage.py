"""HDF5 run files: round trip, provenance, and a re-run from the file gives the same result."""

from __future__ import annotations

import h5py
import numpy as np
import pytest

from physsim import LinearHRU, __version__, simulate
from physsim.examples import six_oscillators
from physsim.storage import load_trajectory, save_trajectory


@pytest.mark.parametrize("system", [LinearHRU.random(4, 2, complex=True, rng=0),
                                    six_oscillators()], ids=["hru", "six"])
def test_round_trip_and_rerun(tmp_path, system):
    rng = np.random.default_rng(0)
    u = rng.standard_normal((50, system.n_inputs))
    dt = 1.0 if isinstance(system, LinearHRU) else 0.1
    traj = simulate(system, np.zeros(system.n_dof), None, u, dt=dt, record_every=5,
                    record_energy=True, integrator="yoshida4" if dt < 1 else "leapfrog")
    path = save_trajectory(tmp_path / "run.h5", traj, config={"note": "test"})
    back = load_trajectory(path)
    for name in ("times", "positions", "momenta", "energy", "final_positions", "final_momenta"):
        np.testing.assert_array_equal(getattr(back, name), getattr(traj, name))
    assert (back.dt, back.integrator, back.n_steps, back.seed) == (traj.dt, traj.integrator, 50, 0)
    for name, value in system.params.items():
        np.testing.assert_array_equal(back.system.params[name], value)
    with h5py.File(path) as f:
        assert f.attrs["physsim_version"] == __version__
    rerun = simulate(back.system, np.zeros(system.n_dof), None, u, dt=back.dt,
                     integrator=back.integrator, record_every=back.record_every)
    np.testing.assert_array_equal(rerun.positions, traj.positions)
    assert not (tmp_path / "run.h5.partial").exists()


def test_loading_a_non_trajectory_file_is_refused(tmp_path):
    with h5py.File(tmp_path / "x.h5", "w") as f:
        f.attrs["kind"] = "sweep"
    with pytest.raises(ValueError, match="not a physsim trajectory file"):
        load_trajectory(tmp_path / "x.h5")
