"""Run independent tasks on an executor: the one implementation behind every ``executor=``.

Indexing (:func:`covidimg.sources._engine.index.index_dicom`, so ``covidimg.load``),
thumbnails (:func:`covidimg.imaging.thumbnails`) and image export
(:func:`covidimg.export.export_cohort`) hand their work to :func:`run_tasks`, which accepts
the same ``executor`` everywhere:

* ``None`` (the default): a local process pool when the work is worth one (the caller says
  so, e.g. by counting the header reads or the images to render), of ``n_jobs`` workers
  (``None`` or ``-1``: every CPU); else this process;
* ``False``: always this process (``n_jobs=1`` does the same);
* any :class:`concurrent.futures.Executor`: a ``ProcessPoolExecutor``, a
  ``ThreadPoolExecutor``, or a Dask cluster's ``Client.get_executor()``; a Dask ``Client``
  itself is taken as its ``get_executor()``. An executor passed in is never shut down.

Tasks are module-level functions of plain, picklable arguments; their results come back as
data. A task that raises, or a worker that dies, becomes a :class:`~covidimg.errors.TaskError`
naming the task (its file) and the executor. A :mod:`tqdm.auto` bar counts the work done in
this process as tasks complete.
"""

from __future__ import annotations

import concurrent.futures as cf
import os
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from typing import Any, Literal, TypeVar

from covidimg.errors import TaskError

__all__ = ["ExecutorArg", "default_workers", "resolve_executor", "run_tasks"]

#: What every ``executor=`` argument accepts (see the module docstring).
ExecutorArg = cf.Executor | bool | None

T = TypeVar("T")
R = TypeVar("R")

#: How often a pool worker checks that the process that started it is still alive.
_PARENT_CHECK_SECONDS = 0.5


def default_workers(n_jobs: int | None) -> int:
    """Workers of the default pool: ``n_jobs``, or every CPU for ``None`` and ``-1``.

    Examples
    --------
    >>> from covidimg._parallel import default_workers
    >>> default_workers(3)
    3
    >>> default_workers(None) == default_workers(-1) >= 1
    True
    """
    if n_jobs is None or n_jobs == -1:
        return os.cpu_count() or 1
    if isinstance(n_jobs, bool) or not isinstance(n_jobs, int) or n_jobs < 1:
        raise ValueError(f"n_jobs={n_jobs!r}: expected a positive number of workers, -1 (every "
                         "CPU) or None (the default)")
    return n_jobs


def resolve_executor(executor: Any, *, n_jobs: int | None = None,
                     worth_a_pool: bool = True) -> tuple[cf.Executor | None, bool]:
    """The executor to submit to (``None``: run in this process) and whether it is ours.

    Parameters
    ----------
    executor
        ``None``, ``False``, a :class:`concurrent.futures.Executor` or a Dask ``Client``.
    n_jobs
        Workers of the default pool (``executor=None``); 1 runs in this process.
    worth_a_pool
        Whether the default pool is worth starting for this work.

    Raises
    ------
    TypeError
        If ``executor`` is none of the above.
    """
    if executor is None:
        workers = default_workers(n_jobs)
        if workers <= 1 or not worth_a_pool:
            return None, False
        return cf.ProcessPoolExecutor(max_workers=workers, initializer=_exit_with_parent,
                                      initargs=(os.getpid(),)), True
    if executor is False:
        return None, False
    if isinstance(executor, cf.Executor):
        return executor, False
    get_executor = getattr(executor, "get_executor", None)
    if callable(get_executor):  # a dask.distributed Client
        return get_executor(), False
    raise TypeError(f"executor={executor!r}: expected None (a local process pool when worth "
                    "it), False (this process), a concurrent.futures.Executor, or a Dask "
                    "distributed Client (or its get_executor())")


