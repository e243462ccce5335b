import threading

import pytest

from owlx.errors import JobCancelled
from owlx.jobs import CancelToken, Job, run_in_thread, run_inline


def test_map_streams_results_and_monotone_progress():
    progress, results = [], []
    outcome = run_inline(Job.map(lambda x: x * x, range(5)), lambda d, t: progress.append((d, t)), results.append)
    assert outcome.status == "done" and outcome.value == 5 and outcome.n_results == 5
    assert results == [(i, i * i) for i in range(5)]
    assert progress == [(i, 5) for i in range(6)]


def test_cancel_stops_before_next_item_and_reports_cancelled():
    seen = []
    job = Job.map(lambda x: seen.append(x) or x, range(100))

    def on_result(pair):
        if pair[0] == 9:
            job.cancel()

    outcome = run_inline(job, on_result=on_result)
    assert outcome.status == "cancelled"
    assert seen == list(range(10))  # the item in flight finishes, no further item starts


def test_failure_is_reported_not_raised_when_asked():
    def boom(x):
        if x == 2:
            raise ValueError("bad frame 2")
        return x

    outcome = run_inline(Job.map(boom, range(4)), raise_errors=False)
    assert outcome.status == "failed" and "bad frame 2" in str(outcome.error)
    assert "ValueError" in outcome.traceback
    with pytest.raises(ValueError):
        run_inline(Job.map(boom, range(4)))


def test_keep_going_streams_the_exception_and_continues():
    def boom(x):
        if x == 1:
            raise RuntimeError("frame 1")
        return -x

    results = []
    outcome = run_inline(Job.map(boom, range(3), keep_going=True), on_result=results.append)
    assert outcome.ok
    assert results[0] == (0, 0) and results[2] == (2, -2)
    assert isinstance(results[1][1], RuntimeError)


def test_run_in_thread_runs_elsewhere_and_cancels():
    started, release = threading.Event(), threading.Event()

    def work(ctx):
        started.set()
        release.wait(5)
        ctx.check()
        return "finished"

    job = Job(work, name="wait")
    future = run_in_thread(job)
    assert started.wait(5)
    job.cancel()
    release.set()
    assert future.result(5).status == "cancelled"


def test_cancel_token():
    token = CancelToken()
    token.check()
    token.cancel()
    assert token.cancelled
    with pytest.raises(JobCancelled):
        token.check()
