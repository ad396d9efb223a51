"""Segment tables of one score date: summary, migration since the previous score date, what-if scenarios.

A segment is a value tier × lifecycle stage cell (`gold/at_risk`). Every function takes `clv_scores` rows of
one score date (and the features they were scored from) and returns a small aggregated DataFrame; nothing
per customer leaves Spark.
"""

from __future__ import annotations

from datetime import date

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from clvlake.config import ActionSpec, Scenario
from clvlake.scoring.lifecycle import segment

NOT_SCORED = "(none)"  # the tier and stage of a customer absent from one of the two score dates


def with_segment(scores: DataFrame) -> DataFrame:
    return scores.withColumn("segment", segment(F.col("value_tier"), F.col("lifecycle_stage")))


def action_lookup(actions: list[ActionSpec], attribute: str) -> Column:
    """The `attribute` (cost, conversion_rate, uplift) of the row's `recommended_action`."""
    values = F.create_map(*[x for a in actions for x in (F.lit(a.name), F.lit(float(getattr(a, attribute))))])
    return values[F.col("recommended_action")]


def churn_probability() -> Column:
    return F.lit(1.0) - F.col("p_alive")


def segment_retention(current: DataFrame, previous: DataFrame) -> DataFrame:
    """segment, retention_rate: of the customers in each segment at the previous score date, the share still
    customers now (scored, and not in the `lost` stage)."""
    still = current.where(F.col("lifecycle_stage") != "lost").select("customer_key", F.lit(1).alias("kept"))
    return (
        with_segment(previous)
        .join(still, on="customer_key", how="left")
        .groupBy("segment")
        .agg((F.count("kept") / F.count(F.lit(1))).alias("retention_rate"))
    )


def segment_summary(
    scores: DataFrame, features: DataFrame, previous: DataFrame | None, actions: list[ActionSpec]
) -> DataFrame:
    """Per segment: customers, predicted CLV (total, average, share), retention, churn, cost and realised value.

    Retention compares with the `previous` score date's scores (null without one); marketing cost and
    conversion come from the segment's action in conf; realised value is the customers' net value to date.
    """
    summary = (
        with_segment(scores)
        .join(features.select("customer_key", "net_value_total"), on="customer_key", how="left")
        .groupBy("score_date", "segment", "value_tier", "lifecycle_stage", "recommended_action")
        .agg(
            F.count(F.lit(1)).alias("customers"),
            F.sum("predicted_clv").alias("total_predicted_clv"),
            F.avg("predicted_clv").alias("avg_predicted_clv"),
            F.avg(churn_probability()).alias("mean_churn_probability"),
            F.coalesce(F.sum("net_value_total"), F.lit(0.0)).alias("realised_value_to_date"),
        )
    )
    if previous is None:
        summary = summary.withColumn("retention_rate", F.lit(None).cast("double"))
    else:
        summary = summary.join(segment_retention(scores, previous), on="segment", how="left")
    grand_total = F.sum("total_predicted_clv").over(Window.partitionBy("score_date"))
    return summary.withColumns(
        {
            "value_share": F.coalesce(F.col("total_predicted_clv") / grand_total, F.lit(0.0)),
            "marketing_cost": F.col("customers") * action_lookup(actions, "cost"),
            "upsell_conversion_rate": action_lookup(actions, "conversion_rate"),
        }
    )


def previous_score_date(scores_table: DataFrame, score_date: date) -> date | None:
    """The latest score date before `score_date` in `clv_scores`, if any (one aggregate)."""
    return scores_table.where(F.col("score_date") < F.lit(score_date)).agg(F.max("score_date")).first()[0]


