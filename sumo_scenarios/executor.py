"""Where simulations run: a local process pool or a Ray cluster, behind one small interface.

``run_many``, the benchmarks and the gate's twins hand work to an :class:`Executor`; each
call returns a :class:`concurrent.futures.Future`::

    executor = make_executor("ray", address="auto")   # or LocalExecutor(workers=2)
    future = executor.submit(run, job)                 # any picklable function and arguments
    result = future.result()
    executor.close()

* :class:`LocalExecutor` (the default): ``spawn`` worker processes on this machine. With
  ``fresh_process=True`` (``run_many``'s) every task gets a new process, because libsumo
  carries state from one simulation to the next in a process (see :mod:`sumo_scenarios.runner`);
  ``fresh_process=False`` keeps warm workers (the gate's: start-up and imports are most of a
  cold twin's cost). It never imports Ray.
* :class:`RayExecutor`: Ray tasks with ``max_calls=1``, so each task runs in a fresh worker
  process too, on any node of a running cluster (``ray start --head`` ...); or, with
  ``fresh_process=False`` (short gate twins, where a new process and its imports cost more
  than the simulation), workers reused like the local warm pool. Ray retries a
  task whose worker died (``max_retries``); a SUMO run depends only on its job, so a retried
  task returns the same result. The nodes must see the scenario files at the same paths (one
  machine, or a shared file system) and have the same phasewise installed.

An exception raised by the task itself (a ``ScenarioError``, a controller's bug) reaches the
caller as itself, whichever executor ran it; a worker that died on every attempt becomes a
:class:`~phasewise_errors.SimulationError`.
"""

from __future__ import annotations

import logging
import os
import signal
import socket
import threading
import time
import traceback
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from contextlib import contextmanager
from multiprocessing import get_context
from typing import Any, Literal, Protocol, TypeVar

from phasewise_errors import ConfigError, SimulationError

log = logging.getLogger(__name__)

T = TypeVar("T")
ExecutorName = Literal["local", "ray"]
EXECUTOR_NAMES: tuple[str, ...] = ("local", "ray")
RAY_ADDRESS_ENV = "PHASEWISE_RAY_ADDRESS"
RAY_REQUIREMENT = "ray==2.40.0"  # the version the tests run against (pyproject's [ray] extra)
RAY_TASK_RETRIES = 3  # attempts after a worker died (killed, out of memory) before giving up
_CONNECT_TIMEOUT_S = 3.0  # to tell an unreachable HOST:PORT before Ray's own long retries


class Executor(Protocol):
    """Runs picklable functions elsewhere and returns futures."""

    name: str

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]: ...

    def stop(self) -> None:
        """Kill whatever is running or queued now (its futures fail); later submits still work."""
        ...

    def close(self) -> None: ...


class LocalExecutor:
    """``workers`` ``spawn`` processes on this machine (default: the CPU count).

    ``fresh_process``: a new process per task (``run_many``'s reproducibility), else warm
    processes reused from task to task, started at once and running ``warm_up`` first.
    Fresh-process workers leave the terminal's process group and ignore Ctrl-C (the parent
    handles it and stops them); warm workers stay in their parent's group, so stopping the
    parent's group (a ``run_many`` worker running a gate) stops them too.
    """

    name = "local"

    def __init__(self, workers: int | None = None, *, fresh_process: bool = True,
                 warm_up: Callable[[], None] | None = None, nice: int = 0):
        self.workers = max(1, workers or os.cpu_count() or 1)
        self.fresh_process = fresh_process
        self.warm_up = warm_up
        self.nice = nice
        self._pool: ProcessPoolExecutor | None = None
        if not fresh_process:
            self._start()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        pool = self._pool or self._start()
        with _sigint_ignored():  # workers started now inherit it before their initializer runs
            return pool.submit(fn, *args)

    def stop(self) -> None:
        """Stop every worker and whatever it started (a gate's twins, a TraCI SUMO)."""
        pool, self._pool = self._pool, None
        if pool is not None:
            _stop_workers(pool)

    def close(self) -> None:
        pool, self._pool = self._pool, None
        if pool is not None:
            pool.shutdown(wait=True, cancel_futures=True)

    def _start(self) -> ProcessPoolExecutor:
        if self.fresh_process:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"),
                                             max_tasks_per_child=1, initializer=_init_worker, initargs=(True, self.nice, os.getpid()))
        else:
            self._pool = ProcessPoolExecutor(max_workers=self.workers, mp_context=get_context("spawn"),
                                             initializer=_init_worker, initargs=(False, self.nice, os.getpid()))
            if self.warm_up is not None:
                for _ in range(self.workers):
                    self._pool.submit(self.warm_up)  # start every worker now: imports are most of a cold call
        return self._pool


