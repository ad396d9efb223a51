"""The ingest job: new landing files of every source → bronze, quarantine, silver, quality_checks.

Incremental and exactly once: `ingested_files` lists the landing files (path, size, modification time) that
runs have fully loaded, and a run reads only the others. It is written last, after every other table, and
every earlier write is idempotent for the same files (bronze replaces those files' rows; quarantine, silver,
identity and quality_checks MERGE on keys; which row of a key wins depends only on the rows). A run killed
part-way therefore re-reads the same files and ends exactly where an uninterrupted run would have; a run with
no new files commits nothing.

First every source's landing files are listed and the headers of the new ones checked: a missing source or a header
off its contract stops the run before it writes anything. Then per source: read the new files → type, check,
de-duplicate (within the batch and against silver), kept on local disk while the source is written (never in memory,
so a run's memory does not grow with its size) → bronze → stop the source with a `QualityError` if too many rows
were quarantined → insert the accepted rows into silver (a MERGE on the natural key that Delta prunes to the files
of the batch's landing files). The sources of one silver table (orders, the transactions files mapped into it, then
the refunds checked against it) load one after another; those of other tables at the same time (`PARALLEL_SOURCES`):
a source's work is a few small Spark jobs and commits, which run one after another leave the cores waiting on the
driver (10,000 customers on 2 cores, runs alternated: a first ingest 79 → 67 s, a next day's 56 → 44 s). A source
that stops stops the later sources of its table; the others load, and its error is raised once they are done. At the
end, one commit each, also when a source stopped: the quarantined rows of every source read, the quality rows, the
identity rows of the loaded sources, then `ingested_files`. (Each commit costs about a second of fixed work,
snapshot and log, whatever its size: a run makes as few as the tables it writes allow.)
"""

from __future__ import annotations

import dataclasses
import hashlib
import logging
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date
from typing import TypeVar

from py4j.protocol import Py4JJavaError
from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from clvlake import schemas
from clvlake.catalog import TABLES
from clvlake.config import Config
from clvlake.errors import ClvError, InputError, QualityError
from clvlake.frames import computed_once, local_frame, release, union_all
from clvlake.ingest.landing import (
    UNKNOWN_FIELDS,
    LandingFile,
    check_csv_headers,
    in_paths,
    list_landing,
    read_landing,
)
from clvlake.ingest.pseudonymise import ROW_KEY, customer_key
from clvlake.ingest.sources import FUTURE_TIMESTAMP, RETRYABLE_RULES, SOURCES, RuleContext, Source
from clvlake.ingest.transactions import (
    TransactionMapping,
    check_same_header,
    file_columns,
    load_mapping,
    read_transactions,
    transactions_source,
)
from clvlake.ingest.validation import (
    ACCEPTED,
    DUPLICATE,
    LATEST_RECORD_WINS,
    QUARANTINED,
    SEEN_FILE,
    checked_rows,
    newer_record,
    raw_record,
)
from clvlake.lake import Lake
from clvlake.parallel import each_at_once
from clvlake.privacy.subjects import SUPPRESSED, erased_hashes, masked_record, with_suppressed

log = logging.getLogger(__name__)
T = TypeVar("T")
OUT_OF_MEMORY = "java.lang.OutOfMemoryError"
PII_COLUMNS = ("email", "name")
TOP_RULES = 3
MAX_UNKNOWN_FIELDS = 20  # a file whose every line has other field names must not flood quality_checks
PARALLEL_SOURCES = 3  # silver tables loaded at once
# a source's new files up to this size (a day's, at a million customers a few MB) are checked against only the rows
# of silver that hold their keys (`checked_rows`' `small_batch`): about 16 bytes of key per 100 bytes of line, so
# at most ~10 MB of keys broadcast; a larger batch (an initial load) joins silver by a shuffle
SMALL_BATCH_BYTES = 64 * 2**20
Feed = tuple[Source, TransactionMapping | None]


