"""The classic CLV formulas, as per-customer predictions of net value over the horizon H.

Per-customer rates come from the features at the snapshot; the population retention r (share of customers who
bought before the snapshot and buy again within H) is estimated on the training customers, churn = 1 − r.
Lifetime formulas are cut to one horizon so every method predicts the same quantity as the label:

* `historical_average`: the customer's net value per day so far × H.
* `aov_frequency_lifespan`: AOV × orders per day so far × expected active days in the horizon (H · r).
* `revenue_margin_churn`: (net value of the last 365 days scaled to H × margin) × r ÷ churn, the classic
  m · r / (1 + d − r) with no discounting ("revenue × margin ÷ churn rate" with retention-adjusted revenue).
* `comprehensive`: AOV × retention period in the horizon (r) × transactions (orders of the last 365 days
  scaled to H) × margin.
"""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

FORMULAS = ("historical_average", "aov_frequency_lifespan", "revenue_margin_churn", "comprehensive")
BTYD = "bgnbd_gamma_gamma"
# the rest of the BTYD family, by their `BtydModel` field: baselines where their fit is not degenerate
BTYD_FAMILY = {"pareto_nbd": "pareto_nbd_gamma_gamma", "mbgnbd": "mbgnbd_gamma_gamma"}
BASELINES = (*FORMULAS, BTYD, *BTYD_FAMILY.values())
_MIN_CHURN = 0.01


@dataclass(frozen=True)
class FormulaInputs:
    retention: float
    margin: float
    horizon_days: int


def retention_rate(training: DataFrame) -> float:
    """Share of customers who bought before the snapshot and have a positive label (bought again within H)."""
    row = (
        training.where(F.col("orders_total") > 0)
        .agg(F.avg((F.col("label") > 0).cast("double")).alias("r"))
        .first()
    )
    return float(row["r"] or 0.0)


def formula_columns(inputs: FormulaInputs) -> dict[str, Column]:
    """The four formula predictions as columns over `customer_features`."""
    h, r, margin = inputs.horizon_days, inputs.retention, inputs.margin
    churn = max(1.0 - r, _MIN_CHURN)
    age = F.greatest(F.col("customer_age_days"), F.lit(1))
    per_horizon_365 = h / 365.0
    return {
        "historical_average": F.col("net_value_total") / age * h,
        "aov_frequency_lifespan": F.col("avg_order_value") * F.col("orders_total") / age * (h * r),
        "revenue_margin_churn": F.col("net_value_365d") * (per_horizon_365 * margin * r / churn),
        "comprehensive": F.col("avg_order_value") * F.col("orders_365d") * (per_horizon_365 * r * margin),
    }


def with_formula_baselines(features: DataFrame, inputs: FormulaInputs) -> DataFrame:
    """Adds one column per formula, floored at zero like every prediction."""
    return features.withColumns(
        {name: F.greatest(column, F.lit(0.0)) for name, column in formula_columns(inputs).items()}
    )
