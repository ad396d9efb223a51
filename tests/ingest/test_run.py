"""The ingest job on hand-written landing files: typing, quarantine with reasons, de-duplication, idempotency."""

import hashlib
import json
import logging
import re
from datetime import date
from pathlib import Path
from urllib.parse import unquote, urlparse

import pytest
from delta.tables import DeltaTable
from pyspark.sql import functions as F

from clvlake.catalog import TABLES
from clvlake.cli import main
from clvlake.errors import InputError
from clvlake.ingest import run as ingest
from clvlake.lake import Lake
from tests.support.config import make_config, write_config

AS_OF = date(2025, 1, 1)
ORDERS_HEADER = (
    "order_id,customer_id,order_ts,channel,currency,gross_amount,discount_amount,shipping_cost,"
    "cost_of_goods,items,product_category"
)
GOOD_ORDERS = [
    "O1,C1,2024-03-01T10:00:00Z,web,EUR,100.00,10.00,4.90,50.00,2,home",
    "O2,C2,2024-03-02T11:30:00Z,app,EUR,40.50,0.00,0.00,20.00,1,toys",
    "O3,C1,2024-12-31T23:59:59Z,web,EUR,60.00,0.00,4.90,30.00,1,home",
]
BAD_ORDERS = {
    "malformed_line": "O9,C1,2024-03-01T10:00:00Z,web",
    "missing_required": "O10,,2024-03-01T10:00:00Z,web,EUR,10.00,0,0,5,1,home",
    "unparseable_timestamp": "O11,C1,01/03/2024,web,EUR,10.00,0,0,5,1,home",
    "future_timestamp": "O12,C1,2025-01-02T00:00:00Z,web,EUR,10.00,0,0,5,1,home",
    "unparseable_amount": "O13,C1,2024-03-01T10:00:00Z,web,EUR,ten,0,0,5,1,home",
    "negative_amount": "O14,C1,2024-03-01T10:00:00Z,web,EUR,-10.00,0,0,5,1,home",
    "unknown_currency": "O15,C1,2024-03-01T10:00:00Z,web,USD,10.00,0,0,5,1,home",
    "discount_exceeds_gross": "O16,C1,2024-03-01T10:00:00Z,web,EUR,10.00,20.00,0,5,1,home",
    "before_business_start": "O17,C1,2001-03-01T10:00:00Z,web,EUR,10.00,0,0,5,1,home",
}
DUPLICATE_ORDER = GOOD_ORDERS[0]


def write_lines(path: Path, lines: list[str]) -> None:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join(lines) + "\n")


def jsonl(rows: list[dict]) -> list[str]:
    return [json.dumps(r) for r in rows]


def config_without_threshold(root: Path):
    """These files are mostly bad rows on purpose: no quarantine threshold."""
    return make_config(root, ingest={"max_quarantine_rate": 1.0})


@pytest.fixture
def cfg(tmp_path):
    return config_without_threshold(tmp_path)


@pytest.fixture
def landing(cfg) -> Path:
    return write_landing(cfg)


@pytest.fixture(scope="module")
def ingested(spark, tmp_path_factory):
    """One ingest of the landing files, shared by the tests that only read what it wrote (and the rerun
    test, whose second run must change nothing): (config, lake, first run's result)."""
    cfg = config_without_threshold(tmp_path_factory.mktemp("ingested"))
    write_landing(cfg)
    return cfg, Lake(spark, cfg.lake.root), ingest.run(spark, cfg, AS_OF)


