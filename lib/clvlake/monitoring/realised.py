"""The model's live accuracy: scores whose horizon has passed, against the value customers really brought."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clvlake.features.value import net_value_in_window
from clvlake.modeling.baselines import FormulaInputs, formula_columns
from clvlake.modeling.metrics import evaluate

MODEL, BASELINE = "model", "historical_average"


def matured_score_dates(
    score_dates: list[date], as_of: date, horizon_days: int, judged: frozenset[date] = frozenset()
) -> list[date]:
    """Score dates d whose label window [d, d + H) has fully passed by the as-of date, except those `judged`
    by an earlier monitor run: each score date is judged once, so one old breach does not fail every later
    run (a rerun of the same as-of date judges the same dates again)."""
    return sorted(d for d in score_dates if (as_of - d).days >= horizon_days and d not in judged)


def realised_frame(
    scores: DataFrame, features: DataFrame, events: DataFrame, score_date: date, horizon_days: int
) -> DataFrame:
    """customer_key, label (realised net value in the window), model and baseline predictions."""
    # the historical average depends only on the horizon; retention and margin do not enter it
    baseline = formula_columns(FormulaInputs(retention=1.0, margin=1.0, horizon_days=horizon_days))[BASELINE]
    realised = net_value_in_window(events, score_date, horizon_days)
    return (
        scores.select("customer_key", F.col("predicted_clv").alias(MODEL))
        .join(
            features.select("customer_key", F.greatest(baseline, F.lit(0.0)).alias(BASELINE)),
            on="customer_key",
            how="left",
        )
        .join(realised, on="customer_key", how="left")
        .fillna({"label": 0.0, BASELINE: 0.0})
    )


def realised_metrics(frame: DataFrame) -> dict[str, dict[str, float]]:
    """method → metrics (RMSE, MAE, Spearman, normalised Gini, total ratio…) on the realised values."""
    return {method: evaluate(frame, "label", method) for method in (MODEL, BASELINE)}
