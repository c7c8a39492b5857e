"""Where tasks run: in this process, in local worker processes, or on a Dask cluster.

An executor takes a :class:`~physsim.sweeps.tasks.WorkSpec` and tasks and
yields :class:`~physsim.sweeps.tasks.TaskResult` objects as they finish
(in any order).  Tasks carry their own seeds and every worker runs numba on
one thread, so results are identical whichever executor runs them.
"""

from __future__ import annotations

import concurrent.futures as cf
import ctypes
import multiprocessing as mp
import os
import select
import signal
import sys
import threading
import time
from collections import deque
from typing import Iterable, Iterator

from .tasks import TaskResult, WorkSpec, run_task

#: Attempts of a task whose worker process dies (a crash, not a Python error).
MAX_ATTEMPTS = 3
#: Seconds to wait for a Dask scheduler to answer.
DEFAULT_CONNECT_TIMEOUT = 10.0
#: Environment of local worker processes: BLAS libraries single-threaded (read at import).
_WORKER_ENV = {"OMP_NUM_THREADS": "1", "OPENBLAS_NUM_THREADS": "1", "MKL_NUM_THREADS": "1"}


def default_workers() -> int:
    """Cores available to this process."""
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # pragma: no cover (not Linux)
        return max(1, os.cpu_count() or 1)


def _crash_result(task, message: str) -> TaskResult:
    return TaskResult(task_id=task.task_id, ok=False, error=message)


class SerialExecutor:
    """Runs tasks one after another in this process (debugging, ``--workers 0``)."""

    workers = 1
    description = "this process"

    def run(self, spec: WorkSpec, tasks: Iterable) -> Iterator[TaskResult]:
        """Yield the result of each task in order."""
        for task in tasks:
            yield run_task(spec, task, limit_threads=False)

    def shutdown(self, wait: bool = True) -> None:
        """Nothing to release."""


#: ``prctl`` option: signal this process receives when its parent ends (Linux).
_PR_SET_PDEATHSIG = 1
#: Seconds between checks of the sweep process where ``pidfd_open`` is unavailable.
_PARENT_POLL_S = 0.5


def _exit_with_parent(sweep_pid: int) -> None:
    """End this worker process as soon as the sweep process ``sweep_pid`` ends.

    A killed sweep (SIGKILL, a crashed terminal) cannot stop its workers, and
    a worker blocked on the task queue or busy with a task would run on.  Two
    guards:

    * Linux ``PR_SET_PDEATHSIG``: the kernel sends SIGKILL to this worker when
      its parent ends, even while a numba kernel holds the interpreter lock.
      With the ``spawn`` start method (the default) the parent is the sweep
      process itself.
    * A watchdog thread waiting on the sweep process (a ``pidfd`` where the
      kernel has one, else polling), which also covers ``forkserver`` workers,
      whose parent is the fork server; it exits the worker at once (within
      the current kernel call when a kernel holds the interpreter lock).
    """
    if sys.platform.startswith("linux"):
        try:
            libc = ctypes.CDLL(None, use_errno=True)
            libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL, 0, 0, 0)
        except (OSError, AttributeError):  # pragma: no cover (no libc prctl)
            pass
    try:
        pidfd = os.pidfd_open(sweep_pid)
    except ProcessLookupError:
        os._exit(1)  # the sweep ended before this worker started
    except (AttributeError, OSError):  # pragma: no cover (not Linux >= 5.3)
        pidfd = None

    def watch() -> None:
        if pidfd is not None:
            select.select([pidfd], [], [])  # readable when the process has ended
        else:  # pragma: no cover (not Linux >= 5.3)
            while True:
                try:
                    os.kill(sweep_pid, 0)
                except ProcessLookupError:
                    break
                time.sleep(_PARENT_POLL_S)
        os._exit(1)

    threading.Thread(target=watch, name="physsim-parent-watchdog", daemon=True).start()


def _init_worker(sweep_pid: int) -> None:
    _exit_with_parent(sweep_pid)
    import numba  # noqa: PLC0415

    numba.set_num_threads(1)


