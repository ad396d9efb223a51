"""`clv erase`: remove data subjects from every bronze, silver, gold, ops and restricted table, in two phases.

Phase 1 (`clv erase --customer-id …`) deletes the subjects' rows from the current version of every table at once.
Rows are matched by key, never by text: `customer_key` (every table that can hold a subject: bronze and quarantine
store the key of each landed row next to its raw text) and the clear `customer_id` where a table holds it (bronze,
identity). A landed row whose customer id could not be parsed has a null key and cannot be found: it is not erased.
First of all, the landing files the subjects' rows came from are rewritten without them (`privacy/landing.py`).
Rows go with a MERGE … DELETE whose condition joins to the subjects, so no identifier is written into the Delta
log; a table with deletion vectors has them purged (REORG … APPLY (PURGE)). The identity table goes last, so an
interrupted erasure can be rerun. Campaign export folders that held a subject are rewritten from the erased scores.
An `erasure_audit` row (`deleted`) records when, which tables, how many rows, a hash of each subject's customer_key
(never the id) and when the purge is due: the deletion + `privacy.vacuum_retention_hours`.

Phase 2 (`complete_purges`: the daily `clv pipeline` and `clv erase --complete`) VACUUMs each touched table of every
request whose purge is due, with that same retention, so the files the deletion dropped, and with them every older
version that held the subject, are gone. So are the log entries of those versions, whose file statistics hold
the smallest and largest customer_key of each file: Delta drops expired entries up to a checkpoint, so phase 1
writes one after its deletion, and phase 2 sets the table's log retention a day below the file retention and
writes another. A `purged` audit row records it. Before then, time travel still returns
the subject: VACUUM only deletes files dropped longer ago than the retention. `clv erase --status` lists pending
purges; `clv monitor` alerts on one overdue by more than a day.
"""

from __future__ import annotations

import hashlib
import logging
import time
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clvlake import schemas
from clvlake.catalog import TABLES
from clvlake.config import Config
from clvlake.errors import InputError
from clvlake.frames import local_frame
from clvlake.ingest.pseudonymise import customer_key
from clvlake.lake import Lake
from clvlake.monitoring.checks import Check, at_most
from clvlake.parallel import each_at_once
from clvlake.privacy.landing import erase_from_landing
from clvlake.reporting.export import rewrite_exports_holding

log = logging.getLogger(__name__)
STARTED, DELETED, PURGED = "started", "deleted", "purged"
# a run killed after its start record: its deletions happened soon after it started; its purge waits this much
# longer than the retention so that it comes after them
KILLED_RUN_MARGIN = timedelta(hours=24)
LANDING = "landing"  # the audit's count of landing lines removed, beside the tables' rows
OVERDUE_AFTER = timedelta(days=1)  # past its due time, a purge the daily run has not done is overdue
# Delta expires log entries older than the log retention counted back from midnight, so the log is kept a day
# less than the files: every entry from before the erasure is expired when the purge is due
LOG_DAY_ROUNDING_HOURS = 24
# tables erased, vacuumed (and landing files rewritten) at once: each is a few small Spark jobs and a commit, which
# one after another leave the cores waiting on the driver (a 400-customer pipeline's lake on 2 cores, two runs
# each, alternated: erasing one customer 75, 69 → 59, 45 s, the purge of its request 41, 42 → 24, 28 s)
PARALLEL_TABLES = 3
# the tables this process could not checkpoint (no Delta log reachable: Spark Connect), said once
UNCHECKPOINTED: set[str] = set()


def match_condition(columns: list[str]) -> str | None:
    """How a table's row `t` matches a subject `s` (by key only); None when the table holds no customer."""
    parts = []
    if "customer_key" in columns:
        parts.append("t.customer_key = s.customer_key")
    if "customer_id" in columns:
        parts.append("trim(t.customer_id) = s.customer_id")
    return " OR ".join(parts) or None


