"""The campaign export: the consented customers of a score date as Parquet/CSV folders for activation tools,
written by the report job and rewritten by `clv erase` when a folder held an erased customer.

Consent and e-mail permission are read from silver when the export is written, so a withdrawal loaded by the
morning's ingest is in that day's export (and in any export `clv erase` rewrites). Recommended actions are
channel-agnostic, so an e-mail unsubscribe does not remove a customer from the export: `email_allowed` says
whether the activation tool may use e-mail for them. It is false without marketing consent in the customer's
latest CRM record, and false once an `unsubscribe` e-mail event was loaded: the e-mail feed has no re-subscribe
event, so an unsubscribe stands (a re-subscribed customer needs such an event type first).
"""

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

UNSUBSCRIBE = "unsubscribe"


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


def with_email_allowed(rows: DataFrame, customers: DataFrame, email_events: DataFrame) -> DataFrame:
    """Add `email_allowed`: the customer's silver record gives marketing consent and no unsubscribe is known."""
    consenting = customers.where(F.col("marketing_consent")).select(
        "customer_key", F.lit(True).alias("_consents")
    )
    unsubscribed = (
        email_events.where(F.col("event_type") == UNSUBSCRIBE)
        .select("customer_key", F.lit(True).alias("_unsubscribed"))
        .dropDuplicates(["customer_key"])  # one row per customer who ever unsubscribed
    )
    return (
        rows.join(consenting, on="customer_key", how="left")
        .join(unsubscribed, on="customer_key", how="left")
        .withColumn("email_allowed", F.col("_consents").isNotNull() & F.col("_unsubscribed").isNull())
        .drop("_consents", "_unsubscribed")
    )


def export_campaign(lake: Lake, cfg: Config, score_date: date) -> dict[str, str]:
    """Write the campaign export of a score date from its `clv_scores` rows; returns the folder per format."""
    scores = lake.read("clv_scores").where(F.col("score_date") == F.lit(score_date))
    # a transactions-only lake has no customer records, and so no consent
    customers = read_source(lake, "customers")
    rows = campaign_export(scores, customers, cfg.segments.export.consented_only).transform(
        with_email_allowed, customers, read_source(lake, "email_events")
    )
    return write_export(rows, lake, cfg.segments.export.formats, score_date)


def rewrite_exports_holding(lake: Lake, cfg: Config, customer_keys: DataFrame) -> list[date]:
    """Rewrite, from `clv_scores`, the export folders of every score date that holds one of the customers
    (for `clv erase`, after the scores were erased). Returns those score dates."""
    dates: set[date] = set()
    for file_format in cfg.segments.export.formats:
        if lake.holds_path(export_root(lake, file_format)) is False:
            continue  # nothing exported in this format yet (asked first: Spark warns with a trace on a missing path)
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
