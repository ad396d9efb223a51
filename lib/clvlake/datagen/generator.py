"""Synthetic landing data for clvlake: a Pareto/NBD-style customer simulator (numpy + pandas, no Spark).

Customers are simulated in blocks of ``BLOCK_SIZE`` with one random stream per (block, source), so the output
depends only on (seed, customers, start, end, error_rate) and not on ``chunk_size``. Chunks of whole blocks
are streamed to ``<source>_<YYYY-MM>.<ext>.tmp`` files which are published with ``os.replace`` at the end.
See docs/data_generator.md for the latent process and the file layout.
"""

from __future__ import annotations

import logging
import os
import time
from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date, timedelta
from pathlib import Path

import numpy as np
import pandas as pd

from clvlake.datagen.oracle import SEASONALITY, expected_value
from clvlake.errors import InputError

log = logging.getLogger(__name__)

BLOCK_SIZE = 1_000  # customers per random stream; chunks are whole blocks
SIGNUP_TAIL_DAYS = 30  # no signups in the last 30 days of the window
ORACLE_HORIZON_DAYS = 365

CHANNELS = ("organic", "paid_search", "social", "email", "referral", "affiliate")
CHANNEL_SHARE = np.array([0.30, 0.22, 0.15, 0.08, 0.10, 0.15])
CHANNEL_BUY = np.array([0.88, 0.80, 0.78, 0.86, 0.92, 0.72])  # share who ever buy
CHANNEL_LAMBDA = np.array([1.10, 0.85, 0.90, 1.05, 1.25, 0.75])  # multiplier on the purchase rate
CHANNEL_MU = np.array([0.85, 1.25, 1.15, 0.95, 0.70, 1.40])  # multiplier on the dropout rate
CHANNEL_SPEND = np.array([1.05, 0.95, 0.90, 1.00, 1.10, 0.85])  # multiplier on the mean spend
CHANNEL_CONSENT = np.array([0.60, 0.55, 0.55, 0.95, 0.65, 0.50])  # marketing consent probability

LAMBDA_SHAPE, LAMBDA_MEAN_PER_YEAR = 1.5, 4.2
MU_SHAPE, MEAN_LIFETIME_YEARS = 4.0, 2.0  # E[1/mu] = MEAN_LIFETIME_YEARS before channel effects
MAX_LIFETIME_DAYS = 100 * 365  # cap on tau so dropout_ts stays a representable timestamp
SPEND_SHAPE, SPEND_MEAN = 4.0, 60.0  # per-customer mean spend nu ~ Gamma
ORDER_SHAPE, MIN_ORDER = 6.0, 5.0  # order gross = MIN_ORDER + Gamma(ORDER_SHAPE, nu / ORDER_SHAPE)
DISCOUNT_RANGE = (0.05, 0.30)  # discount fraction of gross, when the order is discounted
REFUND_FULL_SHARE, REFUND_PARTIAL_RANGE = 0.6, (0.2, 0.9)  # refund fraction of the order's net
REFUND_DELAY_DAYS = (3.0, 42.0)
FAVOURITE_SHARE = 0.6  # share of a customer's orders in their favourite category

CATEGORIES = ("apparel", "beauty", "electronics", "home", "sports", "toys")
CATEGORY_REFUND = np.array([1.6, 0.7, 1.2, 0.9, 1.0, 0.8])  # multiplier on the refund probability
ORDER_CHANNELS = ("web", "app", "store", "marketplace")
ORDER_CHANNEL_SHARE = np.array([0.50, 0.22, 0.13, 0.15])
DEVICES = ("desktop", "mobile", "tablet", "app")
DEVICE_SHARE = np.array([0.38, 0.40, 0.07, 0.15])
TRAFFIC = ("direct", "search", "social", "email", "ads", "referral")
TRAFFIC_SHARE = np.array([0.24, 0.30, 0.12, 0.10, 0.16, 0.08])
TICKET_CATEGORIES = ("delivery", "product", "billing", "returns", "account")
TICKET_SHARE = np.array([0.32, 0.26, 0.16, 0.14, 0.12])
COUNTRIES = ("DE", "FR", "NL", "ES", "IT", "BE", "AT", "IE")
COUNTRY_SHARE = np.array([0.28, 0.20, 0.10, 0.12, 0.14, 0.06, 0.05, 0.05])
FIRST_NAMES = (
    "Anna", "Lukas", "Marie", "Jonas", "Sophie", "Paul", "Emma", "Louis", "Lea", "Hugo", "Lucia", "Mateo",
    "Giulia", "Marco", "Sara", "Daan", "Fleur", "Liam", "Aoife", "Sean", "Clara", "Felix", "Julia", "Noah",
)  # fmt: skip
LAST_NAMES = (
    "Muller", "Schmidt", "Martin", "Bernard", "Garcia", "Lopez", "Rossi", "Bianchi", "Jansen", "de Vries",
    "Peeters", "Maes", "Gruber", "Huber", "Murphy", "Kelly", "Weber", "Dubois", "Moreau", "Romero",
)  # fmt: skip
EMAIL_DOMAINS = ("example.com", "example.net", "example.org", "mail.example")

