"""Customers: the newest CRM record of a customer wins (SCD type 1), by landing file order, idempotently."""

import os
from datetime import date
from pathlib import Path

import pytest

from clvlake.ingest import run as ingest
from clvlake.ingest.pseudonymise import customer_key
from clvlake.lake import Lake
from clvlake.reporting.export import export_campaign
from tests.support.config import make_config
from tests.support.landing import CUSTOMERS_HEADER, POS_HEADER, email, mapping_file
from tests.support.scores import score_rows

DAY1, DAY2 = date(2025, 1, 1), date(2025, 1, 2)
C1_CONSENTS = "C1,2024-02-01T10:00:00Z,organic,DE,c1@example.com,Ann,true"
C1_OPTS_OUT = "C1,2024-02-01T10:00:00Z,organic,DE,c1@example.com,Ann,false"
C2 = "C2,2024-02-02T10:00:00Z,ads,FR,c2@example.com,Bob,true"


def deliver(cfg, name: str, lines: list[str]) -> Path:
    path = Path(cfg.lake.landing) / "customers" / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([CUSTOMERS_HEADER, *lines]) + "\n")
    return path


def consent(spark, lake: Lake, salt: str) -> dict[str, bool]:
    keys = {customer_key_of(spark, c, salt): c for c in ("C1", "C2")}
    return {keys[r["customer_key"]]: r["marketing_consent"] for r in lake.read("customers").collect()}


def customer_key_of(spark, customer_id: str, salt: str) -> str:
    from pyspark.sql import functions as F

    return spark.range(1).select(customer_key(F.lit(customer_id), salt)).first()[0]


def customers_counts(spark, cfg, as_of):
    counts = {c.source: c for c in ingest.run(spark, cfg, as_of)["sources"]}["customers"]
    return counts.read, counts.accepted, counts.quarantined, counts.duplicate


@pytest.fixture
def cfg(tmp_path):
    """A lake of customers and one transactions file: with a transactions feed, the other sources are optional."""
    cfg = make_config(tmp_path, ingest={"transaction_sources": [mapping_file(tmp_path)]})
    pos = Path(cfg.lake.landing) / "pos" / "pos.txt"
    pos.parent.mkdir(parents=True)
    pos.write_text(f"{POS_HEADER}\nC1  01.03.2024  10.00  1\n")
    return cfg


def export(spark, lake: Lake, cfg, day) -> dict[str, bool]:
    """The campaign export of scores for C1 and C2 on `day`: customer → email_allowed."""
    names = {customer_key_of(spark, c, cfg.privacy.salt): c for c in ("C1", "C2")}
    lake.replace_partition(score_rows(spark, day, list(names)), "clv_scores", day)
    folder = export_campaign(lake, cfg, day)["parquet"]
    return {names[r["customer_key"]]: r["email_allowed"] for r in spark.read.parquet(folder).collect()}


@pytest.mark.slow  # three ingests and two exports
def test_a_later_opt_out_updates_silver_and_the_next_export_and_an_older_redelivery_changes_nothing(
    spark, cfg
):
    lake = Lake(spark, cfg.lake.root)
    salt = cfg.privacy.salt
    first = deliver(cfg, "customers_2025-01-01.csv", [C1_CONSENTS, C2])
    assert customers_counts(spark, cfg, DAY1) == (2, 2, 0, 0)
    assert consent(spark, lake, salt) == {"C1": True, "C2": True}
    assert export(spark, lake, cfg, DAY1) == {"C1": True, "C2": True}

    deliver(cfg, "customers_2025-01-02.csv", [C1_OPTS_OUT])
    events = Path(cfg.lake.landing) / "email_events" / "email_events_2025-01-02.jsonl"
    events.parent.mkdir(parents=True)
    events.write_text(email("E1", "C2", "unsubscribe", "2025-01-01T18:00:00Z") + "\n")
    assert customers_counts(spark, cfg, DAY2) == (1, 1, 0, 0)  # an update is accepted, not a duplicate
    assert consent(spark, lake, salt) == {"C1": False, "C2": True}
    assert lake.read("customers").count() == 2
    assert export(spark, lake, cfg, DAY2) == {"C2": False}  # C1 opted out; C2 may be contacted, not e-mailed

    version = lake.version("customers")
    first.write_text(first.read_text())  # the older file delivered again (a new modification time)
    os.utime(first, (1e9 + 10, 2e9))
    # C1's record is older than silver's: a duplicate; C2's is silver's own (same file): accepted, unchanged
    assert customers_counts(spark, cfg, DAY2) == (2, 1, 0, 1)
    assert consent(spark, lake, salt) == {"C1": False, "C2": True}
    assert lake.version("customers") == version  # nothing changed, nothing committed


def test_within_one_run_the_record_of_the_later_file_wins(spark, cfg):
    lake = Lake(spark, cfg.lake.root)
    deliver(cfg, "customers_2025-01-02.csv", [C1_OPTS_OUT])
    deliver(cfg, "customers_2025-01-01.csv", [C1_CONSENTS, C2])
    assert customers_counts(spark, cfg, DAY2) == (3, 2, 0, 1)
    assert consent(spark, lake, cfg.privacy.salt) == {"C1": False, "C2": True}
    files = {r["_source_file"].rsplit("/", 1)[-1] for r in lake.read("customers").collect()}
    assert files == {"customers_2025-01-01.csv", "customers_2025-01-02.csv"}
