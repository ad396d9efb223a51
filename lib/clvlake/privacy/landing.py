"""Erasure in the landing area: every landing file the lake read a subject's rows from is rewritten without them.

Which files: bronze keeps every landed row with its landing file and its subject's key, so they are bronze's
`_source_file` of the subjects' rows (found before the erasure deletes those rows; a rerun after an interrupted
erasure finds them again). A line is a subject's when its customer id, parsed as ingest parses it, has the
subject's key: never by its text. A file is rewritten line for line without the subjects' lines (Spark's text
source keeps each line's bytes; line ends become `\\n`), beside itself under a hidden name, then renamed over it
(Hadoop's rename with overwrite). `ingested_files` then records the file's new size and time, so the next ingest
does not read it again. A file landed after the erasure is not rewritten: ingest drops its rows of erased
subjects (the suppression list).
"""

from __future__ import annotations

import logging
import uuid
from dataclasses import dataclass

from pyspark.sql import Column, DataFrame, SparkSession
from pyspark.sql import functions as F

from clvlake import schemas
from clvlake.catalog import BRONZE_SOURCES
from clvlake.config import Config
from clvlake.frames import local_frame, union_all
from clvlake.ingest.landing import hadoop_path, in_paths, line_customer_id, spark_path
from clvlake.ingest.pseudonymise import row_key
from clvlake.ingest.sources import SOURCES
from clvlake.ingest.transactions import (
    TransactionMapping,
    load_mapping,
    transaction_line_customer_id,
    transactions_source,
)
from clvlake.lake import Lake
from clvlake.parallel import each_at_once
from clvlake.session import java_class

log = logging.getLogger(__name__)
LINE = "value"  # the column of Spark's text source
PARALLEL_FILES = 3  # files rewritten at once: each is two small Spark jobs (as `erase.PARALLEL_TABLES`)


@dataclass(frozen=True)
class LandedFile:
    source: str
    path: str  # as ingest names it (`_metadata.file_path`)


def subject_files(lake: Lake, subjects: DataFrame) -> list[LandedFile]:
    """Every landing file that bronze holds a row of a subject (`customer_key`) from: a few files per subject."""
    keys = subjects.select("customer_key")
    found = []
    for table, source in [(f"{s}_raw", F.lit(s)) for s in BRONZE_SOURCES] + [
        ("transactions_raw", F.col("source"))
    ]:
        if lake.exists(table) and "customer_key" in lake.read(table).columns:
            found.append(
                lake.read(table).join(keys, "customer_key").select(source.alias("source"), "_source_file")
            )
    if not found:
        return []
    rows = union_all(found).distinct().orderBy("source", "_source_file").collect()
    return [LandedFile(r["source"], r["_source_file"]) for r in rows]


def customer_id_of_line(
    spark: SparkSession, mappings: dict[str, TransactionMapping], file: LandedFile
) -> Column | None:
    """How ingest reads the customer id of one of the file's lines (`mappings`: the mapped sources by name);
    None for a mapped source no longer configured (`ingest.transaction_sources`)."""
    if file.source in SOURCES:
        return line_customer_id(SOURCES[file.source], F.col(LINE))
    if file.source not in mappings:
        return None
    return transaction_line_customer_id(spark, mappings[file.source], file.path, F.col(LINE))


def replace_file(spark: SparkSession, lines: DataFrame, uri: str) -> None:
    """Write `lines` (in their order) as the file at `uri`, atomically replacing it, through Hadoop's file
    system for the path's scheme."""
    conf = spark.sparkContext._jsc.hadoopConfiguration()
    fs_path = java_class(spark, "org.apache.hadoop.fs.Path")
    target = fs_path(hadoop_path(uri))
    staging = fs_path(target.getParent(), f"_clvlake_erasing_{uuid.uuid4().hex}")
    lines.coalesce(1).write.text(staging.toString())
    fs = target.getFileSystem(conf)
    parts = fs.globStatus(fs_path(staging, "part-*"))
    written = parts[0].getPath() if parts else fs_path(staging, "empty")
    if not parts:  # no line is left: an empty file
        fs.create(written).close()
    rename = java_class(spark, "org.apache.hadoop.fs.Options").Rename
    overwrite = spark.sparkContext._gateway.new_array(rename, 1)
    overwrite[0] = rename.OVERWRITE
    java_class(spark, "org.apache.hadoop.fs.FileContext").getFileContext(target.toUri(), conf).rename(
        written, target, overwrite
    )
    # a local file system renames the staged checksum along: a later copy of the file by other tools would no
    # longer match it, and Hadoop's reader would refuse the file
    fs.delete(fs_path(target.getParent(), f".{target.getName()}.crc"), False)
    fs.delete(staging, True)


def erase_from_landing(
    spark: SparkSession, lake: Lake, cfg: Config, subjects: DataFrame, run_id: str
) -> dict[str, int]:
    """Rewrite every landing file bronze holds a subject's row from without the subjects' lines; returns the
    lines removed per file (rewritten files only) and records their new size and time in `ingested_files`."""
    files = subject_files(lake, subjects)
    if files and getattr(spark, "_jsc", None) is None:
        log.warning(
            "erase: %d landing file(s) hold the subjects, but a Spark Connect session cannot rewrite files: "
            "rerun `clv erase` with a classic session to remove them from the landing area",
            len(files),
        )
        return {}
    keys = [r["customer_key"] for r in subjects.select("customer_key").collect()]  # the ids given: a handful
    mappings = {transactions_source(m).name: m for m in map(load_mapping, cfg.ingest.transaction_sources)}

    def erase_from_file(file: LandedFile) -> int:
        customer_id = customer_id_of_line(spark, mappings, file)
        if customer_id is None:
            log.warning(
                "erase: %s: source '%s' is no longer configured; file not rewritten", file.path, file.source
            )
            return 0
        lines = spark.read.text(spark_path(file.path))
        subject = F.coalesce(row_key(customer_id, cfg.privacy.salt).isin(keys), F.lit(False))
        count = lines.select(F.count_if(subject)).first()[0]
        if count:
            replace_file(spark, lines.where(~subject), file.path)
            log.info("erase: %s: %d line(s) removed", file.path, count)
        return count

    counts = zip(files, each_at_once(erase_from_file, files, PARALLEL_FILES, "erase"), strict=True)
    removed = {file.path: count for file, count in counts if count}
    if removed:
        record_new_sizes(spark, lake, [f for f in files if f.path in removed], run_id)
    return removed


def record_new_sizes(spark: SparkSession, lake: Lake, files: list[LandedFile], run_id: str) -> None:
    """Replace the `ingested_files` rows of rewritten files with their new size and time: read, not new."""
    paths = [f.path for f in files]
    status = (
        spark.read.format("binaryFile")
        .load(list(map(spark_path, paths)))
        .select(
            F.col("_metadata.file_path").alias("path"),
            F.col("_metadata.file_size").alias("size"),
            F.col("_metadata.file_modification_time").alias("modification_time"),
        )
    )
    sources = local_frame(spark, [(f.source, f.path) for f in files], schemas.LANDING_FILE_SOURCES)
    rows = sources.join(status, "path").select(
        "source", "path", "size", "modification_time", F.lit(run_id).alias("run_id")
    )
    lake.replace_where(rows, "ingested_files", in_paths("path", paths))
    log.info("erase: ingested_files records the new size of %d rewritten landing file(s)", len(files))
