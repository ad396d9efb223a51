"""The customer feature builder: every feature at one or many snapshot dates, each from events strictly before it.

Sources go in two narrow streams, so no shuffle carries columns that are null for most of its rows:

Events on or after the last snapshot are dropped before any shuffle. One snapshot (the daily run) is a filter
and a constant column; several (a backfill) are a broadcast range join that pairs each event with every later
snapshot, so one scan serves them all.

1. Purchases (orders and refunds): `purchase_rows` hash-partitions them by customer_key once; `customer_days`
   sorts each partition by customer and day and rolls the rows up to customer-days (a sort aggregate), so
   purchase days (BTYD counts days, not orders) are a plain sum instead of a distinct count, and gives each
   purchase day the gap to the previous one (a window over the same sort); `purchase_activity` pairs each
   customer-day with the snapshots after it, and one aggregation per (customer, snapshot) computes totals, BTYD
   statistics and trailing windows relative to its snapshot. `main_category` aggregates the orders' categories
   (a second, narrower shuffle: only the columns it reads), without sorting them.
2. Engagement (sessions, e-mail events, ticket openings, ticket ratings at their closing date):
   `engagement_rows` and `engagement_activity`, one aggregation per (customer, snapshot), partially
   aggregated before its shuffle.

The two, the CRM customers and the main category are joined per (customer, snapshot) at the end.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import date
from functools import reduce

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F
from pyspark.sql import types as T

from clvlake.frames import local_frame
from clvlake.schemas import CUSTOMER_FEATURES, TRAILING_WINDOWS_DAYS

TREND_DAYS = 90  # trend: the last 90 days against the 90 before
SNAPSHOT_DATES = T.StructType([T.StructField("snapshot_date", T.DateType())])
SESSION_WINDOWS_DAYS = (30, 90)
RECENT_DAYS = 90  # recent pages per session, e-mail opens and open rate
KEYS = ["customer_key", "snapshot_date"]

PURCHASE_MEASURES = ("value", "orders", "order_value", "refunds", "gross", "discount")
# what one engagement row can add; a source leaves the others null
ENGAGEMENT_MEASURES = {
    "sessions": "int",
    "pages": "int",
    "emails_sent": "int",
    "email_opens": "int",
    "email_clicks": "int",
    "email_unsubscribes": "int",
    "tickets": "int",
    "rating_sum": "double",
    "ratings": "int",
}


@dataclass(frozen=True)
class FeatureSources:
    """The silver inputs of the builder; `events` is `value_events(orders, refunds, margin_mode)`."""

    events: DataFrame
    customers: DataFrame
    sessions: DataFrame
    email_events: DataFrame
    support_tickets: DataFrame


def before_last(df: DataFrame, snapshots: Sequence[date]) -> DataFrame:
    """The rows of `df` dated before the last snapshot: no later event reaches any snapshot's features."""
    return df.where(F.col("event_date") < F.lit(max(snapshots)))


def before_snapshots(df: DataFrame, snapshots: Sequence[date]) -> DataFrame:
    """Each row of `df` once for every snapshot strictly after its event_date (adds snapshot_date).

    One snapshot is a filter and a constant: measured at 10M events, the range join cost 2 s of 9 even with one
    snapshot row. Several are a broadcast range join, one pass for all of them.
    """
    dates = sorted(set(snapshots))
    if len(dates) == 1:
        return before_last(df, dates).withColumn("snapshot_date", F.lit(dates[0]))
    frame = local_frame(df.sparkSession, [(d,) for d in dates], SNAPSHOT_DATES)
    return df.join(F.broadcast(frame), F.col("event_date") < F.col("snapshot_date"), how="inner")


def purchase_rows(events: DataFrame, snapshots: Sequence[date]) -> DataFrame:
    """customer_key, event_date, category and the purchase measures of every order and refund (value events)
    before the last snapshot, hash-partitioned by customer_key."""
    is_order = F.col("is_order")
    return (
        before_last(events, snapshots)
        .select(
            "customer_key",
            "event_date",
            F.when(is_order, F.col("product_category")).cast("string").alias("category"),
            F.col("net_value").cast("double").alias("value"),
            is_order.cast("int").alias("orders"),
            F.when(is_order, F.col("net_value")).cast("double").alias("order_value"),
            (~is_order).cast("int").alias("refunds"),
            F.col("gross").cast("double").alias("gross"),
            F.col("discount").cast("double").alias("discount"),
        )
        .repartition("customer_key")
    )