def write_landing(cfg) -> Path:
    root = Path(cfg.lake.landing)
    # the future order twice: two quarantine rows with their own ids, both resolved by the run that passes them
    orders = [ORDERS_HEADER, *GOOD_ORDERS[:2], *BAD_ORDERS.values(), BAD_ORDERS["future_timestamp"]]
    write_lines(root / "orders" / "orders_2024-03.csv", orders)
    write_lines(root / "orders" / "orders_2024-12.csv", [ORDERS_HEADER, GOOD_ORDERS[2], DUPLICATE_ORDER])
    write_lines(
        root / "refunds" / "refunds_2024-03.csv",
        ["refund_id,order_id,customer_id,refund_ts,amount", "R1,O1,C1,2024-03-10T09:00:00Z,20.00"],
    )
    write_lines(
        root / "sessions" / "sessions_2024-03.jsonl",
        jsonl(
            [
                {
                    "session_id": "S1",
                    "customer_id": "C1",
                    "session_start": "2024-03-01T09:50:00Z",
                    "device": "mobile",
                    "pages_viewed": 7,
                    "utm_source": "search",  # traffic_source, renamed by the sender
                },
                {
                    "session_id": "S2",
                    "customer_id": "C2",
                    "session_start": "2024-03-01T09:50:00Z",
                    "device": "mobile",
                    "pages_viewed": -1,
                    "traffic_source": "search",
                },
            ]
        )
        + ["{not json"],
    )
    write_lines(
        root / "email_events" / "email_events_2024-03.jsonl",
        jsonl(
            [
                {
                    "event_id": "E1",
                    "customer_id": "C1",
                    "campaign_id": "K1",
                    "event_type": "open",
                    "event_ts": "2024-03-03T08:00:00Z",
                },
                {
                    "event_id": "E2",
                    "customer_id": "C1",
                    "campaign_id": "K1",
                    "event_type": "bounce",
                    "event_ts": "2024-03-03T08:00:00Z",
                },
            ]
        ),
    )
    write_lines(
        root / "support_tickets" / "support_tickets_2024-03.jsonl",
        jsonl(
            [
                {
                    "ticket_id": "T1",
                    "customer_id": "C2",
                    "opened_ts": "2024-03-05T08:00:00Z",
                    "closed_ts": "2024-03-06T08:00:00Z",
                    "category": "delivery",
                    "satisfaction": 4,
                },
                {
                    "ticket_id": "T2",
                    "customer_id": "C2",
                    "opened_ts": "2024-03-05T08:00:00Z",
                    "closed_ts": None,
                    "category": "billing",
                    "satisfaction": 9,
                },
            ]
        ),
    )
    write_lines(
        root / "customers" / "customers_2024-02.csv",
        [
            "customer_id,signup_ts,acquisition_channel,country,email,name,marketing_consent",
            "C1,2024-02-01T10:00:00Z,organic,DE,ann@example.com,Ann Berg,true",
            "C2,2024-02-03T10:00:00Z,social,FR,bob@example.com,Bob Roy,false",
        ],
    )
    return root


def test_orders_are_typed_deduplicated_and_quarantined_with_their_rule(ingested):
    _, lake, result = ingested
    counts = {c.source: c for c in result["sources"]}

    orders = counts["orders"]
    assert (orders.read, orders.accepted, orders.quarantined, orders.duplicate) == (14, 3, 10, 1)
    assert orders.read == orders.accepted + orders.quarantined + orders.duplicate
    silver = lake.read("orders")
    assert sorted(r["order_id"] for r in silver.select("order_id").collect()) == ["O1", "O2", "O3"]
    o1 = silver.where("order_id = 'O1'").first()
    assert str(o1["gross_amount"]) == "100.00" and o1["event_date"] == date(2024, 3, 1)
    assert o1["customer_key"] != "C1" and len(o1["customer_key"]) == 64
    # a valid row whose key is also on an invalid row is still accepted: only valid rows compete for a key
    quarantine = lake.read("quarantine").where("source = 'orders'")
    rules = {r["rule"]: r for r in quarantine.collect()}
    assert set(rules) == set(BAD_ORDERS)
    assert rules["malformed_line"]["raw_record"] == BAD_ORDERS["malformed_line"]
    assert "customer_id" in rules["missing_required"]["reason"]
    assert "USD" in json.loads(rules["unknown_currency"]["raw_record"])["currency"]
    assert all(r["source_file"].endswith("orders_2024-03.csv") for r in rules.values())
    # a record's copies in one file are told apart by their occurrence, whatever the other rows' statuses
    twice = rules["future_timestamp"]
    expected_ids = {
        hashlib.sha256(f"{twice['source_file']}|{twice['raw_record']}|{n}".encode()).hexdigest()
        for n in (1, 2)
    }
    assert {r["record_id"] for r in quarantine.where("rule = 'future_timestamp'").collect()} == expected_ids


