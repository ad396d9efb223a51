"""What ingest does for privacy, DataFrame in, DataFrame out: key every landed row by its subject, mask PII in
quarantined records, and suppress the rows of subjects already erased.

A row's `customer_key` comes from its parsed, trimmed customer id; a row whose id cannot be parsed (a blank id, a
JSON line too broken to read) gets a null key, so erasure (which matches keys only) cannot find it and the
suppression list cannot drop it.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F

from clvlake.ingest.pseudonymise import ROW_KEY
from clvlake.lake import Lake
from clvlake.schemas import CORRUPT_RECORD

MASK = "***"
CSV_SEPARATOR = ","
EMAIL_LIKE = r"[^\s,;\"'{}:]+@[^\s,;\"'{}:]+"  # anything shaped like an address, wherever it landed
SUPPRESSED = "suppressed"  # the status ingest gives rows of erased subjects: never loaded, never quarantined


def masked_record(raw_columns: tuple[str, ...], pii: tuple[str, ...]) -> Column:
    """A CSV source's raw record (the line when it is malformed, else the raw fields as JSON, as
    `validation.raw_record`) with the PII fields replaced by `***`.

    A line is masked by position (the field of each PII column) and, in any form, every e-mail-shaped token is
    masked too, so a line whose fields shifted does not leak the address. Every other field stays as it landed.
    """
    positions = [i for i, column in enumerate(raw_columns) if column in pii]
    line = F.array_join(
        F.transform(
            F.split(F.col(CORRUPT_RECORD), CSV_SEPARATOR),
            lambda value, i: F.when(i.isin(positions), F.lit(MASK)).otherwise(value),
        ),
        CSV_SEPARATOR,
    )
    fields = F.to_json(
        F.struct(
            *[
                F.when(F.col(c).isNotNull(), F.lit(MASK)).alias(c) if c in pii else F.col(c)
                for c in raw_columns
            ]
        )
    )
    return F.regexp_replace(F.coalesce(line, fields), EMAIL_LIKE, MASK)


def erased_hashes(lake: Lake) -> DataFrame | None:
    """The suppression list: SHA-256 of every erased subject's customer_key (from `erasure_audit`; no clear id,
    no key), or None before the first erasure."""
    if not lake.exists("erasure_audit"):
        return None
    return lake.read("erasure_audit").select(F.explode("subject_hashes").alias("_erased_hash")).distinct()


def with_suppressed(checked: DataFrame, erased: DataFrame | None) -> DataFrame:
    """Status `suppressed` for every row of an erased subject, whatever its status was (a re-delivered or
    re-read file must not bring the subject back, not even into quarantine)."""
    if erased is None:
        return checked
    hashed = F.sha2(F.col(ROW_KEY), 256)
    flagged = checked.join(F.broadcast(erased), hashed == F.col("_erased_hash"), how="left")
    return flagged.withColumn(
        "status", F.when(F.col("_erased_hash").isNotNull(), F.lit(SUPPRESSED)).otherwise(F.col("status"))
    ).drop("_erased_hash")
