"""Table layout from the catalogue (clustered silver, statistics only where no clear text is, old lakes upgraded),
first writes, and writes under concurrent commits."""

from __future__ import annotations

import json
import logging
import threading
import time
from datetime import date, datetime, timedelta
from decimal import Decimal
from pathlib import Path

import pyarrow as pa
import pytest
from chispa import assert_df_equality
from delta.exceptions.captured import ConcurrentAppendException
from delta.tables import DeltaTable
from deltalake import write_deltalake
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clvlake import lake as lake_module
from clvlake import lease, schemas
from clvlake.catalog import TABLES, table_properties
from clvlake.errors import ConflictError, InputError
from clvlake.frames import local_frame
from clvlake.lake import Lake, session_conf

ORDER = (
    "O1",
    "k1",
    datetime(2024, 3, 1, 12),
    "web",
    "EUR",
    *(Decimal(v) for v in ("10.00", "0.00", "1.00", "4.00")),
    2,
    "books",
    date(2024, 3, 1),
    "file:/landing/orders/orders_2024-03.csv",
    "ingest-2024-04-01",
)


def detail(lake: Lake, table: str):
    return lake.spark.sql(f"DESCRIBE DETAIL delta.`{lake.path(table)}`").first()


def stats_columns(lake: Lake, table: str) -> set[str]:
    """Every column named in the statistics of the table's Delta log."""
    names = set()
    for commit in Path(lake.path(table), "_delta_log").glob("*.json"):
        for line in commit.read_text().splitlines():
            stats = json.loads(line).get("add", {}).get("stats")
            if stats:
                names |= set(json.loads(stats)["minValues"])
    return names


def test_new_tables_take_the_catalogue_layout(spark, tmp_path):
    lake = Lake(spark, str(tmp_path / "lake"))
    for table in ("orders", "orders_raw", "clv_scores"):
        lake.ensure(table)
        properties = detail(lake, table)["properties"]
        assert properties.items() >= table_properties(TABLES[table]).items(), table
    assert detail(lake, "orders")["clusteringColumns"] == ["customer_key", "event_date"]
    assert detail(lake, "orders")["partitionColumns"] == []
    assert detail(lake, "orders_raw")["partitionColumns"] == []
    assert detail(lake, "clv_scores")["partitionColumns"] == ["score_date"]


def test_bronze_statistics_name_only_the_file_and_date(spark, tmp_path):
    lake = Lake(spark, str(tmp_path / "lake"))
    raw = {c: f"clear-{c}" for c in schemas.ORDERS_RAW_COLUMNS}
    row = {
        **raw,
        "_corrupt_record": None,
        "_source_file": "file:/landing/orders/a.csv",
        "_ingested_at": datetime(2025, 1, 1),
        "ingest_date": date(2025, 1, 1),
    }
    lake.append(spark.createDataFrame([row], TABLES["orders_raw"].schema), "orders_raw")
    assert stats_columns(lake, "orders_raw") == {"_source_file", "ingest_date"}


def test_a_lake_in_the_old_layout_is_upgraded_in_place_on_first_write(spark, tmp_path):
    lake = Lake(spark, str(tmp_path / "lake"))
    old = spark.createDataFrame([ORDER], schemas.ORDERS)
    old.write.format("delta").partitionBy("event_date").save(lake.path("orders"))  # the layout before 2026-12

    new = spark.createDataFrame([("O2", *ORDER[1:])], schemas.ORDERS)
    lake.merge_new(new, "orders")

    assert detail(lake, "orders")["partitionColumns"] == []
    assert detail(lake, "orders")["clusteringColumns"] == ["customer_key", "event_date"]
    assert detail(lake, "orders")["properties"]["delta.autoOptimize.optimizeWrite"] == "true"
    assert_df_equality(lake.read("orders"), old.unionByName(new), ignore_row_order=True, ignore_nullable=True)


def orders_frame(spark, *rows: tuple):
    return spark.createDataFrame(list(rows), schemas.ORDERS)


