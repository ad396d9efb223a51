"""The StructType contract of every table clvlake writes, one constant each.

Grain and key of each table are stated beside it. Jobs never infer a schema: landing files are read with the
raw (all-string) schemas below, then typed and validated into the silver contracts. A column may be NOT NULL;
the values of a map and the elements of an array are nullable, as SQL's CREATE TABLE (`clvlake.lake`) makes
them (the jobs write no null there).
"""

from __future__ import annotations

from pyspark.sql import types as T

CORRUPT_RECORD = "_corrupt_record"
TRAILING_WINDOWS_DAYS = (30, 90, 180, 365)

_STR, _TS, _DATE, _INT, _LONG, _DBL, _BOOL = (
    T.StringType(),
    T.TimestampType(),
    T.DateType(),
    T.IntegerType(),
    T.LongType(),
    T.DoubleType(),
    T.BooleanType(),
)
MONEY = T.DecimalType(18, 2)


def _fields(*specs: tuple[str, T.DataType] | tuple[str, T.DataType, bool]) -> T.StructType:
    return T.StructType([T.StructField(s[0], s[1], s[2] if len(s) > 2 else True) for s in specs])


def raw_schema(columns: tuple[str, ...]) -> T.StructType:
    """Landing-file schema: every column as text, plus the corrupt-record column so bad lines are kept."""
    return T.StructType([T.StructField(c, _STR) for c in columns] + [T.StructField(CORRUPT_RECORD, _STR)])


# ---- landing columns, exactly as the sources drop them ----------------------------------------------------
ORDERS_RAW_COLUMNS = (
    "order_id",
    "customer_id",
    "order_ts",
    "channel",
    "currency",
    "gross_amount",
    "discount_amount",
    "shipping_cost",
    "cost_of_goods",
    "items",
    "product_category",
)
REFUNDS_RAW_COLUMNS = ("refund_id", "order_id", "customer_id", "refund_ts", "amount")
SESSIONS_RAW_COLUMNS = (
    "session_id",
    "customer_id",
    "session_start",
    "device",
    "pages_viewed",
    "traffic_source",
)
EMAIL_EVENTS_RAW_COLUMNS = ("event_id", "customer_id", "campaign_id", "event_type", "event_ts")
SUPPORT_TICKETS_RAW_COLUMNS = (
    "ticket_id",
    "customer_id",
    "opened_ts",
    "closed_ts",
    "category",
    "satisfaction",
)
CUSTOMERS_RAW_COLUMNS = (
    "customer_id",
    "signup_ts",
    "acquisition_channel",
    "country",
    "email",
    "name",
    "marketing_consent",
)

# ---- silver: typed, de-duplicated, pseudonymised; partitioned by event_date --------------------------------
LINEAGE = (("_source_file", _STR), ("_run_id", _STR))

# grain: one order; key: order_id
ORDERS = _fields(
    ("order_id", _STR, False),
    ("customer_key", _STR, False),
    ("order_ts", _TS, False),
    ("channel", _STR),
    ("currency", _STR, False),
    ("gross_amount", MONEY, False),
    ("discount_amount", MONEY, False),
    ("shipping_cost", MONEY, False),
    ("cost_of_goods", MONEY, False),
    ("items", _INT),
    ("product_category", _STR),
    ("event_date", _DATE, False),
    *LINEAGE,
)
# grain: one refund; key: refund_id
REFUNDS = _fields(
    ("refund_id", _STR, False),
    ("order_id", _STR, False),
    ("customer_key", _STR, False),
    ("refund_ts", _TS, False),
    ("amount", MONEY, False),
    ("event_date", _DATE, False),
    *LINEAGE,
)
# grain: one web/app session; key: session_id
SESSIONS = _fields(
    ("session_id", _STR, False),
    ("customer_key", _STR, False),
    ("session_start", _TS, False),
    ("device", _STR),
    ("pages_viewed", _INT),
    ("traffic_source", _STR),
    ("event_date", _DATE, False),
    *LINEAGE,
)
# grain: one e-mail event; key: event_id
EMAIL_EVENTS = _fields(
    ("event_id", _STR, False),
    ("customer_key", _STR, False),
    ("campaign_id", _STR),
    ("event_type", _STR, False),
    ("event_ts", _TS, False),
    ("event_date", _DATE, False),
    *LINEAGE,
)
# grain: one support ticket; key: ticket_id
SUPPORT_TICKETS = _fields(
    ("ticket_id", _STR, False),
    ("customer_key", _STR, False),
    ("opened_ts", _TS, False),
    ("closed_ts", _TS),
    ("category", _STR),
    ("satisfaction", _INT),
    ("event_date", _DATE, False),
    *LINEAGE,
)
# grain: one customer (CRM record, PII removed); key: customer_key; event_date = signup date
CUSTOMERS = _fields(
    ("customer_key", _STR, False),
    ("signup_ts", _TS, False),
    ("acquisition_channel", _STR),
    ("country", _STR),
    ("marketing_consent", _BOOL),
    ("event_date", _DATE, False),
    *LINEAGE,
)
# restricted, unpartitioned. grain: one customer; key: customer_key. The only table with clear identifiers.
CUSTOMER_IDENTITY = _fields(
    ("customer_key", _STR, False), ("customer_id", _STR, False), ("email", _STR), ("name", _STR)
)
# grain: one rejected landing row; key: (source, record_id); unpartitioned; ingest_date: the run that first saw it
QUARANTINE = _fields(
    ("source", _STR, False),
    ("record_id", _STR, False),  # sha2 of source file, raw record and its occurrence in the file
    ("source_file", _STR),
    ("raw_record", _STR),  # PII fields masked (***)
    ("rule", _STR, False),
    ("reason", _STR, False),
    ("run_id", _STR, False),
    ("ingest_date", _DATE, False),
    ("customer_key", _STR),  # of the row's parsed customer id; null when it has none (erasure matches it)
    ("resolved_date", _DATE),  # the ingest that loaded it later (a retryable rule passed); null while open
    ("retry_from", _DATE),  # future_timestamp: its event's date, the first run date it can pass; else null
)

