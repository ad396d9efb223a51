"""The feature builder against hand-computed expectations per feature group, point-in-time correctness,
and the backfill job (many snapshots from one scan, partitions replaced idempotently)."""

import threading
from datetime import date, datetime
from decimal import Decimal
from pathlib import Path

import pytest
from chispa import assert_df_equality
from pyspark.sql import functions as F

from clvlake import schemas
from clvlake.cli import main
from clvlake.dates import snapshot_dates
from clvlake.errors import InputError
from clvlake.features.build import FeatureSources, build_features
from clvlake.features.value import net_value_in_window, value_events
from clvlake.lake import Lake
from tests.support.config import write_config

SNAPSHOT = date(2024, 7, 1)


def _ts(day: str, time: str = "12:00:00") -> datetime:
    return datetime.fromisoformat(f"{day}T{time}")


def orders_df(spark, rows):
    """rows: (order_id, customer_key, 'YYYY-MM-DD', gross, discount, category)."""
    data = [
        (oid, key, _ts(day), "web", "EUR", Decimal(gross), Decimal(disc), Decimal("5"), Decimal("20"), 1, cat)
        + (date.fromisoformat(day), "f.csv", "r")
        for oid, key, day, gross, disc, cat in rows
    ]
    return spark.createDataFrame(data, schemas.ORDERS)


def refunds_df(spark, rows):
    """rows: (refund_id, order_id, customer_key, 'YYYY-MM-DD', amount)."""
    data = [
        (rid, oid, key, _ts(day, "08:00:00"), Decimal(amount), date.fromisoformat(day), "f.csv", "r")
        for rid, oid, key, day, amount in rows
    ]
    return spark.createDataFrame(data, schemas.REFUNDS)


def customers_df(spark, rows):
    """rows: (customer_key, 'YYYY-MM-DD' signup, channel)."""
    data = [
        (key, _ts(day, "00:00:00"), channel, "DE", True, date.fromisoformat(day), "f", "r")
        for key, day, channel in rows
    ]
    return spark.createDataFrame(data, schemas.CUSTOMERS)


def sessions_df(spark, rows):
    """rows: (session_id, customer_key, 'YYYY-MM-DD', pages)."""
    data = [
        (sid, key, _ts(day), "mobile", pages, "seo", date.fromisoformat(day), "f", "r")
        for sid, key, day, pages in rows
    ]
    return spark.createDataFrame(data, schemas.SESSIONS)


def emails_df(spark, rows):
    """rows: (event_id, customer_key, event_type, 'YYYY-MM-DD')."""
    data = [
        (eid, key, "camp1", kind, _ts(day), date.fromisoformat(day), "f", "r") for eid, key, kind, day in rows
    ]
    return spark.createDataFrame(data, schemas.EMAIL_EVENTS)


def tickets_df(spark, rows):
    """rows: (ticket_id, customer_key, opened 'YYYY-MM-DD', closed 'YYYY-MM-DD' or None, satisfaction)."""
    data = [
        (tid, key, _ts(opened), _ts(closed) if closed else None, "billing", sat, date.fromisoformat(opened))
        + ("f", "r")
        for tid, key, opened, closed, sat in rows
    ]
    return spark.createDataFrame(data, schemas.SUPPORT_TICKETS)


