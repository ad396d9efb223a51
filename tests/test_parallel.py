"""each_at_once: results in order; an error drops the steps not started and is raised once the running ones end."""

from __future__ import annotations

import threading
import time

import pytest

from clvlake.parallel import all_at_once, each_at_once


def test_every_step_runs_in_the_named_threads_and_the_results_keep_the_items_order():
    threads = set()

    def square(n: int) -> int:
        threads.add(threading.current_thread().name)
        return n * n

    assert each_at_once(square, range(7), 3, "test") == [0, 1, 4, 9, 16, 25, 36]
    assert threads and all(name.startswith("clvlake-test") for name in threads)


def test_an_error_drops_the_steps_not_started_and_is_raised_once_the_running_one_ends():
    started, finished = [], []

    def step(item: int) -> int:
        started.append(item)
        if item == 0:
            raise ValueError("table 0: broken")
        time.sleep(1.0)  # the one step the worker may take up before the error reaches the caller
        finished.append(item)
        return item

    with pytest.raises(ValueError, match="table 0"):
        each_at_once(step, range(20), 1, "test")
    assert started in ([0], [0, 1])
    assert finished == started[1:]  # a step that started ran to its end


def test_all_steps_run_at_once_and_their_results_keep_the_steps_order():
    """Two steps that each wait for the other to start can only finish when they run at the same time."""
    started = threading.Barrier(2, timeout=10)

    def step(result: str):
        def run() -> str:
            started.wait()
            return result

        return run

    assert all_at_once([step("table"), step("run")], "test") == ["table", "run"]