@dataclass(frozen=True)
class SourceCounts:
    """One source in one run: rows read = accepted + quarantined + duplicate + suppressed (erased subjects)."""

    source: str
    files: int
    read: int
    accepted: int
    quarantined: int
    duplicate: int
    quarantined_by_rule: dict[str, int] = field(default_factory=dict)
    null_rates: dict[str, float] = field(default_factory=dict)  # of the accepted rows, per typed column
    suppressed: int = 0
    resolved: int = 0  # open quarantine rows of earlier runs that pass now (`RETRYABLE_RULES`), not in `read`
    # JSON sources: rows read per top-level field outside the contract (`count_unknown_fields`)
    unknown_fields: dict[str, int] = field(default_factory=dict)

    @property
    def quarantine_rate(self) -> float:
        return self.quarantined / self.read if self.read else 0.0


def silver_key(source: Source, salt: str) -> Column:
    """The row's key in its silver table: the trimmed natural key, or customer_key for customers."""
    if TABLES[source.table].keys == ("customer_key",):
        return customer_key(F.col("customer_id"), salt)
    return F.trim(F.col(source.key))


def silver_rows(checked: DataFrame, source: Source, run_id: str) -> DataFrame:
    """Accepted rows in the silver contract: typed columns, customer_key instead of customer_id, no PII (an
    accepted row has its required customer id, so its row key is never null)."""
    typed = [F.col(f"t_{name}").alias(name) for name in source.typed() if name not in PII_COLUMNS]
    return checked.where(F.col("status") == ACCEPTED).select(
        F.trim(F.col(source.key)).alias(source.key),
        F.col(ROW_KEY).alias("customer_key"),
        *typed,
        F.to_date(F.col(f"t_{source.event_ts}")).alias("event_date"),
        F.col("_source_file"),
        F.lit(run_id).alias("_run_id"),
    )


def record_id(source: Source) -> Column:
    """A landed row's id in quarantine, stable on rerun: a hash of its file, its raw record and the occurrence
    of that record in the file. Copies of one record in one file share their status (the rules read only the
    record, and a copy of a valid record is a duplicate, never quarantined), so numbering them among the
    quarantined rows gives the ids that numbering among every row read does."""
    record = raw_record(source)
    occurrence = F.row_number().over(Window.partitionBy("_source_file", record).orderBy(record))
    return F.sha2(F.concat_ws("|", "_source_file", record, occurrence.cast("string")), 256)


def quarantine_rows(checked: DataFrame, source: Source, run_id: str, as_of: date) -> DataFrame:
    """Rejected rows with their subject's key and PII masked, open (not resolved)."""
    record = raw_record(source)
    pii = tuple(c for c in PII_COLUMNS if c in source.raw_columns)
    return (
        checked.where(F.col("status") == QUARANTINED)  # first: `record_id`'s window then sorts only these
        .withColumn("record_id", record_id(source))
        .select(
            F.lit(source.name).alias("source"),
            "record_id",
            F.col("_source_file").alias("source_file"),
            (masked_record(source.raw_columns, pii) if pii else record).alias("raw_record"),
            "rule",
            "reason",
            F.lit(run_id).alias("run_id"),
            F.lit(as_of).alias("ingest_date"),
            F.col(ROW_KEY).alias("customer_key"),
            F.lit(None).cast("date").alias("resolved_date"),
            F.when(F.col("rule") == FUTURE_TIMESTAMP, F.to_date(f"t_{source.event_ts}")).alias("retry_from"),
        )
    )


def open_retryable_rows(lake: Lake) -> DataFrame:
    """The quarantine rows not resolved yet whose rule a row can pass later."""
    return lake.read("quarantine").where(
        F.col("rule").isin(*RETRYABLE_RULES) & F.col("resolved_date").isNull()
    )


def open_retryable(lake: Lake, as_of: date) -> dict[str, dict[str, set[str]]]:
    """Source → landing file → rules of its `open_retryable_rows` that may pass on a run of this date: a future
    timestamp from its event's date on (a row dated years ahead does not have its file read every day), an
    unknown order on any later run."""
    if not lake.exists("quarantine"):
        return {}
    # a table from before `resolved_date` and `retry_from` gains them: its rows are open, with no date, so
    # they may pass from the day after the run that quarantined them
    lake.ensure("quarantine")
    passes_from = F.coalesce(F.col("retry_from"), F.date_add(F.col("ingest_date"), 1))
    not_yet = (F.col("rule") == FUTURE_TIMESTAMP) & (passes_from > F.lit(as_of))
    rows = (
        open_retryable_rows(lake)
        .where(~not_yet)
        .select("source", "source_file", "rule")
        .distinct()
        .collect()  # a row per landing file and rule, not per quarantined row
    )
    files: dict[str, dict[str, set[str]]] = {}
    for row in rows:
        files.setdefault(row["source"], {}).setdefault(row["source_file"], set()).add(row["rule"])
    return files


