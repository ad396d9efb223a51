"""Silver as every stage reads it: the one place that turns the lake's silver tables into the inputs of features,
labels, cohorts and monitoring.

A lake may hold only mapped transactions (orders): the other sources are optional. A missing optional source reads
as an empty frame with its contract schema, so every stage works on such a lake without writing anything.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import date

from pyspark.sql import DataFrame

from clvlake.catalog import TABLES
from clvlake.config import Config
from clvlake.features.build import FeatureSources, build_features
from clvlake.features.value import value_events
from clvlake.lake import Lake

REQUIRED_SOURCE = "orders"
OPTIONAL_SOURCES = ("refunds", "customers", "sessions", "email_events", "support_tickets")


def read_source(lake: Lake, table: str) -> DataFrame:
    """A silver source table; an optional source that was never loaded reads as no rows."""
    if table in OPTIONAL_SOURCES and not lake.exists(table):
        return lake.spark.createDataFrame([], TABLES[table].schema)
    return lake.read(table)


def lake_value_events(lake: Lake, margin_mode: bool) -> DataFrame:
    """Orders and refunds as dated net-value events (see `features.value.value_events`)."""
    return value_events(read_source(lake, REQUIRED_SOURCE), read_source(lake, "refunds"), margin_mode)


def lake_sources(lake: Lake, margin_mode: bool) -> FeatureSources:
    return FeatureSources(
        events=lake_value_events(lake, margin_mode),
        customers=read_source(lake, "customers"),
        sessions=read_source(lake, "sessions"),
        email_events=read_source(lake, "email_events"),
        support_tickets=read_source(lake, "support_tickets"),
    )


def features_at(lake: Lake, cfg: Config, snapshots: date | Sequence[date]) -> DataFrame:
    """Features at one snapshot or several (one scan of the sources for all of them)."""
    dates = [snapshots] if isinstance(snapshots, date) else list(snapshots)
    return build_features(lake_sources(lake, cfg.model.margin_mode), dates)