def _engagement(df: DataFrame, event_date: Column, **measures: Column) -> DataFrame:
    return df.select(
        "customer_key",
        event_date.alias("event_date"),
        *[measures.get(m, F.lit(None)).cast(t).alias(m) for m, t in ENGAGEMENT_MEASURES.items()],
    )


def _is(event_type: str) -> Column:
    return (F.col("event_type") == event_type).cast("int")


def engagement_rows(src: FeatureSources, snapshots: Sequence[date]) -> DataFrame:
    """customer_key, event_date and the engagement measures of every session, e-mail event, ticket and rating
    before the last snapshot.

    Ratings are dated by the ticket's closing time: a satisfaction score is not known before the ticket closes.
    """
    rated = src.support_tickets.where(F.col("satisfaction").isNotNull() & F.col("closed_ts").isNotNull())
    parts = [
        _engagement(src.sessions, F.col("event_date"), sessions=F.lit(1), pages=F.col("pages_viewed")),
        _engagement(
            src.email_events,
            F.col("event_date"),
            emails_sent=_is("sent"),
            email_opens=_is("open"),
            email_clicks=_is("click"),
            email_unsubscribes=_is("unsubscribe"),
        ),
        _engagement(src.support_tickets, F.col("event_date"), tickets=F.lit(1)),
        _engagement(rated, F.to_date("closed_ts"), rating_sum=F.col("satisfaction"), ratings=F.lit(1)),
    ]
    return before_last(reduce(DataFrame.unionByName, parts), snapshots)


def customer_days(rows: DataFrame) -> DataFrame:
    """One row per customer-day of `purchase_rows`: the day's measure sums, purchase_day, and purchase_gap (days
    since the previous purchase day, on purchase days after the first). A gap only looks back, so it is the same
    at every snapshot.

    The rows are sorted by customer and day first, so the roll-up streams over them (a sort aggregate, with
    `spark.sql.execution.replaceHashWithSortAgg`, which `clvlake.session` sets) and its output already has the
    window's order: one sort for both."""
    daily = (
        rows.sortWithinPartitions("customer_key", "event_date")
        .groupBy("customer_key", "event_date")
        .agg(*[F.sum(m).alias(m) for m in PURCHASE_MEASURES])
    )
    purchase = F.col("orders") > 0
    earlier = (
        Window.partitionBy("customer_key").orderBy("event_date").rowsBetween(Window.unboundedPreceding, -1)
    )
    previous = F.max(F.when(purchase, F.col("event_date"))).over(earlier)
    return daily.withColumns(
        {"purchase_day": purchase, "purchase_gap": F.when(purchase, F.datediff("event_date", previous))}
    )


def _within(days: int) -> Column:
    return F.col("event_date") >= F.date_sub("snapshot_date", days)


def purchase_activity(days: DataFrame, snapshots: Sequence[date]) -> DataFrame:
    """One row per (customer, snapshot) with an order or refund before the snapshot: RFM, BTYD statistics,
    purchase timing and trailing windows, in one aggregation."""
    purchase = F.col("purchase_day")
    windows = [
        agg
        for w in TRAILING_WINDOWS_DAYS
        for agg in (
            F.sum(F.when(_within(w), F.col("orders"))).alias(f"orders_{w}d"),
            F.sum(F.when(_within(w), F.col("value"))).alias(f"net_value_{w}d"),
        )
    ]
    return (
        before_snapshots(days, snapshots)
        .groupBy(*KEYS)
        .agg(
            F.min("event_date").alias("first_purchase_event_date"),
            F.min(F.when(purchase, F.col("event_date"))).alias("first_purchase_date"),
            F.max(F.when(purchase, F.col("event_date"))).alias("last_purchase_date"),
            F.sum(purchase.cast("int")).alias("purchase_days"),
            F.sum(F.when(purchase, F.col("value"))).alias("purchase_days_value"),
            F.min_by(F.col("value"), F.when(purchase, F.col("event_date"))).alias("first_purchase_day_value"),
            F.sum(F.col("purchase_gap") * F.col("purchase_gap")).alias("gap_sq_sum"),
            *[F.sum(m).alias(f"{m}_total") for m in PURCHASE_MEASURES],
            *windows,
        )
    )


