"""The features job: silver sources → `customer_features` partitions, one snapshot or a backfill of many.

A backfill builds all its snapshots from one scan of the sources (see `build.py`) and replaces exactly their
partitions in one Delta commit, so a rerun of the same range rewrites the same rows.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from clvlake.config import Config
from clvlake.features.inputs import features_at
from clvlake.lake import Lake


def run_snapshots(spark: SparkSession, cfg: Config, snapshots: Sequence[date]) -> dict[str, object]:
    """Build and write the partitions of `snapshots` in one job and one commit."""
    lake = Lake.open(spark, cfg.lake)
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