def run_tasks(function: Callable[[T], R], tasks: Sequence[T], *,
              executor: ExecutorArg = None, n_jobs: int | None = None,
              worth_a_pool: bool = True, name: Callable[[T], str] = repr,
              errors: Literal["raise", "return"] = "raise",
              remote: tuple[Callable[[T], Any], Callable[[Any], R]] | None = None,
              progress: bool = False, desc: str = "tasks", unit: str = "task",
              total: int | None = None, initial: int = 0,
              weight: Callable[[T], int] | None = None) -> Iterator[tuple[int, R | TaskError]]:
    """Run ``function`` on each task; yield ``(position in tasks, result)`` as they complete.

    In this process the tasks run in order; on an executor they are all submitted at once and
    yielded in the order they finish.

    Parameters
    ----------
    function
        A module-level function of one picklable argument.
    tasks
        Its arguments.
    executor, n_jobs, worth_a_pool
        Where to run them (see :func:`resolve_executor`).
    name
        Names a task in errors (e.g. its file).
    errors
        ``"raise"``: a failed task raises :class:`~covidimg.errors.TaskError`, and the tasks
        not started are cancelled. ``"return"``: the error is yielded as its result.
    remote
        ``(function, unpack)`` used instead of ``function`` when the tasks leave this process:
        ``unpack`` rebuilds ``function``'s result from what ``remote[0]`` returned (a cheaper
        form to pickle).
    progress, desc, unit, total, initial, weight
        A tqdm bar of ``total`` units (default: the tasks' weights), starting at ``initial``;
        each finished task adds ``weight(task)`` (default 1).

    Yields
    ------
    tuple
        ``(position, result or TaskError)``.

    Examples
    --------
    >>> from covidimg._parallel import run_tasks
    >>> sorted(run_tasks(abs, [-1, 2, -3], executor=False))
    [(0, 1), (1, 2), (2, 3)]
    """
    from tqdm.auto import tqdm

    size = weight or (lambda _task: 1)
    if total is None:
        total = initial + sum(size(t) for t in tasks)
    pool, own = resolve_executor(executor, n_jobs=n_jobs,
                                 worth_a_pool=worth_a_pool and len(tasks) > 0)
    with tqdm(total=total, initial=initial, desc=desc, unit=unit, disable=not progress) as bar:
        if pool is None:
            for i, task in enumerate(tasks):
                try:
                    result: Any = function(task)
                except Exception as exc:
                    result = _failure(exc, task, name, "this process")
                    if errors == "raise":
                        raise result from exc
                bar.update(size(task))
                yield i, result
            return
        call, unpack = remote if remote is not None else (function, None)
        futures: dict[cf.Future[Any], int] = {}
        try:
            for i, task in enumerate(tasks):
                try:
                    futures[pool.submit(call, task)] = i
                except Exception as exc:  # e.g. a process pool already broken, or shut down
                    result = _failure(exc, task, name, _describe(pool))
                    if errors == "raise":
                        raise result from exc
                    bar.update(size(task))
                    yield i, result
            for future in cf.as_completed(futures):
                i = futures[future]
                try:
                    result = future.result()
                    if unpack is not None:
                        result = unpack(result)
                except Exception as exc:  # the task raised, or its worker died
                    result = _failure(exc, tasks[i], name, _describe(pool))
                    if errors == "raise":
                        raise result from exc
                bar.update(size(tasks[i]))
                yield i, result
        finally:
            for future in futures:  # nothing is left running for a caller that stopped
                future.cancel()
            if own:
                pool.shutdown(wait=True, cancel_futures=True)


def _describe(pool: cf.Executor) -> str:
    return type(pool).__name__


def _failure(exc: BaseException, task: Any, name: Callable[[Any], str], where: str) -> TaskError:
    try:
        label = name(task)
    except Exception:  # naming must never hide the real error
        label = "a task"
    return TaskError(label, f"{type(exc).__name__}: {exc}", where)


def _exit_with_parent(parent: int) -> None:
    """Pool worker initializer: exit as soon as ``parent`` (the process that started the pool)
    is gone.

    A worker whose parent was killed (``kill -9``, an out-of-memory kill) would otherwise
    finish its task and then wait for work forever, holding its memory.
    """
    def watch() -> None:
        while os.getppid() == parent:
            time.sleep(_PARENT_CHECK_SECONDS)
        os._exit(1)

    threading.Thread(target=watch, name="covidimg-parent-watch", daemon=True).start()
