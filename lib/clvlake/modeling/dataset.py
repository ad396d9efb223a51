"""Training sets: features at snapshot c joined to the label, net value in [c, c + H).

A fit at snapshot c pools the training customers of c and of the snapshots before it (`pooled_snapshots`): the
same customers at several moments of their lives, so the trees see several times the rows of one snapshot. The
held-out customers are chosen by customer, so they are out of every snapshot of the pool.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta
from functools import reduce

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from clvlake.features.value import net_value_in_window

_HOLDOUT_BUCKETS = 10_000


def is_holdout(customer_key: Column, fraction: float, seed: int) -> Column:
    """A deterministic customer split: the same customers are held out on every run and every snapshot."""
    bucket = F.pmod(F.xxhash64(customer_key, F.lit(seed)), F.lit(_HOLDOUT_BUCKETS))
    return bucket < F.lit(int(fraction * _HOLDOUT_BUCKETS))


def training_set(
    features: DataFrame,
    events: DataFrame,
    snapshot: date,
    horizon_days: int,
    holdout_fraction: float,
    seed: int,
) -> DataFrame:
    """Features at `snapshot` with `label`, `horizon_days` and `is_holdout`; customers with no event get label 0."""
    labels = net_value_in_window(events, snapshot, horizon_days)
    return (
        features.where(F.col("snapshot_date") == F.lit(snapshot))
        .join(labels, on="customer_key", how="left")
        .withColumns(
            {
                "label": F.coalesce("label", F.lit(0.0)),
                "horizon_days": F.lit(horizon_days),
                "is_holdout": is_holdout(F.col("customer_key"), holdout_fraction, seed),
            }
        )
    )


def training_sets(
    features: DataFrame,
    events: DataFrame,
    snapshots: Sequence[date],
    horizon_days: int,
    holdout_fraction: float,
    seed: int,
) -> DataFrame:
    """`training_set` of every snapshot, in one DataFrame."""
    sets = [training_set(features, events, s, horizon_days, holdout_fraction, seed) for s in snapshots]
    return reduce(DataFrame.unionByName, sets)


def pooled_snapshots(snapshot: date, count: int, step_days: int) -> list[date]:
    """`snapshot` and the `count − 1` snapshots before it, `step_days` apart: the snapshots one fit pools."""
    return [snapshot - timedelta(days=k * step_days) for k in range(count)]


def pooled_training_rows(data: DataFrame, snapshot: date, count: int, step_days: int) -> DataFrame:
    """The training (not held-out) rows of `data` at `snapshot` and the snapshots pooled with it."""
    pooled = pooled_snapshots(snapshot, count, step_days)
    return data.where(~F.col("is_holdout") & F.col("snapshot_date").isin(pooled))