def test_a_first_write_appends_and_a_rerun_replaces_only_its_rows(spark, tmp_path):
    lake = Lake(spark, str(tmp_path / "lake"))
    other = ORDER[:-2] + ("file:/landing/orders/other.csv", ORDER[-1])
    lake.replace_where(
        orders_frame(spark, ("O0", *other[1:])), "orders", "_source_file = 'file:/landing/orders/other.csv'"
    )
    predicate = f"_source_file = '{ORDER[-2]}'"
    lake.replace_where(orders_frame(spark, ORDER), "orders", predicate)
    lake.replace_where(orders_frame(spark, ORDER), "orders", predicate)
    history = spark.sql(f"DESCRIBE HISTORY delta.`{lake.path('orders')}`").orderBy("version").collect()
    assert [r["operationParameters"]["mode"] for r in history if r["operation"] == "WRITE"] == [
        "Append",
        "Append",
        "Overwrite",
    ]
    assert sorted(r["order_id"] for r in lake.read("orders").collect()) == ["O0", "O1"]


def test_a_row_outside_the_predicate_fails_a_first_write_too(spark, tmp_path):
    lake = Lake(spark, str(tmp_path / "lake"))
    with pytest.raises(Exception, match="orders: a row to write is outside _source_file = 'elsewhere'"):
        lake.replace_where(orders_frame(spark, ORDER), "orders", "_source_file = 'elsewhere'")
    assert lake.read("orders").isEmpty()


def test_two_writers_that_both_found_no_rows_append_once(spark, tmp_path, monkeypatch):
    """The second writer checked before the first committed: it still sees the table version both checked."""
    lake = Lake(spark, str(tmp_path / "lake"))
    lake.ensure("orders")
    checked_at = lake.version("orders")
    monkeypatch.setattr(Lake, "version", lambda self, table: checked_at)
    predicate = f"_source_file = '{ORDER[-2]}'"
    for _ in range(2):
        assert lake.append_if_none(orders_frame(spark, ORDER), "orders", predicate)
    assert lake.read("orders").count() == 1


def test_two_writers_that_both_created_the_table_append_once(spark, tmp_path):
    """A writer whose `ensure` created the table appends without looking for rows; a second writer that also
    believed it created it (its create found the table there) is skipped by the same transaction id."""
    lake = Lake(spark, str(tmp_path / "lake"))
    assert lake.ensure("orders")
    assert not lake.ensure("orders")
    predicate = f"_source_file = '{ORDER[-2]}'"
    for _ in range(2):
        assert lake.append_if_none(orders_frame(spark, ORDER), "orders", predicate, created=True)
    assert lake.read("orders").count() == 1


def test_under_the_lake_lease_a_first_write_carries_no_transaction_id(spark, tmp_path):
    """Without the lease (a notebook calling the library) a first write ties itself to a transaction id; under the
    lease no other job writes, so the id, costly to read back, is left out, and comes back once it is freed."""
    lake = Lake(spark, str(tmp_path / "lake"))
    lake.ensure("orders")

    def actions_of_an_append(source: str) -> set[str]:  # no row has that source file yet: each call appends
        assert lake.append_if_none(orders_frame(spark, ORDER), "orders", f"_source_file = '{source}'")
        commit = Path(lake.path("orders")) / "_delta_log" / f"{lake.version('orders'):020d}.json"
        return {next(iter(json.loads(line))) for line in commit.read_text().splitlines()}

    assert "txn" in actions_of_an_append("a")
    with lease.held(lake, "pytest", timedelta(0)):
        assert "txn" not in actions_of_an_append("b")
    assert "txn" in actions_of_an_append("c")
    assert lake.read("orders").count() == 3


def test_a_table_another_process_creates_after_a_first_look_exists(spark, tmp_path):
    """Delta's `isDeltaTable` answers from the JVM's cached log of the folder; a job waiting for another job's new
    table (`Lake.ensure`) must see it (seen: the second of two `clv ingest` started at once waited in vain)."""
    lake = Lake(spark, str(tmp_path / "lake"))
    path = Path(lake.path("lease"))
    (path / "_delta_log").mkdir(parents=True)  # the other creator's folder, before its first commit
    assert not lake.exists("lease")
    write_deltalake(str(path), pa.table({"lease": ["writer"]}))  # its commit, by a writer outside this JVM
    assert lake.exists("lease")


