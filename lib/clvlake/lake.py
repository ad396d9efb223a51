"""Table locations and names, and the only Delta reads and writes in the library.

In path mode a table is addressed by its folder under the lake's root. In catalog mode (`lake.schema` set) it is
also a table of the session's catalog, `catalog.schema.table` (Unity Catalog on Databricks, Spark's own catalog
locally), created with its folder under the root as its location; every read and write then goes by that name.

Every write is idempotent: a job replaces exactly its own partition (`replaceWhere` on a literal partition
value, so writes to other dates never conflict), replaces the rows of its landing files, or MERGEs on the
table's natural key. A table in an older layout than the catalogue's is rewritten in the catalogue's layout
before the first write to it (`upgrade_layout`).

Delta's operations beyond reads and writes (create, MERGE, VACUUM, history) are SQL on the table's name or
path, which a classic session and a Spark Connect client run alike (Delta's Python `DeltaTable` API needs Delta's
own Connect plugin on the server).
"""

from __future__ import annotations

import contextlib
import functools
import hashlib
import inspect
import logging
import textwrap
import threading
import time
import uuid
from collections.abc import Callable, Iterator
from datetime import date
from typing import TypeVar

# importing `captured` makes PySpark raise its classes for Delta's JVM conflict exceptions
from delta.exceptions import captured as delta_errors
from py4j.java_gateway import JavaObject
from py4j.protocol import Py4JError
from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame, Row, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from clvlake.catalog import TABLES, TableSpec, table_properties
from clvlake.config import LakeSettings
from clvlake.config.validation import local_form
from clvlake.errors import ConflictError, InputError
from clvlake.parallel import each_at_once
from clvlake.session import java_class, over_connect

log = logging.getLogger(__name__)
LOG_RETENTION = "delta.logRetentionDuration"
# the table feature under which Delta's DML may mark rows deleted instead of rewriting their files; it stays in the
# protocol when `delta.enableDeletionVectors` is switched off again, as may the vectors written before
DELETION_VECTORS = "deletionVectors"
# open-source Delta's log, and Databricks Runtime's build of it
DELTA_LOG_CLASSES = ("org.apache.spark.sql.delta.DeltaLog", "com.databricks.sql.transaction.tahoe.DeltaLog")


# the tables (by path) this process has created or brought up to the catalogue's layout and contract: checked
# once per process, not once per job (`clv pipeline` runs five jobs, a test session hundreds)
CHECKED: set[str] = set()
# catalog mode: the namespaces this process has made sure of, and the (name, folder) pairs it found bound
READY_NAMESPACES: set[str] = set()
BOUND_NAMES: set[tuple[str, str]] = set()
# the roots of the lakes whose lease (`clvlake.lease`) this process holds: no other clv job writes to them meanwhile
LEASED: set[str] = set()
# what creating a table raises while another job is creating it, before that job's first commit: Delta finds the
# folder not empty, or takes its `_delta_log` folder for a table (one that exists, or then has no version to load)
ANOTHER_CREATOR = (
    "DELTA_CREATE_TABLE_WITH_NON_EMPTY_LOCATION",
    "TABLE_OR_VIEW_ALREADY_EXISTS",
    "DELTA_TABLE_NOT_FOUND",
)
# Delta's commit conflicts: another job committed to the table after this write read it
CONFLICTS = (
    delta_errors.ConcurrentAppendException,
    delta_errors.ConcurrentDeleteDeleteException,
    delta_errors.ConcurrentDeleteReadException,
    delta_errors.ConcurrentTransactionException,
    delta_errors.ConcurrentWriteException,
    delta_errors.DeltaConcurrentModificationException,
    delta_errors.MetadataChangedException,
    delta_errors.ProtocolChangedException,
)
CONFLICT_ATTEMPTS = 4  # a conflicting write runs again up to this many times in all
CONFLICT_PAUSE_SECONDS = 2.0  # before the second attempt; doubles before each later one
Write = TypeVar("Write", bound=Callable)


