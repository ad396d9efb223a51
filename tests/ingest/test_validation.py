"""A batch checked against silver: a small batch (a day's files) first takes silver's rows of its own keys, by a
broadcast, and gets the same verdicts as a large batch's shuffled join."""

from __future__ import annotations

from datetime import date, datetime
from decimal import Decimal

from chispa import assert_df_equality
from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from clvlake import schemas
from clvlake.ingest.pseudonymise import customer_key
from clvlake.ingest.run import silver_key
from clvlake.ingest.sources import SOURCES, RuleContext
from clvlake.ingest.validation import checked_rows

SALT = "salt"
CTX = RuleContext(date(2025, 1, 1), date(2015, 1, 1), "EUR", SALT, 64)
THIS_FILE, OLDER_FILE = (
    "file:/landing/refunds/refunds_2024-12.csv",
    "file:/landing/refunds/refunds_2024-11.csv",
)
REFUNDS = SOURCES["refunds"]


def refunds_batch(spark) -> DataFrame:
    rows = [
        ("R1", "O1", "C1", "2024-12-02T10:00:00Z", "5.00"),  # new, of a loaded order
        ("R2", "O1", "C1", "2024-12-03T10:00:00Z", "5.00"),  # silver holds it from an older file
        ("R3", "O9", "C1", "2024-12-03T10:00:00Z", "5.00"),  # of an order never loaded
        ("R4", "O2", "C2", "2024-12-04T10:00:00Z", "1.00"),  # silver holds it from this file: a rerun's
        ("R5", "O2", "C1", "2024-12-04T10:00:00Z", "1.00"),  # of another customer's order
    ]
    columns = [*REFUNDS.raw_columns, "_corrupt_record", "_source_file"]
    return spark.createDataFrame(
        [(*row, None, THIS_FILE) for row in rows], ", ".join(f"{c} string" for c in columns)
    )


def silver_orders(spark) -> DataFrame:
    ordered, zero = datetime(2024, 11, 20, 9), Decimal("0.00")
    rows = [
        (
            order_id,
            customer,
            ordered,
            "web",
            "EUR",
            Decimal("40.00"),
            zero,
            zero,
            zero,
            1,
            None,
            ordered.date(),
            "f",
            "r",
        )
        for order_id, customer in (("O1", "C1"), ("O2", "C2"), ("O5", "C3"))
    ]
    orders = spark.createDataFrame(rows, schemas.ORDERS)
    return orders.withColumn("customer_key", customer_key(F.col("customer_key"), SALT))


def test_a_small_batch_gets_the_verdicts_of_a_shuffled_join_from_a_broadcast_of_its_keys(spark):
    seen = spark.createDataFrame(
        [("R2", OLDER_FILE), ("R4", THIS_FILE), ("R7", OLDER_FILE)], ["refund_id", "_seen_file"]
    )
    key = silver_key(REFUNDS, SALT)
    shuffled, broadcast = (
        checked_rows(refunds_batch(spark), REFUNDS, CTX, key, seen, silver_orders(spark), small_batch=small)
        for small in (False, True)
    )
    verdicts = {r["refund_id"]: (r["status"], r["rule"]) for r in broadcast.collect()}
    assert verdicts == {
        "R1": ("accepted", None),
        "R2": ("duplicate", None),
        "R3": ("quarantined", "unknown_order"),
        "R4": ("accepted", None),
        "R5": ("quarantined", "customer_mismatch"),
    }
    assert_df_equality(shuffled, broadcast, ignore_row_order=True, ignore_nullable=True)

    def semi_joins(df: DataFrame) -> list[str]:
        plan = df._jdf.queryExecution().optimizedPlan().toString()
        return [line.strip(" +-:") for line in plan.splitlines() if "Join LeftSemi" in line]

    # each silver table (seen refunds, referenced orders) is first narrowed to the batch's keys, broadcast
    assert semi_joins(shuffled) == []
    narrowed = semi_joins(broadcast)
    assert len(narrowed) == 2 and all(join.endswith("rightHint=(strategy=broadcast)") for join in narrowed)
