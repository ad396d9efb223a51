"""Value tiers and the tier summary."""

from chispa import assert_df_equality
from pyspark.sql import functions as F

from clvlake.config import TierRule
from clvlake.scoring.tiers import tier_summary, tier_thresholds, value_tier

TIERS = [TierRule("top", 0.9), TierRule("middle", 0.5), TierRule("base", 0.0)]


def test_tiers_follow_the_configured_quantiles(spark):
    scores = spark.createDataFrame(
        [(f"c{i}", float(i)) for i in range(100)], "customer_key string, predicted_clv double"
    )
    thresholds = tier_thresholds(scores, TIERS)
    tiered = scores.withColumn("value_tier", value_tier(F.col("predicted_clv"), TIERS, thresholds))
    counts = {r["value_tier"]: r["count"] for r in tiered.groupBy("value_tier").count().collect()}
    assert counts == {"top": 10, "middle": 40, "base": 50}
    assert tiered.where("customer_key = 'c99'").first()["value_tier"] == "top"
    assert tiered.where("customer_key = 'c0'").first()["value_tier"] == "base"


def test_single_tier_takes_everyone(spark):
    scores = spark.createDataFrame([("a", 1.0), ("b", 2.0)], "customer_key string, predicted_clv double")
    tiers = [TierRule("all", 0.0)]
    tiered = scores.withColumn(
        "value_tier", value_tier(F.col("predicted_clv"), tiers, tier_thresholds(scores, tiers))
    )
    assert {r["value_tier"] for r in tiered.collect()} == {"all"}


def test_tier_summary(spark):
    scores = spark.createDataFrame(
        [("a", 60.0, "top"), ("b", 30.0, "middle"), ("c", 10.0, "middle")],
        "customer_key string, predicted_clv double, value_tier string",
    )
    expected = spark.createDataFrame(
        [("top", 1, 60.0, 60.0, 0.6), ("middle", 2, 40.0, 20.0, 0.4)],
        "value_tier string, customers long, total_clv double, avg_clv double, value_share double",
    )
    assert_df_equality(tier_summary(scores, TIERS), expected, ignore_nullable=True, ignore_row_order=True)
