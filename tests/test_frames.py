"""`computed_once` keeps the rows it computed when the table they were read from changes; `release` frees them;
`local_frame` makes the frame a Python list makes, read in the JVM."""

from __future__ import annotations

from datetime import date, datetime

import pytest
from chispa import assert_df_equality
from pyspark import StorageLevel

from clvlake import schemas
from clvlake.frames import computed_once, local_frame, release


def checked_against(spark, path: str):
    """New keys 5..9 with the silver key each one matches (null: not in silver yet), as ingest's checks read them."""
    silver = spark.read.format("delta").load(path).withColumnRenamed("k", "seen")
    new = spark.range(5, 10).withColumnRenamed("id", "k")
    return new.join(silver, new.k == silver.seen, "left")


def test_rows_computed_once_stay_as_computed_after_a_write_to_the_table_they_read(spark, tmp_path):
    path = str(tmp_path / "silver")
    spark.range(0, 7).withColumnRenamed("id", "k").write.format("delta").save(path)
    once = computed_once(checked_against(spark, path))
    cached = checked_against(spark, path).persist(StorageLevel.DISK_ONLY)
    new_keys = spark.range(7, 10).withColumnRenamed("id", "k")
    assert_df_equality(cached.where("seen IS NULL").select("k").orderBy("k"), new_keys)

    new_keys.write.format("delta").mode("append").save(path)

    assert_df_equality(once.where("seen IS NULL").select("k").orderBy("k"), new_keys)
    # what `persist()` gives instead: Spark recomputed the cached rows against the table as it is now
    assert cached.where("seen IS NULL").isEmpty()
    cached.unpersist()
    release(once)


def test_release_drops_the_rows_from_disk(spark):
    def stored_rdds() -> set[int]:
        return {info.id() for info in spark.sparkContext._jsc.sc().getRDDStorageInfo()}

    before = stored_rdds()
    once = computed_once(spark.range(1000))
    (stored,) = stored_rdds() - before  # earlier tests' rows may go meanwhile (Spark's cleaner), none come
    release(once)
    assert stored not in stored_rdds()


def test_a_local_frame_holds_what_a_lists_frame_holds_and_no_python_rdd_reads_it(spark):
    rows = [
        (
            date(2025, 1, 1),
            "ingest-2025-01-01",
            "orders",
            "b1",
            2,
            10,
            7,
            2,
            1,
            0.2,
            {"unknown_order": 2},
            {"channel": 0.5},
            0,
            {},
        ),
        (
            date(2025, 1, 1),
            "ingest-2025-01-01",
            "sessions",
            "b2",
            1,
            0,
            0,
            0,
            0,
            float("nan"),
            None,
            {},
            None,
            None,
        ),
    ]
    local, listed = (
        local_frame(spark, rows, schemas.QUALITY_CHECKS),
        spark.createDataFrame(rows, schemas.QUALITY_CHECKS),
    )
    assert_df_equality(local.orderBy("source"), listed.orderBy("source"), allow_nan_equality=True)
    assert_df_equality(
        local_frame(spark, [], schemas.QUALITY_CHECKS), spark.createDataFrame([], schemas.QUALITY_CHECKS)
    )

    def plan(df) -> str:
        return df._jdf.queryExecution().executedPlan().toString()

    assert "LocalTableScan" in plan(local) and "ExistingRDD" in plan(listed)  # the list's rows: a Python RDD
    with pytest.raises(ValueError, match=r"no timestamp columns: \['modification_time'\]"):
        local_frame(spark, [("orders", "p", 1, datetime(2025, 1, 1), "r")], schemas.INGESTED_FILES)
