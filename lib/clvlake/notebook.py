"""Helpers for the notebooks in notebooks/, which run on Databricks and on a laptop alike."""

from __future__ import annotations

import os

from pyspark.sql import SparkSession


def widget(name: str, default: str) -> str:
    """A notebook parameter: the Databricks widget `name` (created with `default` if new) on Databricks,
    elsewhere the environment variable CLVLAKE_<NAME>, else `default`."""
    try:
        from pyspark.dbutils import DBUtils  # only the Databricks runtime ships it
    except ImportError:
        return os.environ.get(f"CLVLAKE_{name.upper()}", default)
    dbutils = DBUtils(SparkSession.builder.getOrCreate())
    dbutils.widgets.text(name, default)
    return dbutils.widgets.get(name)
