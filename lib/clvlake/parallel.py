"""A job's independent steps (one per table, source or file) run a few at a time: each is a few small Spark jobs
and a commit, which one after another leave the cores waiting on the driver."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Sequence
from concurrent.futures import ThreadPoolExecutor
from typing import TypeVar

Item = TypeVar("Item")
Result = TypeVar("Result")


def each_at_once(
    step: Callable[[Item], Result], items: Iterable[Item], workers: int, name: str
) -> list[Result]:
    """`step(item)` for every item, `workers` at a time in threads named after `name`; the results in the items'
    order. On the first error (or Ctrl-C) the items not started yet are dropped; the running ones finish, then it is
    raised (a Spark job cannot be stopped half-way from Python)."""
    with ThreadPoolExecutor(workers, thread_name_prefix=f"clvlake-{name}") as pool:
        return list(pool.map(step, items))  # the map's iterator cancels the steps not started when one fails


def all_at_once(steps: Sequence[Callable[[], Result]], name: str) -> list[Result]:
    """Every step at once, each in a thread of its own (as `each_at_once`); the results in the steps' order."""
    return each_at_once(lambda step: step(), steps, len(steps), name)
