"""Typing, rule checks and de-duplication of one source's raw rows. DataFrame in, DataFrame out.

After `checked_rows` every raw row has a `status`: accepted, quarantined (with `rule` and `reason`) or
duplicate, so rows read = accepted + quarantined + duplicate.

Events (orders, sessions …) are immutable: a duplicate is a valid row whose natural key was already accepted,
an exact copy of an earlier row of this batch, or a key that silver already holds from another landing file
(an earlier run). A valid row that reuses a key of this batch with different content is quarantined as
`duplicate_key`: which version is right is not ours to guess.

Customer records (`LATEST_RECORD_WINS`) change: a CRM record is the customer's state when its file was
exported, so the record of the latest landing file wins (SCD type 1, see `with_latest_status`).
"""

from __future__ import annotations

from pyspark.sql import Column, DataFrame, Window
from pyspark.sql import functions as F

from clvlake.catalog import TABLES
from clvlake.ingest.pseudonymise import ROW_KEY, row_key
from clvlake.ingest.sources import REFERENCE_FOUND, Rule, RuleContext, Source
from clvlake.schemas import CORRUPT_RECORD

ACCEPTED, QUARANTINED, DUPLICATE = "accepted", "quarantined", "duplicate"
LATEST_RECORD_WINS = ("customers",)  # silver tables whose rows a newer record of the key replaces
KEY, SEEN_FILE = "_key", "_seen_file"  # the silver key of a row; the file silver already holds it from
REPLACEMENT_CHARACTER = "\ufffd"  # what the readers decode bytes that are not UTF-8 into


def _blank(column: str) -> Column:
    return F.col(column).isNull() | (F.trim(F.col(column)) == "")


def raw_record(source: Source) -> Column:
    """The row as it landed: the line itself when known, else the raw fields as JSON."""
    fields = F.to_json(F.struct(*[F.col(c) for c in source.raw_columns]))
    line = F.col(source.raw_line) if source.raw_line else F.col(CORRUPT_RECORD)
    return F.coalesce(line, fields)


def id_columns(source: Source) -> list[str]:
    """The raw columns that hold identifiers: the source's key, the customer id, a referenced key."""
    reference = [source.reference.column] if source.reference is not None else []
    return list(dict.fromkeys([source.key, "customer_id", *reference]))


