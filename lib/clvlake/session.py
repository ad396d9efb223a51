"""The SparkSession: local mode with Delta configured, or the session a cluster hands us.

Under `spark-submit` (the JVM started Python, so `PYSPARK_GATEWAY_PORT` is set), on Databricks
(`DATABRICKS_RUNTIME_VERSION`), or when a session is already active (notebooks, tests), the existing session
is returned untouched: the cluster's settings are never overridden. Only a plain `python`/`clv` process on a
laptop builds its own local session from `spark:` in the config.
"""

from __future__ import annotations

import contextlib
import logging
import os
import re
import shutil
import subprocess
import sys
import threading
from collections.abc import Callable
from pathlib import Path
from typing import BinaryIO

from py4j.java_gateway import JavaClass
from pyspark import SparkConf, SparkContext
from pyspark.java_gateway import launch_gateway
from pyspark.sql import SparkSession

from clvlake.config import LakeSettings, SparkSettings
from clvlake.config.validation import is_local, local_form
from clvlake.errors import ConfigError
from clvlake.jars import delta_jar_conf

log = logging.getLogger(__name__)

_CLUSTER_MARKERS = ("PYSPARK_GATEWAY_PORT", "DATABRICKS_RUNTIME_VERSION")

DELTA_SESSION_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}


def ship_wheels_to_executors(session: SparkSession, scratch_dir: str) -> list[str]:
    """Make `--py-files <wheel>` importable on executors; returns the .zip copies it registered.

    Spark puts only .zip, .egg and .py files from `--py-files` on the executors' PYTHONPATH. A pure-Python
    wheel is a zip archive, so a copy under a .zip name, added with `addPyFile`, is importable there.
    """
    shipped = []
    for entry in filter(None, session.conf.get("spark.submit.pyFiles", "").split(",")):
        wheel = Path(entry.removeprefix("file:"))
        if wheel.suffix != ".whl" or not wheel.is_file():
            continue
        target = Path(scratch_dir) / f"{wheel.stem}.zip"
        target.parent.mkdir(parents=True, exist_ok=True)
        shutil.copyfile(wheel, target)
        session.sparkContext.addPyFile(str(target))
        shipped.append(str(target))
        log.info("shipped %s to the executors as %s", wheel.name, target.name)
    return shipped


def over_connect(session: SparkSession) -> bool:
    """Whether the session is a Spark Connect client's: its driver is a server, and this process has no JVM."""
    return type(session).__module__.startswith("pyspark.sql.connect.")


def java_class(spark: SparkSession, name: str) -> JavaClass | None:
    """A JVM class by its full name through Py4J, or None (no JVM, or no such class on the classpath). The name is
    looked up whole: Py4J resolves `_jvm.org.apache…` a part at a time, and each package part is a failed class
    lookup through every jar on the classpath (about 1 ms each)."""
    jvm = getattr(spark, "_jvm", None)
    found = None if jvm is None else getattr(jvm, name)
    return found if isinstance(found, JavaClass) else None


def remote_session(url: str) -> SparkSession:
    """A session on the Spark Connect server at `url` (`sc://host:port`), with clvlake's runtime SQL settings;
    the server's own settings (Delta, memory, time zone) are the server's."""
    session = SparkSession.builder.remote(url).getOrCreate()
    log.info("connected to Spark Connect %s at %s", session.version, url)
    _warn_if_not_utc(session)
    return with_sql_defaults(session)


def provided_session() -> SparkSession | None:
    """The session given by spark-submit, Databricks or the caller, if there is one."""
    active = SparkSession.getActiveSession()
    if active is not None:
        return active
    if any(marker in os.environ for marker in _CLUSTER_MARKERS):
        return SparkSession.builder.getOrCreate()
    return None


# runtime SQL settings clvlake's jobs rely on; `with_sql_defaults` also sets them on a session it is given
SQL_DEFAULTS = {
    # an aggregation over input already sorted on its keys streams instead of hashing, and keeps the order:
    # the feature builder's customer-day roll-up then feeds its window without a second sort
    "spark.sql.execution.replaceHashWithSortAgg": "true",
}


def with_sql_defaults(session: SparkSession) -> SparkSession:
    """Set clvlake's runtime SQL settings (they change plans, never results) on any session."""
    for key, value in SQL_DEFAULTS.items():
        session.conf.set(key, value)
    return session