def test_every_source_lands_and_bad_rows_are_named(ingested):
    _, lake, _ = ingested
    assert {
        s: lake.read(s).count()
        for s in ("refunds", "sessions", "email_events", "support_tickets", "customers")
    } == {"refunds": 1, "sessions": 1, "email_events": 1, "support_tickets": 1, "customers": 2}
    rules = {(r["source"], r["rule"]) for r in lake.read("quarantine").where("source != 'orders'").collect()}
    assert rules == {
        ("sessions", "out_of_range"),
        ("sessions", "malformed_line"),
        ("email_events", "unknown_event_type"),
        ("support_tickets", "out_of_range"),
    }


def test_a_renamed_json_field_is_counted_as_unknown_and_its_contract_name_is_null(ingested):
    _, lake, _ = ingested
    unknown = {r["source"]: r["unknown_fields"] for r in lake.read("quality_checks").collect()}
    assert unknown == {source: {} for source in unknown} | {"sessions": {"utm_source": 1}}
    [session] = lake.read("sessions").collect()
    assert (
        session["session_id"] == "S1" and session["traffic_source"] is None and session["device"] == "mobile"
    )


def test_pii_stays_in_the_restricted_table(ingested):
    _, lake, _ = ingested
    assert "email" not in lake.read("customers").columns and "name" not in lake.read("customers").columns
    identity = {r["customer_id"]: r for r in lake.read("customer_identity").collect()}
    assert identity["C1"]["email"] == "ann@example.com"
    keys = {r["customer_key"] for r in lake.read("orders").select("customer_key").collect()}
    assert keys == {identity["C1"]["customer_key"], identity["C2"]["customer_key"]}


def lake_tables(lake: Lake) -> list[str]:
    return [t for t in TABLES if lake.exists(t)]


def table_snapshot(lake: Lake, table: str) -> list:
    """Sorted content; `_ingested_at` (bronze) is wall-clock time, the only column allowed to differ."""
    df = lake.read(table)
    return sorted(df.drop(*[c for c in df.columns if c == "_ingested_at"]).collect(), key=repr)


def test_rerun_reads_nothing_and_commits_nothing(spark, ingested):
    cfg, lake, _ = ingested
    tables = lake_tables(lake)
    assert {"orders_raw", "quarantine", "quality_checks", "ingested_files", "customer_identity"} <= set(
        tables
    )
    first = {t: table_snapshot(lake, t) for t in tables}
    versions = {t: lake.version(t) for t in tables}
    result = ingest.run(spark, cfg, AS_OF)
    assert all(c.files == c.read == 0 for c in result["sources"])
    assert {t: table_snapshot(lake, t) for t in tables} == first
    assert {t: lake.version(t) for t in tables} == versions


