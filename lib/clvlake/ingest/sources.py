"""The six landing sources: file format, natural key, typed columns and validation rules of each.

A rule is a condition that marks a row bad, its name (the `rule` in quarantine) and a reason that names the
field. Rules are checked in order and the first failing one is recorded.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, timedelta

from pyspark.sql import Column
from pyspark.sql import functions as F

from clvlake import schemas
from clvlake.ingest.pseudonymise import customer_key

TIMESTAMP_FORMAT = "yyyy-MM-dd'T'HH:mm:ssX"
REFERENCE_FOUND = "_reference_found"  # set by validation for sources with a `reference`
EMAIL_EVENT_TYPES = ("sent", "open", "click", "unsubscribe")
EMAIL_PATTERN = r"^[^@\s]+@[^@\s]+\.[^@\s]+$"
COUNTRY_PATTERN = r"^[A-Z]{2}$"  # ISO 3166-1 alpha-2


# rules a row can pass later: its timestamp passes once the run date reaches it, its order may load with a
# later file; ingest re-checks their open quarantine rows when that may have happened
FUTURE_TIMESTAMP, UNKNOWN_ORDER = "future_timestamp", "unknown_order"
RETRYABLE_RULES = (FUTURE_TIMESTAMP, UNKNOWN_ORDER)


@dataclass(frozen=True)
class Rule:
    name: str
    fails: Column
    reason: Column


@dataclass(frozen=True)
class RuleContext:
    """What rules may depend on besides the row: the run's dates, the reporting currency, the longest id."""

    as_of: date
    business_start: date
    reporting_currency: str
    salt: str = field(repr=False)  # to compare a row's customer with a referenced silver row's customer_key
    max_id_length: int  # `ingest.max_id_length`


@dataclass(frozen=True)
class Reference:
    """A raw column whose value must be the key of a silver table (a refund's order), and the columns of
    the referenced row that rules compare against, as `_ref_<name>` (null when the key is unknown)."""

    column: str
    table: str
    attributes: Callable[[], dict[str, Column]]  # name → expression over the referenced silver table


@dataclass(frozen=True)
class Source:
    name: str  # source name in quarantine and quality_checks; silver table and landing sub-folder by default
    file_format: str  # "csv", "json", or "text" (a mapped transactions file)
    raw_columns: tuple[str, ...]
    required: tuple[str, ...]
    typed: Callable[[], dict[str, Column]]  # typed column name → expression over raw columns
    event_ts: str  # typed timestamp that decides event_date
    rules: Callable[[RuleContext], list[Rule]]  # source-specific rules, after the common ones
    reference: Reference | None = None
    target: str = ""  # silver table when it is not `name` (transactions → orders)
    folder: str = ""  # landing sub-folder when it is not `name`
    glob: str = ""  # landing file pattern when it is not `*.csv` / `*.jsonl`
    raw_line: str = ""  # column holding the landed line as text, when the source keeps it

    @property
    def key(self) -> str:
        """The natural key: by convention the first required column."""
        return self.required[0]

    @property
    def table(self) -> str:
        return self.target or self.name

    @property
    def bronze_table(self) -> str:
        return "transactions_raw" if self.raw_line else f"{self.name}_raw"

    @property
    def landing_folder(self) -> str:
        return self.folder or self.name

    @property
    def pattern(self) -> str:
        return self.glob or {"csv": "*.csv", "json": "*.jsonl"}[self.file_format]

    @property
    def raw_schema(self):
        return schemas.raw_schema(self.raw_columns)


def parse_ts(column: str) -> Column:
    return F.try_to_timestamp(F.col(column), F.lit(TIMESTAMP_FORMAT))


def parse_money(column: str) -> Column:
    return F.col(column).try_cast(schemas.MONEY)


def parse_int(column: str) -> Column:
    return F.col(column).try_cast("int")


def parse_bool(column: str) -> Column:
    lowered = F.lower(F.trim(F.col(column)))
    return F.when(lowered.isin("true", "1", "yes"), F.lit(True)).when(
        lowered.isin("false", "0", "no"), F.lit(False)
    )


def _unparseable(raw: str, typed: str, what: str) -> Rule:
    fails = F.col(raw).isNotNull() & F.col(f"t_{typed}").isNull()
    return Rule(f"unparseable_{what}", fails, F.concat(F.lit(f"{raw} is not a valid {what}: "), F.col(raw)))


