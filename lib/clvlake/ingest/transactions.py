"""Plain transactions files (CSV or whitespace-separated) mapped into the orders contract by a YAML file.

A mapping (conf/sources/*.yml) names the landing folder and file pattern, the separator, the header, which
columns hold the customer id, the date or timestamp (with its format), the amount and optionally the order id
and quantity. Rows are turned into orders' raw columns and then go through the orders rules like any order:
gross_amount = amount, no discount, shipping or cost of goods, currency from the mapping. Without an order id
column the id is a hash of the file name, the line and its occurrence among identical lines of that file, so
re-reading a file yields the same ids.
"""

from __future__ import annotations

import dataclasses
import re
from dataclasses import dataclass, field
from functools import partial

from pyspark.sql import Column, DataFrame, SparkSession, Window
from pyspark.sql import functions as F

from clvlake.config import load_dataclass
from clvlake.errors import ConfigError, InputError
from clvlake.ingest.landing import first_line, hadoop_path, spark_path
from clvlake.ingest.sources import SOURCES, TIMESTAMP_FORMAT, Source
from clvlake.schemas import CORRUPT_RECORD, ORDERS_RAW_COLUMNS

WHITESPACE = "whitespace"
RAW_LINE = "_raw_line"
_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class TransactionColumns:
    """The file's column names for each orders field ('' = the file has no such column)."""

    customer_id: str
    timestamp: str
    amount: str
    order_id: str = ""
    quantity: str = ""


@dataclass(frozen=True)
class TransactionMapping:
    name: str  # the source's name in quarantine, quality_checks and transactions_raw
    folder: str  # landing sub-folder
    glob: str  # file pattern inside it, e.g. "*.txt"
    separator: str  # one character, or "whitespace" (any run of spaces and tabs)
    header: bool  # true: the first line names the columns; false: `names` does
    timestamp_format: str  # Spark datetime pattern, e.g. "yyyy-MM-dd" or "dd/MM/yyyy HH:mm"
    columns: TransactionColumns
    names: list[str] = field(default_factory=list)
    currency: str = ""  # '' = the reporting currency
    channel: str = ""
    source_file: str = "<memory>"


def load_mapping(path: str) -> TransactionMapping:
    """Read and check a mapping file; every problem names the file and the key."""
    mapping = dataclasses.replace(load_dataclass(TransactionMapping, path), source_file=str(path))
    if not _NAME.match(mapping.name) or mapping.name in SOURCES:
        raise ConfigError(
            f"{path}: key 'name' must be lower_snake_case and not one of {', '.join(SOURCES)}, got {mapping.name!r}"
        )
    if mapping.separator != WHITESPACE and len(mapping.separator) != 1:
        raise ConfigError(f"{path}: key 'separator' must be one character or '{WHITESPACE}'")
    if not mapping.header and not mapping.names:
        raise ConfigError(f"{path}: key 'names' is required when 'header' is false")
    return mapping


def transactions_source(mapping: TransactionMapping) -> Source:
    """The orders source, renamed, reading the mapping's folder, keeping each landed line."""
    return dataclasses.replace(
        SOURCES["orders"],
        name=mapping.name,
        file_format="text",
        target="orders",
        folder=mapping.folder,
        glob=mapping.glob,
        raw_line=RAW_LINE,
    )


def _split(line: Column, separator: str) -> Column:
    if separator == WHITESPACE:
        return F.split(F.trim(line), r"\s+")
    return F.split(line, re.escape(separator))


def line_field(tokens: Column, names: list[str], column: str) -> Column:
    """The trimmed field of a line's tokens (`_split`) in the file's column `column`; null for no column."""
    return F.trim(F.get(tokens, names.index(column))) if column else F.lit(None).cast("string")


def transaction_line_customer_id(
    spark: SparkSession, mapping: TransactionMapping, path: str, line: Column
) -> Column:
    """The customer id of one line of a mapped transactions file, as `read_transactions` reads it."""
    names = file_columns(spark, mapping, path)
    return line_field(_split(line, mapping.separator), names, mapping.columns.customer_id)