ORDERS = [
    ("o1", "A", "2024-01-10", "100", "10", "home"),
    ("o2", "A", "2024-03-01", "50", "0", "toys"),
    ("o3", "A", "2024-03-01", "20", "0", "toys"),
    ("o4", "A", "2024-06-15", "30", "0", "home"),
    ("o6", "C", "2024-08-02", "80", "0", "toys"),
    ("o7", "D", "2023-07-01", "40", "0", "garden"),
]
REFUNDS = [("r1", "o2", "A", "2024-06-20", "15")]
CUSTOMERS = [("A", "2024-01-01", "organic"), ("B", "2024-05-01", "social"), ("C", "2024-08-01", "email")]
SESSIONS = [("s1", "A", "2024-02-01", 2), ("s2", "A", "2024-06-20", 4), ("s3", "B", "2024-05-10", 3)]
SESSIONS += [("s4", "E", "2024-06-01", 1)]  # E: known only through a session
EMAILS = [
    ("e1", "A", "sent", "2024-03-01"),
    ("e2", "A", "open", "2024-03-02"),
    ("e3", "A", "click", "2024-03-02"),
    ("e4", "A", "sent", "2024-05-01"),
    ("e5", "A", "unsubscribe", "2024-06-30"),
    ("e6", "B", "sent", "2024-05-02"),
    ("e7", "B", "open", "2024-05-03"),
]
# t2 opened before the snapshot but rated after it closed, on the snapshot day: its rating is not known yet
TICKETS = [("t1", "A", "2024-05-01", "2024-05-03", 4), ("t2", "A", "2024-06-25", "2024-07-01", 1)]

# everything on or after the snapshot, in every source
FUTURE_ORDERS = [("o5", "A", "2024-07-01", "500", "50", "toys"), ("o8", "B", "2024-09-01", "70", "0", "toys")]
FUTURE_REFUNDS = [("r2", "o4", "A", "2024-07-05", "30"), ("r3", "o7", "D", "2024-07-01", "40")]
FUTURE_CUSTOMERS = [("F", "2024-07-01", "paid")]
FUTURE_SESSIONS = [("s9", "A", "2024-07-01", 10), ("s10", "D", "2024-08-01", 5)]
FUTURE_EMAILS = [("e9", "B", "unsubscribe", "2024-07-01"), ("e10", "A", "open", "2024-07-02")]
FUTURE_TICKETS = [("t3", "A", "2024-07-03", None, None), ("t4", "D", "2024-07-01", "2024-07-02", 5)]


def sources(spark, future: bool = False) -> FeatureSources:
    def rows(base, extra):
        return base + extra if future else base

    return FeatureSources(
        events=value_events(
            orders_df(spark, rows(ORDERS, FUTURE_ORDERS)),
            refunds_df(spark, rows(REFUNDS, FUTURE_REFUNDS)),
            margin_mode=False,
        ),
        customers=customers_df(spark, rows(CUSTOMERS, FUTURE_CUSTOMERS)),
        sessions=sessions_df(spark, rows(SESSIONS, FUTURE_SESSIONS)),
        email_events=emails_df(spark, rows(EMAILS, FUTURE_EMAILS)),
        support_tickets=tickets_df(spark, rows(TICKETS, FUTURE_TICKETS)),
    )


@pytest.fixture(scope="module")
def features(spark):
    return build_features(sources(spark), [SNAPSHOT]).cache()


