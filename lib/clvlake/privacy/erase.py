"""`clv erase`: remove data subjects from every bronze, silver, gold, ops and restricted table.

Each table is searched by what it holds: `customer_key` (silver, gold, restricted), the clear `customer_id`
(bronze), or raw text (bronze corrupt lines, quarantine, mapped transactions lines), where the id must appear
as a whole token. Rows go with a MERGE … DELETE whose condition joins to the subjects, so no identifier is
written into the Delta log; deletion vectors are purged and each touched table is vacuumed with
`privacy.vacuum_retention_hours`, after which older versions no longer hold the subject. The identity table
goes last, so an interrupted erasure can be rerun. Campaign export folders that held a subject are rewritten
from the erased scores. One `erasure_audit` row records when, which tables, how many
rows, and a hash of each subject's customer_key: never the id.
"""

from __future__ import annotations

import logging
import re
from datetime import datetime

from pyspark.sql import SparkSession
from pyspark.sql import functions as F

from clvlake import schemas
from clvlake.catalog import TABLES
from clvlake.config import Config
from clvlake.errors import InputError
from clvlake.ingest.pseudonymise import customer_key
from clvlake.lake import Lake
from clvlake.reporting.export import rewrite_exports_holding

log = logging.getLogger(__name__)
RAW_TEXT_COLUMNS = (schemas.CORRUPT_RECORD, "raw_record", "line")
NOT_ID_CHARACTER = "[^A-Za-z0-9_-]"


def token_pattern(customer_id: str) -> str:
    """A Java regex matching the id as a whole token in a raw line (not inside a longer id)."""
    return f"(^|{NOT_ID_CHARACTER}){re.escape(customer_id)}($|{NOT_ID_CHARACTER})"


def match_condition(columns: list[str]) -> str | None:
    """How a table's row `t` matches a subject `s`; None when the table holds nothing of a customer."""
    parts = []
    if "customer_key" in columns:
        parts.append("t.customer_key = s.customer_key")
    if "customer_id" in columns:
        parts.append("trim(t.customer_id) = s.customer_id")
    parts += [f"coalesce(t.{c} RLIKE s.pattern, false)" for c in RAW_TEXT_COLUMNS if c in columns]
    return " OR ".join(parts) or None


def erasable_tables() -> list[str]:
    """Every table that can hold a subject, the restricted identity table last."""
    names = [n for n, spec in TABLES.items() if match_condition(spec.schema.fieldNames())]
    return sorted(names, key=lambda n: TABLES[n].layer == "restricted")


def read_ids_file(path: str) -> list[str]:
    """One customer id per line; blank lines are skipped."""
    try:
        with open(path, encoding="utf-8") as handle:
            return [line.strip() for line in handle if line.strip()]
    except OSError as err:
        raise InputError(f"cannot read --ids-file {path}: {err.strerror}") from None


def erase(
    spark: SparkSession, cfg: Config, customer_ids: list[str], erased_at: datetime
) -> dict[str, object]:
    """Erase the subjects; returns rows removed per table (the audit row holds the same)."""
    ids = sorted({i.strip() for i in customer_ids if i.strip()})
    if not ids:
        raise InputError("no customer id to erase: give --customer-id or a non-empty --ids-file")
    lake = Lake(spark, cfg.lake.root)
    subjects = (
        spark.createDataFrame([(i, token_pattern(i)) for i in ids], "customer_id string, pattern string")
        .withColumn("customer_key", customer_key(F.col("customer_id"), cfg.privacy.salt))
        .cache()
    )
    removed: dict[str, int] = {}
    for table in erasable_tables():
        if lake.exists(table):
            condition = match_condition(lake.read(table).columns)
            removed[table] = lake.delete_matching(table, subjects, condition)
            log.info("erase: %s: %d rows removed", table, removed[table])
    touched = sorted(t for t, n in removed.items() if n)
    for table in touched:
        lake.vacuum(table, cfg.privacy.vacuum_retention_hours)
    exports = rewrite_exports_holding(lake, cfg, subjects)
    hashes = sorted(r[0] for r in subjects.select(F.sha2("customer_key", 256)).collect())  # one per id given
    subjects.unpersist()
    audit = spark.createDataFrame(
        [
            (
                erased_at.date(),
                erased_at,
                len(ids),
                hashes,
                touched,
                removed,
                float(cfg.privacy.vacuum_retention_hours),
            )
        ],
        schemas.ERASURE_AUDIT,
    )
    version = lake.append(audit, "erasure_audit")
    return {
        "subjects": len(ids),
        "rows_removed": removed,
        "tables_touched": touched,
        "exports_rewritten": [d.isoformat() for d in exports],
        "audit_version": version,
    }