def retried_on_conflict(write: Write) -> Write:
    """Run a Lake write again when a concurrent commit conflicts with it: every write is idempotent and reads
    the table anew, so a retry writes what one uncontended run would. After `CONFLICT_ATTEMPTS`, a
    `ConflictError` naming the table."""

    @functools.wraps(write)
    def retrying(self: Lake, *args, **kwargs):
        table = inspect.signature(write).bind(self, *args, **kwargs).arguments["table"]
        attempt = 1
        while True:
            try:
                return write(self, *args, **kwargs)
            except CONFLICTS as err:
                if attempt == CONFLICT_ATTEMPTS:
                    raise ConflictError(
                        f"table '{table}': another job's commits conflicted with this write {attempt} times "
                        f"({type(err).__name__}); run this job again once the other one has finished "
                        "(its writes are idempotent)"
                    ) from None
                pause = CONFLICT_PAUSE_SECONDS * 2 ** (attempt - 1)
                log.warning(
                    "%s: a concurrent commit conflicted with this write (%s); writing again in %.0f s",
                    table,
                    type(err).__name__,
                    pause,
                )
                time.sleep(pause)
                attempt += 1

    return retrying  # type: ignore[return-value]


# settings `session_conf` holds: key → [value, calls holding it, the value before the first]
_HELD: dict[str, list] = {}
_HELD_LOCK = threading.Lock()


@contextlib.contextmanager
def session_conf(spark: SparkSession, key: str, value: str) -> Iterator[None]:
    """A Spark session setting changed for the duration of one call, then put back as it was. Calls in several
    threads at once (a job's writes to several tables) share it: they must set the same value, and the last one
    to end puts the setting back."""
    with _HELD_LOCK:
        held = _HELD.get(key)
        if held is None:
            held = _HELD[key] = [value, 0, spark.conf.get(key, None)]
            spark.conf.set(key, value)
        elif held[0] != value:
            raise RuntimeError(f"{key}: another thread holds it at {held[0]}, not {value}")
        held[1] += 1
    try:
        yield
    finally:
        with _HELD_LOCK:
            held[1] -= 1
            if not held[1]:
                del _HELD[key]
                if held[2] is None:
                    spark.conf.unset(key)
                else:
                    spark.conf.set(key, held[2])


def shorten(sql: str) -> str:
    """A SQL text cut to one readable line."""
    return textwrap.shorten(sql, 100, placeholder=" …")


def conform(df: DataFrame, schema: T.StructType) -> DataFrame:
    """Select and cast `df` to `schema`, failing loudly (naming the columns) if any are missing."""
    missing = [f.name for f in schema.fields if f.name not in df.columns]
    if missing:
        raise InputError(f"cannot write: columns {missing} are missing (have {df.columns})")
    return df.select([F.col(f.name).cast(f.dataType).alias(f.name) for f in schema.fields])


def property_list(properties: dict[str, str]) -> str:
    """Table properties as SQL: 'key' = 'value', …"""
    return ", ".join(f"'{k}' = '{v}'" for k, v in properties.items())


def column_list(schema: T.StructType) -> str:
    """A schema's columns as SQL, with their NOT NULL constraints."""
    return ", ".join(
        f"`{f.name}` {f.dataType.simpleString()}{'' if f.nullable else ' NOT NULL'}" for f in schema.fields
    )


def layout_clause(spec: TableSpec) -> str:
    """The SQL partitioning or clustering and table properties of a table in the catalogue."""
    parts = []
    if spec.partition_by:
        parts.append(f"PARTITIONED BY ({spec.partition_by})")
    if spec.cluster_by:
        parts.append(f"CLUSTER BY ({', '.join(spec.cluster_by)})")
    properties = table_properties(spec)
    if properties:
        parts.append(f"TBLPROPERTIES ({property_list(properties)})")
    return " ".join(parts)