# Work that Delta and Spark split into a fixed number of tasks whatever the table's size, with their default: the
# log replay that builds a table's snapshot (each table a job reads or writes) and the listing of a folder's files
# (VACUUM's, a read of many paths). On a small cluster the tasks cost far more than the work: a 300-customer
# pipeline by spark-submit on a 2-core standalone cluster took 157 s with Delta's 50, 92 s with 2 (features
# 21.8 → 8.4 s, report 34.3 → 12.3 s); VACUUM of a small table 50 s instead of 3 s with Spark's 10,000.
TASKS_PER_CORE_SETTINGS = {
    "spark.databricks.delta.snapshotPartitions": 50,
    "spark.sql.sources.parallelPartitionDiscovery.parallelism": 10_000,
}


def sized_to_cores(cores: int) -> dict[str, str]:
    """`TASKS_PER_CORE_SETTINGS` at one task per core, never above their defaults."""
    return {key: str(max(1, min(cores, default))) for key, default in TASKS_PER_CORE_SETTINGS.items()}


def local_cores(master: str) -> int:
    """The cores a local master runs tasks on: `local` → 1, `local[4]` or `local[4,2]` → 4, `local[*]` (or a
    form not recognised) → the machine's."""
    found = re.fullmatch(r"local(?:\[(\d+|\*)(?:,\d+)?\])?", master.strip())
    if found is not None and found.group(1) is None:
        return 1
    if found is None or found.group(1) == "*":
        return os.cpu_count() or 1
    return int(found.group(1))


def with_tasks_per_core(session: SparkSession) -> list[str]:
    """Set the `TASKS_PER_CORE_SETTINGS` the provided session does not set itself to its cores (Spark's default
    parallelism); returns the keys set."""
    sized = sized_to_cores(session.sparkContext.defaultParallelism)
    unset = {key: value for key, value in sized.items() if session.conf.get(key, None) is None}
    for key, value in unset.items():
        session.conf.set(key, value)
    return list(unset)


# Spark's log for clvlake's local sessions: warnings and errors, without the notes every local run prints that a
# user cannot act on (`clv -v` keeps Spark's own defaults)
QUIET_LOG4J = """\
rootLogger.level = warn
rootLogger.appenderRef.stderr.ref = console
appender.console.type = Console
appender.console.name = console
appender.console.target = SYSTEM_ERR
appender.console.layout.type = PatternLayout
appender.console.layout.pattern = %d{HH:mm:ss} %p %c{1}: %m%n%ex
# no native Hadoop library on a laptop: the Java one is used
logger.native.name = org.apache.hadoop.util.NativeCodeLoader
logger.native.level = error
# "Truncated the string representation of a plan": plan strings of wide tables, shown nowhere
logger.plan.name = org.apache.spark.sql.catalyst.util.SparkStringUtils
logger.plan.level = error
# no native BLAS/LAPACK: Spark ML uses the Java ones
logger.blas.name = dev.ludovic.netlib
logger.blas.level = error
# "RDD … was locally checkpointed": a localCheckpoint (Delta's MERGE source, the gain curve) dropped when done
logger.checkpointed.name = org.apache.spark.rdd.MapPartitionsRDD
logger.checkpointed.level = error
logger.parquet.name = org.apache.parquet.CorruptStatistics
logger.parquet.level = error
# "Broadcasting large task binary": sent once per stage, and what is left of it after the jobs stopped shipping
# unmaterialised plans (the training sets' feature query, the evaluations' predictions) is the evaluation's one
# prediction job, whose tasks carry every fitted booster (XGBoost puts its model in the prediction's closure)
logger.dag.name = org.apache.spark.scheduler.DAGScheduler
logger.dag.filter.binary.type = RegexFilter
logger.dag.filter.binary.regex = Broadcasting large task binary.*
logger.dag.filter.binary.onMatch = DENY
logger.dag.filter.binary.onMismatch = NEUTRAL
# catalog mode's local metastore: Hive cannot store a Delta table's schema in its own column types and says so
# after each write; Spark then keeps the schema in its own format (the table is unaffected)
logger.hivealter.name = org.apache.hadoop.hive.metastore.HiveAlterHandler
logger.hivealter.level = off
logger.hivecatalog.name = org.apache.spark.sql.hive.HiveExternalCatalog
logger.hivecatalog.level = error
# and the notes of a metastore's first use (schema version recorded, databases not found yet, unused settings)
logger.hivestore.name = org.apache.hadoop.hive.metastore.ObjectStore
logger.hivestore.level = error
logger.hiveconf.name = org.apache.hadoop.hive.conf.HiveConf
logger.hiveconf.level = error
logger.hivesession.name = org.apache.hadoop.hive.ql.session.SessionState
logger.hivesession.level = error
"""