def test_creating_a_table_whose_log_folder_another_creator_made_waits_for_it(spark, tmp_path, monkeypatch):
    """Delta takes a `_delta_log` folder without a commit for an existing table (`TABLE_OR_VIEW_ALREADY_EXISTS`;
    seen: two `clv features` at once, one failed on the lease table): `ensure` waits for the other creator's
    first commit instead of failing."""
    lake = Lake(spark, str(tmp_path / "lake"))
    path = Path(lake.path("lease"))
    (path / "_delta_log").mkdir(parents=True)  # the other creator's folder, before its first commit
    waited = []

    def the_other_creator_commits(self, table: str, seconds: float = 60.0) -> bool:
        waited.append(table)
        (path / "_delta_log").rmdir()
        lake_module.CHECKED.discard(str(path))
        assert Lake(spark, lake.root).ensure(table)
        return original(self, table, seconds)

    original = Lake.created_meanwhile
    monkeypatch.setattr(Lake, "created_meanwhile", the_other_creator_commits)
    assert not lake.ensure("lease")  # not created by this call: the other creator's table is there
    assert waited == ["lease"]
    assert lake.read("lease").schema == TABLES["lease"].schema


def test_a_merge_into_a_new_table_inserts_every_row_and_a_rerun_commits_nothing(spark, tmp_path):
    lake = Lake(spark, str(tmp_path / "lake"))
    rows = orders_frame(spark, ORDER, ("O2", *ORDER[1:]))
    first = lake.merge_new(rows, "orders")
    assert Lake(spark, lake.root).merge_new(rows, "orders") == first
    assert_df_equality(lake.read("orders"), rows, ignore_row_order=True, ignore_nullable=True)


def live_files(lake: Lake, table: str) -> list[dict]:
    """The `add` actions of the table's current version, replayed from its JSON log (no checkpoint is written
    here): within a commit the removes go first, as a deletion vector's `add` replaces its file's entry."""
    live: dict[str, dict] = {}
    for commit in sorted(Path(lake.path(table), "_delta_log").glob("*.json")):
        actions = [json.loads(line) for line in commit.read_text().splitlines()]
        for action in actions:
            live.pop(action.get("remove", {}).get("path"), None)
        live.update({a["add"]["path"]: a["add"] for a in actions if "add" in a})
    return list(live.values())


@pytest.mark.parametrize("deletion_vectors", ["never", "on", "switched off again"])
def test_deleted_rows_leave_no_deletion_vector_behind_for_the_vacuum(spark, tmp_path, deletion_vectors):
    """An erasure's delete: without deletion vectors the MERGE rewrites the file and nothing follows it; with them
    (Databricks' default) rows may be only marked deleted until REORG … APPLY (PURGE) rewrites the file, which
    the VACUUM can then drop with the old one; so too once the property is off again (vectors written before
    stay until purged)."""
    lake = Lake(spark, str(tmp_path / "lake"))
    lake.merge_new(orders_frame(spark, ORDER, ("O2", "k2", *ORDER[2:])), "orders")
    if deletion_vectors != "never":
        lake.set_properties("orders", {"delta.enableDeletionVectors": "true"})
    if deletion_vectors == "switched off again":
        lake.set_properties("orders", {"delta.enableDeletionVectors": "false"})
    subjects = spark.createDataFrame([("k1",)], "customer_key string")
    assert lake.delete_matching("orders", subjects, "t.customer_key = s.customer_key") == 1
    assert [r["order_id"] for r in lake.read("orders").collect()] == ["O2"]
    assert [f.get("deletionVector") for f in live_files(lake, "orders")] == [None]
    operations = [
        r["operation"] for r in spark.sql(f"DESCRIBE HISTORY delta.`{lake.path('orders')}`").collect()
    ]
    # off again: the MERGE rewrote the file itself, so the purge found no vector and committed nothing
    assert ("REORG" in operations) == (deletion_vectors == "on")


def test_rows_an_interrupted_erasure_only_marked_deleted_are_purged_by_its_rerun(spark, tmp_path):
    """An erasure killed between its delete and its purge leaves the subject's rows in the table's file, marked
    deleted by a deletion vector; its rerun finds no row to delete there, and still purges them."""
    lake = Lake(spark, str(tmp_path / "lake"))
    lake.merge_new(orders_frame(spark, ORDER, ("O2", "k2", *ORDER[2:])), "orders")
    lake.set_properties("orders", {"delta.enableDeletionVectors": "true"})
    # the killed run's delete, only marking the row deleted
    spark.sql(f"DELETE FROM delta.`{lake.path('orders')}` WHERE customer_key = 'k1'")
    assert [f.get("deletionVector") is not None for f in live_files(lake, "orders")] == [True]
    subjects = spark.createDataFrame([("k1",)], "customer_key string")
    assert lake.delete_matching("orders", subjects, "t.customer_key = s.customer_key") == 0
    assert [f.get("deletionVector") for f in live_files(lake, "orders")] == [None]
    assert [r["order_id"] for r in lake.read("orders").collect()] == ["O2"]