def bronze_rows(checked: DataFrame, source: Source, as_of: date) -> DataFrame:
    """Every read row as it landed (the line for mapped transactions files, else the raw fields) with its
    subject's key; rows of erased subjects are not kept."""
    landed = (
        [F.lit(source.name).alias("source"), F.col(source.raw_line).alias("line")]
        if source.raw_line
        else [*source.raw_columns, schemas.CORRUPT_RECORD]
    )
    return checked.where(F.col("status") != SUPPRESSED).select(
        *landed,
        "_source_file",
        F.current_timestamp().alias("_ingested_at"),
        F.lit(as_of).alias("ingest_date"),
        F.col(ROW_KEY).alias("customer_key"),
    )


def files_predicate(column: str, files: list[LandingFile]) -> str:
    """`<column> IN (<the files' paths>)` as SQL."""
    return in_paths(column, [f.path for f in files])


def bronze_predicate(source: Source, files: list[LandingFile]) -> str:
    own = f"source = '{source.name}' AND " if source.raw_line else ""
    return own + files_predicate("_source_file", files)


def identity_ids(checked: DataFrame, source: Source) -> DataFrame:
    """customer_id of the accepted rows, once each (with e-mail and name for the CRM source, else nulls)."""
    accepted = checked.where(F.col("status") == ACCEPTED).withColumn("customer_id", F.trim("customer_id"))
    if source.name != "customers":
        accepted = accepted.withColumns({c: F.lit(None).cast("string") for c in PII_COLUMNS})
    return accepted.select("customer_id", *PII_COLUMNS).dropDuplicates(["customer_id"])


def identity_rows(ids: list[DataFrame], salt: str, known: DataFrame | None) -> DataFrame:
    """customer_key → customer_id (+ e-mail and name from the CRM, or as already known) for this run's ids.

    `ids` are `identity_ids` of each loaded source; the CRM's e-mail and name win over the other sources' nulls.
    """
    rows = (
        union_all(ids)
        .groupBy("customer_id")
        .agg(*[F.max(c).alias(c) for c in PII_COLUMNS])
        .withColumn("customer_key", customer_key(F.col("customer_id"), salt))
    )
    if known is None:
        return rows
    before = known.select("customer_key", *[F.col(c).alias(f"_known_{c}") for c in PII_COLUMNS])
    return rows.join(before, on="customer_key", how="left").withColumns(
        {c: F.coalesce(F.col(c), F.col(f"_known_{c}")) for c in PII_COLUMNS}
    )


def count_statuses(checked: DataFrame, source: Source, files: int) -> SourceCounts:
    """One pass over the (computed once) rows: rows per (status, rule) and nulls per typed column."""
    typed = [name for name in source.typed() if name not in PII_COLUMNS]
    nulls = [F.count_if(F.col(f"t_{n}").isNull()).alias(n) for n in typed]
    # one row per status and rule
    groups = checked.groupBy("status", "rule").agg(F.count(F.lit(1)).alias("rows"), *nulls).collect()
    total = {
        s: sum(g["rows"] for g in groups if g["status"] == s)
        for s in (ACCEPTED, QUARANTINED, DUPLICATE, SUPPRESSED)
    }
    accepted = next((g for g in groups if g["status"] == ACCEPTED), None)
    rules = sorted((g for g in groups if g["status"] == QUARANTINED), key=lambda g: (-g["rows"], g["rule"]))
    return SourceCounts(
        source.name,
        files,
        sum(total.values()),
        total[ACCEPTED],
        total[QUARANTINED],
        total[DUPLICATE],
        {g["rule"]: g["rows"] for g in rules},
        {n: round(accepted[n] / accepted["rows"], 4) for n in typed} if accepted else {},
        total[SUPPRESSED],
        unknown_fields=count_unknown_fields(checked),
    )