def quiet_log_options(scratch_dir: str) -> str:
    """JVM options that give a local session `QUIET_LOG4J` (written under the scratch folder)."""
    path = Path(scratch_dir) / "log4j2.properties"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(QUIET_LOG4J)
    return f"-Dlog4j2.configurationFile={path.as_uri()}"


def metastore_conf(lake: LakeSettings | None) -> dict[str, str]:
    """Catalog mode on a laptop: Spark's own catalog kept in a Hive metastore (Derby) under the lake's root, so
    a later session, `clv sql` or `spark-sql` with these settings, finds the tables by name. Path mode: none."""
    if lake is None or not lake.schema:
        return {}
    if not is_local(lake.root):
        raise ConfigError(
            f"'lake.schema' is set and 'lake.root' is {lake.root}: outside a cluster, catalog mode keeps its "
            "metastore under a local lake root; run on the cluster (its catalog is used) or use a local root"
        )
    home = Path(local_form(lake.root)) / "_catalog"
    return {
        "spark.sql.catalogImplementation": "hive",
        "spark.hadoop.javax.jdo.option.ConnectionURL": f"jdbc:derby:;databaseName={home / 'metastore_db'};create=true",
        "spark.sql.warehouse.dir": str(home / "warehouse"),
        # Delta copies each table's schema and properties into the metastore after every commit; clvlake reads
        # them from the Delta log, and Hive cannot hold a Delta schema in its own column types anyway
        "spark.databricks.delta.catalog.update.enabled": "false",
    }


# settings that list things: the config's value is added after clvlake's instead of replacing it (Delta's jars
# stay on the classpath; of two JVM flags the last wins), with this separator
LIST_SETTINGS = {"spark.driver.extraJavaOptions": " ", "spark.jars": ",", "spark.jars.packages": ","}


# Lines a local JVM writes that nobody can act on, dropped from a quiet session's console (`clv -v` shows them):
# Spark 4's launcher always passes `--add-modules=jdk.incubator.vector`, which the JVM announces when it starts,
# and XGBoost's native collective prints each training task's rank whatever its verbosity (from the Python
# worker, whose output Spark copies to the JVM's)
JVM_NOISE = re.compile(
    rb"WARNING: Using incubator modules: jdk\.incubator\.vector|(\[[\d:]+\] )?Task \d+ got rank \d+"
)


def forward_lines(stream: BinaryIO, write: Callable[[bytes], object]) -> None:
    """Pass each line of `stream` to `write` until the stream ends, except whole lines `JVM_NOISE` matches. A line
    whose write fails (the console was closed, e.g. a pipe into `head`) is dropped: the stream is always read to
    its end, or the JVM would stop at its next write to a full pipe."""
    for line in iter(stream.readline, b""):
        if not JVM_NOISE.fullmatch(line.rstrip(b"\r\n")):
            with contextlib.suppress(OSError):
                write(line)


def write_stderr(data: bytes) -> None:
    """Write to file descriptor 2 wherever it points now (as the JVM's own writes went to this process's)."""
    view = memoryview(data)
    while view:
        view = view[os.write(2, view) :]


def start_quiet_context(conf: dict[str, str]) -> None:
    """Start the local JVM and its SparkContext, the JVM's error output passed through `forward_lines` by a
    daemon thread (it ends with the JVM)."""
    spark_conf = SparkConf().setAll(conf.items())
    gateway = launch_gateway(spark_conf, popen_kwargs={"stderr": subprocess.PIPE})
    threading.Thread(
        target=forward_lines,
        args=(gateway.proc.stderr, write_stderr),
        name="clvlake-jvm-output",
        daemon=True,
    ).start()
    SparkContext(conf=spark_conf, gateway=gateway)


def python_daemon_conf() -> dict[str, str]:
    """Python workers forked from `clvlake.python_daemon` (their libraries imported once) where they run this
    interpreter, which has clvlake; workers of another interpreter (`PYSPARK_PYTHON`) keep PySpark's daemon."""
    if os.environ.get("PYSPARK_PYTHON", sys.executable) != sys.executable:
        return {}
    return {"spark.python.daemon.module": "clvlake.python_daemon"}


