"""Salted hashing of customer identifiers: silver and gold only ever see `customer_key`.

The salt never enters a Spark plan as a literal: `customer_key` reads it with a scalar subquery from a temporary
view over a one-row frame (named by the salt's fingerprint), so plans, the Spark UI and event logs show
`scalar-subquery`, never the value, and the hash stays Spark's native `sha2` (a Python UDF would double the cost
of keying every event). The key is the same as it always was, SHA-256 of `salt|trimmed id` in hex.

The lake remembers which salt its keys were made with: a fingerprint of it (an HMAC of a fixed label keyed by
the salt, which does not reveal the salt) as the table property `clvlake.saltFingerprint` of
`customer_identity`. `check_salt` runs before every job and stops one whose configured salt differs.
"""

from __future__ import annotations

import hashlib
import hmac

from pyspark.sql import Column, SparkSession
from pyspark.sql import functions as F
from pyspark.sql import types as T

from clvlake.errors import ConfigError
from clvlake.frames import local_frame
from clvlake.lake import Lake

FINGERPRINT_PROPERTY = "clvlake.saltFingerprint"
FINGERPRINT_LABEL = b"clvlake customer_key salt"
IDENTITY = "customer_identity"
SALT_SCHEMA = T.StructType([T.StructField("salt", T.StringType())])


def python_key(salt: str, trimmed_id: str) -> str:
    """customer_key of one trimmed id, computed in Python (the same value as `customer_key`)."""
    return hashlib.sha256(f"{salt}|{trimmed_id}".encode()).hexdigest()


def salt_view(salt: str) -> str:
    """A temporary view holding the salt as its one row, registered on the active session; returns its name.

    The row is a `local_frame`, read in the JVM by every query that keys rows: a
    frame made from a Python list is an RDD of pickled rows, which each query unpickles in Python worker tasks
    (one per default partition), a few hundred milliseconds of every ingest's source, identity and erasure query."""
    name = f"_clvlake_salt_{salt_fingerprint(salt)[:16]}"
    spark = SparkSession.active()  # the thread's active session, else the default one
    if not spark.catalog.tableExists(name):
        local_frame(spark, [(salt,)], SALT_SCHEMA).createOrReplaceTempView(name)
    return name


def customer_key(customer_id: Column, salt: str) -> Column:
    """SHA-256 of salt + trimmed id: stable across runs and sources, not reversible without the salt."""
    salt_value = F.expr(f"(SELECT salt FROM {salt_view(salt)})")
    return F.sha2(F.concat(salt_value, F.lit("|"), F.trim(customer_id)), 256)


# the column in which checked landing rows carry their subject's key (`row_key`), computed once a row
ROW_KEY = "_row_key"


def row_key(customer_id: Column, salt: str) -> Column:
    """The subject's customer_key of a landed row; null when the row has no parsable id."""
    return F.when(F.trim(customer_id) != "", customer_key(customer_id, salt))


def salt_fingerprint(salt: str) -> str:
    return hmac.new(salt.encode(), FINGERPRINT_LABEL, hashlib.sha256).hexdigest()


def _mismatch(lake: Lake) -> ConfigError:
    return ConfigError(
        f"the configured salt (privacy.salt, set from CLVLAKE_SALT) differs from the salt the customer keys of "
        f"the lake at {lake.root} were made with: set CLVLAKE_SALT to that lake's salt (a job with another "
        "salt would give every customer a second key)"
    )


def check_salt(lake: Lake, salt: str) -> None:
    """Stop with a `ConfigError` if the lake's keys were made with another salt; record the fingerprint of
    a lake that has none yet (written before the guard, or by the first ingest), after checking the key of
    one identity row."""
    if not lake.exists(IDENTITY):
        return  # no keys yet
    stored = lake.properties(IDENTITY).get(FINGERPRINT_PROPERTY)
    if stored is not None:
        if not hmac.compare_digest(stored, salt_fingerprint(salt)):
            raise _mismatch(lake)
        return
    row = lake.read(IDENTITY).select("customer_id", "customer_key").first()
    if row is not None and python_key(salt, row["customer_id"].strip(" ")) != row["customer_key"]:
        raise _mismatch(lake)
    lake.set_properties(IDENTITY, {FINGERPRINT_PROPERTY: salt_fingerprint(salt)})