class RayExecutor:
    """Ray tasks on the cluster at ``address`` (``auto``: the one this machine belongs to;
    ``HOST:PORT``: the head's GCS port). One CPU per task, and a fresh worker process per
    task unless ``fresh_process=False``.

    Raises ``ConfigError`` when Ray is not installed or no cluster answers at ``address``.
    """

    name = "ray"

    def __init__(self, address: str = "auto", retries: int = RAY_TASK_RETRIES, *, fresh_process: bool = True):
        self.address = address
        self.retries = retries
        self._ray = connect_ray(address)
        max_calls = 1 if fresh_process else 0  # 0: a worker runs any number of tasks
        self._task = self._ray.remote(num_cpus=1, max_calls=max_calls, max_retries=retries)(_call_capturing)
        self._pending: dict[int, Any] = {}  # id(future) -> ObjectRef, until it settles
        self._lock = threading.Lock()

    def submit(self, fn: Callable[..., T], *args: Any) -> Future[T]:
        ref = self._task.remote(fn, *args)
        outer: Future[T] = Future()
        with self._lock:
            self._pending[id(outer)] = ref
        ref.future().add_done_callback(lambda inner: self._settle(outer, inner))
        return outer

    def stop(self) -> None:
        with self._lock:
            refs = list(self._pending.values())
        for ref in refs:
            self._ray.cancel(ref, force=True)  # force: kill the worker (a SUMO run cannot be interrupted otherwise)

    def close(self) -> None:
        self.stop()

    def _settle(self, outer: Future[T], inner: Future[Any]) -> None:
        with self._lock:
            self._pending.pop(id(outer), None)
        if not outer.set_running_or_notify_cancel():
            return
        try:
            ok, value = inner.result()
        except self._ray.exceptions.TaskCancelledError:
            outer.set_exception(SimulationError("simulation cancelled on the Ray cluster"))
        except self._ray.exceptions.RayError as exc:  # the worker died on every attempt, the node went away...
            outer.set_exception(SimulationError(
                f"a SUMO task failed on the Ray cluster after {self.retries} retries: "
                f"{type(exc).__name__}: {str(exc).splitlines()[0] if str(exc) else ''}"))
        except BaseException as exc:
            outer.set_exception(exc)
        else:
            if ok:
                outer.set_result(value)
            else:
                outer.set_exception(value)


def _call_capturing(fn: Callable[..., T], *args: Any) -> tuple[bool, Any]:
    """Ray task body: ``(True, result)``, or ``(False, exception)`` with the worker's traceback
    as a note, so the caller gets the task's own exception type (not Ray's wrapper)."""
    try:
        return True, fn(*args)
    except Exception as exc:
        exc.add_note("on the Ray worker:\n" + "".join(traceback.format_exception(exc)))
        return False, exc


