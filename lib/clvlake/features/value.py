"""Net value as a stream of dated cash events: orders add, refunds subtract, each at its own timestamp.

Dating refunds by their own timestamp (not by their order's) keeps features point-in-time correct: a refund
issued after the snapshot never changes a feature at the snapshot, and the label counts it in its window.
"""

from __future__ import annotations

from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F


def order_net_value(margin_mode: bool) -> Column:
    """gross − discount, minus cost of goods and shipping when margin mode is on."""
    value = F.col("gross_amount") - F.col("discount_amount")
    if margin_mode:
        value = value - F.col("cost_of_goods") - F.col("shipping_cost")
    return value.cast("double")


def value_events(orders: DataFrame, refunds: DataFrame, margin_mode: bool) -> DataFrame:
    """customer_key, event_date, net_value, is_order, gross, discount, product_category: one row per order or
    refund (gross and discount are 0 and the category null for refunds)."""
    order_events = orders.select(
        "customer_key",
        "event_date",
        order_net_value(margin_mode).alias("net_value"),
        F.lit(True).alias("is_order"),
        F.col("gross_amount").cast("double").alias("gross"),
        F.col("discount_amount").cast("double").alias("discount"),
        "product_category",
    )
    refund_events = refunds.select(
        "customer_key",
        "event_date",
        (-F.col("amount")).cast("double").alias("net_value"),
        F.lit(False).alias("is_order"),
        F.lit(0.0).alias("gross"),
        F.lit(0.0).alias("discount"),
        F.lit(None).cast("string").alias("product_category"),
    )
    return order_events.unionByName(refund_events)


def net_value_in_window(events: DataFrame, start: date, horizon_days: int) -> DataFrame:
    """customer_key, label: the net value of events in [start, start + horizon_days)."""
    end = start + timedelta(days=horizon_days)
    return (
        events.where((F.col("event_date") >= F.lit(start)) & (F.col("event_date") < F.lit(end)))
        .groupBy("customer_key")
        .agg(F.sum("net_value").alias("label"))
    )
