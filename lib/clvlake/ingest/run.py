"""The ingest job: every source's landing files → silver (MERGE on the natural key) + quarantine."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import date

from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clvlake.config import Config
from clvlake.ingest.landing import read_landing
from clvlake.ingest.pseudonymise import customer_key
from clvlake.ingest.sources import SOURCES, RuleContext, Source
from clvlake.ingest.validation import ACCEPTED, DUPLICATE, QUARANTINED, checked_rows, raw_record
from clvlake.lake import Lake

log = logging.getLogger(__name__)
PII_COLUMNS = ("email", "name")


@dataclass(frozen=True)
class SourceCounts:
    source: str
    read: int
    accepted: int
    quarantined: int
    duplicate: int


def silver_rows(checked: DataFrame, source: Source, salt: str, run_id: str) -> DataFrame:
    """Accepted rows in the silver contract: typed columns, customer_key instead of customer_id, no PII."""
    typed = [F.col(f"t_{name}").alias(name) for name in source.typed() if name not in PII_COLUMNS]
    return checked.where(F.col("status") == ACCEPTED).select(
        F.trim(F.col(source.key)).alias(source.key),
        customer_key(F.col("customer_id"), salt).alias("customer_key"),
        *typed,
        F.to_date(F.col(f"t_{source.event_ts}")).alias("event_date"),
        F.col("_source_file"),
        F.lit(run_id).alias("_run_id"),
    )


def quarantine_rows(checked: DataFrame, source: Source, run_id: str, as_of: date) -> DataFrame:
    return checked.where(F.col("status") == QUARANTINED).select(
        F.lit(source.name).alias("source"),
        F.col("_source_file").alias("source_file"),
        raw_record(source).alias("raw_record"),
        "rule",
        "reason",
        F.lit(run_id).alias("run_id"),
        F.lit(as_of).alias("ingest_date"),
    )


def identity_rows(checked_by_source: dict[str, DataFrame], salt: str) -> DataFrame:
    """customer_key → customer_id (+ e-mail and name from the CRM) for every customer id seen in this run."""
    ids = None
    for checked in checked_by_source.values():
        seen = checked.where(F.col("status") == ACCEPTED).select(F.trim("customer_id").alias("customer_id"))
        ids = seen if ids is None else ids.unionByName(seen)
    crm = (
        checked_by_source["customers"]
        .where(F.col("status") == ACCEPTED)
        .select(F.trim("customer_id").alias("customer_id"), *PII_COLUMNS)
    )
    return (
        ids.distinct()
        .join(crm, on="customer_id", how="left")
        .withColumn("customer_key", customer_key(F.col("customer_id"), salt))
    )


def count_statuses(checked: DataFrame, source: str) -> SourceCounts:
    """One pass over the (persisted) rows: how many of each status."""
    row = checked.agg(
        *[F.sum((F.col("status") == s).cast("long")).alias(s) for s in (ACCEPTED, QUARANTINED, DUPLICATE)],
        F.count(F.lit(1)).alias("read"),
    ).first()
    return SourceCounts(source, row["read"], row[ACCEPTED] or 0, row[QUARANTINED] or 0, row[DUPLICATE] or 0)


def run(spark: SparkSession, cfg: Config, as_of: date) -> dict[str, object]:
    """Load every source; returns per-source counts and the written table versions."""
    lake = Lake(spark, cfg.lake.root)
    ctx = RuleContext(as_of, cfg.ingest.business_start, cfg.ingest.reporting_currency)
    run_id = f"ingest-{as_of.isoformat()}"
    salt = cfg.privacy.salt
    checked_by_source: dict[str, DataFrame] = {}
    counts, versions = [], {}
    quarantined: DataFrame | None = None
    try:
        for name, source in SOURCES.items():
            checked = checked_rows(read_landing(spark, cfg.lake.landing, source), source, ctx)
            checked = checked.persist(StorageLevel.MEMORY_AND_DISK)
            checked_by_source[name] = checked
            counts.append(count_statuses(checked, name))
            log.info("ingest %s: %s", name, counts[-1])
            versions[name] = lake.merge_new(silver_rows(checked, source, salt, run_id), name)
            rejected = quarantine_rows(checked, source, run_id, as_of)
            quarantined = rejected if quarantined is None else quarantined.unionByName(rejected)
        versions["customer_identity"] = lake.merge_new(
            identity_rows(checked_by_source, salt), "customer_identity", update_existing=True
        )
        versions["quarantine"] = lake.replace_partition(quarantined, "quarantine", as_of)
    finally:
        for checked in checked_by_source.values():
            checked.unpersist()
    return {"sources": counts, "table_versions": versions}
