"""Discounted values and predictions over several horizons, for marketers who plan by quarter or half-year.

`discount_factor` is the present value of one unit of value that arrives evenly over a horizon, discounted
continuously at an annual rate: (1 − (1 + d)^−y) ÷ (y · ln(1 + d)) for a horizon of y years, 1 at d = 0. It
applies to the model's CLV (`clv_scores.discounted_clv`) and to each BG/NBD horizon value alike. BG/NBD's
purchase rate falls over a horizon as customers drop out, so its value arrives somewhat earlier than evenly and
the even spread discounts it slightly too much (at 10 % a year over one year: a factor of 0.953 instead of up to
about 0.96).

`horizon_rows` gives `clv_horizons`: per customer and horizon of `scoring.horizons_days`, the BG/NBD expected
purchase days, times the Gamma-Gamma value per purchase, and that value discounted.
"""

from __future__ import annotations

import math

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from clvlake.modeling.btyd import BtydModel, expected_order_value, expected_orders

DAYS_PER_YEAR = 365.0


def discount_factor(horizon_days: int, annual_rate: float) -> float:
    """Present value of one unit spread evenly over `horizon_days`, discounted at `annual_rate`."""
    if annual_rate == 0:
        return 1.0
    years = horizon_days / DAYS_PER_YEAR
    return (1 - (1 + annual_rate) ** -years) / (years * math.log1p(annual_rate))


def discounted(value: Column, horizon_days: int, annual_rate: float) -> Column:
    return value * F.lit(discount_factor(horizon_days, annual_rate))


def horizon_rows(
    features: DataFrame, btyd: BtydModel, horizons_days: list[int], annual_rate: float, model_version: str
) -> DataFrame:
    """`clv_horizons` rows: one per customer of `features` (at its snapshot_date) and horizon."""
    per_horizon = F.array(
        *[
            F.struct(
                F.lit(h).alias("horizon_days"),
                expected_orders(btyd, h).alias("expected_orders"),
                F.lit(discount_factor(h, annual_rate)).alias("factor"),
            )
            for h in sorted(set(horizons_days))
        ]
    )
    value = F.col("h.expected_orders") * F.col("_order_value")
    return features.select(
        "customer_key",
        F.col("snapshot_date").alias("score_date"),
        expected_order_value(btyd.gamma_gamma).alias("_order_value"),
        F.explode(per_horizon).alias("h"),
    ).select(
        "customer_key",
        "score_date",
        "h.horizon_days",
        "h.expected_orders",
        value.alias("expected_value"),
        (value * F.col("h.factor")).alias("discounted_value"),
        F.lit(annual_rate).alias("discount_rate"),
        F.lit(model_version).alias("model_version"),
    )
