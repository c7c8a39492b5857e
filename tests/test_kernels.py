"""System callbacks against their pure-Python versions and against finite differences."""

from __future__ import annotations

import numpy as np
import pytest

from kernel_checks import check_callbacks


@pytest.mark.parametrize("name", ["coupled_diag", "coupled_dense", "linear_hru",
                                  "linear_hru_complex", "nonlinear_hru",
                                  "josephson_circuit"])
def test_callbacks(systems, name, rng):
    check_callbacks(systems[name], rng)


def test_gradient_to_params_chain_rule(systems, rng):
    """Mass gradients go through the inverse: check against a direct finite difference."""
    from physsim.systems import CoupledOscillators

    sys_ = systems["coupled_dense"]
    p = rng.standard_normal(sys_.n_dof)

    def kinetic(mass):
        s = CoupledOscillators(mass=mass, stiffness=sys_.stiffness, input_matrix=sys_.input_matrix)
        return s.kernels.kinetic(p, s.pack_theta())

    g_flat = np.zeros(sys_.pack_theta().size)
    sys_.kernels.theta_grad_kinetic(p, sys_.pack_theta(), 1.0, g_flat)
    g = sys_.gradient_to_params(g_flat, np.zeros_like(sys_.input_matrix))["mass"]
    v = rng.standard_normal(sys_.mass.shape)
    v = 0.5 * (v + v.T)
    h = 1e-6
    fd = (kinetic(sys_.mass + h * v) - kinetic(sys_.mass - h * v)) / (2 * h)
    assert np.isclose(fd, np.sum(g * v), rtol=1e-6)