def count_unknown_fields(checked: DataFrame) -> dict[str, int]:
    """Rows read per top-level JSON field outside the source's contract (`UNKNOWN_FIELDS`), most frequent
    first, at most `MAX_UNKNOWN_FIELDS` of them; {} for the other formats."""
    if UNKNOWN_FIELDS not in checked.columns:
        return {}
    rows = (
        checked.select(F.explode(UNKNOWN_FIELDS).alias("field"))
        .groupBy("field")
        .count()
        .orderBy(F.desc("count"), "field")
        .limit(MAX_UNKNOWN_FIELDS)
        .collect()
    )
    return {r["field"]: r["count"] for r in rows}


def quality_row(counts: SourceCounts, files: list[LandingFile], run_id: str, as_of: date) -> tuple:
    """The quality_checks row of one source's batch (its id: a hash of the batch's file paths)."""
    batch_id = hashlib.sha256("\n".join(f.path for f in files).encode()).hexdigest()[:32]
    return (
        as_of,
        run_id,
        counts.source,
        batch_id,
        counts.files,
        counts.read,
        counts.accepted,
        counts.quarantined,
        counts.duplicate,
        counts.quarantine_rate,
        counts.quarantined_by_rule,
        counts.null_rates,
        counts.suppressed,
        counts.unknown_fields,
    )


def check_quarantine_rate(counts: SourceCounts, max_rate: float) -> None:
    if counts.quarantine_rate > max_rate:
        top = ", ".join(f"{rule} ({n})" for rule, n in list(counts.quarantined_by_rule.items())[:TOP_RULES])
        raise QualityError(
            f"source '{counts.source}': {counts.quarantined} of {counts.read} rows quarantined "
            f"({counts.quarantine_rate:.1%}, above ingest.max_quarantine_rate {max_rate:.1%}); "
            f"top rules: {top}. See the quarantine table; nothing of this source was loaded into silver."
        )


def check_not_before_latest(lake: Lake, as_of: date) -> None:
    """An ingest may not run as of a date before the latest one: rules judge timestamps against the run date, so
    today's events would be quarantined as `future_timestamp`, and their files marked as read."""
    if not lake.exists("quality_checks"):
        return
    latest = lake.read("quality_checks").agg(F.max("run_date")).first()[0]
    if latest is not None and as_of < latest:
        raise InputError(
            f"ingest --as-of {as_of} is before the latest ingest, as of {latest}: events after {as_of} would be "
            f"quarantined as future_timestamp for good. Run it with --as-of {latest} or later (a backfill of "
            "the derived tables for past dates is `clv pipeline --from … --to …`, which does not ingest)"
        )


def feeds(cfg: Config) -> list[Feed]:
    """Every source in load order (orders, then mapped transactions files, then the rest) with its mapping."""
    mapped = [load_mapping(path) for path in cfg.ingest.transaction_sources]
    order = [(SOURCES["orders"], None), *((transactions_source(m), m) for m in mapped)]
    return order + [(s, None) for name, s in SOURCES.items() if name != "orders"]


def feeds_by_table(all_feeds: list[Feed]) -> list[list[Feed]]:
    """The feeds grouped by the silver table they write or are checked against (refunds: orders), in load order:
    the feeds of a group must load one after another."""
    groups: dict[str, list[Feed]] = {}
    for source, mapping in all_feeds:
        table = source.reference.table if source.reference is not None else source.table
        groups.setdefault(table, []).append((source, mapping))
    return list(groups.values())


def files_count(files: list[LandingFile], kind: str = "") -> str:
    """`1 new file`, `36 new files` for a progress line."""
    return f"{len(files)} {kind}file{'' if len(files) == 1 else 's'}"


def readable_size(files: list[LandingFile]) -> str:
    """The files' total size for a progress line: 604 KB, 2.93 GB."""
    size, unit = float(sum(f.size for f in files)), "bytes"
    for larger in ("KB", "MB", "GB", "TB"):
        if size < 1000:
            break
        size, unit = size / 1000, larger
    return f"{size:.3g} {unit}"


