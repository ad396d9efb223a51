"""The features job: silver sources → `customer_features` partitions, one snapshot or a backfill of many.

A backfill builds all its snapshots from one scan of the sources (see `build.py`) and replaces exactly their
partitions in one Delta commit, so a rerun of the same range rewrites the same rows.
"""

from __future__ import annotations

import calendar
from collections.abc import Sequence
from datetime import date, timedelta

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clvlake.config import Config
from clvlake.errors import InputError
from clvlake.features.build import FeatureSources, build_features
from clvlake.features.value import value_events
from clvlake.lake import Lake

EVERY = ("day", "week", "month")


def lake_value_events(lake: Lake, margin_mode: bool) -> DataFrame:
    return value_events(lake.read("orders"), lake.read("refunds"), margin_mode)


def lake_sources(lake: Lake, margin_mode: bool) -> FeatureSources:
    return FeatureSources(
        events=lake_value_events(lake, margin_mode),
        customers=lake.read("customers"),
        sessions=lake.read("sessions"),
        email_events=lake.read("email_events"),
        support_tickets=lake.read("support_tickets"),
    )


def features_at(lake: Lake, cfg: Config, snapshots: date | Sequence[date]) -> DataFrame:
    """Features at one snapshot or several (one scan of the sources for all of them)."""
    dates = [snapshots] if isinstance(snapshots, date) else list(snapshots)
    return build_features(lake_sources(lake, cfg.model.margin_mode), dates)


def _add_months(day: date, months: int) -> date:
    month0 = day.month - 1 + months
    year, month = day.year + month0 // 12, month0 % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


def snapshot_dates(start: date, end: date, every: str) -> list[date]:
    """start, start + 1 step, … up to and including end; months keep start's day (clamped to month ends)."""
    if every not in EVERY:
        raise InputError(f"--every must be one of {', '.join(EVERY)}, got {every!r}")
    if end < start:
        raise InputError(f"--to {end} is before --from {start}")
    dates, i = [], 0
    while True:
        step = (
            _add_months(start, i)
            if every == "month"
            else start + timedelta(days=i * (7 if every == "week" else 1))
        )
        if step > end:
            return dates
        dates.append(step)
        i += 1


def run_snapshots(spark: SparkSession, cfg: Config, snapshots: Sequence[date]) -> dict[str, object]:
    """Build and write the partitions of `snapshots` in one job and one commit."""
    lake = Lake(spark, cfg.lake.root)
    listed = ", ".join(f"'{d.isoformat()}'" for d in sorted(set(snapshots)))
    version = lake.replace_where(
        features_at(lake, cfg, snapshots), "customer_features", f"snapshot_date IN ({listed})"
    )
    rows = (
        lake.read("customer_features")
        .where(F.col("snapshot_date").isin(list(snapshots)))
        .groupBy("snapshot_date")
        .count()
        .collect()  # one row per snapshot
    )
    return {
        "snapshots": len(set(snapshots)),
        "rows": sum(r["count"] for r in rows),
        "table_versions": {"customer_features": version},
    }


def run(spark: SparkSession, cfg: Config, as_of: date) -> dict[str, object]:
    return run_snapshots(spark, cfg, [as_of])
