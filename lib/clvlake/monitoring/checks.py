"""Monitoring checks: each compares one measured value with its threshold. DataFrame in, Check out."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

DEFAULT_SOURCE = "default"  # the key of `monitoring.max_days_without_files` for sources not named there


@dataclass(frozen=True)
class Check:
    """One measured value against its threshold; `breached` means the run should alert."""

    stage: str
    name: str
    value: float
    threshold: float
    breached: bool
    detail: str


def at_most(stage: str, name: str, value: float, threshold: float, detail: str) -> Check:
    return Check(stage, name, float(value), float(threshold), value > threshold, detail)


def score_checks(scores: DataFrame, features_rows: int) -> list[Check]:
    """Every customer of the feature snapshot scored once, with a valid (non-null, non-negative) CLV."""
    row = scores.agg(
        F.count(F.lit(1)).alias("rows"),
        F.countDistinct("customer_key").alias("customers"),
        F.sum((F.col("predicted_clv").isNull() | (F.col("predicted_clv") < 0)).cast("long")).alias("invalid"),
    ).first()
    return [
        at_most(
            "score",
            "invalid_predictions",
            row["invalid"] or 0,
            0,
            "rows with a null or negative predicted_clv",
        ),
        at_most("score", "duplicate_customers", row["rows"] - row["customers"], 0, "customers scored twice"),
        at_most(
            "score",
            "unscored_customers",
            abs(features_rows - row["customers"]),
            0,
            f"customers in the feature snapshot ({features_rows}) vs scored ({row['customers']})",
        ),
    ]


def feature_checks(
    features: DataFrame, columns: list[str], previous_rows: int | None, max_change: float
) -> tuple[list[Check], int]:
    """Nulls in model inputs, and the change in customers since the previous snapshot; returns the row count."""
    row = features.agg(
        F.count(F.lit(1)).alias("rows"), *[F.sum(F.col(c).isNull().cast("long")).alias(c) for c in columns]
    ).first()
    nulls = {c: row[c] or 0 for c in columns}
    worst = max(nulls, key=nulls.get)
    checks = [
        at_most(
            "features",
            "null_inputs",
            sum(nulls.values()),
            0,
            f"null values in model inputs (most in {worst}: {nulls[worst]})",
        )
    ]
    if previous_rows:
        change = abs(row["rows"] - previous_rows) / previous_rows
        checks.append(
            at_most(
                "features",
                "customer_count_change",
                change,
                max_change,
                f"customers {previous_rows} at the previous snapshot, {row['rows']} now",
            )
        )
    return checks, row["rows"]


def ingest_checks(quality: DataFrame, max_quarantine_rate: float) -> list[Check]:
    """The worst quarantine rate per source among this run date's ingest batches."""
    rows = quality.groupBy("source").agg(F.max("quarantine_rate").alias("rate")).collect()  # one row a source
    return [
        at_most(
            "ingest",
            f"quarantine_rate:{r['source']}",
            r["rate"],
            max_quarantine_rate,
            f"share of {r['source']} rows quarantined",
        )
        for r in rows
    ]


def freshness_checks(quality: DataFrame, as_of: date, max_days: dict[str, int]) -> list[Check]:
    """Days since the last ingest that loaded a new file of each source, up to `as_of`, against the source's
    limit in `max_days` (its name, else `default`; a source with neither is not checked)."""
    last = (
        quality.where((F.col("files_read") > 0) & (F.col("run_date") <= F.lit(as_of)))
        .groupBy("source")
        .agg(F.max("run_date").alias("last"))
        .orderBy("source")
        .collect()  # one row a source
    )
    checks = []
    for row in last:
        limit = max_days.get(row["source"], max_days.get(DEFAULT_SOURCE))
        if limit is not None:
            detail = f"days since an ingest last loaded a new {row['source']} file ({row['last']})"
            checks.append(
                at_most(
                    "ingest", f"days_without_files:{row['source']}", (as_of - row["last"]).days, limit, detail
                )
            )
    return checks


def drift_checks(psi: DataFrame, stage: str, threshold: float) -> list[Check]:
    """One check per column of a `population_stability` result (a few dozen rows)."""
    return [
        at_most(
            stage, f"psi:{r['column']}", r["psi"], threshold, f"population stability index of {r['column']}"
        )
        for r in psi.orderBy("column").collect()
    ]