def erasable_tables() -> list[str]:
    """Every table that can hold a subject, the restricted identity table last."""
    names = [n for n, spec in TABLES.items() if match_condition(spec.schema.fieldNames())]
    return sorted(names, key=lambda n: TABLES[n].layer == "restricted")


def read_ids_file(path: str) -> list[str]:
    """One customer id per line; blank lines are skipped."""
    try:
        with open(path, encoding="utf-8") as handle:
            return [line.strip() for line in handle if line.strip()]
    except OSError as err:
        raise InputError(f"cannot read --ids-file {path}: {err.strerror}") from None


def checkpoint(lake: Lake, table: str) -> None:
    """Checkpoint the table, so its expired log entries go now; where no Delta log is reachable (Spark Connect)
    they go at the table's next checkpoint, which is said once per process."""
    if lake.checkpoint(table):
        return
    if UNCHECKPOINTED:
        log.debug("erase: %s: no checkpoint written", table)
    else:
        log.warning(
            "erase: no Delta log reachable for a checkpoint (Spark Connect?): old log entries go at each "
            "table's next checkpoint (Delta writes one every 10 commits)"
        )
    UNCHECKPOINTED.add(table)


def ids_never_accepted(lake: Lake, subjects: DataFrame) -> int:
    """How many subjects no accepted row ever had: their key is not in customer_identity (a mistyped id, or one
    written otherwise than in the source)."""
    if not lake.exists("customer_identity"):
        return subjects.count()
    known = lake.read("customer_identity").select("customer_key")
    return subjects.join(known, "customer_key", "left_anti").count()


def append_audit(lake: Lake, **fields: object) -> int:
    """Append one `erasure_audit` row given by column name (a column not given is null); returns the version."""
    names = schemas.ERASURE_AUDIT.fieldNames()
    unknown = set(fields) - set(names)
    if unknown:
        raise ValueError(f"erasure_audit has no column {sorted(unknown)}")
    row = tuple(fields.get(name) for name in names)
    return lake.append(lake.spark.createDataFrame([row], schemas.ERASURE_AUDIT), "erasure_audit")


def request_id(erased_at: datetime, hashes: list[str]) -> str:
    return hashlib.sha256("|".join([erased_at.isoformat(), *hashes]).encode()).hexdigest()[:32]


def erase_from_table(lake: Lake, subjects: DataFrame, table: str) -> int:
    """Delete the subjects' rows from one table; returns how many."""
    lake.ensure(table)  # a table written before it had key columns gains them (its old rows: null)
    removed = lake.delete_matching(table, subjects, match_condition(TABLES[table].schema.fieldNames()))
    if removed:  # the log entries before it, whose statistics may hold a key, can expire
        checkpoint(lake, table)
    log.info("erase: %s: %d rows removed", table, removed)
    return removed


def erase_from_tables(lake: Lake, subjects: DataFrame, tables: list[str]) -> dict[str, int]:
    """`erase_from_table` for each table, `PARALLEL_TABLES` at a time, the restricted identity table after all
    the others; rows removed per table."""
    restricted = [t for t in tables if TABLES[t].layer == "restricted"]
    removed = {}
    for group in ([t for t in tables if t not in restricted], restricted):
        erased = each_at_once(
            lambda table: erase_from_table(lake, subjects, table), group, PARALLEL_TABLES, "erase"
        )
        removed.update(zip(group, erased, strict=True))
    return removed