def engagement_activity(rows: DataFrame, snapshots: Sequence[date]) -> DataFrame:
    """One row per (customer, snapshot) with a session, e-mail event or ticket before the snapshot."""
    return (
        before_snapshots(rows, snapshots)
        .groupBy(*KEYS)
        .agg(
            F.min("event_date").alias("first_engagement_date"),
            F.max(F.when(F.col("sessions") > 0, F.col("event_date"))).alias("last_session_date"),
            F.max(F.when(F.col("email_opens") > 0, F.col("event_date"))).alias("last_email_open_date"),
            F.sum("sessions").alias("sessions_total"),
            F.sum("pages").alias("pages_total"),
            *[
                F.sum(F.when(_within(w), F.col("sessions"))).alias(f"sessions_{w}d")
                for w in SESSION_WINDOWS_DAYS
            ],
            *[
                F.sum(F.when(_within(RECENT_DAYS), F.col(m))).alias(f"{m}_{RECENT_DAYS}d")
                for m in ("pages", "emails_sent", "email_opens")
            ],
            *[
                F.sum(m).alias(m)
                for m in ("emails_sent", "email_opens", "email_clicks", "email_unsubscribes", "tickets")
            ],
            F.sum("rating_sum").alias("rating_sum"),
            F.sum("ratings").alias("ratings"),
        )
    )


def main_category(rows: DataFrame, snapshots: Sequence[date]) -> DataFrame:
    """customer_key, snapshot_date, main_category: the category with most orders before the snapshot (ties: more
    net value, then the first name).

    A hash aggregation per (customer, snapshot, category), then the first of each customer's few category rows by
    a window: the purchase rows themselves are never sorted for it."""
    per_category = (
        before_snapshots(rows.where(F.col("category").isNotNull()), snapshots)
        .groupBy("customer_key", "snapshot_date", "category")
        .agg(F.sum("orders").alias("orders"), F.sum("value").alias("value"))
    )
    ranking = Window.partitionBy(*KEYS).orderBy(F.desc("orders"), F.desc("value"), F.asc("category"))
    return (
        per_category.withColumn("rank", F.row_number().over(ranking))
        .where(F.col("rank") == 1)
        .select(*KEYS, F.col("category").alias("main_category"))
    )


def known_customers(customers: DataFrame, snapshots: Sequence[date]) -> DataFrame:
    """customer_key, snapshot_date, signup_date, acquisition_channel: CRM customers signed up before each snapshot."""
    signed_up = customers.select(
        "customer_key", F.to_date("signup_ts").alias("event_date"), "acquisition_channel"
    )
    return before_snapshots(signed_up, snapshots).select(
        "customer_key", "snapshot_date", F.col("event_date").alias("signup_date"), "acquisition_channel"
    )


def _ratio(numerator: str, denominator: str) -> Column:
    return F.when(F.col(denominator) > 0, F.col(numerator) / F.col(denominator)).otherwise(0.0)


def _zero(column: str) -> Column:
    return F.coalesce(F.col(column), F.lit(0))


def _days_since(last_date: str, first_seen: Column) -> Column:
    """Days from `last_date` to the snapshot; the customer's age when there is none (never happened)."""
    snapshot = F.col("snapshot_date")
    return F.coalesce(F.datediff(snapshot, last_date), F.datediff(snapshot, first_seen))


