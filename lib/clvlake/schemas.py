"""The StructType contract of every table clvlake writes, one constant each.

Grain and key of each table are stated beside it. Jobs never infer a schema: landing files are read with the
raw (all-string) schemas below, then typed and validated into the silver contracts.
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
# grain: one rejected landing row; partition: ingest_date
QUARANTINE = _fields(
    ("source", _STR, False),
    ("source_file", _STR),
    ("raw_record", _STR),
    ("rule", _STR, False),
    ("reason", _STR, False),
    ("run_id", _STR, False),
    ("ingest_date", _DATE, False),
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
)
FEATURE_COLUMNS = tuple(
    f.name for f in CUSTOMER_FEATURES.fields if isinstance(f.dataType, (T.IntegerType, T.DoubleType))
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
    ("value_tier", _STR, False),
    ("model_name", _STR, False),
    ("model_version", _STR, False),
    ("feature_snapshot_date", _DATE, False),
    ("horizon_days", _INT, False),
    ("input_table_versions", T.MapType(_STR, _LONG, False)),
)
