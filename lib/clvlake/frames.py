"""Small DataFrame helpers shared by several stages."""

from __future__ import annotations

from functools import reduce

from pyspark import StorageLevel
from pyspark.sql import DataFrame


def union_all(frames: list[DataFrame]) -> DataFrame:
    """The rows of every frame, matched by column name (at least one frame)."""
    return reduce(DataFrame.unionByName, frames)


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