def test_a_write_that_conflicts_with_a_concurrent_commit_is_written_again(spark, tmp_path, caplog):
    """A MERGE whose source is slow: while it runs, another writer appends to the table; Delta fails the MERGE's
    commit as concurrent, and it is written again over the new version."""
    lake = Lake(spark, str(tmp_path / "lake"))
    lake.merge_new(orders_frame(spark, ORDER), "orders")
    started, committed = tmp_path / "started", tmp_path / "committed"

    @F.udf("string")
    def waiting_for_the_other_writer(order_id: str) -> str:
        started.touch()
        deadline = time.monotonic() + 60
        while not committed.exists() and time.monotonic() < deadline:
            time.sleep(0.1)
        return order_id

    def other_writer() -> None:
        while not started.exists():
            time.sleep(0.1)
        lake.append(orders_frame(spark, ("O3", *ORDER[1:])), "orders")
        committed.touch()

    writer = threading.Thread(target=other_writer)
    writer.start()
    merged = orders_frame(spark, ("O2", *ORDER[1:])).withColumn(
        "order_id", waiting_for_the_other_writer("order_id")
    )
    with caplog.at_level(logging.WARNING, logger="clvlake.lake"):
        lake.merge_new(merged, "orders")
    writer.join()
    assert "orders: a concurrent commit conflicted with this write (ConcurrentAppendException)" in caplog.text
    assert sorted(r["order_id"] for r in lake.read("orders").collect()) == ["O1", "O2", "O3"]


def test_a_write_that_keeps_conflicting_stops_naming_the_table(spark, tmp_path, monkeypatch):
    lake = Lake(spark, str(tmp_path / "lake"))
    lake.ensure("orders")

    def always_conflicting(*_args):
        raise ConcurrentAppendException("[DELTA_CONCURRENT_APPEND] files were added by an update", "(trace)")

    monkeypatch.setattr(lake_module, "CONFLICT_PAUSE_SECONDS", 0.0)
    monkeypatch.setattr(Lake, "merge", always_conflicting)
    with pytest.raises(
        ConflictError, match=r"table 'orders': another job's commits conflicted with this write 4"
    ):
        lake.merge_new(orders_frame(spark, ORDER), "orders", update_existing=True)


def test_the_version_read_from_the_jvm_log_is_the_tables_latest_and_so_is_the_connect_fallback(
    spark, tmp_path, monkeypatch
):
    lake = Lake(spark, str(tmp_path / "lake"))
    lake.merge_new(orders_frame(spark, ORDER), "orders")
    writer = Lake(spark, lake.root)  # another writer commits: the first Lake's next read sees it
    writer.merge_new(orders_frame(spark, ("O2", *ORDER[1:])), "orders")
    latest = DeltaTable.forPath(spark, lake.path("orders")).history(1).first()["version"]
    assert latest == 2
    assert lake.version("orders") == latest
    monkeypatch.setattr(Lake, "delta_log", lambda self, table: None)  # no JVM, as under Spark Connect
    assert lake.version("orders") == latest


def test_catalog_mode_creates_each_table_under_its_name_at_its_folder_and_writes_by_name(spark, tmp_path):
    lake = Lake(spark, str(tmp_path / "lake"), "`clv_catalog_a`")
    lake.merge_new(orders_frame(spark, ORDER, ("O2", *ORDER[1:])), "orders")  # creates the table
    lake.merge_new(orders_frame(spark, ("O3", *ORDER[1:])), "orders")  # a MERGE into it
    moved = ("O3", *ORDER[1:3], "app", *ORDER[4:])
    lake.replace_where(orders_frame(spark, moved), "orders", "order_id = 'O3'")  # replaceWhere
    expected = orders_frame(spark, ORDER, ("O2", *ORDER[1:]), moved)
    by_name = spark.table("clv_catalog_a.orders")
    assert_df_equality(by_name, expected, ignore_row_order=True, ignore_nullable=True)
    assert_df_equality(lake.read("orders"), expected, ignore_row_order=True, ignore_nullable=True)
    named = spark.sql("DESCRIBE DETAIL clv_catalog_a.orders").first()
    assert lake_module.same_location(named["location"], lake.path("orders"))
    assert named["clusteringColumns"] == ["customer_key", "event_date"]


