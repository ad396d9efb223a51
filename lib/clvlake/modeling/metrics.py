"""Evaluation metrics computed in Spark (no per-customer rows reach the driver).

All take a DataFrame with an actual and a predicted column and return plain floats.
"""

from __future__ import annotations

from pyspark.ml.feature import VectorAssembler
from pyspark.ml.stat import Correlation
from pyspark.sql import Column, DataFrame, Row, Window
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


GAIN_CURVE_RANGES = 64  # score ranges the gain curve's running sums are split into, so they spread over tasks


def bounds_above(score: Column, bounds: list[float]) -> Column:
    """How many of the ascending `bounds` lie above `score`, by binary search (a few comparisons a row)."""
    if not bounds:
        return F.lit(0)
    middle = len(bounds) // 2
    return F.when(
        score < F.lit(bounds[middle]), len(bounds) - middle + bounds_above(score, bounds[:middle])
    ).otherwise(bounds_above(score, bounds[middle + 1 :]))


def score_range(bounds: list[float]) -> Column:
    """The range of a step's `_score`, 0 = the highest: how many `bounds` lie above it; nulls, which the curve
    sorts last, fall in the last range. A score is one step, so tied customers always share a range."""
    ascending = sorted({b for b in bounds if b == b})  # NaN sorts above every number in Spark: in range 0
    return F.when(F.col("_score").isNull(), len(ascending)).otherwise(
        bounds_above(F.col("_score"), ascending)
    )


def offset_of_range(offsets: dict[int, float]) -> Column:
    """The value in `offsets` (range → value) of each row's `_range`."""
    return F.element_at(F.create_map(*[F.lit(x) for pair in offsets.items() for x in pair]), F.col("_range"))


def running_sums_within_ranges(steps: DataFrame) -> DataFrame:
    """cum_n and cum_v over `_score` descending within each `_range` (a window partitioned by range)."""
    within = (
        Window.partitionBy("_range")
        .orderBy(F.col("_score").desc())
        .rowsBetween(Window.unboundedPreceding, Window.currentRow)
    )
    return steps.select(
        "_score",
        "_range",
        "n",
        "v",
        F.sum("n").over(within).alias("cum_n"),
        F.sum("v").over(within).alias("cum_v"),
    )


def add_ranges_above(summed: DataFrame, range_totals: list[Row]) -> DataFrame:
    """Running sums within ranges made running sums over all steps: each range's cum_n and cum_v plus the totals
    of the ranges above it (`range_totals`: _range, n, v; one row a range, as literals)."""
    n_before, v_before, n_sum, v_sum = {}, {}, 0, 0.0
    for r in sorted(range_totals, key=lambda r: r["_range"]):
        n_before[r["_range"]], v_before[r["_range"]] = n_sum, v_sum
        n_sum, v_sum = n_sum + r["n"], v_sum + r["v"]
    return summed.withColumns(
        {
            "cum_n": offset_of_range(n_before) + F.col("cum_n"),
            "cum_v": offset_of_range(v_before) + F.col("cum_v"),
        }
    )


def gain_curve(
    df: DataFrame, actual: str, ordered_by: str, ranges: int = GAIN_CURVE_RANGES
) -> tuple[DataFrame, float, float]:
    """Steps of the gain curve (customers ordered by `ordered_by`, descending), with the totals N and V.

    Customers with equal `ordered_by` are one step (`_score`, n, v, cum_n, cum_v), so ties are not ordered by
    chance; a missing `actual` counts as 0. The running sums run in parallel: customers are split into about
    `ranges` score ranges between approximate quantiles, and each range is summed on its own.
    """
    scores = df.select(
        F.col(ordered_by).alias("_score"),
        F.coalesce(F.col(actual).cast("double"), F.lit(0.0)).alias("_actual"),
    )
    probabilities = [i / ranges for i in range(1, ranges)]
    bounds = (
        scores.agg(F.percentile_approx("_score", probabilities, 4 * ranges)).first()[0] if ranges > 1 else []
    )
    steps = (
        scores.withColumn("_range", score_range(bounds or []))
        .repartition("_range")  # one shuffle: the steps and their windows then need no other
        .groupBy("_range", "_score")
        .agg(F.count(F.lit(1)).alias("n"), F.sum("_actual").alias("v"))
    )
    summed = running_sums_within_ranges(steps).localCheckpoint()  # one pass; the totals and the curve read it
    range_totals = summed.groupBy("_range").agg(F.sum("n").alias("n"), F.sum("v").alias("v")).collect()
    total_n, total_v = sum(r["n"] for r in range_totals), sum(r["v"] for r in range_totals)
    return add_ranges_above(summed, range_totals), float(total_n), float(total_v)


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
