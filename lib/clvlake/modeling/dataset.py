"""Training sets: features at snapshot c joined to the label, net value in [c, c + H)."""

from __future__ import annotations

from datetime import date

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
