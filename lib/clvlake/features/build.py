"""The customer feature builder: RFM, BTYD statistics and trailing windows as of a snapshot date."""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from clvlake.schemas import CUSTOMER_FEATURES, TRAILING_WINDOWS_DAYS


def daily_activity(events: DataFrame, snapshot: date) -> DataFrame:
    """customer_key, event_date, day_value, day_order_value, day_orders for days strictly before `snapshot`.

    Rolling up to customer-days first makes purchase-day counts (BTYD's repeat purchases) a plain sum instead
    of a costly distinct count, and shrinks the input of the per-customer aggregation.
    """
    return (
        events.where(F.col("event_date") < F.lit(snapshot))
        .groupBy("customer_key", "event_date")
        .agg(
            F.sum("net_value").alias("day_value"),
            F.sum(F.when(F.col("is_order"), F.col("net_value")).otherwise(0.0)).alias("day_order_value"),
            F.sum(F.col("is_order").cast("int")).alias("day_orders"),
        )
    )


def _since(days: int, snapshot: date) -> Column:
    return F.col("event_date") >= F.lit(snapshot - timedelta(days=days))


def customer_activity(daily: DataFrame, snapshot: date) -> DataFrame:
    """One row per customer with any event before the snapshot: totals, purchase days, windows (one pass)."""
    purchase_day = F.col("day_orders") > 0
    windows = [
        agg
        for w in TRAILING_WINDOWS_DAYS
        for agg in (
            F.sum(F.when(_since(w, snapshot), F.col("day_orders")).otherwise(0)).alias(f"orders_{w}d"),
            F.sum(F.when(_since(w, snapshot), F.col("day_value")).otherwise(0.0)).alias(f"net_value_{w}d"),
        )
    ]
    return daily.groupBy("customer_key").agg(
        F.min("event_date").alias("first_event_date"),
        F.min(F.when(purchase_day, F.col("event_date"))).alias("first_purchase_date"),
        F.max(F.when(purchase_day, F.col("event_date"))).alias("last_purchase_date"),
        F.sum(purchase_day.cast("int")).alias("purchase_days"),
        F.sum("day_orders").alias("orders_total"),
        F.sum("day_value").alias("net_value_total"),
        F.sum("day_order_value").alias("order_value_total"),
        F.sum(F.when(purchase_day, F.col("day_value")).otherwise(0.0)).alias("purchase_days_value"),
        F.min_by(F.col("day_value"), F.when(purchase_day, F.col("event_date"))).alias(
            "first_purchase_day_value"
        ),
        *windows,
    )


def known_customers(customers: DataFrame, snapshot: date) -> DataFrame:
    """customer_key, signup_date, acquisition_channel of CRM customers who signed up before the snapshot."""
    return customers.where(F.col("signup_ts") < F.lit(snapshot).cast("timestamp")).select(
        "customer_key", F.to_date("signup_ts").alias("signup_date"), "acquisition_channel"
    )


def build_features(events: DataFrame, customers: DataFrame, snapshot: date) -> DataFrame:
    """`customer_features` at `snapshot`: one row per customer who signed up or had an event before it."""
    activity = customer_activity(daily_activity(events, snapshot), snapshot)
    first_seen = F.least("signup_date", "first_event_date")
    buyer = F.col("first_purchase_date").isNotNull()
    repeat_days = F.col("purchase_days") - 1
    columns = {
        "snapshot_date": F.lit(snapshot),
        "first_seen_date": first_seen,
        "customer_age_days": F.datediff(F.lit(snapshot), first_seen),
        "cohort_month": F.date_format("first_purchase_date", "yyyy-MM"),
        "orders_total": F.coalesce("orders_total", F.lit(0)),
        "net_value_total": F.coalesce("net_value_total", F.lit(0.0)),
        "avg_order_value": F.when(
            F.col("orders_total") > 0, F.col("order_value_total") / F.col("orders_total")
        ).otherwise(0.0),
        "bt_frequency": F.when(buyer, repeat_days).otherwise(0),
        "bt_recency_days": F.when(buyer, F.datediff("last_purchase_date", "first_purchase_date")).otherwise(
            0
        ),
        "bt_tenure_days": F.when(buyer, F.datediff(F.lit(snapshot), "first_purchase_date")).otherwise(0),
        "bt_monetary_value": F.when(
            repeat_days > 0, (F.col("purchase_days_value") - F.col("first_purchase_day_value")) / repeat_days
        ).otherwise(0.0),
        "days_since_last_purchase": F.coalesce(
            F.datediff(F.lit(snapshot), "last_purchase_date"), F.datediff(F.lit(snapshot), first_seen)
        ),
        **{
            c: F.coalesce(c, F.lit(0))
            for w in TRAILING_WINDOWS_DAYS
            for c in (f"orders_{w}d", f"net_value_{w}d")
        },
    }
    joined = known_customers(customers, snapshot).join(activity, on="customer_key", how="full")
    return joined.withColumns(columns).select(
        [F.col(f.name).cast(f.dataType) for f in CUSTOMER_FEATURES.fields]
    )
