"""Typing, rule checks and de-duplication of one source's raw rows. DataFrame in, DataFrame out.

After `checked_rows` every raw row has a `status`: accepted, quarantined (with `rule` and `reason`) or
duplicate, so rows read = accepted + quarantined + duplicate. A duplicate is a valid row whose natural key
was already accepted: an exact copy of an earlier row of this batch, or a key that silver already holds from
another landing file (an earlier run). A valid row that reuses a key of this batch with different content is
quarantined as `duplicate_key`: which version is right is not ours to guess.
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from clvlake.catalog import TABLES
from clvlake.ingest.sources import REFERENCE_FOUND, Rule, RuleContext, Source
from clvlake.schemas import CORRUPT_RECORD

ACCEPTED, QUARANTINED, DUPLICATE = "accepted", "quarantined", "duplicate"
KEY, SEEN_FILE = "_key", "_seen_file"  # the silver key of a row; the file silver already holds it from
REPLACEMENT_CHARACTER = "\ufffd"  # what the readers decode bytes that are not UTF-8 into


def _blank(column: str) -> Column:
    return F.col(column).isNull() | (F.trim(F.col(column)) == "")


def raw_record(source: Source) -> Column:
    """The row as it landed: the line itself when known, else the raw fields as JSON."""
    fields = F.to_json(F.struct(*[F.col(c) for c in source.raw_columns]))
    line = F.col(source.raw_line) if source.raw_line else F.col(CORRUPT_RECORD)
    return F.coalesce(line, fields)


def common_rules(source: Source) -> list[Rule]:
    """Bad encoding and malformed lines first, then missing required fields (the reason lists them)."""
    missing = F.concat_ws(", ", *[F.when(_blank(c), F.lit(c)) for c in source.required])
    return [
        Rule(
            "bad_encoding",
            # the CSV reader decodes bad bytes into U+FFFD; a corrupt JSON line keeps them as they are
            (F.instr(raw_record(source), REPLACEMENT_CHARACTER) > 0) | ~F.is_valid_utf8(raw_record(source)),
            F.lit("the line is not valid UTF-8"),
        ),
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


def with_reference(df: DataFrame, source: Source, referenced: DataFrame | None) -> DataFrame:
    """For a source with a reference (refund → order): `_reference_found` says whether the key is known,
    and the referenced row's attributes come along as `_ref_<name>`.

    `referenced` is the referenced silver table (its key is unique there).
    """
    if source.reference is None:
        return df
    ref = source.reference
    key = TABLES[ref.table].keys[0]
    known = referenced.select(
        F.col(key).alias("_ref"),
        F.lit(True).alias(REFERENCE_FOUND),
        *[expr.alias(f"_ref_{name}") for name, expr in ref.attributes().items()],
    )
    joined = df.join(known, F.trim(F.col(ref.column)) == F.col("_ref"), how="left").drop("_ref")
    return joined.withColumn(REFERENCE_FOUND, F.coalesce(F.col(REFERENCE_FOUND), F.lit(False)))


def with_seen(df: DataFrame, key: Column, seen: DataFrame | None) -> DataFrame:
    """Add the row's silver key and, from `seen` (silver's key and _source_file), where silver holds it."""
    keyed = df.withColumn(KEY, key)
    if seen is None:
        return keyed.withColumn(SEEN_FILE, F.lit(None).cast("string"))
    return keyed.join(seen.select(F.col(seen.columns[0]).alias(KEY), SEEN_FILE), on=KEY, how="left")


def with_verdict(df: DataFrame, source: Source, ctx: RuleContext) -> DataFrame:
    """Add `rule` and `reason` of the first failing rule (both null for a valid row)."""
    rules = common_rules(source) + source.rules(ctx)
    # `fails` may be null when its inputs are null; coalesce makes that "not failing".
    rule = F.coalesce(*[F.when(F.coalesce(r.fails, F.lit(False)), F.lit(r.name)) for r in rules])
    reason = F.coalesce(*[F.when(F.coalesce(r.fails, F.lit(False)), r.reason) for r in rules])
    return df.withColumns({"rule": rule, "reason": reason})


def with_status(df: DataFrame, source: Source) -> DataFrame:
    """Accepted, duplicate or quarantined; valid rows compete for their key, the first by (file, content) wins.

    The order depends only on the rows, so a rerun or a rerun after a crash keeps the same row.
    """
    content = raw_record(source)
    order = Window.partitionBy(F.col("rule").isNull(), F.col(KEY)).orderBy("_source_file", content)
    rank, first_content = F.row_number().over(order), F.first(content).over(order)
    seen_elsewhere = F.col(SEEN_FILE).isNotNull() & (F.col(SEEN_FILE) != F.col("_source_file"))
    conflict = F.col("rule").isNull() & (rank > 1) & (content != first_content)
    status = (
        F.when(F.col("rule").isNotNull() | conflict, F.lit(QUARANTINED))
        .when((rank > 1) | seen_elsewhere, F.lit(DUPLICATE))
        .otherwise(F.lit(ACCEPTED))
    )
    reason = F.concat(
        F.lit(f"{source.key} "), F.trim(F.col(source.key)), F.lit(" already seen with different content")
    )
    return df.withColumns(
        {
            "status": status,
            "rule": F.when(conflict, F.lit("duplicate_key")).otherwise(F.col("rule")),
            "reason": F.when(conflict, reason).otherwise(F.col("reason")),
        }
    )


def checked_rows(
    raw: DataFrame,
    source: Source,
    ctx: RuleContext,
    key: Column,
    seen: DataFrame | None = None,
    referenced: DataFrame | None = None,
) -> DataFrame:
    """Type, check and de-duplicate raw rows. `key` is the silver key of a row (e.g. the trimmed order_id)."""
    return (
        raw.transform(with_typed_columns, source)
        .transform(with_reference, source, referenced)
        .transform(with_seen, key, seen)
        .transform(with_verdict, source, ctx)
        .transform(with_status, source)
    )