# ---- bronze: every landed row as text, before any rule; partition: ingest_date ----------------------------
BRONZE_LINEAGE = (("_source_file", _STR, False), ("_ingested_at", _TS, False), ("ingest_date", _DATE, False))
# the row's subject: customer_key of its parsed, trimmed customer id (null when it has none); erasure matches it
SUBJECT_KEY = ("customer_key", _STR)


def bronze_schema(raw_columns: tuple[str, ...]) -> T.StructType:
    """`<source>_raw`: grain one landed row (key: _source_file + content); the raw fields, bad lines kept."""
    return T.StructType([*raw_schema(raw_columns).fields, *_fields(*BRONZE_LINEAGE, SUBJECT_KEY).fields])


# grain: one landed line of a mapped transactions file (conf/sources/*.yml); `source` is the mapping's name
TRANSACTIONS_RAW = _fields(("source", _STR, False), ("line", _STR), *BRONZE_LINEAGE, SUBJECT_KEY)

# ---- ops: run bookkeeping, data quality, erasure audit -----------------------------------------------------
# grain: one landing file read by a successful ingest run; key: (source, path, size, modification_time)
INGESTED_FILES = _fields(
    ("source", _STR, False),
    ("path", _STR, False),
    ("size", _LONG, False),
    ("modification_time", _TS, False),
    ("run_id", _STR, False),
)
# grain: one source in one ingest batch; key: (run_date, source, batch_id); partition: run_date
QUALITY_CHECKS = _fields(
    ("run_date", _DATE, False),
    ("run_id", _STR, False),
    ("source", _STR, False),
    ("batch_id", _STR, False),  # sha2 of the batch's file paths
    ("files_read", _INT, False),
    ("rows_read", _LONG, False),
    ("rows_accepted", _LONG, False),
    ("rows_quarantined", _LONG, False),
    ("rows_duplicate", _LONG, False),
    ("quarantine_rate", _DBL, False),
    ("quarantined_by_rule", T.MapType(_STR, _LONG)),
    ("null_rates", T.MapType(_STR, _DBL)),  # share of accepted rows with a null in each typed column
    (
        "rows_suppressed",
        _LONG,
    ),  # rows of erased subjects (suppression list): dropped, not loaded, not quarantined
    # JSON sources: rows read per top-level field outside the contract (new or renamed; not loaded)
    ("unknown_fields", T.MapType(_STR, _LONG)),
)
# grain: one step of an erasure request, append-only: `started` (`clv erase` is about to delete from
# `tables_touched`), `deleted` (rows deleted from current tables) or `purged` (old versions of `tables_touched`
# vacuumed once the retention passed); key: (request_id, action, run_date). Rows written before requests had
# ids have a null request_id and action (read as `deleted`). Never holds a clear identifier; `subject_hashes`
# are the suppression list ingest consults.
ERASURE_AUDIT = _fields(
    ("run_date", _DATE, False),  # of the step
    ("erased_at", _TS, False),  # when the request's rows were deleted
    ("subjects", _INT, False),
    ("subject_hashes", T.ArrayType(_STR), False),  # sha2 of each customer_key
    ("tables_touched", T.ArrayType(_STR), False),  # deleted from / purged
    ("rows_removed", T.MapType(_STR, _LONG), False),  # empty for `purged`
    ("vacuum_retention_hours", _DBL, False),
    ("request_id", _STR),
    ("action", _STR),  # started / deleted / purged
    ("purge_due_at", _TS),  # deleted + the retention: old versions are vacuumed by the first run after it
    ("purged_at", _TS),  # `purged` only
)
# grain: the lake's one writer lease (`clvlake.lease`); key: lease. A null holder is a free lease
LEASE = _fields(
    ("lease", _STR, False),
    ("holder", _STR),  # job:host:pid:token of the process holding it
    ("job", _STR),
    ("host", _STR),
    ("pid", _INT),
    ("acquired_at", _TS),
    ("renewed_at", _TS),  # a lease not renewed for `lease.EXPIRES` is free to take
)