SESSION_BASE, SESSION_PER_LAMBDA = 0.02, 6.0  # sessions/day while engaged = base + k * lambda
SESSION_AFTER_SHARE, SESSION_DECAY_DAYS = 0.4, 45.0  # after dropout: share of the rate, decaying
CAMPAIGN_EVERY_DAYS, CAMPAIGN_HOUR = 14, 9

ID_DIGITS, CUSTOMER_DIGITS = 8, 7
BAD_TIMESTAMPS = ("not-a-timestamp", "2024-13-45T25:61:00Z", "31/12/2024 10:00")
FUTURE_SHIFT = timedelta(days=3653)


@dataclass(frozen=True)
class SourceSpec:
    """One landing source: file format, columns, id and the timestamp column that routes rows to a month."""

    name: str
    fmt: str  # "csv" or "jsonl"
    columns: tuple[str, ...]
    id_column: str
    id_prefix: str
    ts_column: str
    error_kinds: tuple[str, ...]

    def file_name(self, month: str) -> str:
        return f"{self.name}_{month}.{self.fmt}"


_COMMON_ERRORS = ("duplicate", "malformed", "bad_timestamp")
SOURCES: dict[str, SourceSpec] = {
    spec.name: spec
    for spec in (
        SourceSpec(
            "customers", "csv",
            ("customer_id", "signup_ts", "acquisition_channel", "country", "email", "name",
             "marketing_consent"),
            "customer_id", "C", "signup_ts", _COMMON_ERRORS,
        ),
        SourceSpec(
            "orders", "csv",
            ("order_id", "customer_id", "order_ts", "channel", "currency", "gross_amount", "discount_amount",
             "shipping_cost", "cost_of_goods", "items", "product_category"),
            "order_id", "O", "order_ts",
            (*_COMMON_ERRORS, "negative_amount", "unknown_currency", "future_timestamp"),
        ),
        SourceSpec(
            "refunds", "csv", ("refund_id", "order_id", "customer_id", "refund_ts", "amount"),
            "refund_id", "R", "refund_ts", (*_COMMON_ERRORS, "orphan_refund"),
        ),
        SourceSpec(
            "sessions", "jsonl",
            ("session_id", "customer_id", "session_start", "device", "pages_viewed", "traffic_source"),
            "session_id", "S", "session_start", (*_COMMON_ERRORS, "future_timestamp"),
        ),
        SourceSpec(
            "email_events", "jsonl", ("event_id", "customer_id", "campaign_id", "event_type", "event_ts"),
            "event_id", "E", "event_ts", (*_COMMON_ERRORS, "future_timestamp"),
        ),
        SourceSpec(
            "support_tickets", "jsonl",
            ("ticket_id", "customer_id", "opened_ts", "closed_ts", "category", "satisfaction"),
            "ticket_id", "T", "opened_ts", _COMMON_ERRORS,
        ),
    )
}  # fmt: skip
MANIFEST_COLUMNS = ("source", "file", "kind", "key", "raw")
STREAMS = ("customers", "orders", "sessions", "email_events", "errors")


@dataclass(frozen=True)
class GeneratorSummary:
    """What one ``generate`` run produced. ``rows`` counts clean rows per source (injected ones excluded)."""

    customers: int
    rows: dict[str, int]
    files_written: int
    seconds: float
    injected_errors: int = 0

    def __str__(self) -> str:
        rows = ", ".join(f"{name}={count}" for name, count in self.rows.items())
        return (
            f"generated {self.customers} customers in {self.seconds:.1f}s: {rows}; "
            f"{self.injected_errors} injected errors; {self.files_written} files"
        )


@dataclass(frozen=True)
class Window:
    """The simulated period; times are float days since ``start`` 00:00 UTC, up to ``days`` (exclusive)."""

    start: date
    end: date

    @property
    def days(self) -> int:
        return (self.end - self.start).days + 1

    @property
    def signup_days(self) -> int:
        return self.days - SIGNUP_TAIL_DAYS

    def datetimes(self, t: np.ndarray) -> np.ndarray:
        seconds = np.floor(np.asarray(t, dtype=float) * 86_400).astype(np.int64)
        return np.datetime64(self.start, "s") + seconds.astype("timedelta64[s]")

    def month_index(self, t: np.ndarray) -> np.ndarray:
        """Calendar month (0 = January) of each time."""
        return self.datetimes(t).astype("datetime64[M]").astype(np.int64) % 12


# ----------------------------------------------------------------------------------------------- simulation


def _rng(seed: int, key: int, stream: str) -> np.random.Generator:
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key, STREAMS.index(stream))))


def _seasonal_poisson(
    rng: np.random.Generator, rate: np.ndarray, lo: np.ndarray, hi: np.ndarray, window: Window
) -> tuple[np.ndarray, np.ndarray]:
    """Times of a Poisson process with rate ``rate * s(t)`` on [lo, hi) per owner, by thinning."""
    s_max = SEASONALITY.max()
    span = np.clip(hi - lo, 0.0, None)
    owner = np.repeat(np.arange(rate.size), rng.poisson(rate * s_max * span))
    t = lo[owner] + rng.random(owner.size) * span[owner]
    keep = rng.random(owner.size) * s_max < SEASONALITY[window.month_index(t)]
    return owner[keep], t[keep]


