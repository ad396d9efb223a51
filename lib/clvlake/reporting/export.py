"""The campaign export: the consented customers of a score date as Parquet/CSV folders for activation tools,
written by the report job and rewritten by `clv erase` when a folder held an erased customer."""

from __future__ import annotations

from datetime import date

from pyspark.errors import AnalysisException
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clvlake.config import Config
from clvlake.features.inputs import read_source
from clvlake.lake import Lake
from clvlake.reporting.segments import campaign_export
from clvlake.schemas import CAMPAIGN_EXPORT


def export_root(lake: Lake, file_format: str) -> str:
    return f"{lake.root}/exports/campaign/{file_format}"


def export_path(lake: Lake, file_format: str, score_date: date) -> str:
    return f"{export_root(lake, file_format)}/score_date={score_date.isoformat()}"


def write_export(rows: DataFrame, lake: Lake, formats: list[str], score_date: date) -> dict[str, str]:
    """The campaign export in each format, one folder per score date (the date is in the path, Hive-style)."""
    columns = [f.name for f in CAMPAIGN_EXPORT.fields if f.name != "score_date"]
    rows = rows.select(*columns)
    paths = {}
    for file_format in formats:
        path = export_path(lake, file_format, score_date)
        rows.write.mode("overwrite").format(file_format).option("header", True).save(path)
        paths[file_format] = path
    return paths


def export_campaign(lake: Lake, cfg: Config, score_date: date) -> dict[str, str]:
    """Write the campaign export of a score date from its `clv_scores` rows; returns the folder per format."""
    scores = lake.read("clv_scores").where(F.col("score_date") == F.lit(score_date))
    # a transactions-only lake has no customer records, and so no consent
    rows = campaign_export(scores, read_source(lake, "customers"), cfg.segments.export.consented_only)
    return write_export(rows, lake, cfg.segments.export.formats, score_date)


def rewrite_exports_holding(lake: Lake, cfg: Config, customer_keys: DataFrame) -> list[date]:
    """Rewrite, from `clv_scores`, the export folders of every score date that holds one of the customers
    (for `clv erase`, after the scores were erased). Returns those score dates."""
    dates: set[date] = set()
    for file_format in cfg.segments.export.formats:
        try:
            exported = (
                lake.spark.read.format(file_format)
                .option("header", True)
                .load(export_root(lake, file_format))
            )
        except AnalysisException:  # nothing exported in this format yet
            continue
        held = exported.join(customer_keys.select("customer_key"), on="customer_key", how="left_semi")
        dates |= {r[0] for r in held.select(F.to_date("score_date")).distinct().collect()}  # a few dates
    for score_date in sorted(dates):
        export_campaign(lake, cfg, score_date)
    return sorted(dates)
