"""Population stability index (PSI) of columns between a reference and a current DataFrame.

Bins are the reference's deciles (approximate quantiles, computed in Spark); both sides are bucketed with one
multi-column `Bucketizer` pass and counted per (column, bucket), so only a columns × bins table is collected.
PSI = Σ (current share − reference share) · ln(current share / reference share); by convention under 0.1 is
stable, 0.1–0.25 a moderate shift, above 0.25 a shift worth acting on.
"""

from __future__ import annotations

from pyspark.ml.feature import Bucketizer
from pyspark.sql import DataFrame, Window
from pyspark.sql import functions as F

QUANTILE_RELATIVE_ERROR = 0.001
EMPTY_SHARE = 1e-4  # stands in for an empty bin, so a bin that empties out counts as a large, finite shift


def bin_edges(reference: DataFrame, columns: list[str], bins: int) -> dict[str, list[float]]:
    """Strictly increasing edges per column from the reference's quantiles, open at both ends."""
    probabilities = [i / bins for i in range(1, bins)]
    quantiles = reference.approxQuantile(columns, probabilities, QUANTILE_RELATIVE_ERROR)
    return {
        c: [float("-inf"), *sorted(set(q)), float("inf")] for c, q in zip(columns, quantiles, strict=True)
    }


def bucket_shares(df: DataFrame, edges: dict[str, list[float]]) -> DataFrame:
    """column, bucket, share: the share of rows in each bucket of each column."""
    columns = list(edges)
    bucketed = Bucketizer(
        splitsArray=[edges[c] for c in columns],
        inputCols=columns,
        outputCols=[f"_b_{c}" for c in columns],
        handleInvalid="keep",
    ).transform(df.select([F.col(c).cast("double").alias(c) for c in columns]))
    stacked = bucketed.select(
        F.explode(
            F.array(
                *[
                    F.struct(F.lit(c).alias("column"), F.col(f"_b_{c}").cast("int").alias("bucket"))
                    for c in columns
                ]
            )
        ).alias("cell")
    ).select("cell.*")
    return (
        stacked.groupBy("column", "bucket")
        .count()
        .withColumn("share", F.col("count") / F.sum("count").over(Window.partitionBy("column")))
        .drop("count")
    )


def population_stability(
    reference: DataFrame, current: DataFrame, columns: list[str], bins: int
) -> DataFrame:
    """column, psi for every column, comparing `current` with `reference`."""
    edges = bin_edges(reference, columns, bins)
    expected = bucket_shares(reference, edges).withColumnRenamed("share", "expected")
    actual = bucket_shares(current, edges).withColumnRenamed("share", "actual")
    expected_share = F.greatest(F.coalesce("expected", F.lit(0.0)), F.lit(EMPTY_SHARE))
    actual_share = F.greatest(F.coalesce("actual", F.lit(0.0)), F.lit(EMPTY_SHARE))
    term = (actual_share - expected_share) * F.log(actual_share / expected_share)
    return (
        expected.join(actual, on=["column", "bucket"], how="full")
        .groupBy("column")
        .agg(F.sum(term).alias("psi"))
    )
