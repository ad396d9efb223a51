"""The landing contract of each source and one table-driven formatter from simulated rows to contract rows.

Each source is a ``SourceSpec``: file format, columns and, for each column, the ``Column`` function that makes it
from the source's simulated rows (see ``simulate.py``). The oracle's ``customer_truth.csv`` is a column table too.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from clvlake.datagen.process import (
    CATEGORIES,
    CHANNELS,
    COUNTRIES,
    DEVICES,
    EMAIL_DOMAINS,
    FIRST_NAMES,
    LAST_NAMES,
    MIN_ORDER,
    ORDER_CHANNELS,
    TICKET_CATEGORIES,
    TRAFFIC,
    Window,
)

ID_DIGITS, CUSTOMER_DIGITS = 8, 7


def ids(prefix: str, numbers: np.ndarray, digits: int) -> np.ndarray:
    """Fixed-width ids like ``O00000001`` (width grows only if a number needs more digits)."""
    width = max(digits, len(str(int(numbers.max())))) if numbers.size else digits
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    raw = np.empty((numbers.size, len(prefix) + width), dtype=np.uint8)
    raw[:, : len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    raw[:, len(prefix) :] = (numbers[:, None] // powers) % 10 + ord("0")
    return raw.view(f"S{raw.shape[1]}").ravel().astype(str).astype(object)


def timestamps(window: Window, t: np.ndarray) -> np.ndarray:
    """ISO-8601 UTC strings with a trailing Z; NaN becomes None."""
    t = np.asarray(t, dtype=float)
    text = np.datetime_as_string(window.datetimes(np.nan_to_num(t)), unit="s", timezone="UTC").astype(object)
    text[np.isnan(t)] = None
    return text


@dataclass
class Counters:
    """Next sequence number per source, so ids are global across chunks."""

    next: dict[str, int] = field(default_factory=dict)

    def take(self, source: str, n: int) -> np.ndarray:
        start = self.next.get(source, 1)
        self.next[source] = start + n
        return np.arange(start, start + n, dtype=np.int64)


@dataclass(frozen=True)
class Context:
    """What a column may read besides its rows: the window, the customer count (it sets the customer id width),
    the id counters, the frames of this chunk formatted so far, and the source being formatted."""

    window: Window
    customers: int
    counters: Counters
    formatted: dict[str, pd.DataFrame]
    spec: SourceSpec | None = None


Column = Callable[[pd.DataFrame, Context], Any]  # simulated rows -> one contract column


def value(name: str) -> Column:
    return lambda rows, ctx: rows[name].to_numpy()


def label(name: str, labels: tuple[str, ...]) -> Column:
    """The label of each code in column ``name``."""
    table = np.array(labels, dtype=object)
    return lambda rows, ctx: table[rows[name].to_numpy()]


def timestamp(name: str) -> Column:
    return lambda rows, ctx: timestamps(ctx.window, rows[name])


def constant(text: str) -> Column:
    return lambda rows, ctx: text


def nullable_int(name: str) -> Column:
    return lambda rows, ctx: pd.array(rows[name].to_numpy(), dtype="Int64")


def sequence_id(rows: pd.DataFrame, ctx: Context) -> np.ndarray:
    """The source's next ids, e.g. ``O00000001``."""
    return ids(ctx.spec.id_prefix, ctx.counters.take(ctx.spec.name, len(rows)), ID_DIGITS)


def customer_id(rows: pd.DataFrame, ctx: Context) -> np.ndarray:
    return ids("C", rows["cust"].to_numpy() + 1, max(CUSTOMER_DIGITS, len(str(ctx.customers))))


def _name(rows: pd.DataFrame, ctx: Context) -> np.ndarray:
    return label("first_name", FIRST_NAMES)(rows, ctx) + " " + label("last_name", LAST_NAMES)(rows, ctx)


def _email(rows: pd.DataFrame, ctx: Context) -> np.ndarray:
    """``first.last<customer number>@domain``, unique per customer."""
    first = pd.Series(label("first_name", FIRST_NAMES)(rows, ctx)).str.lower()
    last = pd.Series(label("last_name", LAST_NAMES)(rows, ctx)).str.lower().str.replace(" ", "")
    number = (rows["cust"].to_numpy() + 1).astype(str)
    return (first + "." + last + number + "@" + label("domain", EMAIL_DOMAINS)(rows, ctx)).to_numpy()


def _consent(rows: pd.DataFrame, ctx: Context) -> np.ndarray:
    return np.where(rows["consent"].to_numpy(), "true", "false")


def _refunded_order_id(rows: pd.DataFrame, ctx: Context) -> np.ndarray:
    return ctx.formatted["orders"]["order_id"].to_numpy()[rows["order_row"].to_numpy()]


def _campaign_id(rows: pd.DataFrame, ctx: Context) -> np.ndarray:
    return ids("CMP", rows["campaign"].to_numpy() + 1, 4)


def _mean_order_value(rows: pd.DataFrame, ctx: Context) -> np.ndarray:
    return MIN_ORDER + rows["nu"].to_numpy()


