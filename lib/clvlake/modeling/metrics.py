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


def gini(df: DataFrame, actual: str, ordered_by: str) -> float:
    """Gini of the gain curve: customers ordered by `ordered_by` (descending), cumulative share of `actual`.

    Customers with equal `ordered_by` are one step of the curve (trapezoid), so ties are not ordered by chance.
    The window runs over distinct score values, not over customers' rows on the driver.
    """
    steps = df.groupBy(F.col(ordered_by).alias("_score")).agg(
        F.count(F.lit(1)).alias("n"), F.sum(actual).alias("v")
    )
    running = Window.orderBy(F.col("_score").desc()).rowsBetween(Window.unboundedPreceding, Window.currentRow)
    curve = steps.select(
        "n", "v", F.sum("n").over(running).alias("cum_n"), F.sum("v").over(running).alias("cum_v")
    )
    totals = steps.agg(F.sum("n").alias("N"), F.sum("v").alias("V")).first()
    if not totals["V"]:
        return float("nan")
    # area under the gain curve by trapezoids: each step spans n/N in x and rises from (cum_v - v)/V to cum_v/V
    area = curve.agg(
        F.sum(F.col("n") / totals["N"] * (2 * F.col("cum_v") - F.col("v")) / (2 * totals["V"]))
    ).first()[0]
    return float(2 * area - 1)


def normalised_gini(df: DataFrame, actual: str, predicted: str) -> float:
    """Gini of the model's ordering divided by the Gini of the perfect ordering (1.0 = perfect ranking)."""
    perfect = gini(df, actual, actual)
    return gini(df, actual, predicted) / perfect if perfect else float("nan")


def evaluate(df: DataFrame, actual: str = "label", predicted: str = "prediction") -> dict[str, float]:
    return {
        **error_metrics(df, actual, predicted),
        "spearman": spearman(df, actual, predicted),
        "normalised_gini": normalised_gini(df, actual, predicted),
    }
