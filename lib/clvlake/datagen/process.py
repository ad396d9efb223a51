"""The simulated customer process: its parameters, the simulated period and the random streams.

The numbers are documented in docs/data_generator.md (*The latent process*); the monthly seasonality s(t) lives
in ``oracle.py``, which integrates the same process.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date

import numpy as np

BLOCK_SIZE = 1_000  # customers per random stream; chunks are whole blocks
STREAMS = ("customers", "orders", "sessions", "email_events", "errors")
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


def random_stream(seed: int, key: int, stream: str) -> np.random.Generator:
    """The random stream ``stream`` (one of ``STREAMS``) of block or (chunk, source) ``key``."""
    return np.random.default_rng(np.random.SeedSequence(seed, spawn_key=(key, STREAMS.index(stream))))
