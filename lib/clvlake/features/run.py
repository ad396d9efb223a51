"""The features job: silver orders, refunds and customers → `customer_features` partition at the snapshot."""

from __future__ import annotations

from datetime import date

from pyspark.sql import DataFrame, SparkSession

from clvlake.config import Config
from clvlake.features.build import build_features
from clvlake.features.value import value_events
from clvlake.lake import Lake


def lake_value_events(lake: Lake, margin_mode: bool) -> DataFrame:
    return value_events(lake.read("orders"), lake.read("refunds"), margin_mode)


def features_at(lake: Lake, cfg: Config, snapshot: date) -> DataFrame:
    return build_features(lake_value_events(lake, cfg.model.margin_mode), lake.read("customers"), snapshot)


def run(spark: SparkSession, cfg: Config, as_of: date) -> dict[str, object]:
    lake = Lake(spark, cfg.lake.root)
    version = lake.replace_partition(features_at(lake, cfg, as_of), "customer_features", as_of)
    rows = lake.read_partition("customer_features", as_of).count()
    return {"rows": rows, "table_versions": {"customer_features": version}}
