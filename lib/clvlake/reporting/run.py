"""The report job: segment tables of the score date, the campaign export, and the HTML report.

Each table's score-date partition is replaced, the export's score-date folders are overwritten and the
report file is rewritten, so a rerun of a date gives the same output.
"""

from __future__ import annotations

import logging
from datetime import date
from pathlib import Path

from pyspark.sql import DataFrame, SparkSession

from clvlake.config import Config
from clvlake.features.inputs import lake_value_events
from clvlake.lake import Lake
from clvlake.reporting.budget import SegmentDemand, allocate_budget
from clvlake.reporting.cohorts import cohorts
from clvlake.reporting.export import export_campaign
from clvlake.reporting.html import render
from clvlake.reporting.report_data import report_data
from clvlake.reporting.segments import (
    previous_score_date,
    segment_migration,
    segment_summary,
    what_if,
)
from clvlake.schemas import BUDGET_ALLOCATION, SEGMENT_MIGRATION

log = logging.getLogger(__name__)


def budget_rows(summary: DataFrame, cfg: Config) -> list[dict[str, object]]:
    """`budget_allocation` rows (without the date) from the segment summary of a score date."""
    demand = [
        SegmentDemand(
            r["segment"],
            r["value_tier"],
            r["lifecycle_stage"],
            r["recommended_action"],
            r["customers"],
            r["avg_predicted_clv"],
        )
        for r in summary.orderBy("segment").collect()  # one row per segment
    ]
    return allocate_budget(demand, cfg.segments.actions, cfg.segments.budget)


def report_file(cfg: Config, score_date: date) -> Path:
    return Path(cfg.segments.report_dir) / f"clv_report_{score_date.isoformat()}.html"


def write_report(lake: Lake, cfg: Config, score_date: date, budget: list[dict]) -> Path:
    out = report_file(cfg, score_date)
    out.parent.mkdir(parents=True, exist_ok=True)
    out.write_text(render(report_data(lake, cfg, score_date, budget)), encoding="utf-8")
    return out


def run(spark: SparkSession, cfg: Config, as_of: date) -> dict[str, object]:
    """Segment tables, campaign export and HTML report of score date `as_of` (after `score`)."""
    lake = Lake.open(spark, cfg.lake)
    scores = lake.read_partition("clv_scores", as_of)
    features = lake.read_partition("customer_features", as_of)
    previous = previous_score_date(lake.read("clv_scores"), as_of)
    previous_scores = lake.read_partition("clv_scores", previous) if previous else None
    migration = (
        segment_migration(scores, previous_scores, as_of, previous)
        if previous
        else spark.createDataFrame([], SEGMENT_MIGRATION)
    )
    versions = lake.replace_partitions(  # at once: none reads another
        {
            "segment_summary": lambda: segment_summary(
                scores, features, previous_scores, cfg.segments.actions
            ),
            "segment_migration": lambda: migration,
            "cohorts": lambda: cohorts(lake_value_events(lake, cfg.model.margin_mode), as_of),
            "what_if": lambda: what_if(scores, cfg.segments.what_if),
        },
        as_of,
    )
    budget = budget_rows(lake.read_partition("segment_summary", as_of), cfg)
    allocation = spark.createDataFrame([{**b, "score_date": as_of} for b in budget], BUDGET_ALLOCATION)
    versions["budget_allocation"] = lake.replace_partition(allocation, "budget_allocation", as_of)

    paths = export_campaign(lake, cfg, as_of)
    report = write_report(lake, cfg, as_of, budget)
    log.info("report: %s", report)
    return {
        "previous_score_date": previous,
        "segments": len(budget),  # one budget row per segment
        "budget_allocated": round(sum(b["budget"] for b in budget), 2),
        "exports": paths,
        "report": str(report),
        "table_versions": versions,
    }
