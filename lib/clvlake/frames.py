"""Small DataFrame helpers shared by several stages."""

from __future__ import annotations

from collections.abc import Sequence
from functools import reduce

import pyarrow as pa
from pyspark import StorageLevel
from pyspark.sql import DataFrame, SparkSession
from pyspark.sql import types as T
from pyspark.sql.pandas.types import to_arrow_type


def union_all(frames: list[DataFrame]) -> DataFrame:
    """The rows of every frame, matched by column name (at least one frame)."""
    return reduce(DataFrame.unionByName, frames)


def local_frame(spark: SparkSession, rows: Sequence[Sequence[object]], schema: T.StructType) -> DataFrame:
    """A few driver-side rows as a local relation made from an Arrow table, which queries read in the JVM. (A frame
    made from a Python list is an RDD of pickled rows that every query reading it unpickles in Python worker tasks,
    one per default partition.) No timestamps: Arrow would read a naive datetime in the session's time zone, where
    a list's frame reads it in the Python process's."""
    timestamps = [
        f.name for f in schema.fields if isinstance(f.dataType, (T.TimestampType, T.TimestampNTZType))
    ]
    if timestamps:
        raise ValueError(f"local_frame takes no timestamp columns: {timestamps}")
    columns = list(zip(*rows, strict=True)) if rows else [() for _ in schema.fields]
    arrays = [
        pa.array(list(values), to_arrow_type(f.dataType)) for f, values in zip(schema, columns, strict=True)
    ]
    return spark.createDataFrame(pa.table(arrays, names=schema.names), schema)


def computed_once(df: DataFrame) -> DataFrame:
    """`df` computed now onto local disk, its lineage cut (a local checkpoint): later queries read those rows as
    they were. Unlike `persist()`, which Spark recomputes against the new table after every write to a table
    the cached plan reads, so rows checked against silver would be checked again (landing files re-read, silver
    re-joined) by each use that follows a write to silver. Free it with `release` when done."""
    return df.localCheckpoint(eager=True, storageLevel=StorageLevel.DISK_ONLY)


def release(df: DataFrame) -> None:
    """Drop the disk blocks of a `computed_once` frame now (rather than at the driver's next garbage collection).
    Over Spark Connect the server drops them once the client lets go of the frame."""
    jdf = getattr(df, "_jdf", None)
    if jdf is not None:
        jdf.logicalPlan().rdd().unpersist(False)
