"""The table catalogue: every Delta table clvlake writes, its layer, partitioning, keys and schema."""

from __future__ import annotations

from dataclasses import dataclass

from pyspark.sql import types as T

from clvlake import schemas


@dataclass(frozen=True)
class TableSpec:
    name: str
    layer: str
    schema: T.StructType
    partition_by: str | None
    keys: tuple[str, ...]
    # clear identifiers or raw text inside: no column statistics in the Delta log, so erasure leaves no trace
    clear_ids: bool = False


def _spec(name: str, layer: str, schema: T.StructType, partition_by: str | None, *keys: str) -> TableSpec:
    return TableSpec(name, layer, schema, partition_by, keys, clear_ids=layer in ("bronze", "restricted"))


BRONZE_SOURCES = {
    "orders": schemas.ORDERS_RAW_COLUMNS,
    "refunds": schemas.REFUNDS_RAW_COLUMNS,
    "sessions": schemas.SESSIONS_RAW_COLUMNS,
    "email_events": schemas.EMAIL_EVENTS_RAW_COLUMNS,
    "support_tickets": schemas.SUPPORT_TICKETS_RAW_COLUMNS,
    "customers": schemas.CUSTOMERS_RAW_COLUMNS,
}


TABLES: dict[str, TableSpec] = {
    s.name: s
    for s in (
        _spec("orders", "silver", schemas.ORDERS, "event_date", "order_id"),
        _spec("refunds", "silver", schemas.REFUNDS, "event_date", "refund_id"),
        _spec("sessions", "silver", schemas.SESSIONS, "event_date", "session_id"),
        _spec("email_events", "silver", schemas.EMAIL_EVENTS, "event_date", "event_id"),
        _spec("support_tickets", "silver", schemas.SUPPORT_TICKETS, "event_date", "ticket_id"),
        _spec("customers", "silver", schemas.CUSTOMERS, "event_date", "customer_key"),
        TableSpec("quarantine", "silver", schemas.QUARANTINE, "ingest_date", ("source", "record_id"), True),
        *(
            _spec(f"{source}_raw", "bronze", schemas.bronze_schema(columns), "ingest_date")
            for source, columns in BRONZE_SOURCES.items()
        ),
        _spec("transactions_raw", "bronze", schemas.TRANSACTIONS_RAW, "ingest_date"),
        _spec(
            "ingested_files",
            "ops",
            schemas.INGESTED_FILES,
            None,
            "source",
            "path",
            "size",
            "modification_time",
        ),
        _spec("quality_checks", "ops", schemas.QUALITY_CHECKS, "run_date", "run_date", "source", "batch_id"),
        _spec("erasure_audit", "ops", schemas.ERASURE_AUDIT, "run_date"),
        _spec("monitor_checks", "ops", schemas.MONITOR_CHECKS, "run_date", "run_date", "stage", "check"),
        _spec("drift", "ops", schemas.DRIFT, "run_date", "run_date", "kind", "column"),
        _spec(
            "realised_vs_predicted",
            "ops",
            schemas.REALISED_VS_PREDICTED,
            "run_date",
            "run_date",
            "score_date",
            "method",
            "metric",
        ),
        _spec("customer_identity", "restricted", schemas.CUSTOMER_IDENTITY, None, "customer_key"),
        _spec(
            "customer_features",
            "gold",
            schemas.CUSTOMER_FEATURES,
            "snapshot_date",
            "customer_key",
            "snapshot_date",
        ),
        _spec(
            "training_sets", "gold", schemas.TRAINING_SETS, "snapshot_date", "customer_key", "snapshot_date"
        ),
        _spec("clv_scores", "gold", schemas.CLV_SCORES, "score_date", "customer_key", "score_date"),
        _spec("segment_summary", "gold", schemas.SEGMENT_SUMMARY, "score_date", "score_date", "segment"),
        _spec(
            "segment_migration",
            "gold",
            schemas.SEGMENT_MIGRATION,
            "score_date",
            "score_date",
            "from_tier",
            "from_stage",
            "to_tier",
            "to_stage",
        ),
        _spec(
            "cohorts",
            "gold",
            schemas.COHORTS,
            "score_date",
            "score_date",
            "cohort_month",
            "months_since_first",
        ),
        _spec("what_if", "gold", schemas.WHAT_IF, "score_date", "score_date", "scenario", "segment"),
        _spec("budget_allocation", "gold", schemas.BUDGET_ALLOCATION, "score_date", "score_date", "segment"),
        _spec(
            "backtest_predictions",
            "gold",
            schemas.BACKTEST_PREDICTIONS,
            "snapshot_date",
            "snapshot_date",
            "evaluation",
            "method",
            "customer_key",
        ),
        _spec(
            "backtest_metrics",
            "gold",
            schemas.BACKTEST_METRICS,
            "snapshot_date",
            "snapshot_date",
            "evaluation",
            "method",
            "metric",
            "decile",
        ),
    )
}