def assert_group(spark, actual, columns: list[str], rows: list[tuple]) -> None:
    """The feature columns `columns` of every customer at SNAPSHOT equal `rows` (customer_key first)."""
    fields = [f for f in schemas.CUSTOMER_FEATURES.fields if f.name in ("customer_key", *columns)]
    schema = schemas.T.StructType(sorted(fields, key=lambda f: ["customer_key", *columns].index(f.name)))
    expected = spark.createDataFrame(rows, schema)
    assert_df_equality(
        actual.select("customer_key", *columns),
        expected,
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_one_row_per_known_customer_with_tenure_cohort_and_channel(spark, features):
    # A signed up 01-01, B 05-01; D bought a year ago without a CRM record; E only had a session (06-01).
    # C signed up and bought after the snapshot.
    assert_group(
        spark,
        features,
        ["snapshot_date", "first_seen_date", "customer_age_days", "cohort_month", "acquisition_channel"],
        [
            ("A", SNAPSHOT, date(2024, 1, 1), 182, "2024-01", "organic"),
            ("B", SNAPSHOT, date(2024, 5, 1), 61, None, "social"),
            ("D", SNAPSHOT, date(2023, 7, 1), 366, "2023-07", None),
            ("E", SNAPSHOT, date(2024, 6, 1), 30, None, None),
        ],
    )


def test_rfm_and_btyd_statistics(spark, features):
    # A: purchase days 01-10 (90), 03-01 (two orders, 70), 06-15 (30); refund 06-20 (−15).
    # x = 2 repeat days, t_x = 157, T = 173, mean repeat-day value (70 + 30) / 2, AOV 190 / 4.
    assert_group(
        spark,
        features,
        [
            "orders_total",
            "net_value_total",
            "avg_order_value",
            "bt_frequency",
            "bt_recency_days",
            "bt_tenure_days",
            "bt_monetary_value",
            "days_since_last_purchase",
        ],
        [
            ("A", 4, 175.0, 47.5, 2, 157.0, 173.0, 50.0, 16),
            ("B", 0, 0.0, 0.0, 0, 0.0, 0.0, 0.0, 61),
            ("D", 1, 40.0, 40.0, 0, 0.0, 366.0, 0.0, 366),
            ("E", 0, 0.0, 0.0, 0, 0.0, 0.0, 0.0, 30),
        ],
    )


def test_trailing_windows_and_trend(spark, features):
    # A's 30/90-day windows (from 06-01 / 04-02) hold 06-15 and the refund; 180/365 days hold everything.
    # D's order is exactly 366 days old: outside every window. Trend = last 90 days − the 90 before.
    windows = [c for w in schemas.TRAILING_WINDOWS_DAYS for c in (f"orders_{w}d", f"net_value_{w}d")]
    assert_group(
        spark,
        features,
        [*windows, "orders_trend_90d", "net_value_trend_90d"],
        [
            ("A", 1, 15.0, 1, 15.0, 4, 175.0, 4, 175.0, 1 - 3, 15.0 - 160.0),
            *[(k, *(0, 0.0) * 4, 0, 0.0) for k in "BDE"],
        ],
    )


def test_purchase_timing_refunds_discounts_and_main_category(spark, features):
    # A: gaps 51 and 106 days → mean 78.5, population std 27.5; 1 refund / 4 orders; discount 10 / gross 200;
    # home and toys have two orders each, home has more net value (120 against 70).
    assert_group(
        spark,
        features,
        [
            "interpurchase_days_mean",
            "interpurchase_days_std",
            "refund_rate",
            "discount_share",
            "main_category",
        ],
        [
            ("A", 78.5, 27.5, 0.25, 0.05, "home"),
            ("B", 0.0, 0.0, 0.0, 0.0, None),
            ("D", 0.0, 0.0, 0.0, 0.0, "garden"),
            ("E", 0.0, 0.0, 0.0, 0.0, None),
        ],
    )


def test_sessions_email_and_support(spark, features):
    # A: sessions 02-01 (2 pages) and 06-20 (4 pages), only the second in the last 90 days; 2 sends, 1 open,
    # 1 click, unsubscribed 06-30; tickets t1 (rated 4) and t2 (closed on the snapshot day: rating unknown).
    assert_group(
        spark,
        features,
        [
            "sessions_total",
            "sessions_90d",
            "pages_per_session",
            "email_open_rate",
            "email_click_rate",
            "email_unsubscribed",
            "support_tickets_total",
            "support_satisfaction_mean",
        ],
        [
            ("A", 2, 1, 3.0, 0.5, 0.5, 1, 2, 4.0),
            ("B", 1, 1, 3.0, 1.0, 0.0, 0, 0, 0.0),
            ("D", 0, 0, 0.0, 0.0, 0.0, 0, 0, 0.0),
            ("E", 1, 1, 1.0, 0.0, 0.0, 0, 0, 0.0),
        ],
    )


def test_engagement_recency(spark, features):
    # A: last session 06-20 (11 days, inside the 30-day window from 06-01; 4 pages), last open 03-02 (121 days,
    # before the 90 days from 04-02, which hold one send). B: session 05-10 (52 days, 3 pages), one send and
    # one open (05-03, 59 days) in the 90 days. D: no session or open: its age. E: session on 06-01, the 30-day
    # window's first day; no open: its age.
    assert_group(
        spark,
        features,
        [
            "sessions_30d",
            "days_since_last_session",
            "pages_per_session_90d",
            "email_opens_90d",
            "email_open_rate_90d",
            "days_since_last_email_open",
        ],
        [
            ("A", 1, 11, 4.0, 0, 0.0, 121),
            ("B", 0, 52, 3.0, 1, 1.0, 59),
            ("D", 0, 366, 0.0, 0, 0.0, 366),
            ("E", 1, 30, 1.0, 0, 0.0, 30),
        ],
    )


def test_every_feature_column_is_non_null_for_the_model(features):
    nulls = features.select([F.sum(F.col(c).isNull().cast("int")).alias(c) for c in schemas.FEATURE_COLUMNS])
    assert nulls.first().asDict() == dict.fromkeys(schemas.FEATURE_COLUMNS, 0)


def test_events_on_or_after_the_snapshot_change_nothing(spark, features):
    assert_df_equality(
        build_features(sources(spark, future=True), [SNAPSHOT]), features, ignore_row_order=True
    )


def test_many_snapshots_at_once_equal_one_at_a_time(spark):
    src = sources(spark, future=True)
    dates = [date(2024, 3, 1), SNAPSHOT, date(2024, 9, 1)]
    one_at_a_time = build_features(src, dates[:1])
    for day in dates[1:]:
        one_at_a_time = one_at_a_time.unionByName(build_features(src, [day]))
    assert_df_equality(build_features(src, dates), one_at_a_time, ignore_row_order=True)


def test_margin_mode_subtracts_costs(spark):
    orders = orders_df(spark, [("o1", "A", "2024-01-10", "100", "10", "home")])
    events = value_events(orders, refunds_df(spark, []), margin_mode=True)
    assert events.first()["net_value"] == pytest.approx(100 - 10 - 20 - 5)


def test_label_is_net_value_in_the_half_open_window(spark):
    events = sources(spark, future=True).events
    actual = net_value_in_window(events, SNAPSHOT, horizon_days=62)  # [07-01, 09-01): 09-01 excluded
    expected = spark.createDataFrame(
        [("A", 450.0 - 30.0), ("C", 80.0), ("D", -40.0)], "customer_key string, label double"
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


@pytest.mark.parametrize(
    ("start", "end", "every", "expected"),
    [
        ("2024-01-31", "2024-04-30", "month", ["2024-01-31", "2024-02-29", "2024-03-31", "2024-04-30"]),
        ("2024-01-01", "2024-01-20", "week", ["2024-01-01", "2024-01-08", "2024-01-15"]),
        ("2024-01-01", "2024-01-01", "day", ["2024-01-01"]),
    ],
)
def test_snapshot_dates(start, end, every, expected):
    dates = snapshot_dates(date.fromisoformat(start), date.fromisoformat(end), every)
    assert dates == [date.fromisoformat(d) for d in expected]


def test_snapshot_dates_reject_an_empty_range():
    with pytest.raises(InputError, match="--to 2024-01-01 is before --from 2024-02-01"):
        snapshot_dates(date(2024, 2, 1), date(2024, 1, 1), "month")


RECENCY = [
    "sessions_30d",
    "days_since_last_session",
    "pages_per_session_90d",
    "email_opens_90d",
    "email_open_rate_90d",
    "days_since_last_email_open",
]


def test_a_features_table_of_an_older_contract_gains_the_new_columns(spark, tmp_path, features):
    lake = Lake(spark, str(tmp_path / "lake"))
    earlier = date(2024, 6, 1)
    older = features.drop(*RECENCY).withColumn("snapshot_date", F.lit(earlier))
    older.write.format("delta").partitionBy("snapshot_date").save(lake.path("customer_features"))
    lake.replace_partition(features, "customer_features", SNAPSHOT)
    table = lake.read("customer_features")
    assert_df_equality(
        table.where(F.col("snapshot_date") == F.lit(SNAPSHOT)).select(*features.columns),
        features,
        ignore_row_order=True,
        ignore_nullable=True,
    )
    kept = table.where(F.col("snapshot_date") == F.lit(earlier))
    assert kept.count() == older.count()
    assert kept.where(F.coalesce(*RECENCY).isNotNull()).isEmpty()  # earlier rows: null in the new columns


def test_a_column_whose_type_changed_is_an_error_not_a_cast(spark, tmp_path, features):
    lake = Lake(spark, str(tmp_path / "lake"))
    retyped = features.withColumn("sessions_30d", F.col("sessions_30d").cast("string"))
    retyped.write.format("delta").partitionBy("snapshot_date").save(lake.path("customer_features"))
    with pytest.raises(InputError, match=r"other types than its contract for \['sessions_30d'\]"):
        lake.replace_partition(features, "customer_features", SNAPSHOT)


@pytest.mark.slow
def lake_of_sources(spark, root: Path) -> tuple[Path, Lake]:
    """A config and a lake whose silver tables hold this module's rows."""
    conf = write_config(root)
    lake = Lake(spark, str(root / "lake"))
    src = {
        "orders": orders_df(spark, ORDERS),
        "refunds": refunds_df(spark, REFUNDS),
        "customers": customers_df(spark, CUSTOMERS),
        "sessions": sessions_df(spark, SESSIONS),
        "email_events": emails_df(spark, EMAILS),
        "support_tickets": tickets_df(spark, TICKETS),
    }
    for table, df in src.items():
        lake.merge_new(df, table)
    return conf, lake


def test_backfill_replaces_each_snapshot_partition_idempotently(spark, tmp_path, capsys):
    conf, lake = lake_of_sources(spark, tmp_path)
    backfill = ["features", "--conf", str(conf), "--from", "2024-05-01", "--to", "2024-07-15"]
    assert main(["features", "--conf", str(conf), "--as-of", "2024-06-15"]) == 0
    assert main(backfill) == 0
    first = lake.read("customer_features").cache()
    assert main(backfill) == 0
    assert '"snapshots": 3' in capsys.readouterr().out
    again = lake.read("customer_features")
    assert_df_equality(again, first, ignore_row_order=True)
    counts = {r["snapshot_date"]: r["count"] for r in again.groupBy("snapshot_date").count().collect()}
    # 05-01: A and D (B signs up at that midnight); 06-01: + B; 06-15 and 07-01: + E (session on 06-01).
    # The mid-month --as-of partition is kept.
    assert counts == {date(2024, 5, 1): 2, date(2024, 6, 1): 3, date(2024, 6, 15): 4, date(2024, 7, 1): 4}
    assert_df_equality(
        again.where(F.col("snapshot_date") == F.lit(SNAPSHOT)),
        build_features(sources(spark), [SNAPSHOT]),
        ignore_row_order=True,
        ignore_nullable=True,
    )


def test_feature_jobs_for_two_dates_at_once_both_succeed_and_the_table_holds_both(spark, tmp_path, caplog):
    """RELIABILITY.md scenario 6: concurrent jobs on different dates all succeed and the result is their union
    (the lake's lease runs one after the other; each `clv` call takes it, as its own process would)."""
    conf, lake = lake_of_sources(spark, tmp_path)
    days = [date(2024, 6, 15), SNAPSHOT]
    codes: dict[date, int] = {}

    def features_job(day: date) -> None:
        codes[day] = main(["features", "--conf", str(conf), "--as-of", day.isoformat()])

    jobs = [threading.Thread(target=features_job, args=(day,)) for day in days]
    for job in jobs:
        job.start()
    for job in jobs:
        job.join()
    assert codes == dict.fromkeys(days, 0)
    assert "waiting for the lake: it is being written by clv features" in caplog.text  # they did overlap
    for day in days:
        assert_df_equality(
            lake.read_partition("customer_features", day),
            build_features(sources(spark), [day]),
            ignore_row_order=True,
            ignore_nullable=True,
        )