def connect_ray(address: str) -> Any:
    """Import Ray and connect this process to the cluster at ``address``; the ``ray`` module.

    ``ConfigError`` (one line) when Ray is missing or nothing answers at the address.
    """
    try:
        import ray
    except ImportError:
        raise ConfigError(f"--executor ray needs Ray: pip install '{RAY_REQUIREMENT}' "
                          "(or install phasewise with the [ray] extra)") from None
    if ray.is_initialized():
        return ray
    if address != "auto":
        host, _, port = address.rpartition(":")
        if not host or not port.isdigit():
            raise ConfigError(f"--ray-address {address}: expected auto or HOST:PORT (the head's port, 6379 by default)")
        try:
            socket.create_connection((host, int(port)), timeout=_CONNECT_TIMEOUT_S).close()
        except OSError as exc:
            raise ConfigError(f"--ray-address {address}: no Ray cluster answers there ({exc.strerror or exc}); "
                              "start one with `ray start --head`") from None
    try:
        ray.init(address=address, logging_level=logging.WARNING, log_to_driver=False, configure_logging=False)
    except ConnectionError as exc:
        raise ConfigError(f"--ray-address {address}: no Ray cluster found ({str(exc).splitlines()[0]}); "
                          "start one with `ray start --head` or give HOST:PORT") from None
    return ray


def make_executor(name: str, address: str | None = None, workers: int | None = None) -> Executor:
    """The executor called ``name`` (``local`` or ``ray``). For Ray the address is ``address``,
    else ``$PHASEWISE_RAY_ADDRESS``, else ``auto``; ``workers`` sizes the local pool."""
    if name == "local":
        return LocalExecutor(workers)
    if name == "ray":
        return RayExecutor(address or os.environ.get(RAY_ADDRESS_ENV) or "auto")
    raise ConfigError(f"--executor {name}: expected one of {', '.join(EXECUTOR_NAMES)}")


# --- local workers: Ctrl-C and stopping -------------------------------------------------


@contextmanager
def _sigint_ignored() -> Iterator[None]:
    """Ignore SIGINT in this process meanwhile (only the main thread may change it)."""
    if threading.current_thread() is not threading.main_thread():
        yield
        return
    previous = signal.signal(signal.SIGINT, signal.SIG_IGN)
    try:
        yield
    finally:
        signal.signal(signal.SIGINT, previous)


PARENT_POLL_S = 1.0


def _init_worker(detach: bool, nice: int, parent: int) -> None:
    """Worker initializer: it ends when its parent is gone (also after ``kill -9`` of the
    parent, which runs no cleanup), runs ``nice`` steps below its parent (a daemon's gate
    twins must not take the CPU from its control loop), and with ``detach`` leaves the
    terminal's process group (:func:`_detach_from_terminal`). ``parent`` is the parent's PID as
    the parent saw it: a worker still starting when its parent died is already orphaned here."""

    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(PARENT_POLL_S)
        os.killpg(os.getpgid(0), signal.SIGKILL) if detach else os._exit(1)

    threading.Thread(target=watch, name="parent-watch", daemon=True).start()
    if nice:
        os.nice(nice)
    if detach:
        _detach_from_terminal()


def _detach_from_terminal() -> None:
    """Worker initializer: a process group of its own, so Ctrl-C reaches only the parent, and
    SIGTERM as a clean exit (temporary files removed, SUMO and the controller closed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.signal(signal.SIGTERM, _exit_on_sigterm)
    os.setpgid(0, 0)


def _exit_on_sigterm(signum: int, _frame: object) -> None:
    raise SystemExit(128 + signum)


_STOP_GRACE_S = 3.0  # for a clean exit (quick, unless the controller waits on its own workers); then killed


def _stop_workers(pool: ProcessPoolExecutor) -> None:
    """Stop every worker and whatever it started; close the pool (its futures fail)."""
    workers = list((getattr(pool, "_processes", None) or {}).values())  # no public API before 3.14
    for process in workers:
        process.terminate()
    deadline = time.monotonic() + _STOP_GRACE_S
    for process in workers:
        process.join(max(0.0, deadline - time.monotonic()))
    for process in workers:
        try:
            os.killpg(process.pid, signal.SIGKILL)  # its group (see _detach_from_terminal): what it left
        except OSError:  # no such group: never detached, or everything in it is gone
            if process.is_alive():
                process.kill()
    pool.shutdown(wait=True, cancel_futures=True)