def test_a_later_run_reads_only_new_files_and_loads_quarantined_rows_that_pass_now_once(
    spark, cfg, landing, caplog
):
    """New files are read once (a line says how many, and their size), a key silver holds is a duplicate. An order
    after the first run's date and a refund of an order that arrives with the later run are quarantined first;
    the later run loads them into silver, their quarantine rows kept and marked resolved by it; a rerun then
    changes nothing."""
    lake = Lake(spark, cfg.lake.root)
    write_lines(
        landing / "refunds" / "refunds_2024-12.csv",
        ["refund_id,order_id,customer_id,refund_ts,amount", "R2,O40,C2,2024-12-20T09:00:00Z,5.00"],
    )
    ingest.run(spark, cfg, AS_OF)
    quarantined = lake.read("quarantine").count()
    retryable = F.col("rule").isin("future_timestamp", "unknown_order")
    opened = lake.read("quarantine").where(retryable).select("source", "rule", "resolved_date").collect()
    assert sorted(map(tuple, opened)) == [
        ("orders", "future_timestamp", None),
        ("orders", "future_timestamp", None),
        ("refunds", "unknown_order", None),
    ]
    write_lines(
        landing / "orders" / "orders_2024-05.csv",
        [
            ORDERS_HEADER,
            "O20,C2,2024-05-01T10:00:00Z,web,EUR,15.00,0,0,5,1,home",
            GOOD_ORDERS[1].replace("40.50", "41.00"),  # O2 again, in a later file: the first version stays
            "O21,C1,2024-02-29T10:00:00Z,web,EUR,15.00,0,0,5,1,home",  # late event: lands in its own date
            "O40,C2,2024-12-15T10:00:00Z,web,EUR,30.00,0,0,5,1,home",  # the refunded order
        ],
    )
    later = date(2025, 1, 2)  # O12 (2025-01-02) is no longer in the future
    caplog.set_level(logging.INFO, logger=ingest.__name__)
    counts = {c.source: c for c in ingest.run(spark, cfg, later)["sources"]}
    size = (landing / "orders" / "orders_2024-05.csv").stat().st_size
    assert f"ingest orders: checking 1 new file ({size} bytes)" in caplog.messages
    assert "ingest refunds: no new landing files" in caplog.messages
    assert (counts["orders"].files, counts["orders"].read, counts["orders"].accepted) == (1, 4, 3)
    assert counts["orders"].duplicate == 1 and counts["refunds"].files == 0
    assert (counts["orders"].resolved, counts["refunds"].resolved) == (2, 1)
    silver = {r["order_id"]: r for r in lake.read("orders").collect()}
    assert sorted(silver) == ["O1", "O12", "O2", "O20", "O21", "O3", "O40"]
    assert str(silver["O2"]["gross_amount"]) == "40.50"
    assert silver["O21"]["event_date"] == date(2024, 2, 29)
    assert sorted(r["refund_id"] for r in lake.read("refunds").collect()) == ["R1", "R2"]
    assert lake.read("ingested_files").where("source = 'orders'").count() == 3
    quality = lake.read("quality_checks").where("source = 'orders'").orderBy("rows_read").collect()
    assert [(q["files_read"], q["rows_read"], q["rows_duplicate"]) for q in quality] == [
        (1, 4, 1),
        (2, 14, 1),
    ]
    quarantine = lake.read("quarantine")
    assert quarantine.count() == quarantined  # resolved rows stay, for audit
    resolved = quarantine.where(F.col("resolved_date").isNotNull()).select("rule", "resolved_date").collect()
    assert sorted(map(tuple, resolved)) == [
        ("future_timestamp", later),
        ("future_timestamp", later),
        ("unknown_order", later),
    ]

    tables = lake_tables(lake)
    before = {t: (lake.version(t), table_snapshot(lake, t)) for t in tables}
    assert all(c.files == c.resolved == 0 for c in ingest.run(spark, cfg, later)["sources"])
    assert {t: (lake.version(t), table_snapshot(lake, t)) for t in tables} == before


def written_tables(spark, cfg) -> list[str]:
    lake = Lake(spark, cfg.lake.root)
    return [t for t in TABLES if lake.exists(t)]


def test_missing_source_folder_is_a_clear_error_before_anything_is_written(spark, cfg, landing):
    for f in (landing / "refunds").iterdir():
        f.unlink()
    with pytest.raises(InputError, match="no landing files for source 'refunds'"):
        ingest.run(spark, cfg, AS_OF)
    assert written_tables(spark, cfg) == []


def test_header_that_does_not_match_the_contract_fails_before_anything_is_written(
    spark, cfg, landing, tmp_path, capsys
):
    write_lines(
        landing / "orders" / "orders_2024-04.csv",
        [ORDERS_HEADER.replace("gross_amount", "gross"), GOOD_ORDERS[0].replace("O1", "O99")],
    )
    differ = (
        r"orders_2024-04\.csv: the header does not match source 'orders' "
        r"\(missing \['gross_amount'\], unexpected \['gross'\]\)"
    )
    with pytest.raises(InputError, match=differ):
        ingest.run(spark, cfg, AS_OF)
    assert written_tables(spark, cfg) == []
    conf = write_config(tmp_path, ingest={"max_quarantine_rate": 1.0})  # the same landing folder as `cfg`
    assert main(["ingest", "--conf", str(conf), "--as-of", AS_OF.isoformat()]) == 2
    err = capsys.readouterr().err
    errors = [line for line in err.splitlines() if line.startswith("error:")]
    assert len(errors) == 1 and "Traceback" not in err, err
    assert re.fullmatch(rf"error: \S*{differ}; expected {ORDERS_HEADER}", errors[0]), errors[0]


