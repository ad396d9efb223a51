"""The campaign export's e-mail permission: consent from silver customers, minus standing unsubscribes."""

from datetime import datetime

from chispa import assert_df_equality

from clvlake.reporting.export import with_email_allowed


def test_an_unsubscribe_or_missing_consent_forbids_email(spark):
    rows = spark.createDataFrame([("a",), ("b",), ("c",), ("d",)], "customer_key string")
    customers = spark.createDataFrame(
        [("a", True), ("b", True), ("c", False), ("d", None)],
        "customer_key string, marketing_consent boolean",
    )
    at = datetime(2024, 3, 1)
    email_events = spark.createDataFrame(
        [("e1", "a", "open", at), ("e2", "b", "unsubscribe", at), ("e3", "b", "open", datetime(2024, 3, 2))],
        "event_id string, customer_key string, event_type string, event_ts timestamp",
    )
    expected = spark.createDataFrame(
        [("a", True), ("b", False), ("c", False), ("d", False)], "customer_key string, email_allowed boolean"
    )
    actual = with_email_allowed(rows, customers, email_events).orderBy("customer_key")
    assert_df_equality(actual, expected, ignore_nullable=True)
