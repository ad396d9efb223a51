"""Whole-lake comparisons for tests that run a job twice, or killed and re-run."""

from __future__ import annotations

from clvlake.catalog import TABLES
from clvlake.lake import Lake


def snapshot(lake: Lake) -> dict[str, list]:
    """Every table's sorted content; `_ingested_at` (bronze, wall-clock) is the only column left out, and the
    lease table (whose row says which process wrote last) the only table."""
    tables = {}
    for table in TABLES:
        if lake.exists(table) and table != "lease":
            df = lake.read(table)
            tables[table] = sorted(
                df.drop(*[c for c in df.columns if c == "_ingested_at"]).collect(), key=repr
            )
    return tables