def segment_migration(
    current: DataFrame, previous: DataFrame, score_date: date, previous_date: date
) -> DataFrame:
    """Customers per (from tier, from stage) → (to tier, to stage) between two score dates.

    A customer present on only one of the dates comes from, or goes to, "(none)".
    """
    before = previous.select(
        "customer_key", F.col("value_tier").alias("from_tier"), F.col("lifecycle_stage").alias("from_stage")
    )
    after = current.select(
        "customer_key", F.col("value_tier").alias("to_tier"), F.col("lifecycle_stage").alias("to_stage")
    )
    moved = before.join(after, on="customer_key", how="full_outer").select(
        *[
            F.coalesce(F.col(c), F.lit(NOT_SCORED)).alias(c)
            for c in ("from_tier", "from_stage", "to_tier", "to_stage")
        ]
    )
    return (
        moved.groupBy("from_tier", "from_stage", "to_tier", "to_stage")
        .agg(F.count(F.lit(1)).alias("customers"))
        .withColumns({"score_date": F.lit(score_date), "previous_score_date": F.lit(previous_date)})
    )


def retention_factor(churn_change: float, mean_p_alive: Column) -> Column:
    """P(alive)′ / P(alive) of a segment when its mean churn probability is scaled by (1 + churn_change).

    Expected value = P(alive) × value if alive, so CLV scales with P(alive). It acts on the segment's mean
    P(alive): per customer, a P(alive) near zero next to a model CLV above zero would make the ratio explode.
    1 where P(alive) is unknown (models without a BTYD fit) or zero.
    """
    changed = F.least(F.greatest(1 - (1 - mean_p_alive) * (1 + churn_change), F.lit(0.0)), F.lit(1.0))
    return F.coalesce(F.when(mean_p_alive > 0, changed / mean_p_alive), F.lit(1.0))


def scenario_clv(scenario: Scenario, baseline: Column, mean_p_alive: Column) -> Column:
    """A segment's CLV under the scenario: × (1 + frequency change) × (1 + order value change) × retention."""
    return (
        baseline
        * (1 + scenario.frequency_change)
        * (1 + scenario.order_value_change)
        * retention_factor(scenario.churn_change, mean_p_alive)
    )


def what_if(scores: DataFrame, scenarios: list[Scenario]) -> DataFrame:
    """Per scenario and segment: customers, baseline and scenario CLV, the change and its share."""
    keys = ["score_date", "segment", "value_tier", "lifecycle_stage"]
    sums = (
        with_segment(scores)
        .groupBy(*keys)
        .agg(
            F.count(F.lit(1)).alias("customers"),
            F.sum("predicted_clv").alias("baseline_clv"),
            F.avg("p_alive").alias("mean_p_alive"),
        )
    )
    per_scenario = F.explode(
        F.array(
            *[
                F.struct(
                    F.lit(s.name).alias("scenario"),
                    F.lit(float(s.churn_change)).alias("churn_change"),
                    F.lit(float(s.frequency_change)).alias("frequency_change"),
                    F.lit(float(s.order_value_change)).alias("order_value_change"),
                    scenario_clv(s, F.col("baseline_clv"), F.col("mean_p_alive")).alias("scenario_clv"),
                )
                for s in scenarios
            ]
        )
    )
    change = F.col("scenario_clv") - F.col("baseline_clv")
    return (
        sums.select(*keys, "customers", "baseline_clv", per_scenario.alias("s"))
        .select(*keys, "customers", "baseline_clv", "s.*")
        .withColumns(
            {
                "change": change,
                "change_share": F.when(F.col("baseline_clv") != 0, change / F.col("baseline_clv")),
            }
        )
    )


def campaign_export(scores: DataFrame, customers: DataFrame, consented_only: bool) -> DataFrame:
    """customer_key, score_date, segment, recommended_action, predicted_clv, churn_probability for CRM tools.

    With `consented_only`, only customers whose `customers` record gives marketing consent.
    """
    rows = with_segment(scores).withColumn("churn_probability", churn_probability())
    if consented_only:
        consenting = customers.where(F.col("marketing_consent")).select("customer_key")
        rows = rows.join(consenting, on="customer_key", how="left_semi")
    return rows
