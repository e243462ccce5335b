"""One small interface over the places the pipeline's tasks run: inline, a thread pool, or
dask.distributed (a client, a scheduler address, or a LocalCluster of N processes).

``submit(fn, *args)`` returns a future; arguments may be futures of the same pool: dask passes
them worker to worker, the thread pool resolves them (the pipeline submits a task only once
the futures it needs are done). ``wait_any`` blocks until one of the given futures is done,
polling ``check`` (the job's cancel) every 50 ms. ``cv_threads`` is the OpenCV thread count a
task should use: 1 on pool workers (several tasks share the cores), None (OpenCV's default)
inline.
"""

from __future__ import annotations

import concurrent.futures as cf
import time
from collections.abc import Callable
from typing import Any


class InlinePool:
    """Runs each task at submission, in the calling thread."""

    cv_threads: int | None = None
    n_workers = 1

    def submit(self, fn: Callable, *args) -> cf.Future:
        fut: cf.Future = cf.Future()
        args = tuple(a.result() if isinstance(a, cf.Future) else a for a in args)
        try:
            fut.set_result(fn(*args))
        except BaseException as exc:  # noqa: BLE001 - delivered through the future
            fut.set_exception(exc)
        return fut

    def wait_any(self, futures, check: Callable[[], None]) -> set:
        check()
        return {f for f in futures if f.done()}

    def result(self, fut) -> Any:
        return fut.result()

    def raise_if_failed(self, fut) -> None:
        """Re-raise the error of a finished task whose result stays on the pool."""
        exc = fut.exception()
        if exc is not None:
            raise exc

    def cancel(self, futures) -> None:
        pass

    def close(self) -> None:
        pass


class ThreadPool(InlinePool):
    """A pool of ``n`` threads (OpenCV, numba kernels and numpy release the GIL)."""

    cv_threads = 1

    def __init__(self, n: int):
        self.n_workers = max(1, int(n))
        self._pool = cf.ThreadPoolExecutor(self.n_workers, thread_name_prefix="owlx-fibsem")

    def submit(self, fn: Callable, *args) -> cf.Future:
        args = tuple(a.result() if isinstance(a, cf.Future) else a for a in args)
        return self._pool.submit(fn, *args)

    def wait_any(self, futures, check: Callable[[], None]) -> set:
        while True:
            check()
            done, _ = cf.wait(list(futures), timeout=0.05, return_when=cf.FIRST_COMPLETED)
            if done:
                return set(done)

    def cancel(self, futures) -> None:
        for f in futures:
            f.cancel()

    def close(self) -> None:
        self._pool.shutdown(wait=True, cancel_futures=True)


class DaskPool:
    """Tasks on dask.distributed. ``client`` is used as given; else ``Client(scheduler)``, or a
    LocalCluster of ``n_workers`` single-threaded processes, closed by :meth:`close`."""

    cv_threads = 1

    def __init__(self, client: Any = None, scheduler: str | None = None, n_workers: int = 2):
        from distributed import Client, LocalCluster

        self._own_client = self._own_cluster = None
        if client is None:
            if scheduler:
                client = self._own_client = Client(scheduler)
            else:
                self._own_cluster = LocalCluster(n_workers=int(n_workers), threads_per_worker=1, processes=True,
                                                 dashboard_address=None, silence_logs=40)
                client = self._own_client = Client(self._own_cluster)
        self.client = client
        self.n_workers = max(1, sum(int(v) for v in client.nthreads().values()))

    def submit(self, fn: Callable, *args):
        return self.client.submit(fn, *args, pure=False)

    def wait_any(self, futures, check: Callable[[], None]) -> set:
        # polling future states is cheap and never raises on a timeout (distributed.wait does)
        while True:
            check()
            done = {f for f in futures if f.done()}
            if done or not futures:
                return done
            time.sleep(0.01)

    def result(self, fut) -> Any:
        return fut.result()

    def raise_if_failed(self, fut) -> None:
        """Re-raise the error of a finished task whose result stays on the workers."""
        if fut.status == "error":
            fut.result()

    def cancel(self, futures) -> None:
        futures = list(futures)
        if futures:
            self.client.cancel(futures)

    def close(self) -> None:
        if self._own_client is not None:
            self._own_client.close()
        if self._own_cluster is not None:
            self._own_cluster.close()


def run_map(pool, fn, items, ctx, on_done, window: int) -> None:
    """Submit ``fn(*item)`` to ``pool`` for every item (at most ``window`` in flight) and hand
    each result to ``on_done`` as it completes; ``ctx.check`` (the job's cancel) is polled."""
    items = list(items)
    pending: dict[Any, int] = {}
    k = 0
    try:
        while k < len(items) or pending:
            while k < len(items) and len(pending) < window:
                pending[pool.submit(fn, *items[k])] = k
                k += 1
            for f in pool.wait_any(list(pending), ctx.check):
                pending.pop(f)
                on_done(pool.result(f))
    finally:
        pool.cancel(list(pending))


def make_pool(threads: int = 1, n_workers: int | None = None, scheduler: str | None = None, client: Any = None):
    """The pool for a run: dask when ``client``, ``scheduler`` or ``n_workers`` is given, a
    thread pool for ``threads`` > 1, else inline."""
    if client is not None or scheduler is not None or n_workers is not None:
        return DaskPool(client, scheduler, n_workers or 2)
    if threads > 1:
        return ThreadPool(threads)
    return InlinePool()
