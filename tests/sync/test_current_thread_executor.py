"""CurrentThreadExecutor: runs submitted work on the thread that waits."""

from __future__ import annotations

import threading
from concurrent.futures import Future

import pytest

from asgi_sync.current_thread_executor import CurrentThreadExecutor


@pytest.mark.timeout(10)
def test_runs_submitted_work_on_the_waiting_thread() -> None:
    executor = CurrentThreadExecutor()
    done: Future[int] = Future()

    def other_thread() -> None:
        done.set_result(executor.submit(threading.get_ident).result(5))

    threading.Thread(daemon=True, target=other_thread).start()
    executor.run_until_future(done)
    assert done.result() == threading.get_ident()


def test_submit_from_its_own_thread_is_refused() -> None:
    executor = CurrentThreadExecutor()
    with pytest.raises(RuntimeError, match=r"from its own thread"):
        executor.submit(threading.get_ident)


@pytest.mark.timeout(10)
def test_run_from_another_thread_is_refused() -> None:
    executor = CurrentThreadExecutor()
    errors: list[BaseException] = []

    def other() -> None:
        try:
            executor.run_until_future(Future())
        except RuntimeError as exc:
            errors.append(exc)

    thread = threading.Thread(daemon=True, target=other)
    thread.start()
    thread.join(5)
    assert len(errors) == 1
    assert "can only run on" in str(errors[0])


@pytest.mark.timeout(10)
def test_after_finishing_submissions_go_to_the_old_executor_or_fail() -> None:
    outer = CurrentThreadExecutor()
    inner = CurrentThreadExecutor(old_executor=outer)
    finished: Future[None] = Future()
    finished.set_result(None)
    inner.run_until_future(finished)
    results: list[object] = []
    all_done: Future[None] = Future()

    def other() -> None:
        results.append(inner.submit(lambda: "via outer").result(5))
        lone = CurrentThreadExecutor.__new__(CurrentThreadExecutor)
        lone.__dict__.update(inner.__dict__, _old_executor=None)
        try:
            lone.submit(lambda: None)
        except RuntimeError as exc:
            results.append(str(exc))
        all_done.set_result(None)

    threading.Thread(daemon=True, target=other).start()
    outer.run_until_future(all_done)
    assert results[0] == "via outer"
    assert "already quit" in str(results[1])


@pytest.mark.timeout(10)
def test_exceptions_are_delivered_to_the_future() -> None:
    executor = CurrentThreadExecutor()
    result: Future[BaseException | None] = Future()

    def fail() -> None:
        raise ZeroDivisionError

    def other() -> None:
        result.set_result(executor.submit(fail).exception(5))

    threading.Thread(daemon=True, target=other).start()
    executor.run_until_future(result)
    assert isinstance(result.result(), ZeroDivisionError)