def _negative(typed: str) -> Rule:
    return Rule("negative_amount", F.col(f"t_{typed}") < 0, F.lit(f"{typed} is negative"))


def _timestamp_rules(raw: str, ctx: RuleContext) -> list[Rule]:
    """Unparseable, future (on or after the day after as-of) and pre-business timestamps."""
    typed = F.col(f"t_{raw}")
    horizon = ctx.as_of + timedelta(days=1)
    return [
        _unparseable(raw, raw, "timestamp"),
        Rule(
            FUTURE_TIMESTAMP,
            typed >= F.lit(horizon).cast("timestamp"),
            F.concat(F.lit(f"{raw} is after the run date {ctx.as_of}: "), F.col(raw)),
        ),
        Rule(
            "before_business_start",
            typed < F.lit(ctx.business_start).cast("timestamp"),
            F.concat(F.lit(f"{raw} is before the business started ({ctx.business_start}): "), F.col(raw)),
        ),
    ]


def _not_in(raw: str, allowed: tuple[str, ...], rule: str) -> Rule:
    return Rule(
        rule,
        F.col(raw).isNotNull() & ~F.col(raw).isin(*allowed),
        F.concat(F.lit(f"{raw} must be one of {', '.join(allowed)}: "), F.col(raw)),
    )


def _orders_rules(ctx: RuleContext) -> list[Rule]:
    money = ("gross_amount", "discount_amount", "shipping_cost", "cost_of_goods")
    return [
        *_timestamp_rules("order_ts", ctx),
        *(_unparseable(m, m, "amount") for m in money),
        _unparseable("items", "items", "integer"),
        *(_negative(m) for m in money),
        Rule(
            "non_positive_quantity",
            F.col("t_items") < 1,
            F.concat(F.lit("items must be at least 1 (a return is a refund): "), F.col("items")),
        ),
        _not_in("currency", (ctx.reporting_currency,), "unknown_currency"),
        Rule(
            "discount_exceeds_gross",
            F.col("t_discount_amount") > F.col("t_gross_amount"),
            F.lit("discount_amount is larger than gross_amount"),
        ),
    ]


def _refunds_rules(ctx: RuleContext) -> list[Rule]:
    return [
        *_timestamp_rules("refund_ts", ctx),
        _unparseable("amount", "amount", "amount"),
        _negative("amount"),
        Rule(
            UNKNOWN_ORDER,
            ~F.col(REFERENCE_FOUND),
            F.concat(F.lit("order_id is not a loaded order: "), F.col("order_id")),
        ),
        Rule(
            "customer_mismatch",
            customer_key(F.col("customer_id"), ctx.salt) != F.col("_ref_customer_key"),
            F.concat(F.lit("customer_id is not the customer of order "), F.col("order_id")),
        ),
        Rule(
            "refund_before_order",
            F.col("t_refund_ts") < F.col("_ref_order_ts"),
            F.concat(F.lit("refund_ts is before the order was placed: "), F.col("refund_ts")),
        ),
        Rule(
            "refund_exceeds_order",
            F.col("t_amount") > F.col("_ref_paid"),
            F.concat(
                F.lit("amount is larger than the order's paid amount (gross − discount) "),
                F.col("_ref_paid").cast("string"),
            ),
        ),
    ]


def _sessions_rules(ctx: RuleContext) -> list[Rule]:
    return [
        *_timestamp_rules("session_start", ctx),
        _unparseable("pages_viewed", "pages_viewed", "integer"),
        Rule("out_of_range", F.col("t_pages_viewed") < 0, F.lit("pages_viewed is negative")),
    ]


def _email_rules(ctx: RuleContext) -> list[Rule]:
    return [
        *_timestamp_rules("event_ts", ctx),
        _not_in("event_type", EMAIL_EVENT_TYPES, "unknown_event_type"),
    ]


