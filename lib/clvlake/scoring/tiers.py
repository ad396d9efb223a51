"""Value tiers from predicted CLV quantiles (thresholds in conf)."""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from clvlake.config import TierRule

QUANTILE_RELATIVE_ERROR = 0.001


def tier_thresholds(scores: DataFrame, tiers: list[TierRule], column: str = "predicted_clv") -> list[float]:
    """The predicted-CLV value at each tier's `min_quantile` (a handful of numbers, computed in Spark)."""
    return scores.approxQuantile(column, [t.min_quantile for t in tiers], QUANTILE_RELATIVE_ERROR)


def value_tier(column: Column, tiers: list[TierRule], thresholds: list[float]) -> Column:
    """The first (highest) tier whose threshold the value is above; the last tier takes everyone else.

    "Above the 0.95 quantile" puts the top 5 % in the tier; values tied at a threshold go to the tier below.
    """
    expr = None
    for tier, threshold in zip(tiers[:-1], thresholds[:-1], strict=True):
        expr = (
            F.when(column > threshold, F.lit(tier.name))
            if expr is None
            else expr.when(column > threshold, F.lit(tier.name))
        )
    last = F.lit(tiers[-1].name)
    return last if expr is None else expr.otherwise(last)


def tier_summary(scores: DataFrame, tiers: list[TierRule]) -> DataFrame:
    """Per tier (in conf order): customers, total and average predicted CLV, share of total value."""
    order = F.create_map(*[x for i, t in enumerate(tiers) for x in (F.lit(t.name), F.lit(i))])
    summary = scores.groupBy("value_tier").agg(
        F.count(F.lit(1)).alias("customers"),
        F.sum("predicted_clv").alias("total_clv"),
        F.avg("predicted_clv").alias("avg_clv"),
    )
    grand_total = summary.agg(F.sum("total_clv").alias("_grand_total"))  # one row: no single-partition window
    return (
        summary.crossJoin(grand_total)
        .withColumn("value_share", F.col("total_clv") / F.col("_grand_total"))
        .drop("_grand_total")
        .orderBy(order[F.col("value_tier")])
    )
