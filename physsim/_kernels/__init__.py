"""Private numba kernels on plain arrays (no classes, no validation).

Public code goes through :mod:`physsim.integrators`, :mod:`physsim.simulate`,
:mod:`physsim.rhel` and :mod:`physsim.bptt`; nothing outside ``physsim`` should
import from here.
"""

import os

# The compiled loops run on numba's OpenMP thread pool.  By default GNU OpenMP's idle
# workers spin for a while after each parallel region; on a machine with other work (or
# more runnable threads than cores) the spinning worker takes the core the next serial
# step needs, and each parallel region then costs milliseconds instead of microseconds
# (measured on 2 cores at load 2.6: 2.4 ms against 4 us per region, and serial work
# between regions ran 10x slower).  Passive waiting, unless the user chose otherwise; it
# must be set before numba starts the pool (its first parallel call), hence here.
os.environ.setdefault("OMP_WAIT_POLICY", "PASSIVE")