# ---- gold ------------------------------------------------------------------------------------------------
_WINDOW_FIELDS = [
    f for w in TRAILING_WINDOWS_DAYS for f in ((f"orders_{w}d", _INT), (f"net_value_{w}d", _DBL))
]

# grain: one customer known at the snapshot date (signed up or ordered before it); key: (customer_key,
# snapshot_date). Every value uses only events strictly before snapshot_date.
CUSTOMER_FEATURES = _fields(
    ("customer_key", _STR, False),
    ("snapshot_date", _DATE, False),
    ("first_seen_date", _DATE, False),  # signup or first order, whichever came first
    ("customer_age_days", _INT, False),  # days from first_seen_date to the snapshot
    ("cohort_month", _STR),  # first purchase month, YYYY-MM; null for customers who never bought
    ("acquisition_channel", _STR),
    ("orders_total", _INT, False),
    ("net_value_total", _DBL, False),
    ("avg_order_value", _DBL, False),
    ("bt_frequency", _INT, False),  # BTYD x: purchase days after the first one
    ("bt_recency_days", _DBL, False),  # BTYD t_x: first to last purchase day
    ("bt_tenure_days", _DBL, False),  # BTYD T: first purchase day to the snapshot
    ("bt_monetary_value", _DBL, False),  # mean net value of the repeat purchase days
    ("days_since_last_purchase", _INT, False),  # customer_age_days for customers who never bought
    *_WINDOW_FIELDS,
    ("main_category", _STR),  # product category with most orders; null for customers who never bought
    ("orders_trend_90d", _INT, False),  # orders in the last 90 days − orders in the 90 days before
    ("net_value_trend_90d", _DBL, False),  # the same for net value
    ("interpurchase_days_mean", _DBL, False),  # mean days between purchase days (0 below two)
    ("interpurchase_days_std", _DBL, False),  # their population standard deviation
    ("refund_rate", _DBL, False),  # refunds per order
    ("discount_share", _DBL, False),  # discount / gross of all orders
    ("sessions_total", _INT, False),
    ("sessions_30d", _INT, False),
    ("sessions_90d", _INT, False),
    ("days_since_last_session", _INT, False),  # customer_age_days for customers without a session
    ("pages_per_session", _DBL, False),
    ("pages_per_session_90d", _DBL, False),  # over the sessions of the last 90 days
    ("email_open_rate", _DBL, False),  # opens / sends (0 without sends)
    ("email_opens_90d", _INT, False),
    ("email_open_rate_90d", _DBL, False),  # opens / sends of the last 90 days
    ("days_since_last_email_open", _INT, False),  # customer_age_days for customers who never opened one
    ("email_click_rate", _DBL, False),  # clicks / sends
    ("email_unsubscribed", _INT, False),  # 1 if the customer unsubscribed before the snapshot
    ("support_tickets_total", _INT, False),  # tickets opened
    (
        "support_satisfaction_mean",
        _DBL,
        False,
    ),  # mean rating of tickets closed before the snapshot (0 if none)
)
FEATURE_COLUMNS = tuple(
    f.name for f in CUSTOMER_FEATURES.fields if isinstance(f.dataType, (T.IntegerType, T.DoubleType))
)

# BG/NBD + Gamma-Gamma at a snapshot, from a fit on that snapshot's training customers (`modeling.dataset`):
# inputs of the regressor beside the features, null where there is no fit (too few customers, no dropout)
BTYD_VALUE = "btyd_value"  # BG/NBD + Gamma-Gamma's value over the horizon: what a blended model mixes in
BTYD_FEATURES = (
    "btyd_p_alive",  # P(alive) at the snapshot
    "btyd_expected_orders",  # expected purchases over the label horizon
    "btyd_order_value",  # Gamma-Gamma expected value per purchase
    BTYD_VALUE,  # their product
)