def refreshed_version(spark: SparkSession, delta_log: JavaObject) -> int | None:
    """The latest version of a table's `DeltaLog` read anew from storage (-1: no commit yet), or None on a runtime
    whose `update` has another signature."""
    none = java_class(spark, "scala.Option").empty()
    with contextlib.suppress(Py4JError):
        return int(delta_log.update(False, none, none).version())
    return None


def namespace_of(settings: LakeSettings) -> str:
    """The quoted catalog namespace of catalog mode (`catalog`.`schema`, or `schema` in the session's current
    catalog), or "" in path mode."""
    if not settings.schema:
        return ""
    return ".".join(f"`{part}`" for part in (settings.catalog, settings.schema) if part)


def same_location(a: str, b: str) -> bool:
    """Whether two table locations name one folder (`file:///x/`, `file:/x` and `/x` do)."""
    return local_form(a) == local_form(b)


class Lake:
    """The lake under one root URI (`file:`, `s3a:`, `abfss:`, `dbfs:` or a local path); `namespace` (catalog mode)
    is the quoted catalog namespace its tables are named in."""

    def __init__(self, spark: SparkSession, root: str, namespace: str = ""):
        self.spark = spark
        self.root = root.rstrip("/")
        self.namespace = namespace

    @classmethod
    def open(cls, spark: SparkSession, settings: LakeSettings) -> Lake:
        """The configured lake, in catalog mode if `lake.schema` is set."""
        return cls(spark, settings.root, namespace_of(settings))

    def path(self, table: str) -> str:
        spec = TABLES[table]
        return f"{self.root}/{spec.layer}/{spec.name}"

    def name(self, table: str) -> str:
        """The table's name in the catalog (catalog mode only)."""
        return f"{self.namespace}.`{TABLES[table].name}`"

    def ref(self, table: str) -> str:
        """The table in SQL: its catalog name (registering a table written in path mode first), else its path."""
        if not self.namespace:
            return f"delta.`{self.path(table)}`"
        self.bind(table)
        return self.name(table)

    def bind(self, table: str) -> None:
        """Make the table's catalog name stand for its folder, once per process: register a table written in
        path mode at its folder; stop if the name already stands for another folder (another lake's table in the
        same schema). A table not written yet is left to `ensure`, which creates it with its name."""
        name, path = self.name(table), self.path(table)
        if (name, path) in BOUND_NAMES:
            return
        self.create_schema()
        if self.spark.catalog.tableExists(name.replace("`", "")):
            location = self.spark.sql(f"DESCRIBE DETAIL {name}").first()["location"]
            if not same_location(location, path):
                raise InputError(
                    f"catalog table {name} is the table at {location}, not this lake's {path}: "
                    "set 'lake.schema' to a schema of this lake's own"
                )
            BOUND_NAMES.add((name, path))
        elif self.exists(table):
            self.register(table)

    def create_schema(self) -> None:
        """Create the catalog mode's schema if it is missing (once per process)."""
        if self.namespace not in READY_NAMESPACES:
            self.spark.sql(f"CREATE SCHEMA IF NOT EXISTS {self.namespace}")
            READY_NAMESPACES.add(self.namespace)

    def register(self, table: str) -> None:
        """Name an existing table in the catalog, at its folder."""
        name, path = self.name(table), self.path(table)
        self.spark.sql(f"CREATE TABLE IF NOT EXISTS {name} USING delta LOCATION '{path}'")
        BOUND_NAMES.add((name, path))
        log.info("%s: registered in the catalog as %s", table, name)

    def register_all(self) -> list[str]:
        """Register every table of the lake the catalog lacks, so `clv sql` finds them all (a name already there
        is left as it is: `bind` checks its folder when a job uses it); returns the lake's table names in it."""
        self.create_schema()
        # SHOW TABLES rather than `Catalog.listTables`, which fails to decode Hive's entries of Delta tables
        held = {row["tableName"] for row in self.spark.sql(f"SHOW TABLES IN {self.namespace}").collect()}
        for table, spec in TABLES.items():
            if spec.name not in held and self.exists(table):
                self.register(table)
                held.add(spec.name)
        return sorted(held & {spec.name for spec in TABLES.values()})

    def exists(self, table: str) -> bool:
        """Whether the table has a commit. Delta's `isDeltaTable` answers from the JVM's cached log, which does not
        see a table another process created after this one first looked at its folder (two jobs creating the
        lease table at once): a no is asked again of the log read anew. Under Spark Connect, the server is asked."""
        if over_connect(self.spark):
            return self.has_schema(table)
        if java_class(self.spark, "io.delta.tables.DeltaTable").isDeltaTable(
            self.spark._jsparkSession, self.path(table)
        ):
            return True
        delta_log = self.delta_log(table)
        version = None if delta_log is None else refreshed_version(self.spark, delta_log)
        return version is not None and version >= 0

    def has_schema(self, table: str) -> bool:
        """Whether Delta finds a table at the table's folder: its schema, which the server reads from the log's
        last commit (`DESCRIBE DETAIL` also counted the table's files, a Spark job per table)."""
        try:
            self.spark.read.format("delta").load(self.path(table)).schema  # noqa: B018 (analysing it is the check)
        except AnalysisException as err:
            if err.getCondition() in ("DELTA_MISSING_DELTA_TABLE", "DELTA_TABLE_NOT_FOUND", "PATH_NOT_FOUND"):
                return False
            raise
        return True

    def read(self, table: str) -> DataFrame:
        if not self.exists(table):
            raise InputError(
                f"table '{table}' does not exist yet at {self.path(table)}: run the job that writes it"
            )
        return self.load(table)

    def load(self, table: str, version: int | None = None) -> DataFrame:
        """The table (at a version), by name or path."""
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.table(self.ref(table)) if self.namespace else reader.load(self.path(table))

    def write(
        self, rows: DataFrame, table: str, replacing: str = "", txn: tuple[str, int] | None = None
    ) -> None:
        """Append `rows` to the table, or with `replacing` (a SQL predicate) overwrite the rows it matches (Delta's
        `replaceWhere`); `txn`: Delta's idempotent-write id (`txnAppId`, `txnVersion`). By name or path through
        `writeTo`, which by name too writes rows only: `saveAsTable` would replace the catalog's table, which
        Hive's metastore refuses with an error logged at each write."""
        writer = rows.writeTo(self.ref(table))
        if txn:
            writer = writer.option("txnAppId", txn[0]).option("txnVersion", txn[1])
        if replacing:
            writer.overwrite(F.expr(replacing))
        else:
            writer.append()

    def merge(self, source: DataFrame, table: str, on: str, clauses: str) -> Row:
        """Delta's MERGE of `source` (rows `s`) into the table (rows `t`) on the SQL condition `on`, with the SQL
        WHEN `clauses`; returns Delta's row of counts (num_affected_rows, num_deleted_rows, …)."""
        view = f"clvlake_merge_source_{uuid.uuid4().hex}"
        source.createOrReplaceTempView(view)
        try:
            return self.spark.sql(f"MERGE INTO {self.ref(table)} t USING {view} s ON {on} {clauses}").first()
        finally:
            self.spark.catalog.dropTempView(view)

    def read_partition(self, table: str, value: date) -> DataFrame:
        """One partition of a partitioned table; an empty partition is an error naming the table and date."""
        column = TABLES[table].partition_by
        df = self.read(table).where(F.col(column) == F.lit(value))
        if df.isEmpty():
            raise InputError(
                f"table '{table}' has no rows for {column} = {value}: run the job that writes it"
            )
        return df

    def version(self, table: str) -> int:
        """The table's latest version: from Delta's log in the JVM (no Spark job: a job each was a tenth of a
        daily ingest), or from the table's history where no JVM is reachable (Spark Connect)."""
        delta_log = self.delta_log(table)
        version = None if delta_log is None else refreshed_version(self.spark, delta_log)
        if version is not None:
            return version
        return int(self.spark.sql(f"DESCRIBE HISTORY {self.ref(table)} LIMIT 1").first()["version"])

    def delta_log(self, table: str) -> JavaObject | None:
        """The table's `DeltaLog` in the JVM, or None: under Spark Connect, whose sessions reach no JVM, or a
        runtime with another Delta build."""
        jspark = getattr(self.spark, "_jsparkSession", None)
        delta_log = next(filter(None, (java_class(self.spark, c) for c in DELTA_LOG_CLASSES)), None)
        if jspark is None or delta_log is None:
            return None
        return delta_log.forTable(jspark, self.path(table))

    def holds_path(self, uri: str) -> bool | None:
        """Whether a file or folder exists (e.g. an export folder under the root), asked of Hadoop's file system
        for the URI's scheme without a Spark job; None where no JVM is reachable (Spark Connect)."""
        jsc = getattr(self.spark, "_jsc", None)
        if jsc is None:
            return None
        path = java_class(self.spark, "org.apache.hadoop.fs.Path")(uri)
        return bool(path.getFileSystem(jsc.hadoopConfiguration()).exists(path))

    def ensure(self, table: str) -> bool:
        """Create the table with its catalogue layout and contract schema if it is not there yet (returns True:
        its version 0 holds no row); else bring an older table up to date (`upgrade_layout`, then the columns a
        newer contract adds: `evolve`) and return False."""
        spec, path = TABLES[table], self.path(table)
        if self.exists(table):
            if path not in CHECKED:
                self.upgrade_layout(table)
                self.evolve(table)
                CHECKED.add(path)
            return False
        # by name (`ref` makes sure the schema exists and the name stands for no other table) at the folder, or
        # by path
        location = f"LOCATION '{path}'" if self.namespace else ""
        create = f"CREATE TABLE {self.ref(table)} ({column_list(spec.schema)}) USING delta {location}"
        try:
            self.spark.sql(f"{create} {layout_clause(spec)}")
        except (AnalysisException, *CONFLICTS) as err:
            # another job is creating it: its folder is there before its first commit (which a cold JVM on a busy
            # machine can take many seconds to write), or its commit won
            another_creator = isinstance(err, CONFLICTS) or err.getCondition() in ANOTHER_CREATOR
            if not (another_creator and self.created_meanwhile(table)):
                raise
            return self.ensure(table)
        CHECKED.add(path)
        if self.namespace:
            BOUND_NAMES.add((self.name(table), path))
        return True

    def created_meanwhile(self, table: str, seconds: float = 60.0) -> bool:
        """Whether the table exists within `seconds` (another creator's first commit lands)."""
        deadline = time.monotonic() + seconds
        while not self.exists(table):
            if time.monotonic() >= deadline:
                return False
            time.sleep(0.2)
        return True

    def upgrade_layout(self, table: str) -> bool:
        """Rewrite a table written in an older layout (e.g. silver partitioned by event_date) in the catalogue's,
        in one atomic commit that keeps every row and the table's history; returns whether it did. Missing
        table properties alone are set without a rewrite."""
        spec, path = TABLES[table], self.path(table)
        detail = self.detail(table)
        if list(detail["partitionColumns"]) != ([spec.partition_by] if spec.partition_by else []) or list(
            detail["clusteringColumns"] or []
        ) != list(spec.cluster_by):
            log.warning("%s: rewriting the table in the catalogue's layout (one-time upgrade)", table)
            location = f"LOCATION '{path}'" if self.namespace else ""
            self.spark.sql(
                f"CREATE OR REPLACE TABLE {self.ref(table)} USING delta {location} {layout_clause(spec)} "
                f"AS SELECT * FROM {self.ref(table)} VERSION AS OF {self.version(table)}"
            )
            return True
        missing = {k: v for k, v in table_properties(spec).items() if detail["properties"].get(k) != v}
        if missing:
            self.set_properties(table, missing)
        return False

    def evolve(self, table: str) -> list[str]:
        """Add the contract's columns that an existing table (written by an older clvlake) lacks; returns them.

        Only additions are automatic (earlier rows read null there); a column whose type changed is an error
        naming it, never a silent cast of old data.
        """
        schema = self.load(table).schema
        existing = {f.name: f.dataType.simpleString() for f in schema}  # types without nullability
        contract = TABLES[table].schema.fields
        changed = [
            f.name
            for f in contract
            if existing.get(f.name, f.dataType.simpleString()) != f.dataType.simpleString()
        ]
        if changed:
            raise InputError(
                f"table '{table}' at {self.path(table)} has other types than its contract for {changed}: "
                "migrate or rebuild it"
            )
        added = [f for f in contract if f.name not in existing]
        if added:
            columns = ", ".join(f"`{f.name}` {f.dataType.simpleString()}" for f in added)
            self.spark.sql(f"ALTER TABLE {self.ref(table)} ADD COLUMNS ({columns})")
            log.info("%s: added columns %s (schema evolution)", table, [f.name for f in added])
        return [f.name for f in added]

    def replace_partition(self, df: DataFrame, table: str, value: date) -> int:
        """Replace one partition with `df` (rows outside it make Delta fail the write); returns the new version."""
        return self.replace_where(df, table, f"{TABLES[table].partition_by} = '{value.isoformat()}'")

    def replace_partitions(self, builders: dict[str, Callable[[], DataFrame]], value: date) -> dict[str, int]:
        """`replace_partition` of each table at once, as the tables are independent (one commit each): each table's
        rows come from its builder, called in the write's own thread, so a builder that runs Spark jobs of its own
        (quantiles for tiers, say) runs beside the other tables' writes; returns each table's new version."""
        versions = each_at_once(
            lambda table: self.replace_partition(builders[table](), table, value),
            list(builders),
            len(builders),
            "write",
        )
        return dict(zip(builders, versions, strict=True))

    def append_if_none(self, rows: DataFrame, table: str, predicate: str, created: bool = False) -> bool:
        """Append `rows` if no row `t` of the table matches the SQL predicate; returns whether it did.

        A first write (a date's, a landing batch's), the usual case, so costs a third of the Spark jobs of
        Delta's `replaceWhere` or MERGE, which search the files to replace. Without the lake's lease (a notebook
        calling the library) another writer may find none too: the check and the append are then tied to one
        table version by a Delta transaction id per table and predicate, versioned by it (Delta skips the second
        write, or fails it as concurrent). Under the lease no other job writes, and the id is left out: Delta
        4.0 reads a table's ids by rebuilding its state, 0.3 s of a 0.45 s append to a small table.
        `created`: this writer's `ensure` just created the table, so its version 0 holds no row to look for.
        """
        version = 0 if created else self.version(table)
        if not created and self.matches_at(table, version, predicate):
            return False
        txn = None
        if self.root not in LEASED:
            txn_id = hashlib.sha256(f"{self.path(table)}|{predicate}".encode()).hexdigest()[:32]
            txn = (f"clvlake-{txn_id}", version)
        self.write(rows, table, txn=txn)
        return True

    def matches_at(self, table: str, version: int, predicate: str) -> bool:
        """Whether a row `t` of the table's given version matches the SQL predicate (Delta skips files by their
        statistics)."""
        return not self.load(table, version).alias("t").where(predicate).isEmpty()

    @retried_on_conflict
    def replace_where(self, df: DataFrame, table: str, predicate: str) -> int:
        """Replace the rows matching `predicate` with `df` (appended when there are none: `append_if_none`); a row
        of `df` outside the predicate fails the write."""
        spec = TABLES[table]
        created = self.ensure(table)
        rows = conform(df, spec.schema)
        outside = F.raise_error(F.lit(f"{table}: a row to write is outside {shorten(predicate)}"))
        inside = rows.where(F.when(F.expr(predicate), F.lit(True)).otherwise(outside))
        if not self.append_if_none(inside, table, predicate, created):
            self.write(rows, table, replacing=predicate)
        version = self.version(table)
        log.debug("%s: replaced %s (version %d)", table, shorten(predicate), version)
        return version

    @retried_on_conflict
    def append(self, df: DataFrame, table: str) -> int:
        """Append rows: for audit tables, whose rows are events never merged away, and for rows that are new by
        construction (the ingest's log of the files it has read)."""
        self.ensure(table)
        self.write(conform(df, TABLES[table].schema), table)
        return self.version(table)

    @retried_on_conflict
    def delete_matching(self, table: str, subjects: DataFrame, condition: str) -> int:
        """Delete target rows `t` matching a row `s` of `subjects` under `condition`; returns rows removed.

        A MERGE rather than `DELETE WHERE <literal>`: the Delta log records the condition text, so a literal
        identifier would outlive the rows. On a table with the deletion-vectors feature (e.g. Databricks' default
        for new tables) DML may have only marked rows deleted (this MERGE, or an earlier update while the feature
        was switched on), so they are purged (REORG … APPLY (PURGE)) and the bytes go with the next VACUUM;
        elsewhere the MERGE has already rewritten the files.
        `subjects` must be deterministic (the erasure's few ids): Delta then need not copy it aside first
        (`merge.materializeSource`), which cost a job and a Spark warning per table. They are broadcast: joined
        otherwise on a condition with OR (key or id), they were read once per target partition, which Delta's
        check of the source between its two scans took for a changed source (a warning per table).
        """
        with session_conf(self.spark, "spark.databricks.delta.merge.materializeSource", "none"):
            counts = self.merge(F.broadcast(subjects), table, condition, "WHEN MATCHED THEN DELETE")
        # also where this MERGE removed none: rows an earlier erasure only marked deleted (killed before its purge)
        if DELETION_VECTORS in (self.detail(table)["tableFeatures"] or []):
            self.spark.sql(f"REORG TABLE {self.ref(table)} APPLY (PURGE)")  # no file with a vector: no commit
        return int(counts["num_deleted_rows"])

    def overwrite_if_unchanged(self, row: DataFrame, table: str, read_version: int) -> None:
        """Replace the table's rows with `row` unless another write of this method committed after the table's
        version `read_version`, at which the caller read it: a compare-and-set for a one-row table (the lake's
        lease). Each write carries Delta's idempotent-write id of the table (`txnAppId`) with `read_version` + 1
        (`txnVersion`): Delta skips the write when the table has had that number or a later one, and fails it as
        concurrent (one of `CONFLICTS`, not retried: the caller reads the row anew) when another write of the id
        commits meanwhile. A plain write, not a MERGE or UPDATE: no search for matching rows, and no DML warming
        up (seconds) in a job that runs none. Whether it was written is for the caller to read back."""
        self.ensure(table)
        self.write(
            conform(row, TABLES[table].schema),
            table,
            replacing="true",
            txn=(f"clvlake-{table}", read_version + 1),
        )

    def vacuum(self, table: str, retention_hours: float) -> None:
        """VACUUM with the given retention; below Delta's 168-hour safety check only for this call."""
        check = "spark.databricks.delta.retentionDurationCheck.enabled"
        with session_conf(self.spark, check, "false" if retention_hours < 168 else "true"):
            self.spark.sql(f"VACUUM {self.ref(table)} RETAIN {retention_hours:f} HOURS")

    def checkpoint(self, table: str) -> bool:
        """Write a checkpoint of the table's current version; Delta then also drops the log entries that expired
        under the table's log retention, up to the latest checkpoint whose previous entry expired. Returns
        False where no Delta log class is reachable: under Spark Connect, whose sessions reach no JVM, or a
        runtime with another Delta build (Delta checkpoints every 10 commits anyway)."""
        delta_log = self.delta_log(table)
        if delta_log is None:
            return False
        delta_log.checkpoint()
        return True

    def detail(self, table: str) -> Row:
        """Delta's `DESCRIBE DETAIL` row of the table (layout, properties, protocol features, …)."""
        return self.spark.sql(f"DESCRIBE DETAIL {self.ref(table)}").first()

    def properties(self, table: str) -> dict[str, str]:
        """The table's Delta properties."""
        return self.detail(table)["properties"]

    def set_properties(self, table: str, properties: dict[str, str]) -> None:
        """Set Delta properties of the table (one commit)."""
        self.spark.sql(f"ALTER TABLE {self.ref(table)} SET TBLPROPERTIES ({property_list(properties)})")

    def keep_log(self, table: str, hours: float) -> None:
        """Keep the table's log entries (and with them time travel) `hours`, instead of Delta's 30 days."""
        duration = f"interval {max(int(hours), 0)} hours"
        if self.properties(table).get(LOG_RETENTION) != duration:
            self.set_properties(table, {LOG_RETENTION: duration})

    @retried_on_conflict
    def merge_new(
        self,
        df: DataFrame,
        table: str,
        update_existing: bool = False,
        within: str = "",
        update_when: str = "",
    ) -> int:
        """MERGE on the table's natural key: insert unseen keys, optionally update matched rows that changed.

        `df` must already be unique on the key (several source rows for one target row is an error). A rerun
        with the same input commits nothing. `within`, a condition on the target rows `t` that holds for every
        row `df` can match (e.g. `t._source_file IN (…)`), lets Delta skip the other files by their statistics.
        `update_when`, a condition on the source row `s` and the matched target row `t`, replaces matched rows
        for which it holds (it must be false for a row that would not change, to keep reruns commit-free).
        """
        spec = TABLES[table]
        created = self.ensure(table)
        source = conform(df, spec.schema)
        if created:  # an empty table: every (unique) row is new
            self.append_if_none(source, table, within or "true", created=True)
            version = self.version(table)
            log.debug("%s: inserted every row into the new table (version %d)", table, version)
            return version
        condition = " AND ".join([*(f"t.{k} = s.{k}" for k in spec.keys), *([within] if within else [])])
        target = self.load(table)
        if update_existing:
            same_row = " AND ".join(f"s.{f.name} <=> t.{f.name}" for f in spec.schema.fields)
            source = source.alias("s").join(target.alias("t"), F.expr(same_row), how="left_anti")
        elif update_when:  # only rows that insert or replace: a rerun commits nothing
            same_key = " AND ".join(f"s.{k} = t.{k}" for k in spec.keys)
            source = (
                source.alias("s")
                .join(target.alias("t"), F.expr(same_key), how="left")
                .where(F.expr(f"t.{spec.keys[0]} IS NULL OR ({update_when})"))
                .select("s.*")
            )
        if (update_existing or update_when) and source.isEmpty():
            log.debug("%s: no new or changed rows", table)
            return self.version(table)
        # where no target row is `within`, none can match: the MERGE would insert every row
        if within and not (update_existing or update_when) and self.append_if_none(source, table, within):
            version = self.version(table)
            log.debug("%s: inserted new rows of %s (version %d)", table, shorten(within), version)
            return version
        matched = ""
        if update_existing:
            matched = "WHEN MATCHED THEN UPDATE SET * "
        elif update_when:
            matched = f"WHEN MATCHED AND ({update_when}) THEN UPDATE SET * "
        self.merge(source, table, condition, f"{matched}WHEN NOT MATCHED THEN INSERT *")
        version = self.version(table)
        log.debug("%s: merged on %s (version %d)", table, ", ".join(spec.keys), version)
        return version