def erase(
    spark: SparkSession, cfg: Config, customer_ids: list[str], erased_at: datetime
) -> dict[str, object]:
    """Phase 1: delete the subjects from every current table; returns rows removed per table and the purge's
    due time (the audit row holds the same)."""
    started = time.monotonic()
    ids = sorted({i.strip() for i in customer_ids if i.strip()})
    if not ids:
        raise InputError("no customer id to erase: give --customer-id or a non-empty --ids-file")
    lake = Lake.open(spark, cfg.lake)
    subjects = (
        local_frame(spark, [(i,) for i in ids], schemas.ERASURE_SUBJECTS)
        .withColumn("customer_key", customer_key(F.col("customer_id"), cfg.privacy.salt))
        .cache()
    )
    unknown = ids_never_accepted(lake, subjects)
    if unknown:
        log.warning(
            "erase: %d of the %d customer ids given are in no accepted row (customer_identity); their rows in "
            "bronze, quarantine and landing files, if any, are erased. Ids match exactly as the source writes "
            "them, trimmed: '00002' is not '2'",
            unknown,
            len(ids),
        )
    hashes = sorted(r[0] for r in subjects.select(F.sha2("customer_key", 256)).collect())  # one per id given
    request = request_id(erased_at, hashes)
    retention = float(cfg.privacy.vacuum_retention_hours)
    tables = [t for t in erasable_tables() if lake.exists(t)]

    def record(action: str, touched: list[str], removed: dict[str, int], due: datetime) -> int:
        return append_audit(
            lake,
            run_date=erased_at.date(),
            erased_at=erased_at,
            subjects=len(ids),
            subject_hashes=hashes,
            tables_touched=touched,
            rows_removed=removed,
            vacuum_retention_hours=retention,
            request_id=request,
            action=action,
            purge_due_at=due,
        )

    # on record before anything is deleted: a run killed part-way leaves every table it may have deleted from
    # to the purge (its rerun removes nothing there, so its own record would not name them)
    record(STARTED, tables, {}, erased_at + timedelta(hours=retention) + KILLED_RUN_MARGIN)
    # first: bronze names the landing files that hold the subjects until the deletion below
    landing = erase_from_landing(spark, lake, cfg, subjects, run_id=f"erase-{erased_at:%Y-%m-%dT%H:%M:%S}")
    removed = erase_from_tables(lake, subjects, tables)
    touched = sorted(t for t, n in removed.items() if n)
    removed[LANDING] = sum(landing.values())  # lines of landing files, in the audit beside the tables' rows
    exports = rewrite_exports_holding(lake, cfg, subjects)
    subjects.unpersist()
    # the files were dropped during the run: due a retention after its end
    due = erased_at + timedelta(seconds=time.monotonic() - started, hours=retention)
    version = record(DELETED, touched, removed, due)
    return {
        "subjects": len(ids),
        "subjects_never_accepted": unknown,
        "request_id": request,
        "rows_removed": removed,
        "tables_touched": touched,
        "landing_files_rewritten": sorted(landing),
        "exports_rewritten": [d.isoformat() for d in exports],
        "purge_due_at": due.isoformat(),
        "audit_version": version,
    }


@dataclass(frozen=True)
class PendingPurge:
    """A request whose deleted rows may still be in older versions of `tables` until they are vacuumed."""

    request_id: str
    erased_at: datetime
    purge_due_at: datetime
    subjects: int
    subject_hashes: list[str]
    tables: list[str]


def pending_frame(audit: DataFrame) -> DataFrame:
    """One row per request with touched tables not yet purged: request_id, erased_at, purge_due_at, subjects,
    subject_hashes, tables (sorted). A request whose run was killed after its start record has every table that
    run may have deleted from. Rows from before request ids get one from their erasure time."""
    audit = audit.withColumns(
        {
            "action": F.coalesce(F.col("action"), F.lit(DELETED)),
            "request_id": F.coalesce(
                F.col("request_id"), F.substring(F.sha2(F.col("erased_at").cast("string"), 256), 1, 32)
            ),
        }
    )
    retention_due = F.timestamp_seconds(
        F.unix_timestamp("erased_at") + F.col("vacuum_retention_hours") * 3600
    )
    finished = audit.where(F.col("action") == DELETED)
    killed = audit.where(F.col("action") == STARTED).join(
        finished.select("request_id"), "request_id", "left_anti"
    )
    deleted = finished.unionByName(killed).select(
        "request_id",
        "erased_at",
        F.coalesce(F.col("purge_due_at"), retention_due).alias("purge_due_at"),
        "subjects",
        "subject_hashes",
        F.explode("tables_touched").alias("table"),
    )
    purged = audit.where(F.col("action") == PURGED).select(
        "request_id", F.explode("tables_touched").alias("table")
    )
    return (
        deleted.join(purged, on=["request_id", "table"], how="left_anti")
        .groupBy("request_id", "erased_at", "purge_due_at", "subjects", "subject_hashes")
        .agg(F.sort_array(F.collect_list("table")).alias("tables"))
        .orderBy("purge_due_at", "request_id")
    )


