"""Cohorts by first-purchase month: retention and cumulative net value per customer by months since then."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def cohorts(events: DataFrame, score_date: date) -> DataFrame:
    """Cohort table from value events (customer_key, event_date, net_value, is_order) before `score_date`.

    Every cohort has a row for every month from its first up to the month before the score date, including
    months in which nobody bought (active 0, cumulative value carried over). A refund counts in the month it
    was issued, as in the features.
    """
    before = events.where(F.col("event_date") < F.lit(score_date))
    first = (
        before.where("is_order")
        .groupBy("customer_key")
        .agg(F.trunc(F.min("event_date"), "month").alias("cohort_start"))
    )
    monthly = (
        before.join(first, on="customer_key")
        .withColumn(
            "months_since_first",
            F.months_between(F.trunc("event_date", "month"), F.col("cohort_start")).cast("int"),
        )
        .groupBy("cohort_start", "months_since_first")
        .agg(
            F.count_distinct(F.when(F.col("is_order"), F.col("customer_key"))).alias("active_customers"),
            F.sum("net_value").alias("net_value"),
        )
    )
    last_month = F.trunc(F.date_sub(F.lit(score_date), 1), "month")
    grid = (
        first.groupBy("cohort_start")
        .agg(F.count(F.lit(1)).alias("cohort_customers"))
        .withColumn(
            "months_since_first",
            F.explode(F.sequence(F.lit(0), F.months_between(last_month, F.col("cohort_start")).cast("int"))),
        )
    )
    so_far = Window.partitionBy("cohort_start").orderBy("months_since_first")
    return (
        grid.join(monthly, on=["cohort_start", "months_since_first"], how="left")
        .fillna({"active_customers": 0, "net_value": 0.0})
        .withColumns(
            {
                "score_date": F.lit(score_date),
                "cohort_month": F.date_format("cohort_start", "yyyy-MM"),
                "retention_rate": F.col("active_customers") / F.col("cohort_customers"),
                "cumulative_value_per_customer": F.sum("net_value").over(so_far) / F.col("cohort_customers"),
            }
        )
        .drop("cohort_start")
    )
