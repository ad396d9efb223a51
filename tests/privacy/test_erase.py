"""`clv erase`: after ingest (+ features), one subject is gone from every table, every file and old version."""

from __future__ import annotations

import re
from datetime import date
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from clvlake.catalog import TABLES
from clvlake.cli import main
from clvlake.config import load_config
from clvlake.features import run as features
from clvlake.ingest import run as ingest
from clvlake.ingest.pseudonymise import customer_key
from clvlake.lake import Lake
from clvlake.privacy.erase import token_pattern
from tests.support.config import write_config
from tests.support.landing import ERASED_ID, mapping_file, write_landing

AS_OF = date(2025, 1, 1)
PII = (b"cy@example.com", b"Cy Dee")


def subject_rows(df, pattern: str, key: str) -> int:
    """Rows whose any field holds the subject: its key, or its id as a token in any text."""
    text = F.to_json(F.struct(*df.columns))
    return df.where(text.rlike(pattern) | text.contains(key)).count()


@pytest.fixture(scope="module")
def erased(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("erase")
    conf = write_config(
        root,
        ingest={"max_quarantine_rate": 0.9, "transaction_sources": [mapping_file(root)]},
        privacy={"vacuum_retention_hours": 0},
    )
    cfg = load_config(conf)
    write_landing(Path(cfg.lake.landing))
    lake = Lake(spark, cfg.lake.root)
    ingest.run(spark, cfg, AS_OF)
    features.run(spark, cfg, AS_OF)
    key = spark.range(1).select(customer_key(F.lit(ERASED_ID), cfg.privacy.salt)).first()[0]
    pattern = token_pattern(ERASED_ID)
    before = {t: subject_rows(lake.read(t), pattern, key) for t in TABLES if lake.exists(t)}
    versions = {t: lake.version(t) for t in before}
    assert main(["erase", "--conf", str(conf), "--customer-id", ERASED_ID]) == 0
    return cfg, lake, key, pattern, before, versions


def test_the_subject_was_everywhere_before(erased):
    _, _, _, _, before, _ = erased
    for table in ("orders_raw", "customers_raw", "transactions_raw", "orders", "customers", "quarantine"):
        assert before[table] > 0, table
    assert before["customer_features"] == 1 and before["customer_identity"] == 1


def test_no_table_holds_the_subject_and_others_stay(erased):
    _, lake, key, pattern, before, _ = erased
    for table in before:
        assert subject_rows(lake.read(table), pattern, key) == 0, table
    assert lake.read("orders").count() > 0 and lake.read("customer_identity").count() == 2


def test_old_versions_and_files_no_longer_hold_the_subject(spark, erased):
    _, lake, key, pattern, before, versions = erased
    for table in (t for t, rows in before.items() if rows):
        # time travel to the last version before the erasure: vacuumed, so it cannot come back
        old = spark.read.format("delta").option("versionAsOf", versions[table]).load(lake.path(table))
        try:
            found = subject_rows(old, pattern, key)
        except Exception as err:  # noqa: BLE001 - a vacuumed version cannot be read at all: that is the point
            assert re.search("(?i)file.?not.?found|does not exist", str(err)), err
            found = 0
        assert found == 0, table
        # and no data file left on disk, of any version, holds the subject
        files = [str(f) for f in Path(lake.path(table)).rglob("*.parquet") if "_delta_log" not in f.parts]
        if files:
            assert subject_rows(spark.read.parquet(*files), pattern, key) == 0, table


def test_no_file_of_the_lake_holds_the_subjects_pii(erased):
    cfg, _, _, _, _, _ = erased
    for path in Path(cfg.lake.root).rglob("*"):
        if path.is_file():
            content = path.read_bytes()
            assert not any(p in content for p in PII), path


def test_one_audit_row_without_the_id(erased):
    _, lake, key, _, before, _ = erased
    audit = lake.read("erasure_audit").collect()
    assert len(audit) == 1
    row = audit[0]
    assert row["subjects"] == 1 and ERASED_ID not in str(row.asDict()) and key not in str(row.asDict())
    assert row["rows_removed"]["orders"] == before["orders"]
    assert set(row["tables_touched"]) == {t for t, n in before.items() if n}