def local_session_conf(settings: SparkSettings, scratch_dir: str, quiet: bool = True) -> dict[str, str]:
    """Everything a laptop session needs: Delta, UTC, small shuffles, no UI, scratch files in one place, and
    (`quiet`) Spark's log without notes nobody can act on."""
    java_options = " ".join(
        [
            f"-Dderby.system.home={Path(scratch_dir) / 'derby'}",
            *([quiet_log_options(scratch_dir)] if quiet else []),
        ]
    )
    cores = local_cores(settings.master)
    conf = {
        **DELTA_SESSION_CONF,
        **delta_jar_conf(),
        "spark.master": settings.master,
        "spark.app.name": settings.app_name,
        "spark.driver.memory": settings.driver_memory,
        "spark.sql.shuffle.partitions": str(settings.shuffle_partitions),
        # the partitions of an RDD made from driver-side data, one per core (at most one per shuffle partition):
        # Spark ML writes each stage's metadata as a one-row frame made from a Python list, unpickled partition
        # by partition in Python workers (a write took 1.75 s with 8 partitions, 0.6 s with 2)
        "spark.default.parallelism": str(min(cores, settings.shuffle_partitions)),
        "spark.sql.session.timeZone": "UTC",
        "spark.ui.enabled": "false",
        "spark.driver.host": "127.0.0.1",  # a laptop's hostname may not resolve; local mode needs no network
        "spark.driver.bindAddress": "127.0.0.1",
        "spark.ui.showConsoleProgress": "false",
        "spark.sql.warehouse.dir": str(Path(scratch_dir) / "spark-warehouse"),
        "spark.driver.extraJavaOptions": java_options,
        "spark.sql.adaptive.enabled": "true",
        **sized_to_cores(cores),
        **python_daemon_conf(),
        **SQL_DEFAULTS,
    }
    extra = {
        key: f"{conf[key]}{LIST_SETTINGS[key]}{value}" if key in LIST_SETTINGS and key in conf else value
        for key, value in settings.extra.items()
    }
    return {**conf, **extra}


def get_spark(
    settings: SparkSettings,
    scratch_dir: str | None = None,
    quiet: bool = True,
    lake: LakeSettings | None = None,
) -> SparkSession:
    """Return the provided session (with clvlake's runtime SQL settings), or build a local one with Delta (jars
    cached after the first run; `quiet`: `QUIET_LOG4J` and without the JVM's `JVM_NOISE`; `lake` in catalog mode:
    `metastore_conf`)."""
    scratch = scratch_dir or str(Path(os.environ.get("CLVLAKE_SCRATCH", Path.cwd() / ".spark")).resolve())
    remote = settings.remote or os.environ.get("SPARK_REMOTE")  # pyspark's own variable for a Connect server
    if remote:
        return remote_session(remote)
    os.environ.pop("SPARK_REMOTE", None)  # set but empty: pyspark would take its presence for Connect
    session = provided_session()
    if session is not None:
        sized = []
        if not over_connect(session):  # a Connect server has the cluster's libraries installed its own way
            ship_wheels_to_executors(session, scratch)
            sized = with_tasks_per_core(session)
        log.info(
            "using the provided Spark session (%s); its settings are kept (clvlake only sets %s)",
            "Spark Connect" if over_connect(session) else f"master={session.sparkContext.master}",
            ", ".join([*SQL_DEFAULTS, *sized]),
        )
        _warn_if_not_utc(session)
        return with_sql_defaults(session)
    # the JVM's own address for the driver: Spark then need not warn that the hostname resolves to a loopback one
    os.environ.setdefault("SPARK_LOCAL_IP", "127.0.0.1")
    # Python workers (XGBoost's training tasks) run this interpreter, not whichever `python3` is first on the
    # PATH: a local SparkContext takes its workers' Python from this variable only, never from a setting
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    conf = {**local_session_conf(settings, scratch, quiet), **metastore_conf(lake)}
    if quiet and SparkContext._gateway is None:  # no JVM in this process yet (pyspark starts one per process)
        start_quiet_context(conf)
    session = SparkSession.builder.config(map=conf).getOrCreate()
    session.sparkContext.setLogLevel("WARN")
    log.info("started local Spark %s (%s)", session.version, settings.master)
    return session


def _warn_if_not_utc(session: SparkSession) -> None:
    zone = session.conf.get("spark.sql.session.timeZone")
    if zone not in ("UTC", "Etc/UTC", "GMT"):
        log.warning(
            "spark.sql.session.timeZone is %s; clvlake's dates assume UTC: set it to UTC on the cluster", zone
        )
