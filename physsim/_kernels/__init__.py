"""Private numba kernels on plain arrays (no classes, no validation).

Public code goes through :mod:`physsim.integrators`, :mod:`physsim.simulate`,
:mod:`physsim.rhel` and :mod:`physsim.bptt`; nothing outside ``physsim`` should
import from here.
"""
