"""Reading landing files with the source's raw schema: nothing inferred, bad lines kept for quarantine."""

from __future__ import annotations

from pathlib import Path

from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import functions as F

from clvlake.errors import InputError
from clvlake.ingest.sources import Source
from clvlake.schemas import CORRUPT_RECORD

_EXTENSION = {"csv": "csv", "json": "jsonl"}


def landing_folder(landing_root: str, source: Source) -> str:
    return f"{landing_root.rstrip('/')}/{source.name}"


def read_landing(spark: SparkSession, landing_root: str, source: Source) -> DataFrame:
    """All landing files of one source as raw text columns plus `_corrupt_record` and `_source_file`."""
    folder, pattern = landing_folder(landing_root, source), f"*.{_EXTENSION[source.file_format]}"
    if "://" not in landing_root and not any(Path(folder).glob(pattern)):
        raise InputError(f"no landing files for source '{source.name}': nothing matches {folder}/{pattern}")
    reader = (
        spark.read.schema(source.raw_schema)
        .option("pathGlobFilter", pattern)
        .option("mode", "PERMISSIVE")
        .option("columnNameOfCorruptRecord", CORRUPT_RECORD)
    )
    if source.file_format == "csv":
        # enforceSchema=false checks the header against the contract instead of trusting column positions.
        df = reader.option("header", True).option("enforceSchema", False).csv(folder)
    else:
        df = reader.json(folder)
    return df.withColumn("_source_file", F.col("_metadata.file_path"))