@dataclass(frozen=True)
class SourceSpec:
    """One landing source: file format, id prefix, the timestamp column that routes rows to a month file, the
    kinds of bad rows it can get, and its columns in contract order (the first is the id)."""

    name: str
    fmt: str  # "csv" or "jsonl"
    id_prefix: str
    ts_column: str
    error_kinds: tuple[str, ...]
    columns: dict[str, Column]

    @property
    def id_column(self) -> str:
        return next(iter(self.columns))

    def file_name(self, month: str) -> str:
        return f"{self.name}_{month}.{self.fmt}"


_COMMON_ERRORS = ("duplicate", "malformed", "bad_timestamp")
SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec("customers", "csv", "C", "signup_ts", _COMMON_ERRORS, {
            "customer_id": customer_id,
            "signup_ts": timestamp("signup"),
            "acquisition_channel": label("channel", CHANNELS),
            "country": label("country", COUNTRIES),
            "email": _email,
            "name": _name,
            "marketing_consent": _consent,
        }),
        SourceSpec(
            "orders", "csv", "O", "order_ts",
            (*_COMMON_ERRORS, "negative_amount", "unknown_currency", "future_timestamp"), {
                "order_id": sequence_id,
                "customer_id": customer_id,
                "order_ts": timestamp("t"),
                "channel": label("channel", ORDER_CHANNELS),
                "currency": constant("EUR"),
                "gross_amount": value("gross"),
                "discount_amount": value("discount"),
                "shipping_cost": value("shipping"),
                "cost_of_goods": value("cogs"),
                "items": value("items"),
                "product_category": label("category", CATEGORIES),
            },
        ),
        SourceSpec("refunds", "csv", "R", "refund_ts", (*_COMMON_ERRORS, "orphan_refund"), {
            "refund_id": sequence_id,
            "order_id": _refunded_order_id,
            "customer_id": customer_id,
            "refund_ts": timestamp("refund_t"),
            "amount": value("refund"),
        }),
        SourceSpec("sessions", "jsonl", "S", "session_start", (*_COMMON_ERRORS, "future_timestamp"), {
            "session_id": sequence_id,
            "customer_id": customer_id,
            "session_start": timestamp("t"),
            "device": label("device", DEVICES),
            "pages_viewed": value("pages"),
            "traffic_source": label("traffic", TRAFFIC),
        }),
        SourceSpec("email_events", "jsonl", "E", "event_ts", (*_COMMON_ERRORS, "future_timestamp"), {
            "event_id": sequence_id,
            "customer_id": customer_id,
            "campaign_id": _campaign_id,
            "event_type": value("kind"),
            "event_ts": timestamp("t"),
        }),
        SourceSpec("support_tickets", "jsonl", "T", "opened_ts", _COMMON_ERRORS, {
            "ticket_id": sequence_id,
            "customer_id": customer_id,
            "opened_ts": timestamp("ticket_t"),
            "closed_ts": timestamp("closed_t"),
            "category": label("ticket_category", TICKET_CATEGORIES),
            "satisfaction": nullable_int("satisfaction"),
        }),
    )
}  # fmt: skip
# Refunds read the formatted order ids, so orders come first; the order also numbers the injected errors.
FORMAT_ORDER = ("customers", "orders", "refunds", "support_tickets", "sessions", "email_events")

TRUTH_COLUMNS: dict[str, Column] = {
    "customer_id": customer_id,
    "signup_ts": timestamp("signup"),
    "first_purchase_ts": timestamp("t0"),
    "lambda_per_day": value("lam"),
    "mu_per_day": value("mu"),
    "dropout_ts": timestamp("dropout"),
    "mean_order_value": _mean_order_value,
    "expected_discount_share": value("discount_share"),
    "expected_refund_share": value("refund_share"),
    "acquisition_channel": label("channel", CHANNELS),
}


def _frame(columns: dict[str, Column], rows: pd.DataFrame, ctx: Context) -> pd.DataFrame:
    return pd.DataFrame({name: column(rows, ctx) for name, column in columns.items()})


def format_chunk(
    simulated: dict[str, pd.DataFrame], window: Window, customers: int, counters: Counters
) -> Iterator[tuple[SourceSpec, pd.DataFrame, np.ndarray]]:
    """Landing frames of one chunk in contract shape, each with the month (``YYYY-MM``) of every row."""
    formatted: dict[str, pd.DataFrame] = {}
    for name in FORMAT_ORDER:
        spec = SOURCES[name]
        frame = _frame(spec.columns, simulated[name], Context(window, customers, counters, formatted, spec))
        formatted[name] = frame
        yield spec, frame, frame[spec.ts_column].to_numpy().astype("U7")


def format_truth(simulated_customers: pd.DataFrame, window: Window, customers: int) -> pd.DataFrame:
    """``customer_truth.csv`` rows: each customer's latent parameters."""
    return _frame(TRUTH_COLUMNS, simulated_customers, Context(window, customers, Counters(), {}))