def common_rules(source: Source, ctx: RuleContext) -> list[Rule]:
    """Bad encoding and malformed lines first (a quote left open shows as a `"` inside an id: the CSV reader
    then reads it as text), then ids longer than `ingest.max_id_length`, then missing required fields (the
    reason lists them)."""
    missing = F.concat_ws(", ", *[F.when(_blank(c), F.lit(c)) for c in source.required])
    quoted = F.coalesce(*[F.when(F.instr(F.col(c), '"') > 0, F.lit(c)) for c in id_columns(source)])
    too_long = F.coalesce(
        *[F.when(F.length(F.col(c)) > ctx.max_id_length, F.lit(c)) for c in id_columns(source)]
    )
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
            "malformed_line",
            quoted.isNotNull(),
            F.concat(F.lit("a quote is not closed: "), quoted, F.lit(' holds a "')),
        ),
        Rule(
            "id_too_long",
            too_long.isNotNull(),
            F.concat(
                too_long, F.lit(f" is longer than {ctx.max_id_length} characters (ingest.max_id_length)")
            ),
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
    joined = df.join(known, referenced_key(source) == F.col("_ref"), how="left").drop("_ref")
    return joined.withColumn(REFERENCE_FOUND, F.coalesce(F.col(REFERENCE_FOUND), F.lit(False)))


def referenced_key(source: Source) -> Column:
    """The key of the row a row refers to (a refund's order id), as the referenced table holds it."""
    return F.trim(F.col(source.reference.column))


def rows_of_keys(table: DataFrame, table_key: str, batch: DataFrame, batch_key: Column) -> DataFrame:
    """The rows of `table` whose `table_key` is a `batch_key` of the batch's rows: a semi join that broadcasts the
    batch's keys, so that for a small batch the table's key column is read but not shuffled."""
    keys = batch.select(batch_key.alias(table_key)).distinct()
    return table.join(F.broadcast(keys), on=table_key, how="left_semi")


def with_seen(df: DataFrame, key: Column, seen: DataFrame | None) -> DataFrame:
    """Add the row's silver key and, from `seen` (silver's key and _source_file), where silver holds it."""
    keyed = df.withColumn(KEY, key)
    if seen is None:
        return keyed.withColumn(SEEN_FILE, F.lit(None).cast("string"))
    return keyed.join(seen.select(F.col(seen.columns[0]).alias(KEY), SEEN_FILE), on=KEY, how="left")


def with_verdict(df: DataFrame, source: Source, ctx: RuleContext) -> DataFrame:
    """Add `rule` and `reason` of the first failing rule (both null for a valid row)."""
    rules = common_rules(source, ctx) + source.rules(ctx)
    # `fails` may be null when its inputs are null; coalesce makes that "not failing".
    rule = F.coalesce(*[F.when(F.coalesce(r.fails, F.lit(False)), F.lit(r.name)) for r in rules])
    reason = F.coalesce(*[F.when(F.coalesce(r.fails, F.lit(False)), r.reason) for r in rules])
    return df.withColumns({"rule": rule, "reason": reason})


def _conflict_reason(source: Source) -> Column:
    return F.concat(
        F.lit(f"{source.key} "), F.trim(F.col(source.key)), F.lit(" already seen with different content")
    )


def _with_status_columns(df: DataFrame, source: Source, status: Column, conflict: Column) -> DataFrame:
    return df.withColumns(
        {
            "status": status,
            "rule": F.when(conflict, F.lit("duplicate_key")).otherwise(F.col("rule")),
            "reason": F.when(conflict, _conflict_reason(source)).otherwise(F.col("reason")),
        }
    )


def with_status(df: DataFrame, source: Source) -> DataFrame:
    """Accepted, duplicate or quarantined; valid rows compete for their key, the first by (file, content) wins.

    The order depends only on the rows, so a rerun or a rerun after a crash keeps the same row.
    """
    if source.table in LATEST_RECORD_WINS:
        return with_latest_status(df, source)
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
    return _with_status_columns(df, source, status, conflict)


def with_latest_status(df: DataFrame, source: Source) -> DataFrame:
    """The newest valid record of each key is accepted (an insert, or an update of silver's row); the others
    are duplicates. Newest = from the landing file whose path sorts last, so a source's files must be named
    in delivery order (`customers_2025-06-01.csv`): a CRM record has no time of its own (signup_ts is the
    signup, not the change), and the path, unlike a modification time, survives a re-delivery.

    Against silver: a record from a file that sorts before the one silver's row came from is older and a
    duplicate (a re-delivered old file never overwrites a newer record); from the same or a later file it is
    accepted and `Lake.merge_new(..., update_when=...)` replaces silver's row unless nothing changed, so a
    rerun of the same files changes nothing. Two different records of one key in the same newest file are
    a conflict (quarantined as `duplicate_key`), as for events.
    """
    content = raw_record(source)
    order = Window.partitionBy(F.col("rule").isNull(), F.col(KEY)).orderBy(
        F.col("_source_file").desc(), content
    )
    rank, first_content = F.row_number().over(order), F.first(content).over(order)
    newest_file = F.first("_source_file").over(order)
    conflict = (
        F.col("rule").isNull()
        & (rank > 1)
        & (F.col("_source_file") == newest_file)
        & (content != first_content)
    )
    older_than_silver = F.coalesce(F.col(SEEN_FILE) > F.col("_source_file"), F.lit(False))
    status = (
        F.when(F.col("rule").isNotNull() | conflict, F.lit(QUARANTINED))
        .when((rank > 1) | older_than_silver, F.lit(DUPLICATE))
        .otherwise(F.lit(ACCEPTED))
    )
    return _with_status_columns(df, source, status, conflict)


def newer_record(table: str) -> str:
    """The MERGE condition under which an accepted record `s` replaces silver's row `t` of its key: it comes
    from a later landing file, or from the same file (read again) with other content."""
    lineage = ("_source_file", "_run_id")
    same = " AND ".join(f"s.{c} <=> t.{c}" for c in TABLES[table].schema.fieldNames() if c not in lineage)
    return f"s._source_file > t._source_file OR (s._source_file = t._source_file AND NOT ({same}))"


def checked_rows(
    raw: DataFrame,
    source: Source,
    ctx: RuleContext,
    key: Column,
    seen: DataFrame | None = None,
    referenced: DataFrame | None = None,
    small_batch: bool = False,
) -> DataFrame:
    """Type, check and de-duplicate raw rows. `key` is the silver key of a row (e.g. the trimmed order_id); every
    row also gets its subject's key (`ROW_KEY`) once, for bronze, quarantine, silver and the suppression list.

    `seen` (silver's keys and files) and `referenced` (the referenced silver table) are joined to the batch; a
    `small_batch` (a day's files) takes only their rows of the batch's keys first (`rows_of_keys`): the same
    result (a key outside the batch never matches), without shuffling all of silver's keys on every run."""
    if small_batch and seen is not None:
        seen = rows_of_keys(seen, seen.columns[0], raw, key)
    if small_batch and referenced is not None:
        referenced = rows_of_keys(
            referenced, TABLES[source.reference.table].keys[0], raw, referenced_key(source)
        )
    return (
        raw.withColumn(ROW_KEY, row_key(F.col("customer_id"), ctx.salt))
        .transform(with_typed_columns, source)
        .transform(with_reference, source, referenced)
        .transform(with_seen, key, seen)
        .transform(with_verdict, source, ctx)
        .transform(with_status, source)
    )