def feature_columns() -> dict[str, Column]:
    """The feature expressions over known customers fully joined with their activity at each snapshot."""
    snapshot = F.col("snapshot_date")
    first_seen = F.least("signup_date", "first_purchase_event_date", "first_engagement_date")
    buyer = F.col("first_purchase_date").isNotNull()
    repeat_days = F.col("purchase_days") - 1
    recency = F.datediff("last_purchase_date", "first_purchase_date")
    gap_mean = recency / repeat_days
    gap_variance = F.greatest(F.lit(0.0), F.col("gap_sq_sum") / repeat_days - gap_mean * gap_mean)
    short, long_ = f"{TREND_DAYS}d", f"{2 * TREND_DAYS}d"
    recent = f"{RECENT_DAYS}d"
    return {
        "first_seen_date": first_seen,
        "customer_age_days": F.datediff(snapshot, first_seen),
        "cohort_month": F.date_format("first_purchase_date", "yyyy-MM"),
        "orders_total": _zero("orders_total"),
        "net_value_total": _zero("value_total"),
        "avg_order_value": _ratio("order_value_total", "orders_total"),
        "bt_frequency": F.when(buyer, repeat_days).otherwise(0),
        "bt_recency_days": F.when(buyer, recency).otherwise(0),
        "bt_tenure_days": F.when(buyer, F.datediff(snapshot, "first_purchase_date")).otherwise(0),
        "bt_monetary_value": F.when(
            repeat_days > 0, (F.col("purchase_days_value") - F.col("first_purchase_day_value")) / repeat_days
        ).otherwise(0.0),
        "days_since_last_purchase": _days_since("last_purchase_date", first_seen),
        **{c: _zero(c) for w in TRAILING_WINDOWS_DAYS for c in (f"orders_{w}d", f"net_value_{w}d")},
        f"orders_trend_{short}": 2 * _zero(f"orders_{short}") - _zero(f"orders_{long_}"),
        f"net_value_trend_{short}": 2 * _zero(f"net_value_{short}") - _zero(f"net_value_{long_}"),
        "interpurchase_days_mean": F.when(repeat_days > 0, gap_mean).otherwise(0.0),
        "interpurchase_days_std": F.when(repeat_days > 0, F.sqrt(gap_variance)).otherwise(0.0),
        "refund_rate": _ratio("refunds_total", "orders_total"),
        "discount_share": _ratio("discount_total", "gross_total"),
        "sessions_total": _zero("sessions_total"),
        **{f"sessions_{w}d": _zero(f"sessions_{w}d") for w in SESSION_WINDOWS_DAYS},
        "days_since_last_session": _days_since("last_session_date", first_seen),
        "pages_per_session": _ratio("pages_total", "sessions_total"),
        f"pages_per_session_{recent}": _ratio(f"pages_{recent}", f"sessions_{recent}"),
        "email_open_rate": _ratio("email_opens", "emails_sent"),
        f"email_opens_{recent}": _zero(f"email_opens_{recent}"),
        f"email_open_rate_{recent}": _ratio(f"email_opens_{recent}", f"emails_sent_{recent}"),
        "days_since_last_email_open": _days_since("last_email_open_date", first_seen),
        "email_click_rate": _ratio("email_clicks", "emails_sent"),
        "email_unsubscribed": (_zero("email_unsubscribes") > 0).cast("int"),
        "support_tickets_total": _zero("tickets"),
        "support_satisfaction_mean": _ratio("rating_sum", "ratings"),
    }


def build_features(src: FeatureSources, snapshots: Sequence[date]) -> DataFrame:
    """`customer_features` at every snapshot: one row per customer and snapshot for each customer who signed up
    or had any event before that snapshot, from events strictly before it."""
    purchases = purchase_rows(src.events, snapshots)
    joined = (
        known_customers(src.customers, snapshots)
        .join(purchase_activity(customer_days(purchases), snapshots), on=KEYS, how="full")
        .join(main_category(purchases, snapshots), on=KEYS, how="left")
        .join(engagement_activity(engagement_rows(src, snapshots), snapshots), on=KEYS, how="full")
    )
    return joined.withColumns(feature_columns()).select(
        [F.col(f.name).cast(f.dataType) for f in CUSTOMER_FEATURES.fields]
    )
