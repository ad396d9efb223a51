"""One writing job at a time per lake: the lake's lease, a row of the `lease` table taken with a MERGE.

Delta orders the commits of one table, not a job's writes to several: two `clv ingest` runs of the same new
files would both load them, and an erasure committing between a scoring job's read of the features and its
write of the scores would see its customer written back to gold. So every `clv` command that writes (and
`spark-submit jobs/*.py`, which runs the same code; `clv pipeline` once for all its steps) holds the lake's
lease while it runs. A second job waits for it, up to `lake.lease_wait_minutes`, then stops with a
`ConflictError` naming the holder.

Taking the lease is `Lake.swap_row`: a MERGE that makes this process the holder only where the row is free,
already this process's, not renewed for `EXPIRES` (its holder died), or held by a process of this host that no
longer runs (so the rerun of a killed job need not wait). The condition is judged on the row Delta commits
against, and Delta commits only one of two concurrent MERGEs of the row, so exactly one taker wins. The holder
renews the lease every `RENEW` from a background thread and frees it when the job ends, also on an error.
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
from clvlake.session import sibling_session

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


def sql_text(value: str) -> str:
    return "'" + value.replace("\\", "\\\\").replace("'", "\\'") + "'"


def lease_row(lake: Lake, holder: Holder | None) -> DataFrame:
    """The lease row offered to `Lake.swap_row`, literals only: held by `holder` (renewed now, by this machine's
    clock, the Spark driver's), or free (`holder` None)."""
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


def current(lake: Lake) -> Row | None:
    """The lease row, or None before the first job."""
    return lake.read(TABLE).first() if lake.exists(TABLE) else None


def free_for(holder: Holder, gone: str | None = None) -> str:
    """The condition on the lease row `t` under which `holder` may take it: free, its own, not renewed for
    `EXPIRES`, or held by the run `gone` (a process of this host that no longer runs: its id is unique, so it
    cannot come back)."""
    conditions = [
        "t.holder IS NULL",
        f"t.holder = {sql_text(holder.id)}",
        f"t.renewed_at < s.renewed_at - INTERVAL {int(EXPIRES.total_seconds())} SECONDS",
        *([f"t.holder = {sql_text(gone)}"] if gone else []),
    ]
    return " OR ".join(conditions)


def swap(lake: Lake, row: DataFrame, expected: str) -> bool:
    """`Lake.swap_row` of the lease; losing a race to another taker is no error, just no swap."""
    try:
        return lake.swap_row(row, TABLE, expected)
    except CONFLICTS:
        return False


def held_by(row: Row) -> str:
    return f"clv {row['job']} (process {row['pid']} on {row['host']}, since {row['acquired_at']:%Y-%m-%d %H:%M:%S})"


def takeable(row: Row | None, holder: Holder) -> str | None:
    """The condition under which to swap the lease to `holder` if it looks free for it, else None: free, its own,
    not renewed for `EXPIRES` (the holders' clocks are their machines', the Spark drivers'), or held by a process
    of this host that no longer runs. The swap's condition, judged on the row Delta commits against, decides."""
    if row is None or row["holder"] in (None, holder.id) or row["renewed_at"] < datetime.now() - EXPIRES:
        return free_for(holder)
    if process_gone(row["host"], row["pid"]):
        return free_for(holder, gone=row["holder"])
    return None


def acquire(lake: Lake, holder: Holder, wait: timedelta) -> None:
    """Take the lease, waiting while another job holds it (a read every `POLL_SECONDS`, a MERGE only when it
    looks free; a line naming the holder once a minute and whenever it changes); a `ConflictError` naming that
    job after `wait`."""
    deadline = time.monotonic() + wait.total_seconds()
    notice, noticed = 0.0, None
    other = current(lake)
    while True:
        condition = takeable(other, holder)
        if condition is not None:
            if swap(lake, lease_row(lake, holder), condition):
                return
            other = current(lake)  # another taker won: who?
            continue
        if time.monotonic() >= deadline:
            raise ConflictError(
                f"the lake at {lake.root} is being written by {held_by(other)}; waited "
                f"{wait.total_seconds() / 60:g} minutes (lake.lease_wait_minutes). Run this job again once that "
                f"one has finished; a job that died frees its lease after {EXPIRES.total_seconds() / 60:g} minutes"
            )
        if time.monotonic() >= notice or other["holder"] != noticed:  # once a minute, and at each new holder
            log.warning("waiting for the lake: it is being written by %s", held_by(other))
            notice, noticed = time.monotonic() + NOTICE_SECONDS, other["holder"]
        time.sleep(POLL_SECONDS)
        other = current(lake)


class Renewal(threading.Thread):
    """Renews this process's lease every `RENEW` until stopped."""

    def __init__(self, lake: Lake, holder: Holder):
        super().__init__(name="clvlake-lease", daemon=True)
        self.lake, self.holder = lake, holder
        self.stopped = threading.Event()

    def run(self) -> None:
        while not self.stopped.wait(RENEW.total_seconds()):
            row = lease_row(self.lake, self.holder)
            try:
                renewed = self.lake.swap_row(row, TABLE, f"t.holder = {sql_text(self.holder.id)}")
            except Exception as err:  # a failed renewal must not stop the job; the next one may pass
                log.warning("could not renew the lake's lease: %s", err)
                continue
            if not renewed:
                LEASED.discard(self.lake.root)  # its writes guard themselves again (`Lake.append_if_none`)
                log.error("the lake's lease was taken over: this job did not renew it for %s", EXPIRES)
                return

    def stop(self) -> None:
        self.stopped.set()
        self.join()


@contextlib.contextmanager
def held(lake: Lake, job: str, wait: timedelta) -> Iterator[None]:
    """Hold the lake's lease for the duration of a job (`acquire`, renewed, then freed).

    The lease is written through a session of its own (same Spark, own SQL settings: `sibling_session`): its
    MERGEs change a setting for their duration (`Lake.swap_row`), which must not reach the job's writes running
    meanwhile."""
    lake = Lake(sibling_session(lake.spark), lake.root, lake.namespace)
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
            swap(lake, lease_row(lake, None), f"t.holder = {sql_text(holder.id)}")
        except Exception as err:  # never in place of the job's own outcome or error
            log.warning(
                "could not free the lake's lease (another job takes it once this process has ended): %s", err
            )
