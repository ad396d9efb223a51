"""Training sets: features at snapshot c joined to the label, net value in [c, c + H).

A fit at snapshot c pools the training customers of c and of the snapshots before it (`pooled_snapshots`): the
same customers at several moments of their lives, so the trees see several times the rows of one snapshot. The
held-out customers are chosen by customer, so they are out of every snapshot of the pool.

BG/NBD + Gamma-Gamma is fitted at a snapshot on its training customers: on their history before the snapshot
only, never the label window or a held-out customer. With `model.btyd.as_features` every snapshot's rows carry
the outputs of its own fit (`schemas.BTYD_FEATURES`) as inputs of the regressor; a model is then applied with the
fit of the snapshot it was trained at (`evaluation`, `scoring`).
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date, timedelta

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from clvlake.config import BtydSettings
from clvlake.features.value import net_value_in_window
from clvlake.frames import union_all
from clvlake.modeling.btyd import BtydModel, fit_btyd_or_none, with_btyd_features

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
    return union_all(
        [training_set(features, events, s, horizon_days, holdout_fraction, seed) for s in snapshots]
    )


def snapshot_btyd_fits(
    data: DataFrame, snapshots: Sequence[date], settings: BtydSettings
) -> dict[date, BtydModel | None]:
    """BG/NBD + Gamma-Gamma fitted at each snapshot on its training (not held-out) rows of `data`; None where
    it cannot be (no buyers yet, or no dropout in the data), with a warning."""
    return {
        s: fit_btyd_or_none(
            data.where((F.col("snapshot_date") == F.lit(s)) & ~F.col("is_holdout")), settings, f"snapshot {s}"
        )
        for s in snapshots
    }


def with_btyd_inputs(
    data: DataFrame,
    snapshots: Sequence[date],
    fitted_at: Sequence[date],
    settings: BtydSettings,
    horizon_days: int,
) -> tuple[DataFrame, dict[date, BtydModel | None]]:
    """The BTYD fits the jobs need: at the `fitted_at` snapshots (the evaluations' training snapshots, for the
    baselines), and at every one of `snapshots` where `settings.as_features`. `data` comes cached (every fit
    reads it) and is returned as it is, or, with the BTYD inputs, replaced by its rows with each snapshot's
    `BTYD_FEATURES`, cached in its place (the regressor reads them many times)."""
    if not settings.as_features:
        return data, snapshot_btyd_fits(data, fitted_at, settings)
    fits = snapshot_btyd_fits(data, snapshots, settings)
    with_inputs = with_snapshot_btyd(data, fits, horizon_days).cache()
    with_inputs.count()  # cached before the rows it is computed from are released
    data.unpersist()
    return with_inputs, fits


def with_snapshot_btyd(data: DataFrame, fits: dict[date, BtydModel | None], horizon_days: int) -> DataFrame:
    """Each snapshot's rows of `data` with the `BTYD_FEATURES` of that snapshot's fit."""
    return union_all(
        [
            with_btyd_features(data.where(F.col("snapshot_date") == F.lit(s)), fit, horizon_days)
            for s, fit in fits.items()
        ]
    )


def pooled_snapshots(snapshot: date, count: int, step_days: int) -> list[date]:
    """`snapshot` and the `count − 1` snapshots before it, `step_days` apart: the snapshots one fit pools."""
    return [snapshot - timedelta(days=k * step_days) for k in range(count)]


def pooled_training_rows(data: DataFrame, snapshot: date, count: int, step_days: int) -> DataFrame:
    """The training (not held-out) rows of `data` at `snapshot` and the snapshots pooled with it."""
    pooled = pooled_snapshots(snapshot, count, step_days)
    return data.where(~F.col("is_holdout") & F.col("snapshot_date").isin(pooled))