# grain: one customer at a training snapshot; key: (customer_key, snapshot_date). label = net value in [c, c+H)
TRAINING_SETS = T.StructType(
    [
        *CUSTOMER_FEATURES.fields,
        *_fields(("label", _DBL, False), ("horizon_days", _INT, False), ("is_holdout", _BOOL, False)).fields,
    ]
)

# grain: one customer per score date; key: (customer_key, score_date)
CLV_SCORES = _fields(
    ("customer_key", _STR, False),
    ("score_date", _DATE, False),
    ("predicted_clv", _DBL, False),
    ("clv_lower", _DBL),  # split-conformal interval at model.conformal_level (null for models without one)
    ("clv_upper", _DBL),
    ("p_alive", _DBL),  # BG/NBD probability of still being a customer (churn probability = 1 − p_alive)
    ("expected_orders", _DBL),  # BG/NBD expected purchase days in the horizon
    ("value_tier", _STR, False),
    ("lifecycle_stage", _STR, False),  # prospect, new, active, loyal, at_risk or lost (rules in conf)
    ("recommended_action", _STR, False),  # from the tier × stage matrix in conf
    ("model_name", _STR, False),
    ("model_version", _STR, False),
    ("feature_snapshot_date", _DATE, False),
    ("horizon_days", _INT, False),
    ("input_table_versions", T.MapType(_STR, _LONG)),
    (
        "discounted_clv",
        _DBL,
    ),  # predicted_clv discounted at discount_rate, the value spread evenly over the horizon
    ("discount_rate", _DBL),  # scoring.discount_rate, annual
)

# grain: one customer × horizon of a score date; key: (score_date, customer_key, horizon_days). BG/NBD + Gamma-Gamma
# predictions over each of `scoring.horizons_days` (none for models registered without a BG/NBD fit).
CLV_HORIZONS = _fields(
    ("customer_key", _STR, False),
    ("score_date", _DATE, False),
    ("horizon_days", _INT, False),
    ("expected_orders", _DBL, False),  # BG/NBD expected purchase days in the horizon
    ("expected_value", _DBL, False),  # × the Gamma-Gamma value per purchase
    (
        "discounted_value",
        _DBL,
        False,
    ),  # expected_value discounted at discount_rate, spread evenly over the horizon
    ("discount_rate", _DBL, False),
    ("model_version", _STR, False),
)

# grain: one customer × method × evaluation of a backtest; key: (snapshot_date, evaluation, method, customer_key).
# snapshot_date = the evaluation snapshot (features at it, actual = net value in [it, it + horizon)).
BACKTEST_PREDICTIONS = _fields(
    ("snapshot_date", _DATE, False),
    ("evaluation", _STR, False),  # "customers" (held-out customers) or "time_<training snapshot>"
    ("training_snapshot", _DATE, False),
    ("method", _STR, False),  # gbt_<form> or a baseline
    ("customer_key", _STR, False),
    ("actual", _DBL, False),
    ("predicted", _DBL, False),
    ("lower", _DBL),  # conformal interval, regressors only
    ("upper", _DBL),
    ("p_alive", _DBL),  # BG/NBD, the same for every method of a customer
    ("discrepant", _BOOL, False),  # prediction and BG/NBD + Gamma-Gamma differ by more than the factor
)
# grain: one metric of one method in one evaluation; key: (snapshot_date, evaluation, method, metric, decile).
# decile is null for scalar metrics; calibration rows have metric mean_predicted / mean_actual / customers.
BACKTEST_METRICS = _fields(
    ("snapshot_date", _DATE, False),
    ("evaluation", _STR, False),
    ("training_snapshot", _DATE, False),
    ("method", _STR, False),
    ("metric", _STR, False),
    ("decile", _INT),
    ("value", _DBL),
    ("used_for", _STR),  # "selection" (the form is chosen on it) or "report" (the numbers shown); null before
)

