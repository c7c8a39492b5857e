"""Cache-line isolation of the arrays the threads of a compiled loop share."""

from __future__ import annotations

import numpy as np
import pytest

import physsim
from hardware_models import NoisyAnalog
from physsim._memory import CACHE_BLOCK, isolated_copy, isolated_empty, isolated_zeros
from physsim.device_run import prepare_run


def _owns_its_lines(a: np.ndarray) -> bool:
    """Data start on a block boundary and the buffer behind it covers the last block whole."""
    if a.size == 0:
        return True  # no bytes to share
    start = a.ctypes.data
    base = a.base
    while isinstance(base, np.ndarray) and base.base is not None:
        base = base.base
    buffer_start = base.ctypes.data
    buffer_end = buffer_start + base.nbytes
    last_block_end = -(-(start + max(a.nbytes, 1)) // CACHE_BLOCK) * CACHE_BLOCK
    return start % CACHE_BLOCK == 0 and buffer_start <= start and last_block_end <= buffer_end


@pytest.mark.parametrize("shape", [(), (1,), (3,), (5, 7), (2, 3, 17), (0,), (4, 0)])
@pytest.mark.parametrize("dtype", [np.float64, np.float32, np.int64])
def test_isolated_arrays_start_on_a_block_and_own_whole_blocks(shape, dtype):
    rng = np.random.default_rng(0)
    values = rng.standard_normal(shape).astype(dtype)
    for a in (isolated_empty(shape, dtype), isolated_zeros(shape, dtype),
              isolated_copy(values)):
        assert a.shape == tuple(shape) and a.dtype == dtype
        assert a.flags.c_contiguous and a.flags.writeable
        assert _owns_its_lines(a)
    np.testing.assert_array_equal(isolated_copy(values), values)
    assert not np.any(isolated_zeros(shape, dtype))
    # a copy is a copy, whatever the input's layout
    strided = np.asfortranarray(values)
    np.testing.assert_array_equal(isolated_copy(strided, dtype=np.float64), values)


def test_run_arrays_shared_by_threads_are_isolated():
    system = physsim.LinearHRU.random(8, 2, rng=1)
    hardware = NoisyAnalog(mismatch=0.01, quality_factor=50.0, thermal_energy=1e-6)
    run = prepare_run(system, dt=None, integrator="leapfrog", dtype=np.float64,
                      hardware=hardware, seed=3)
    assert run.hw_params.size > 0
    for name in ("kinds", "coefs", "theta", "theta64", "input_matrix", "hw_params"):
        assert _owns_its_lines(getattr(run, name)), name
    assert _owns_its_lines(run.input_matrix_t)
    assert _owns_its_lines(run.key(1))
    np.testing.assert_array_equal(run.key(1), [3, 1])
    np.testing.assert_array_equal(run.input_matrix_t, run.input_matrix.T)