def _tickets_rules(ctx: RuleContext) -> list[Rule]:
    return [
        *_timestamp_rules("opened_ts", ctx),
        _unparseable("closed_ts", "closed_ts", "timestamp"),
        _unparseable("satisfaction", "satisfaction", "integer"),
        Rule(
            "out_of_range",
            ~F.col("t_satisfaction").between(1, 5),
            F.lit("satisfaction must be between 1 and 5"),
        ),
        Rule(
            "closed_before_opened",
            F.col("t_closed_ts") < F.col("t_opened_ts"),
            F.lit("closed_ts is before opened_ts"),
        ),
    ]


def _customers_rules(ctx: RuleContext) -> list[Rule]:
    return [
        *_timestamp_rules("signup_ts", ctx),
        Rule(
            "unparseable_boolean",
            F.col("marketing_consent").isNotNull() & F.col("t_marketing_consent").isNull(),
            F.concat(F.lit("marketing_consent is not true/false: "), F.col("marketing_consent")),
        ),
        Rule(
            "invalid_email",
            ~F.trim(F.col("email")).rlike(EMAIL_PATTERN),
            F.lit("email is not an e-mail address"),  # the address itself stays out of the reason (PII)
        ),
        Rule(
            "invalid_country",
            ~F.trim(F.col("country")).rlike(COUNTRY_PATTERN),
            F.concat(F.lit("country is not an ISO 3166 two-letter code: "), F.col("country")),
        ),
    ]


def _identity(*columns: str) -> dict[str, Column]:
    return {c: F.col(c) for c in columns}


SOURCES: dict[str, Source] = {
    s.name: s
    for s in (
        Source(
            "orders",
            "csv",
            schemas.ORDERS_RAW_COLUMNS,
            ("order_id", "customer_id", "order_ts", "currency", "gross_amount"),
            lambda: {
                **_identity("channel", "currency", "product_category"),
                "order_ts": parse_ts("order_ts"),
                "gross_amount": parse_money("gross_amount"),
                **{
                    m: F.coalesce(parse_money(m), F.lit(0).cast(schemas.MONEY))
                    for m in ("discount_amount", "shipping_cost", "cost_of_goods")
                },
                "items": parse_int("items"),
            },
            "order_ts",
            _orders_rules,
        ),
        Source(
            "refunds",
            "csv",
            schemas.REFUNDS_RAW_COLUMNS,
            ("refund_id", "order_id", "customer_id", "refund_ts", "amount"),
            lambda: {
                **_identity("order_id"),
                "refund_ts": parse_ts("refund_ts"),
                "amount": parse_money("amount"),
            },
            "refund_ts",
            _refunds_rules,
            reference=Reference(
                "order_id",
                "orders",
                lambda: {
                    "customer_key": F.col("customer_key"),
                    "order_ts": F.col("order_ts"),
                    "paid": F.col("gross_amount") - F.col("discount_amount"),
                },
            ),
        ),
        Source(
            "sessions",
            "json",
            schemas.SESSIONS_RAW_COLUMNS,
            ("session_id", "customer_id", "session_start"),
            lambda: {
                **_identity("device", "traffic_source"),
                "session_start": parse_ts("session_start"),
                "pages_viewed": parse_int("pages_viewed"),
            },
            "session_start",
            _sessions_rules,
        ),
        Source(
            "email_events",
            "json",
            schemas.EMAIL_EVENTS_RAW_COLUMNS,
            ("event_id", "customer_id", "event_type", "event_ts"),
            lambda: {**_identity("campaign_id", "event_type"), "event_ts": parse_ts("event_ts")},
            "event_ts",
            _email_rules,
        ),
        Source(
            "support_tickets",
            "json",
            schemas.SUPPORT_TICKETS_RAW_COLUMNS,
            ("ticket_id", "customer_id", "opened_ts"),
            lambda: {
                **_identity("category"),
                "opened_ts": parse_ts("opened_ts"),
                "closed_ts": parse_ts("closed_ts"),
                "satisfaction": parse_int("satisfaction"),
            },
            "opened_ts",
            _tickets_rules,
        ),
        Source(
            "customers",
            "csv",
            schemas.CUSTOMERS_RAW_COLUMNS,
            ("customer_id", "signup_ts"),
            lambda: {
                **_identity("acquisition_channel", "country", "email", "name"),
                "signup_ts": parse_ts("signup_ts"),
                "marketing_consent": parse_bool("marketing_consent"),
            },
            "signup_ts",
            _customers_rules,
        ),
    )
}
