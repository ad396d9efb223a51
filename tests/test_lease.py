"""The lake's writer lease: one holder at a time, taken over from a dead or silent holder, renewed, freed."""

from __future__ import annotations

import dataclasses
import itertools
import subprocess
import sys
import threading
import time
from datetime import timedelta

import pytest

from clvlake import lease
from clvlake.errors import ConflictError
from clvlake.lake import Lake
from clvlake.lease import Holder


@pytest.fixture
def lake(spark, tmp_path) -> Lake:
    return Lake(spark, str(tmp_path / "lake"))


def holder_now(lake: Lake) -> str | None:
    return lake.read("lease").first()["holder"]


def test_a_second_job_waits_for_the_holder_then_stops_with_an_error_naming_it(lake):
    first, second = Holder.this_process("ingest"), Holder.this_process("erase")
    lease.acquire(lake, first, timedelta(0))
    lease.acquire(lake, first, timedelta(0))  # its own lease: taken again at once
    with pytest.raises(
        ConflictError, match=r"being written by clv ingest \(process \d+ on .*waited 0 minutes"
    ):
        lease.acquire(lake, second, timedelta(0))
    assert holder_now(lake) == first.id


def test_of_two_takers_that_read_the_lease_free_only_the_first_to_write_holds_it(lake):
    first, second = Holder.this_process("ingest"), Holder.this_process("erase")
    for before_the_first_job in (True, False):
        seen = lease.current(lake)
        assert (seen.row is None) is before_the_first_job and seen.holder is None
        assert lease.write(lake, seen, first)
        lease.write(
            lake, seen, second
        )  # it read the lease before the first wrote it: its write does not land
        assert holder_now(lake) == first.id
        lease.write(lake, lease.current(lake), None)  # freed
    assert holder_now(lake) is None


def test_a_taker_whose_writes_do_not_land_pauses_between_them_and_stops_at_its_deadline(lake, monkeypatch):
    monkeypatch.setattr(lease, "POLL_SECONDS", 0.2)
    writes = []

    def write_that_never_lands(lake, seen, holder) -> bool:
        writes.append(time.monotonic())
        assert len(writes) < 50, "the taker writes again without a pause"
        return False

    monkeypatch.setattr(lease, "write", write_that_never_lands)
    with pytest.raises(
        ConflictError, match="written by no job, yet this job's writes of the lease did not land"
    ):
        lease.acquire(lake, Holder.this_process("score"), timedelta(seconds=1))
    assert len(writes) >= 2
    assert min(b - a for a, b in itertools.pairwise(writes)) >= lease.POLL_SECONDS


def test_the_lease_is_freed_when_the_job_ends_also_on_an_error(lake):
    with pytest.raises(RuntimeError), lease.held(lake, "score", timedelta(0)):
        assert holder_now(lake).startswith("score:")
        raise RuntimeError("the job failed")
    assert holder_now(lake) is None
    with lease.held(lake, "erase", timedelta(0)):
        assert holder_now(lake).startswith("erase:")


def test_a_waiting_job_takes_the_lease_once_the_holder_frees_it(lake, monkeypatch):
    monkeypatch.setattr(lease, "POLL_SECONDS", 0.2)
    holding = threading.Event()

    def score_for_a_while() -> None:
        with lease.held(lake, "score", timedelta(0)):
            holding.set()
            time.sleep(3)

    scoring = threading.Thread(target=score_for_a_while)
    scoring.start()
    holding.wait()
    with lease.held(lake, "erase", timedelta(minutes=1)):
        assert not scoring.is_alive()  # it had finished before erase got the lease
        assert holder_now(lake).startswith("erase:")
    scoring.join()


def test_the_lease_of_a_process_that_no_longer_runs_is_taken_at_once(lake):
    ended = subprocess.run(
        [sys.executable, "-c", "import os; print(os.getpid())"], capture_output=True, text=True
    )
    killed = dataclasses.replace(Holder.this_process("ingest"), pid=int(ended.stdout), token="killed")
    lease.acquire(lake, killed, timedelta(0))
    waiting = Holder.this_process("ingest")
    lease.acquire(lake, waiting, timedelta(0))
    assert holder_now(lake) == waiting.id


def test_a_lease_not_renewed_in_time_is_taken_and_a_renewed_one_is_not(lake, monkeypatch):
    # its process cannot be looked up from here
    elsewhere = dataclasses.replace(Holder.this_process("ingest"), host="another-host", pid=1)
    lease.acquire(lake, elsewhere, timedelta(0))
    monkeypatch.setattr(lease, "RENEW", timedelta(seconds=0.5))
    renewal = lease.Renewal(lake, elsewhere)
    before = lake.read("lease").first()["renewed_at"]
    renewal.start()
    time.sleep(2.5)
    renewal.stop()
    assert lake.read("lease").first()["renewed_at"] > before
    with pytest.raises(ConflictError):
        lease.acquire(lake, Holder.this_process("score"), timedelta(0))

    # then it goes silent for longer than EXPIRES (its machine was lost)
    lake.spark.sql(
        f"UPDATE delta.`{lake.path('lease')}` SET renewed_at = current_timestamp() - INTERVAL 6 MINUTES"
    )
    taker = Holder.this_process("score")
    lease.acquire(lake, taker, timedelta(0))
    assert holder_now(lake) == taker.id
