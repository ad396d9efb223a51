"""Typing, rule checks and de-duplication of one source's raw rows. DataFrame in, DataFrame out.

After `checked_rows` every raw row has a `status`: accepted, quarantined (with `rule` and `reason`) or
duplicate (a second row with an accepted row's natural key), so rows read = accepted + quarantined + duplicate.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from clvlake.ingest.sources import Rule, RuleContext, Source
from clvlake.schemas import CORRUPT_RECORD

ACCEPTED, QUARANTINED, DUPLICATE = "accepted", "quarantined", "duplicate"


def _blank(column: str) -> Column:
    return F.col(column).isNull() | (F.trim(F.col(column)) == "")


def common_rules(source: Source) -> list[Rule]:
    """Malformed lines first, then missing required fields (the reason lists them)."""
    missing = F.concat_ws(", ", *[F.when(_blank(c), F.lit(c)) for c in source.required])
    return [
        Rule(
            "malformed_line",
            F.col(CORRUPT_RECORD).isNotNull(),
            F.lit(f"line does not match the {source.name} layout ({len(source.raw_columns)} fields)"),
        ),
        Rule(
            "missing_required", F.length(missing) > 0, F.concat(F.lit("required field(s) empty: "), missing)
        ),
    ]


def with_typed_columns(df: DataFrame, source: Source) -> DataFrame:
    """Add `t_<name>` for every typed column; a value that does not parse becomes null (rules catch it)."""
    return df.withColumns({f"t_{name}": expr for name, expr in source.typed().items()})


def with_verdict(df: DataFrame, source: Source, ctx: RuleContext) -> DataFrame:
    """Add `rule` and `reason` of the first failing rule (both null for a valid row)."""
    rules = common_rules(source) + source.rules(ctx)
    # `fails` may be null when its inputs are null; coalesce makes that "not failing".
    rule = F.coalesce(*[F.when(F.coalesce(r.fails, F.lit(False)), F.lit(r.name)) for r in rules])
    reason = F.coalesce(*[F.when(F.coalesce(r.fails, F.lit(False)), r.reason) for r in rules])
    return df.withColumns({"rule": rule, "reason": reason})


def with_status(df: DataFrame, key: str) -> DataFrame:
    """Mark valid rows whose natural key was already seen in this batch as duplicates.

    The kept row is the first by (source file, raw content), so reruns keep the same one.
    """
    raw_text = F.to_json(F.struct(*[F.col(c) for c in df.columns if not c.startswith("t_")]))
    order = Window.partitionBy(F.col("rule").isNull(), F.trim(F.col(key))).orderBy("_source_file", raw_text)
    rank = F.row_number().over(order)
    status = (
        F.when(F.col("rule").isNotNull(), F.lit(QUARANTINED))
        .when(rank > 1, F.lit(DUPLICATE))
        .otherwise(F.lit(ACCEPTED))
    )
    return df.withColumn("status", status)


def checked_rows(raw: DataFrame, source: Source, ctx: RuleContext) -> DataFrame:
    return (
        raw.transform(with_typed_columns, source)
        .transform(with_verdict, source, ctx)
        .transform(with_status, source.key)
    )


def raw_record(source: Source) -> Column:
    """The row as it landed: the corrupt line itself, or the raw fields as JSON."""
    return F.coalesce(F.col(CORRUPT_RECORD), F.to_json(F.struct(*[F.col(c) for c in source.raw_columns])))
