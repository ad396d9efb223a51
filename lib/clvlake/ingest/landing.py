"""Landing files: listing them (for incremental runs) and reading them with the source's raw schema.

Nothing is inferred and bad lines are kept (the corrupt-record column) so that they reach quarantine.
"""

from __future__ import annotations

import csv
import re
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from urllib.parse import unquote

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from clvlake.errors import InputError
from clvlake.ingest.sources import Source
from clvlake.schemas import CORRUPT_RECORD
from clvlake.session import java_class

BYTE_ORDER_MARK = "\ufeff"
UNKNOWN_FIELDS = "_unknown_fields"  # a JSON line's top-level fields that its source's contract does not have
GLOB_CHARACTERS = re.compile(r"([\\\[\]{}*?])")  # what Spark's readers expand in a path, unless escaped


@dataclass(frozen=True, order=True)
class LandingFile:
    path: str  # the file's URI, as Spark names it in `_metadata.file_path` (a space is %20, a % is %25)
    size: int
    modification_time: datetime


def hadoop_path(uri: str) -> str:
    """A landing file's URI as the path Hadoop's file system opens (percent-escapes decoded)."""
    return unquote(uri)


def spark_path(uri: str) -> str:
    """A landing file's URI as a path Spark's readers take literally: decoded, glob characters escaped."""
    return GLOB_CHARACTERS.sub(r"\\\1", hadoop_path(uri))


def in_paths(column: str, paths: list[str]) -> str:
    """`<column> IN (<paths>)` as SQL."""
    quoted = ", ".join("'" + p.replace("'", "\\'") + "'" for p in paths)
    return f"{column} IN ({quoted})"


def landing_folder(landing_root: str, source: Source) -> str:
    return f"{landing_root.rstrip('/')}/{source.landing_folder}"


def list_landing(
    spark: SparkSession, landing_root: str, source: Source, required: bool = True
) -> list[LandingFile]:
    """Every landing file of a source, sorted by path; none at all is an error naming the folder, or an empty
    list when the source is not `required`.

    Read through Spark's file index (without the contents), so object stores list like local folders.
    The list grows with months of files, not with rows.
    """
    folder = landing_folder(landing_root, source)
    missing = InputError(
        f"no landing files for source '{source.name}': nothing matches {folder}/{source.pattern}"
    )
    rows = []
    if "://" in landing_root or any(Path(folder).glob(source.pattern)):
        try:
            rows = (
                spark.read.format("binaryFile")
                .option("pathGlobFilter", source.pattern)
                .load(folder)
                .select("_metadata.file_path", "_metadata.file_size", "_metadata.file_modification_time")
                .collect()
            )
        except AnalysisException:
            rows = []
    if not rows and required:
        raise missing
    return sorted(LandingFile(*r) for r in rows)


def first_line(spark: SparkSession, uri: str) -> str | None:
    """The first line of a file (None when it is empty), read through Hadoop's file system for the path's scheme
    (local, s3a:, abfss:, …) without a Spark job; under Spark Connect, where the driver has no JVM, by a job."""
    jsc = getattr(spark, "_jsc", None)
    if jsc is None:
        row = spark.read.text(spark_path(uri)).first()
        return row["value"] if row else None
    path = java_class(spark, "org.apache.hadoop.fs.Path")(hadoop_path(uri))
    lines, text = java_class(spark, "java.io.BufferedReader"), java_class(spark, "java.io.InputStreamReader")
    stream = path.getFileSystem(jsc.hadoopConfiguration()).open(path)
    try:
        return lines(text(stream, "UTF-8")).readLine()
    finally:
        stream.close()


def check_csv_headers(spark: SparkSession, paths: list[str], source: Source) -> None:
    """Every file's header names the source's raw columns in order (case aside, as Spark compares them), or an
    InputError names the file and the columns that differ. Reads the first line of each file only."""
    expected = list(source.raw_columns)
    for uri in paths:
        line = first_line(spark, uri)
        header = next(csv.reader([line])) if line else expected  # an empty file has no header
        found, wanted = [h.lower() for h in header], [c.lower() for c in expected]
        if found == wanted:
            continue
        missing = [c for c in expected if c.lower() not in found]
        unexpected = [h for h in header if h.lower() not in wanted]
        differ = (
            f"missing {missing}, unexpected {unexpected}" if missing or unexpected else "in another order"
        )
        raise InputError(
            f"{hadoop_path(uri)}: the header does not match source '{source.name}' ({differ}); "
            f"expected {','.join(expected)}"
        )


def line_customer_id(source: Source, line: Column) -> Column:
    """The customer id of one landed line of a CSV or JSON source, parsed as `read_landing` parses it."""
    if source.file_format == "csv":
        ddl = ", ".join(f"`{c}` STRING" for c in source.raw_columns)
        return F.from_csv(line, ddl)["customer_id"]
    return F.get_json_object(without_byte_order_mark(line), "$.customer_id")


def without_byte_order_mark(line: Column) -> Column:
    """The line without a leading byte order mark (a file's first line may have one; JSON readers skip it)."""
    return F.regexp_replace(line, f"^{BYTE_ORDER_MARK}", "")


def read_landing(spark: SparkSession, paths: list[str], source: Source) -> DataFrame:
    """The given files (URIs) of one source, whose CSV headers the caller has checked (`check_csv_headers`), as raw
    text columns plus `_corrupt_record` and `_source_file` (the file's URI); for JSON sources also
    `UNKNOWN_FIELDS`."""
    if source.file_format != "csv":
        return read_json_lines(spark, paths, source)
    # enforceSchema=false checks the header against the contract instead of trusting column positions.
    df = (
        spark.read.schema(source.raw_schema)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
        .option("header", True)
        .option("enforceSchema", False)
        .csv(list(map(spark_path, paths)))
    )
    return df.withColumn("_source_file", F.col("_metadata.file_path"))


def read_json_lines(spark: SparkSession, paths: list[str], source: Source) -> DataFrame:
    """JSON-lines files parsed as Spark's JSON reader parses them with the contract's schema (blank lines
    skipped, a line that does not parse kept whole in `_corrupt_record`), plus `UNKNOWN_FIELDS`: the line's
    top-level fields outside the contract, a new or renamed field whose values would otherwise vanish unseen."""
    options = {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD}
    known = F.array(*[F.lit(c) for c in source.raw_columns])
    line = without_byte_order_mark(F.col("value"))
    return (
        spark.read.text(list(map(spark_path, paths)))
        .where(F.trim("value") != "")
        .select(
            F.from_json(line, source.raw_schema, options).alias("_row"),
            F.coalesce(
                F.array_except(F.json_object_keys(line), known), F.array().cast("array<string>")
            ).alias(UNKNOWN_FIELDS),
            F.col("_metadata.file_path").alias("_source_file"),
        )
        .select("_row.*", UNKNOWN_FIELDS, "_source_file")
    )