def test_a_file_name_with_a_space_a_percent_and_glob_characters_is_read_once_and_replaced_on_a_reread(
    spark, cfg, landing
):
    """Spark names a file by its URI (a space is %20, a % is %25); readers expand `[]{}*?` unless escaped."""
    lake = Lake(spark, cfg.lake.root)
    name = "orders_2024-05 week[1]{a}%20*?.csv"
    write_lines(
        landing / "orders" / name, [ORDERS_HEADER, "O30,C2,2024-05-01T10:00:00Z,web,EUR,15.00,0,0,5,1,home"]
    )
    ingest.run(spark, cfg, AS_OF)
    assert lake.read("orders").where("order_id = 'O30'").count() == 1
    [logged] = lake.read("ingested_files").where("path LIKE '%week%'").collect()
    assert Path(unquote(urlparse(logged["path"]).path)).name == name
    assert [
        r["_source_file"] for r in lake.read("orders_raw").where("_source_file LIKE '%week%'").collect()
    ] == [logged["path"]]
    assert {c.source: c.files for c in ingest.run(spark, cfg, AS_OF)["sources"]}["orders"] == 0
    DeltaTable.forPath(spark, lake.path("ingested_files")).delete(F.col("path") == logged["path"])
    ingest.run(spark, cfg, AS_OF)  # read again, as after a crash before the log: its rows are replaced
    assert lake.read("orders_raw").where(F.col("_source_file") == logged["path"]).count() == 1
    assert lake.read("orders").where("order_id = 'O30'").count() == 1


def test_an_ingest_as_of_a_date_before_the_latest_is_refused_and_changes_nothing(spark, ingested):
    """(A rerun on the same date is fine: `test_rerun_reads_nothing_and_commits_nothing`.)"""
    cfg, lake, _ = ingested
    versions = {t: lake.version(t) for t in lake_tables(lake)}
    with pytest.raises(
        InputError, match=r"ingest --as-of 2024-12-31 is before the latest ingest, as of 2025-01-01"
    ):
        ingest.run(spark, cfg, date(2024, 12, 31))
    assert {t: lake.version(t) for t in lake_tables(lake)} == versions


def test_a_future_timestamp_is_retried_from_its_events_date_and_an_unknown_order_on_every_run(
    spark, tmp_path
):
    """Only the files whose open rows may pass on the run's date are re-read; a row from before `retry_from`
    may pass from the day after the run that quarantined it."""
    lake = Lake(spark, str(tmp_path / "lake"))

    def row(file: str, rule: str, retry_from: date | None, resolved: date | None = None) -> tuple:
        return ("orders", file, file, "{}", rule, "r", "run", AS_OF, None, resolved, retry_from)

    rows = [
        row("next_week.csv", "future_timestamp", date(2025, 1, 8)),
        row("far_ahead.csv", "future_timestamp", date(2099, 1, 1)),
        row("before_retry_from.csv", "future_timestamp", None),  # quarantined by the run of AS_OF
        row("resolved.csv", "future_timestamp", date(2025, 1, 2), resolved=date(2025, 1, 2)),
        ("refunds", "r1", "refunds.csv", "{}", "unknown_order", "r", "run", AS_OF, None, None, None),
    ]
    lake.append(spark.createDataFrame(rows, TABLES["quarantine"].schema), "quarantine")

    def due(as_of: date) -> dict[str, set[str]]:
        return {s: set(files) for s, files in ingest.open_retryable(lake, as_of).items()}

    assert due(AS_OF) == {"refunds": {"refunds.csv"}}
    assert due(date(2025, 1, 2)) == {"orders": {"before_retry_from.csv"}, "refunds": {"refunds.csv"}}
    assert due(date(2025, 1, 8))["orders"] == {"before_retry_from.csv", "next_week.csv"}
