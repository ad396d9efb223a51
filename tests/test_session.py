"""The local session: its JVM's console output (what a person cannot act on is dropped, everything else still shows),
its task counts and its Python workers."""

from __future__ import annotations

import io
import sys
import time

import pandas as pd
import pytest
from pyspark.sql import functions as F

from clvlake.config import SparkSettings
from clvlake.session import (
    TASKS_PER_CORE_SETTINGS,
    forward_lines,
    java_class,
    local_cores,
    local_session_conf,
    python_daemon_conf,
    sized_to_cores,
    with_tasks_per_core,
)

NOISE = [
    b"WARNING: Using incubator modules: jdk.incubator.vector\n",
    b"[16:47:30] Task 0 got rank 0\n",
    b"Task 1 got rank 1\n",
]
KEPT = [
    b"20:11:37 WARN TaskSetManager: Lost task 0.0 in stage 3.0 (TID 7)\n",
    b"20:11:38 ERROR Executor: Task 1 got rank 1 and then failed\n",  # noise words inside a real line
    b"WARNING: Using incubator modules: jdk.incubator.foreign\n",  # another module: not known noise
    b"a last line without its newline",
]


def test_the_known_noise_lines_are_dropped_and_every_other_line_passes_in_order():
    written: list[bytes] = []
    forward_lines(io.BytesIO(b"".join([KEPT[0], *NOISE, *KEPT[1:]])), written.append)
    assert written == KEPT


def test_lines_that_cannot_be_written_are_dropped_and_the_stream_is_still_read_to_its_end():
    """A closed console must not leave the JVM blocked on a full pipe."""
    attempts: list[bytes] = []

    def closed_console(line: bytes) -> None:
        attempts.append(line)
        raise BrokenPipeError

    stream = io.BytesIO(b"".join(NOISE + KEPT))
    forward_lines(stream, closed_console)
    assert attempts == KEPT and stream.read() == b""


def test_the_local_jvm_is_started_with_the_incubator_module_and_its_log_lines_still_reach_the_console(
    spark, capfd
):
    """The premise of dropping the incubator line (Spark's launcher adds the module, so the JVM announces it),
    and the JVM's own log lines are forwarded, not swallowed with the noise."""
    jvm = spark.sparkContext._jvm
    arguments = list(jvm.java.lang.management.ManagementFactory.getRuntimeMXBean().getInputArguments())
    assert "--add-modules=jdk.incubator.vector" in arguments
    err = warned_through_the_jvm(spark, capfd, "clvlake.test", "a line the JVM logged")
    assert "WARN test: a line the JVM logged" in err, err


def warned_through_the_jvm(spark, capfd, logger: str, text: str) -> str:
    """Log `text` at WARN through the JVM's log4j logger `logger`; returns what reached the console (stderr) until
    it did: the JVM's lines are forwarded by another thread, in the order the JVM wrote them."""
    java_class(spark, "org.apache.logging.log4j.LogManager").getLogger(logger).warn(text)
    err, deadline = "", time.monotonic() + 30
    while text not in err and time.monotonic() < deadline:
        time.sleep(0.05)
        err += capfd.readouterr().err
    return err


def test_a_stage_with_a_large_task_binary_leaves_no_line_and_other_scheduler_warnings_still_show(
    spark, capfd
):
    """A task binary over Spark's 1,000 KiB mark (here a literal of 1.2 MB in the plan) is noted by the
    DAGScheduler at WARN; a quiet session drops that one note (clvlake's own plans no longer cause it), nothing
    else the scheduler logs."""
    huge = F.lit("x" * 1_200_000)
    rows = (
        spark.range(4).repartition(2).select(F.length(F.concat(F.col("id").cast("string"), huge)).alias("n"))
    )
    assert rows.agg(F.sum("n")).first()[0] == 4 * 1_200_001
    scheduler = "org.apache.spark.scheduler.DAGScheduler"
    err = warned_through_the_jvm(spark, capfd, scheduler, "a scheduler warning after the stage")
    assert "WARN DAGScheduler: a scheduler warning after the stage" in err, err
    assert "Broadcasting large task binary" not in err


def test_a_local_master_runs_on_the_cores_it_names_or_on_the_machines():
    assert [local_cores(m) for m in ("local", "local[3]", "local[4,2]")] == [1, 3, 4]
    assert local_cores("local[*]") == local_cores("spark://elsewhere:7077") >= 1


def test_the_tasks_of_a_log_replay_and_a_listing_follow_the_cores_up_to_their_defaults():
    snapshot, listing = TASKS_PER_CORE_SETTINGS
    assert sized_to_cores(2) == {snapshot: "2", listing: "2"}
    assert sized_to_cores(400) == {snapshot: "50", listing: "400"}


@pytest.mark.parametrize(
    ("master", "shuffle_partitions", "expected"),
    [("local[2]", 8, "2"), ("local[16]", 8, "8"), ("local", 8, "1")],
)
def test_frames_of_driver_side_data_get_a_partition_per_core_up_to_the_shuffle_partitions(
    master, shuffle_partitions, expected, tmp_path
):
    settings = SparkSettings(master, "t", shuffle_partitions, "1g", {}, "")
    assert local_session_conf(settings, str(tmp_path))["spark.default.parallelism"] == expected


def test_a_provided_session_keeps_what_it_sets_and_gets_its_cores_for_the_rest(spark):
    snapshot, listing = TASKS_PER_CORE_SETTINGS
    before = {key: spark.conf.get(key) for key in TASKS_PER_CORE_SETTINGS}
    try:
        spark.conf.unset(snapshot)
        spark.conf.set(listing, "7")  # as the cluster's own settings would
        assert with_tasks_per_core(spark) == [snapshot]
        assert spark.conf.get(snapshot) == str(spark.sparkContext.defaultParallelism)
        assert spark.conf.get(listing) == "7"
    finally:
        for key, value in before.items():
            spark.conf.set(key, value)


def worker_origin(batches):
    """In a Python worker: the module its daemon ran as (a forked worker keeps the daemon's `__main__`) and
    whether XGBoost is imported."""
    for _ in batches:
        pass
    daemon = sys.modules["__main__"].__spec__.name
    yield pd.DataFrame({"daemon": [daemon], "xgboost": ["xgboost.spark" in sys.modules]})


def test_local_python_workers_are_forked_from_a_daemon_that_imported_xgboost(spark):
    rows = (
        spark.range(4).repartition(2).mapInPandas(worker_origin, "daemon string, xgboost boolean").collect()
    )

    assert [(row["daemon"], row["xgboost"]) for row in rows] == [("clvlake.python_daemon", True)] * 2


def test_workers_of_another_interpreter_keep_pysparks_daemon(monkeypatch):
    monkeypatch.setenv("PYSPARK_PYTHON", "/opt/other/bin/python3")
    assert python_daemon_conf() == {}
    monkeypatch.setenv("PYSPARK_PYTHON", sys.executable)
    assert python_daemon_conf() == {"spark.python.daemon.module": "clvlake.python_daemon"}