def _decaying_poisson(
    rng: np.random.Generator, rate0: np.ndarray, lo: np.ndarray, hi: np.ndarray, decay_days: float
) -> tuple[np.ndarray, np.ndarray]:
    """Times of a Poisson process with rate ``rate0 * exp(-(t - lo) / decay_days)`` on [lo, hi) per owner."""
    mass = -np.expm1(-np.clip(hi - lo, 0.0, None) / decay_days)  # (1 - e^{-L/D})
    owner = np.repeat(np.arange(rate0.size), rng.poisson(rate0 * decay_days * mass))
    t = lo[owner] - decay_days * np.log1p(-rng.random(owner.size) * mass[owner])
    return owner, t


def _sorted(frame: pd.DataFrame, time_column: str = "t") -> pd.DataFrame:
    order = np.lexsort((frame[time_column].to_numpy(), frame["cust"].to_numpy()))
    return frame.iloc[order].reset_index(drop=True)


def _category_refund_factor(favourite: np.ndarray) -> np.ndarray:
    """Expected refund-probability multiplier over a customer's category mix."""
    return FAVOURITE_SHARE * CATEGORY_REFUND[favourite] + (1 - FAVOURITE_SHARE) * CATEGORY_REFUND.mean()


def _draw_customers(rng: np.random.Generator, first: int, n: int, window: Window) -> pd.DataFrame:
    """Latent state of customers ``first .. first + n - 1`` (times in window days)."""
    channel = rng.choice(len(CHANNELS), n, p=CHANNEL_SHARE)
    signup = rng.beta(1.0, 1.3, n) * window.signup_days
    buyer = rng.random(n) < CHANNEL_BUY[channel]
    delay = np.where(rng.random(n) < 0.55, rng.random(n) / 24, rng.exponential(7.0, n))
    t0 = np.where(buyer, signup + delay, np.nan)
    lam_scale = LAMBDA_MEAN_PER_YEAR / 365 / LAMBDA_SHAPE
    lam = np.where(buyer, rng.gamma(LAMBDA_SHAPE, lam_scale, n) * CHANNEL_LAMBDA[channel], 0.0)
    mu_scale = 1 / (MEAN_LIFETIME_YEARS * (MU_SHAPE - 1)) / 365
    mu = rng.gamma(MU_SHAPE, mu_scale, n) * CHANNEL_MU[channel]
    dropout = t0 + np.minimum(rng.exponential(1 / mu), MAX_LIFETIME_DAYS)
    favourite = rng.integers(0, len(CATEGORIES), n)
    discount_p = rng.beta(2.0, 6.0, n)
    refund_p = rng.beta(4.0, 76.0, n)
    discount_share = discount_p * np.mean(DISCOUNT_RANGE)
    refund_fraction = REFUND_FULL_SHARE + (1 - REFUND_FULL_SHARE) * np.mean(REFUND_PARTIAL_RANGE)
    refund_share = refund_p * _category_refund_factor(favourite) * refund_fraction * (1 - discount_share)
    return pd.DataFrame(
        {
            "cust": np.arange(first, first + n),
            "signup": signup,
            "channel": channel,
            "country": rng.choice(len(COUNTRIES), n, p=COUNTRY_SHARE),
            "first_name": rng.integers(0, len(FIRST_NAMES), n),
            "last_name": rng.integers(0, len(LAST_NAMES), n),
            "domain": rng.integers(0, len(EMAIL_DOMAINS), n),
            "consent": rng.random(n) < CHANNEL_CONSENT[channel],
            "buyer": buyer,
            "t0": t0,
            "lam": lam,
            "mu": mu,
            "dropout": dropout,
            "engaged_until": np.where(buyer, dropout, signup),
            "nu": rng.gamma(SPEND_SHAPE, SPEND_MEAN / SPEND_SHAPE, n) * CHANNEL_SPEND[channel],
            "favourite": favourite,
            "discount_p": discount_p,
            "refund_p": refund_p,
            "discount_share": discount_share,
            "refund_share": refund_share,
        }
    )