def pending_purges(lake: Lake) -> list[PendingPurge]:
    """Every request not fully purged, the earliest due first (one per erasure request: a handful)."""
    if not lake.exists("erasure_audit"):
        return []
    rows = pending_frame(lake.read("erasure_audit")).collect()
    return [
        PendingPurge(**{k: (utc(v) if isinstance(v, datetime) else v) for k, v in r.asDict().items()})
        for r in rows
    ]


def utc(value: datetime) -> datetime:
    """A timestamp Spark returned (naive, in the session time zone, UTC in clvlake) as an aware UTC one."""
    return value.replace(tzinfo=timezone.utc) if value.tzinfo is None else value.astimezone(timezone.utc)


def purge_table(lake: Lake, table: str, retention: float) -> None:
    """VACUUM the table with the retention, keep its log a day less and checkpoint it (its expired entries go)."""
    if lake.exists(table):
        lake.vacuum(table, retention)
        lake.keep_log(table, retention - LOG_DAY_ROUNDING_HOURS)
        checkpoint(lake, table)


def complete_purges(spark: SparkSession, cfg: Config, now: datetime) -> dict[str, object]:
    """Phase 2: VACUUM the touched tables of every request whose purge is due at `now` and record it; a cheap
    no-op (one read of the small audit table) when none is due."""
    lake = Lake.open(spark, cfg.lake)
    pending = pending_purges(lake)
    due = [p for p in pending if p.purge_due_at <= now]
    retention = float(cfg.privacy.vacuum_retention_hours)
    for purge in due:
        each_at_once(
            lambda table: purge_table(lake, table, retention), purge.tables, PARALLEL_TABLES, "purge"
        )
        append_audit(
            lake,
            run_date=now.date(),
            erased_at=purge.erased_at,
            subjects=purge.subjects,
            subject_hashes=purge.subject_hashes,
            tables_touched=purge.tables,
            rows_removed={},
            vacuum_retention_hours=retention,
            request_id=purge.request_id,
            action=PURGED,
            purge_due_at=purge.purge_due_at,
            purged_at=now,
        )
        log.info("erase: request %s purged (%s)", purge.request_id, ", ".join(purge.tables))
    return {
        "purged": [p.request_id for p in due],
        "tables_vacuumed": sorted({t for p in due for t in p.tables}),
        "pending": len(pending) - len(due),
    }


def status_line(purge: PendingPurge, now: datetime) -> str:
    """One readable line per pending purge."""
    when = purge.purge_due_at.strftime("%Y-%m-%d %H:%M UTC")
    state = "due now" if purge.purge_due_at <= now else f"due {when}"
    if purge.purge_due_at + OVERDUE_AFTER < now:
        state = f"OVERDUE since {when}"
    return (
        f"request {purge.request_id}: {purge.subjects} subject(s) erased "
        f"{purge.erased_at:%Y-%m-%d %H:%M} UTC; old versions of {len(purge.tables)} table(s) "
        f"({', '.join(purge.tables)}) purge {state}"
    )


def overdue_purge_check(lake: Lake, as_of: date) -> Check:
    """Monitoring: purges still pending more than a day after they were due (the daily run should have done
    them), counted at the start of the run date."""
    start = datetime.combine(as_of, datetime.min.time(), tzinfo=timezone.utc)
    overdue = [p for p in pending_purges(lake) if p.purge_due_at + OVERDUE_AFTER < start]
    detail = "erasure purges overdue (run `clv erase --complete`): " + (
        ", ".join(p.request_id for p in overdue) or "none"
    )
    return at_most("privacy", "erasure_purge_overdue", len(overdue), 0, detail)