class _Ingest:
    """The state of one run: its lake, context, the quality rows and the identity ids of the loaded sources."""

    def __init__(self, spark: SparkSession, cfg: Config, as_of: date):
        self.spark, self.cfg, self.as_of = spark, cfg, as_of
        self.lake = Lake.open(spark, cfg.lake)
        ingest_cfg = cfg.ingest
        self.ctx = RuleContext(
            as_of,
            ingest_cfg.business_start,
            ingest_cfg.reporting_currency,
            cfg.privacy.salt,
            ingest_cfg.max_id_length,
        )
        self.run_id = f"ingest-{as_of.isoformat()}"
        self.quality: list[tuple] = []
        self.ids: list[DataFrame] = []  # identity_ids of each loaded source, on local disk until `finish`
        # quarantine_rows of each source read and the files they come from, on local disk until `finish`
        self.quarantined: list[tuple[DataFrame, list[LandingFile]]] = []
        self.loaded: list[tuple[Source, list[LandingFile]]] = []  # sources whose silver rows are written
        self.versions: dict[str, int] = {}
        done = self.lake.read("ingested_files").collect() if self.lake.exists("ingested_files") else []
        # (source, path, size, modification time) of the files earlier runs read: one per file
        self.done = {(r["source"], r["path"], r["size"], r["modification_time"]) for r in done}
        self.retryable = open_retryable(self.lake, as_of)

    def new_files(self, source: Source, listed: list[LandingFile]) -> list[LandingFile]:
        return [f for f in listed if (source.name, f.path, f.size, f.modification_time) not in self.done]

    def files_to_retry(
        self, source: Source, listed: list[LandingFile], new: list[LandingFile]
    ) -> list[LandingFile]:
        """Files read by earlier runs whose open quarantine rows may pass now: a timestamp quarantined by an
        earlier run date, or an unknown order once this run has written orders (a re-delivered file is read
        as new instead)."""
        referenced_loaded = source.reference is not None and source.reference.table in self.versions
        retry = {
            path
            for path, rules in self.retryable.get(source.name, {}).items()
            if FUTURE_TIMESTAMP in rules or referenced_loaded
        }
        return [f for f in listed if f.path in retry and f not in new]

    def listed_and_checked(self, all_feeds: list[Feed]) -> dict[str, list[LandingFile]]:
        """Every feed's landing files by source name, the headers of its new files checked against its contract
        (or, mapped, against each other and the mapping): an `InputError` before the run writes anything."""
        listed = {}
        for source, mapping in all_feeds:
            # with transactions files mapped into orders, the six sources are optional (a transactions-only lake)
            required = mapping is not None or not self.cfg.ingest.transaction_sources
            listed[source.name] = list_landing(self.spark, self.cfg.lake.landing, source, required)
            paths = [f.path for f in self.new_files(source, listed[source.name])]
            if paths and mapping is not None:
                file_columns(self.spark, mapping, paths[0])
                check_same_header(self.spark, mapping, paths)
            elif paths and source.file_format == "csv":
                check_csv_headers(self.spark, paths, source)
        return listed

    def read(self, source: Source, mapping: TransactionMapping | None, files: list[LandingFile]) -> DataFrame:
        paths = [f.path for f in files]
        if mapping is not None:
            return read_transactions(self.spark, mapping, paths, self.cfg.ingest.reporting_currency)
        return read_landing(self.spark, paths, source)

    def checked_rows(
        self, source: Source, mapping: TransactionMapping | None, files: list[LandingFile]
    ) -> DataFrame:
        """The checked rows of `files`; silver is narrowed to the batch's keys when the files are a
        `SMALL_BATCH_BYTES` batch (a day's)."""
        raw = self.read(source, mapping, files)
        table = source.table
        seen = None
        if self.lake.exists(table):
            key = TABLES[table].keys[0]
            seen = self.lake.read(table).select(key, F.col("_source_file").alias(SEEN_FILE))
        referenced = None
        if source.reference is not None:
            self.lake.ensure(source.reference.table)
            referenced = self.lake.read(source.reference.table)
        small = sum(f.size for f in files) <= SMALL_BATCH_BYTES
        checked = checked_rows(
            raw, source, self.ctx, silver_key(source, self.cfg.privacy.salt), seen, referenced, small
        )
        return with_suppressed(checked, erased_hashes(self.lake))

    def load(
        self, source: Source, mapping: TransactionMapping | None, listed: list[LandingFile]
    ) -> SourceCounts:
        """The source's new files among its `listed` ones, then the open quarantine rows of its earlier files that
        may pass now."""
        files = self.new_files(source, listed)
        retry = self.files_to_retry(source, listed, files)
        counts = SourceCounts(source.name, 0, 0, 0, 0, 0)
        if files:
            log.info(
                "ingest %s: checking %s (%s)", source.name, files_count(files, "new "), readable_size(files)
            )
            counts = self.out_of_memory_as_error(source, files, lambda: self.load_new(source, mapping, files))
        else:
            log.info("ingest %s: no new landing files", source.name)
        if retry:
            resolved = self.out_of_memory_as_error(source, retry, lambda: self.retry(source, mapping, retry))
            counts = dataclasses.replace(counts, resolved=resolved)
        return counts

    def load_all(self, all_feeds: list[Feed]) -> list[SourceCounts]:
        """`load` every feed once all are `listed_and_checked`, the groups of `feeds_by_table` `PARALLEL_SOURCES`
        at a time; a failing feed stops the later feeds of its group. Returns the counts in feed order, or raises
        the first error in feed order once every group is done."""
        listed = self.listed_and_checked(all_feeds)
        counts: dict[str, SourceCounts] = {}
        errors: dict[str, Exception] = {}

        def load_group(group: list[Feed]) -> None:
            for source, mapping in group:
                try:
                    counts[source.name] = self.load(source, mapping, listed[source.name])
                except Exception as err:  # raised below, once the other groups are done
                    errors[source.name] = err
                    return

        each_at_once(load_group, feeds_by_table(all_feeds), PARALLEL_SOURCES, "ingest")
        failed = [errors[source.name] for source, _ in all_feeds if source.name in errors]
        if failed:
            raise failed[0]
        return [counts[source.name] for source, _ in all_feeds]

    def load_new(
        self, source: Source, mapping: TransactionMapping | None, files: list[LandingFile]
    ) -> SourceCounts:
        # on local disk, not in memory: computed once, read by each write below, dropped when the source is done
        checked = computed_once(self.checked_rows(source, mapping, files))
        try:
            return self.write(source, files, checked)
        finally:
            release(checked)

    def out_of_memory_as_error(self, source: Source, files: list[LandingFile], step: Callable[[], T]) -> T:
        """Run one step of a source; the JVM running out of memory is a `ClvError` naming the setting to raise."""
        try:
            return step()
        except Py4JJavaError as err:
            if OUT_OF_MEMORY not in str(err):
                raise
            raise ClvError(
                f"ingest ran out of memory loading source '{source.name}' ({len(files)} files): raise "
                f"spark.driver_memory (now {self.cfg.spark.driver_memory}) in the config, or the executors' "
                "memory on a cluster; nothing of this source was marked as read, so a rerun loads it again"
            ) from None

    def retry(self, source: Source, mapping: TransactionMapping | None, files: list[LandingFile]) -> int:
        """Re-check the open quarantine rows of retryable rules that `files` hold: rows that pass now go to
        silver (a duplicate: silver has the key already) and their quarantine rows are marked resolved, kept
        for audit. Idempotent: a rerun finds them resolved, or loads the same rows again. Returns how many."""
        open_rows = open_retryable_rows(self.lake).where(
            (F.col("source") == source.name) & F.expr(files_predicate("source_file", files))
        )
        checked = computed_once(
            self.checked_rows(source, mapping, files)
            .withColumn("record_id", record_id(source))
            .join(open_rows.select("record_id"), "record_id", "left_semi")
        )
        try:
            passed = checked.where(F.col("status").isin(ACCEPTED, DUPLICATE)).select("record_id")
            resolved = passed.count()
            if resolved:
                self.write_silver(source, files, checked)
                self.versions["quarantine"] = self.lake.merge_new(
                    open_rows.join(passed, "record_id", "left_semi").withColumn(
                        "resolved_date", F.lit(self.as_of)
                    ),
                    "quarantine",
                    within=files_predicate("t.source_file", files),
                    update_when="t.resolved_date IS NULL",
                )
            log.info(
                "ingest %s: %d of the open quarantine rows of earlier runs pass now", source.name, resolved
            )
            return resolved
        finally:
            release(checked)

    def write(self, source: Source, files: list[LandingFile], checked: DataFrame) -> SourceCounts:
        """Bronze and the quality row of one source's checked rows, then (unless too many rows were quarantined)
        silver; keeps the source's quarantined rows and customer ids on disk for `finish`."""
        counts = count_statuses(checked, source, len(files))
        log.info(
            "ingest %s: %s, %d rows: %d accepted, %d quarantined%s, %d duplicates",
            source.name,
            files_count(files),
            counts.read,
            counts.accepted,
            counts.quarantined,
            f" ({', '.join(f'{rule} {n}' for rule, n in counts.quarantined_by_rule.items())})"
            if counts.quarantined
            else "",
            counts.duplicate,
        )
        if counts.unknown_fields:
            log.warning(
                "ingest %s: fields outside the contract are not loaded (rows holding each): %s; a renamed field "
                "shows here and as nulls of its contract name (quality_checks.unknown_fields, null_rates)",
                source.name,
                ", ".join(f"{name} ({rows})" for name, rows in counts.unknown_fields.items()),
            )
        self.quality.append(quality_row(counts, files, self.run_id, self.as_of))
        self.lake.replace_where(
            bronze_rows(checked, source, self.as_of),
            source.bronze_table,
            bronze_predicate(source, files),
        )
        if counts.quarantined:
            self.quarantined.append(
                (computed_once(quarantine_rows(checked, source, self.run_id, self.as_of)), files)
            )
        check_quarantine_rate(counts, self.cfg.ingest.max_quarantine_rate)
        self.write_silver(source, files, checked)
        self.loaded.append((source, files))
        return counts

    def write_silver(self, source: Source, files: list[LandingFile], checked: DataFrame) -> None:
        """Insert the accepted rows of `files` into silver (or update the rows of older records); keep their
        customer ids on disk for the identity table."""
        latest_wins = source.table in LATEST_RECORD_WINS  # a newer record updates a row of another file
        self.versions[source.table] = self.lake.merge_new(
            silver_rows(checked, source, self.run_id),
            source.table,
            within="" if latest_wins else files_predicate("t._source_file", files),
            update_when=newer_record(source.table) if latest_wins else "",
        )
        self.ids.append(computed_once(identity_ids(checked, source)))

    def finish(self) -> None:
        """The quarantine and quality rows of every source read (also when one stopped the run), each table in
        one commit; then identity rows of the loaded sources and, last, the bookkeeping that marks their files
        as read."""
        if self.quarantined:
            files = [f for _, source_files in self.quarantined for f in source_files]
            self.versions["quarantine"] = self.lake.merge_new(
                union_all([rows for rows, _ in self.quarantined]),
                "quarantine",
                within=files_predicate("t.source_file", files),
            )
        if self.quality:
            quality = local_frame(self.spark, self.quality, schemas.QUALITY_CHECKS)
            self.versions["quality_checks"] = self.lake.merge_new(
                quality, "quality_checks", within=f"t.run_date = '{self.as_of.isoformat()}'"
            )
        if not self.ids:
            return
        known = self.lake.read("customer_identity") if self.lake.exists("customer_identity") else None
        self.versions["customer_identity"] = self.lake.merge_new(
            identity_rows(self.ids, self.cfg.privacy.salt, known), "customer_identity", update_existing=True
        )
        done = [
            (s.name, f.path, f.size, f.modification_time, self.run_id)
            for s, files in self.loaded
            for f in files
        ]
        # files already in the log are never read again (`new_files`), so these rows are new: an append
        if done:
            self.lake.append(self.spark.createDataFrame(done, schemas.INGESTED_FILES), "ingested_files")


def run(spark: SparkSession, cfg: Config, as_of: date) -> dict[str, object]:
    """Load the new files of every source; returns per-source counts and the written table versions."""
    job = _Ingest(spark, cfg, as_of)
    check_not_before_latest(job.lake, as_of)
    try:
        try:
            counts = job.load_all(feeds(cfg))
        finally:
            job.finish()
    finally:
        for rows in (*job.ids, *(rows for rows, _ in job.quarantined)):
            release(rows)
    return {"sources": counts, "table_versions": job.versions}