def _draw_orders(rng: np.random.Generator, cust: pd.DataFrame, window: Window) -> pd.DataFrame:
    """First purchase at t0, repeats at rate lambda * s(t) until dropout; refund and ticket per order."""
    buyer = cust["buyer"].to_numpy()
    t0 = np.where(buyer, cust["t0"].to_numpy(), 0.0)
    end = np.where(buyer, np.minimum(cust["dropout"].to_numpy(), window.days), 0.0)
    lam = cust["lam"].to_numpy()
    first = np.flatnonzero(buyer & (t0 < window.days))
    repeat_owner, repeat_t = _seasonal_poisson(rng, lam, t0, end, window)
    owner = np.concatenate([first, repeat_owner])
    t = np.concatenate([t0[first], repeat_t])
    order = np.lexsort((t, owner))
    owner, t = owner[order], t[order]
    m = owner.size

    gross = np.round(MIN_ORDER + rng.gamma(ORDER_SHAPE, cust["nu"].to_numpy()[owner] / ORDER_SHAPE), 2)
    discounted = rng.random(m) < cust["discount_p"].to_numpy()[owner]
    discount = np.where(discounted, np.round(gross * rng.uniform(*DISCOUNT_RANGE, m), 2), 0.0)
    favourite = cust["favourite"].to_numpy()[owner]
    category = np.where(rng.random(m) < FAVOURITE_SHARE, favourite, rng.integers(0, len(CATEGORIES), m))
    refunded = rng.random(m) < cust["refund_p"].to_numpy()[owner] * CATEGORY_REFUND[category]
    fraction = np.where(rng.random(m) < REFUND_FULL_SHARE, 1.0, rng.uniform(*REFUND_PARTIAL_RANGE, m))
    channel = rng.choice(len(ORDER_CHANNELS), m, p=ORDER_CHANNEL_SHARE)
    closeness = np.exp(-np.clip(cust["dropout"].to_numpy()[owner] - t, 0.0, None) / 60)  # 1 at dropout
    ticket_t = t + rng.uniform(0.5, 20.0, m)
    return pd.DataFrame(
        {
            "cust": cust["cust"].to_numpy()[owner],
            "t": t,
            "channel": channel,
            "gross": gross,
            "discount": discount,
            "shipping": np.where(
                channel == ORDER_CHANNELS.index("store"), 0.0, np.round(rng.uniform(2.5, 6.9, m), 2)
            ),
            "cogs": np.round(gross * rng.uniform(0.40, 0.65, m), 2),
            "items": 1 + rng.poisson((gross - MIN_ORDER) / 50),
            "category": category,
            "refund": np.where(refunded, np.round((gross - discount) * fraction, 2), np.nan),
            "refund_t": t + rng.uniform(*REFUND_DELAY_DAYS, m),
            "ticket": rng.random(m) < 0.03 + 0.07 * closeness,
            "ticket_t": ticket_t,
            "ticket_category": np.where(
                refunded & (rng.random(m) < 0.5),
                TICKET_CATEGORIES.index("returns"),
                rng.choice(len(TICKET_CATEGORIES), m, p=TICKET_SHARE),
            ),
            "closed_t": ticket_t + 0.02 + rng.exponential(2.0, m),
            "answered": rng.random(m) < 0.6,
            "satisfaction": np.clip(np.rint(4.4 - 2.2 * closeness + rng.normal(0.0, 0.8, m)), 1, 5),
        }
    )