def header_names(line: str | None, mapping: TransactionMapping) -> list[str]:
    """The column names a header line gives (none for an empty file)."""
    text = line or ""
    return [
        n.strip()
        for n in (text.split() if mapping.separator == WHITESPACE else text.split(mapping.separator))
    ]


def file_columns(spark: SparkSession, mapping: TransactionMapping, first_file: str) -> list[str]:
    """The column names of the files: the header of the first file (a URI), or `names`; mapped ones must be
    there."""
    names = header_names(first_line(spark, first_file), mapping) if mapping.header else list(mapping.names)
    for role, column in dataclasses.asdict(mapping.columns).items():
        if column and column not in names:
            raise InputError(
                f"{mapping.source_file}: column '{column}' (columns.{role}) is not in {hadoop_path(first_file)}, "
                f"which has columns {names}"
            )
    return names


def check_same_header(spark: SparkSession, mapping: TransactionMapping, paths: list[str]) -> str | None:
    """The header line of the files, the same in every one (they are parsed with it), or an InputError naming
    the file whose columns differ; None without headers."""
    if not mapping.header:
        return None
    header = first_line(spark, paths[0])
    expected = header_names(header, mapping)
    for path in paths[1:]:
        names = header_names(first_line(spark, path), mapping)
        if names != expected:
            raise InputError(
                f"{hadoop_path(path)}: its header {names} differs from {expected} of {hadoop_path(paths[0])}: "
                f"every file of the mapped source '{mapping.name}' read in one run needs the same columns in "
                "the same order"
            )
    return header


def read_transactions(
    spark: SparkSession, mapping: TransactionMapping, paths: list[str], reporting_currency: str
) -> DataFrame:
    """The files (URIs) as orders' raw columns plus `_corrupt_record`, `_source_file` (the URI) and the line
    itself."""
    names = file_columns(spark, mapping, paths[0])
    header = check_same_header(spark, mapping, paths)
    lines = (
        spark.read.text(list(map(spark_path, paths)))
        .select(F.col("value").alias(RAW_LINE), F.col("_metadata.file_path").alias("_source_file"))
        .where(F.trim(RAW_LINE) != "")
    )
    if header is not None:
        lines = lines.where(F.col(RAW_LINE) != F.lit(header))
    tokens = _split(F.col(RAW_LINE), mapping.separator)
    cols = mapping.columns
    field_of = partial(line_field, tokens, names)

    parsed = F.try_to_timestamp(field_of(cols.timestamp), F.lit(mapping.timestamp_format))
    occurrence = F.row_number().over(Window.partitionBy("_source_file", RAW_LINE).orderBy(RAW_LINE))
    file_name = F.element_at(F.split("_source_file", "/"), -1)
    synthetic_id = F.concat(
        F.lit("TX"),
        F.substring(
            F.sha2(F.concat_ws("|", file_name, F.col(RAW_LINE), occurrence.cast("string")), 256), 1, 24
        ),
    )
    orders_fields = {
        "order_id": field_of(cols.order_id) if cols.order_id else synthetic_id,
        "customer_id": field_of(cols.customer_id),
        # a parsed timestamp in the contract's format; the text as given when it does not parse (quarantined)
        "order_ts": F.coalesce(
            F.date_format(parsed, TIMESTAMP_FORMAT.replace("X", "'Z'")), field_of(cols.timestamp)
        ),
        "channel": F.lit(mapping.channel or None).cast("string"),
        "currency": F.lit(mapping.currency or reporting_currency),
        "gross_amount": field_of(cols.amount),
        "discount_amount": F.lit("0"),
        "shipping_cost": F.lit("0"),
        "cost_of_goods": F.lit("0"),
        "items": field_of(cols.quantity),
        "product_category": F.lit(None).cast("string"),
    }
    return lines.select(
        *[orders_fields[name].alias(name) for name in ORDERS_RAW_COLUMNS],
        F.when(F.size(tokens) != len(names), F.col(RAW_LINE)).alias(CORRUPT_RECORD),
        "_source_file",
        RAW_LINE,
    )
