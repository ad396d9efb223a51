"""Salted hashing of customer identifiers: silver and gold only ever see `customer_key`."""

from __future__ import annotations

from pyspark.sql import Column
from pyspark.sql import functions as F


def customer_key(customer_id: Column, salt: str) -> Column:
    """SHA-256 of salt + id: stable across runs and sources, not reversible without the salt."""
    return F.sha2(F.concat(F.lit(salt), F.lit("|"), F.trim(customer_id)), 256)
