"""Simulation of the latent customer process (numpy + pandas): customers and their raw events, unformatted.

Times are float days since the window's start. Every block of ``BLOCK_SIZE`` customers draws from its own random
streams, so a chunk (a run of whole blocks) gives the same rows whatever the chunk size.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
import pandas as pd

from clvlake.datagen.oracle import SEASONALITY
from clvlake.datagen.process import (
    BLOCK_SIZE,
    CAMPAIGN_EVERY_DAYS,
    CAMPAIGN_HOUR,
    CATEGORIES,
    CATEGORY_REFUND,
    CHANNEL_BUY,
    CHANNEL_CONSENT,
    CHANNEL_LAMBDA,
    CHANNEL_MU,
    CHANNEL_SHARE,
    CHANNEL_SPEND,
    CHANNELS,
    COUNTRIES,
    COUNTRY_SHARE,
    DEVICE_SHARE,
    DEVICES,
    DISCOUNT_RANGE,
    EMAIL_DOMAINS,
    FAVOURITE_SHARE,
    FIRST_NAMES,
    LAMBDA_MEAN_PER_YEAR,
    LAMBDA_SHAPE,
    LAST_NAMES,
    MAX_LIFETIME_DAYS,
    MEAN_LIFETIME_YEARS,
    MIN_ORDER,
    MU_SHAPE,
    ORDER_CHANNEL_SHARE,
    ORDER_CHANNELS,
    ORDER_SHAPE,
    REFUND_DELAY_DAYS,
    REFUND_FULL_SHARE,
    REFUND_PARTIAL_RANGE,
    SESSION_AFTER_SHARE,
    SESSION_BASE,
    SESSION_DECAY_DAYS,
    SESSION_PER_LAMBDA,
    SPEND_MEAN,
    SPEND_SHAPE,
    TICKET_CATEGORIES,
    TICKET_SHARE,
    TRAFFIC,
    TRAFFIC_SHARE,
    Window,
    random_stream,
)


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
    cust = _draw_customers(random_stream(seed, block, "customers"), first, n, window)
    return {
        "customers": cust,
        "orders": _draw_orders(random_stream(seed, block, "orders"), cust, window),
        "sessions": _draw_sessions(random_stream(seed, block, "sessions"), cust, window),
        "email_events": _draw_emails(random_stream(seed, block, "email_events"), cust, window),
    }


def _refunds(orders: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Refunds made within the window, with ``order_row``, the position of their order in ``orders``."""
    keep = orders["refund"].notna().to_numpy() & (orders["refund_t"].to_numpy() < window.days)
    return _sorted(orders[keep].assign(order_row=np.flatnonzero(keep)), "refund_t")


def _tickets(orders: pd.DataFrame, window: Window) -> pd.DataFrame:
    """Tickets opened within the window; ``closed_t`` is NaN while open at the end, ``satisfaction`` if unrated."""
    tickets = _sorted(orders[orders["ticket"] & (orders["ticket_t"] < window.days)], "ticket_t")
    closed = tickets["closed_t"].to_numpy() < window.days
    rated = closed & tickets["answered"].to_numpy()
    return tickets.assign(
        closed_t=np.where(closed, tickets["closed_t"], np.nan),
        satisfaction=np.where(rated, tickets["satisfaction"], np.nan),
    )


def simulate_chunk(
    seed: int, blocks: Sequence[int], customers: int, window: Window
) -> dict[str, pd.DataFrame]:
    """Raw rows of every landing source for the customers of ``blocks``, sorted by (customer, time)."""
    sims = [_simulate_block(seed, block, customers, window) for block in blocks]
    chunk = {name: pd.concat([sim[name] for sim in sims], ignore_index=True) for name in sims[0]}
    return {
        **chunk,
        "refunds": _refunds(chunk["orders"], window),
        "support_tickets": _tickets(chunk["orders"], window),
    }
