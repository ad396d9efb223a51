"""One writing job at a time per lake: the lake's lease, the one row of the `lease` table.

Delta orders the commits of one table, not a job's writes to several: two `clv ingest` runs of the same new
files would both load them, and an erasure committing between a scoring job's read of the features and its
write of the scores would see its customer written back to gold. So every `clv` command that writes (and
`spark-submit jobs/*.py`, which runs the same code; `clv pipeline` once for all its steps) holds the lake's
lease while it runs. A second job waits for it, up to `lake.lease_wait_minutes`, then stops with a
`ConflictError` naming the holder.

A job reads the row and takes the lease if it is free, already this process's, not renewed for `EXPIRES` (its
holder died), or held by a process of this host that no longer runs (so the rerun of a killed job need not
wait). It writes the row unless another taker wrote it since it was read (`Lake.overwrite_if_unchanged`, a
compare-and-set: of two takers that read the same row, at most one writes), then reads it back to see whether
it was the one. The holder renews the lease every `RENEW` from a background thread and frees it when the job
ends, also on an error.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import datetime, timedelta

from pyspark.sql import Column, DataFrame, Row
from pyspark.sql import functions as F

from clvlake.errors import ConflictError
from clvlake.lake import CONFLICTS, LEASED, Lake

log = logging.getLogger(__name__)
TABLE = "lease"
WRITER = "writer"  # the lake's one lease
RENEW = timedelta(seconds=30)
EXPIRES = timedelta(minutes=5)  # ten missed renewals: the holder is gone (killed, or its machine lost)
POLL_SECONDS = 5.0
NOTICE_SECONDS = 60.0  # a waiting job says so once a minute (and when another job takes the lease)


@dataclass(frozen=True)
class Holder:
    """A process holding, or asking for, the lease; `id` is unique to one job run."""

    job: str
    host: str
    pid: int
    token: str
    since: datetime  # when the job asked for the lease

    @property
    def id(self) -> str:
        return f"{self.job}:{self.host}:{self.pid}:{self.token}"

    @classmethod
    def this_process(cls, job: str) -> Holder:
        return cls(job, socket.gethostname(), os.getpid(), uuid.uuid4().hex[:12], datetime.now())


def process_gone(host: str | None, pid: int | None) -> bool:
    """Whether a process has surely ended: only one of this host can be looked up (elsewhere: no)."""
    if host != socket.gethostname() or pid is None:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return True
    except PermissionError:  # another user's process: it runs
        return False
    return False


def lease_row(lake: Lake, holder: Holder | None) -> DataFrame:
    """The lease row: held by `holder` (renewed now, by this machine's clock, the Spark driver's),
    or free (`holder` None)."""
    now = F.lit(datetime.now()).cast("timestamp")
    values: dict[str, Column] = {
        "lease": F.lit(WRITER),
        "holder": F.lit(holder.id if holder else None).cast("string"),
        "job": F.lit(holder.job if holder else None).cast("string"),
        "host": F.lit(holder.host if holder else None).cast("string"),
        "pid": F.lit(holder.pid if holder else None).cast("int"),
        "acquired_at": F.lit(holder.since if holder else None).cast("timestamp"),
        "renewed_at": now,
    }
    return lake.spark.range(1).select(*[column.alias(name) for name, column in values.items()])


@dataclass(frozen=True)
class Read:
    """The lease row as read (None before the first job) and the table version it was read at (-1: no table)."""

    row: Row | None
    version: int

    @property
    def holder(self) -> str | None:
        return self.row["holder"] if self.row is not None else None


def current(lake: Lake) -> Read:
    """The lease row and the version it was read at."""
    if not lake.exists(TABLE):
        return Read(None, -1)
    version = lake.version(TABLE)
    return Read(lake.load(TABLE, version).first(), version)


def write(lake: Lake, seen: Read, holder: Holder | None) -> bool:
    """Write the lease row as held by `holder` (or free) unless another write came after `seen`; False when
    another writer's commit was seen to come first (no error: the row has changed). A write Delta skipped
    returns True: the caller reads the row back."""
    try:
        lake.overwrite_if_unchanged(lease_row(lake, holder), TABLE, seen.version)
    except CONFLICTS:
        return False
    return True


def held_by(row: Row) -> str:
    return f"clv {row['job']} (process {row['pid']} on {row['host']}, since {row['acquired_at']:%Y-%m-%d %H:%M:%S})"


def takeable(seen: Read, holder: Holder) -> bool:
    """Whether the lease, as read, is free for `holder`: free, its own, not renewed for `EXPIRES` (the holders'
    clocks are their machines', the Spark drivers'), or held by a process of this host that no longer runs."""
    row = seen.row
    return (
        seen.holder in (None, holder.id)
        or row["renewed_at"] < datetime.now() - EXPIRES
        or process_gone(row["host"], row["pid"])
    )


def acquire(lake: Lake, holder: Holder, wait: timedelta) -> None:
    """Take the lease, waiting while another job holds it (a read every `POLL_SECONDS`, a write only when it
    looks free; a line naming the holder once a minute and whenever it changes); a `ConflictError` naming that
    job after `wait`."""
    deadline = time.monotonic() + wait.total_seconds()
    notice, noticed = 0.0, None
    seen = current(lake)
    while True:
        if takeable(seen, holder):
            written = write(lake, seen, holder)
            seen = current(lake)  # written, or another taker came first: who holds it now?
            if written and seen.holder == holder.id:
                return
        # another job holds it, or (not expected) this job's write did not land: a pause, not a spin
        blocker = (
            held_by(seen.row) if seen.holder else "no job, yet this job's writes of the lease did not land"
        )
        if time.monotonic() >= deadline:
            raise ConflictError(
                f"the lake at {lake.root} is being written by {blocker}; waited "
                f"{wait.total_seconds() / 60:g} minutes (lake.lease_wait_minutes). Run this job again once that "
                f"one has finished; a job that died frees its lease after {EXPIRES.total_seconds() / 60:g} minutes"
            )
        if time.monotonic() >= notice or seen.holder != noticed:  # once a minute, and at each new holder
            log.warning("waiting for the lake: it is being written by %s", blocker)
            notice, noticed = time.monotonic() + NOTICE_SECONDS, seen.holder
        time.sleep(POLL_SECONDS)
        seen = current(lake)


class Renewal(threading.Thread):
    """Renews this process's lease every `RENEW` until stopped."""

    def __init__(self, lake: Lake, holder: Holder):
        super().__init__(name="clvlake-lease", daemon=True)
        self.lake, self.holder = lake, holder
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(RENEW.total_seconds()):
            try:
                seen = current(self.lake)
                if seen.holder == self.holder.id:
                    # if another write came first, the next renewal's read shows whose
                    write(self.lake, seen, self.holder)
                    continue
            except Exception as err:  # a failed renewal must not stop the job; the next one may pass
                log.warning("could not renew the lake's lease: %s", err)
                continue
            LEASED.discard(self.lake.root)  # its writes guard themselves again (`Lake.append_if_none`)
            log.error("the lake's lease was taken over: this job did not renew it for %s", EXPIRES)
            return

    def stop(self) -> None:
        self.stopped.set()
        self.join()


@contextlib.contextmanager
def held(lake: Lake, job: str, wait: timedelta) -> Iterator[None]:
    """Hold the lake's lease for the duration of a job (`acquire`, renewed, then freed)."""
    holder = Holder.this_process(job)
    acquire(lake, holder, wait)
    LEASED.add(lake.root)
    log.debug("%s: holds the lake's lease", job)
    renewal = Renewal(lake, holder)
    renewal.start()
    try:
        yield
    finally:
        renewal.stop()
        LEASED.discard(lake.root)
        try:
            seen = current(lake)
            if seen.holder == holder.id:
                write(lake, seen, None)
        except Exception as err:  # never in place of the job's own outcome or error
            log.warning(
                "could not free the lake's lease (another job takes it once this process has ended): %s", err
            )
