"""The feature builder against hand-computed expectations, and point-in-time correctness."""

from datetime import date, datetime
from decimal import Decimal

import pytest
from chispa import assert_df_equality

from clvlake import schemas
from clvlake.features.build import build_features
from clvlake.features.value import net_value_in_window, value_events

SNAPSHOT = date(2024, 7, 1)


def orders_df(spark, rows):
    """rows: (order_id, customer_key, 'YYYY-MM-DD', gross, discount)."""
    data = [
        (
            oid,
            key,
            datetime.fromisoformat(day + "T12:00:00"),
            "web",
            "EUR",
            Decimal(gross),
            Decimal(disc),
            Decimal("5"),
            Decimal("20"),
            1,
            "home",
            date.fromisoformat(day),
            "f.csv",
            "r",
        )
        for oid, key, day, gross, disc in rows
    ]
    return spark.createDataFrame(data, schemas.ORDERS)


def refunds_df(spark, rows):
    """rows: (refund_id, order_id, customer_key, 'YYYY-MM-DD', amount)."""
    data = [
        (
            rid,
            oid,
            key,
            datetime.fromisoformat(day + "T08:00:00"),
            Decimal(amount),
            date.fromisoformat(day),
            "f.csv",
            "r",
        )
        for rid, oid, key, day, amount in rows
    ]
    return spark.createDataFrame(data, schemas.REFUNDS)


def customers_df(spark, rows):
    """rows: (customer_key, 'YYYY-MM-DD' signup, channel)."""
    data = [
        (
            key,
            datetime.fromisoformat(day + "T00:00:00"),
            channel,
            "DE",
            True,
            date.fromisoformat(day),
            "f",
            "r",
        )
        for key, day, channel in rows
    ]
    return spark.createDataFrame(data, schemas.CUSTOMERS)


ORDERS = [
    ("o1", "A", "2024-01-10", "100", "10"),
    ("o2", "A", "2024-03-01", "50", "0"),
    ("o3", "A", "2024-03-01", "20", "0"),
    ("o4", "A", "2024-06-15", "30", "0"),
    ("o6", "C", "2024-08-02", "80", "0"),
    ("o7", "D", "2023-07-01", "40", "0"),
]
REFUNDS = [("r1", "o2", "A", "2024-06-20", "15")]
FUTURE_ORDERS = [("o5", "A", "2024-07-01", "500", "0"), ("o8", "B", "2024-09-01", "70", "0")]
FUTURE_REFUNDS = [("r2", "o4", "A", "2024-07-05", "30"), ("r3", "o7", "D", "2024-07-01", "40")]
CUSTOMERS = [("A", "2024-01-01", "organic"), ("B", "2024-05-01", "social"), ("C", "2024-08-01", "email")]


@pytest.fixture
def events(spark):
    return value_events(orders_df(spark, ORDERS), refunds_df(spark, REFUNDS), margin_mode=False)


def expected_row(
    key, first_seen, age, cohort, channel, orders, net, aov, freq, rec, ten, mon, since, windows
):
    return (
        key,
        SNAPSHOT,
        date.fromisoformat(first_seen),
        age,
        cohort,
        channel,
        orders,
        net,
        aov,
        freq,
        rec,
        ten,
        mon,
        since,
        *windows,
    )


def test_features_match_hand_computation(spark, events):
    actual = build_features(events, customers_df(spark, CUSTOMERS), SNAPSHOT)
    expected = spark.createDataFrame(
        [
            # A: days 01-10 (90), 03-01 (2 orders, 70), 06-15 (30), refund 06-20 (−15); windows from 06-01, 04-02, ...
            expected_row(
                "A",
                "2024-01-01",
                182,
                "2024-01",
                "organic",
                4,
                175.0,
                47.5,
                2,
                157.0,
                173.0,
                50.0,
                16,
                (1, 15.0, 1, 15.0, 4, 175.0, 4, 175.0),
            ),
            # B: signed up, never bought
            expected_row(
                "B", "2024-05-01", 61, None, "social", 0, 0.0, 0.0, 0, 0.0, 0.0, 0.0, 61, (0, 0.0) * 4
            ),
            # D: no CRM record, one order exactly 366 days before the snapshot (outside the 365-day window)
            expected_row(
                "D", "2023-07-01", 366, "2023-07", None, 1, 40.0, 40.0, 0, 0.0, 366.0, 0.0, 366, (0, 0.0) * 4
            ),
        ],
        schemas.CUSTOMER_FEATURES,
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)


def test_events_on_or_after_the_snapshot_change_nothing(spark, events):
    customers = customers_df(spark, CUSTOMERS)
    with_future = value_events(
        orders_df(spark, ORDERS + FUTURE_ORDERS),
        refunds_df(spark, REFUNDS + FUTURE_REFUNDS),
        margin_mode=False,
    )
    assert_df_equality(
        build_features(with_future, customers, SNAPSHOT),
        build_features(events, customers, SNAPSHOT),
        ignore_row_order=True,
    )


def test_margin_mode_subtracts_costs(spark):
    events = value_events(
        orders_df(spark, [("o1", "A", "2024-01-10", "100", "10")]), refunds_df(spark, []), margin_mode=True
    )
    assert events.first()["net_value"] == pytest.approx(100 - 10 - 20 - 5)


def test_label_is_net_value_in_the_half_open_window(spark):
    events = value_events(
        orders_df(spark, ORDERS + FUTURE_ORDERS),
        refunds_df(spark, REFUNDS + FUTURE_REFUNDS),
        margin_mode=False,
    )
    actual = net_value_in_window(events, SNAPSHOT, horizon_days=62)  # [07-01, 09-01): 09-01 excluded
    expected = spark.createDataFrame(
        [("A", 500.0 - 30.0), ("C", 80.0), ("D", -40.0)], "customer_key string, label double"
    )
    assert_df_equality(actual, expected, ignore_row_order=True, ignore_nullable=True)