class LocalExecutor:
    """A pool of local worker processes (``spawn``/``forkserver``: no forked numba state).

    Workers end within a second when the sweep process ends, however it ends
    (see :func:`_exit_with_parent`).

    Parameters
    ----------
    workers : int
        Number of processes.
    context : str, optional
        Multiprocessing start method, ``spawn`` (default: the workers are
        children of this process, so the kernel ends them with it) or
        ``forkserver``.
    """

    def __init__(self, workers: int, context: str | None = None) -> None:
        if not isinstance(workers, int) or workers < 1:
            raise ValueError(f"workers must be a positive integer, got {workers!r}")
        self.workers = workers
        self.context = context or "spawn"
        if self.context not in ("spawn", "forkserver"):
            raise ValueError(f"start method must be spawn or forkserver (forked numba thread "
                             f"pools are unsafe), got {self.context!r}")
        self.description = f"{workers} local process{'es' if workers > 1 else ''}"
        self._pool: cf.ProcessPoolExecutor | None = None
        self._saved_env: dict[str, str | None] | None = None

    def _new_pool(self) -> cf.ProcessPoolExecutor:
        # workers inherit the environment when they start (on demand): keep it set while
        # the pool lives; the parent's numpy read its own settings long ago
        if self._saved_env is None:
            self._saved_env = {k: os.environ.get(k) for k in _WORKER_ENV}
            os.environ.update(_WORKER_ENV)
        return cf.ProcessPoolExecutor(max_workers=self.workers,
                                      mp_context=mp.get_context(self.context),
                                      initializer=_init_worker, initargs=(os.getpid(),))

    def _restore_env(self) -> None:
        if self._saved_env is not None:
            for k, v in self._saved_env.items():
                if v is None:
                    os.environ.pop(k, None)
                else:
                    os.environ[k] = v
            self._saved_env = None

    def run(self, spec: WorkSpec, tasks: Iterable) -> Iterator[TaskResult]:
        """Yield results as tasks finish; at most ``2 * workers`` tasks are in flight."""
        queue = deque((t, 1) for t in tasks)
        window = 2 * self.workers
        self._pool = self._pool or self._new_pool()
        running: dict[cf.Future, tuple] = {}
        while queue or running:
            while queue and len(running) < window:
                task, attempt = queue.popleft()
                running[self._pool.submit(run_task, spec, task)] = (task, attempt)
            done, _ = cf.wait(running, return_when=cf.FIRST_COMPLETED)
            broken = False
            for fut in done:
                task, attempt = running.pop(fut)
                try:
                    yield fut.result()
                except cf.process.BrokenProcessPool:
                    broken = True
                    if attempt >= MAX_ATTEMPTS:
                        yield _crash_result(task, f"the worker process died while running this "
                                                  f"task ({attempt} attempts); it may crash the "
                                                  "interpreter or exhaust memory")
                    else:
                        queue.appendleft((task, attempt + 1))
            if broken:
                # every task in flight died with the pool: run them again in a new pool
                for fut, (task, attempt) in running.items():
                    fut.cancel()
                    queue.appendleft((task, attempt + 1 if attempt < MAX_ATTEMPTS else attempt))
                running.clear()
                self._pool.shutdown(wait=False, cancel_futures=True)
                self._pool = self._new_pool()

    def shutdown(self, wait: bool = True) -> None:
        """Stop the pool (queued tasks are cancelled); ``wait`` for the workers to exit."""
        if self._pool is not None:
            self._pool.shutdown(wait=wait, cancel_futures=True)
            self._pool = None
        self._restore_env()


class DaskExecutor:
    """Tasks on a ``dask.distributed`` cluster given by its scheduler address.

    Parameters
    ----------
    scheduler : str
        Scheduler address, e.g. ``tcp://10.0.0.5:8786``.
    connect_timeout : float
        Seconds to wait for the scheduler to answer.

    Raises
    ------
    ImportError
        If ``dask.distributed`` is not installed (install the ``dask`` extra).
    ConnectionError
        If the scheduler does not answer within ``connect_timeout`` (the
        message names the address and the timeout).
    """

    def __init__(self, scheduler: str, connect_timeout: float = DEFAULT_CONNECT_TIMEOUT) -> None:
        if not connect_timeout > 0:
            raise ValueError(f"connect_timeout must be a positive number of seconds, "
                             f"got {connect_timeout!r}")
        try:
            from distributed import Client  # noqa: PLC0415 (optional dependency)
        except ImportError as exc:
            raise ImportError("running a sweep on a Dask cluster needs dask.distributed: "
                              "pip install 'physsim[dask]'  (or: pip install "
                              "'dask[distributed]')") from exc
        try:
            self.client = Client(scheduler, timeout=connect_timeout)
        except (OSError, TimeoutError) as exc:  # distributed raises OSError("Timed out ...")
            raise ConnectionError(f"cannot reach the Dask scheduler at {scheduler} within "
                                  f"{connect_timeout:g} s ({exc}); check the address and that "
                                  "the scheduler runs, or wait longer with --connect-timeout"
                                  ) from None
        threads = self.client.nthreads()
        self.workers = max(1, sum(threads.values()))
        self.description = f"Dask cluster {scheduler} ({len(threads)} workers, " \
                           f"{self.workers} threads)"

    def run(self, spec: WorkSpec, tasks: Iterable) -> Iterator[TaskResult]:
        """Yield results as tasks finish; at most ``2 * threads`` tasks are submitted at once."""
        from distributed import as_completed  # noqa: PLC0415

        queue = deque(tasks)
        window = 2 * self.workers
        spec_future = self.client.scatter(spec, broadcast=True)
        futures = {}
        ac = as_completed()

        def submit():
            task = queue.popleft()
            fut = self.client.submit(run_task, spec_future, task, pure=False)
            futures[fut.key] = task
            ac.add(fut)

        while queue and len(futures) < window:
            submit()
        for fut in ac:
            task = futures.pop(fut.key)
            try:
                yield fut.result()
            except Exception as exc:  # noqa: BLE001 (a worker died: recorded, the sweep goes on)
                yield _crash_result(task, f"the Dask task failed outside the metric code: "
                                          f"{type(exc).__name__}: {exc}")
            fut.release()
            if queue:
                submit()

    def shutdown(self, wait: bool = True) -> None:
        """Disconnect from the cluster (the cluster keeps running)."""
        self.client.close()
