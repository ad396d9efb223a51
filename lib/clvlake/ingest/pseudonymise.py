"""Salted hashing of customer identifiers: silver and gold only ever see `customer_key`.

The salt never enters a Spark plan: `customer_key` hashes in a Python UDF that holds the salt in its closure,
so plans, the Spark UI and event logs show `customer_key(trim(customer_id))`, never a literal. (Spark's
`spark.sql.redaction.string.regex` was not enough: it redacts explain output, but the plan graph in the event
log is not redacted.) The key is the same as it always was, SHA-256 of `salt|trimmed id` in hex.

The lake remembers which salt its keys were made with: a fingerprint of it (an HMAC of a fixed label keyed by
the salt, which does not reveal the salt) as the table property `clvlake.saltFingerprint` of
`customer_identity`. `check_salt` runs before every job and stops one whose configured salt differs.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Callable

from pyspark.sql import Column
from pyspark.sql import functions as F

from clvlake.errors import ConfigError
from clvlake.lake import Lake

FINGERPRINT_PROPERTY = "clvlake.saltFingerprint"
FINGERPRINT_LABEL = b"clvlake customer_key salt"
IDENTITY = "customer_identity"


def key_function(salt: str) -> Callable[[str | None], str | None]:
    """customer_key of an already trimmed id in Python: hex SHA-256 of its UTF-8 `salt|id` (None for None).

    A closure over nothing but `hashlib`, so executors run it without clvlake installed.
    """
    prefix = f"{salt}|".encode()

    def customer_key(trimmed_id: str | None) -> str | None:  # the name plans show
        return None if trimmed_id is None else hashlib.sha256(prefix + trimmed_id.encode()).hexdigest()

    return customer_key


def customer_key(customer_id: Column, salt: str) -> Column:
    """SHA-256 of salt + trimmed id: stable across runs and sources, not reversible without the salt."""
    return F.udf(key_function(salt), "string")(F.trim(customer_id))


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
    path = lake.path(IDENTITY)
    stored = lake.spark.sql(f"DESCRIBE DETAIL delta.`{path}`").first()["properties"].get(FINGERPRINT_PROPERTY)
    if stored is not None:
        if not hmac.compare_digest(stored, salt_fingerprint(salt)):
            raise _mismatch(lake)
        return
    row = lake.read(IDENTITY).select("customer_id", "customer_key").first()
    if row is not None and key_function(salt)(row["customer_id"].strip(" ")) != row["customer_key"]:
        raise _mismatch(lake)
    lake.spark.sql(
        f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ('{FINGERPRINT_PROPERTY}' = '{salt_fingerprint(salt)}')"
    )