def _draw_sessions(rng: np.random.Generator, cust: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Sessions at base + k * lambda per day while engaged, then a decaying trickle."""
    lam = cust["lam"].to_numpy()
    rate = SESSION_BASE + SESSION_PER_LAMBDA * lam
    engaged_until = np.minimum(cust["engaged_until"].to_numpy(), window.days)
    horizon = np.full(rate.size, float(window.days))
    on_owner, on_t = _seasonal_poisson(rng, rate, cust["signup"].to_numpy(), engaged_until, window)
    off_owner, off_t = _decaying_poisson(
        rng, SESSION_AFTER_SHARE * rate, engaged_until, horizon, SESSION_DECAY_DAYS
    )
    owner = np.concatenate([on_owner, off_owner])
    engaged = np.arange(owner.size) < on_owner.size
    m = owner.size
    frame = pd.DataFrame(
        {
            "cust": cust["cust"].to_numpy()[owner],
            "t": np.concatenate([on_t, off_t]),
            "device": rng.choice(len(DEVICES), m, p=DEVICE_SHARE),
            "pages": 1 + rng.poisson(np.where(engaged, 0.8 + 150 * lam[owner], 0.8)),
            "traffic": rng.choice(len(TRAFFIC), m, p=TRAFFIC_SHARE),
        }
    )
    return _sorted(frame)


def campaign_days(window: Window) -> np.ndarray:
    """Send time (window days) of each campaign: every 14 days from ``start`` at 09:00 UTC."""
    return np.arange(0, window.days, CAMPAIGN_EVERY_DAYS) + CAMPAIGN_HOUR / 24


def _draw_emails(rng: np.random.Generator, cust: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Campaign sends to consenting signed-up customers until they unsubscribe; opens/clicks follow sends."""
    camp = campaign_days(window)
    n, k = len(cust), camp.size
    eligible = cust["consent"].to_numpy()[:, None] & (camp[None, :] >= cust["signup"].to_numpy()[:, None])
    alive = camp[None, :] < cust["engaged_until"].to_numpy()[:, None]
    p_open = np.where(alive, np.minimum(0.6, 0.12 + 15 * cust["lam"].to_numpy())[:, None], 0.05)
    unsubscribes = eligible & (rng.random((n, k)) < np.where(alive, 0.003, 0.025))
    first_unsub = np.where(unsubscribes.any(axis=1), unsubscribes.argmax(axis=1), k)
    sent = eligible & (np.arange(k)[None, :] <= first_unsub[:, None])
    opened = sent & (rng.random((n, k)) < p_open)
    clicked = opened & (rng.random((n, k)) < np.where(alive, 0.3, 0.1))
    sent_t = camp[None, :] + rng.random((n, k)) * 2 / 24
    open_t = sent_t + rng.exponential(0.5, (n, k))
    click_t = open_t + rng.exponential(0.01, (n, k))
    last_t = np.where(clicked, click_t, np.where(opened, open_t, sent_t))
    unsub_t = last_t + rng.uniform(0.001, 1.0, (n, k))
    events = (("sent", sent, sent_t), ("open", opened, open_t), ("click", clicked, click_t))
    events += (("unsubscribe", sent & (np.arange(k)[None, :] == first_unsub[:, None]), unsub_t),)
    parts = []
    for kind, mask, times in events:
        row, col = np.nonzero(mask)
        parts.append(pd.DataFrame({"cust": row, "campaign": col, "kind": kind, "t": times[row, col]}))
    frame = pd.concat(parts, ignore_index=True)
    frame = frame[frame["t"] < window.days]
    return _sorted(frame.assign(cust=cust["cust"].to_numpy()[frame["cust"].to_numpy()]))


def _simulate_block(seed: int, block: int, customers: int, window: Window) -> dict[str, pd.DataFrame]:
    """Latent customers of one block and their raw (unformatted) events, sorted by (customer, time)."""
    first = block * BLOCK_SIZE
    n = min(BLOCK_SIZE, customers - first)
    cust = _draw_customers(_rng(seed, block, "customers"), first, n, window)
    return {
        "customers": cust,
        "orders": _draw_orders(_rng(seed, block, "orders"), cust, window),
        "sessions": _draw_sessions(_rng(seed, block, "sessions"), cust, window),
        "email_events": _draw_emails(_rng(seed, block, "email_events"), cust, window),
    }


# ---------------------------------------------------------------------------------------------- formatting


def _ids(prefix: str, numbers: np.ndarray, digits: int) -> np.ndarray:
    """Fixed-width ids like ``O00000001`` (width grows only if a number needs more digits)."""
    width = max(digits, len(str(int(numbers.max())))) if numbers.size else digits
    powers = 10 ** np.arange(width - 1, -1, -1, dtype=np.int64)
    raw = np.empty((numbers.size, len(prefix) + width), dtype=np.uint8)
    raw[:, : len(prefix)] = np.frombuffer(prefix.encode(), dtype=np.uint8)
    raw[:, len(prefix) :] = (numbers[:, None] // powers) % 10 + ord("0")
    return raw.view(f"S{raw.shape[1]}").ravel().astype(str).astype(object)


def _timestamps(window: Window, t: np.ndarray) -> np.ndarray:
    """ISO-8601 UTC strings with a trailing Z; NaN becomes None."""
    t = np.asarray(t, dtype=float)
    text = np.datetime_as_string(window.datetimes(np.nan_to_num(t)), unit="s", timezone="UTC").astype(object)
    text[np.isnan(t)] = None
    return text


def _months(window: Window, t: np.ndarray) -> np.ndarray:
    return np.datetime_as_string(window.datetimes(t).astype("datetime64[M]"), unit="M")


@dataclass
class _Counters:
    """Next sequence number per source, so ids are global across chunks."""

    next: dict[str, int] = field(default_factory=lambda: dict.fromkeys(SOURCES, 1))

    def take(self, source: str, n: int) -> np.ndarray:
        start = self.next[source]
        self.next[source] = start + n
        return np.arange(start, start + n, dtype=np.int64)


def _customer_ids(cust: np.ndarray, customers: int) -> np.ndarray:
    return _ids("C", cust + 1, max(CUSTOMER_DIGITS, len(str(customers))))


def _format_customers(cust: pd.DataFrame, window: Window, customers: int) -> tuple[pd.DataFrame, np.ndarray]:
    ordinal = cust["cust"].to_numpy()
    first = np.array(FIRST_NAMES, dtype=object)[cust["first_name"].to_numpy()]
    last = np.array(LAST_NAMES, dtype=object)[cust["last_name"].to_numpy()]
    local = pd.Series(first).str.lower() + "." + pd.Series(last).str.lower().str.replace(" ", "")
    domain = np.array(EMAIL_DOMAINS, dtype=object)[cust["domain"].to_numpy()]
    email = local + (ordinal + 1).astype(str) + "@" + domain
    frame = pd.DataFrame(
        {
            "customer_id": _customer_ids(ordinal, customers),
            "signup_ts": _timestamps(window, cust["signup"]),
            "acquisition_channel": np.array(CHANNELS, dtype=object)[cust["channel"].to_numpy()],
            "country": np.array(COUNTRIES, dtype=object)[cust["country"].to_numpy()],
            "email": email.to_numpy(),
            "name": first + " " + last,
            "marketing_consent": np.where(cust["consent"].to_numpy(), "true", "false"),
        }
    )
    return frame, _months(window, cust["signup"])


def _format_orders(
    orders: pd.DataFrame, window: Window, customers: int, counters: _Counters
) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.DataFrame(
        {
            "order_id": _ids("O", counters.take("orders", len(orders)), ID_DIGITS),
            "customer_id": _customer_ids(orders["cust"].to_numpy(), customers),
            "order_ts": _timestamps(window, orders["t"]),
            "channel": np.array(ORDER_CHANNELS, dtype=object)[orders["channel"].to_numpy()],
            "currency": "EUR",
            "gross_amount": orders["gross"].to_numpy(),
            "discount_amount": orders["discount"].to_numpy(),
            "shipping_cost": orders["shipping"].to_numpy(),
            "cost_of_goods": orders["cogs"].to_numpy(),
            "items": orders["items"].to_numpy(),
            "product_category": np.array(CATEGORIES, dtype=object)[orders["category"].to_numpy()],
        }
    )
    return frame, _months(window, orders["t"])


def _format_refunds(
    orders: pd.DataFrame, order_ids: np.ndarray, window: Window, customers: int, counters: _Counters
) -> tuple[pd.DataFrame, np.ndarray]:
    keep = orders["refund"].notna().to_numpy() & (orders["refund_t"].to_numpy() < window.days)
    refunds = orders[keep].assign(order_id=order_ids[keep])
    refunds = _sorted(refunds, "refund_t")
    frame = pd.DataFrame(
        {
            "refund_id": _ids("R", counters.take("refunds", len(refunds)), ID_DIGITS),
            "order_id": refunds["order_id"].to_numpy(),
            "customer_id": _customer_ids(refunds["cust"].to_numpy(), customers),
            "refund_ts": _timestamps(window, refunds["refund_t"]),
            "amount": refunds["refund"].to_numpy(),
        }
    )
    return frame, _months(window, refunds["refund_t"])


def _format_tickets(
    orders: pd.DataFrame, window: Window, customers: int, counters: _Counters
) -> tuple[pd.DataFrame, np.ndarray]:
    tickets = _sorted(orders[orders["ticket"] & (orders["ticket_t"] < window.days)], "ticket_t")
    closed = tickets["closed_t"].to_numpy() < window.days
    rated = closed & tickets["answered"].to_numpy()
    frame = pd.DataFrame(
        {
            "ticket_id": _ids("T", counters.take("support_tickets", len(tickets)), ID_DIGITS),
            "customer_id": _customer_ids(tickets["cust"].to_numpy(), customers),
            "opened_ts": _timestamps(window, tickets["ticket_t"]),
            "closed_ts": _timestamps(window, np.where(closed, tickets["closed_t"], np.nan)),
            "category": np.array(TICKET_CATEGORIES, dtype=object)[tickets["ticket_category"].to_numpy()],
            "satisfaction": pd.array(np.where(rated, tickets["satisfaction"], np.nan), dtype="Int64"),
        }
    )
    return frame, _months(window, tickets["ticket_t"])


def _format_sessions(
    sessions: pd.DataFrame, window: Window, customers: int, counters: _Counters
) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.DataFrame(
        {
            "session_id": _ids("S", counters.take("sessions", len(sessions)), ID_DIGITS),
            "customer_id": _customer_ids(sessions["cust"].to_numpy(), customers),
            "session_start": _timestamps(window, sessions["t"]),
            "device": np.array(DEVICES, dtype=object)[sessions["device"].to_numpy()],
            "pages_viewed": sessions["pages"].to_numpy(),
            "traffic_source": np.array(TRAFFIC, dtype=object)[sessions["traffic"].to_numpy()],
        }
    )
    return frame, _months(window, sessions["t"])


def _format_emails(
    emails: pd.DataFrame, window: Window, customers: int, counters: _Counters
) -> tuple[pd.DataFrame, np.ndarray]:
    frame = pd.DataFrame(
        {
            "event_id": _ids("E", counters.take("email_events", len(emails)), ID_DIGITS),
            "customer_id": _customer_ids(emails["cust"].to_numpy(), customers),
            "campaign_id": _ids("CMP", emails["campaign"].to_numpy() + 1, 4),
            "event_type": emails["kind"].to_numpy(),
            "event_ts": _timestamps(window, emails["t"]),
        }
    )
    return frame, _months(window, emails["t"])


def _format_truth(cust: pd.DataFrame, window: Window, customers: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "customer_id": _customer_ids(cust["cust"].to_numpy(), customers),
            "signup_ts": _timestamps(window, cust["signup"]),
            "first_purchase_ts": _timestamps(window, cust["t0"]),
            "lambda_per_day": cust["lam"].to_numpy(),
            "mu_per_day": cust["mu"].to_numpy(),
            "dropout_ts": _timestamps(window, cust["dropout"]),
            "mean_order_value": MIN_ORDER + cust["nu"].to_numpy(),
            "expected_discount_share": cust["discount_share"].to_numpy(),
            "expected_refund_share": cust["refund_share"].to_numpy(),
            "acquisition_channel": np.array(CHANNELS, dtype=object)[cust["channel"].to_numpy()],
        }
    )


def _format_chunk(
    sims: dict[str, pd.DataFrame], window: Window, customers: int, counters: _Counters
) -> Iterator[tuple[str, pd.DataFrame, np.ndarray]]:
    """Landing frames of one chunk in contract shape, each with the month of every row."""
    yield "customers", *_format_customers(sims["customers"], window, customers)
    orders, order_months = _format_orders(sims["orders"], window, customers, counters)
    yield "orders", orders, order_months
    order_ids = orders["order_id"].to_numpy()
    yield "refunds", *_format_refunds(sims["orders"], order_ids, window, customers, counters)
    yield "support_tickets", *_format_tickets(sims["orders"], window, customers, counters)
    yield "sessions", *_format_sessions(sims["sessions"], window, customers, counters)
    yield "email_events", *_format_emails(sims["email_events"], window, customers, counters)


# ------------------------------------------------------------------------------------------------- writing


def _serialise(frame: pd.DataFrame, fmt: str, float_format: str | None = "%.2f") -> str:
    """Rows as text lines without header: CSV (floats with ``float_format``) or one JSON object per line."""
    if frame.empty:
        return ""
    if fmt == "csv":
        return frame.to_csv(index=False, header=False, float_format=float_format, lineterminator="\n")
    return frame.to_json(orient="records", lines=True)


def _header(columns: Iterable[str], fmt: str) -> str:
    return ",".join(columns) + "\n" if fmt == "csv" else ""


class _AtomicFiles:
    """Appends text to ``<final>.tmp`` files and publishes them all with ``os.replace`` at the end."""

    def __init__(self) -> None:
        self.pending: dict[Path, Path] = {}

    def append(self, final: Path, text: str, header: str) -> None:
        tmp = self.pending.get(final)
        if tmp is None:
            tmp = final.with_name(final.name + ".tmp")
            tmp.parent.mkdir(parents=True, exist_ok=True)
            tmp.write_text(header, encoding="utf-8")
            self.pending[final] = tmp
        with tmp.open("a", encoding="utf-8", newline="") as handle:
            handle.write(text)

    def append_csv(self, final: Path, frame: pd.DataFrame) -> None:
        """Oracle-side CSV: header from the frame, floats at full precision."""
        self.append(final, _serialise(frame, "csv", float_format=None), _header(frame.columns, "csv"))

    def publish(self) -> set[Path]:
        for final, tmp in sorted(self.pending.items()):
            os.replace(tmp, final)
        return set(self.pending)


# ------------------------------------------------------------------------------------------ error injection


def _fresh_ids(prefix: str, first: int, n: int) -> np.ndarray:
    """Ids in a namespace real rows never use: ``OX0000001`` (injected rows), ``OY0000001`` (unknown refs)."""
    return _ids(prefix, np.arange(first, first + n, dtype=np.int64), ID_DIGITS - 1)


def _corrupt(
    bad: pd.DataFrame, kinds: np.ndarray, spec: SourceSpec, rng: np.random.Generator, first_id: int
) -> pd.DataFrame:
    """Apply each row's error kind; all kinds but ``duplicate`` get a fresh id so no good row is shadowed."""
    fresh = kinds != "duplicate"
    bad.loc[fresh, spec.id_column] = _fresh_ids(spec.id_prefix + "X", first_id, int(fresh.sum()))
    future = kinds == "future_timestamp"
    shifted = pd.to_datetime(bad.loc[future, spec.ts_column], utc=True) + FUTURE_SHIFT
    bad.loc[future, spec.ts_column] = shifted.dt.strftime("%Y-%m-%dT%H:%M:%SZ")
    unparseable = kinds == "bad_timestamp"
    bad.loc[unparseable, spec.ts_column] = rng.choice(BAD_TIMESTAMPS, int(unparseable.sum()))
    if spec.name == "orders":
        bad.loc[kinds == "negative_amount", "gross_amount"] *= -1
        bad.loc[kinds == "unknown_currency", "currency"] = "XXX"
    if spec.name == "refunds":
        orphan = kinds == "orphan_refund"
        bad.loc[orphan, "order_id"] = _fresh_ids("OY", first_id, int(orphan.sum()))
    return bad


def _bad_rows(
    frame: pd.DataFrame, spec: SourceSpec, rng: np.random.Generator, rate: float, first_id: int
) -> pd.DataFrame:
    """Bad rows derived from random rows of ``frame``: position (of the source row), kind, key, raw line."""
    n_bad = rng.binomial(len(frame), rate)
    positions = np.sort(rng.choice(len(frame), n_bad, replace=False))
    kinds = rng.choice(spec.error_kinds, n_bad)
    bad = _corrupt(frame.iloc[positions].reset_index(drop=True), kinds, spec, rng, first_id)
    raw = [
        line[: len(line) // 2] if kind == "malformed" else line
        for line, kind in zip(_serialise(bad, spec.fmt).splitlines(), kinds, strict=True)
    ]
    key = bad[spec.id_column].to_numpy()
    return pd.DataFrame({"position": positions, "kind": kinds, "key": key, "raw": raw})


def _mix(text: str, after: np.ndarray, raw: list[str]) -> str:
    """Insert each raw line right after the good line with local index ``after[i]``."""
    if not raw:
        return text
    lines = text.splitlines()
    for position, line in sorted(zip(after, raw, strict=True), key=lambda pair: -pair[0]):
        lines.insert(int(position) + 1, line)
    return "\n".join(lines) + "\n"


class _Landing:
    """Streams contract frames to monthly landing files, mixing in bad rows when ``error_rate`` > 0."""

    def __init__(self, out_dir: Path, files: _AtomicFiles, seed: int, error_rate: float) -> None:
        self.out_dir, self.files, self.seed, self.error_rate = out_dir, files, seed, error_rate
        self.manifest: list[pd.DataFrame] = []
        self.injected = 0

    def write(self, spec: SourceSpec, frame: pd.DataFrame, months: np.ndarray, chunk: int) -> None:
        bad = pd.DataFrame({"position": np.array([], dtype=int), "kind": [], "key": [], "raw": []})
        if self.error_rate > 0 and len(frame):
            rng = _rng(self.seed, chunk * len(SOURCES) + list(SOURCES).index(spec.name), "errors")
            bad = _bad_rows(frame, spec, rng, self.error_rate, self.injected + 1)
            self.injected += len(bad)
        bad_months = months[bad["position"].to_numpy()]
        for month in np.unique(months):
            rows = np.flatnonzero(months == month)
            path = self.out_dir / spec.name / spec.file_name(str(month))
            here = bad[bad_months == month]
            after = np.searchsorted(rows, here["position"].to_numpy())
            text = _mix(_serialise(frame.iloc[rows], spec.fmt), after, here["raw"].tolist())
            self.files.append(path, text, _header(spec.columns, spec.fmt))
            if len(here):
                file = path.relative_to(self.out_dir).as_posix()
                self.manifest.append(here.assign(source=spec.name, file=file)[list(MANIFEST_COLUMNS)])


# -------------------------------------------------------------------------------------------------- driver


def _validate(customers: int, start: date, end: date, chunk_size: int, error_rate: float) -> None:
    if customers < 1:
        raise InputError(f"customers must be >= 1, got {customers}")
    if (end - start).days < 2 * SIGNUP_TAIL_DAYS:
        raise InputError(f"end ({end}) must be at least {2 * SIGNUP_TAIL_DAYS} days after start ({start})")
    if chunk_size < 1:
        raise InputError(f"chunk_size must be >= 1, got {chunk_size}")
    if not 0.0 <= error_rate < 0.5:
        raise InputError(f"error_rate must be in [0, 0.5), got {error_rate}")


def _chunks(customers: int, chunk_size: int) -> list[range]:
    """Block indices per chunk; a chunk holds max(1, chunk_size // BLOCK_SIZE) whole blocks."""
    blocks = -(-customers // BLOCK_SIZE)
    per_chunk = max(1, chunk_size // BLOCK_SIZE)
    return [range(b, min(b + per_chunk, blocks)) for b in range(0, blocks, per_chunk)]


def _clear(folders: Iterable[Path], pattern: str) -> None:
    for folder in folders:
        for path in folder.glob(pattern):
            path.unlink()


def _remove_stale(out_dir: Path, oracle_dir: Path, written: set[Path]) -> None:
    """Drop landing/oracle files of earlier runs that this run did not rewrite."""
    candidates = [
        path for spec in SOURCES.values() for path in (out_dir / spec.name).glob(f"{spec.name}_*.{spec.fmt}")
    ]
    candidates += [*oracle_dir.glob("oracle_value_*.csv"), oracle_dir / "injected_errors.csv"]
    for path in candidates:
        if path.exists() and path not in written:
            path.unlink()


def generate(
    out_dir: str | Path,
    oracle_dir: str | Path,
    customers: int = 10_000,
    seed: int = 42,
    start: date = date(2023, 1, 1),
    end: date = date(2025, 12, 31),
    chunk_size: int = 50_000,
    error_rate: float = 0.0,
) -> GeneratorSummary:
    """Simulate ``customers`` customers over [start, end] and write landing files plus the oracle truth."""
    _validate(customers, start, end, chunk_size, error_rate)
    began = time.perf_counter()
    out_dir, oracle_dir, window = Path(out_dir), Path(oracle_dir), Window(start, end)
    _clear([out_dir / name for name in SOURCES] + [oracle_dir], "*.tmp")
    files, counters = _AtomicFiles(), _Counters()
    landing = _Landing(out_dir, files, seed, error_rate)
    rows = dict.fromkeys(SOURCES, 0)
    oracle_as_of = end + timedelta(days=1)
    chunks = _chunks(customers, chunk_size)
    for index, blocks in enumerate(chunks):
        sims = [_simulate_block(seed, block, customers, window) for block in blocks]
        merged = {name: pd.concat([sim[name] for sim in sims], ignore_index=True) for name in sims[0]}
        for name, frame, months in _format_chunk(merged, window, customers, counters):
            landing.write(SOURCES[name], frame, months, index)
            rows[name] += len(frame)
        truth = _format_truth(merged["customers"], window, customers)
        files.append_csv(oracle_dir / "customer_truth.csv", truth)
        value = expected_value(truth, oracle_as_of, ORACLE_HORIZON_DAYS)
        files.append_csv(oracle_dir / f"oracle_value_{ORACLE_HORIZON_DAYS}d_{oracle_as_of}.csv", value)
        last = min((blocks[-1] + 1) * BLOCK_SIZE, customers)
        counts = ", ".join(f"{name}={count}" for name, count in rows.items())
        log.info("chunk %d/%d: customers up to %d, %s, %.1fs", index + 1, len(chunks), last, counts,
                 time.perf_counter() - began)  # fmt: skip
    if landing.manifest:
        files.append_csv(oracle_dir / "injected_errors.csv", pd.concat(landing.manifest, ignore_index=True))
    written = files.publish()
    _remove_stale(out_dir, oracle_dir, written)
    return GeneratorSummary(customers, rows, len(written), time.perf_counter() - began, landing.injected)
