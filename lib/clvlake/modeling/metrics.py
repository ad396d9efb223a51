"""Evaluation metrics computed in Spark (no per-customer rows reach the driver).

`evaluate_groups` scores many predictors at once (e.g. every method of a backtest, stacked in long form): all
their metrics and decile tables come from one gain curve per group and ordering, so the number of Spark jobs does
not grow with the number of methods. `evaluate` is the one-predictor form.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

GAIN_CURVE_RANGES = 64  # score ranges the gain curve's running sums are split into, so they spread over tasks
ORDERINGS = ("predicted", "actual")  # a model's curve, and the perfect curve its Gini is normalised by
METRICS = ("rmse", "mae", "total_ratio", "spearman", "normalised_gini", "top_decile_capture")
_ONE = "_one"  # the group column of a single predictor


def score_range(bounds: Column) -> Column:
    """The range of a step's `_score`, 0 = the highest: how many of the row's `bounds` lie above it; nulls, which
    the curve sorts last, fall in the last range. A score is one step, so tied customers always share a range."""
    ascending = F.array_sort(F.array_distinct(F.filter(bounds, lambda b: ~F.isnan(b))))  # NaN sorts above all
    return F.when(F.col("_score").isNull(), F.size(ascending)).otherwise(
        F.size(F.filter(ascending, lambda b: b > F.col("_score")))
    )


def gain_curves(
    df: DataFrame, actual: str, ordered_by: str, by: list[str], ranges: int = GAIN_CURVE_RANGES
) -> DataFrame:
    """Steps of each group's gain curve (customers ordered by `ordered_by`, descending); `by` names the group
    columns (at least one).

    One row per group and distinct score: `by`…, `_range`, `_score`, n, v, cum_n, cum_v, total_n, total_v.
    Customers with equal scores are one step, so ties are not ordered by chance; a missing `actual` counts as 0.
    The running sums run in parallel: each group's customers are split into about `ranges` score ranges between
    approximate quantiles, every range is summed on its own, then offset by the totals of the ranges above it.
    """
    scores = df.select(
        *by,
        F.col(ordered_by).alias("_score"),
        F.coalesce(F.col(actual).cast("double"), F.lit(0.0)).alias("_actual"),
    )
    probabilities = [i / ranges for i in range(1, ranges)]
    bounds = scores.groupBy(*by).agg(
        (F.percentile_approx("_score", probabilities, 4 * ranges) if probabilities else F.array())
        .cast("array<double>")
        .alias("_bounds")
    )
    steps = (
        scores.join(F.broadcast(bounds), on=by, how="inner")
        .withColumn("_range", score_range(F.col("_bounds")))
        .repartition(*by, "_range")  # one shuffle: the steps and their windows then need no other
        .groupBy(*by, "_range", "_score")
        .agg(F.count(F.lit(1)).alias("n"), F.sum("_actual").alias("v"))
    )
    within = Window.partitionBy(*by, "_range").orderBy(F.col("_score").desc())
    running = within.rowsBetween(Window.unboundedPreceding, Window.currentRow)
    summed = steps.withColumns(
        {"cum_n": F.sum("n").over(running), "cum_v": F.sum("v").over(running)}
    ).localCheckpoint()  # one pass; the range totals and the curve both read it
    return summed.join(F.broadcast(range_offsets(summed, by)), on=[*by, "_range"]).select(
        *by,
        "_range",
        "_score",
        "n",
        "v",
        (F.col("cum_n") + F.col("n_before")).alias("cum_n"),
        (F.col("cum_v") + F.col("v_before")).alias("cum_v"),
        "total_n",
        "total_v",
    )


def range_offsets(summed: DataFrame, by: list[str]) -> DataFrame:
    """Per group and range: the customers and value of the ranges above it (n_before, v_before) and the group's
    totals; a small frame (groups × ranges rows)."""
    above = Window.partitionBy(*by).orderBy("_range").rowsBetween(Window.unboundedPreceding, -1)
    group = Window.partitionBy(*by)
    totals = summed.groupBy(*by, "_range").agg(F.sum("n").alias("n"), F.sum("v").alias("v"))
    return totals.select(
        *by,
        "_range",
        F.coalesce(F.sum("n").over(above), F.lit(0)).alias("n_before"),
        F.coalesce(F.sum("v").over(above), F.lit(0.0)).alias("v_before"),
        F.sum("n").over(group).cast("double").alias("total_n"),
        F.sum("v").over(group).alias("total_v"),
    )


def _stacked_orderings(df: DataFrame, group: str, actual: str, predicted: str) -> DataFrame:
    """Each row twice: scored by the prediction (`_ordering` predicted) and by the actual value (actual)."""
    return df.select(
        group,
        F.col(actual).alias("_label"),
        F.explode(
            F.array(
                *[
                    F.struct(F.lit(o).alias("_ordering"), F.col(c).cast("double").alias("_by"))
                    for o, c in zip(ORDERINGS, (predicted, actual), strict=True)
                ]
            )
        ).alias("_o"),
    ).select(group, "_label", "_o._ordering", "_o._by")


def _curve_metrics(curves: DataFrame, group: str) -> DataFrame:
    """Per group and ordering: the Gini of the curve and the share of value captured by the top 10 %."""
    valued = F.col("total_v") != 0
    area = F.sum(F.col("n") / F.col("total_n") * (2 * F.col("cum_v") - F.col("v")) / (2 * F.col("total_v")))
    cut, before = 0.1 * F.col("total_n"), F.col("cum_n") - F.col("n")
    captured = F.sum(
        F.when(F.col("cum_n") <= cut, F.col("v"))
        .when(before < cut, F.col("v") * (cut - before) / F.col("n"))
        .otherwise(0.0)
    )
    return curves.groupBy(group, "_ordering").agg(
        F.when(F.first(valued), 2 * area - 1).alias("gini"),
        F.when(F.first(valued), captured / F.first("total_v")).alias("capture"),
    )


def _with_steps(df: DataFrame, curves: DataFrame, group: str, actual: str, predicted: str) -> DataFrame:
    """Each row with its average rank under both orderings (ties share the mean rank) and its decile by the
    prediction (1 = highest; tied customers share the decile of their step's middle rank)."""

    def steps(ordering: str) -> DataFrame:
        return curves.where(F.col("_ordering") == ordering).select(
            F.col(group).alias(f"_{ordering}_group"),
            F.col("_score").alias(f"_{ordering}_score"),
            (F.col("cum_n") - (F.col("n") - 1) / 2).alias(f"_{ordering}_rank"),
            F.least(F.lit(10), F.floor((F.col("cum_n") - F.col("n") / 2) / F.col("total_n") * 10) + 1)
            .cast("int")
            .alias(f"_{ordering}_decile"),
        )

    joined = df
    for ordering, column in zip(ORDERINGS, (predicted, actual), strict=True):
        same_step = (F.col(group) == F.col(f"_{ordering}_group")) & F.col(column).cast("double").eqNullSafe(
            F.col(f"_{ordering}_score")
        )
        joined = joined.join(steps(ordering), same_step)
    return joined.withColumnRenamed("_predicted_decile", "decile")


def evaluate_groups(
    df: DataFrame, group: str, actual: str = "label", predicted: str = "prediction"
) -> tuple[dict[str, dict[str, float]], DataFrame]:
    """Every metric of each group's predictions, and the groups' decile calibration tables.

    Returns group value → {rmse, mae, total_ratio, spearman, normalised_gini, top_decile_capture}, and a frame of
    `group`, decile (1 = highest predictions), customers, mean_predicted, mean_actual.
    """
    stacked = _stacked_orderings(df, group, actual, predicted)
    curves = gain_curves(stacked, "_label", "_by", [group, "_ordering"]).localCheckpoint()
    per_curve = {
        (r[group], r["_ordering"]): r for r in _curve_metrics(curves, group).collect()
    }  # 2 per group
    ranked = _with_steps(df, curves, group, actual, predicted)
    err = F.col(predicted) - F.col(actual)
    totals = ranked.groupBy(group).agg(
        F.sqrt(F.avg(err * err)).alias("rmse"),
        F.avg(F.abs(err)).alias("mae"),
        F.sum(predicted).alias("sum_predicted"),
        F.sum(actual).alias("sum_actual"),
        F.corr("_predicted_rank", "_actual_rank").alias("spearman"),
    )
    metrics = {}
    for row in totals.collect():  # one row per group
        model, perfect = per_curve[(row[group], "predicted")], per_curve[(row[group], "actual")]
        metrics[row[group]] = {
            "rmse": float(row["rmse"]),
            "mae": float(row["mae"]),
            "total_ratio": _ratio(row["sum_predicted"], row["sum_actual"]),
            "spearman": _nan_if_none(row["spearman"]),
            "normalised_gini": _ratio(model["gini"], perfect["gini"]),
            "top_decile_capture": _nan_if_none(model["capture"]),
        }
    deciles = ranked.groupBy(group, "decile").agg(
        F.count(F.lit(1)).alias("customers"),
        F.avg(predicted).alias("mean_predicted"),
        F.avg(actual).alias("mean_actual"),
    )
    return metrics, deciles


def _nan_if_none(value: float | None) -> float:
    return float("nan") if value is None else float(value)


def _ratio(numerator: float | None, denominator: float | None) -> float:
    return float(numerator) / float(denominator) if numerator is not None and denominator else float("nan")


def evaluate(df: DataFrame, actual: str = "label", predicted: str = "prediction") -> dict[str, float]:
    """Every metric of one predictor (RMSE, MAE, total ratio, Spearman, normalised Gini, top-decile capture).
    `df` is computed once (e.g. a model's predictions: the metrics' jobs then neither predict again nor carry the
    model in their tasks)."""
    metrics, _ = evaluate_groups(df.withColumn(_ONE, F.lit(0)).localCheckpoint(), _ONE, actual, predicted)
    return metrics[0]


def score_metric(metric: str, value: float) -> float:
    """A value where higher is better: errors are negated, the total ratio scores by its distance from 1."""
    if metric in ("rmse", "mae"):
        return -value
    if metric == "total_ratio":
        return -abs(value - 1.0)
    return value