def test_catalog_mode_registers_the_tables_of_a_lake_written_in_path_mode(spark, tmp_path):
    rows = orders_frame(spark, ORDER)
    Lake(spark, str(tmp_path / "lake")).merge_new(rows, "orders")
    lake = Lake(spark, str(tmp_path / "lake"), "`clv_catalog_b`")
    assert lake.register_all() == ["orders"]
    assert_df_equality(spark.table("clv_catalog_b.orders"), rows, ignore_nullable=True)
    assert_df_equality(lake.read("orders"), rows, ignore_nullable=True)


def test_a_schema_whose_table_name_stands_for_another_lakes_table_is_an_error(spark, tmp_path):
    Lake(spark, str(tmp_path / "one"), "`clv_catalog_c`").merge_new(orders_frame(spark, ORDER), "orders")
    other = Lake(spark, str(tmp_path / "two"), "`clv_catalog_c`")
    with pytest.raises(
        InputError, match=r"catalog table `clv_catalog_c`.`orders` is the table at \S+one/silver/"
    ):
        other.merge_new(orders_frame(spark, ORDER), "orders")
    assert not other.exists("orders")


@pytest.mark.parametrize(
    "a, b, same",
    [
        ("file:/lake/silver/orders", "/lake/silver/orders/", True),
        ("file:///lake/silver/orders", "file:/lake/silver/orders", True),
        ("s3a://bucket/lake/silver/orders/", "s3a://bucket/lake/silver/orders", True),
        ("file:/lake/silver/orders", "/other/silver/orders", False),
    ],
)
def test_a_catalog_tables_location_is_compared_without_its_file_scheme(a, b, same):
    assert lake_module.same_location(a, b) is same


def test_a_setting_two_calls_hold_at_once_stays_until_the_last_ends_and_is_then_put_back(spark):
    """Erasure's parallel deletions each hold a MERGE setting: the first to end must not take it from the others."""
    key = "spark.clvlake.test.held"
    first, second = session_conf(spark, key, "on"), session_conf(spark, key, "on")
    first.__enter__()
    second.__enter__()
    with pytest.raises(RuntimeError, match="another thread holds it at on"):
        session_conf(spark, key, "off").__enter__()
    first.__exit__(None, None, None)
    assert spark.conf.get(key) == "on"
    second.__exit__(None, None, None)
    assert spark.conf.get(key, None) is None


def test_partitions_of_several_tables_are_replaced_in_threads_with_one_commit_each(
    spark, tmp_path, monkeypatch
):
    """`replace_partitions` replaces one run date of monitor_checks and of realised_vs_predicted, each table's rows
    built and written in a thread of its own: each table then holds its new rows in that partition beside the
    earlier date's, after one commit whose version it returns."""
    lake = Lake(spark, str(tmp_path / "lake"))
    earlier, day = date(2026, 1, 1), date(2026, 1, 2)

    def tables(run_date: date, value: float) -> dict[str, DataFrame]:
        return {
            "monitor_checks": local_frame(
                spark, [(run_date, "score", "rows", value, 1.0, False, "ok")], schemas.MONITOR_CHECKS
            ),
            "realised_vs_predicted": local_frame(
                spark, [(run_date, earlier, "gbt_hurdle", "rmse", value)], schemas.REALISED_VS_PREDICTED
            ),
        }

    built_in = []  # the threads the builders ran in

    def builders(frames: dict[str, DataFrame]) -> dict:
        def builder(rows: DataFrame):
            def build() -> DataFrame:
                built_in.append(threading.current_thread().name)
                return rows

            return build

        return {table: builder(rows) for table, rows in frames.items()}

    lake.replace_partitions(builders(tables(earlier, 1.0)), earlier)
    lake.replace_partitions(builders(tables(day, 2.0)), day)
    before = {table: lake.version(table) for table in tables(day, 0.0)}
    threads = []
    write = lake.replace_partition

    def recorded(df, table, value):
        threads.append(threading.current_thread().name)
        return write(df, table, value)

    monkeypatch.setattr(lake, "replace_partition", recorded)
    built_in.clear()
    versions = lake.replace_partitions(builders(tables(day, 3.0)), day)

    assert versions == {table: before[table] + 1 for table in before}
    assert len(threads) == 2 and all(name.startswith("clvlake-write") for name in threads)
    assert sorted(built_in) == sorted(threads)  # each table's rows built in its write's thread
    for table, expected in tables(day, 3.0).items():
        assert versions[table] == lake.version(table)
        assert_df_equality(
            lake.read(table), tables(earlier, 1.0)[table].unionByName(expected), ignore_row_order=True
        )
