"""Shared fixtures: registries of systems and integrators, and one tolerance table."""

from __future__ import annotations

import numba
import numpy as np
import pytest

from physsim import INTEGRATORS, CoupledOscillators, LinearHRU, NonlinearHRU
from physsim.examples import three_node_josephson_circuit
from physsim.integrators import Integrator

#: Tolerances keyed by purpose and dtype; every loosening says why.
TOL = {
    # round-off of 2e4 leapfrog steps (forward + reversed), relative to the state scale
    "reversibility": {"float64": 1e-12},
    # RHEL vs BPTT on linear systems: exact up to round-off of the accumulated sums
    "rhel_linear": {"float64": 1e-9},
    # BPTT vs central finite differences (step 1e-5 relative): truncation + cancellation
    "bptt_fd": {"float64": 1e-6},
}

#: Integrator names from the registry, so a new integrator joins every test matrix.
ALL_INTEGRATORS = list(INTEGRATORS)
REVERSIBLE_INTEGRATORS = [name for name, cls in INTEGRATORS.items() if cls.time_reversible]
NON_REVERSIBLE_INTEGRATORS = [name for name in ALL_INTEGRATORS
                              if name not in REVERSIBLE_INTEGRATORS]


def make_systems(rng: np.random.Generator) -> dict:
    """Small instances of every built-in system (inputs: 2 channels)."""
    n = 4
    k = rng.uniform(0.5, 1.5, (n, n))
    stiffness = np.diag(rng.uniform(2.0, 3.0, n)) + 0.1 * (k + k.T)
    dense_mass = np.eye(n) + 0.1 * np.ones((n, n))
    return {
        "coupled_diag": CoupledOscillators(mass=rng.uniform(0.5, 2.0, n), stiffness=stiffness,
                                           input_matrix=rng.standard_normal((n, 2))),
        "coupled_dense": CoupledOscillators(mass=dense_mass, stiffness=stiffness,
                                            input_matrix=rng.standard_normal((n, 2))),
        "linear_hru": LinearHRU.random(5, 2, rng=rng),
        "linear_hru_complex": LinearHRU.random(5, 2, complex=True, rng=rng),
        "nonlinear_hru": NonlinearHRU.random(5, 2, step=0.1, rng=rng),
        # the first non-polynomial system (cos potential), in float32-friendly natural units
        "josephson_circuit": three_node_josephson_circuit("natural"),
    }


#: Default step per system (physical systems: about 1/20 of the fastest period).
DT = {"coupled_diag": 0.05, "coupled_dense": 0.05, "linear_hru": 1.0,
      "linear_hru_complex": 1.0, "nonlinear_hru": 1.0, "josephson_circuit": 0.005}


def integrator_dt(system_name: str, integrator: str) -> float:
    """The system's default step ``DT``, halved for an integrator whose linear stability
    limit is below the leapfrog family's h omega < 2 (Yoshida 4's is 1.57)."""
    limit = INTEGRATORS[integrator].stability_limit
    return DT[system_name] * (0.5 if limit < Integrator.stability_limit else 1.0)


@pytest.fixture
def rng() -> np.random.Generator:
    return np.random.default_rng(20261122)


@pytest.fixture(scope="session")
def systems() -> dict:
    return make_systems(np.random.default_rng(7))


@pytest.fixture(scope="module")
def one_numba_thread():
    """Tiny problems: one thread avoids the parallel loops' start-up cost (results identical).

    Use it for a whole module with ``pytestmark = pytest.mark.usefixtures("one_numba_thread")``.
    """
    n = numba.get_num_threads()
    numba.set_num_threads(1)
    yield
    numba.set_num_threads(n)


def relative_error(a, b) -> float:
    """``|a - b| / |b|`` in the Euclidean norm (arrays of any shape)."""
    a, b = np.asarray(a, float), np.asarray(b, float)
    return float(np.linalg.norm(a - b) / max(np.linalg.norm(b), 1e-300))


def central_difference_gradient(f, arr: np.ndarray, h: float = 1e-6) -> np.ndarray:
    """Gradient of ``f()`` with respect to every entry of ``arr``, by second-order central
    differences, perturbing ``arr`` in place (restored afterwards)."""
    g = np.zeros_like(arr)
    for i in np.ndindex(arr.shape):
        old = arr[i]
        arr[i] = old + h
        fp = f()
        arr[i] = old - h
        fm = f()
        arr[i] = old
        g[i] = (fp - fm) / (2 * h)
    return g