# ---- gold: segments (partition score_date), written by `clv report` -----------------------------------------
_SEGMENT = (("segment", _STR, False), ("value_tier", _STR, False), ("lifecycle_stage", _STR, False))
# grain: one tier × stage segment of a score date; key: (score_date, segment)
SEGMENT_SUMMARY = _fields(
    ("score_date", _DATE, False),
    *_SEGMENT,
    ("recommended_action", _STR, False),
    ("customers", _LONG, False),
    ("total_predicted_clv", _DBL, False),
    ("avg_predicted_clv", _DBL, False),
    ("value_share", _DBL, False),  # of the score date's total predicted CLV
    ("retention_rate", _DBL),  # of the segment's customers at the previous score date, share not lost now
    ("mean_churn_probability", _DBL),  # mean of 1 − p_alive
    ("marketing_cost", _DBL, False),  # customers × the action's cost per customer
    ("upsell_conversion_rate", _DBL, False),  # the action's expected conversion (conf)
    (
        "realised_value_to_date",
        _DBL,
        False,
    ),  # net value the segment's customers brought before the score date
)
# grain: customers moving from one segment at the previous score date to one at this one;
# key: (score_date, from_segment, to_segment). "(none)": not scored on that date.
SEGMENT_MIGRATION = _fields(
    ("score_date", _DATE, False),
    ("previous_score_date", _DATE, False),
    ("from_tier", _STR, False),
    ("from_stage", _STR, False),
    ("to_tier", _STR, False),
    ("to_stage", _STR, False),
    ("customers", _LONG, False),
)
# grain: one first-purchase month × months since it, from the orders before the score date;
# key: (score_date, cohort_month, months_since_first)
COHORTS = _fields(
    ("score_date", _DATE, False),
    ("cohort_month", _STR, False),  # YYYY-MM
    ("months_since_first", _INT, False),
    ("cohort_customers", _LONG, False),
    ("active_customers", _LONG, False),  # customers with an order in that month
    ("retention_rate", _DBL, False),  # active / cohort customers
    ("net_value", _DBL, False),  # the cohort's net value in that month
    ("cumulative_value_per_customer", _DBL, False),  # net value up to and including that month ÷ cohort size
)
# grain: one scenario × segment; key: (score_date, scenario, segment)
WHAT_IF = _fields(
    ("score_date", _DATE, False),
    ("scenario", _STR, False),
    ("churn_change", _DBL, False),
    ("frequency_change", _DBL, False),
    ("order_value_change", _DBL, False),
    *_SEGMENT,
    ("customers", _LONG, False),
    ("baseline_clv", _DBL, False),
    ("scenario_clv", _DBL, False),
    ("change", _DBL, False),
    ("change_share", _DBL),  # change ÷ baseline (null when the baseline is 0)
)
# grain: one segment's share of the marketing budget; key: (score_date, segment)
BUDGET_ALLOCATION = _fields(
    ("score_date", _DATE, False),
    *_SEGMENT,
    ("recommended_action", _STR, False),
    ("customers", _LONG, False),
    ("cost_per_customer", _DBL, False),
    ("expected_incremental_value", _DBL, False),  # contacting every customer of the segment
    ("budget", _DBL, False),
    ("budget_share", _DBL, False),
    ("customers_reachable", _LONG, False),  # customers the budget pays the action for (all, if it is free)
    ("expected_return", _DBL, False),  # expected incremental value of the reachable customers
)
# the campaign export (Parquet/CSV files for CRM tools, not a Delta table)
CAMPAIGN_EXPORT = _fields(
    ("customer_key", _STR, False),
    ("score_date", _DATE, False),
    ("segment", _STR, False),
    ("recommended_action", _STR, False),
    ("predicted_clv", _DBL, False),
    ("churn_probability", _DBL),
    ("email_allowed", _BOOL, False),  # marketing consent and no unsubscribe: e-mail may be used
)

# ---- ops: monitoring (partition run_date) ------------------------------------------------------------------
# grain: one check of one monitor run; key: (run_date, stage, check)
MONITOR_CHECKS = _fields(
    ("run_date", _DATE, False),
    ("stage", _STR, False),
    ("check", _STR, False),
    ("value", _DBL, False),
    ("threshold", _DBL, False),
    ("breached", _BOOL, False),
    ("detail", _STR),
)
# grain: one column's PSI against its reference; key: (run_date, kind, column)
DRIFT = _fields(
    ("run_date", _DATE, False),
    ("kind", _STR, False),  # feature (vs the champion's training snapshot) / prediction
    ("reference_date", _DATE, False),
    ("column", _STR, False),
    ("psi", _DBL, False),
    ("threshold", _DBL, False),
    ("breached", _BOOL, False),
)
# grain: one metric of one method for one matured score date; key: (run_date, score_date, method, metric)
REALISED_VS_PREDICTED = _fields(
    ("run_date", _DATE, False),
    ("score_date", _DATE, False),
    ("method", _STR, False),
    ("metric", _STR, False),
    ("value", _DBL),
)
# the subjects of an erasure request, and the landing files it rewrote (frames of the job, not tables)
ERASURE_SUBJECTS = _fields(("customer_id", _STR))
LANDING_FILE_SOURCES = _fields(("source", _STR), ("path", _STR))
