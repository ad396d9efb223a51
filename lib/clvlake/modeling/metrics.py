"""Evaluation metrics computed in Spark (no per-customer rows reach the driver).

All take a DataFrame with an actual and a predicted column and return plain floats.
"""

from __future__ import annotations

from pyspark.ml.feature import VectorAssembler
from pyspark.ml.stat import Correlation
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F


def error_metrics(df: DataFrame, actual: str, predicted: str) -> dict[str, float]:
    """RMSE, MAE and the total ratio (sum predicted ÷ sum actual) in one pass."""
    err = F.col(predicted) - F.col(actual)
    row = df.agg(
        F.sqrt(F.avg(err * err)).alias("rmse"),
        F.avg(F.abs(err)).alias("mae"),
        F.sum(predicted).alias("sum_predicted"),
        F.sum(actual).alias("sum_actual"),
    ).first()
    total_ratio = row["sum_predicted"] / row["sum_actual"] if row["sum_actual"] else float("nan")
    return {"rmse": float(row["rmse"]), "mae": float(row["mae"]), "total_ratio": float(total_ratio)}


def spearman(df: DataFrame, actual: str, predicted: str) -> float:
    """Spearman rank correlation (ties get average ranks), computed by Spark ML."""
    vectors = VectorAssembler(inputCols=[actual, predicted], outputCol="_pair").transform(
        df.select(F.col(actual).cast("double"), F.col(predicted).cast("double"))
    )
    matrix = Correlation.corr(vectors, "_pair", method="spearman").first()[0]
    return float(matrix[0, 1])


def gain_curve(df: DataFrame, actual: str, ordered_by: str) -> tuple[DataFrame, float, float]:
    """Steps of the gain curve (customers ordered by `ordered_by`, descending), with the totals N and V.

    Customers with equal `ordered_by` are one step (`_score`, n, v, cum_n, cum_v), so ties are not ordered by
    chance. The window runs over distinct score values, not over customers' rows on the driver.
    """
    steps = df.groupBy(F.col(ordered_by).alias("_score")).agg(
        F.count(F.lit(1)).alias("n"), F.sum(actual).alias("v")
    )
    running = Window.orderBy(F.col("_score").desc()).rowsBetween(Window.unboundedPreceding, Window.currentRow)
    curve = steps.select(
        "_score", "n", "v", F.sum("n").over(running).alias("cum_n"), F.sum("v").over(running).alias("cum_v")
    )
    totals = steps.agg(F.sum("n").alias("N"), F.sum("v").alias("V")).first()
    return curve, float(totals["N"] or 0), float(totals["V"] or 0.0)


def gini(df: DataFrame, actual: str, ordered_by: str) -> float:
    """Gini of the gain curve: customers ordered by `ordered_by` (descending), cumulative share of `actual`."""
    curve, total_n, total_v = gain_curve(df, actual, ordered_by)
    if not total_v:
        return float("nan")
    # area under the gain curve by trapezoids: each step spans n/N in x and rises from (cum_v - v)/V to cum_v/V
    area = curve.agg(F.sum(F.col("n") / total_n * (2 * F.col("cum_v") - F.col("v")) / (2 * total_v))).first()[
        0
    ]
    return float(2 * area - 1)


def top_decile_capture(df: DataFrame, actual: str, predicted: str, share: float = 0.1) -> float:
    """Share of the actual total captured by the top `share` of customers by prediction (ties split evenly)."""
    curve, total_n, total_v = gain_curve(df, actual, predicted)
    if not total_v:
        return float("nan")
    cut = share * total_n
    before = F.col("cum_n") - F.col("n")
    captured = curve.agg(
        F.sum(
            F.when(F.col("cum_n") <= cut, F.col("v"))
            .when(before < cut, F.col("v") * (F.lit(cut) - before) / F.col("n"))
            .otherwise(0.0)
        )
    ).first()[0]
    return float(captured / total_v)


def decile_calibration(df: DataFrame, actual: str = "label", predicted: str = "prediction") -> DataFrame:
    """decile (1 = highest predictions), customers, mean_predicted, mean_actual: the calibration table.

    Customers tied on the prediction share the decile of their step's middle rank.
    """
    curve, total_n, _ = gain_curve(df, actual, predicted)
    decile = F.least(F.lit(10), F.floor((F.col("cum_n") - F.col("n") / 2) / F.lit(total_n) * 10) + 1)
    deciles = curve.select(F.col("_score").alias(predicted), decile.cast("int").alias("decile"))
    return (
        df.join(deciles, on=predicted, how="inner")
        .groupBy("decile")
        .agg(
            F.count(F.lit(1)).alias("customers"),
            F.avg(predicted).alias("mean_predicted"),
            F.avg(actual).alias("mean_actual"),
        )
    )


def normalised_gini(df: DataFrame, actual: str, predicted: str) -> float:
    """Gini of the model's ordering divided by the Gini of the perfect ordering (1.0 = perfect ranking)."""
    perfect = gini(df, actual, actual)
    return gini(df, actual, predicted) / perfect if perfect else float("nan")


def evaluate(df: DataFrame, actual: str = "label", predicted: str = "prediction") -> dict[str, float]:
    return {
        **error_metrics(df, actual, predicted),
        "spearman": spearman(df, actual, predicted),
        "normalised_gini": normalised_gini(df, actual, predicted),
        "top_decile_capture": top_decile_capture(df, actual, predicted),
    }


def score_metric(metric: str, value: float) -> float:
    """A value where higher is better: errors are negated, the total ratio scores by its distance from 1."""
    if metric in ("rmse", "mae"):
        return -value
    if metric == "total_ratio":
        return -abs(value - 1.0)
    return value
