"""Good rows of every source (and a mapped transactions file) mixed with 44 bad rows of 24 rules (and duplicates).

One ingest run, then a second over the same files: every count balances, every bad row is in quarantine
under its rule, a transactions file lands in orders, and the second run changes nothing at all. `clv ingest` of
the same files SIGKILLed part-way and rerun, or run twice at once, leaves every table as that one run did.
"""

from __future__ import annotations

from datetime import date, timedelta
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from clvlake import lease
from clvlake.config import load_config
from clvlake.errors import QualityError
from clvlake.ingest import run as ingest
from clvlake.lake import Lake
from tests.support.config import make_config, write_config
from tests.support.lake import snapshot
from tests.support.landing import BAD_LINES, GOOD, expected_counts, mapping_file, write_landing
from tests.support.process import kill_when, start_clv, wait_until

AS_OF = date(2025, 1, 1)


def ingest_settings(root: Path) -> dict:
    return {"max_quarantine_rate": 0.9, "transaction_sources": [mapping_file(root)]}


@pytest.fixture(scope="module")
def ingested(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("fuzz")
    cfg = make_config(root, ingest=ingest_settings(root))
    write_landing(Path(cfg.lake.landing))
    lake = Lake(spark, cfg.lake.root)
    first = ingest.run(spark, cfg, AS_OF)
    after_first = snapshot(lake)
    versions = {t: lake.version(t) for t in after_first}
    second = ingest.run(spark, cfg, AS_OF)
    return cfg, lake, first, second, after_first, versions


def test_there_are_at_least_20_kinds_of_bad_rows_across_sources():
    """Kinds are distinct rules (the same rule in two sources counts once), plus exact duplicates."""
    assert len({b.rule for b, _ in BAD_LINES} | {"duplicate"}) >= 20


def test_every_source_balances(ingested):
    _, lake, first, _, _, _ = ingested
    counts = {c.source: c for c in first["sources"]}
    for source, (read, accepted, quarantined, duplicate) in expected_counts().items():
        c = counts[source]
        assert c.read == c.accepted + c.quarantined + c.duplicate, source
        assert (c.read, c.accepted, c.quarantined, c.duplicate) == (read, accepted, quarantined, duplicate), (
            source
        )
    quality = {r["source"]: r for r in lake.read("quality_checks").collect()}
    assert {
        s: (q["rows_read"], q["rows_accepted"], q["rows_quarantined"], q["rows_duplicate"])
        for s, q in quality.items()
    } == expected_counts()
    assert quality["orders"]["quarantined_by_rule"]["malformed_line"] == 2  # too few fields, an open quote
    assert quality["support_tickets"]["null_rates"]["satisfaction"] == 0.5


def test_each_bad_row_is_in_quarantine_under_its_rule(ingested):
    _, lake, _, _, _, _ = ingested
    quarantine = lake.read("quarantine").collect()
    assert len(quarantine) == len(BAD_LINES)
    for bad, _ in BAD_LINES:
        found = [q for q in quarantine if q["source"] == bad.source and bad.marker in q["raw_record"]]
        assert [q["rule"] for q in found] == [bad.rule], bad
        assert found[0]["reason"] and found[0]["run_id"] == "ingest-2025-01-01"
        assert found[0]["ingest_date"] == AS_OF


def test_bronze_keeps_every_landed_row(ingested):
    _, lake, first, _, _, _ = ingested
    counts = {c.source: c.read for c in first["sources"]}
    for source in ("orders", "refunds", "sessions", "email_events", "support_tickets", "customers"):
        assert lake.read(f"{source}_raw").count() == counts[source], source
    assert lake.read("transactions_raw").count() == counts["pos_transactions"]


def test_transactions_file_lands_in_orders(ingested):
    cfg, lake, _, _, _, _ = ingested
    pos = lake.read("orders").where("channel = 'store'").orderBy("order_ts", "order_id").collect()
    assert len(pos) == len(GOOD["pos_transactions"])
    assert [(str(r["gross_amount"]), r["items"], r["event_date"]) for r in pos] == [
        ("12.50", 2, date(2024, 3, 5)),
        ("7.00", 1, date(2024, 3, 6)),
        ("7.00", 1, date(2024, 3, 6)),
    ]
    assert all(r["order_id"].startswith("TX") and r["currency"] == "EUR" for r in pos)
    assert str(pos[0]["discount_amount"]) == "0.00" and pos[0]["_source_file"].endswith("pos_2024-04.txt")


def test_second_run_reads_nothing_and_changes_nothing(ingested):
    _, lake, _, second, after_first, versions = ingested
    assert all(c.files == 0 and c.read == 0 for c in second["sources"])
    assert snapshot(lake) == after_first
    assert {t: lake.version(t) for t in after_first} == versions


def test_quarantine_threshold_stops_the_job_naming_source_and_rules(spark, tmp_path):
    # most orders are bad (80 %); of every other source but refunds, at most 62 %
    cfg = make_config(tmp_path, ingest={"max_quarantine_rate": 0.7})
    write_landing(Path(cfg.lake.landing))
    read, _, quarantined, _ = expected_counts()["orders"]
    lake = Lake(spark, cfg.lake.root)
    with pytest.raises(
        QualityError,
        match=rf"source 'orders': {quarantined} of {read} rows .*top rules: "
        r"malformed_line \(2\), non_positive_quantity \(2\), \w+ \(1\)",
    ):
        ingest.run(spark, cfg, AS_OF)
    assert not lake.exists("orders")  # nothing of the source was loaded
    orders = F.col("source") == "orders"
    assert lake.read("quarantine").where(orders).count() == quarantined
    assert lake.read("quality_checks").where(orders).first()["rows_read"] == read
    # its files, and those of the refunds checked against it, are read again by the next run; the sources of
    # the other tables were loaded
    read_files = {r["source"] for r in lake.read("ingested_files").select("source").distinct().collect()}
    assert read_files == {"sessions", "email_events", "support_tickets", "customers"}
    assert not lake.exists("refunds")


def config_reading(root: Path, landing: Path) -> Path:
    """A config of a new lake under `root` that reads the shared landing files."""
    return write_config(root, ingest=ingest_settings(root), lake={"landing": str(landing)})


def ingest_args(conf: Path) -> list[str]:
    return ["ingest", "--conf", str(conf), "--as-of", AS_OF.isoformat()]


@pytest.mark.slow
def test_killed_and_rerun_equals_uninterrupted(spark, tmp_path, ingested):
    cfg, _, _, _, expected, _ = ingested
    assert set(expected) >= {"orders", "quarantine", "customer_identity", "ingested_files", "orders_raw"}
    landing = Path(cfg.lake.landing)
    conf = config_reading(tmp_path, landing)
    killed_cfg = load_config(conf)
    killed = Lake(spark, killed_cfg.lake.root)

    # SIGKILLed as soon as silver `orders` has its first MERGE
    first_merge = Path(killed.path("orders")) / "_delta_log" / f"{1:020d}.json"
    kill_when(start_clv(ingest_args(conf), tmp_path / "scratch"), first_merge.exists)
    assert killed.exists("orders") and not killed.exists("ingested_files")  # killed part-way
    ingest.run(spark, killed_cfg, AS_OF)
    assert snapshot(killed) == expected


@pytest.mark.slow
def test_two_ingests_at_once_equal_one(spark, tmp_path, ingested):
    """Both read the same new files; the lake's lease lets one load them while the other waits, then finds
    them loaded (without it both would load them, and log them as read twice). The test holds the lease until
    both wait for it, so that they surely overlap however slowly either process starts."""
    cfg, _, _, _, expected, _ = ingested
    landing = Path(cfg.lake.landing)
    conf = config_reading(tmp_path, landing)
    lake = Lake(spark, load_config(conf).lake.root)
    logs = [tmp_path / f"clv-{n}.log" for n in (1, 2)]
    with lease.held(lake, "pytest", timedelta(0)):
        outputs = [log.open("w") for log in logs]
        runs = [start_clv(ingest_args(conf), tmp_path / f"scratch-{n}", out) for n, out in enumerate(outputs)]
        for out in outputs:
            out.close()  # each process writes to its own copy
        waiting = "waiting for the lake: it is being written by clv pytest"
        wait_until(lambda: all(waiting in log.read_text() for log in logs), runs)
    for run in runs:
        run.wait(timeout=900)
    texts = [log.read_text() for log in logs]
    assert [run.returncode for run in runs] == [0, 0], texts
    assert sum("waiting for the lake: it is being written by clv ingest" in text for text in texts) == 1, (
        texts
    )
    assert snapshot(lake) == expected
