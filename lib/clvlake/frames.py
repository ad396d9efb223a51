"""Small DataFrame helpers shared by several stages."""

from __future__ import annotations

from functools import reduce

from pyspark.sql import DataFrame


def union_all(frames: list[DataFrame]) -> DataFrame:
    """The rows of every frame, matched by column name (at least one frame)."""
    return reduce(DataFrame.unionByName, frames)
